/*
 * text - cleaning of untrusted text for logs and replies (see text.h).
 * Pure functions; the caller owns all memory.
 */
#include "text.h"

#include <string.h>

/* text_clean - copy untrusted bytes as printable ASCII, marking a cut with "...". */
size_t text_clean(char *dst, size_t dstsize, const char *src, size_t len)
{
	static const char ellipsis[] = "...";
	size_t room = dstsize - 1;
	size_t n = len <= room ? len : room;
	bool cut = n < len;

	if (cut && room > sizeof(ellipsis) - 1)
		n = room - (sizeof(ellipsis) - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = text_is_clean_char(c) ? (char)c : '?';
	}
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
	for (size_t i = 0; i < len; i++)
		if (!text_is_clean_char((unsigned char)s[i]))
			s[i] = ' ';
}
