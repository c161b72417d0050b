/*
 * text - cleaning of untrusted text before it reaches a log line or an SMTP reply.
 *
 * Bytes from clients and from DNS may hold anything: control characters, NUL,
 * non-ASCII. Postfix turns such bytes into spaces in its own replies; we replace
 * them ourselves so that logs and replies stay one line of printable ASCII.
 * Nothing here allocates: the caller owns every buffer.
 */
#ifndef POLICYD_TEXT_H
#define POLICYD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* text_is_clean_char - true for bytes allowed verbatim: printable ASCII 0x20..0x7e. */
static inline bool text_is_clean_char(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

/*
 * text_copy_clean - copy n untrusted bytes from src to dst, each byte outside printable
 * ASCII replaced by `replacement`; no terminator. The common case, clean text, goes eight
 * bytes at a time: this runs on every value of every log line and reply.
 */
void text_copy_clean(char *dst, const char *src, size_t n, char replacement);

/*
 * text_clean - copy at most len bytes of untrusted src into dst (size dstsize, > 0),
 * replacing each byte outside printable ASCII by '?', and NUL-terminate.
 * When src does not fit, it is cut and "..." marks the cut (if dstsize allows).
 * Returns the length written, excluding the terminator.
 */
size_t text_clean(char *dst, size_t dstsize, const char *src, size_t len);

/* text_clean_inplace - replace, in place, each byte of s[0..len) outside printable ASCII by ' '. */
void text_clean_inplace(char *s, size_t len);

/* The longest decimal text_decimal writes: a sign and 19 digits (LLONG_MIN). */
#define TEXT_DECIMAL_MAX 20

/* text_decimal - v in decimal at out (room for TEXT_DECIMAL_MAX bytes, not terminated);
 * returns the length. */
size_t text_decimal(char *out, long long v);

#endif
