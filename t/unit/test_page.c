/*
 * test_page - the help page's template language (common/page.c): values, lists,
 * conditions, scopes, escaping of markup, control bytes and bad UTF-8, the rule
 * that only http(s) URL values start a link, the output limit, and every kind of
 * bad template with its line. Links page.c only.
 */
#include <stdlib.h>
#include <string.h>

#include "page.h"
#include "tap.h"

#define FIELDS(a) (a), sizeof(a) / sizeof((a)[0])
#define TEXT(n, s) { .name = (n), .kind = PAGE_TEXT, .text = (s), .len = sizeof(s) - 1 }
#define URL(n, s) { .name = (n), .kind = PAGE_URL, .text = (s), .len = sizeof(s) - 1 }
#define FLAG(n, v) { .name = (n), .kind = PAGE_FLAG, .on = (v) }

/* render - compile src (any name) and render it with root; the heap text, or NULL. */
static char *render(const char *src, const struct page_scope *root)
{
	struct page_error err;
	struct page_template *t = page_compile(src, strlen(src), NULL, &err);
	struct page_buf out = { .max = 1 << 20 };

	if (t == NULL) {
		printf("# compile: line %u: %s\n", err.line, err.message);
		return NULL;
	}
	page_render(t, root, &out);
	page_free(t);
	return out.data;
}

/* check - render and compare, then free. */
static void check(const char *src, const struct page_scope *root, const char *want,
		  const char *what)
{
	char *got = render(src, root);

	is_str(got ? got : "(null)", want, "%s", what);
	free(got);
}

/* error_of - the error line and message of a template that must not compile. */
static unsigned error_of(const char *src, const char *const *names, char *message, size_t size)
{
	struct page_error err;
	struct page_template *t = page_compile(src, strlen(src), names, &err);

	if (t != NULL) {
		page_free(t);
		snprintf(message, size, "(compiled)");
		return 0;
	}
	snprintf(message, size, "%s", err.message);
	return err.line;
}

static void test_values(void)
{
	struct page_field f[] = { TEXT("site", "Example Org"), TEXT("empty", ""), FLAG("on", true),
				  FLAG("off", false) };
	struct page_scope root = { FIELDS(f) };

	check("<p>{{site}}</p>", &root, "<p>Example Org</p>", "a value is inserted");
	check("a{{nothing}}b", &root, "ab", "an unknown value is empty");
	check("{{?site}}yes{{/site}}{{^site}}no{{/site}}", &root, "yes", "a text is true");
	check("{{?empty}}yes{{/empty}}{{^empty}}no{{/empty}}", &root, "no", "an empty text is false");
	check("{{?on}}1{{/on}}{{?off}}2{{/off}}{{^off}}3{{/off}}", &root, "13", "flags");
	check("{{!a comment, with {braces} inside}}x", &root, "x", "a comment is dropped");
	check("", &root, "", "an empty template renders the empty string");
	check("line 1\nline 2 {{site}}\n", NULL, "line 1\nline 2 \n", "no values at all");
}

static void test_lists(void)
{
	struct page_field a[] = { TEXT("name", "bl.example"), FLAG("hit", true) };
	struct page_field b[] = { TEXT("name", "dbl.example"), FLAG("hit", false) };
	struct page_scope items[] = { { FIELDS(a) }, { FIELDS(b) } };
	struct page_field f[] = { TEXT("site", "S"), TEXT("name", "outer"),
				  { .name = "lists", .kind = PAGE_LIST, .items = items, .count = 2 },
				  { .name = "none", .kind = PAGE_LIST, .items = NULL, .count = 0 } };
	struct page_scope root = { FIELDS(f) };

	check("{{#lists}}[{{name}}{{?hit}}!{{/hit}} {{site}}]{{/lists}}", &root,
	      "[bl.example! S][dbl.example S]", "a list: its items' names first, then the page's");
	check("{{#none}}x{{/none}}{{^none}}empty{{/none}}{{?lists}} some{{/lists}}", &root,
	      "empty some", "an empty list: no item, and false");
	check("{{name}}{{#lists}}{{/lists}}{{name}}", &root, "outerouter",
	      "the item's scope ends with the block");
	check("{{#site}}once {{site}}{{/site}}", &root, "once S", "{{#text}} is a condition");
}

static void test_escaping(void)
{
	struct page_field f[] = {
		TEXT("markup", "<script>alert(\"x\")</script> & 'y'"),
		TEXT("controls", "a\x01\r\n\tb\x7f"),
		TEXT("utf8", "b\xc3\xbc" "cher \xe2\x82\xac"),
		TEXT("bad", "\xff\xc3(\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80"),
		TEXT("bidi", "x\xe2\x80\xaey\xc2\x85z"),
		{ .name = "nul", .kind = PAGE_TEXT, .text = "a\0b", .len = 3 },
	};
	struct page_scope root = { FIELDS(f) };

	check("{{markup}}", &root, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;",
	      "markup is escaped");
	check("{{controls}}", &root, "a????b?", "control bytes become '?'");
	check("{{nul}}", &root, "a?b", "a NUL byte becomes '?' and does not end the value");
	check("{{utf8}}", &root, "b\xc3\xbc" "cher \xe2\x82\xac", "valid UTF-8 is kept");
	check("{{bad}}", &root, "??" "(?????????", "invalid UTF-8 becomes '?', byte by byte");
	check("{{bidi}}", &root, "x?y?z", "bidirectional overrides and C1 controls become '?'");
	check("<a title=\"{{markup}}\">", &root,
	      "<a title=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;\">",
	      "an attribute value cannot be closed by a value");
}

static void test_links(void)
{
	struct page_field f[] = {
		URL("delist", "https://check.example/?q=1&r=2"),
		URL("plain", "http://bl.example/"),
		URL("js", "javascript:alert(1)"),
		URL("quoted", "https://x.example/\"onmouseover=\"alert(1)"),
		URL("nohost", "https:///path"),
		URL("blank", "https://x.example/a b"),
		TEXT("text", "https://looks.like/a/url"),
		TEXT("contact", "postmaster@example.org"),
	};
	struct page_scope root = { FIELDS(f) };

	check("<a href=\"{{delist}}\">", &root, "<a href=\"https://check.example/?q=1&amp;r=2\">",
	      "an https URL value starts a link, escaped");
	check("<a href='{{plain}}'>", &root, "<a href='http://bl.example/'>", "http, single quotes");
	check("<a href=\"{{js}}\">", &root, "<a href=\"\">", "javascript: never starts a link");
	check("<a href=\"{{quoted}}\">", &root, "<a href=\"\">", "a URL with a quote is refused");
	check("<a href=\"{{nohost}}\">", &root, "<a href=\"\">", "a URL without a host is refused");
	check("<a href=\"{{blank}}\">", &root, "<a href=\"\">", "a URL with a blank is refused");
	check("<a HREF=\"{{text}}\">", &root, "<a HREF=\"\">",
	      "a text value never starts a link, even one that looks like a URL");
	check("<img src=\"{{text}}\">", &root, "<img src=\"\">", "nor an image source");
	check("<a href=\"mailto:{{contact}}\">", &root,
	      "<a href=\"mailto:postmaster@example.org\">", "after a fixed scheme, a text is fine");
	check("<a data-href=\"{{text}}\">", &root, "<a data-href=\"https://looks.like/a/url\">",
	      "other attributes take text");
	check("{{?js}}shown{{/js}}{{?delist}}link{{/delist}}", &root, "link",
	      "a URL is true only when it may be a link");
	check("<p>{{js}}</p>", &root, "<p>javascript:alert(1)</p>", "outside a link, a URL is text");
	ok(page_url_ok("HTTPS://X.EXAMPLE", 17), "the scheme's case does not matter");
	ok(!page_url_ok("ftp://x.example/", 16), "ftp is not a link");
	ok(!page_url_ok("https://", 8), "a scheme alone is not a link");
	ok(!page_url_ok(NULL, 0), "nor nothing");
}

static void test_limit(void)
{
	struct page_field f[] = { TEXT("v", "<<<<") };
	struct page_scope root = { FIELDS(f) };
	struct page_error err;
	struct page_template *t = page_compile("ab{{v}}", 7, NULL, &err);
	struct page_buf out = { .max = 10 };

	ok(t != NULL, "compiled");
	ok(!page_render(t, &root, &out), "a page longer than max fails");
	ok(out.failed && out.len <= 10, "... and stays within max (%zu)", out.len);
	page_buf_free(&out);
	out = (struct page_buf){ .max = 18 };
	ok(page_render(t, &root, &out) && out.len == 18, "exactly max fits");
	page_buf_free(&out);
	page_free(t);
}

static void test_errors(void)
{
	static const char *const names[] = { "site", "lists", "name", NULL };
	char msg[200];

	is_int(error_of("a\nb {{site", NULL, msg, sizeof(msg)), 2, "unterminated {{ on line 2");
	ok(strstr(msg, "unterminated") != NULL, "... says so: %s", msg);
	is_int(error_of("{{#lists}}\n\n{{/name}}", NULL, msg, sizeof(msg)), 3, "a wrong close");
	ok(strstr(msg, "opened on line 1") != NULL, "... names the open block's line: %s", msg);
	is_int(error_of("x\n{{#lists}}\n", NULL, msg, sizeof(msg)), 3, "an unclosed block");
	ok(strstr(msg, "not closed") && strstr(msg, "line 2"), "... and where it opened: %s", msg);
	is_int(error_of("\n\n\n{{/site}}", NULL, msg, sizeof(msg)), 4, "a close without a block");
	is_int(error_of("{{Site}}", NULL, msg, sizeof(msg)), 1, "upper case is not a name");
	is_int(error_of("{{ site }}", NULL, msg, sizeof(msg)), 1, "nor are blanks");
	is_int(error_of("{{}}", NULL, msg, sizeof(msg)), 1, "nor nothing");
	is_int(error_of("{{#}}", NULL, msg, sizeof(msg)), 1, "nor a sigil alone");
	is_int(error_of("{{site}}\n{{stie}}", names, msg, sizeof(msg)), 2, "a typo in a name");
	ok(strstr(msg, "unknown name 'stie'") != NULL, "... is named: %s", msg);
	is_int(error_of("<a href={{site}}>", NULL, msg, sizeof(msg)), 1, "an unquoted attribute");
	is_int(error_of("{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}", NULL, msg,
			sizeof(msg)), 1, "nesting deeper than PAGE_DEPTH_MAX");
	is_int(error_of("{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{?a}}{{/a}}{{/a}}{{/a}}{{/a}}"
			"{{/a}}{{/a}}{{/a}}{{/a}}", NULL, msg, sizeof(msg)), 0,
	       "nesting of PAGE_DEPTH_MAX compiles");
	is_int(error_of("{{site}} {{#lists}}{{name}}{{/lists}} {{!x}}", names, msg, sizeof(msg)), 0,
	       "names of the vocabulary compile");
}

int main(void)
{
	test_values();
	test_lists();
	test_escaping();
	test_links();
	test_limit();
	test_errors();
	return tap_done();
}
