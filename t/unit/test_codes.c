/*
 * test_codes - unit tests of common/codes.c: parsing of Postfix-style answer filters,
 * matching, equality, the default filter and the classification of DNSBL answers.
 * Every struct codes lives on the stack of the test that uses it.
 */
#include "codes.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

/* parse - parse the NUL-terminated s into *c; returns NULL or the error message. */
static const char *parse(struct codes *c, const char *s)
{
	const char *err = NULL;

	if (codes_parse(c, s, strlen(s), &err))
		return NULL;
	return err != NULL ? err : "(no message)";
}

/* m - whether answer a.b.c.d matches filter c. */
static bool m(const struct codes *c, unsigned a, unsigned b, unsigned x, unsigned d)
{
	uint8_t answer[4] = {(uint8_t)a, (uint8_t)b, (uint8_t)x, (uint8_t)d};

	return codes_match(c, answer);
}

/* count_last - how many values of the last octet match a.b.c.*; checks a whole set. */
static unsigned count_last(const struct codes *c, unsigned a, unsigned b, unsigned x)
{
	unsigned n = 0;

	for (unsigned d = 0; d < 256; d++)
		n += m(c, a, b, x, d);
	return n;
}

/* test_valid - filters that parse, and what they match. */
static void test_valid(void)
{
	struct codes c;

	is_str(parse(&c, "127.0.0.2"), NULL, "single address");
	is_int(c.count, 1, "one pattern");
	ok(m(&c, 127, 0, 0, 2) && !m(&c, 127, 0, 0, 3) && !m(&c, 127, 0, 1, 2), "exact match");
	is_int(count_last(&c, 127, 0, 0), 1, "only one value");

	is_str(parse(&c, "127.0.0.[2..11]"), NULL, "range");
	ok(!m(&c, 127, 0, 0, 1) && m(&c, 127, 0, 0, 2), "range start");
	ok(m(&c, 127, 0, 0, 11) && !m(&c, 127, 0, 0, 12), "range end");
	is_int(count_last(&c, 127, 0, 0), 10, "ten values");

	is_str(parse(&c, "127.0.[0..255].[1..3]"), NULL, "dnswl filter");
	ok(m(&c, 127, 0, 0, 1) && m(&c, 127, 0, 255, 3) && m(&c, 127, 0, 128, 2), "dnswl hits");
	ok(!m(&c, 127, 0, 15, 0) && !m(&c, 127, 0, 15, 4) && !m(&c, 127, 1, 15, 2), "dnswl misses");

	is_str(parse(&c, "127.0.0.2, 127.0.0.4"), NULL, "two patterns, comma and blank");
	is_int(c.count, 2, "two patterns");
	ok(m(&c, 127, 0, 0, 2) && m(&c, 127, 0, 0, 4) && !m(&c, 127, 0, 0, 3), "either pattern");
	is_str(parse(&c, " \t127.0.0.2,,127.0.0.4\t127.0.0.6 , "), NULL, "mixed separators");
	is_int(c.count, 3, "three patterns");

	is_str(parse(&c, "127.0.0.[2;4;6..8]"), NULL, "bracket list");
	is_int(count_last(&c, 127, 0, 0), 5, "five values");
	ok(m(&c, 127, 0, 0, 2) && !m(&c, 127, 0, 0, 3) && m(&c, 127, 0, 0, 4), "list members");
	ok(!m(&c, 127, 0, 0, 5) && m(&c, 127, 0, 0, 6) && m(&c, 127, 0, 0, 8), "list range");
	ok(!m(&c, 127, 0, 0, 9), "after the list range");

	is_str(parse(&c, "[0..255].[0..255].[0..255].[0..255]"), NULL, "everything");
	ok(m(&c, 0, 0, 0, 0) && m(&c, 255, 255, 255, 255) && m(&c, 10, 20, 30, 40), "matches all");
	is_str(parse(&c, "127.0.0.[5..5]"), NULL, "one-value range");
	is_int(count_last(&c, 127, 0, 0), 1, "one value");
	is_str(parse(&c, "127.0.0.[7]"), NULL, "one number in brackets");
	ok(m(&c, 127, 0, 0, 7), "bracketed number matches");
	is_str(parse(&c, "127.0.0.[0..63;64..127;128..191;192..255]"), NULL, "word boundaries");
	is_int(count_last(&c, 127, 0, 0), 256, "all 256 values across the 64-bit words");
	is_str(parse(&c, "127.0.0.[63..64]"), NULL, "range across a word boundary");
	ok(!m(&c, 127, 0, 0, 62) && m(&c, 127, 0, 0, 63) && m(&c, 127, 0, 0, 64), "63 and 64");
	ok(!m(&c, 127, 0, 0, 65), "not 65");
	is_str(parse(&c, "127.000.0.002"), NULL, "leading zeros up to three digits");
	ok(m(&c, 127, 0, 0, 2), "leading zeros read as decimal");
	is_str(parse(&c, "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8 "
			 "9.9.9.9 10.0.0.0 11.0.0.0 12.0.0.0 13.0.0.0 14.0.0.0 15.0.0.0 16.0.0.0"),
	       NULL, "sixteen patterns");
	is_int(c.count, CODES_MAX_PATTERNS, "the maximum");
	ok(m(&c, 16, 0, 0, 0) && m(&c, 1, 1, 1, 1) && !m(&c, 17, 0, 0, 0), "last pattern counts");
}

/* test_invalid - every error, and that *out is left alone. */
static void test_invalid(void)
{
	struct codes c;
	const char *err = NULL;
	char big[2000];

	is_str(parse(&c, ""), "empty filter", "empty");
	is_str(parse(&c, " , \t,"), "empty filter", "only separators");
	is_str(parse(&c, "127.0.0"), "expected four octets separated by '.'", "three octets");
	is_str(parse(&c, "127.0.0."), "expected a number", "trailing dot");
	is_str(parse(&c, "127.0.0.2."), "unexpected text after a pattern", "five octets");
	is_str(parse(&c, "127.0.0.2x"), "unexpected text after a pattern", "trailing junk");
	is_str(parse(&c, "127.0.0.2;127.0.0.3"), "unexpected text after a pattern", "';' outside");
	is_str(parse(&c, "127.0.0.256"), "number out of range (0..255)", "256");
	is_str(parse(&c, "127.0.0.0002"), "number out of range (0..255)", "four digits");
	is_str(parse(&c, "127.0.0.99999999999999999999"), "number out of range (0..255)", "huge");
	is_str(parse(&c, "127.0.0.-1"), "expected a number", "negative");
	is_str(parse(&c, "127.0.0.+1"), "expected a number", "plus sign");
	is_str(parse(&c, "127.0.0.*"), "expected a number", "wildcard");
	is_str(parse(&c, "127.0.0.[11..2]"), "range start above its end", "reversed range");
	is_str(parse(&c, "127.0.0.[2..256]"), "number out of range (0..255)", "range end 256");
	is_str(parse(&c, "127.0.0.[]"), "expected a number", "empty brackets");
	is_str(parse(&c, "127.0.0.[2;]"), "expected a number", "empty list item");
	is_str(parse(&c, "127.0.0.[;2]"), "expected a number", "leading ';'");
	is_str(parse(&c, "127.0.0.[2..]"), "expected a number", "open range");
	is_str(parse(&c, "127.0.0.[..2]"), "expected a number", "range without start");
	is_str(parse(&c, "127.0.0.[2.3]"), "expected '..' in a range", "single dot");
	is_str(parse(&c, "127.0.0.[2...3]"), "expected a number", "three dots");
	is_str(parse(&c, "127.0.0.[2"), "missing ']'", "unclosed bracket");
	is_str(parse(&c, "127.0.0.[2..3"), "missing ']'", "unclosed range");
	is_str(parse(&c, "127.0.0.[2 ; 3]"), "expected ';' or ']'", "blank inside brackets");
	is_str(parse(&c, "127.0.0.[2,3]"), "expected ';' or ']'", "comma inside brackets");
	is_str(parse(&c, "127.0.0.2]"), "unexpected text after a pattern", "stray ']'");
	is_str(parse(&c, "127.0.0.[[2]]"), "expected a number", "nested brackets");
	is_str(parse(&c, "127.0.0.2/32"), "unexpected text after a pattern", "CIDR notation");
	is_str(parse(&c, "zen.spamhaus.org"), "expected a number", "a domain name");
	is_str(parse(&c, "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8 9.9.9.9 "
			 "10.0.0.0 11.0.0.0 12.0.0.0 13.0.0.0 14.0.0.0 15.0.0.0 16.0.0.0 17.0.0.0"),
	       "too many patterns", "seventeen patterns");

	ok(!codes_parse(&c, "127.0.0.2\0", 10, &err), "embedded NUL at the end");
	ok(!codes_parse(&c, "127.0\0.0.2", 10, &err), "embedded NUL inside");
	ok(!codes_parse(&c, "127.0.0.[2\0..3]", 15, &err), "embedded NUL in brackets");
	ok(codes_parse(&c, "127.0.0.25", 9, &err) && m(&c, 127, 0, 0, 2), "explicit length");
	ok(!codes_parse(&c, "127.0.0.[2..3]", 13, &err), "length cuts the bracket");
	is_str(err, "missing ']'", "cut bracket message");
	memset(big, '1', sizeof(big));
	ok(!codes_parse(&c, big, sizeof(big), &err), "2000 digits");
	for (size_t i = 0; i + 8 <= sizeof(big); i += 8)
		memcpy(big + i, "1.2.3.4 ", 8);
	ok(!codes_parse(&c, big, sizeof(big), &err), "250 patterns");
	is_str(err, "too many patterns", "250 patterns message");
	ok(!codes_parse(&c, NULL, 0, NULL), "NULL text and NULL err");

	codes_default(&c);
	ok(!codes_parse(&c, "127.0.0.[2..1]", 14, &err), "failure");
	ok(c.count == 1 && m(&c, 127, 0, 0, 2), "failure leaves *out unchanged");
}

/* test_default_equal - the default filter, and equality of filters. */
static void test_default_equal(void)
{
	struct codes d, c, e;

	codes_default(&d);
	is_int(d.count, 1, "default has one pattern");
	ok(!m(&d, 127, 0, 0, 0) && !m(&d, 127, 0, 0, 1), "default: not .0 or .1");
	is_int(count_last(&d, 127, 0, 0), 254, "default: 127.0.0.[2..255]");
	ok(!m(&d, 127, 0, 1, 2) && !m(&d, 126, 0, 0, 2) && !m(&d, 128, 0, 0, 2), "default: octets");
	parse(&c, "127.0.0.[2..255]");
	ok(codes_equal(&d, &c), "default equals its text");
	parse(&c, "127.0.0.[2..127;128..255]");
	ok(codes_equal(&d, &c), "same sets written differently");
	parse(&c, "127.0.0.[2..254]");
	ok(!codes_equal(&d, &c), "one value fewer");

	parse(&c, "127.0.0.2, 127.0.0.4");
	parse(&e, "127.0.0.4 127.0.0.2");
	ok(codes_equal(&c, &e) && codes_equal(&e, &c), "order does not matter");
	parse(&e, "127.0.0.4 127.0.0.2 127.0.0.4");
	ok(codes_equal(&c, &e) && codes_equal(&e, &c), "repetition does not matter");
	parse(&e, "127.0.0.4");
	ok(!codes_equal(&c, &e) && !codes_equal(&e, &c), "a missing pattern matters");
	parse(&e, "127.0.0.2, 127.0.0.5");
	ok(!codes_equal(&c, &e), "a different pattern matters");
	ok(codes_equal(&c, &c), "a filter equals itself");
}

/* test_classify - which answers are listings, foreign or refusals. */
static void test_classify(void)
{
	static const struct {
		uint8_t a[4];
		enum codes_answer want;
		const char *what;
	} cases[] = {
		{{127, 0, 0, 2}, CODES_ANSWER_LISTING, "127.0.0.2"},
		{{127, 0, 0, 1}, CODES_ANSWER_LISTING, "127.0.0.1 (the filter decides)"},
		{{127, 0, 0, 0}, CODES_ANSWER_LISTING, "127.0.0.0"},
		{{127, 255, 254, 255}, CODES_ANSWER_LISTING, "127.255.254.255"},
		{{127, 254, 255, 0}, CODES_ANSWER_LISTING, "127.254.255.0"},
		{{127, 255, 255, 0}, CODES_ANSWER_ERROR, "127.255.255.0"},
		{{127, 255, 255, 253}, CODES_ANSWER_ERROR, "127.255.255.253 (an error, not a refusal)"},
		{{127, 255, 255, 252}, CODES_ANSWER_REFUSED, "127.255.255.252 (typo)"},
		{{127, 255, 255, 254}, CODES_ANSWER_REFUSED, "127.255.255.254 (public resolver)"},
		{{127, 255, 255, 255}, CODES_ANSWER_REFUSED, "127.255.255.255 (rate limited)"},
		{{126, 255, 255, 255}, CODES_ANSWER_OUTSIDE, "126.255.255.255"},
		{{128, 0, 0, 2}, CODES_ANSWER_OUTSIDE, "128.0.0.2"},
		{{0, 0, 0, 0}, CODES_ANSWER_OUTSIDE, "0.0.0.0"},
		{{192, 0, 2, 1}, CODES_ANSWER_OUTSIDE, "192.0.2.1 (wildcard or hijack)"},
		{{255, 255, 255, 255}, CODES_ANSWER_OUTSIDE, "255.255.255.255"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(codes_classify(cases[i].a), cases[i].want, "classify %s", cases[i].what);
}

/* take - codes_take of answers given as "a.b.c.d" strings; *score its weight (list weight 1). */
static enum codes_verdict take(const struct codes *c, const char *const *answers, size_t n,
			       long *score, char error[16])
{
	uint8_t a[8][4], code[4] = { 0 };
	const uint8_t *bad = NULL;
	uint32_t mask = 0;
	enum codes_verdict v;

	for (size_t i = 0; i < n && i < 8; i++) {
		unsigned x[4] = { 0 };
		sscanf(answers[i], "%u.%u.%u.%u", &x[0], &x[1], &x[2], &x[3]);
		for (int k = 0; k < 4; k++)
			a[i][k] = (uint8_t)x[k];
	}
	v = codes_take(c, (const uint8_t(*)[4])a, n, code, &mask, &bad);
	*score = codes_weight(c, mask, 1);
	error[0] = '\0';
	if (bad != NULL)
		snprintf(error, 16, "%u.%u.%u.%u", bad[0], bad[1], bad[2], bad[3]);
	return v;
}

/* test_bitmask - "&N": any bit of N set in the octet; weights add once per pattern. */
static void test_bitmask(void)
{
	struct codes c;
	long score = 0;
	char error[16];

	is_str(parse(&c, "127.0.0.&2"), NULL, "a bit mask parses");
	ok(m(&c, 127, 0, 0, 2) && m(&c, 127, 0, 0, 3) && m(&c, 127, 0, 0, 6) &&
		   m(&c, 127, 0, 0, 254),
	   "&2 matches 2, 3, 6, 254");
	ok(!m(&c, 127, 0, 0, 0) && !m(&c, 127, 0, 0, 1) && !m(&c, 127, 0, 0, 4) &&
		   !m(&c, 127, 0, 0, 8) && !m(&c, 127, 0, 1, 2),
	   "&2 does not match 0, 1, 4, 8, nor 127.0.1.2");
	is_int(count_last(&c, 127, 0, 0), 128, "&2: half of the values");
	is_str(parse(&c, "127.0.0.&14"), NULL, "&14 (2, 4 and 8)");
	ok(m(&c, 127, 0, 0, 2) && m(&c, 127, 0, 0, 4) && m(&c, 127, 0, 0, 8) &&
		   !m(&c, 127, 0, 0, 1) && !m(&c, 127, 0, 0, 16),
	   "&14: any of the bits 2, 4, 8");
	is_str(parse(&c, "127.0.0.&255"), NULL, "&255");
	is_int(count_last(&c, 127, 0, 0), 255, "&255: every value but 0");

	is_str(parse(&c, "127.0.0.&2*3, 127.0.0.&4*1"), NULL, "URIBL multi with weights");
	is_int(take(&c, (const char *const[]){ "127.0.0.6" }, 1, &score, error), CODES_LISTED,
	       "127.0.0.6 is listed");
	is_int(score, 4, "127.0.0.6 (black and grey) scores 3 + 1");
	take(&c, (const char *const[]){ "127.0.0.2" }, 1, &score, error);
	is_int(score, 3, "127.0.0.2 (black) scores 3");
	take(&c, (const char *const[]){ "127.0.0.4" }, 1, &score, error);
	is_int(score, 1, "127.0.0.4 (grey) scores 1");
	is_int(take(&c, (const char *const[]){ "127.0.0.8" }, 1, &score, error), CODES_NOT_LISTED,
	       "127.0.0.8 (red only) is not listed by this filter");
	take(&c, (const char *const[]){ "127.0.0.2", "127.0.0.6" }, 2, &score, error);
	is_int(score, 4, "two answers matching the same patterns: each weight once");

	is_str(parse(&c, "127.0.0.&0"), "bit mask out of range (1..255)", "&0");
	is_str(parse(&c, "127.0.0.&256"), "bit mask out of range (1..255)", "&256");
	is_str(parse(&c, "127.0.0.&1000"), "bit mask out of range (1..255)", "&1000");
	is_str(parse(&c, "127.0.0.&"), "expected a bit mask after '&'", "& alone");
	is_str(parse(&c, "127.0.0.&x"), "expected a bit mask after '&'", "&x");
	is_str(parse(&c, "127.0.0.&2x"), "unexpected text after a pattern", "&2x");
}

/* refused - parse refused_codes into *c; NULL or the error message. */
static const char *refused(struct codes *c, const char *s)
{
	const char *err = NULL;

	if (codes_parse_refused(c, s, strlen(s), &err))
		return NULL;
	return err != NULL ? err : "(no message)";
}

/* test_refusals - the operators' refusal answers count neither way. */
static void test_refusals(void)
{
	struct codes c, before;
	long score = 0;
	char error[16];

	codes_default(&c);
	is_int(take(&c, (const char *const[]){ "127.255.255.254" }, 1, &score, error),
	       CODES_REFUSED, "127.255.255.254 is a refusal");
	is_str(error, "127.255.255.254", "... and says which answer");
	is_int(take(&c, (const char *const[]){ "127.0.0.2", "127.255.255.255" }, 2, &score, error),
	       CODES_REFUSED, "a refusal beside a listing: a refusal");
	is_str(error, "127.255.255.255", "... which names the refusal");
	is_int(take(&c, (const char *const[]){ "127.255.255.252" }, 1, &score, error),
	       CODES_REFUSED, "127.255.255.252 (typo in the zone) is a refusal");
	is_int(take(&c, (const char *const[]){ "127.255.255.253" }, 1, &score, error), CODES_ERROR,
	       "127.255.255.253 is an error, not a refusal");
	is_int(take(&c, (const char *const[]){ "10.0.0.2", "127.255.255.254" }, 2, &score, error),
	       CODES_REFUSED, "a refusal goes before an answer outside 127/8");
	is_int(take(&c, (const char *const[]){ "127.0.0.255" }, 1, &score, error), CODES_LISTED,
	       "127.0.0.255 without refused_codes: in the default filter");

	is_str(refused(&c, "127.0.0.255"), NULL, "refused_codes = 127.0.0.255");
	ok(codes_refused(&c, (const uint8_t[4]){ 127, 0, 0, 255 }), "127.0.0.255 is now a refusal");
	is_int(take(&c, (const char *const[]){ "127.0.0.255" }, 1, &score, error), CODES_REFUSED,
	       "127.0.0.255 with refused_codes: a refusal, never a listing or an allowlisting");
	is_int(take(&c, (const char *const[]){ "127.0.0.2" }, 1, &score, error), CODES_LISTED,
	       "other answers still listings");
	ok(codes_match(&c, (const uint8_t[4]){ 127, 0, 0, 2 }), "the filter is unchanged");

	codes_default(&c);
	is_str(refused(&c, "127.0.0.1, 127.0.1.255 127.0.0.1"), NULL, "two answers, one repeated");
	is_int(c.refused_count, 2, "each answer kept once");
	before = c;
	is_str(refused(&c, "127.0.0.1, 10.0.0.1"), "a refusal answer must be inside 127.0.0.0/8",
	       "outside 127/8");
	ok(memcmp(&c, &before, sizeof(c)) == 0, "a failure changes nothing");
	is_str(refused(&c, ""), "expected one or more addresses such as 127.0.0.1", "empty");
	is_str(refused(&c, "127.0.0"), "expected an address such as 127.0.0.1", "three octets");
	is_str(refused(&c, "127.0.0.1x"), "expected an address such as 127.0.0.1", "junk");
	is_str(refused(&c, "127.0.0.256"), "number out of range (0..255)", "256");
	is_str(refused(&c, "127.0.0.[1..2]"), "expected a number", "a range");
	is_str(refused(&c, "127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8"),
	       "too many refusal answers (at most 8)", "nine answers in all");

	codes_default(&before);
	codes_default(&c);
	codes_add_refused(&c, (const uint8_t[4]){ 127, 0, 0, 1 });
	ok(!codes_same_layout(&before, &c), "other refusals: not the same layout (the cache goes)");
	ok(codes_equal(&before, &c), "... but the same patterns");
}

int main(void)
{
	test_valid();
	test_invalid();
	test_default_equal();
	test_classify();
	test_bitmask();
	test_refusals();
	return tap_done();
}
