/*
 * addr - IPv4 and IPv6 addresses, CIDR ranges, sets of ranges and DNSBL query names
 * (see addr.h).
 *
 * Every string comes with an explicit length and is untrusted: it is bounded and copied
 * into a local buffer before libc sees it, and embedded NUL bytes are refused. Nothing
 * here logs. struct addr and struct cidr are plain values owned by the caller; a cidr_set
 * owns its two range arrays, which cidr_set_free() releases. No function keeps a pointer
 * to its input.
 */
#include "addr.h"
#include "hot.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The longest "address/prefix" text worth parsing: an address, '/', three digits. */
#define CIDR_TEXT_MAX (ADDR_TEXT_MAX + 4)

/* An IPv4 range as host-order integers, both ends included. */
struct range4 {
	uint32_t lo, hi;
};

/* A 128-bit value as two host-order halves, so that ranges compare as integers. */
struct u128 {
	uint64_t hi, lo;
};

/* An IPv6 range, both ends included. */
struct range6 {
	struct u128 lo, hi;
};

struct cidr_set {
	struct range4 *v4;
	size_t n4, cap4;
	struct range6 *v6;
	size_t n6, cap6;
	bool finished; /* sorted and merged since the last add */
};

/* is_mapped_v4 - whether 16 bytes hold an IPv4-mapped IPv6 address (::ffff:0:0/96). */
static bool is_mapped_v4(const uint8_t b[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(b, prefix, sizeof(prefix)) == 0;
}

/* set_from_v6 - store 16 bytes as an address, unwrapping a mapped IPv4 address. */
static void set_from_v6(struct addr *out, const uint8_t b[16])
{
	memset(out, 0, sizeof(*out));
	if (is_mapped_v4(b)) {
		out->family = ADDR_V4;
		memcpy(out->bytes, b + 12, 4);
	} else {
		out->family = ADDR_V6;
		memcpy(out->bytes, b, 16);
	}
}

/* digit - the value of the byte at p when p is before end and the byte a digit, else 10. */
static inline unsigned digit(const char *p, const char *end)
{
	unsigned v;

	if (p >= end)
		return 10;
	v = (unsigned)(unsigned char)*p - '0';
	return v < 10 ? v : 10;
}

/*
 * parse_ipv4 - exactly four decimal octets, each 0..255 without leading zeros
 * (inet_pton's rules). Written out, an octet at a time, because every request's client
 * address goes through it.
 */
static bool parse_ipv4(struct addr *out, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	uint8_t bytes[4];

	for (int octet = 0; octet < 4; octet++) {
		unsigned value = digit(p, end), next;

		if (value > 9)
			return false;
		p++;
		if ((next = digit(p, end)) <= 9) {
			if (value == 0)
				return false; /* leading zero */
			value = value * 10 + next, p++;
			if ((next = digit(p, end)) <= 9) {
				value = value * 10 + next, p++;
				/* A fourth digit fails below, where a dot or the end must follow. */
				if (value > 255)
					return false;
			}
		}
		bytes[octet] = (uint8_t)value;
		if (octet < 3 && (p == end || *p++ != '.'))
			return false;
	}
	if (p != end)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = ADDR_V4;
	memcpy(out->bytes, bytes, 4);
	return true;
}

/*
 * parse - addr_parse; *quad tells whether s was a dotted quad. A dotted quad is read in
 * place, without the copy inet_pton needs: parse_ipv4 takes digits and dots only, so
 * an embedded NUL or a ':' fails there, and only then is the text tried as IPv6.
 */
HOT static bool parse(struct addr *out, const char *s, size_t len, bool *quad)
{
	char buf[ADDR_TEXT_MAX];
	uint8_t bytes[16];

	*quad = false;
	/* inet_pton needs a terminated string; anything longer cannot be an address. */
	if (s == NULL || len == 0 || len >= sizeof(buf))
		return false;
	if (parse_ipv4(out, s, len)) {
		*quad = true;
		return true;
	}
	/* The family follows from the text, so that "1.2.3.4" never reaches AF_INET6. */
	if (memchr(s, ':', len) == NULL || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, bytes) != 1)
		return false;
	set_from_v6(out, bytes);
	return true;
}

/* addr_parse - parse an untrusted bare IPv4 or IPv6 address of explicit length. */
HOT bool addr_parse(struct addr *out, const char *s, size_t len)
{
	bool quad;

	return parse(out, s, len, &quad);
}

/*
 * addr_parse_text - a dotted quad that parses is already in canonical form (parse_ipv4
 * takes no leading zeros and exactly four octets), so it is copied rather than formatted
 * again: this runs for every request.
 */
HOT size_t addr_parse_text(struct addr *out, const char *s, size_t len, char *text, size_t size)
{
	bool quad;

	if (size > 0)
		text[0] = '\0';
	if (!parse(out, s, len, &quad))
		return 0;
	if (!quad || len >= size)
		return addr_format(out, text, size);
	memcpy(text, s, len);
	text[len] = '\0';
	return len;
}

/* addr_from_sockaddr - convert the address of an AF_INET or AF_INET6 socket address. */
bool addr_from_sockaddr(struct addr *out, const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		/* Copy rather than cast: the caller's storage need not be aligned for it. */
		memcpy(&sin, sa, sizeof(sin));
		memset(out, 0, sizeof(*out));
		out->family = ADDR_V4;
		memcpy(out->bytes, &sin.sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		set_from_v6(out, sin6.sin6_addr.s6_addr);
		return true;
	}
	return false;
}

/* addr_format - write the canonical text form; returns its length, 0 on failure. */
HOT size_t addr_format(const struct addr *a, char *buf, size_t size)
{
	char tmp[ADDR_TEXT_MAX];
	int af;
	size_t n;

	if (size > 0)
		buf[0] = '\0';
	if (a->family == ADDR_V4 && size >= 16) {
		/* By hand: inet_ntop goes through sprintf, and this runs for every request. */
		n = 0;
		for (int i = 0; i < 4; i++) {
			unsigned v = a->bytes[i];
			if (i > 0)
				buf[n++] = '.';
			if (v >= 100)
				buf[n++] = (char)('0' + v / 100);
			if (v >= 10)
				buf[n++] = (char)('0' + v / 10 % 10);
			buf[n++] = (char)('0' + v % 10);
		}
		buf[n] = '\0';
		return n;
	}
	if (a->family == ADDR_V4)
		af = AF_INET;
	else if (a->family == ADDR_V6)
		af = AF_INET6;
	else
		return 0;
	if (inet_ntop(af, a->bytes, tmp, sizeof(tmp)) == NULL)
		return 0;
	n = strlen(tmp);
	if (n >= size)
		return 0;
	memcpy(buf, tmp, n + 1);
	return n;
}

/* addr_reverse_name - the RFC 5782 query prefix; returns its length, 0 if it does not fit. */
size_t addr_reverse_name(const struct addr *a, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (size > 0)
		buf[0] = '\0';
	if (a->family == ADDR_V4) {
		const uint8_t *b = a->bytes;
		int r = snprintf(buf, size, "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);

		if (r < 0 || (size_t)r >= size) {
			if (size > 0)
				buf[0] = '\0';
			return 0;
		}
		return (size_t)r;
	}
	if (a->family != ADDR_V6 || size < ADDR_REVERSE_MAX)
		return 0;
	/* The last byte's low nibble comes first, as RFC 3596 writes ip6.arpa names. */
	for (int i = 15; i >= 0; i--) {
		buf[n++] = hex[a->bytes[i] & 0x0f];
		buf[n++] = '.';
		buf[n++] = hex[a->bytes[i] >> 4];
		buf[n++] = i > 0 ? '.' : '\0';
	}
	return n - 1;
}

/* addr_equal - same family and the same bytes of that family. */
bool addr_equal(const struct addr *a, const struct addr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->bytes, b->bytes, a->family == ADDR_V4 ? 4 : 16) == 0;
}

/* max_prefix - the number of bits of an address family, 0 for an unknown family. */
static unsigned max_prefix(uint8_t family)
{
	return family == ADDR_V4 ? 32 : family == ADDR_V6 ? 128 : 0;
}

/* mask_bytes - clear the bits of b after the first prefix bits. */
static void mask_bytes(uint8_t b[16], unsigned prefix)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 8;

		if (bit >= prefix)
			b[i] = 0;
		else if (prefix - bit < 8)
			b[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
}

/* parse_prefix - parse 1 to 3 decimal digits into *out; false for anything else. */
static bool parse_prefix(const char *s, size_t len, unsigned *out)
{
	unsigned v = 0;

	if (len == 0 || len > 3)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* cidr_parse - parse an untrusted "address/prefix" or bare address; host bits are refused. */
bool cidr_parse(struct cidr *out, const char *s, size_t len, const char **err)
{
	const char *slash;
	size_t alen;
	unsigned prefix, max;
	struct addr a;
	const char *ignored;

	/* Callers that only want a yes or no may pass no place for the message. */
	if (err == NULL)
		err = &ignored;
	if (s == NULL || len == 0) {
		*err = "empty address";
		return false;
	}
	if (len > CIDR_TEXT_MAX) {
		*err = "address too long";
		return false;
	}
	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	if (!addr_parse(&a, s, alen)) {
		*err = "invalid address";
		return false;
	}
	max = max_prefix(a.family);
	prefix = max;
	if (slash != NULL && !parse_prefix(slash + 1, len - alen - 1, &prefix)) {
		*err = "invalid prefix length";
		return false;
	}
	/*
	 * A mapped IPv4 range such as ::ffff:192.0.2.0/120 was written with an IPv6 prefix;
	 * addr_parse already turned the address into IPv4, so the prefix follows it.
	 */
	if (slash != NULL && a.family == ADDR_V4 && memchr(s, ':', alen) != NULL) {
		if (prefix < 96 || prefix > 128) {
			*err = "prefix length out of range";
			return false;
		}
		prefix -= 96;
	}
	if (prefix > max) {
		*err = "prefix length out of range";
		return false;
	}
	/*
	 * Set host bits are refused, as Postfix's cidr tables refuse them: they are a typo
	 * or a line cut short ("198.51.100.0/24" read as "198.51.100.0/2" while a pipeline
	 * rewrites the file), and masking them would take a quarter of IPv4 for a /24.
	 */
	struct addr masked = a;
	mask_bytes(masked.bytes, prefix);
	if (!addr_equal(&masked, &a)) {
		*err = "host bits set after the prefix length";
		return false;
	}
	out->base = a;
	out->prefix = (uint8_t)prefix;
	return true;
}

/* cidr_contains - whether address a lies inside range c. */
bool cidr_contains(const struct cidr *c, const struct addr *a)
{
	unsigned prefix = c->prefix;
	unsigned full = prefix / 8, rest = prefix % 8;

	if (c->base.family != a->family || prefix > max_prefix(a->family))
		return false;
	if (memcmp(c->base.bytes, a->bytes, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->base.bytes[full] ^ a->bytes[full]) & (0xff << (8 - rest))) == 0;
}

/* load_be64 - read 8 bytes in network order as an integer. */
static uint64_t load_be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* to_u128 - the integer value of a 16-byte IPv6 address. */
static struct u128 to_u128(const uint8_t b[16])
{
	struct u128 v = { load_be64(b), load_be64(b + 8) };

	return v;
}

/* to_u32 - the integer value of a 4-byte IPv4 address. */
static uint32_t to_u32(const uint8_t b[4])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* u128_cmp - compare two 128-bit values: negative, zero or positive. */
static int u128_cmp(struct u128 a, struct u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

/* host_mask64 - the host bits of one 64-bit half, given the prefix bits that fall in it. */
static uint64_t host_mask64(unsigned bits)
{
	return bits >= 64 ? 0 : bits == 0 ? UINT64_MAX : UINT64_MAX >> bits;
}

/*
 * grow - make room for one more element of size esize in arr, which holds n of *cap.
 * Returns the array, moved or not, or NULL (arr still valid) when memory runs out.
 */
static void *grow(void *arr, size_t *cap, size_t n, size_t esize)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 64;
	if (ncap < *cap || ncap > SIZE_MAX / esize)
		return NULL;
	p = realloc(arr, ncap * esize);
	if (p != NULL)
		*cap = ncap;
	return p;
}

/* cidr_set_new - an empty set, or NULL when memory runs out. */
struct cidr_set *cidr_set_new(void)
{
	return calloc(1, sizeof(struct cidr_set));
}

/* cidr_set_free - release the set and its arrays; NULL is allowed. */
void cidr_set_free(struct cidr_set *set)
{
	if (set == NULL)
		return;
	free(set->v4);
	free(set->v6);
	free(set);
}

/* add4 - append the IPv4 range of base/prefix; false when memory runs out. */
static bool add4(struct cidr_set *set, const uint8_t base[4], unsigned prefix)
{
	uint32_t host = prefix == 0 ? UINT32_MAX : prefix >= 32 ? 0 : UINT32_MAX >> prefix;
	uint32_t lo = to_u32(base) & ~host;
	struct range4 *p = grow(set->v4, &set->cap4, set->n4, sizeof(*p));

	if (p == NULL)
		return false;
	set->v4 = p;
	set->v4[set->n4++] = (struct range4){ lo, lo | host };
	return true;
}

/* add6 - append the IPv6 range of base/prefix; false when memory runs out. */
static bool add6(struct cidr_set *set, const uint8_t base[16], unsigned prefix)
{
	struct u128 v = to_u128(base);
	uint64_t hhi = host_mask64(prefix), hlo = host_mask64(prefix > 64 ? prefix - 64 : 0);
	struct range6 r = { { v.hi & ~hhi, v.lo & ~hlo }, { v.hi | hhi, v.lo | hlo } };
	struct range6 *p = grow(set->v6, &set->cap6, set->n6, sizeof(*p));

	if (p == NULL)
		return false;
	set->v6 = p;
	set->v6[set->n6++] = r;
	return true;
}

/*
 * cidr_set_add - append one range. Host bits are cleared again here because the caller may
 * have built the struct by hand. A range with an unknown family or a prefix out of range
 * is a programming error, and also returns false. Adding after finish reopens the set:
 * contains stays correct (by a linear scan) until cidr_set_finish() is called again.
 */
bool cidr_set_add(struct cidr_set *set, const struct cidr *c)
{
	bool added;

	if (c->prefix > max_prefix(c->base.family))
		return false;
	if (c->base.family == ADDR_V4)
		added = add4(set, c->base.bytes, c->prefix);
	else if (c->base.family == ADDR_V6)
		added = add6(set, c->base.bytes, c->prefix);
	else
		return false;
	if (added)
		set->finished = false;
	return added;
}

/* cmp_range4 - qsort order of IPv4 ranges: by start. */
static int cmp_range4(const void *pa, const void *pb)
{
	const struct range4 *a = pa, *b = pb;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* cmp_range6 - qsort order of IPv6 ranges: by start. */
static int cmp_range6(const void *pa, const void *pb)
{
	const struct range6 *a = pa, *b = pb;

	return u128_cmp(a->lo, b->lo);
}

/* merge4 - merge sorted IPv4 ranges that overlap or touch; returns the new count. */
static size_t merge4(struct range4 *r, size_t n)
{
	size_t out = 0;

	for (size_t i = 1; i < n; i++) {
		/* 64-bit arithmetic so that a range ending at 255.255.255.255 cannot wrap. */
		if ((uint64_t)r[out].hi + 1 >= r[i].lo) {
			if (r[i].hi > r[out].hi)
				r[out].hi = r[i].hi;
		} else {
			r[++out] = r[i];
		}
	}
	return n ? out + 1 : 0;
}

/* touches6 - whether range b, which starts at or after a, overlaps a or follows it at once. */
static bool touches6(const struct range6 *a, const struct range6 *b)
{
	struct u128 next = a->hi;

	if (next.hi == UINT64_MAX && next.lo == UINT64_MAX)
		return true;
	if (++next.lo == 0)
		next.hi++;
	return u128_cmp(next, b->lo) >= 0;
}

/* merge6 - merge sorted IPv6 ranges that overlap or touch; returns the new count. */
static size_t merge6(struct range6 *r, size_t n)
{
	size_t out = 0;

	for (size_t i = 1; i < n; i++) {
		if (touches6(&r[out], &r[i])) {
			if (u128_cmp(r[i].hi, r[out].hi) > 0)
				r[out].hi = r[i].hi;
		} else {
			r[++out] = r[i];
		}
	}
	return n ? out + 1 : 0;
}

/*
 * shrink - give back the unused capacity of arr after merging and return the array;
 * when realloc fails the larger block is kept, which is only a waste of memory.
 */
static void *shrink(void *arr, size_t *cap, size_t n, size_t esize)
{
	void *p;

	if (n == 0 || n == *cap)
		return arr;
	p = realloc(arr, n * esize);
	if (p == NULL)
		return arr;
	*cap = n;
	return p;
}

/* cidr_set_finish - sort and merge both families so that lookups can binary-search. */
void cidr_set_finish(struct cidr_set *set)
{
	if (set->n4 > 1)
		qsort(set->v4, set->n4, sizeof(*set->v4), cmp_range4);
	set->n4 = merge4(set->v4, set->n4);
	set->v4 = shrink(set->v4, &set->cap4, set->n4, sizeof(*set->v4));
	if (set->n6 > 1)
		qsort(set->v6, set->n6, sizeof(*set->v6), cmp_range6);
	set->n6 = merge6(set->v6, set->n6);
	set->v6 = shrink(set->v6, &set->cap6, set->n6, sizeof(*set->v6));
	set->finished = true;
}

/* contains4 - whether x is in the ranges; binary search when they are sorted and merged. */
static bool contains4(const struct cidr_set *set, uint32_t x)
{
	size_t lo = 0, hi = set->n4;

	if (!set->finished) {
		for (size_t i = 0; i < set->n4; i++)
			if (set->v4[i].lo <= x && x <= set->v4[i].hi)
				return true;
		return false;
	}
	/* Find the first range starting after x; only the one before it can hold x. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->v4[mid].lo <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && x <= set->v4[lo - 1].hi;
}

/* contains6 - the IPv6 counterpart of contains4. */
static bool contains6(const struct cidr_set *set, struct u128 x)
{
	size_t lo = 0, hi = set->n6;

	if (!set->finished) {
		for (size_t i = 0; i < set->n6; i++)
			if (u128_cmp(set->v6[i].lo, x) <= 0 && u128_cmp(x, set->v6[i].hi) <= 0)
				return true;
		return false;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u128_cmp(set->v6[mid].lo, x) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && u128_cmp(x, set->v6[lo - 1].hi) <= 0;
}

/* cidr_set_contains - whether a lies in any range of the set; allocates nothing. */
bool cidr_set_contains(const struct cidr_set *set, const struct addr *a)
{
	if (a->family == ADDR_V4)
		return contains4(set, to_u32(a->bytes));
	if (a->family == ADDR_V6)
		return contains6(set, to_u128(a->bytes));
	return false;
}

/* cidr_set_size - the number of ranges: merged after finish, as added before. */
size_t cidr_set_size(const struct cidr_set *set)
{
	return set->n4 + set->n6;
}

/* is_list_sep - the separators of a configuration list: commas and white space. */
static bool is_list_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* cidr_set_parse_list - add every range of an untrusted comma- or blank-separated list. */
bool cidr_set_parse_list(struct cidr_set *set, const char *s, size_t len, const char **err,
			 const char **bad, size_t *badlen)
{
	size_t i = 0;

	while (i < len) {
		size_t start;
		struct cidr c;
		const char *msg = NULL;

		while (i < len && is_list_sep(s[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_list_sep(s[i]))
			i++;
		if (cidr_parse(&c, s + start, i - start, &msg)) {
			if (cidr_set_add(set, &c))
				continue;
			msg = "out of memory";
		}
		if (err != NULL)
			*err = msg;
		if (bad != NULL)
			*bad = s + start;
		if (badlen != NULL)
			*badlen = i - start;
		return false;
	}
	return true;
}

/* is_blank - space or tab. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * load_line - handle one untrusted line of a list file (without its '\n'): 1 if it holds
 * a range that was added or nothing at all, 0 if it is bad (*msg says why), -1 when
 * memory runs out.
 */
static int load_line(struct cidr_set *set, const char *s, size_t len, const char **msg)
{
	const char *hash = memchr(s, '#', len);
	size_t start = 0, end, tok;
	struct cidr c;

	/* Whatever follows '#' is a comment; a trailing '\r' is white space of CRLF files. */
	end = hash != NULL ? (size_t)(hash - s) : len;
	while (end > 0 && (is_blank(s[end - 1]) || s[end - 1] == '\r'))
		end--;
	while (start < end && is_blank(s[start]))
		start++;
	if (start == end)
		return 1;
	for (tok = start; tok < end && !is_blank(s[tok]); tok++)
		;
	if (tok != end) {
		*msg = "text after the range";
		return 0;
	}
	if (!cidr_parse(&c, s + start, end - start, msg))
		return 0;
	return cidr_set_add(set, &c) ? 1 : -1;
}

/* cidr_set_load_text - add every range of an untrusted list file held in memory. */
int cidr_set_load_text(struct cidr_set *set, const char *text, size_t len, cidr_error_fn *on_error,
		       void *ctx)
{
	static const char bom[] = "\xef\xbb\xbf";
	unsigned line = 0;
	int bad = 0;
	size_t pos = 0;

	/* Editors on some systems start UTF-8 files with a byte order mark; it is not text. */
	if (len >= 3 && memcmp(text, bom, 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		const char *msg = NULL;
		int r;

		line++;
		r = load_line(set, text + pos, end - pos, &msg);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (bad < INT_MAX)
				bad++;
			if (on_error != NULL)
				on_error(ctx, line, msg);
		}
		pos = end + 1;
	}
	return bad;
}
