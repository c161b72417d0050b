/*
 * help_view - the help page's values (see help.h): what the cache and the local
 * lists confirm about the asked address and domain, each list of the configuration,
 * the languages' links, the recheck form; and the render of the page in one
 * language. Also the recheck itself, which forgets what the cache holds.
 *
 * What the page may claim (issue 22's security review): a page served from the
 * site's own domain is believed, and anyone can craft its link. So from the
 * listener the address is called refused, a list named as the one that refused,
 * and &domain= turned into postmaster@DOMAIN only where the cache (or a local
 * blocklist) lists that address or domain now; the status of an address shows
 * blocklist listings only, never an allowlist, a negative result or a time, which
 * would tell anyone who talked to the site's MX and when.
 *
 * Memory: a render builds its values in one heap block (struct view), freed before
 * help_render returns; the values point into it, the configuration and the help.
 */
#include "help_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "domain.h"
#include "engine.h"
#include "nameset.h"
#include "rules.h"

/*
 * The names a template may use: the page's, each language's, then each list's (see
 * the comment at the top of contrib/help/template.html for what they mean). Names
 * that the page no longer fills (status_not_listed ... status_until: negative results
 * and times, which it must not show) stay known, always false or empty, so that a
 * site's own copy of an older template still loads.
 */
/* Grouped by line, not one name per line as clang-format would have them. */
/* clang-format off */
const char *const HELP_NAMES[] = {
	/* the page */
	"site", "contact", "ip", "domain", "postmaster", "list", "live", "status", "hit", "lists",
	"greylisted", "greylist_delay", "delay_count", "delay_seconds", "delay_minutes",
	"delay_hours", "delay_days", "delay_one", "lang", "languages", "query", "asked_ip", "listed",
	"recheck", "recheck_query", "rechecked", "recheck_nothing", "recheck_limited",
	/* each language */
	"code", "native", "link",
	/* each list, and the hit */
	"name", "kind", "is_dnsbl", "is_dnswl", "is_rhsbl", "is_hashbl", "is_local", "is_address", "is_domain",
	"is_allow", "delist_url", "reason", "is_hit", "type_sender_domain", "type_helo", "type_client_name",
	"type_recipient", "checks_sender", "checks_helo", "checks_client_name", "has_status",
	"status_listed", "status_not_listed", "status_unknown", "status_failed", "status_disabled",
	"status_not_asked", "status_reason", "status_until", "status_subject",
	NULL,
};
/* clang-format on */

/* How many values one list has, and the page. */
#define LIST_FIELDS 30
#define PAGE_FIELDS 28

/* What the page may say about one list for the asked address or domain. */
struct status {
	bool listed;         /* a blocklist lists the subject now */
	bool dns;            /* ... from the cache (a DNS list): a recheck can forget it */
	const char *subject; /* the address or the domain that is listed */
	const char *reason;
	size_t reason_len;
};

/* One list as the page sees it. */
struct list_view {
	struct page_field fields[LIST_FIELDS];
};

/* Everything one render needs besides the template. */
struct view {
	struct page_field page[PAGE_FIELDS];
	struct page_scope scopes[RULES_MAX_LISTS];
	struct list_view lists[RULES_MAX_LISTS];
	struct status status[RULES_MAX_LISTS];
	struct page_field lang_fields[HELP_LANGS_MAX][3];
	char lang_links[HELP_LANGS_MAX][1100];
	struct page_scope lang_scopes[HELP_LANGS_MAX];
	struct engine_list_peek peeks[RULES_MAX_LISTS], domain_peeks[RULES_MAX_LISTS];
	char asked_ip[ADDR_TEXT_MAX];
	char asked_domain[DOMAIN_SIZE];
	char postmaster[DOMAIN_SIZE + 16];
	char delay[32], delay_count[16];
	char query[1024], recheck_query[600];
};

/* Field builders: a name and its value. */
static struct page_field text_field(const char *name, const char *s)
{
	return (struct page_field){
		.name = name, .kind = PAGE_TEXT, .text = s, .len = s ? strlen(s) : 0
	};
}

static struct page_field url_field(const char *name, const char *s)
{
	return (struct page_field){
		.name = name, .kind = PAGE_URL, .text = s, .len = s ? strlen(s) : 0
	};
}

static struct page_field flag_field(const char *name, bool on)
{
	return (struct page_field){ .name = name, .kind = PAGE_FLAG, .on = on };
}

int help_find_list(const struct rules *r, const char *s)
{
	size_t len;

	if (s == NULL)
		return -1;
	len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		len--;
	for (size_t i = 0; i < r->list_count; i++) {
		const char *name = r->lists[i].name;
		if (strlen(name) == len && strncasecmp(name, s, len) == 0)
			return (int)i;
	}
	return -1;
}

/* is_address_list - a list of client addresses: what the status of ?ip= is about. */
static bool is_address_list(const struct list_config *l)
{
	return l->kind == LIST_DNSBL || l->kind == LIST_DNSWL ||
	       (l->kind == LIST_LOCAL && l->type == LOCAL_ADDRESS);
}

/* is_blocklist - a list whose listing counts against a sender, and can refuse. */
static bool is_blocklist(const struct list_config *l)
{
	return l->kind != LIST_DNSWL && l->weight >= 0 && !l->observe;
}

/* url_add - s to a query string, percent-encoded but for RFC 3986's unreserved bytes. */
static void url_add(char *out, size_t size, const char *s)
{
	size_t len = strlen(out);

	for (; *s != '\0' && len + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c) != NULL)
			out[len++] = (char)c;
		else
			len += (size_t)snprintf(out + len, size - len, "%%%02X", c);
	}
	out[len] = '\0';
}

/* query_add - "key=VALUE&" to a query string; nothing for a NULL or empty value. */
static void query_add(char *out, size_t size, const char *key, const char *value)
{
	size_t len = strlen(out);

	if (value == NULL || value[0] == '\0' || len + strlen(key) + 2 >= size)
		return;
	snprintf(out + len, size - len, "%s=", key);
	url_add(out, size - 1, value);
	len = strlen(out);
	snprintf(out + len, size - len, "&");
}

/*
 * delay_unit - greylisting's delay as a count and a unit, as reply_duration
 * (common/reply.c) says it in the SMTP reply: the largest whole unit, or one that
 * counts at least 2. The template words the unit in the page's language.
 */
static unsigned delay_unit(uint32_t s, uint32_t *count)
{
	static const uint32_t units[] = { 86400, 3600, 60, 1 };
	unsigned i = 0;

	if (s == 0)
		s = 1;
	while (i < 3 && s % units[i] != 0 && s / units[i] < 2)
		i++;
	*count = (s + units[i] - 1) / units[i];
	return i;
}

/* status_of - what list i may say about the asked address a or domain (see the top). */
static struct status status_of(const struct view *v, const struct list_config *l,
			       const struct engine_list_peek *peek, const struct addr *a,
			       bool have_domain)
{
	struct status s = { 0 };

	if (!is_blocklist(l))
		return s;
	if (a != NULL && l->kind == LIST_DNSBL && peek != NULL && peek->outcome == OUTCOME_LISTED)
		s = (struct status){ true, true, v->asked_ip, peek->reason, peek->reason_len };
	else if (a != NULL && l->kind == LIST_LOCAL && l->type == LOCAL_ADDRESS && l->set != NULL &&
		 cidr_set_contains(l->set, a))
		s = (struct status){ true, false, v->asked_ip, l->reason, 0 };
	else if (have_domain && l->kind == LIST_RHSBL && peek != NULL &&
		 peek->outcome == OUTCOME_LISTED)
		s = (struct status){ true, true, v->asked_domain, peek->reason, peek->reason_len };
	else if (have_domain && l->kind == LIST_LOCAL && l->type == LOCAL_SENDER_DOMAIN &&
		 l->names != NULL &&
		 name_set_has_domain(l->names, v->asked_domain, strlen(v->asked_domain)))
		s = (struct status){ true, false, v->asked_domain, l->reason, 0 };
	if (s.listed && !s.dns)
		s.reason_len = s.reason ? strlen(s.reason) : 0;
	return s;
}

/* fill_list - the values of list l; st is what it may say now. */
static size_t fill_list(struct list_view *v, const struct list_config *l, bool hit,
			const struct status *st)
{
	struct page_field *f = v->fields;
	size_t n = 0;

	f[n++] = text_field("name", l->name);
	f[n++] = text_field("kind", list_kind_name(l->kind));
	f[n++] = flag_field("is_dnsbl", l->kind == LIST_DNSBL);
	f[n++] = flag_field("is_dnswl", l->kind == LIST_DNSWL);
	f[n++] = flag_field("is_rhsbl", l->kind == LIST_RHSBL);
	f[n++] = flag_field("is_hashbl", l->kind == LIST_HASHBL);
	f[n++] = flag_field("is_local", l->kind == LIST_LOCAL);
	f[n++] = flag_field("is_address", is_address_list(l));
	f[n++] = flag_field("is_domain", !is_address_list(l));
	f[n++] = flag_field("is_allow", l->weight < 0);
	f[n++] = url_field("delist_url", l->delist_url);
	f[n++] = text_field("reason", l->reason);
	f[n++] = flag_field("is_hit", hit);
	f[n++] = flag_field("type_sender_domain",
			    l->kind == LIST_LOCAL && l->type == LOCAL_SENDER_DOMAIN);
	f[n++] = flag_field("type_helo", l->kind == LIST_LOCAL && l->type == LOCAL_HELO);
	f[n++] = flag_field("type_client_name",
			    l->kind == LIST_LOCAL && l->type == LOCAL_CLIENT_NAME);
	f[n++] = flag_field("type_recipient", l->kind == LIST_LOCAL && l->type == LOCAL_RECIPIENT);
	f[n++] = flag_field("checks_sender", l->kind == LIST_RHSBL && (l->checks & SOURCE_SENDER));
	f[n++] = flag_field("checks_helo", l->kind == LIST_RHSBL && (l->checks & SOURCE_HELO));
	f[n++] =
		flag_field("checks_client_name",
			   l->kind == LIST_RHSBL &&
				   (l->checks & (SOURCE_CLIENT_NAME | SOURCE_REVERSE_CLIENT_NAME)));
	f[n++] = flag_field("has_status", st->listed);
	f[n++] = flag_field("status_listed", st->listed);
	f[n++] = (struct page_field){ .name = "status_reason",
				      .kind = PAGE_TEXT,
				      .text = st->reason,
				      .len = st->reason_len };
	f[n++] = text_field("status_subject", st->subject);
	/* Never filled: negative results and times are not for a public page. */
	f[n++] = flag_field("status_not_listed", false);
	f[n++] = flag_field("status_unknown", false);
	f[n++] = flag_field("status_failed", false);
	f[n++] = flag_field("status_disabled", false);
	f[n++] = flag_field("status_not_asked", false);
	f[n++] = text_field("status_until", NULL);
	return n;
}

/* peek_of - the cache's view of list l among peeks filled by engine_peek(_domain). */
static const struct engine_list_peek *peek_of(const struct engine_list_peek *peeks, size_t n,
					      const struct list_config *l)
{
	for (size_t p = 0; p < n; p++)
		if (peeks[p].list == l)
			return &peeks[p];
	return NULL;
}

/* languages - the links to the page's other languages. */
static size_t languages(const struct help *h, struct view *v, size_t current)
{
	size_t n = 0;

	for (size_t i = 0; i < h->lang_count; i++) {
		if (i == current)
			continue;
		snprintf(v->lang_links[n], sizeof(v->lang_links[n]), "%slang=%s", v->query,
			 h->langs[i].code);
		v->lang_fields[n][0] = text_field("code", h->langs[i].code);
		v->lang_fields[n][1] = text_field("native", h->langs[i].native);
		v->lang_fields[n][2] = text_field("link", v->lang_links[n]);
		v->lang_scopes[n] = (struct page_scope){ v->lang_fields[n], 3 };
		n++;
	}
	return n;
}

bool help_render(const struct help *h, const struct config *cfg, struct engine *e, uint64_t now_ms,
		 const struct help_query *q, struct page_buf *out)
{
	const struct rules *r = &cfg->rules;
	struct view *v = calloc(1, sizeof(*v));
	struct addr a;
	bool have_ip, have_domain, live = e != NULL, ip_listed = false, domain_listed = false;
	bool dns_listed = false, listed = false;
	size_t peeked = 0, dpeeked = 0, n = 0, current = 0;
	uint32_t count;
	int hit;

	(void)now_ms;
	if (v == NULL) {
		out->failed = true;
		return false;
	}
	for (size_t i = 0; q->lang != NULL && i < h->lang_count; i++)
		if (strcmp(h->langs[i].code, q->lang) == 0)
			current = i;
	have_ip = q->ip != NULL && addr_parse(&a, q->ip, strlen(q->ip));
	if (have_ip)
		addr_format(&a, v->asked_ip, sizeof(v->asked_ip));
	have_domain =
		q->domain != NULL && domain_clean(q->domain, strlen(q->domain), v->asked_domain,
						  sizeof(v->asked_domain)) > 0;
	hit = help_find_list(r, q->list);
	/* The bounce names the list that refused: an allowlist or an observed list never does. */
	if (hit >= 0 && !is_blocklist(&r->lists[hit]))
		hit = -1;
	/* The engine peeks into its own configuration, which is cfg for the listener. */
	if (live && engine_config(e) == cfg) {
		if (have_ip)
			peeked = engine_peek(e, &a, v->peeks, RULES_MAX_LISTS);
		if (have_domain)
			dpeeked = engine_peek_domain(e, v->asked_domain, strlen(v->asked_domain),
						     v->domain_peeks, RULES_MAX_LISTS);
	}

	size_t list_count = r->list_count < RULES_MAX_LISTS ? r->list_count : RULES_MAX_LISTS;
	for (size_t i = 0; live && i < list_count; i++) {
		const struct list_config *l = &r->lists[i];
		const struct engine_list_peek *p = l->kind == LIST_RHSBL
							   ? peek_of(v->domain_peeks, dpeeked, l)
							   : peek_of(v->peeks, peeked, l);
		struct status *st = &v->status[i];
		*st = status_of(v, l, p, have_ip ? &a : NULL, have_domain);
		listed |= st->listed;
		dns_listed |= st->listed && st->dns;
		ip_listed |= st->listed && st->subject == v->asked_ip;
		domain_listed |= st->listed && st->subject == v->asked_domain;
	}
	if (live) {
		/* Claim nothing the cache does not show (see the top of this file). */
		if (hit >= 0 && !v->status[hit].listed)
			hit = -1;
		have_domain &= domain_listed;
	}
	if (have_domain)
		snprintf(v->postmaster, sizeof(v->postmaster), "postmaster@%s", v->asked_domain);
	for (size_t i = 0; i < list_count; i++)
		v->scopes[i] = (struct page_scope){ v->lists[i].fields,
						    fill_list(&v->lists[i], &r->lists[i],
							      (int)i == hit, &v->status[i]) };
	if (live) {
		query_add(v->query, sizeof(v->query), "ip", have_ip ? v->asked_ip : NULL);
		/* Only what the page shows: a crafted value is not carried into its links. */
		query_add(v->query, sizeof(v->query), "list", hit >= 0 ? r->lists[hit].name : NULL);
		query_add(v->query, sizeof(v->query), "domain",
			  have_domain ? v->asked_domain : NULL);
		query_add(v->query, sizeof(v->query), "greylisted", q->greylisted ? "1" : NULL);
		query_add(v->recheck_query, sizeof(v->recheck_query), "ip", v->asked_ip);
		query_add(v->recheck_query, sizeof(v->recheck_query), "domain",
			  have_domain ? v->asked_domain : NULL);
		query_add(v->recheck_query, sizeof(v->recheck_query), "lang",
			  h->langs[current].code);
		size_t len = strlen(v->recheck_query);
		if (len > 0)
			v->recheck_query[len - 1] = '\0'; /* the last '&' */
	}

	const char *shown_ip = !have_ip ? NULL : !live || ip_listed ? v->asked_ip : NULL;
	unsigned unit = delay_unit(r->greylist.delay_s, &count);
	struct page_field *f = v->page;
	f[n++] = text_field("site", r->site);
	f[n++] = text_field("contact", r->contact);
	f[n++] = text_field("ip", shown_ip);
	f[n++] = text_field("domain", have_domain ? v->asked_domain : NULL);
	f[n++] = text_field("postmaster", v->postmaster);
	f[n++] = text_field("list", hit >= 0 ? r->lists[hit].name : NULL);
	f[n++] = flag_field("live", live);
	/* A delay only where greylisting runs: an old link after it was turned off says refused. */
	f[n++] = flag_field("greylisted", q->greylisted && r->soft_action == ACTION_GREYLIST);
	reply_duration(r->greylist.delay_s, v->delay, sizeof(v->delay));
	f[n++] = text_field("greylist_delay", v->delay);
	snprintf(v->delay_count, sizeof(v->delay_count), "%u", count);
	f[n++] = text_field("delay_count", v->delay_count);
	f[n++] = flag_field("delay_days", unit == 0);
	f[n++] = flag_field("delay_hours", unit == 1);
	f[n++] = flag_field("delay_minutes", unit == 2);
	f[n++] = flag_field("delay_seconds", unit == 3);
	f[n++] = flag_field("delay_one", count == 1);
	f[n++] = flag_field("status", live && have_ip);
	f[n++] = text_field("asked_ip", live && have_ip ? v->asked_ip : NULL);
	f[n++] = flag_field("listed", listed);
	f[n++] = flag_field("recheck", live && have_ip && dns_listed);
	f[n++] = text_field("recheck_query", v->recheck_query);
	f[n++] = flag_field("rechecked", q->recheck == HELP_RECHECK_DONE);
	f[n++] = flag_field("recheck_nothing", q->recheck == HELP_RECHECK_NOTHING);
	f[n++] = flag_field("recheck_limited", q->recheck == HELP_RECHECK_LIMITED);
	f[n++] = text_field("lang", h->langs[current].code);
	f[n++] = text_field("query", v->query);
	f[n++] = (struct page_field){ .name = "languages",
				      .kind = PAGE_LIST,
				      .items = v->lang_scopes,
				      .count = languages(h, v, current) };
	f[n++] = (struct page_field){ .name = "hit",
				      .kind = PAGE_LIST,
				      .items = hit >= 0 ? &v->scopes[hit] : NULL,
				      .count = hit >= 0 ? 1 : 0 };
	f[n++] = (struct page_field){
		.name = "lists", .kind = PAGE_LIST, .items = v->scopes, .count = list_count
	};
	struct page_scope root = { v->page, n };
	bool ok = page_render(h->langs[current].page, &root, out);
	free(v);
	return ok;
}

size_t help_recheck(struct engine *e, const struct addr *a, const char *domain)
{
	struct engine_list_peek *peeks = calloc(2 * RULES_MAX_LISTS, sizeof(*peeks));
	size_t n, listed = 0;

	if (peeks == NULL)
		return 0;
	n = engine_peek(e, a, peeks, RULES_MAX_LISTS);
	if (domain != NULL)
		n += engine_peek_domain(e, domain, strlen(domain), peeks + n, RULES_MAX_LISTS);
	for (size_t i = 0; i < n; i++)
		listed += is_blocklist(peeks[i].list) && peeks[i].outcome == OUTCOME_LISTED;
	free(peeks);
	return listed > 0 ? engine_forget(e, a, domain, domain ? strlen(domain) : 0) : 0;
}
