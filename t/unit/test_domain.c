/*
 * test_domain - domain_clean and domain_of_address (common/domain.c) against
 * reference versions written here as plainly as possible: a byte at a time through
 * a table, the last '@' found by a scan from the end. The new code reads 16 bytes at
 * a time with SSE2, in blocks that overlap at the end of a name, so the inputs put
 * every kind of byte and every label boundary on each side of those blocks: every
 * length from 0 to 300 with random bytes from alphabets rich in '.', '-', '_', digits,
 * letters of both cases, '@', '"', '\\' and bytes above 0x7f; each byte value at each
 * offset of short names; a '.' or an '@' at each offset of names up to 300 bytes; and
 * hand-picked edges (labels of 63 and 64 bytes, names of 253 and 254, a final dot, an
 * all-digit last label). Both must agree exactly: the same length or verdict, the
 * same bytes out, the same domain pointer. meson builds this test twice, the second
 * time with POLICYD_PORTABLE, so the byte-at-a-time version that other architectures
 * run is checked on every build too.
 * Memory: each input is copied into a heap block of exactly its size and each output
 * buffer is a heap block of exactly the size passed, freed at once, so that a read or
 * a write past either shows under valgrind or ASan. libidn2's results are freed.
 */
#include <idn2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "tap.h"

/* rnd - a small deterministic generator, so that failures repeat. */
static unsigned long long state = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
	state ^= state << 13, state ^= state >> 7, state ^= state << 17;
	return (unsigned)(state % n);
}

/* ---------------------------------------------------------------- the reference */

/* ref_byte - what a byte becomes in a clean name, 0 for a byte that may not be in one. */
static unsigned char ref_byte(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c - 'A' + 'a');
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
		return c;
	return 0;
}

/* ref_clean_ascii - the rules of domain.h, one byte at a time. */
static size_t ref_clean_ascii(const char *s, size_t len, char *out, size_t size)
{
	size_t label = 0, labels = 1;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_MAX || len >= size || s[0] == '[' ||
	    (len == 7 && memcmp(s, "unknown", 7) == 0))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = ref_byte((unsigned char)s[i]);
		if (c == 0)
			return 0;
		if (c == '.') {
			if (i == label || i - label > 63)
				return 0;
			labels++;
			label = i + 1;
		}
		out[i] = (char)c;
	}
	if (len == label || len - label > 63 || labels < 2)
		return 0;
	bool digits = true;
	for (size_t i = label; i < len; i++)
		digits = digits && out[i] >= '0' && out[i] <= '9';
	if (digits)
		return 0;
	out[len] = '\0';
	return len;
}

/* ref_clean - ASCII first; a name with a byte above 0x7f then through libidn2. */
static size_t ref_clean(const char *s, size_t len, char *out, size_t size)
{
	char input[DOMAIN_MAX * 4 + 1];
	char *converted = NULL;
	size_t n = ref_clean_ascii(s, len, out, size);
	bool ascii = true;

	for (size_t i = 0; i < len; i++)
		ascii = ascii && (unsigned char)s[i] < 0x80;
	if (n > 0 || ascii)
		return n;
	if (len >= sizeof(input) || memchr(s, '\0', len) != NULL)
		return 0;
	memcpy(input, s, len);
	input[len] = '\0';
	if (idn2_to_ascii_8z(input, &converted, IDN2_NONTRANSITIONAL) != IDN2_OK)
		return 0;
	n = ref_clean_ascii(converted, strlen(converted), out, size);
	idn2_free(converted);
	return n;
}

/* ref_of_address - past a quoted local part, then the last '@' from the end. */
static bool ref_of_address(const char *addr, size_t len, const char **domain, size_t *domain_len)
{
	const char *at = NULL;

	if (len > 0 && addr[0] == '"') {
		size_t i = 1;
		while (i < len && addr[i] != '"')
			i += addr[i] == '\\' ? 2 : 1;
		if (i + 1 >= len || addr[i + 1] != '@')
			return false;
		at = addr + i + 1;
	}
	for (size_t i = len; i > 0 && (at == NULL || addr + i - 1 > at); i--) {
		if (addr[i - 1] == '@') {
			at = addr + i - 1;
			break;
		}
	}
	if (at == NULL || at + 1 >= addr + len)
		return false;
	*domain = at + 1;
	*domain_len = len - (size_t)(at + 1 - addr);
	return true;
}

/* ---------------------------------------------------------------- comparison */

static unsigned long checked, cleaned, split, mismatches;

/* show - the first few disagreements, as a TAP comment with the input in hex. */
static void show(const char *what, const char *s, size_t len, size_t got, size_t want)
{
	if (++mismatches > 10)
		return;
	printf("# %s differs (got %zu, want %zu) on %zu bytes:", what, got, want, len);
	for (size_t i = 0; i < len; i++)
		printf(" %02x", (unsigned char)s[i]);
	putchar('\n');
}

/*
 * check_size - both functions on the len bytes at text, copied into a block of exactly
 * len bytes, domain_clean into outputs of exactly size bytes.
 */
static void check_size(const char *text, size_t len, size_t size)
{
	static char dummy;
	char *s = malloc(len), *out = malloc(size), *ref = malloc(size);
	const char *d = NULL, *rd = NULL;
	size_t dlen = 0, rdlen = 0;

	if (len == 0 && s == NULL)
		s = &dummy;
	if (s == NULL || out == NULL || ref == NULL)
		abort();
	memcpy(s, text, len);
	checked++;
	size_t n = domain_clean(s, len, out, size), rn = ref_clean(s, len, ref, size);
	if (n != rn || (n > 0 && memcmp(out, ref, n + 1) != 0))
		show("domain_clean", s, len, n, rn);
	cleaned += rn > 0;
	bool f = domain_of_address(s, len, &d, &dlen), rf = ref_of_address(s, len, &rd, &rdlen);
	if (f != rf || (f && (d != rd || dlen != rdlen)))
		show("domain_of_address", s, len, f ? (size_t)(d - s) : 0,
		     rf ? (size_t)(rd - s) : 0);
	split += rf;
	if (s != &dummy)
		free(s);
	free(out);
	free(ref);
}

/* check - as check_size with the size of domain.h, and now and then a smaller one. */
static void check(const char *text, size_t len)
{
	check_size(text, len, DOMAIN_SIZE);
	if (rnd(16) == 0)
		check_size(text, len, 1 + rnd(DOMAIN_SIZE));
}

/* ---------------------------------------------------------------- inputs */

/* pick - one byte of the alphabet of a mode (see random_input). */
static char pick(unsigned mode)
{
	static const char clean[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	static const char other[] = "@\"\\[]:/`{~ ,;^\x7f";
	static const unsigned char high[] = { 0x80, 0xbc, 0xc3, 0xc1, 0xda, 0xe1, 0xfa, 0xff };
	unsigned r = rnd(100);

	switch (mode) {
	case 0: /* everything */
		if (r < 15)
			return '.';
		if (r < 25)
			return "-_"[rnd(2)];
		if (r < 35)
			return (char)('0' + rnd(10));
		if (r < 45)
			return "@\"\\"[rnd(3)];
		if (r < 50)
			return other[rnd(sizeof(other) - 1)];
		if (r < 53)
			return (char)high[rnd(sizeof(high))];
		return clean[rnd(52)];
	case 1: /* a name's bytes only, many labels */
		return r < 15 ? '.' : clean[rnd(sizeof(clean) - 1)];
	case 2: /* digits and dots: addresses and all-digit labels */
		return r < 25   ? '.'
		       : r < 90 ? (char)('0' + rnd(10))
				: clean[rnd(sizeof(clean) - 1)];
	default: /* an address: '@', quotes and escapes */
		if (r < 12)
			return '@';
		if (r < 20)
			return "\"\\"[rnd(2)];
		return r < 30 ? '.' : clean[rnd(sizeof(clean) - 1)];
	}
}

/*
 * random_input - len bytes into buf in one of five modes: 0 every kind of byte; 1 a
 * name's bytes with many dots; 2 digits and dots; 3 an address, often quoted; 4 a
 * name's bytes with labels of random lengths around 63 (so that both verdicts on a
 * label's length come up), a bad byte put in now and then, a final dot now and then.
 */
static void random_input(char *buf, size_t len, unsigned mode)
{
	if (mode < 4) {
		for (size_t i = 0; i < len; i++)
			buf[i] = pick(mode);
		if (mode == 3 && len > 0 && rnd(2) == 0)
			buf[0] = '"';
		return;
	}
	size_t next = rnd(70);
	for (size_t i = 0; i < len; i++) {
		if (next-- == 0) {
			buf[i] = '.';
			next = rnd(4) == 0 ? 60 + rnd(8) : rnd(20);
		} else {
			buf[i] = pick(1);
			if (buf[i] == '.')
				buf[i] = 'x';
		}
	}
	if (len > 0 && rnd(4) == 0)
		buf[rnd((unsigned)len)] = pick(0);
	if (len > 0 && rnd(4) == 0)
		buf[len - 1] = '.';
}

/* test_random - every length from 0 to 300, in each mode. */
static void test_random(void)
{
	char buf[301];

	for (size_t len = 0; len <= 300; len++)
		for (unsigned k = 0; k < 500; k++) {
			random_input(buf, len, k % 5);
			check(buf, len);
		}
}

/*
 * base_name - a valid name of len bytes with labels of 1, 5, 15, 16, 17 and 40 bytes
 * in turn, letters of both cases, digits, '-' and '_' (a last label that would be too
 * short or all digits is what the checks then say about it).
 */
static void base_name(char *buf, size_t len)
{
	static const unsigned labels[] = { 1, 5, 15, 16, 17, 40 };
	static const char bytes[] = "aZ0-_bY9cXdW";
	size_t k = 0, left = labels[0];

	for (size_t i = 0; i < len; i++) {
		if (left == 0) {
			buf[i] = '.';
			k = (k + 1) % 6;
			left = labels[k];
		} else {
			buf[i] = bytes[i % (sizeof(bytes) - 1)];
			left--;
		}
	}
}

/*
 * test_each_byte - each of the 256 byte values at each offset of names of 1 to 40
 * bytes (so at each place of the 8-byte halves and 16-byte blocks), and a set of
 * telling bytes (the edges of each range, and their images with 0x20 or 0x80 set)
 * at each offset of names up to 300 bytes.
 */
static void test_each_byte(void)
{
	static const unsigned char telling[] = {
		0x00, ',',  '-',  '.',  '/',  '0',  '9',  ':',  '@',  'A',  'Z',  '[',  '^',
		'_',  '`',  'a',  'z',  '{',  0x7f, 0x80, 0xad, 0xae, 0xc0, 0xc1, 0xda, 0xdb,
		0xdf, 0xe0, 0xe1, 0xfa, 0xfb, 0xff, 0x0d, 0x0e, 0x10, 0x19, 0x1a, '"',  '\\',
	};
	char buf[301];

	for (size_t len = 1; len <= 40; len++)
		for (size_t at = 0; at < len; at++)
			for (unsigned b = 0; b < 256; b++) {
				base_name(buf, len);
				buf[at] = (char)b;
				check(buf, len);
			}
	for (size_t len = 41; len <= 300; len++)
		for (size_t at = 0; at < len; at++)
			for (size_t b = 0; b < sizeof(telling); b++) {
				base_name(buf, len);
				buf[at] = (char)telling[b];
				check(buf, len);
			}
}

/*
 * test_each_offset - names of 'a' up to 300 bytes with one '.' at each offset, then two
 * (adjacent, or 63 and 64 apart, so that the label between is as long as allowed and
 * one too long), and the last label all digits; addresses of 'x' with one '@' at each
 * offset and a second one later, quoted or not.
 */
static void test_each_offset(void)
{
	char buf[301];

	for (size_t len = 0; len <= 300; len++)
		for (size_t at = 0; at < len; at++) {
			memset(buf, 'a', len);
			buf[at] = '.';
			check(buf, len);
			for (size_t gap = 1; gap <= 65; gap += gap == 2 ? 61 : 1) {
				if (at + gap >= len)
					break;
				buf[at + gap] = '.';
				check(buf, len);
				memset(buf + at + gap + 1, '7', len - at - gap - 1);
				check(buf, len);
				memset(buf + at + 1, 'a', len - at - 1);
			}
			memset(buf, 'x', len);
			buf[at] = '@';
			check(buf, len);
			if (at + 1 < len) {
				buf[at + 1 + rnd((unsigned)(len - at - 1))] = '@';
				check(buf, len);
				buf[0] = '"';
				check(buf, len);
				if (at > 0) {
					buf[at - 1] = '"';
					check(buf, len);
				}
			}
		}
}

/*
 * test_exhaustive - every string of up to 8 bytes of '"', '\\', '@', 'a' and '.' (all
 * the ways a quoted local part can open, escape, close and be followed by '@'), alone
 * and, for those of up to 6 bytes, followed by 'a's and a last '.' or '@' up to 20
 * and 40 bytes, so that the same starts meet the 16-byte blocks.
 */
static void test_exhaustive(void)
{
	static const char bytes[] = "\"\\@a.";
	char buf[40];

	for (size_t len = 0; len <= 8; len++) {
		size_t count = 1;
		for (size_t i = 0; i < len; i++)
			count *= 5;
		for (size_t k = 0; k < count; k++) {
			size_t v = k;
			for (size_t i = 0; i < len; i++, v /= 5)
				buf[i] = bytes[v % 5];
			check(buf, len);
			if (len > 6)
				continue;
			for (size_t total = 20; total <= 40; total += 20) {
				memset(buf + len, 'a', total - len);
				check(buf, total);
				buf[total - 1] = '.';
				check(buf, total);
				buf[total - 1] = '@';
				check(buf, total);
			}
		}
	}
}

/* run_of - a C string of n copies of c (one of eight buffers, used in turn). */
static const char *run_of(char c, size_t n)
{
	static char buf[8][400];
	static unsigned next;
	char *b = buf[next++ % 8];

	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* clean_is - domain_clean on a C string agrees with the reference and gives want. */
static void clean_is(const char *s, size_t want, const char *what)
{
	char out[DOMAIN_SIZE];

	check(s, strlen(s));
	is_int(domain_clean(s, strlen(s), out, sizeof(out)), want, "%s", what);
}

/* test_edges - hand-picked names and addresses, with the answers domain.h gives. */
static void test_edges(void)
{
	char s[400];
	const char *d;
	size_t dlen;

	snprintf(s, sizeof(s), "%s.example", run_of('a', 63));
	clean_is(s, 71, "a first label of 63 bytes");
	snprintf(s, sizeof(s), "%s.example", run_of('a', 64));
	clean_is(s, 0, "a first label of 64 bytes");
	snprintf(s, sizeof(s), "x.%s.example", run_of('B', 63));
	clean_is(s, 73, "a middle label of 63 bytes");
	snprintf(s, sizeof(s), "x.%s.example", run_of('B', 64));
	clean_is(s, 0, "a middle label of 64 bytes");
	snprintf(s, sizeof(s), "example.%s", run_of('c', 63));
	clean_is(s, 71, "a last label of 63 bytes");
	snprintf(s, sizeof(s), "example.%s.", run_of('c', 63));
	clean_is(s, 71, "a last label of 63 bytes and a final dot");
	snprintf(s, sizeof(s), "example.%s", run_of('c', 64));
	clean_is(s, 0, "a last label of 64 bytes");
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	snprintf(s, sizeof(s), "%s.%s.%s.%s", run_of('a', 63), run_of('b', 63), run_of('c', 63),
		 run_of('d', 61));
	clean_is(s, 253, "a name of 253 bytes");
	strcat(s, ".");
	clean_is(s, 253, "a name of 253 bytes and a final dot");
	snprintf(s, sizeof(s), "%s.%s.%s.%s", run_of('a', 63), run_of('b', 63), run_of('c', 63),
		 run_of('d', 62));
	clean_is(s, 0, "a name of 254 bytes");
	strcat(s, ".");
	clean_is(s, 0, "a name of 254 bytes and a final dot");
	clean_is("Mail.Example.COM.", 16, "a final dot is taken off, letters lower-cased");
	clean_is("mail.example.com..", 0, "two final dots: an empty last label");
	clean_is("192.0.2.1", 0, "an all-digit last label: an address");
	clean_is("mail1234567890.example.123", 0, "an all-digit last label after 16 bytes");
	clean_is("mail1234567890.example.12a", 26, "a last label with a letter");
	clean_is("a.0123456789012345678901234567890", 0, "a long all-digit last label");
	clean_is("unknown", 0, "Postfix's unknown");
	clean_is("unknown.", 0, "Postfix's unknown with a final dot");
	clean_is("unknown.example", 15, "unknown as a label");
	clean_is("[192.0.2.1]", 0, "an address literal");
	clean_is("localhost", 0, "one label");
	clean_is(".example.com", 0, "an empty first label");
	clean_is("mail..example.com", 0, "an empty label inside");
	clean_is("a.b", 3, "the shortest name");
	clean_is("b\xc3\xbc"
		 "cher.example",
		 21, "an IDN name (xn--bcher-kva.example)");
	check("mail.example.com\xc3\xbc", 18);
	check("very-long-label-b\xc3\xbc"
	      "cher.example",
	      30);
	clean_is("a_b-c.EXAMPLE-1_x", 17, "'_' and '-' in labels, upper case");
	clean_is("exa\x80mple.com", 0, "a lone byte above 0x7f");

	ok(domain_of_address("\"x@y\"@a.example", 15, &d, &dlen) && dlen == 9 &&
		   memcmp(d, "a.example", 9) == 0,
	   "a quoted local part holding '@'");
	ok(domain_of_address("\"x@y\"@a@b.example", 17, &d, &dlen) && dlen == 9 &&
		   memcmp(d, "b.example", 9) == 0,
	   "a later '@' after a quoted local part wins");
	ok(!domain_of_address("\"x@y\"@", 6, &d, &dlen), "nothing after the quoted part's '@'");
	ok(!domain_of_address("\"x@y\"x@a.example", 16, &d, &dlen),
	   "no '@' right after the closing quote");
	ok(!domain_of_address("\"x@y\\\"@a.example", 16, &d, &dlen), "an escaped closing quote");
	ok(domain_of_address("@a,@b:joe@very-long-domain.example", 34, &d, &dlen) && dlen == 24,
	   "a source route: the last '@'");
	ok(!domain_of_address("postmaster-of-a-long-name", 25, &d, &dlen), "no '@'");
	ok(!domain_of_address("joe-with-a-long-local-part@", 27, &d, &dlen), "nothing after '@'");
	check("\"x@y\"@a.example", 15);
	check("\"x@y\"@a@b.example", 17);
	check("\"x@y\\\"@a.example", 16);
	check("\"x\\", 3);
	check("\"\\", 2);
	check("\"x\"@@", 5);
	check("\"x\"@@a", 6);
	check("\"x\"@a@", 6);
	check("\"x\"@a@b", 7);
	check("\"a@b\"@@c.example-with-more", 26);
	check("\"a@b-and-a-long-local-part\"@@", 29);
}

int main(void)
{
	test_edges();
	test_random();
	test_exhaustive();
	test_each_byte();
	test_each_offset();
	printf("# %lu inputs: %lu clean names, %lu with a domain part\n", checked, cleaned, split);
	ok(mismatches == 0,
	   "domain_clean and domain_of_address agree with the reference on %lu inputs", checked);
	ok(cleaned > checked / 20, "a fair share of the inputs are clean names (%lu)", cleaned);
	ok(split > checked / 20, "a fair share of the inputs have a domain part (%lu)", split);
	return tap_done();
}
