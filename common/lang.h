/*
 * lang - the help page's languages: a catalog's language code checked, and the one
 * language a browser prefers among those the page has, from its Accept-Language
 * header (RFC 9110, 12.5.4).
 *
 * Rules: a code is 2 or 3 ASCII letters (ISO 639), compared in any case. A range of
 * the header matches a code when its first subtag is that code ("de-CH" matches
 * "de"); the highest quality wins, and between equals the range named first; q=0
 * refuses a language. "*" stands for the page's default language. A range that is
 * not well formed is skipped, not the whole header, as browsers' headers vary.
 *
 * The header is untrusted: it is read once, in bounded work (at most LANG_RANGES_MAX
 * ranges), and nothing of it is kept.
 */
#ifndef POLICYD_LANG_H
#define POLICYD_LANG_H

#include <stdbool.h>
#include <stddef.h>

/* The ranges of one header looked at; the rest is ignored. */
#define LANG_RANGES_MAX 32

/* lang_code_ok - whether s[0..len) is a language code: 2 or 3 ASCII letters. */
bool lang_code_ok(const char *s, size_t len);

/*
 * lang_find - the index of code s[0..len) among codes[0..n) (any case), or -1.
 */
int lang_find(const char *s, size_t len, const char *const *codes, size_t n);

/*
 * lang_pick - the index in codes[0..n) of the language that the Accept-Language value
 * (len bytes, untrusted) prefers; -1 when it names none of them, or prefers "*"
 * (the caller's default then).
 */
int lang_pick(const char *header, size_t len, const char *const *codes, size_t n);

#endif
