/*
 * parse - strict configuration value parsers (see parse.h). Pure functions; the
 * caller owns every string.
 */
#include "parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* parse_long - a whole decimal number within bounds, nothing before or after it. */
bool parse_long(const char *s, long min, long max, long *out, const char **err)
{
	char *end;
	long v;

	if (*s == '\0' || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) {
		*err = "not a number";
		return false;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0') {
		*err = "not a number";
		return false;
	}
	if (errno == ERANGE || v < min || v > max) {
		*err = "number out of range";
		return false;
	}
	*out = v;
	return true;
}

/* parse_duration_ms - a number with an optional unit: ms, s, m, h or d (seconds if none). */
bool parse_duration_ms(const char *s, unsigned long max_ms, unsigned long *out, const char **err)
{
	static const struct {
		const char *suffix;
		unsigned long ms;
	} units[] = { { "", 1000 },   { "ms", 1 },      { "s", 1000 },
		      { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 } };
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9') {
		*err = "not a duration (use e.g. 30s, 5m, 1h, 2d)";
		return false;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (errno == ERANGE || v > max_ms / units[i].ms) {
			*err = "duration out of range";
			return false;
		}
		*out = v * units[i].ms;
		return true;
	}
	*err = "not a duration (use e.g. 30s, 5m, 1h, 2d)";
	return false;
}

/* parse_bool - the usual spellings of yes and no. */
bool parse_bool(const char *s, bool *out, const char **err)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	*err = "expected yes or no";
	return false;
}

/* parse_mode - octal digits only, so that "660" and "0660" mean the same. */
bool parse_mode(const char *s, unsigned *out, const char **err)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '7') {
		*err = "not an octal mode";
		return false;
	}
	v = strtoul(s, &end, 8);
	if (*end != '\0' || v > 07777) {
		*err = "not an octal mode";
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/* parse_list_next - skip separators, then take the run of characters up to the next one. */
bool parse_list_next(const char **pos, const char **item, size_t *len)
{
	static const char separators[] = ", \t";
	const char *p = *pos;

	p += strspn(p, separators);
	if (*p == '\0') {
		*pos = p;
		return false;
	}
	*item = p;
	*len = strcspn(p, separators);
	*pos = p + *len;
	return true;
}
