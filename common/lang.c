/*
 * lang - language codes and Accept-Language (see lang.h): one pass over the header's
 * comma-separated ranges, each checked on its own, keeping the best match so far.
 *
 * Memory: nothing is allocated; the header is only read.
 */
#include "lang.h"

#include <string.h>
#include <strings.h>

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

bool lang_code_ok(const char *s, size_t len)
{
	if (len < 2 || len > 3)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alpha(s[i]))
			return false;
	return true;
}

int lang_find(const char *s, size_t len, const char *const *codes, size_t n)
{
	if (!lang_code_ok(s, len))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strlen(codes[i]) == len && strncasecmp(codes[i], s, len) == 0)
			return (int)i;
	return -1;
}

/*
 * qvalue - RFC 9110's weight, "0", "0.5", "1.000", in thousandths; -1 when malformed.
 */
static int qvalue(const char *s, size_t len)
{
	int q;

	if (len == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (len == 1)
		return q;
	if (s[1] != '.' || len > 5)
		return -1;
	for (size_t i = 2, scale = 100; i < len; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * (int)scale;
	}
	return q <= 1000 ? q : -1;
}

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/*
 * range_weight - one range of the header, s[0..len): its weight in thousandths and
 * the length of its first subtag (0 for "*"); false when it is not well formed.
 */
static bool range_weight(const char *s, size_t len, size_t *primary, int *q)
{
	const char *end = s + len, *p;

	s = skip_blanks(s, end);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*q = 1000;
	if (s < end && *s == '*') {
		*primary = 0;
		p = s + 1;
	} else {
		for (p = s; p < end && is_alpha(*p) && p - s < 8; p++)
			;
		if (p == s || (p < end && is_alpha(*p)))
			return false;
		*primary = (size_t)(p - s);
		while (p < end && *p == '-') {
			const char *sub = ++p;
			for (; p < end && is_alnum(*p) && p - sub < 8; p++)
				;
			if (p == sub || (p < end && is_alnum(*p)))
				return false;
		}
	}
	p = skip_blanks(p, end);
	if (p == end)
		return true;
	if (*p != ';')
		return false;
	p = skip_blanks(p + 1, end);
	if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
		return false;
	*q = qvalue(p + 2, (size_t)(end - p - 2));
	return *q >= 0;
}

int lang_pick(const char *header, size_t len, const char *const *codes, size_t n)
{
	const char *s = header, *end = header + len;
	int best = -1, best_q = 0;
	bool star = false;

	for (unsigned ranges = 0; s != NULL && s < end && ranges < LANG_RANGES_MAX; ranges++) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *stop = comma ? comma : end;
		size_t primary;
		int q;

		if (range_weight(s, (size_t)(stop - s), &primary, &q) && q > best_q) {
			const char *tag = skip_blanks(s, stop);
			int i = primary == 0 ? -1 : lang_find(tag, primary, codes, n);
			if (primary == 0 || i >= 0) {
				best = i;
				best_q = q;
				star = primary == 0;
			}
		}
		s = comma ? comma + 1 : end;
	}
	return star ? -1 : best;
}
