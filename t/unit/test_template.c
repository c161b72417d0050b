/*
 * test_template - unit tests for common/template.c: Postfix macro syntax, cleaning of
 * untrusted values, the cutting order under a length bound, and compile errors.
 * All memory is on the stack except the compiled templates, freed by each test.
 */
#include "template.h"

#include "tap.h"

#include <stdbool.h>
#include <string.h>

/* The most text a reply carries after its action word (REPLY_TEXT_MAX in reply.h). */
#define TEXT_MAX 400

#define DEFAULT_TEXT                                                                               \
	"Your host [$client_address] is blacklisted by $rbl_domain${rbl_reason?: $rbl_reason}. "   \
	"See $help_url or send your questions to $contact"

struct entry {
	const char *name;
	const char *value;
	size_t len; /* 0: strlen(value) */
	enum template_cut cut;
};

struct table {
	const struct entry *e;
	size_t n;
	int calls;
};

/* table_lookup - template_lookup_fn over a fixed table, by name; counts its calls. */
static bool table_lookup(void *ctx, unsigned id, const char *name, size_t namelen,
			 struct template_value *value)
{
	struct table *tab = ctx;

	(void)id;
	tab->calls++;
	for (size_t i = 0; i < tab->n; i++) {
		const struct entry *e = &tab->e[i];

		if (strlen(e->name) == namelen && memcmp(e->name, name, namelen) == 0) {
			value->s = e->value;
			value->len = e->len ? e->len : strlen(e->value);
			value->cut = e->cut;
			return true;
		}
	}
	return false;
}

/* expand - compile src, expand it with tab into out (size outsize) at most max bytes. */
static size_t expand(const char *src, struct table *tab, char *out, size_t outsize, size_t max)
{
	const char *err = NULL;
	size_t off = 0;
	struct template *t = template_compile(src, strlen(src), &err, &off);
	size_t n;

	if (!t) {
		printf("# compile of '%s' failed: %s at %zu\n", src, err, off);
		out[0] = '\0';
		return 0;
	}
	n = template_expand(t, table_lookup, tab, out, outsize, max);
	template_free(t);
	return n;
}

/* compile_error - compile src, which must fail, and check the message and offset. */
static void compile_error(const char *src, size_t len, const char *want_err, size_t want_off)
{
	const char *err = NULL;
	size_t off = 12345;
	struct template *t = template_compile(src, len, &err, &off);

	ok(t == NULL, "'%s' does not compile", src);
	is_str(err, want_err, "'%s': message", src);
	is_int(off, want_off, "'%s': offset", src);
	template_free(t);
}

static const struct entry base[] = {
	{ "client_address", "192.0.2.10", 0, TEMPLATE_CUT_LATER },
	{ "rbl_domain", "zen.spamhaus.org", 0, TEMPLATE_CUT_LATER },
	{ "help_url", "https://check.spamhaus.org/results/?query=192.0.2.10", 0, TEMPLATE_KEEP },
	{ "contact", "postmaster@example.org", 0, TEMPLATE_KEEP },
	{ "empty", "", 0, TEMPLATE_CUT_LATER },
	{ "x", "X", 0, TEMPLATE_CUT_LATER },
	{ "y", "Y", 0, TEMPLATE_CUT_LATER },
};

/* test_default - the default reply text, with and without a reason. */
static void test_default(void)
{
	struct entry e[8];
	struct table tab = { e, 7, 0 };
	char out[TEXT_MAX + 1];
	size_t n;

	memcpy(e, base, sizeof(base));
	n = expand(DEFAULT_TEXT, &tab, out, sizeof(out), TEXT_MAX);
	is_str(out,
	       "Your host [192.0.2.10] is blacklisted by zen.spamhaus.org. See "
	       "https://check.spamhaus.org/results/?query=192.0.2.10 or send your questions to "
	       "postmaster@example.org",
	       "default text without rbl_reason");
	is_int(n, strlen(out), "returned length is the string's");
	is_int(tab.calls, 5, "each macro looked up once");

	e[7] = (struct entry){ "rbl_reason", "Listed in XBL, see https://www.spamhaus.org/", 0,
			       TEMPLATE_CUT_FIRST };
	tab.n = 8;
	expand(DEFAULT_TEXT, &tab, out, sizeof(out), TEXT_MAX);
	is_str(out,
	       "Your host [192.0.2.10] is blacklisted by zen.spamhaus.org: Listed in XBL, see "
	       "https://www.spamhaus.org/. See "
	       "https://check.spamhaus.org/results/?query=192.0.2.10 or send your questions to "
	       "postmaster@example.org",
	       "default text with rbl_reason");
}

/* test_syntax - the forms of Postfix's macros. */
static void test_syntax(void)
{
	struct table tab = { base, sizeof(base) / sizeof(base[0]), 0 };
	char out[256];

	expand("a ${x} b $x.c $x-$y", &tab, out, sizeof(out), 200);
	is_str(out, "a X b X.c X-Y", "$name and ${name}");
	expand("[$nosuch] [${nosuch}]", &tab, out, sizeof(out), 200);
	is_str(out, "[] []", "unknown macro expands to nothing");
	expand("${x:text}|${empty:text}|${nosuch:text}", &tab, out, sizeof(out), 200);
	is_str(out, "|text|text", "${name:text} when set, empty, unknown");
	expand("${x?text}|${empty?text}|${nosuch?text}", &tab, out, sizeof(out), 200);
	is_str(out, "text||", "${name?text} when set, empty, unknown");
	expand("cost: $$5, $$x, $$$x, $$$$", &tab, out, sizeof(out), 200);
	is_str(out, "cost: $5, $x, $X, $$", "$$ is a literal dollar");
	expand("${x?<${y?y=$y}${empty:e}${empty?no}>}${empty:[${x?$x${y:no}}]}", &tab, out,
	       sizeof(out), 200);
	is_str(out, "<y=Ye>[X]", "nested conditionals");
	expand("${x?{a}{b{c}}}|{}|}{", &tab, out, sizeof(out), 200);
	is_str(out, "{a}{b{c}}|{}|}{", "literal braces: balanced in conditionals, free outside");
	expand("", &tab, out, sizeof(out), 200);
	is_str(out, "", "empty template");
	expand("tab\there\r\n", &tab, out, sizeof(out), 200);
	is_str(out, "tab here  ", "literal control bytes become spaces");

	const char nul_src[] = "a\0b$x";
	const char *err;
	size_t off;
	struct template *t = template_compile(nul_src, sizeof(nul_src) - 1, &err, &off);

	ok(t != NULL, "a NUL byte in the source is text");
	if (t) {
		size_t n = template_expand(t, table_lookup, &tab, out, sizeof(out), 200);

		is_int(n, 4, "NUL byte expands to a space");
		is_str(out, "a bX", "NUL byte expands to a space (text)");
		template_free(t);
	}
}

/* test_cleaning - untrusted value bytes outside printable ASCII become spaces. */
static void test_cleaning(void)
{
	static const char dirty[] = "a\rb\nc\0d\te\x80"
				    "f\xff"
				    "g\x7f"
				    "h\x1b[0m";
	const struct entry e[] = { { "v", dirty, sizeof(dirty) - 1, TEMPLATE_CUT_LATER } };
	struct table tab = { e, 1, 0 };
	char out[64];
	size_t n = expand("<$v>", &tab, out, sizeof(out), 60);

	is_int(n, sizeof(dirty) - 1 + 2, "cleaning keeps the length");
	is_str(out, "<a b c d e f g h [0m>",
	       "CR, LF, NUL, tab, 0x80, 0xff, DEL, ESC become spaces");
	for (size_t i = 0; i < n; i++)
		if (out[i] < 0x20 || out[i] > 0x7e) {
			ok(0, "byte %zu is printable", i);
			return;
		}
	ok(1, "every byte is printable");
}

/* vouching_lookup - table_lookup that vouches for the values of names starting with "ok_". */
static bool vouching_lookup(void *ctx, unsigned id, const char *name, size_t namelen,
			    struct template_value *value)
{
	if (!table_lookup(ctx, id, name, namelen, value))
		return false;
	if (namelen > 3 && memcmp(name, "ok_", 3) == 0)
		value->clean = true;
	return true;
}

/*
 * test_clean_values - a value its lookup vouches for is copied as it is, even a byte that
 * cleaning would change (which only shows that it is not cleaned again); its neighbours are
 * cleaned all the same, a slot that held a vouched value is cleaned when the next lookup does
 * not vouch, and a vouched value that is cut ends in "..." as any other.
 */
static void test_clean_values(void)
{
	const struct entry e[] = {
		{ "ok_ours", "x\x7fy", 0, TEMPLATE_KEEP },
		{ "theirs", "x\x7fy", 0, TEMPLATE_CUT_LATER },
		{ "ok_long", "abcdefghijklmnopqrstuvwxyz", 0, TEMPLATE_CUT_FIRST },
	};
	struct table tab = { e, 3, 0 };
	char out[64];
	const char *err;
	size_t off, n;
	struct template *t = template_compile("<$ok_ours|$theirs>", 18, &err, &off);

	if (!ok(t != NULL, "<$ok_ours|$theirs> compiles"))
		return;
	template_expand(t, vouching_lookup, &tab, out, sizeof(out), 60);
	is_str(out, "<x\x7fy|x y>", "a vouched value is copied as it is, the other cleaned");
	template_expand(t, table_lookup, &tab, out, sizeof(out), 60);
	is_str(out, "<x y|x y>", "the same slots, looked up without vouching: cleaned");
	template_free(t);

	t = template_compile("<$ok_ours|$ok_long>", 19, &err, &off);
	if (!ok(t != NULL, "<$ok_ours|$ok_long> compiles"))
		return;
	n = template_expand(t, vouching_lookup, &tab, out, sizeof(out), 15);
	is_int(n, 15, "a vouched value is cut to the room left");
	is_str(out, "<x\x7fy|abcdef...>", "and ends in '...'");
	template_free(t);
}

/* test_long_reason - a 2000-byte reason is cut; URL and contact stay whole. */
static void test_long_reason(void)
{
	static char reason[2001];
	struct entry e[8];
	struct table tab = { e, 8, 0 };
	char out[TEXT_MAX + 1];
	size_t n;

	memset(reason, 'r', 2000);
	memcpy(e, base, sizeof(base));
	e[7] = (struct entry){ "rbl_reason", reason, 0, TEMPLATE_CUT_FIRST };
	n = expand(DEFAULT_TEXT, &tab, out, sizeof(out), TEXT_MAX);
	ok(n <= TEXT_MAX, "output fits 400 bytes");
	is_int(n, TEXT_MAX, "the reason takes all the room left");
	is_int(strlen(out), n, "terminated at the returned length");
	static const char head[] = "Your host [192.0.2.10] is blacklisted by zen.spamhaus.org: rrr";

	ok(strncmp(out, head, sizeof(head) - 1) == 0, "head intact");
	ok(strstr(out, "rrr.... See https://check.spamhaus.org/results/?query=192.0.2.10 or "),
	   "reason cut with '...', help URL intact");
	ok(n > 22 && strcmp(out + n - 22, "postmaster@example.org") == 0,
	   "contact intact at the end");
}

/* test_order - CUT_FIRST values are cut before CUT_LATER ones, KEEP never. */
static void test_order(void)
{
	const struct entry e[] = {
		{ "first", "FFFFFFFFFF", 0, TEMPLATE_CUT_FIRST },
		{ "later", "LLLLLLLLLL", 0, TEMPLATE_CUT_LATER },
		{ "keep", "KKKKKKKKKK", 0, TEMPLATE_KEEP },
	};
	struct table tab = { e, 3, 0 };
	char out[64];
	size_t n;

	/* "<$first|$later|$keep>" is 4 + 30 = 34 bytes. */
	n = expand("<$first|$later|$keep>", &tab, out, sizeof(out), 34);
	is_str(out, "<FFFFFFFFFF|LLLLLLLLLL|KKKKKKKKKK>", "max exactly reached: nothing cut");
	is_int(n, 34, "max exactly reached: length");
	expand("<$first|$later|$keep>", &tab, out, sizeof(out), 33);
	is_str(out, "<FFFFFF...|LLLLLLLLLL|KKKKKKKKKK>", "one byte over: first value cut");
	expand("<$first|$later|$keep>", &tab, out, sizeof(out), 24);
	is_str(out, "<|LLLLLLLLLL|KKKKKKKKKK>", "first value dropped when no room is left");
	expand("<$first|$later|$keep>", &tab, out, sizeof(out), 20);
	is_str(out, "<|LLL...|KKKKKKKKKK>", "then the later value is cut");
	expand("<$first|$later|$keep>", &tab, out, sizeof(out), 16);
	is_str(out, "<||KKKKKKKKKK>", "keep value and text stay whole while they fit");
	n = expand("<$first|$later|$keep>", &tab, out, sizeof(out), 10);
	is_str(out, "<||KKKK...", "last resort: the tail is cut");
	is_int(n, 10, "last resort: exactly max bytes");
	expand("<$first|$later|$keep>", &tab, out, sizeof(out), 2);
	is_str(out, "<|", "tail cut without room for '...'");
	n = expand("<$first|$later|$keep>", &tab, out, sizeof(out), 0);
	is_str(out, "", "max 0");
	is_int(n, 0, "max 0: length");
	n = expand("<$first|$later|$keep>", &tab, out, 8, 400);
	is_int(n, 7, "max above outsize is clamped to outsize - 1");
}

/*
 * test_fit - template_expand_fit: max grows to the text no cut may remove, at most to the
 * ceiling, and every macro is looked up once for measure and text together.
 */
static void test_fit(void)
{
	const struct entry e[] = {
		{ "first", "FFFFFFFFFF", 0, TEMPLATE_CUT_FIRST },
		{ "keep", "KKKKKKKKKK", 0, TEMPLATE_KEEP },
	};
	struct table tab = { e, 2, 0 };
	const char *err;
	size_t off, n;
	char out[64];
	struct template *t = template_compile("<$first|$keep>", 14, &err, &off);

	/* The kept part, "<|KKKKKKKKKK>", is 13 bytes. */
	n = template_expand_fit(t, table_lookup, &tab, out, sizeof(out), 8, 40);
	is_str(out, "<|KKKKKKKKKK>", "fit: max grows to the kept text, the cuttable value goes");
	is_int(n, 13, "fit: length of the kept text");
	is_int(tab.calls, 2, "fit: each macro looked up once");
	n = template_expand_fit(t, table_lookup, &tab, out, sizeof(out), 8, 10);
	is_str(out, "<|KKKKK...", "fit: no further than the ceiling (then the tail is cut)");
	is_int(n, 10, "fit: the ceiling");
	n = template_expand_fit(t, table_lookup, &tab, out, sizeof(out), 20, 40);
	is_str(out, "<FFFF...|KKKKKKKKKK>", "fit: a max above the kept text stays");
	n = template_expand_fit(t, table_lookup, &tab, out, 12, 8, 40);
	is_int(n, 11, "fit: a ceiling above outsize is clamped to outsize - 1");
	template_free(t);
}

/*
 * test_fits_exactly - text that fits is written in the first pass, text one byte longer is
 * cut in the second; either way each macro is looked up once, and what the first pass wrote
 * before it found the text too long is overwritten.
 */
static void test_fits_exactly(void)
{
	const struct entry e[] = {
		{ "first", "FFFFFFFFFF", 0, TEMPLATE_CUT_FIRST },
		{ "keep", "K\x01KKKKKKKK", 0, TEMPLATE_KEEP },
		{ "empty", "", 0, TEMPLATE_CUT_LATER },
	};
	struct table tab = { e, 3, 0 };
	const char *err;
	size_t off, n;
	char out[64];
	/* 23 bytes: "<", ten F, "|", ten K (one cleaned), ">"; the conditionals add nothing. */
	struct template *t = template_compile("<$first${empty?x}|${empty:}$keep>", 33, &err, &off);

	if (!ok(t != NULL, "the template compiles"))
		return;
	n = template_expand(t, table_lookup, &tab, out, sizeof(out), 23);
	is_str(out, "<FFFFFFFFFF|K KKKKKKKK>", "23 bytes in 23: whole");
	is_int(n, 23, "its length");
	is_int(tab.calls, 4, "each macro and conditional looked up once");
	n = template_expand(t, table_lookup, &tab, out, sizeof(out), 22);
	is_str(out, "<FFFFFF...|K KKKKKKKK>", "23 bytes in 22: the cuttable value is cut");
	is_int(n, 22, "its length");
	is_int(tab.calls, 8, "each looked up once again, not twice");
	n = template_expand(t, table_lookup, &tab, out, sizeof(out), 12);
	is_str(out, "<|K KKKKK...", "23 bytes in 12: the kept text's tail is cut");
	template_free(t);
}

/* test_literal_too_long - literal text alone longer than max. */
static void test_literal_too_long(void)
{
	static char src[601];
	const struct entry e[] = { { "rbl_reason", "reason", 0, TEMPLATE_CUT_FIRST } };
	struct table tab = { e, 1, 0 };
	char out[TEXT_MAX + 1];
	size_t n;

	memset(src, 'a', 600);
	memcpy(src + 10, "${rbl_reason}", 13);
	n = expand(src, &tab, out, sizeof(out), TEXT_MAX);
	is_int(n, TEXT_MAX, "cut to exactly max");
	ok(strstr(out, "reason") == NULL, "the cuttable value went first");
	ok(strcmp(out + TEXT_MAX - 3, "...") == 0, "the tail cut ends in '...'");
}

/* test_fair_share - several values of one class share the room. */
static void test_fair_share(void)
{
	static char long_a[101], long_b[201];
	struct entry e[] = {
		{ "a", long_a, 0, TEMPLATE_CUT_LATER },
		{ "b", long_b, 0, TEMPLATE_CUT_LATER },
		{ "s", "short", 0, TEMPLATE_CUT_LATER },
	};
	struct table tab = { e, 3, 0 };
	char out[128];
	size_t n;

	memset(long_a, 'a', 100);
	memset(long_b, 'b', 200);
	/* 40 bytes for the values: "short" stays whole, a gets 18 and b 17 of the 35 left. */
	n = expand("$s|$a|$b", &tab, out, sizeof(out), 42);
	is_str(out, "short|aaaaaaaaaaaaaaa...|bbbbbbbbbbbbbb...",
	       "short value whole, long ones share");
	is_int(n, 42, "shared room used exactly");
	n = expand("$a|$b", &tab, out, sizeof(out), 10);
	is_str(out, "aa...|b...", "odd room: the extra byte goes to the first value");
	n = expand("$a|$b", &tab, out, sizeof(out), 6);
	is_str(out, "...|", "a share too small for '...' drops the value");
	is_int(n, 4, "dropping never exceeds max");
}

/* test_errors - compile errors carry a message and the offset of the fault. */
static void test_errors(void)
{
	compile_error("$", 1, "missing macro name after $", 0);
	compile_error("ab $", 4, "missing macro name after $", 3);
	compile_error("${", 2, "unterminated ${", 0);
	compile_error("${name", 6, "unterminated ${", 0);
	compile_error("$-", 2, "missing macro name after $", 0);
	compile_error("$(name)", 7, "missing macro name after $", 0);
	compile_error("${name?text", 11, "unterminated ${", 0);
	compile_error("x ${a?${b?c}", 12, "unterminated ${", 2);
	compile_error("x ${a?{b}", 9, "unterminated ${", 2);
	compile_error("${}", 3, "missing macro name after ${", 0);
	compile_error("${?x}", 5, "missing macro name after ${", 0);
	compile_error("${a b}", 6, "expected '}', '?' or ':' after macro name", 3);
	compile_error("ok ${a?$}", 9, "missing macro name after $", 7);
}

/* test_limits - nesting and macro count are bounded, so expansion state fits the stack. */
static void test_limits(void)
{
	char src[512];
	size_t len = 0;
	const char *err;
	size_t off;
	struct template *t;

	for (int i = 0; i < 16; i++)
		len += (size_t)snprintf(src + len, sizeof(src) - len, "${a?");
	for (int i = 0; i < 16; i++)
		src[len++] = '}';
	t = template_compile(src, len, &err, &off);
	ok(t != NULL, "16 nested conditionals compile");
	template_free(t);
	len = 0;
	for (int i = 0; i < 17; i++)
		len += (size_t)snprintf(src + len, sizeof(src) - len, "${a?");
	t = template_compile(src, len, &err, &off);
	ok(t == NULL && off == 64, "17 nested conditionals do not");

	len = 0;
	for (int i = 0; i < 64; i++)
		len += (size_t)snprintf(src + len, sizeof(src) - len, "$x ");
	t = template_compile(src, len, &err, &off);
	ok(t != NULL, "64 macros compile");
	template_free(t);
	len += (size_t)snprintf(src + len, sizeof(src) - len, "$x");
	t = template_compile(src, len, &err, &off);
	ok(t == NULL && off == 192, "65 macros do not (%s)", t ? "compiled" : err);
}

/* test_uses - template_uses finds macros and conditionals, at any depth. */
static void test_uses(void)
{
	const char *err;
	size_t off;
	struct template *t = template_compile(DEFAULT_TEXT, strlen(DEFAULT_TEXT), &err, &off);

	ok(t != NULL, "default text compiles");
	if (!t)
		return;
	ok(template_uses(t, "rbl_reason"), "uses rbl_reason");
	ok(template_uses(t, "contact"), "uses contact");
	ok(template_uses(t, "client_address"), "uses client_address");
	ok(!template_uses(t, "rbl_domains"), "does not use rbl_domains (prefix of no name)");
	ok(!template_uses(t, "rbl"), "does not use rbl (prefix of a name)");
	ok(!template_uses(t, "host"), "literal text is not a macro");
	template_free(t);

	t = template_compile("${a?${b:$c}}$$d", 15, &err, &off);
	ok(t && template_uses(t, "c") && template_uses(t, "b") && !template_uses(t, "d"),
	   "nested names found, $$d is text");
	template_free(t);
}

/* The names that test_ids resolves, their id being their index plus one. */
static const char *const id_names[] = { "alpha", "beta", "gamma" };
#define ID_NAMES (sizeof(id_names) / sizeof(id_names[0]))
#define ID_OTHER 100 /* a name that the resolver does not know */

static int resolve_calls;

/* id_resolve - template_resolve_fn over id_names; counts its calls. */
static unsigned id_resolve(const char *name, size_t len)
{
	resolve_calls++;
	for (size_t i = 0; i < ID_NAMES; i++)
		if (strlen(id_names[i]) == len && memcmp(id_names[i], name, len) == 0)
			return (unsigned)i + 1;
	return ID_OTHER;
}

/* The ids and names a lookup was handed, in call order. */
struct id_log {
	unsigned ids[16];
	char names[16][16];
	int calls;
};

/*
 * id_lookup - a lookup that answers by id alone ("<id>", and the empty value for gamma), and
 * records what it was given.
 */
static bool id_lookup(void *ctx, unsigned id, const char *name, size_t namelen,
		      struct template_value *value)
{
	static char text[16][8];
	struct id_log *log = ctx;
	int i = log->calls++;

	if (i >= 16)
		return false;
	log->ids[i] = id;
	snprintf(log->names[i], sizeof(log->names[i]), "%.*s", (int)namelen, name);
	if (id == TEMPLATE_NO_ID || id == ID_OTHER)
		return false;
	if (id == 3) {
		value->s = "";
		value->len = 0;
		return true;
	}
	snprintf(text[i], sizeof(text[i]), "<%u>", id);
	value->s = text[i];
	value->len = strlen(text[i]);
	return true;
}

/*
 * test_ids - template_compile_ids: the resolver is asked once per macro and conditional, when
 * the template is compiled, never when it is expanded; each lookup gets the id with the name;
 * a template compiled without a resolver hands every lookup TEMPLATE_NO_ID.
 */
static void test_ids(void)
{
	static const char src[] = "$alpha ${beta?b=$beta}${gamma:no gamma}${alphabet}$Alpha$$";
	struct id_log log = { 0 };
	const char *err;
	size_t off;
	char out[200];
	struct template *t;

	resolve_calls = 0;
	t = template_compile_ids(src, strlen(src), id_resolve, &err, &off);
	ok(t != NULL, "a template with a resolver compiles");
	if (!t)
		return;
	is_int(resolve_calls, 6, "the resolver is asked once per macro and conditional");
	template_expand(t, id_lookup, &log, out, sizeof(out), 199);
	template_expand(t, id_lookup, &log, out, sizeof(out), 199);
	is_int(resolve_calls, 6, "expansions do not ask the resolver again");
	is_str(out, "<1> b=<2>no gamma$", "values found by id alone");
	is_int(log.calls, 12, "six lookups per expansion");
	ok(log.ids[0] == 1 && strcmp(log.names[0], "alpha") == 0, "$alpha: id 1 and its name");
	ok(log.ids[1] == 2 && log.ids[2] == 2 && strcmp(log.names[2], "beta") == 0,
	   "${beta?...} and the $beta in its text: id 2 each");
	ok(log.ids[3] == 3 && strcmp(log.names[3], "gamma") == 0, "${gamma:...}: id 3");
	ok(log.ids[4] == ID_OTHER && strcmp(log.names[4], "alphabet") == 0,
	   "a name that starts with a known one is not that one: %u", log.ids[4]);
	ok(log.ids[5] == ID_OTHER && strcmp(log.names[5], "Alpha") == 0,
	   "names are case-sensitive: $Alpha is not $alpha (%u)", log.ids[5]);
	template_free(t);

	memset(&log, 0, sizeof(log));
	t = template_compile(src, strlen(src), &err, &off);
	ok(t != NULL, "the same template compiles without a resolver");
	if (!t)
		return;
	template_expand(t, id_lookup, &log, out, sizeof(out), 199);
	ok(log.calls == 5 && log.ids[0] == TEMPLATE_NO_ID && log.ids[4] == TEMPLATE_NO_ID &&
		   strcmp(log.names[4], "Alpha") == 0,
	   "without a resolver every lookup gets TEMPLATE_NO_ID, and the names");
	is_str(out, " no gamma$", "and a lookup that needs ids finds nothing");
	template_free(t);
}

/* main - run every group; the exit status says whether all passed. */
int main(void)
{
	test_default();
	test_syntax();
	test_cleaning();
	test_clean_values();
	test_long_reason();
	test_order();
	test_fit();
	test_fits_exactly();
	test_literal_too_long();
	test_fair_share();
	test_errors();
	test_limits();
	test_uses();
	test_ids();
	return tap_done();
}
