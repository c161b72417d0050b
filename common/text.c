/*
 * text - cleaning of untrusted text for logs and replies (see text.h).
 * Pure functions; the caller owns all memory.
 */
#include "text.h"
#include "hot.h"

#include <stdint.h>
#include <string.h>

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

/*
 * text_copy_clean - clean words go eight bytes at a time, the others byte by byte. The
 * bytes after the last whole word are taken as the word that ends at n, overlapping bytes
 * already copied: a clean word is copied as it is, which writes those bytes again with the
 * same values (in place too, since a replaced byte is clean).
 */
HOT void text_copy_clean(char *dst, const char *src, size_t n, char replacement)
{
	size_t i = 0;
	uint64_t w;

	if (n < 8) {
		copy_bytes(dst, src, n, replacement);
		return;
	}
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
