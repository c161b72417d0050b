/*
 * text - cleaning of untrusted text for logs and replies (see text.h).
 * Pure functions; the caller owns all memory.
 */
#include "text.h"
#include "hot.h"

#include <stdint.h>
#include <string.h>

/* Sixteen bytes at a time with SSE2 (simd.h); the portable form goes a word of eight at
 * a time. */
#include "simd.h"

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/*
 * all_clean - whether each of the eight bytes of w is in 0x20..0x7e: no byte has its high
 * bit set, none is below 0x20 (subtracting 0x20 from it would set it), none is 0x7f (adding
 * 1 would). A borrow or carry crosses into the next byte only from a byte that is out of
 * range itself, and then that byte already shows, so the answer is exact.
 */
static inline bool all_clean(uint64_t w)
{
	return ((w | (w - 0x20 * ONES) | (w + ONES)) & HIGHS) == 0;
}

/* copy_bytes - the byte-by-byte form, for words that hold a byte to replace and for the tail. */
static void copy_bytes(char *dst, const char *src, size_t n, char replacement)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = text_is_clean_char(c) ? (char)c : replacement;
	}
}

/* all_clean32 - all_clean for four bytes, for texts of four to seven. */
static inline bool all_clean32(uint32_t w)
{
	const uint32_t ones = 0x01010101u, highs = 0x80808080u;

	return ((w | (w - 0x20 * ones) | (w + ones)) & highs) == 0;
}

/*
 * copy_short - fewer than eight bytes: from four on, as two words that overlap in the
 * middle, both read before either is written (so that it works in place too).
 */
static void copy_short(char *dst, const char *src, size_t n, char replacement)
{
	uint32_t head, tail;

	if (n < 4) {
		copy_bytes(dst, src, n, replacement);
		return;
	}
	memcpy(&head, src, 4);
	memcpy(&tail, src + n - 4, 4);
	if (!all_clean32(head) || !all_clean32(tail)) {
		copy_bytes(dst, src, n, replacement);
		return;
	}
	memcpy(dst, &head, 4);
	memcpy(dst + n - 4, &tail, 4);
}

#if SIMD_SSE2
/* clean16 - whether each of the 16 bytes of v is in 0x20..0x7e; as signed bytes, those
 * from 0x80 on are negative and fail the first comparison. */
static inline bool clean16(__m128i v)
{
	__m128i above = _mm_cmpgt_epi8(v, _mm_set1_epi8(0x1f));
	__m128i below = _mm_cmplt_epi8(v, _mm_set1_epi8(0x7f));

	return _mm_movemask_epi8(_mm_and_si128(above, below)) == 0xffff;
}

/* copy_blocks - sixteen bytes or more, as text_copy_clean does with words. */
static void copy_blocks(char *dst, const char *src, size_t n, char replacement)
{
	size_t i = 0;
	__m128i v;

	for (; i + 16 <= n; i += 16) {
		v = simd_load16(src + i);
		if (clean16(v))
			_mm_storeu_si128((__m128i *)(void *)(dst + i), v);
		else
			copy_bytes(dst + i, src + i, 16, replacement);
	}
	if (i == n)
		return;
	v = simd_load16(src + n - 16);
	if (clean16(v))
		_mm_storeu_si128((__m128i *)(void *)(dst + n - 16), v);
	else
		copy_bytes(dst + i, src + i, n - i, replacement);
}
#endif

/*
 * text_copy_clean - clean words go eight bytes at a time (sixteen with SSE2), the others
 * byte by byte. The bytes after the last whole word are taken as the word that ends at n,
 * overlapping bytes already copied: a clean word is copied as it is, which writes those
 * bytes again with the same values (in place too, since a replaced byte is clean). Texts
 * under eight bytes (queue IDs, codes, short names) are common in a log line and take
 * two overlapping four-byte words.
 */
HOT void text_copy_clean(char *dst, const char *src, size_t n, char replacement)
{
	size_t i = 0;
	uint64_t w;

	if (n < 8) {
		copy_short(dst, src, n, replacement);
		return;
	}
#if SIMD_SSE2
	if (n >= 16) {
		copy_blocks(dst, src, n, replacement);
		return;
	}
#endif
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, src + i, 8);
		if (all_clean(w))
			memcpy(dst + i, &w, 8);
		else
			copy_bytes(dst + i, src + i, 8, replacement);
	}
	if (i == n)
		return;
	memcpy(&w, src + n - 8, 8);
	if (all_clean(w))
		memcpy(dst + n - 8, &w, 8);
	else
		copy_bytes(dst + i, src + i, n - i, replacement);
}

/* text_clean - copy untrusted bytes as printable ASCII, marking a cut with "...". */
HOT size_t text_clean(char *dst, size_t dstsize, const char *src, size_t len)
{
	static const char ellipsis[] = "...";
	size_t room = dstsize - 1;
	size_t n = len <= room ? len : room;
	bool cut = n < len;

	if (cut && room > sizeof(ellipsis) - 1)
		n = room - (sizeof(ellipsis) - 1);
	text_copy_clean(dst, src, n, '?');
	if (cut && room > sizeof(ellipsis) - 1) {
		memcpy(dst + n, ellipsis, sizeof(ellipsis) - 1);
		n += sizeof(ellipsis) - 1;
	}
	dst[n] = '\0';
	return n;
}

/* text_clean_inplace - blank out every byte that is not printable ASCII. */
void text_clean_inplace(char *s, size_t len)
{
	text_copy_clean(s, s, len, ' ');
}

/*
 * text_decimal - numbers in log lines and replies are written by hand: snprintf costs
 * hundreds of instructions a call, and every refusal writes a few.
 */
HOT size_t text_decimal(char *out, long long v)
{
	char digits[TEXT_DECIMAL_MAX];
	size_t n = sizeof(digits);
	/* -(v + 1) + 1: LLONG_MIN has no positive counterpart in a long long. */
	unsigned long long u = v < 0 ? (unsigned long long)(-(v + 1)) + 1 : (unsigned long long)v;

	do {
		digits[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		digits[--n] = '-';
	memcpy(out, digits + n, sizeof(digits) - n);
	return sizeof(digits) - n;
}
