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
	char domain[DOMAIN_SIZE]; /* the zone queried, as postscreen has it */
	char filter[128];         /* "" when none was given */
	long weight;
	/* A keyed zone (KEY.zen.dq.spamhaus.net): the list's public name, the zone with
	 * "$key" for the key, and the key file; public[0] is '\0' for other zones. */
	char public[DOMAIN_SIZE];
	char zone[DOMAIN_SIZE];
	const char *key_file;
	const char *service;
};

/*
 * Keyed services: a zone "KEY.LIST" + suffix holds a customer's key in its first
 * label. The section is named public_prefix LIST public_suffix, its zone is
 * "$key.LIST" + suffix, and the key is read from key_file.
 */
static const struct keyed_service {
	const char *suffix;        /* after the list's label, with its dot */
	const char *public_suffix; /* after the list's label in the public name */
	const char *key_file;
	const char *service;
} keyed_services[] = {
	{ ".dq.spamhaus.net", ".spamhaus.org", "/etc/policyd/dqs.key", "Spamhaus DQS" },
	{ ".mail.abusix.zone", ".mail.abusix.zone", "/etc/policyd/abusix.key",
	  "Abusix Mail Intelligence" },
};

/* is_sep - postscreen separates patterns with commas and whitespace. */
static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/*
 * keyed_zone - whether p->domain is a keyed service's zone, "KEY.LIST" + suffix
 * with one label each; if so its public name, shown zone and key file are set, and
 * the length of the key is returned (0: not keyed).
 */
static size_t keyed_zone(struct pattern *p)
{
	size_t len = strlen(p->domain);
	const char *dot = strchr(p->domain, '.');

	p->public[0] = '\0';
	if (dot == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(keyed_services) / sizeof(keyed_services[0]); i++) {
		const struct keyed_service *k = &keyed_services[i];
		size_t slen = strlen(k->suffix);
		const char *list = dot + 1, *suffix = p->domain + len - slen;
		if (len <= slen || suffix <= list || strcmp(suffix, k->suffix) != 0 ||
		    memchr(list, '.', (size_t)(suffix - list)) != NULL)
			continue;
		int n = (int)(suffix - list);
		snprintf(p->public, sizeof(p->public), "%.*s%s", n, list, k->public_suffix);
		snprintf(p->zone, sizeof(p->zone), "$key.%.*s%s", n, list, k->suffix);
		p->key_file = k->key_file;
		p->service = k->service;
		return (size_t)(dot - p->domain);
	}
	return 0;
}

/*
 * parse_pattern - "domain[=filter][*weight]" of len bytes into p. A keyed zone's
 * key is left out of what *bad points to, since the caller shows that.
 */
static bool parse_pattern(const char *s, size_t len, struct pattern *p, const char **err,
			  const char **bad)
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
	if (eq != NULL && star != NULL && eq > star)
		eq = NULL;
	size_t dlen = (size_t)((eq ? eq : star ? star : end) - s);
	if (domain_clean(s, dlen, p->domain, sizeof(p->domain)) == 0) {
		*err = "not a DNS zone";
		return false;
	}
	size_t key_len = keyed_zone(p);
	if (key_len > 0)
		*bad = s + key_len + 1;
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

/* header - a section's header and its keys before codes. */
static bool header(const struct pattern *p, bool allow, char *out, size_t size, size_t *used)
{
	const char *kind = allow ? "dnswl" : "dnsbl";

	if (p->public[0] == '\0')
		return append(out, size, used, "[%s %s]\nipv6 = yes\ncodes =", kind, p->domain);
	return append(
		out, size, used,
		"; %s through %s, a keyed zone: put your key alone on one line in\n; %s, owner root, group policyd, mode 0640 (policyd -t refuses\n; a key file that others can read). The key is never shown.\n[%s %s]\nzone = %s\nkey_file = %s\nipv6 = yes\ncodes =",
		p->public, p->service, p->key_file, kind, p->public, p->zone, p->key_file);
}

/*
 * section - one [KIND domain] section with the patterns of that domain whose
 * weight has the section's sign. A pattern without a filter takes any answer:
 * every 127/8 address (error answers never count, whatever the filter). A keyed
 * zone's section is named after the public list, queries the zone with "$key",
 * and says where the key goes: the key itself is never written out.
 */
static bool section(const struct pattern *pats, size_t n, size_t first, bool allow, char *out,
		    size_t size, size_t *used)
{
	bool any = false;

	for (size_t i = first; i < n; i++) {
		if (strcmp(pats[i].domain, pats[first].domain) != 0 ||
		    (pats[i].weight < 0) != allow)
			continue;
		if (!any && !header(&pats[first], allow, out, size, used))
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
	/* postconf -h prints one line: a line feed would start an INI line of its own. */
	for (const char *c = sites; *c; c++) {
		if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f) {
			*err = "a control character (a line feed?): expected the one line of postconf -h postscreen_dnsbl_sites";
			*bad = c + strlen(c); /* nothing of it is shown */
			return false;
		}
	}
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
		if (!parse_pattern(start, (size_t)(p - start), &pats[n], err, bad))
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
