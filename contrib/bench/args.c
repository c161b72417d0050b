/*
 * args - see args.h.  Memory: none; the caller owns the text and the results.
 */
#include "args.h"

#include <errno.h>
#include <stdlib.h>

int args_parse_ms(const char *text, uint64_t *ms)
{
	char *end;
	double secs = strtod(text, &end);

	if (end == text || *end != '\0' || !(secs >= 0 && secs <= 1e7))
		return -1;
	*ms = (uint64_t)(secs * 1000 + 0.5);
	return 0;
}

int args_parse_num(const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
	char *end;
	unsigned long long v;

	/* strtoull would take a sign or blanks: only digits are a count. */
	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*value = v;
	return 0;
}
