/*
 * domain - cleaning of untrusted domain names, address parsing for the sender's
 * domain, IDN conversion (see domain.h). Nothing is kept between calls; every
 * buffer belongs to the caller, and libidn2's result is freed before returning.
 */
#include "domain.h"
#include "hot.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

/*
 * Names and addresses of 8 bytes or more are read 16 bytes at a time with SSE2
 * (simd.h); the portable form reads names a byte at a time and addresses with memchr.
 * Either way nothing outside [s, s + len) is read: a name that is not a multiple of 16
 * long ends in a block that overlaps the one before, and one of 8 to 15 bytes is read
 * as its first and its last 8 bytes.
 */
#include "simd.h"

/*
 * label_byte - each byte as it appears in a clean name: letters in lower case; digits, '-',
 * '_' (used by some list operators' zones) and '.' as they are; 0 for every other byte. It
 * is the rule that fold() below computes 16 bytes at a time; the byte-at-a-time path (names
 * under 8 bytes, and targets without SSE2) reads it, one load per byte instead of a chain of
 * range tests.
 */
/* clang-format off */
static const unsigned char label_byte[256] = {
	  0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0, /* 0x00 */
	  0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0, /* 0x10 */
	  0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0, '-', '.',   0, /* 0x20 */
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9',   0,   0,   0,   0,   0,   0, /* 0x30 */
	  0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', /* 0x40 */
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',   0,   0,   0,   0, '_', /* 0x50 */
	  0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', /* 0x60 */
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',   0,   0,   0,   0,   0, /* 0x70 */
	/* 0x80 to 0xff: 0 */
};
/* clang-format on */

/* all_digits - whether s[0..len) is digits only. */
static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

#if SIMD_SSE2
/* in_range - 0xff in each byte of v from lo to lo + n - 1 (n below 128), else 0. */
static inline __attribute__((always_inline)) __m128i in_range(__m128i v, unsigned char lo,
							      unsigned char n)
{
	/* Adding 0x80 - lo (mod 256) takes lo to -128: the range becomes the n smallest
	 * signed bytes, which one signed comparison tells apart from all others. */
	__m128i moved = _mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - lo)));
	return _mm_cmplt_epi8(moved, _mm_set1_epi8((char)(0x80 + n)));
}

/*
 * fold - label_byte on 16 bytes at once: the bytes of v with letters in lower case;
 * *bad gets a bit for each byte that label_byte maps to 0, *dots one for each '.'.
 * A byte with the 0x20 bit set is in 'a' to 'z' exactly when it is a letter of either
 * case (0xc1 to 0xda become 0xe1 to 0xfa, out of the range), and that bit is what
 * lower-cases it.
 */
static inline __attribute__((always_inline)) __m128i fold(__m128i v, unsigned *bad, unsigned *dots)
{
	const __m128i case_bit = _mm_set1_epi8(0x20);
	__m128i letter = in_range(_mm_or_si128(v, case_bit), 'a', 26);
	__m128i digit = in_range(v, '0', 10);
	__m128i dash_dot = in_range(v, '-', 2); /* '-' and '.' are 0x2d and 0x2e */
	__m128i under = _mm_cmpeq_epi8(v, _mm_set1_epi8('_'));
	__m128i good = _mm_or_si128(_mm_or_si128(letter, digit), _mm_or_si128(dash_dot, under));

	*bad = (unsigned)_mm_movemask_epi8(good) ^ 0xffffu;
	*dots = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
	return _mm_or_si128(v, _mm_and_si128(letter, case_bit));
}

/* ends8 - for 8 <= n < 16: s[0..8) in the low half, s[n-8..n) in the high half. */
static inline __attribute__((always_inline)) __m128i ends8(const char *s, size_t n)
{
	return _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)s),
				  _mm_loadl_epi64((const __m128i *)(const void *)(s + n - 8)));
}

/*
 * spread - a byte mask of ends8(s, n) as one bit per byte of s: the high half's bits
 * belong at n - 8. The bytes both halves hold have the same bit in each, so the
 * overlap does no harm.
 */
static inline __attribute__((always_inline)) unsigned spread(unsigned m, size_t n)
{
	return (m & 0xffu) | (m >> 8) << (n - 8);
}
#endif

/*
 * dots_ok - the label rules at each '.' of a block, bit k of dots standing for a '.'
 * at pos + k: the label that the '.' ends (from *label) is neither empty nor longer
 * than 63 bytes. *label moves to the byte after each '.'.
 */
static inline __attribute__((always_inline)) bool dots_ok(unsigned dots, size_t pos, size_t *label)
{
	while (dots != 0) {
		size_t i = pos + (unsigned)__builtin_ctz(dots);
		if (i == *label || i - *label > 63)
			return false;
		*label = i + 1;
		dots &= dots - 1;
	}
	return true;
}

/* fold_bytes - clean_ascii's loop a byte at a time, through label_byte. */
static bool fold_bytes(const char *s, size_t len, char *out, size_t *label)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = label_byte[(unsigned char)s[i]];
		if (c == 0)
			return false;
		if (c == '.' && !dots_ok(1, i, label))
			return false;
		out[i] = (char)c;
	}
	return true;
}

/*
 * clean_ascii - the checks of domain.h on an ASCII name, lower-cased into out. An
 * IPv4 address passes the label rules; it is told apart by its last label, which
 * is all digits (no top-level domain is); IPv6 addresses hold ':', never in a label.
 * Any byte that label_byte refuses (every byte above 0x7f among them) returns 0, so
 * that domain_clean tries the name as an IDN. The bytes of out are unspecified when
 * 0 is returned: no caller reads them then.
 */
HOT static size_t clean_ascii(const char *s, size_t len, char *out, size_t size)
{
	size_t label = 0; /* where the current label starts; still 0 while there is one label */

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_MAX || len >= size || s[0] == '[' ||
	    (len == 7 && memcmp(s, "unknown", 7) == 0))
		return 0;
#if SIMD_SSE2
	if (len >= 16) {
		/* The last block is the 16 bytes that end the name; the dots of it that the
		 * block before already had are shifted out. Lower-casing the overlap twice
		 * writes the same bytes. */
		for (size_t pos = 0; pos < len; pos += 16) {
			size_t at = pos + 16 <= len ? pos : len - 16;
			unsigned bad, dots;
			__m128i lower = fold(simd_load16(s + at), &bad, &dots);
			if (bad != 0)
				return 0;
			_mm_storeu_si128((__m128i *)(void *)(out + at), lower);
			if (!dots_ok(dots >> (pos - at), pos, &label))
				return 0;
		}
	} else if (len >= 8) {
		unsigned bad, dots;
		__m128i lower = fold(ends8(s, len), &bad, &dots);
		if (bad != 0)
			return 0;
		_mm_storel_epi64((__m128i *)(void *)out, lower);
		_mm_storel_epi64((__m128i *)(void *)(out + len - 8),
				 _mm_unpackhi_epi64(lower, lower));
		if (!dots_ok(spread(dots, len), 0, &label))
			return 0;
	} else if (!fold_bytes(s, len, out, &label)) {
		return 0;
	}
#else
	if (!fold_bytes(s, len, out, &label))
		return 0;
#endif
	if (len == label || len - label > 63 || label == 0 || all_digits(out + label, len - label))
		return 0;
	out[len] = '\0';
	return len;
}

/* ascii - whether s[0..len) has no byte above 0x7f. */
static bool ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * clean_idn - domain_clean for a name that failed as ASCII: only one that holds bytes
 * above 0x7f goes through libidn2, whatever its length in UTF-8. Apart from the hot
 * path, so that the common case does not set up (and guard) the stack copy.
 */
__attribute__((noinline, cold)) static size_t clean_idn(const char *s, size_t len, char *out,
							size_t size)
{
	char input[DOMAIN_MAX * 4 + 1];
	char *converted = NULL;
	size_t n;

	if (ascii(s, len))
		return 0;
	/* A UTF-8 name of 253 characters takes at most four bytes each. */
	if (len >= sizeof(input) || memchr(s, '\0', len) != NULL)
		return 0;
	memcpy(input, s, len);
	input[len] = '\0';
	if (idn2_to_ascii_8z(input, &converted, IDN2_NONTRANSITIONAL) != IDN2_OK)
		return 0;
	n = clean_ascii(converted, strlen(converted), out, size);
	idn2_free(converted);
	return n;
}

/* domain_clean - names are checked as ASCII first, the common case. */
HOT size_t domain_clean(const char *s, size_t len, char *out, size_t size)
{
	size_t n = clean_ascii(s, len, out, size);

	return n > 0 ? n : clean_idn(s, len, out, size);
}

/*
 * last_at - where the last '@' of s[from..len) is, or len when there is none. With
 * SSE2, 16 bytes at a time from the end backward; the first block, read last, may
 * overlap the one after it, but those bytes need no masking: had they held an '@',
 * the scan would have stopped there. Elsewhere memchr forward until no '@' follows,
 * which makes most addresses (one '@') two calls.
 */
HOT static size_t last_at(const char *s, size_t from, size_t len)
{
	const char *p = s + from;
	size_t n = len - from;

#if SIMD_SSE2
	const __m128i at = _mm_set1_epi8('@');
	if (n >= 16) {
		for (size_t end = n; end > 0;) {
			size_t start = end >= 16 ? end - 16 : 0;
			unsigned m = (unsigned)_mm_movemask_epi8(
				_mm_cmpeq_epi8(simd_load16(p + start), at));
			if (m != 0)
				return from + start + 31 - (unsigned)__builtin_clz(m);
			end = start;
		}
		return len;
	}
	if (n >= 8) {
		unsigned m =
			spread((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(ends8(p, n), at)), n);
		return m != 0 ? from + 31 - (unsigned)__builtin_clz(m) : len;
	}
	for (size_t i = n; i > 0; i--)
		if (p[i - 1] == '@')
			return from + i - 1;
	return len;
#else
	const char *last = NULL, *q = n > 0 ? memchr(p, '@', n) : NULL;
	while (q != NULL) {
		last = q;
		q = memchr(q + 1, '@', (size_t)(p + n - (q + 1)));
	}
	return last != NULL ? (size_t)(last - s) : len;
#endif
}

/*
 * domain_of_address - the quoted local part is skipped as a unit, escapes included.
 * The last '@' either way: a source route (@a,@b:user@example.org) and
 * "x@y@example.org" both end in the domain that delivers the mail.
 */
HOT bool domain_of_address(const char *addr, size_t len, const char **domain, size_t *domain_len)
{
	size_t from = 0, at = len; /* the '@' before the domain; len while there is none */

	if (len > 0 && addr[0] == '"') {
		size_t i = 1;
		while (i < len && addr[i] != '"')
			i += addr[i] == '\\' ? 2 : 1;
		if (i + 1 >= len || addr[i + 1] != '@')
			return false;
		at = i + 1;
		from = i + 2; /* only a later '@' can take its place */
	}
	size_t last = last_at(addr, from, len);
	if (last < len)
		at = last;
	if (at + 1 >= len)
		return false;
	*domain = addr + at + 1;
	*domain_len = len - (at + 1);
	return true;
}

/* domain_within - suffix match on a label boundary. */
bool domain_within(const char *d, size_t len, const char *parent, size_t parent_len,
		   bool subdomains)
{
	if (!subdomains)
		return len == parent_len && memcmp(d, parent, len) == 0;
	return len > parent_len && d[len - parent_len - 1] == '.' &&
	       memcmp(d + len - parent_len, parent, parent_len) == 0;
}
