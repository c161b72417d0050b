/*
 * test_po - unit tests of common/po.c: PO catalogs as translators' tools write them
 * (continued strings, escapes, comments, fuzzy entries, the header), what is refused
 * with its line, and the template's marked messages swapped for their translations
 * (blank runs, missing translations, markup that a translation must keep).
 */
#include "po.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define T(s) (s), (sizeof(s) - 1)

static const char CATALOG[] = "# German translation\n"
			      "msgid \"\"\n"
			      "msgstr \"\"\n"
			      "\"Content-Type: text/plain; charset=UTF-8\\n\"\n"
			      "\"X-Language-Name: Deutsch\\n\"\n"
			      "\n"
			      "#: template.html:3\n"
			      "msgid \"Your email was not delivered\"\n"
			      "msgstr \"Ihre E-Mail wurde nicht zugestellt\"\n"
			      "\n"
			      "msgid \"\"\n"
			      "\"Hello <strong class=\\\"addr\\\">{{ip}}</strong>, \"\n"
			      "\"world\"\n"
			      "msgstr \"Hallo Welt, <strong class=\\\"addr\\\">{{ip}}</strong>\"\n"
			      "\n"
			      "#, fuzzy\n"
			      "msgid \"Fuzzy\"\n"
			      "msgstr \"Unscharf\"\n"
			      "\n"
			      "msgid \"Empty\"\n"
			      "msgstr \"\"\n"
			      "\n"
			      "msgid \"Tab\\tand\\\\ \\\"quote\\\"\"\n"
			      "msgstr \"Tab\\tund\\\\ \\\"Zitat\\\"\"\n"
			      "#~ msgid \"Old\"\n"
			      "#~ msgstr \"Alt\"\n";

static void test_parse(void)
{
	struct po_error err;
	struct po_catalog *c = po_parse(T(CATALOG), &err);
	size_t len = 0;
	unsigned line = 0;
	const char *s;

	ok(c != NULL, "a catalog as msgmerge writes it is read (%u: %s)", err.line, err.message);
	if (c == NULL)
		return;
	is_int(po_count(c), 3, "three translations: the header, fuzzy and empty ones are none");
	s = po_lookup(c, T("Your email was not delivered"), &len, &line);
	ok(s != NULL && len == 34 && memcmp(s, "Ihre E-Mail wurde nicht zugestellt", 34) == 0,
	   "a translation is found");
	is_int(line, 8, "... with the line of its msgid");
	s = po_lookup(c, T("Hello <strong class=\"addr\">{{ip}}</strong>, world"), &len, NULL);
	ok(s != NULL && strncmp(s, "Hallo Welt, <strong", 19) == 0,
	   "strings continued over lines are joined, \\\" unescaped");
	ok(po_lookup(c, T("Fuzzy"), &len, NULL) == NULL, "a fuzzy entry is no translation");
	ok(po_lookup(c, T("Empty"), &len, NULL) == NULL, "an empty msgstr is no translation");
	ok(po_lookup(c, T("Old"), &len, NULL) == NULL, "an obsolete (#~) entry is none");
	s = po_lookup(c, T("Tab\tand\\ \"quote\""), &len, NULL);
	ok(s != NULL && len == 16 && memcmp(s, "Tab\tund\\ \"Zitat\"", 16) == 0,
	   "escapes \\t \\\\ \\\" are read");
	ok(po_lookup(c, T("Your email"), &len, NULL) == NULL, "a prefix of a msgid is another one");
	s = po_header(c, "x-language-name", &len);
	ok(s != NULL && len == 7 && memcmp(s, "Deutsch", 7) == 0, "a header field, in any case");
	ok(po_header(c, "Language-Team", &len) == NULL, "an absent header field");
	po_free(c);
	po_free(NULL);
}

static void test_refused(void)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *message;
	} bad[] = {
		{ "msgid \"a\"\nmsgstr \"b\"\nmsgid \"a\"\nmsgstr \"c\"\n", 3, "came before" },
		{ "msgid \"a\"\n", 1, "without msgstr" },
		{ "msgstr \"b\"\n", 1, "without msgid" },
		{ "msgid \"a\nmsgstr \"b\"\n", 1, "not closed" },
		{ "msgid \"a\" x\nmsgstr \"b\"\n", 1, "after the string" },
		{ "msgid \"a\\q\"\nmsgstr \"b\"\n", 1, "unknown escape" },
		{ "msgctxt \"c\"\nmsgid \"a\"\nmsgstr \"b\"\n", 1, "contexts" },
		{ "msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[0] \"b\"\n", 2, "plural" },
		{ "\"stray\"\n", 1, "continues nothing" },
		{ "msgid \"a\"\nmsgstr \"\\xff\"\n", 2, "unknown escape" },
		{ "msgid \"a\"\nmsgstr \"\xff\"\n", 1, "UTF-8" },
		{ "msgid \"\"\nmsgstr \"Content-Type: text/plain; charset=ISO-8859-1\\n\"\n", 1,
		  "charset" },
		{ "msgid \"a\"\nmsgstr \"b\"\nbogus\n", 3, "expected msgid" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct po_error err;
		struct po_catalog *c = po_parse(bad[i].text, strlen(bad[i].text), &err);
		bool msg = strstr(err.message, bad[i].message) != NULL;
		ok(c == NULL && err.line == bad[i].line && msg, "refused at line %u: %s (%u: %s)",
		   bad[i].line, bad[i].message, err.line, err.message);
		po_free(c);
	}
	struct po_error err;
	/* A last line that is a keyword's beginning, with nothing after it, put at the
	 * end of a page whose next page cannot be read: a read past the text (the 12
	 * bytes of "msgid_plural" were compared against 8) ends the test with SIGSEGV,
	 * in every build (an optimiser's inline memcmp escapes AddressSanitizer). */
	long page = sysconf(_SC_PAGESIZE);
	char *pages = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED || mprotect(pages + page, (size_t)page, PROT_NONE) != 0)
		abort();
	for (size_t i = 0; i < 3; i++) {
		static const char *const cut[] = { "msgid_pl", "msgctx", "msgstr" };
		size_t len = strlen(cut[i]);
		char *text = pages + page - len;
		memcpy(text, cut[i], len);
		struct po_catalog *c = po_parse(text, len, &err);
		ok(c == NULL && err.line == 1, "a last line '%s' with no newline is refused (%s)",
		   cut[i], err.message);
		po_free(c);
	}
	munmap(pages, 2 * (size_t)page);
	struct po_catalog *c = po_parse("msgid \"a\"\nmsgstr \"b\0\"\n", 22, &err);
	ok(c == NULL && strstr(err.message, "NUL") != NULL, "a NUL byte is refused");
	po_free(c);
	c = po_parse(T("\xef\xbb\xbfmsgid \"a\"\r\nmsgstr \"b\"\r\n"), &err);
	ok(c != NULL && po_count(c) == 1, "a byte-order mark and CRLF line ends are read");
	po_free(c);
	c = po_parse("", 0, &err);
	ok(c != NULL && po_count(c) == 0, "an empty file is an empty catalog");
	po_free(c);
}

static void test_markup(void)
{
	ok(po_same_markup(T("a <b>{{x}}</b> c {{?y}}d{{/y}}"), T("{{?y}}D{{/y}} <b>{{x}}</b> A")),
	   "the same tags in another order");
	ok(!po_same_markup(T("a {{x}}"), T("a {{y}}")), "another value");
	ok(!po_same_markup(T("a {{x}}"), T("a")), "a value lost");
	ok(!po_same_markup(T("a"), T("a <script>")), "a tag added");
	ok(!po_same_markup(T("<a href=\"x\">a</a>"), T("<a href=\"y\">a</a>")),
	   "an attribute changed");
	ok(!po_same_markup(T("a <b"), T("a <b")), "an open tag");
	ok(po_same_markup(T("no markup"), T("kein Markup")), "no tags on either side");
}

static void test_translate(void)
{
	static const char tpl[] = "<h1>{{_}}Your email was\n   not delivered{{/_}}</h1>\n"
				  "<p>{{_}} Hello <strong class=\"addr\">{{ip}}</strong>,\n"
				  "\tworld {{/_}}</p><p>{{_}}Untranslated{{/_}}</p>{{site}}";
	struct po_error err;
	struct po_catalog *c = po_parse(T(CATALOG), &err);
	struct po_result r;

	ok(po_translate(T(tpl), NULL, &r, &err), "English: every message as it is");
	is_str(r.text,
	       "<h1>Your email was\n   not delivered</h1>\n<p> Hello <strong class=\"addr\">{{ip}}</strong>,\n"
	       "\tworld </p><p>Untranslated</p>{{site}}",
	       "... as written, so that the lines stay the template's");
	is_int(r.messages, 3, "three messages");
	free(r.text);
	ok(po_translate(T(tpl), c, &r, &err), "German");
	is_str(r.text,
	       "<h1>Ihre E-Mail wurde nicht zugestellt</h1>\n<p>Hallo Welt, <strong "
	       "class=\"addr\">{{ip}}</strong></p><p>Untranslated</p>{{site}}",
	       "... each message replaced by its translation");
	is_int(r.missing, 1, "one message without a translation");
	is_str(r.first_missing, "Untranslated", "... named");
	free(r.text);

	static const struct {
		const char *tpl;
		unsigned line;
		const char *message;
	} bad[] = {
		{ "a\n{{_}}b", 2, "not closed" },
		{ "a\n\nb{{/_}}", 3, "closes no message" },
		{ "{{_}}a\n{{_}}b{{/_}}{{/_}}", 2, "inside a message" },
		{ "x {{_}} \n {{/_}}", 1, "empty" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool done = po_translate(bad[i].tpl, strlen(bad[i].tpl), c, &r, &err);
		ok(!done && err.line == bad[i].line && !err.in_catalog &&
			   strstr(err.message, bad[i].message) != NULL,
		   "template refused at line %u: %s (%u: %s)", bad[i].line, bad[i].message,
		   err.line, err.message);
	}
	po_free(c);

	static const char evil[] = "msgid \"Hi {{ip}}\"\nmsgstr \"Hallo <script>\"\n";
	c = po_parse(T(evil), &err);
	ok(c != NULL, "a catalog whose translation adds a tag is read");
	ok(!po_translate(T("<p>{{_}}Hi {{ip}}{{/_}}</p>"), c, &r, &err) && err.in_catalog &&
		   err.line == 1 && strstr(err.message, "tags") != NULL,
	   "... but refused when it translates the template, at the catalog's line (%u: %s)",
	   err.line, err.message);
	po_free(c);
}

int main(void)
{
	test_parse();
	test_refused();
	test_markup();
	test_translate();
	return tap_done();
}
