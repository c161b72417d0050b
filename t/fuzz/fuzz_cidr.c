/*
 * fuzz_cidr - addresses, CIDR ranges and sets (common/addr.h) and answer filters
 * (common/codes.h) on untrusted text.
 *
 * The whole input is loaded as a list file (cidr_set_load_text) and parsed as a
 * codes filter. It is also cut into tokens at blanks, commas and newlines; each
 * token goes through addr_parse, cidr_parse and the text forms, and the ranges
 * that parse are added to a second set.
 *
 * Invariants: line numbers of bad lines count up from 1 within the text; IPv4
 * text parses exactly as inet_pton parses it; text forms round-trip
 * (parse(format(a)) == a, and format is canonical); a range has its host bits
 * clear and contains its base; the sorted and merged set answers
 * cidr_set_contains exactly as a linear scan of the ranges with cidr_contains
 * does, for addresses at and around every range's edges and addresses taken
 * from the input bytes; a parsed filter equals itself.
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "addr.h"
#include "codes.h"

#define MAX_RANGES 256

static struct cidr ranges[MAX_RANGES];
static size_t range_count;

/* on_bad_line - the cidr_error_fn: lines come in order and the message is set. */
static void on_bad_line(void *ctx, unsigned line, const char *message)
{
	unsigned *last = ctx;

	FUZZ_CHECK(line > *last);
	FUZZ_CHECK(message != NULL && *message != '\0');
	*last = line;
}

/* check_addr - text forms of a parsed address. */
static void check_addr(const struct addr *a)
{
	char text[ADDR_TEXT_MAX], again_text[ADDR_TEXT_MAX], rev[ADDR_REVERSE_MAX];
	struct addr again;
	size_t n, m;

	FUZZ_CHECK(a->family == ADDR_V4 || a->family == ADDR_V6);
	n = addr_format(a, text, sizeof(text));
	FUZZ_CHECK(n > 0 && n < sizeof(text) && strlen(text) == n);
	FUZZ_CHECK(addr_parse(&again, text, n));
	FUZZ_CHECK(addr_equal(a, &again));
	m = addr_format(&again, again_text, sizeof(again_text));
	FUZZ_CHECK(m == n && memcmp(text, again_text, n) == 0);
	/* A buffer one byte short of the text fails cleanly. */
	FUZZ_CHECK(addr_format(a, again_text, n) == 0);

	n = addr_reverse_name(a, rev, sizeof(rev));
	FUZZ_CHECK(n > 0 && n < sizeof(rev) && strlen(rev) == n);
	if (a->family == ADDR_V4) {
		FUZZ_CHECK(n >= 7 && n <= 15);
	} else {
		FUZZ_CHECK(n == 63);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(i % 2 ? rev[i] == '.'
					 : strchr("0123456789abcdef", rev[i]) != NULL);
	}
}

/* neighbour - a + delta (delta -1 or +1) within its family, wrapping. */
static struct addr neighbour(const struct addr *a, int delta)
{
	struct addr b = *a;
	int last = a->family == ADDR_V4 ? 3 : 15;

	for (int i = last; i >= 0; i--) {
		uint8_t old = b.bytes[i];
		b.bytes[i] = (uint8_t)(old + delta);
		if ((delta > 0 && old != 0xff) || (delta < 0 && old != 0x00))
			break;
	}
	return b;
}

/* last_of - the highest address of a range. */
static struct addr last_of(const struct cidr *c)
{
	struct addr b = c->base;
	unsigned bits = c->base.family == ADDR_V4 ? 32 : 128;

	for (unsigned i = c->prefix; i < bits; i++)
		b.bytes[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return b;
}

/* compare_set - the set and a linear scan agree about a. */
static void compare_set(const struct cidr_set *set, const struct addr *a)
{
	bool linear = false;

	for (size_t i = 0; i < range_count && !linear; i++)
		linear = cidr_contains(&ranges[i], a);
	FUZZ_CHECK(cidr_set_contains(set, a) == linear);
}

/* check_range - a parsed range is masked and contains its own edges. */
static void check_range(const struct cidr *c)
{
	unsigned bits = c->base.family == ADDR_V4 ? 32 : 128;
	struct addr last = last_of(c);

	FUZZ_CHECK(c->prefix <= bits);
	for (unsigned i = c->prefix; i < bits; i++)
		FUZZ_CHECK(!(c->base.bytes[i / 8] & (0x80 >> (i % 8))));
	if (c->base.family == ADDR_V4)
		for (unsigned i = 4; i < 16; i++)
			FUZZ_CHECK(c->base.bytes[i] == 0);
	FUZZ_CHECK(cidr_contains(c, &c->base));
	FUZZ_CHECK(cidr_contains(c, &last));
	check_addr(&c->base);
}

/* is_sep - where the input is cut into tokens. */
static bool is_sep(uint8_t c)
{
	return c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r';
}

/* token - one slice of the input, in its own exact-size block. */
static void token(const uint8_t *s, size_t len, struct cidr_set *set)
{
	char *copy = malloc(len ? len : 1);
	const char *err = NULL;
	struct addr a;
	struct cidr c;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, s, len);
	bool parsed = addr_parse(&a, copy, len);
	if (parsed)
		check_addr(&a);
	/* IPv4 text is parsed by hand (it is on every request's path): as inet_pton does. */
	if (len < ADDR_TEXT_MAX && memchr(s, ':', len) == NULL && memchr(s, '\0', len) == NULL) {
		char text[ADDR_TEXT_MAX];
		uint8_t want[4];
		memcpy(text, s, len);
		text[len] = '\0';
		bool ok = inet_pton(AF_INET, text, want) == 1;
		FUZZ_CHECK(parsed == ok);
		FUZZ_CHECK(!ok || (a.family == ADDR_V4 && memcmp(a.bytes, want, 4) == 0));
	}
	if (cidr_parse(&c, copy, len, &err)) {
		check_range(&c);
		if (range_count < MAX_RANGES) {
			ranges[range_count++] = c;
			FUZZ_CHECK(cidr_set_add(set, &c));
		}
	} else {
		FUZZ_CHECK(err != NULL && *err != '\0');
	}
	free(copy);
}

/* check_codes - the input as a codes filter. */
static void check_codes(const uint8_t *data, size_t size)
{
	static struct codes codes;
	const char *err = NULL;
	uint8_t answer[4];

	if (!codes_parse(&codes, (const char *)data, size, &err)) {
		FUZZ_CHECK(err != NULL && *err != '\0');
		return;
	}
	FUZZ_CHECK(codes.count >= 1 && codes.count <= CODES_MAX_PATTERNS);
	FUZZ_CHECK(codes_equal(&codes, &codes));
	for (size_t i = 0; i + 4 <= size && i < 64; i++) {
		memcpy(answer, data + i, 4);
		(void)codes_match(&codes, answer);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr_set *loaded = cidr_set_new(), *set = cidr_set_new();
	unsigned last_line = 0;
	size_t start = 0;

	FUZZ_CHECK(loaded != NULL && set != NULL);
	int bad = cidr_set_load_text(loaded, (const char *)data, size, on_bad_line, &last_line);
	FUZZ_CHECK(bad >= 0);
	cidr_set_finish(loaded);

	range_count = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i == size || is_sep(data[i])) {
			if (i > start)
				token(data + start, i - start, set);
			start = i + 1;
		}
	}
	cidr_set_finish(set);
	FUZZ_CHECK(cidr_set_size(set) <= range_count);

	for (size_t i = 0; i < range_count; i++) {
		struct addr edges[5] = {
			ranges[i].base, neighbour(&ranges[i].base, -1), last_of(&ranges[i]),
		};
		edges[3] = neighbour(&edges[2], +1);
		edges[4] = neighbour(&edges[0], +1);
		for (size_t e = 0; e < 5; e++) {
			compare_set(set, &edges[e]);
			(void)cidr_set_contains(loaded, &edges[e]);
		}
	}
	/* Addresses straight from the input bytes, both families. */
	for (size_t i = 0; i + 16 <= size && i < 256; i += 4) {
		struct addr a = { .family = ADDR_V4 };
		memcpy(a.bytes, data + i, 4);
		compare_set(set, &a);
		(void)cidr_set_contains(loaded, &a);
		a.family = ADDR_V6;
		memcpy(a.bytes, data + i, 16);
		compare_set(set, &a);
		(void)cidr_set_contains(loaded, &a);
	}
	cidr_set_free(loaded);
	cidr_set_free(set);
	check_codes(data, size);
	return 0;
}
