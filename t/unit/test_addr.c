/*
 * test_addr - unit tests of common/addr.c: address parsing and formatting, DNSBL query
 * names, CIDR parsing, and cidr_set building, merging, lookups and list file loading.
 * Every buffer and set is owned by the test that creates it and freed there.
 */
#include "addr.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* parses - whether the NUL-terminated s parses as an address. */
static bool parses(const char *s)
{
	struct addr a;

	return addr_parse(&a, s, strlen(s));
}

/* fmt - parse s and format it again into buf; "(fail)" when parsing fails. */
static const char *fmt(const char *s, char *buf)
{
	struct addr a;

	if (!addr_parse(&a, s, strlen(s)))
		return "(fail)";
	addr_format(&a, buf, ADDR_TEXT_MAX);
	return buf;
}

/* What cidr_parse says of a range whose address has bits set after the prefix. */
#define HOST_BITS "host bits set after the prefix length"

/* A parsed range written back as text, or the error message, for comparisons. */
static const char *cidr_text(const char *s, char *buf, size_t size)
{
	struct cidr c;
	const char *err = NULL;
	char a[ADDR_TEXT_MAX];

	if (!cidr_parse(&c, s, strlen(s), &err))
		return err;
	addr_format(&c.base, a, sizeof(a));
	snprintf(buf, size, "v%u %s/%u", c.base.family, a, c.prefix);
	return buf;
}

/* A, IP - an address from text, for brevity in the tests; aborts on a typo in a test. */
static struct addr A(const char *s)
{
	struct addr a;

	if (!addr_parse(&a, s, strlen(s))) {
		printf("Bail out! bad test address %s\n", s);
		exit(1);
	}
	return a;
}

/* add - add one range given as text to set; false if parsing or adding fails. */
static bool add(struct cidr_set *set, const char *s)
{
	struct cidr c;
	const char *err;

	return cidr_parse(&c, s, strlen(s), &err) && cidr_set_add(set, &c);
}

/* in - whether the address given as text is in set. */
static bool in(const struct cidr_set *set, const char *s)
{
	struct addr a = A(s);

	return cidr_set_contains(set, &a);
}

/* test_parse - valid and invalid address texts. */
static void test_parse(void)
{
	struct addr a;
	char buf[ADDR_TEXT_MAX];
	char big[1000];
	const char *longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";

	ok(addr_parse(&a, "192.0.2.1", 9) && a.family == ADDR_V4, "IPv4 parses");
	ok(a.bytes[0] == 192 && a.bytes[3] == 1 && a.bytes[4] == 0 && a.bytes[15] == 0,
	   "IPv4 bytes in network order, rest zero");
	is_str(fmt("0.0.0.0", buf), "0.0.0.0", "0.0.0.0");
	is_str(fmt("255.255.255.255", buf), "255.255.255.255", "255.255.255.255");
	ok(addr_parse(&a, "2001:db8::25", 12) && a.family == ADDR_V6, "IPv6 parses");
	is_str(fmt("2001:DB8:0:0:0::25", buf), "2001:db8::25", "IPv6 canonical form");
	is_str(fmt("::", buf), "::", "::");
	ok(addr_parse(&a, "::", 2) && a.family == ADDR_V6, ":: is IPv6");
	is_str(fmt("::1", buf), "::1", "::1");
	is_int(strlen(longest), 45, "longest address text is 45 characters");
	ok(parses(longest), "longest address text parses");
	ok(addr_parse(&a, "::ffff:1.2.3.4", 14) && a.family == ADDR_V4, "mapped IPv4 becomes IPv4");
	is_str(fmt("::ffff:1.2.3.4", buf), "1.2.3.4", "mapped IPv4 text");
	is_str(fmt("::FFFF:102:304", buf), "1.2.3.4", "mapped IPv4 in hex");
	is_str(fmt("::1.2.3.4", buf), "::1.2.3.4", "IPv4-compatible stays IPv6");
	is_str(fmt("::fffe:1.2.3.4", buf), "::fffe:102:304", "near-mapped stays IPv6");
	ok(addr_parse(&a, "1.2.3.45", 7) && a.bytes[3] == 4, "explicit length is honoured");

	ok(!parses(""), "empty string");
	ok(!parses("1.2.3"), "three octets");
	ok(!parses("1.2.3.4.5"), "five octets");
	ok(!parses("256.1.1.1"), "octet 256");
	ok(!parses("1.2.3.4x"), "trailing junk");
	ok(!parses("1.2.3.4/32"), "prefix not allowed");
	ok(!parses(" 1.2.3.4"), "leading blank");
	ok(!parses("1.2.3.4 "), "trailing blank");
	ok(!parses("01.2.3.4"), "leading zero (octal ambiguity)");
	ok(!parses("0x1.2.3.4"), "hex octet");
	ok(!parses("[::1]"), "brackets");
	ok(!parses("::1%eth0"), "zone index");
	ok(!parses("1::2::3"), "two ::");
	ok(!parses("2001:db8::25:"), "trailing colon");
	ok(!parses("12345::"), "IPv6 group too long");
	ok(!parses("localhost"), "a name");
	ok(!addr_parse(&a, "1.2.3.4\0", 8), "embedded NUL at end");
	ok(!addr_parse(&a, "1.2\0.3.4", 8), "embedded NUL inside");
	ok(!addr_parse(&a, "\0\0\0\0", 4), "only NULs");
	ok(!addr_parse(&a, "1.2.3.4", 0), "zero length");
	memset(big, '1', sizeof(big));
	ok(!addr_parse(&a, big, sizeof(big)), "1000 digits, no terminator");
	memcpy(big, "1.2.3.4", 7);
	memset(big + 7, ' ', 100);
	ok(!addr_parse(&a, big, 107), "address followed by 100 blanks");
	snprintf(big, sizeof(big), "%s0", longest);
	ok(!parses(big), "46 characters");
}

/*
 * test_ipv4_random - the dotted-quad parser against inet_pton(AF_INET) (the rules it
 * follows: four octets, 0..255, no leading zeros) on random texts of digits and dots and
 * on quads built with leading zeros, four-digit and out-of-range octets, and missing or
 * extra parts. Each text sits in a buffer of its exact length.
 */
static void test_ipv4_random(void)
{
	static const char alphabet[] = "0012259..a";
	unsigned mismatches = 0, accepted = 0;
	uint32_t seed = 12345;

	for (unsigned round = 0; round < 400000; round++) {
		char text[24];
		size_t len = 0;

		seed = seed * 1103515245u + 12345u;
		if (round % 2 == 0) {
			size_t want = (seed >> 16) % 18;
			for (size_t i = 0; i < want; i++) {
				seed = seed * 1103515245u + 12345u;
				text[len++] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
			}
		} else {
			unsigned parts = 3 + (seed >> 16) % 3;
			for (unsigned k = 0; k < parts; k++) {
				seed = seed * 1103515245u + 12345u;
				unsigned v = (seed >> 8) % (k == 2 ? 1100 : 300), zeros = (seed >> 20) % 7 == 0;
				int n = snprintf(text + len, sizeof(text) - len, "%s%s%u", k ? "." : "",
						 zeros ? "0" : "", v);
				if (n < 0 || (size_t)n >= sizeof(text) - len)
					break;
				len += (size_t)n;
			}
		}
		char *s = malloc(len ? len : 1), z[sizeof(text) + 1];
		struct in_addr want;
		struct addr got;
		memcpy(s, text, len);
		memcpy(z, text, len);
		z[len] = '\0';
		bool ours = addr_parse(&got, s, len);
		bool theirs = inet_pton(AF_INET, z, &want) == 1;
		if (ours != theirs || (ours && (got.family != ADDR_V4 || memcmp(got.bytes, &want, 4) != 0))) {
			if (mismatches++ < 5)
				printf("# '%s': ours %d, inet_pton %d\n", z, ours, theirs);
		}
		accepted += theirs;
		free(s);
	}
	is_int(mismatches, 0, "dotted quads: the parser agrees with inet_pton on 400,000 texts");
	ok(accepted > 2000, "and many of them are addresses (%u)", accepted);
}

/*
 * test_parse_text - addr_parse_text gives what addr_parse and addr_format give, for
 * dotted quads copied as they are and for every other form formatted again; the
 * inputs sit in buffers of their exact size, so that a read past them shows under ASan.
 */
static void test_parse_text(void)
{
	static const char *const inputs[] = {
		"192.0.2.1",
		"0.0.0.0",
		"255.255.255.255",
		"10.0.0.255",
		"1.2.3.4",
		"::ffff:192.0.2.1",
		"::FFFF:c000:0201",
		"2001:DB8::25",
		"2001:db8:0:0:0:0:0:25",
		"::",
		"::1",
		"01.2.3.4",
		"1.2.3.04",
		"1.2.3",
		"1.2.3.4.5",
		"256.1.1.1",
		"1.2.3.4 ",
		" 1.2.3.4",
		"1..2.3",
		"1.2.3.4:25",
		"[::1]",
		"",
		"1.2.3.4/24",
		"1.2.3.1000",
		"1234.1.1.1",
		"::ffff:1.2.3.4",
		"fe80::1%eth0",
		"x",
	};
	int mismatches = 0, quads = 0;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = strlen(inputs[i]);
		char *s = malloc(len ? len : 1), want[ADDR_TEXT_MAX], got[ADDR_TEXT_MAX];
		struct addr a, b;
		size_t n, m = 0;
		bool parsed;

		memcpy(s, inputs[i], len);
		parsed = addr_parse(&a, s, len);
		if (parsed)
			m = addr_format(&a, want, sizeof(want));
		n = addr_parse_text(&b, s, len, got, sizeof(got));
		if (n != m || (parsed && (!addr_equal(&a, &b) || strcmp(got, want) != 0)) ||
		    (!parsed && got[0] != '\0'))
			mismatches++, printf("# %s: %zu '%s' against %zu\n", inputs[i], n, got, m);
		quads += parsed && a.family == ADDR_V4 && n == len;
		free(s);
	}
	is_int(mismatches, 0, "addr_parse_text agrees with addr_parse and addr_format");
	is_int(quads, 5, "the five dotted quads come back as they are, mapped IPv4 formatted");

	char embedded[] = { '1', '.', '2', '.', '3', '.', '4', '\0', '5' };
	char text[ADDR_TEXT_MAX], small[8];
	struct addr c;
	is_int(addr_parse_text(&c, embedded, sizeof(embedded), text, sizeof(text)), 0,
	       "an embedded NUL is refused");
	is_int(addr_parse_text(&c, "192.0.2.1", 9, small, sizeof(small)), 0,
	       "a text that does not fit is not written");
	is_str(small, "", "and the small buffer is left empty");
}

/* test_format_reverse - canonical text, DNSBL names and buffer limits. */
static void test_format_reverse(void)
{
	struct addr a = A("192.0.2.10"), b = A("2001:db8::25"), bad;
	char buf[ADDR_REVERSE_MAX];
	char small[8];
	size_t n;

	n = addr_reverse_name(&a, buf, sizeof(buf));
	is_str(buf, "10.2.0.192", "IPv4 reverse name");
	is_int(n, 10, "IPv4 reverse length");
	n = addr_reverse_name(&b, buf, sizeof(buf));
	is_str(buf, "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
	       "IPv6 reverse name");
	is_int(n, 63, "IPv6 reverse length");
	a = A("255.255.255.255");
	is_int(addr_reverse_name(&a, buf, sizeof(buf)), 15, "longest IPv4 reverse name");
	is_int(addr_reverse_name(&b, small, sizeof(small)), 0, "IPv6 reverse in small buffer");
	is_str(small, "", "small buffer left empty");
	is_int(addr_reverse_name(&a, small, sizeof(small)), 0, "IPv4 reverse in small buffer");
	b = A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	is_int(addr_reverse_name(&b, buf, ADDR_REVERSE_MAX), 63, "exact buffer size suffices");
	is_int(addr_reverse_name(&b, buf, ADDR_REVERSE_MAX - 1), 0, "one byte less does not");

	b = A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	is_int(addr_format(&b, buf, sizeof(buf)), 39, "format length");
	is_str(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "format text");
	is_int(addr_format(&b, small, sizeof(small)), 0, "format into small buffer fails");
	is_str(small, "", "small buffer left empty");
	memset(&bad, 0, sizeof(bad));
	bad.family = 9;
	is_int(addr_format(&bad, buf, sizeof(buf)), 0, "unknown family is not formatted");
	is_int(addr_reverse_name(&bad, buf, sizeof(buf)), 0, "unknown family has no name");

	a = A("10.0.0.1");
	b = A("::ffff:10.0.0.1");
	ok(addr_equal(&a, &b), "mapped equals plain IPv4");
	b = A("10.0.0.2");
	ok(!addr_equal(&a, &b), "different IPv4");
	b = A("::a00:1");
	ok(!addr_equal(&a, &b), "same low bytes, other family");
}

/* test_sockaddr - conversion of socket addresses. */
static void test_sockaddr(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	struct addr a;
	char buf[ADDR_TEXT_MAX];

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(25);
	inet_pton(AF_INET, "198.51.100.7", &sin->sin_addr);
	ok(addr_from_sockaddr(&a, (struct sockaddr *)&ss) && a.family == ADDR_V4, "AF_INET");
	addr_format(&a, buf, sizeof(buf));
	is_str(buf, "198.51.100.7", "AF_INET address");

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &sin6->sin6_addr);
	ok(addr_from_sockaddr(&a, (struct sockaddr *)&ss) && a.family == ADDR_V6, "AF_INET6");
	addr_format(&a, buf, sizeof(buf));
	is_str(buf, "2001:db8::1", "AF_INET6 address");

	inet_pton(AF_INET6, "::ffff:203.0.113.9", &sin6->sin6_addr);
	ok(addr_from_sockaddr(&a, (struct sockaddr *)&ss) && a.family == ADDR_V4, "mapped");
	addr_format(&a, buf, sizeof(buf));
	is_str(buf, "203.0.113.9", "mapped AF_INET6 address");

	memset(&ss, 0, sizeof(ss));
	sun->sun_family = AF_UNIX;
	ok(!addr_from_sockaddr(&a, (struct sockaddr *)&ss), "AF_UNIX is refused");
}

/* test_cidr_parse - ranges, prefixes, host bits and errors. */
static void test_cidr_parse(void)
{
	char buf[80];
	struct cidr c;
	const char *err = NULL;

	is_str(cidr_text("192.0.2.0/24", buf, sizeof(buf)), "v4 192.0.2.0/24", "IPv4 /24");
	is_str(cidr_text("10.0.0.0/7", buf, sizeof(buf)), "v4 10.0.0.0/7", "odd /7");
	is_str(cidr_text("0.0.0.0/0", buf, sizeof(buf)), "v4 0.0.0.0/0", "/0");
	is_str(cidr_text("1.2.3.4/32", buf, sizeof(buf)), "v4 1.2.3.4/32", "/32");
	is_str(cidr_text("1.2.3.4", buf, sizeof(buf)), "v4 1.2.3.4/32", "bare IPv4 is /32");
	is_str(cidr_text("1.2.3.4/31", buf, sizeof(buf)), "v4 1.2.3.4/31", "/31");
	is_str(cidr_text("2001:db8::/32", buf, sizeof(buf)), "v6 2001:db8::/32", "IPv6 /32");
	is_str(cidr_text("2001:db8::/112", buf, sizeof(buf)), "v6 2001:db8::/112", "v6 /112");
	is_str(cidr_text("2001:db8:1:2::/65", buf, sizeof(buf)), "v6 2001:db8:1:2::/65", "v6 /65");
	is_str(cidr_text("2001:db8:1:2:8000::/65", buf, sizeof(buf)), "v6 2001:db8:1:2:8000::/65",
	       "v6 /65 with the top bit of the low half");
	is_str(cidr_text("::/0", buf, sizeof(buf)), "v6 ::/0", "::/0");
	is_str(cidr_text("::1/128", buf, sizeof(buf)), "v6 ::1/128", "/128");
	is_str(cidr_text("::1", buf, sizeof(buf)), "v6 ::1/128", "bare IPv6 is /128");
	is_str(cidr_text("1.0.0.0/08", buf, sizeof(buf)), "v4 1.0.0.0/8", "leading zero prefix");
	is_str(cidr_text("::ffff:192.0.2.0/120", buf, sizeof(buf)), "v4 192.0.2.0/24",
	       "mapped range becomes IPv4");
	is_str(cidr_text("::ffff:192.0.2.9", buf, sizeof(buf)), "v4 192.0.2.9/32", "mapped bare");
	is_str(cidr_text("::ffff:0.0.0.0/96", buf, sizeof(buf)), "v4 0.0.0.0/0", "mapped /96");

	/*
	 * Host bits set are refused, as Postfix's cidr tables do: a list file read while a
	 * pipeline rewrites it may hold "198.51.100.0/2" cut from "198.51.100.0/24", and
	 * masking it would list a quarter of IPv4.
	 */
	is_str(cidr_text("198.51.100.0/2", buf, sizeof(buf)), HOST_BITS, "cut /24: host bits");
	is_str(cidr_text("192.0.2.77/24", buf, sizeof(buf)), HOST_BITS, "host bits of a /24");
	is_str(cidr_text("11.1.2.3/7", buf, sizeof(buf)), HOST_BITS, "host bits, odd /7");
	is_str(cidr_text("10.0.0.1/7", buf, sizeof(buf)), HOST_BITS, "only the last bit");
	is_str(cidr_text("255.255.255.255/0", buf, sizeof(buf)), HOST_BITS, "/0 of an address");
	is_str(cidr_text("1.2.3.5/31", buf, sizeof(buf)), HOST_BITS, "/31 odd");
	is_str(cidr_text("2001:db8::ffff/112", buf, sizeof(buf)), HOST_BITS, "v6 low bits");
	is_str(cidr_text("2001:db8:1:2:3:4:5:6/65", buf, sizeof(buf)), HOST_BITS,
	       "v6 /65, bits in the low half");
	is_str(cidr_text("2001:db8:1:2:4000::/65", buf, sizeof(buf)), HOST_BITS,
	       "v6 /65, the bit after the prefix");
	is_str(cidr_text("2001:db8::/3", buf, sizeof(buf)), HOST_BITS, "v6 cut /32");
	is_str(cidr_text("::ffff:192.0.2.9/120", buf, sizeof(buf)), HOST_BITS, "mapped, host bits");
	is_str(cidr_text("1.2.3.4/33", buf, sizeof(buf)), "prefix length out of range", "/33");
	is_str(cidr_text("::/129", buf, sizeof(buf)), "prefix length out of range", "/129");
	is_str(cidr_text("::ffff:1.2.3.4/64", buf, sizeof(buf)), "prefix length out of range",
	       "mapped with prefix below 96");
	is_str(cidr_text("::ffff:1.2.3.4/129", buf, sizeof(buf)), "prefix length out of range",
	       "mapped with prefix above 128");
	is_str(cidr_text("1.2.3.4/", buf, sizeof(buf)), "invalid prefix length", "empty prefix");
	is_str(cidr_text("1.2.3.4/-1", buf, sizeof(buf)), "invalid prefix length", "negative");
	is_str(cidr_text("1.2.3.4/+8", buf, sizeof(buf)), "invalid prefix length", "plus sign");
	is_str(cidr_text("1.2.3.4/8x", buf, sizeof(buf)), "invalid prefix length", "junk");
	is_str(cidr_text("1.2.3.4/0008", buf, sizeof(buf)), "invalid prefix length", "4 digits");
	is_str(cidr_text("1.2.3.4/24/8", buf, sizeof(buf)), "invalid prefix length", "two /");
	is_str(cidr_text("1.2.3.4/ 8", buf, sizeof(buf)), "invalid prefix length", "blank");
	is_str(cidr_text("/24", buf, sizeof(buf)), "invalid address", "no address");
	is_str(cidr_text("1.2.3.4x", buf, sizeof(buf)), "invalid address", "trailing junk");
	is_str(cidr_text("example.org/24", buf, sizeof(buf)), "invalid address", "a name");
	is_str(cidr_text("", buf, sizeof(buf)), "empty address", "empty");
	ok(!cidr_parse(&c, "1.2.3.0/2\0", 10, &err), "embedded NUL in prefix");
	ok(!cidr_parse(&c, "1.2.3.0\0/24", 10, &err), "embedded NUL in address");
	ok(cidr_parse(&c, "1.0.0.0/8", 9, NULL), "NULL err is allowed");
	ok(!cidr_parse(&c, "1.2.3.4/88", 10, NULL), "NULL err on failure");
}

/* test_cidr_contains - membership of single ranges at their boundaries. */
static void test_cidr_contains(void)
{
	struct cidr c, d;
	struct addr a;
	const char *err;

	cidr_parse(&c, "192.0.2.128/25", 14, &err);
	a = A("192.0.2.128");
	ok(cidr_contains(&c, &a), "first address");
	a = A("192.0.2.255");
	ok(cidr_contains(&c, &a), "last address");
	a = A("192.0.2.127");
	ok(!cidr_contains(&c, &a), "just below");
	a = A("192.0.3.0");
	ok(!cidr_contains(&c, &a), "just above");
	a = A("::ffff:192.0.2.200");
	ok(cidr_contains(&c, &a), "mapped client inside IPv4 range");
	cidr_parse(&d, "0.0.0.0/0", 9, &err);
	a = A("255.255.255.255");
	ok(cidr_contains(&d, &a), "/0 holds every IPv4 address");
	a = A("::");
	ok(!cidr_contains(&d, &a), "IPv4 /0 does not hold IPv6");
	cidr_parse(&d, "::/0", 4, &err);
	a = A("1.2.3.4");
	ok(!cidr_contains(&d, &a), "IPv6 /0 does not hold IPv4");
	cidr_parse(&d, "2001:db8::/33", 13, &err);
	a = A("2001:db8:7fff:ffff:ffff:ffff:ffff:ffff");
	ok(cidr_contains(&d, &a), "IPv6 /33 last address");
	a = A("2001:db8:8000::");
	ok(!cidr_contains(&d, &a), "IPv6 /33 just above");
}

/* test_set_basic - merging of overlapping and adjacent ranges, boundaries, reopening. */
static void test_set_basic(void)
{
	struct cidr_set *s = cidr_set_new();

	ok(s != NULL, "new set");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), 0, "empty set");
	ok(!in(s, "1.2.3.4") && !in(s, "::1"), "empty set holds nothing");
	ok(add(s, "10.0.0.0/25") && add(s, "10.0.0.128/25"), "two adjacent halves");
	ok(add(s, "10.0.0.77") && add(s, "10.0.0.0/24"), "a host and a duplicate inside");
	ok(add(s, "10.0.2.0/24") && add(s, "10.0.2.128/26"), "a separate range and a subrange");
	ok(add(s, "192.0.2.0/24") && add(s, "192.0.2.0/23"), "overlapping, larger second");
	ok(add(s, "255.255.255.255") && add(s, "255.255.255.254/31"), "top of the space");
	ok(add(s, "0.0.0.0/32"), "bottom of the space");
	is_int(cidr_set_size(s), 11, "size before finish counts additions");
	ok(in(s, "10.0.0.200"), "lookup before finish works");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), 5, "merged to five ranges");
	ok(in(s, "10.0.0.0") && in(s, "10.0.0.255"), "merged range boundaries");
	ok(!in(s, "9.255.255.255") && !in(s, "10.0.1.0"), "just outside merged range");
	ok(in(s, "10.0.2.0") && in(s, "10.0.2.255") && !in(s, "10.0.3.0"), "second range");
	ok(in(s, "192.0.2.0") && in(s, "192.0.3.255"), "overlap merged to the /23");
	ok(!in(s, "192.0.1.255") && !in(s, "192.0.4.0"), "outside the /23");
	ok(in(s, "0.0.0.0") && !in(s, "0.0.0.1"), "bottom address");
	ok(in(s, "255.255.255.255") && in(s, "255.255.255.254"), "top addresses");
	ok(!in(s, "255.255.255.253"), "below the top range");
	ok(in(s, "::ffff:10.0.0.1"), "mapped lookup");
	ok(!in(s, "::a00:1"), "IPv6 with IPv4 bytes is not IPv4");

	ok(add(s, "10.0.1.0/24"), "add after finish");
	ok(in(s, "10.0.1.1"), "reopened set sees the new range");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), 4, "new range bridges two ranges");
	ok(in(s, "10.0.1.1") && in(s, "10.0.2.255") && !in(s, "10.0.3.0"), "bridged range");
	cidr_set_free(s);
	cidr_set_free(NULL);
}

/* test_set_v6 - IPv6 merging across the 64-bit halves and at the ends of the space. */
static void test_set_v6(void)
{
	struct cidr_set *s = cidr_set_new();
	struct cidr bad;

	ok(add(s, "::ffff:ffff:ffff:ffff") && add(s, "0:0:0:1::/128"), "adjacent across halves");
	ok(add(s, "2001:db8::/33") && add(s, "2001:db8:8000::/33"), "two adjacent /33s");
	ok(add(s, "2001:db8:1::/48"), "a subrange");
	ok(add(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") && add(s, "ffff::/16"), "top");
	ok(add(s, "1.2.3.4"), "an IPv4 address too");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), 4, "three IPv6 ranges and one IPv4");
	ok(in(s, "::ffff:ffff:ffff:ffff") && in(s, "0:0:0:1::"), "both halves");
	ok(!in(s, "::ffff:ffff:ffff:fffe") && !in(s, "0:0:0:1::1"), "outside both halves");
	ok(in(s, "2001:db8::") && in(s, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), "/32 ends");
	ok(!in(s, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff") && !in(s, "2001:db9::"), "outside");
	ok(in(s, "ffff::") && in(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "top range");
	ok(!in(s, "fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "below the top range");
	ok(!in(s, "::") && in(s, "1.2.3.4") && !in(s, "::102:304"), "families apart");

	ok(add(s, "::/0"), "add ::/0");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), 2, "::/0 swallows every IPv6 range");
	ok(in(s, "::") && in(s, "1234::5678"), "::/0 holds everything");
	ok(!in(s, "1.2.3.5"), "but no IPv4");

	memset(&bad, 0, sizeof(bad));
	bad.base.family = 5;
	ok(!cidr_set_add(s, &bad), "unknown family is refused");
	bad.base.family = ADDR_V4;
	bad.prefix = 33;
	ok(!cidr_set_add(s, &bad), "prefix out of range is refused");
	bad.prefix = 8;
	bad.base.bytes[0] = 10;
	bad.base.bytes[3] = 99;
	ok(cidr_set_add(s, &bad), "hand-built range with host bits");
	cidr_set_finish(s);
	ok(in(s, "10.255.255.255") && !in(s, "11.0.0.0"), "its host bits were cleared");
	cidr_set_free(s);
}

/* rnd - a small deterministic generator (xorshift) so that failures are repeatable. */
static uint32_t rnd(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return (uint32_t)(x >> 16);
}

/*
 * probe - the first (end 0) or last (end 1) address of range c moved by delta, computed
 * bit by bit so that it does not share code with addr.c. Host bits of c may be set.
 */
static void probe(const struct cidr *c, int end, int delta, struct addr *out)
{
	unsigned bits = c->base.family == ADDR_V4 ? 32 : 128;
	int last = (int)bits / 8 - 1;

	*out = c->base;
	for (unsigned i = c->prefix; i < bits; i++) {
		uint8_t bit = (uint8_t)(0x80 >> (i % 8));

		if (end)
			out->bytes[i / 8] |= bit;
		else
			out->bytes[i / 8] &= (uint8_t)~bit;
	}
	/* Carry or borrow through the bytes, wrapping at the ends of the space. */
	for (; delta > 0; delta--)
		for (int i = last; i >= 0 && ++out->bytes[i] == 0; i--)
			;
	for (; delta < 0; delta++)
		for (int i = last; i >= 0 && out->bytes[i]-- == 0; i--)
			;
}

/* test_set_random - compare the merged set against cidr_contains over random ranges. */
static void test_set_random(void)
{
	enum { N = 3000, Q = 20000 };
	struct cidr *cs = calloc(N, sizeof(*cs));
	struct cidr_set *s = cidr_set_new();
	uint64_t st = 0x9e3779b97f4a7c15u;
	int wrong = 0, hits = 0;

	for (int i = 0; i < N; i++) {
		uint32_t v = rnd(&st);
		bool v6 = i % 3 == 0;
		uint8_t *b = cs[i].base.bytes + (v6 ? 12 : 0);

		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].base.family = v6 ? ADDR_V6 : ADDR_V4;
		/*
		 * All ranges fall in one /8 (or /104) and are /20 or smaller, so that they overlap,
		 * nest and touch often but still leave gaps. Host bits stay set on purpose.
		 */
		b[0] = 10;
		b[1] = (uint8_t)(v >> 16);
		b[2] = (uint8_t)(v >> 8);
		b[3] = (uint8_t)v;
		cs[i].prefix = (uint8_t)((v6 ? 116 : 20) + rnd(&st) % 13);
		cidr_set_add(s, &cs[i]);
	}
	cidr_set_finish(s);
	for (int q = 0; q < Q; q++) {
		const struct cidr *near = &cs[rnd(&st) % N];
		struct addr a;
		bool want = false;

		/* Probe around a range's first or last address, where mistakes show. */
		probe(near, rnd(&st) % 2, (int)(rnd(&st) % 5) - 2, &a);
		for (int i = 0; i < N && !want; i++)
			want = cidr_contains(&cs[i], &a);
		hits += want;
		if (cidr_set_contains(s, &a) != want)
			wrong++;
	}
	is_int(wrong, 0, "random ranges: set agrees with a linear scan (%d queries)", Q);
	ok(hits > Q / 10 && hits < Q * 9 / 10, "random probes both hit and miss (%d hits)", hits);
	ok(cidr_set_size(s) < N, "random ranges were merged (%zu left)", cidr_set_size(s));
	cidr_set_free(s);
	free(cs);
}

/* test_set_large - a list file of 300000 lines loads, merges and answers. */
static void test_set_large(void)
{
	enum { LINES = 300000 };
	size_t size = (size_t)LINES * 48, len = 0;
	char *text = malloc(size);
	struct cidr_set *s = cidr_set_new();
	int bad;

	/* Every other /32 of 10.0.0.0/8 and 2001:db8::/64 hosts: nothing merges. */
	for (unsigned i = 0; i < LINES; i++) {
		unsigned v = i / 2 * 2;
		char *p = text + len;
		size_t room = size - len;
		int n;

		if (i % 2 == 0)
			n = snprintf(p, room, "10.%u.%u.%u\n", v >> 16, v >> 8 & 255, v & 255);
		else
			n = snprintf(p, room, "2001:db8::%x:%x # %u\r\n", v >> 16, v & 0xffff, i);
		len += (size_t)n;
	}
	bad = cidr_set_load_text(s, text, len, NULL, NULL);
	is_int(bad, 0, "large file: no bad lines");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), LINES, "large file: %d ranges", LINES);
	ok(in(s, "10.0.0.0") && !in(s, "10.0.0.1") && in(s, "10.0.0.2"), "large file: v4 start");
	ok(in(s, "10.4.147.222") && !in(s, "10.4.147.223"), "large file: v4 end");
	ok(!in(s, "10.4.147.224"), "large file: after the last v4");
	ok(in(s, "2001:db8::") && !in(s, "2001:db8::1") && in(s, "2001:db8::2"), "large file: v6");
	ok(in(s, "2001:db8::4:93de") && !in(s, "2001:db8::4:93df"), "large file: v6 end");
	ok(!in(s, "2001:db8::4:93e0"), "large file: after the last v6");
	cidr_set_free(s);
	free(text);
}

/* test_parse_list - configuration lists and their errors. */
static void test_parse_list(void)
{
	struct cidr_set *s = cidr_set_new();
	const char *err = NULL, *bad = NULL;
	size_t badlen = 0;
	const char *list = "127.0.0.0/8, ::1 ,,\t192.0.2.0/24,1.2.3.4/33 5.6.7.8";

	ok(cidr_set_parse_list(s, "127.0.0.0/8, ::1", 16, &err, &bad, &badlen), "default list");
	ok(cidr_set_parse_list(s, "", 0, &err, &bad, &badlen), "empty list adds nothing");
	ok(cidr_set_parse_list(s, " ,, \t", 5, &err, &bad, &badlen), "only separators");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), 2, "two ranges");
	ok(in(s, "127.1.2.3") && in(s, "::1") && !in(s, "::2"), "list lookups");
	cidr_set_free(s);

	s = cidr_set_new();
	ok(!cidr_set_parse_list(s, list, strlen(list), &err, &bad, &badlen), "bad item fails");
	is_str(err, "prefix length out of range", "bad item message");
	is_int(badlen, 10, "bad item length");
	ok(bad == strstr(list, "1.2.3.4/33"), "bad item points into the input");
	ok(!cidr_set_parse_list(s, "1.2.3.4;5.6.7.8", 15, &err, &bad, &badlen), "';' separator");
	is_int(badlen, 15, "';' is not a separator");
	ok(!cidr_set_parse_list(s, "::1\0::2", 7, &err, &bad, &badlen), "embedded NUL");
	ok(!cidr_set_parse_list(s, "x", 1, NULL, NULL, NULL), "NULL out pointers allowed");
	ok(!cidr_set_parse_list(s, "::1, 192.0.2.1/24", 17, &err, &bad, &badlen),
	   "[server] allow: an item with host bits fails the list");
	is_str(err, HOST_BITS, "... saying why");
	is_int(badlen, 12, "... and which item");
	cidr_set_free(s);
}

/* The errors one load reported, for checking line numbers and messages. */
struct errors {
	unsigned n;
	unsigned line[16];
	const char *msg[16];
};

/* on_error - record a bad line. */
static void on_error(void *ctx, unsigned line, const char *message)
{
	struct errors *e = ctx;

	if (e->n < 16) {
		e->line[e->n] = line;
		e->msg[e->n] = message;
	}
	e->n++;
}

/* test_load_text - comments, blanks, CRLF, bad lines and their numbers. */
static void test_load_text(void)
{
	static const char text[] =
		"# local list\n"			/* 1 */
		"\n"					/* 2 */
		"192.0.2.0/24\n"			/* 3 */
		"  198.51.100.7   # a spammer\n"	/* 4 */
		"\t2001:db8::/48\t\r\n"			/* 5 */
		"1.2.3.4/33\n"				/* 6 */
		"   \r\n"				/* 7 */
		"203.0.113.0/24 203.0.114.0/24\n"	/* 8 */
		"bogus\n"				/* 9 */
		"#192.0.2.99\n"				/* 10 */
		"1.2.3.\0004\n"				/* 11 */
		"203.0.113.99#no blank before\r\n"	/* 12 */
		"10.9.8.7";				/* 13, no newline */
	struct cidr_set *s = cidr_set_new();
	struct errors e = {0};
	char huge[5000];
	int bad;

	bad = cidr_set_load_text(s, text, sizeof(text) - 1, on_error, &e);
	is_int(bad, 4, "four bad lines");
	is_int(e.n, 4, "callback called four times");
	is_int(e.line[0], 6, "first bad line number");
	is_str(e.msg[0], "prefix length out of range", "first bad line message");
	is_int(e.line[1], 8, "two ranges on a line");
	is_str(e.msg[1], "text after the range", "two ranges message");
	is_int(e.line[2], 9, "garbage line");
	is_str(e.msg[2], "invalid address", "garbage message");
	is_int(e.line[3], 11, "embedded NUL line");
	cidr_set_finish(s);
	is_int(cidr_set_size(s), 5, "five good ranges");
	ok(in(s, "192.0.2.255") && in(s, "198.51.100.7") && in(s, "2001:db8:0:ffff::1"), "loaded");
	ok(in(s, "203.0.113.99") && in(s, "10.9.8.7"), "comment without blank, last line");
	ok(!in(s, "203.0.113.98") && !in(s, "1.2.3.4"), "bad lines added nothing");
	cidr_set_free(s);

	s = cidr_set_new();
	e.n = 0;
	is_int(cidr_set_load_text(s, "", 0, on_error, &e), 0, "empty file");
	is_int(cidr_set_load_text(s, "\xef\xbb\xbf" "1.1.1.1\n", 11, on_error, &e), 0, "BOM");
	is_int(cidr_set_load_text(s, "\n\n\n1.1.1.1/8x\n", 14, NULL, NULL), 1, "NULL callback");
	memset(huge, '7', sizeof(huge));
	is_int(cidr_set_load_text(s, huge, sizeof(huge), on_error, &e), 1, "5000-byte line");
	is_int(e.n, 1, "one error so far");
	is_int(e.line[0], 1, "it is line 1");
	is_str(e.msg[0], "address too long", "its message");
	cidr_set_finish(s);
	ok(in(s, "1.1.1.1") && cidr_set_size(s) == 1, "BOM line loaded");
	e.n = 0;
	is_int(cidr_set_load_text(s, "192.0.2.0/24\n198.51.100.0/2\n", 28, on_error, &e), 1,
	       "a list file line cut to 198.51.100.0/2 is a bad line");
	is_int(e.line[0], 2, "... line 2");
	is_str(e.msg[0], HOST_BITS, "... host bits");
	cidr_set_finish(s);
	ok(!in(s, "192.0.0.1"), "... and 192.0.0.0/2 was not listed");
	cidr_set_free(s);
}

int main(void)
{
	test_parse();
	test_format_reverse();
	test_parse_text();
	test_ipv4_random();
	test_sockaddr();
	test_cidr_parse();
	test_cidr_contains();
	test_set_basic();
	test_set_v6();
	test_set_random();
	test_set_large();
	test_parse_list();
	test_load_text();
	return tap_done();
}
