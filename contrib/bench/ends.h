/*
 * ends - where requests end in bytes that arrive split anywhere: the one scan both floors
 * make. A request ends at an empty line, that is an LF at the start of a line; whether the
 * last byte seen ended a line is carried from one read to the next in a flag the caller
 * keeps per connection (true before the first byte). Nothing is allocated; the bytes are
 * untrusted and only searched.
 */
#ifndef POLICYD_BENCH_ENDS_H
#define POLICYD_BENCH_ENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* request_ends - how many requests end in data[0..len), updating *at_line_start. */
static inline size_t request_ends(bool *at_line_start, const char *data, size_t len)
{
	const char *p = data, *end = data + len, *nl;
	bool bol = *at_line_start;
	size_t n = 0;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl == p && bol)
			n++;
		bol = true;
		p = nl + 1;
	}
	*at_line_start = p < end ? false : bol;
	return n;
}

#endif
