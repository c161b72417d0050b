/*
 * postscreen - converting postscreen_dnsbl_sites into list sections (see
 * postscreen.h). Patterns are parsed and checked (the domain with domain_clean,
 * the filter with codes_parse) and grouped by domain in the order they first
 * appear; nothing is allocated beyond a fixed table on the stack.
 */
#include "postscreen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "domain.h"

/* The most patterns and domains converted: far beyond real configurations. */
#define MAX_PATTERNS 64

struct pattern {
	char domain[DOMAIN_SIZE];
	char filter[128]; /* "" when none was given */
	long weight;
};

/* is_sep - postscreen separates patterns with commas and whitespace. */
static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* parse_pattern - "domain[=filter][*weight]" of len bytes into p. */
static bool parse_pattern(const char *s, size_t len, struct pattern *p, const char **err)
{
	const char *star = NULL, *eq = memchr(s, '=', len), *end = s + len;
	struct codes check;
	long w = 1;

	for (const char *q = s + len; q > s; q--) {
		if (q[-1] == '*') {
			star = q - 1;
			break;
		}
	}
	if (star != NULL) {
		char num[16], *stop;
		size_t n = (size_t)(end - star - 1);
		if (n == 0 || n >= sizeof(num)) {
			*err = "expected a number after '*'";
			return false;
		}
		memcpy(num, star + 1, n);
		num[n] = '\0';
		w = strtol(num, &stop, 10);
		if (*stop != '\0' || w < -CODES_MAX_WEIGHT || w > CODES_MAX_WEIGHT) {
			*err = "the weight after '*' is not an integer of at most 1000000";
			return false;
		}
		end = star;
	}
	if (eq != NULL && eq > end)
		eq = NULL;
	size_t dlen = (size_t)((eq ? eq : end) - s);
	if (domain_clean(s, dlen, p->domain, sizeof(p->domain)) == 0) {
		*err = "not a DNS zone";
		return false;
	}
	p->filter[0] = '\0';
	if (eq != NULL) {
		size_t flen = (size_t)(end - eq - 1);
		if (flen == 0 || flen >= sizeof(p->filter)) {
			*err = "expected a filter after '='";
			return false;
		}
		memcpy(p->filter, eq + 1, flen);
		p->filter[flen] = '\0';
		/* One d.d.d.d pattern, as postscreen takes; our parser knows the syntax. */
		if (!codes_parse(&check, p->filter, flen, err) || check.count != 1)
			return false;
	}
	p->weight = w;
	return true;
}

/* append - formatted text into out; false when it does not fit. */
__attribute__((format(printf, 4, 5))) static bool append(char *out, size_t size, size_t *used,
							 const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *used)
		return false;
	*used += (size_t)n;
	return true;
}

/*
 * section - one [KIND domain] section with the patterns of that domain whose
 * weight has the section's sign. A pattern without a filter takes any answer:
 * every 127/8 address (error answers never count, whatever the filter).
 */
static bool section(const struct pattern *pats, size_t n, size_t first, bool allow, char *out,
		    size_t size, size_t *used)
{
	bool any = false;

	for (size_t i = first; i < n; i++) {
		if (strcmp(pats[i].domain, pats[first].domain) != 0 ||
		    (pats[i].weight < 0) != allow)
			continue;
		if (!any && !append(out, size, used, "[%s %s]\nipv6 = yes\ncodes =",
				    allow ? "dnswl" : "dnsbl", pats[first].domain))
			return false;
		if (!append(out, size, used, "%s %s*%ld", any ? "," : "",
			    pats[i].filter[0] ? pats[i].filter : "127.[0..255].[0..255].[0..255]",
			    pats[i].weight))
			return false;
		any = true;
	}
	return !any || append(out, size, used, "\n\n");
}

/* postscreen_convert - parse every pattern, then one or two sections per domain. */
bool postscreen_convert(const char *sites, char *out, size_t size, const char **err,
			const char **bad)
{
	struct pattern pats[MAX_PATTERNS];
	size_t n = 0, used = 0;
	const char *p = sites;

	if (size == 0)
		return false;
	out[0] = '\0';
	while (*p) {
		while (*p && is_sep(*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p && !is_sep(*p))
			p++;
		*bad = start;
		if (n == MAX_PATTERNS) {
			*err = "too many patterns";
			return false;
		}
		if (!parse_pattern(start, (size_t)(p - start), &pats[n], err))
			return false;
		n++;
	}
	if (n == 0) {
		*err = "no pattern: postscreen_dnsbl_sites is empty";
		*bad = sites;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(pats[j].domain, pats[i].domain) == 0;
		if (seen)
			continue;
		if (!section(pats, n, i, false, out, size, &used) ||
		    !section(pats, n, i, true, out, size, &used)) {
			*err = "the sections do not fit the output";
			return false;
		}
	}
	return true;
}
