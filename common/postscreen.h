/*
 * postscreen - the list sections of policyd.ini for an existing Postfix's
 * postscreen_dnsbl_sites, so that an administrator switches without rewriting
 * them by hand: `policyd --from-postscreen "$(postconf -h postscreen_dnsbl_sites)"`.
 *
 * postscreen's syntax is "domain[=filter][*weight]" patterns separated by commas
 * or blanks; each pattern that matches one or more answers adds its weight once,
 * the weight is 1 unless given, and a pattern without a filter takes any answer
 * that is not an error. That is exactly what weighted codes patterns do
 * (codes.h), so each domain becomes one section whose codes are its patterns,
 * each with its weight: [dnsbl D] for the positive ones, [dnswl D] for the
 * negative ones (postscreen's allowlisting). A keyed zone (Spamhaus DQS
 * "KEY.zen.dq.spamhaus.net", Abusix "KEY.combined.mail.abusix.zone") becomes a
 * section named after the public list, with zone = $key... and a key_file: the
 * key is never written out, nor pointed at by an error. The input is untrusted
 * text (one line: a control character is refused, since it could start an INI
 * line of its own); the output is plain INI. Memory: the caller's buffers only.
 */
#ifndef POLICYD_POSTSCREEN_H
#define POLICYD_POSTSCREEN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * postscreen_convert - the sections for sites (NUL-terminated) into out (size
 * bytes, NUL-terminated). False with *err a message (and *bad the offending
 * pattern's start) when a pattern is not valid, or when out is too small.
 */
bool postscreen_convert(const char *sites, char *out, size_t size, const char **err,
			const char **bad);

#endif
