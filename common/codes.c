/*
 * codes - DNS list answer filters in Postfix's "d.d.d.d" syntax, and the classification
 * of DNSBL answers (see codes.h).
 *
 * A filter is parsed into at most CODES_MAX_PATTERNS patterns, each holding one 256-bit
 * set per octet, so that matching is four bit tests per pattern, and an optional weight
 * ("*N", as in postscreen_dnsbl_sites). Nothing is allocated:
 * struct codes is a plain value owned by the caller, and every error message is a static
 * string. The text comes from the configuration and is checked completely.
 */
#include "codes.h"

#include <string.h>

/* The parser's position in the text; err is set at the first error. */
struct cursor {
	const char *s;
	size_t len, pos;
	const char *err;
};

/* octet_set - allow values lo..hi (both included, lo <= hi <= 255) in one octet's set. */
static void octet_set(uint64_t set[4], unsigned lo, unsigned hi)
{
	for (unsigned v = lo; v <= hi; v++)
		set[v / 64] |= (uint64_t)1 << (v % 64);
}

/* octet_has - whether value v is allowed in one octet's set. */
static bool octet_has(const uint64_t set[4], unsigned v)
{
	return (set[v / 64] >> (v % 64)) & 1;
}

/* cursor_char - the character at the cursor, '\0' at the end (a NUL in the text is an error). */
static char cursor_char(const struct cursor *c)
{
	return c->pos < c->len ? c->s[c->pos] : '\0';
}

/* at_end - whether the whole text has been read. */
static bool at_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

/* fail - record the first error and return false, so that callers can return its value. */
static bool fail(struct cursor *c, const char *msg)
{
	if (c->err == NULL)
		c->err = msg;
	return false;
}

/*
 * number - read a decimal number 0..255. Digits are counted rather than accumulated
 * without limit, so that "99999999999" is an error and not an overflow.
 */
static bool number(struct cursor *c, unsigned *out)
{
	unsigned v = 0, digits = 0;

	while (!at_end(c) && cursor_char(c) >= '0' && cursor_char(c) <= '9') {
		if (++digits > 3)
			return fail(c, "number out of range (0..255)");
		v = v * 10 + (unsigned)(cursor_char(c) - '0');
		c->pos++;
	}
	if (digits == 0)
		return fail(c, "expected a number");
	if (v > 255)
		return fail(c, "number out of range (0..255)");
	*out = v;
	return true;
}

/* bracket_item - read "n" or "a..b" inside brackets and add it to the octet's set. */
static bool bracket_item(struct cursor *c, uint64_t set[4])
{
	unsigned lo, hi;

	if (!number(c, &lo))
		return false;
	hi = lo;
	if (cursor_char(c) == '.') {
		if (c->pos + 1 >= c->len || c->s[c->pos + 1] != '.')
			return fail(c, "expected '..' in a range");
		c->pos += 2;
		if (!number(c, &hi))
			return false;
		if (lo > hi)
			return fail(c, "range start above its end");
	}
	octet_set(set, lo, hi);
	return true;
}

/*
 * octet_mask - after '&', a bit mask N (1..255): every value with a bit of N set. Its
 * own digits loop, so that "&0" and "&256" get the mask's range in their message.
 */
static bool octet_mask(struct cursor *c, uint64_t set[4])
{
	unsigned n = 0, digits = 0;

	while (!at_end(c) && cursor_char(c) >= '0' && cursor_char(c) <= '9') {
		if (++digits > 3)
			return fail(c, "bit mask out of range (1..255)");
		n = n * 10 + (unsigned)(cursor_char(c) - '0');
		c->pos++;
	}
	if (digits == 0)
		return fail(c, "expected a bit mask after '&'");
	if (n < 1 || n > 255)
		return fail(c, "bit mask out of range (1..255)");
	for (unsigned v = 1; v <= 255; v++)
		if (v & n)
			octet_set(set, v, v);
	return true;
}

/*
 * octet - read one octet: a number, "&N" (a bit mask), or "[item;item...]" where an
 * item is n or a..b.
 */
static bool octet(struct cursor *c, uint64_t set[4])
{
	unsigned v;

	if (cursor_char(c) == '&') {
		c->pos++;
		return octet_mask(c, set);
	}
	if (cursor_char(c) != '[') {
		if (!number(c, &v))
			return false;
		octet_set(set, v, v);
		return true;
	}
	c->pos++;
	for (;;) {
		if (!bracket_item(c, set))
			return false;
		if (cursor_char(c) == ']')
			break;
		if (at_end(c))
			return fail(c, "missing ']'");
		if (cursor_char(c) != ';')
			return fail(c, "expected ';' or ']'");
		c->pos++;
	}
	c->pos++;
	return true;
}

/* pattern - read four octets separated by dots. */
static bool pattern(struct cursor *c, struct codes_pattern *p)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (cursor_char(c) != '.')
				return fail(c, "expected four octets separated by '.'");
			c->pos++;
		}
		if (!octet(c, p->octet[i]))
			return false;
	}
	return true;
}

/*
 * weight - after a pattern, "*N" or "*-N" (N at most CODES_MAX_WEIGHT) gives it its
 * own weight, as in postscreen_dnsbl_sites.
 */
static bool weight(struct cursor *c, struct codes_pattern *p)
{
	bool negative = false;
	long v = 0;
	unsigned digits = 0;

	if (cursor_char(c) != '*')
		return true;
	c->pos++;
	if (cursor_char(c) == '-' || cursor_char(c) == '+') {
		negative = cursor_char(c) == '-';
		c->pos++;
	}
	while (!at_end(c) && cursor_char(c) >= '0' && cursor_char(c) <= '9') {
		if (++digits > 7)
			return fail(c, "weight out of range");
		v = v * 10 + (cursor_char(c) - '0');
		c->pos++;
	}
	if (digits == 0)
		return fail(c, "expected a weight after '*'");
	if (v > CODES_MAX_WEIGHT)
		return fail(c, "weight out of range");
	p->weight = negative ? -v : v;
	p->weighted = true;
	return true;
}

/* is_sep - the separators between patterns: commas and blanks. */
static bool is_sep(char ch)
{
	return ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* skip_seps - move past separators; at_end() tells whether anything follows. */
static void skip_seps(struct cursor *c)
{
	while (!at_end(c) && is_sep(cursor_char(c)))
		c->pos++;
}

/* codes_parse - parse a filter of one or more patterns; *out is unchanged on failure. */
bool codes_parse(struct codes *out, const char *s, size_t len, const char **err)
{
	struct cursor c = { s, s != NULL ? len : 0, 0, NULL };
	struct codes tmp;
	const char *ignored;

	if (err == NULL)
		err = &ignored;
	memset(&tmp, 0, sizeof(tmp));
	for (skip_seps(&c); !at_end(&c); skip_seps(&c)) {
		if (tmp.count == CODES_MAX_PATTERNS) {
			*err = "too many patterns";
			return false;
		}
		if (!pattern(&c, &tmp.pattern[tmp.count]) || !weight(&c, &tmp.pattern[tmp.count])) {
			*err = c.err;
			return false;
		}
		tmp.count++;
		/* "127.0.0.2x" must not pass as 127.0.0.2 followed by a bad pattern "x". */
		if (!at_end(&c) && !is_sep(cursor_char(&c))) {
			*err = "unexpected text after a pattern";
			return false;
		}
	}
	if (tmp.count == 0) {
		*err = "empty filter";
		return false;
	}
	*out = tmp;
	return true;
}

/* has_refused - whether the answer is one of the list's own refusal answers. */
static bool has_refused(const struct codes *c, const uint8_t answer[4])
{
	unsigned n = c->refused_count <= CODES_MAX_REFUSED ? c->refused_count : CODES_MAX_REFUSED;

	for (unsigned i = 0; i < n; i++)
		if (memcmp(c->refused[i], answer, 4) == 0)
			return true;
	return false;
}

/* codes_add_refused - one more refusal answer, once. */
bool codes_add_refused(struct codes *out, const uint8_t answer[4])
{
	if (has_refused(out, answer))
		return true;
	if (out->refused_count >= CODES_MAX_REFUSED)
		return false;
	memcpy(out->refused[out->refused_count++], answer, 4);
	return true;
}

/* codes_parse_refused - addresses inside 127/8, separated by commas or blanks; all or nothing. */
bool codes_parse_refused(struct codes *out, const char *s, size_t len, const char **err)
{
	struct cursor c = { s, s != NULL ? len : 0, 0, NULL };
	struct codes tmp = *out;
	const char *ignored;
	bool any = false;

	if (err == NULL)
		err = &ignored;
	for (skip_seps(&c); !at_end(&c); skip_seps(&c)) {
		uint8_t a[4];
		for (int i = 0; i < 4; i++) {
			unsigned v;
			if (i > 0 && cursor_char(&c) != '.') {
				*err = "expected an address such as 127.0.0.1";
				return false;
			}
			c.pos += i > 0;
			if (!number(&c, &v)) {
				*err = c.err;
				return false;
			}
			a[i] = (uint8_t)v;
		}
		if (!at_end(&c) && !is_sep(cursor_char(&c))) {
			*err = "expected an address such as 127.0.0.1";
			return false;
		}
		if (a[0] != 127) {
			*err = "a refusal answer must be inside 127.0.0.0/8";
			return false;
		}
		if (!codes_add_refused(&tmp, a)) {
			*err = "too many refusal answers (at most 8)";
			return false;
		}
		any = true;
	}
	if (!any) {
		*err = "expected one or more addresses such as 127.0.0.1";
		return false;
	}
	*out = tmp;
	return true;
}

/* codes_default - the default filter 127.0.0.[2..255], unweighted. */
void codes_default(struct codes *out)
{
	struct codes_pattern *p = &out->pattern[0];

	memset(out, 0, sizeof(*out));
	out->count = 1;
	octet_set(p->octet[0], 127, 127);
	octet_set(p->octet[1], 0, 0);
	octet_set(p->octet[2], 0, 0);
	octet_set(p->octet[3], 2, 255);
}

/* pattern_match - whether every octet of the answer is allowed by the pattern. */
static bool pattern_match(const struct codes_pattern *p, const uint8_t answer[4])
{
	for (int i = 0; i < 4; i++)
		if (!octet_has(p->octet[i], answer[i]))
			return false;
	return true;
}

/* codes_match - whether the answer matches any pattern of the filter. */
bool codes_match(const struct codes *c, const uint8_t answer[4])
{
	unsigned n = c->count <= CODES_MAX_PATTERNS ? c->count : CODES_MAX_PATTERNS;

	for (unsigned i = 0; i < n; i++)
		if (pattern_match(&c->pattern[i], answer))
			return true;
	return false;
}

/* codes_match_mask - one bit per pattern that accepts the answer. */
uint32_t codes_match_mask(const struct codes *c, const uint8_t answer[4])
{
	unsigned n = c->count <= CODES_MAX_PATTERNS ? c->count : CODES_MAX_PATTERNS;
	uint32_t mask = 0;

	for (unsigned i = 0; i < n; i++)
		if (pattern_match(&c->pattern[i], answer))
			mask |= (uint32_t)1 << i;
	return mask;
}

/* codes_weight - weighted patterns each once; the unweighted ones the list's weight once. */
long codes_weight(const struct codes *c, uint32_t mask, long list_weight)
{
	unsigned n = c->count <= CODES_MAX_PATTERNS ? c->count : CODES_MAX_PATTERNS;
	bool unweighted = false;
	long sum = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!(mask & ((uint32_t)1 << i)))
			continue;
		if (c->pattern[i].weighted)
			sum += c->pattern[i].weight;
		else
			unweighted = true;
	}
	return unweighted ? sum + list_weight : sum;
}

/* same_octets - the same four octet sets. */
static bool same_octets(const struct codes_pattern *a, const struct codes_pattern *b)
{
	return memcmp(a->octet, b->octet, sizeof(a->octet)) == 0;
}

/* has_pattern - whether filter c holds a pattern with the octet sets of p. */
static bool has_pattern(const struct codes *c, const struct codes_pattern *p)
{
	unsigned n = c->count <= CODES_MAX_PATTERNS ? c->count : CODES_MAX_PATTERNS;

	for (unsigned i = 0; i < n; i++)
		if (same_octets(&c->pattern[i], p))
			return true;
	return false;
}

/* codes_same_layout - pattern i of one is pattern i of the other, for every i; the same refusals. */
bool codes_same_layout(const struct codes *a, const struct codes *b)
{
	if (a->count != b->count || a->count > CODES_MAX_PATTERNS)
		return false;
	if (a->refused_count != b->refused_count || a->refused_count > CODES_MAX_REFUSED ||
	    memcmp(a->refused, b->refused, (size_t)a->refused_count * 4) != 0)
		return false;
	for (unsigned i = 0; i < a->count; i++)
		if (!same_octets(&a->pattern[i], &b->pattern[i]))
			return false;
	return true;
}

/*
 * codes_equal - whether both filters hold the same patterns. Order and repetition are
 * ignored, so that "127.0.0.2, 127.0.0.4" and "127.0.0.4 127.0.0.2" are equal and a
 * reload that only reorders the filter keeps the cache. Filters that are written
 * differently but accept the same answers may still compare unequal; the cost is only
 * an emptied cache.
 */
bool codes_equal(const struct codes *a, const struct codes *b)
{
	unsigned na = a->count <= CODES_MAX_PATTERNS ? a->count : CODES_MAX_PATTERNS;
	unsigned nb = b->count <= CODES_MAX_PATTERNS ? b->count : CODES_MAX_PATTERNS;

	for (unsigned i = 0; i < na; i++)
		if (!has_pattern(b, &a->pattern[i]))
			return false;
	for (unsigned i = 0; i < nb; i++)
		if (!has_pattern(a, &b->pattern[i]))
			return false;
	return true;
}

/* codes_classify - whether an A answer is a listing, outside 127/8, a refusal or an error. */
enum codes_answer codes_classify(const uint8_t answer[4])
{
	if (answer[0] != 127)
		return CODES_ANSWER_OUTSIDE;
	/* Spamhaus answers 127.255.255.x for errors; other operators keep clear of it. */
	if (answer[1] == 255 && answer[2] == 255)
		return answer[3] == 252 || answer[3] >= 254 ? CODES_ANSWER_REFUSED
							    : CODES_ANSWER_ERROR;
	return CODES_ANSWER_LISTING;
}

/* codes_refused - a built-in refusal, or one of the list's own. */
bool codes_refused(const struct codes *c, const uint8_t answer[4])
{
	return codes_classify(answer) == CODES_ANSWER_REFUSED || has_refused(c, answer);
}

/*
 * codes_take - refusals first (the operator refuses us, whatever else it said), then
 * errors (one poisons the answer), then the filter over every address.
 */
enum codes_verdict codes_take(const struct codes *c, const uint8_t (*answers)[4], size_t count,
			      uint8_t code[4], uint32_t *mask, const uint8_t **error)
{
	*mask = 0;
	for (size_t i = 0; i < count; i++) {
		if (codes_refused(c, answers[i])) {
			*error = answers[i];
			return CODES_REFUSED;
		}
	}
	for (size_t i = 0; i < count; i++) {
		if (codes_classify(answers[i]) != CODES_ANSWER_LISTING) {
			*error = answers[i];
			return CODES_ERROR;
		}
	}
	for (size_t i = 0; i < count; i++) {
		uint32_t m = codes_match_mask(c, answers[i]);
		if (m != 0 && *mask == 0)
			memcpy(code, answers[i], 4);
		*mask |= m;
	}
	return *mask != 0 ? CODES_LISTED : CODES_NOT_LISTED;
}
