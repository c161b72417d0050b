/*
 * parse - strict parsers for configuration values: integers, durations, booleans,
 * octal modes, and the splitting of comma/blank separated lists.
 *
 * Every function takes a NUL-terminated string that may be wrong in any way and
 * answers false with a static message in *err instead of guessing. Nothing is
 * allocated; nothing is logged.
 */
#ifndef POLICYD_PARSE_H
#define POLICYD_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* parse_long - a decimal integer in [min, max], optionally signed. */
bool parse_long(const char *s, long min, long max, long *out, const char **err);

/*
 * parse_duration_ms - "300" (seconds), "300ms", "30s", "5m", "1h" into milliseconds,
 * at most max_ms.
 */
bool parse_duration_ms(const char *s, unsigned long max_ms, unsigned long *out, const char **err);

/* parse_bool - yes/no, true/false, on/off, 1/0 (case-insensitive). */
bool parse_bool(const char *s, bool *out, const char **err);

/* parse_mode - an octal file mode such as 0660, at most 07777. */
bool parse_mode(const char *s, unsigned *out, const char **err);

/*
 * parse_list_next - iterate over items of "a, b c" (separated by commas and/or
 * blanks). *pos starts at s; returns false when no item is left, else sets
 * *item and *len to the next item.
 */
bool parse_list_next(const char **pos, const char **item, size_t *len);

#endif
