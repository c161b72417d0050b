/*
 * help - the help page (see help.h): loading help_dir, validating the query,
 * and turning the configuration and the cache's peek into the page's values.
 *
 * Memory: struct help owns its template and asset bytes. A render builds its
 * values in one heap block (struct view), freed before help_render returns.
 */
#include "help.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "build_config.h"
#include "domain.h"
#include "engine.h"
#include "rules.h"

/* The largest template or asset read from help_dir. */
#define HELP_FILE_MAX ((size_t)256 << 10)

struct help {
	char *dir;
	struct page_template *page;
	char *style, *logo;
	size_t style_len, logo_len;
};

/*
 * The names a template may use: the page's, then each list's (see the comment at
 * the top of contrib/help/template.html for what they mean).
 */
/* Grouped by line, not one name per line as clang-format would have them. */
/* clang-format off */
static const char *const NAMES[] = {
	/* the page */
	"site", "contact", "ip", "domain", "postmaster", "list", "live", "status", "hit", "lists",
	"greylisted", "greylist_delay",
	/* each list, and the hit */
	"name", "kind", "is_dnsbl", "is_dnswl", "is_rhsbl", "is_hashbl", "is_local", "is_address", "is_domain",
	"is_allow", "delist_url", "reason", "is_hit", "type_sender_domain", "type_helo", "type_client_name",
	"type_recipient", "checks_sender", "checks_helo", "checks_client_name", "has_status",
	"status_listed", "status_not_listed", "status_unknown", "status_failed", "status_disabled",
	"status_not_asked", "status_reason", "status_until",
	NULL,
};
/* clang-format on */

/* How many values one list has, and the page. */
#define LIST_FIELDS 29
#define PAGE_FIELDS 12

/* One list as the page sees it. */
struct list_view {
	struct page_field fields[LIST_FIELDS];
	char until[40];
};

/* Everything one render needs besides the template. */
struct view {
	struct page_field page[PAGE_FIELDS];
	struct page_scope scopes[RULES_MAX_LISTS];
	struct list_view lists[RULES_MAX_LISTS];
	struct engine_list_peek peeks[RULES_MAX_LISTS];
	const struct engine_list_peek *peek_of[RULES_MAX_LISTS]; /* by list index; NULL: none */
	char ip[ADDR_TEXT_MAX];
	char domain[DOMAIN_SIZE];
	char postmaster[DOMAIN_SIZE + 16];
	char delay[32];
};

/* read_in - a file of dir into *out; false with a message in err. */
static bool read_in(const char *dir, const char *name, char **out, size_t *len, char *err,
		    size_t errsize)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*out = config_read_file(path, HELP_FILE_MAX, len);
	if (*out == NULL) {
		snprintf(err, errsize, "%s: cannot read: %s", path,
			 errno == EINVAL  ? "not a regular file"
			 : errno == EFBIG ? "larger than 256 KiB"
					  : strerror(errno));
		return false;
	}
	return true;
}

struct help *help_load(const char *dir, char *err, size_t errsize)
{
	struct help *h = calloc(1, sizeof(*h));
	struct page_error perr;
	char *text = NULL;
	size_t len;

	if (h == NULL || (h->dir = strdup(dir)) == NULL) {
		snprintf(err, errsize, "out of memory");
		help_free(h);
		return NULL;
	}
	if (!read_in(dir, HELP_TEMPLATE, &text, &len, err, errsize) ||
	    !read_in(dir, HELP_STYLE, &h->style, &h->style_len, err, errsize) ||
	    !read_in(dir, HELP_LOGO, &h->logo, &h->logo_len, err, errsize)) {
		free(text);
		help_free(h);
		return NULL;
	}
	h->page = page_compile(text, len, NAMES, &perr);
	free(text);
	if (h->page == NULL) {
		snprintf(err, errsize, "%s/%s:%u: %s", dir, HELP_TEMPLATE, perr.line, perr.message);
		help_free(h);
		return NULL;
	}
	return h;
}

void help_free(struct help *h)
{
	if (h == NULL)
		return;
	page_free(h->page);
	free(h->style);
	free(h->logo);
	free(h->dir);
	free(h);
}

const char *help_dir(const struct help *h)
{
	return h->dir;
}

const char *help_asset(const struct help *h, const char *name, size_t *len, const char **type)
{
	if (strcmp(name, HELP_STYLE) == 0) {
		*len = h->style_len, *type = "text/css; charset=utf-8";
		return h->style;
	}
	if (strcmp(name, HELP_LOGO) == 0) {
		*len = h->logo_len, *type = "image/svg+xml";
		return h->logo;
	}
	return NULL;
}

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

/* find_list - the configured list named s (any case, a final dot allowed), or -1. */
static int find_list(const struct rules *r, const char *s)
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

/* format_until - the wall-clock time of a cache expiry (cache seconds) as UTC. */
static void format_until(uint64_t expires, uint64_t now_ms, char *out, size_t size)
{
	time_t when = time(NULL);
	uint64_t now = now_ms / 1000;
	struct tm tm;

	when += expires > now ? (time_t)(expires - now) : 0;
	if (gmtime_r(&when, &tm) == NULL || strftime(out, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		out[0] = '\0';
}

/* The status of one address list for the page's address. */
struct status {
	bool known, listed, not_listed, unknown, failed, disabled, not_asked;
	const char *reason;
	size_t reason_len;
};

/* status_of_peek - what the cache said about a DNS list. */
static struct status status_of_peek(const struct engine_list_peek *p, const struct addr *a,
				    uint64_t now_ms, char *until, size_t until_size)
{
	struct status s = { .known = true };

	(void)a;
	if (p->not_asked) {
		s.not_asked = true;
		return s;
	}
	if (p->disabled)
		s.disabled = true;
	switch (p->outcome) {
	case OUTCOME_LISTED:
		s.listed = true;
		s.reason = p->reason;
		s.reason_len = p->reason_len;
		format_until(p->expires, now_ms, until, until_size);
		break;
	case OUTCOME_NOT_LISTED:
		s.not_listed = true;
		format_until(p->expires, now_ms, until, until_size);
		break;
	case OUTCOME_PENDING:
	case OUTCOME_NOT_APPLICABLE: s.unknown = true; break;
	default: s.failed = true; break;
	}
	return s;
}

/* status_of_local - a local address list: its set says it, no cache needed. */
static struct status status_of_local(const struct list_config *l, const struct addr *a)
{
	struct status s = { .known = true };

	if (l->set != NULL && cidr_set_contains(l->set, a)) {
		s.listed = true;
		s.reason = l->reason;
		s.reason_len = l->reason ? strlen(l->reason) : 0;
	} else {
		s.not_listed = true;
	}
	return s;
}

/* fill_list - the values of list l; st is its status (known false: none shown). */
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
	f[n++] = flag_field("has_status", st->known);
	f[n++] = flag_field("status_listed", st->listed);
	f[n++] = flag_field("status_not_listed", st->not_listed);
	f[n++] = flag_field("status_unknown", st->unknown);
	f[n++] = flag_field("status_failed", st->failed);
	f[n++] = flag_field("status_disabled", st->disabled);
	f[n++] = flag_field("status_not_asked", st->not_asked);
	f[n++] = (struct page_field){ .name = "status_reason",
				      .kind = PAGE_TEXT,
				      .text = st->reason,
				      .len = st->reason_len };
	f[n++] = text_field("status_until", v->until);
	return n;
}

bool help_render(const struct help *h, const struct config *cfg, struct engine *e, uint64_t now_ms,
		 const struct help_query *q, struct page_buf *out)
{
	const struct rules *r = &cfg->rules;
	struct view *v = calloc(1, sizeof(*v));
	struct addr a;
	bool have_ip, live = e != NULL;
	size_t peeked = 0, n = 0;
	int hit;

	if (v == NULL) {
		out->failed = true;
		return false;
	}
	have_ip = q->ip != NULL && addr_parse(&a, q->ip, strlen(q->ip));
	if (have_ip)
		addr_format(&a, v->ip, sizeof(v->ip));
	if (q->domain != NULL &&
	    domain_clean(q->domain, strlen(q->domain), v->domain, sizeof(v->domain)) > 0)
		snprintf(v->postmaster, sizeof(v->postmaster), "postmaster@%s", v->domain);
	hit = find_list(r, q->list);
	/* The bounce names the list that refused: an allowlist or an observed list never does. */
	if (hit >= 0 && (r->lists[hit].kind == LIST_DNSWL || r->lists[hit].observe))
		hit = -1;
	/* The engine peeks into its own configuration, which is cfg for the listener. */
	if (live && have_ip && engine_config(e) == cfg)
		peeked = engine_peek(e, &a, v->peeks, RULES_MAX_LISTS);
	for (size_t p = 0; p < peeked; p++) {
		size_t i = (size_t)(v->peeks[p].list - r->lists);
		if (i < r->list_count && i < RULES_MAX_LISTS)
			v->peek_of[i] = &v->peeks[p];
	}

	for (size_t i = 0; i < r->list_count && i < RULES_MAX_LISTS; i++) {
		const struct list_config *l = &r->lists[i];
		struct list_view *lv = &v->lists[i];
		struct status st = { 0 };

		if (live && have_ip && l->kind == LIST_LOCAL && l->type == LOCAL_ADDRESS)
			st = status_of_local(l, &a);
		else if (live && have_ip && v->peek_of[i] != NULL)
			st = status_of_peek(v->peek_of[i], &a, now_ms, lv->until,
					    sizeof(lv->until));
		v->scopes[i] =
			(struct page_scope){ lv->fields, fill_list(lv, l, (int)i == hit, &st) };
	}

	struct page_field *f = v->page;
	f[n++] = text_field("site", r->site);
	f[n++] = text_field("contact", r->contact);
	f[n++] = text_field("ip", v->ip);
	f[n++] = text_field("domain", v->domain);
	f[n++] = text_field("postmaster", v->postmaster);
	f[n++] = text_field("list", hit >= 0 ? r->lists[hit].name : NULL);
	f[n++] = flag_field("live", live);
	/* A delay only where greylisting runs: an old link after it was turned off says refused. */
	f[n++] = flag_field("greylisted", q->greylisted && r->soft_action == ACTION_GREYLIST);
	reply_duration(r->greylist.delay_s, v->delay, sizeof(v->delay));
	f[n++] = text_field("greylist_delay", v->delay);
	f[n++] = flag_field("status", live && have_ip);
	f[n++] = (struct page_field){ .name = "hit",
				      .kind = PAGE_LIST,
				      .items = hit >= 0 ? &v->scopes[hit] : NULL,
				      .count = hit >= 0 ? 1 : 0 };
	f[n++] = (struct page_field){ .name = "lists",
				      .kind = PAGE_LIST,
				      .items = v->scopes,
				      .count = r->list_count < RULES_MAX_LISTS ? r->list_count
									       : RULES_MAX_LISTS };
	struct page_scope root = { v->page, n };
	bool ok = page_render(h->page, &root, out);
	free(v);
	return ok;
}

const char *help_default_dir(void)
{
	static char dir[PATH_MAX];
	static bool known;
	char exe[PATH_MAX];
	ssize_t n;

	if (known)
		return dir;
	known = true;
	snprintf(dir, sizeof(dir), "%s", POLICYD_HELP_DIR);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return dir;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return dir;
	*slash = '\0';
	/* BUILD/policyd/policyd: BUILD/contrib/help, the link to the sources' copy. */
	char built[PATH_MAX + 64];
	snprintf(built, sizeof(built), "%s/../contrib/help", exe);
	char template[PATH_MAX + 80];
	snprintf(template, sizeof(template), "%s/template.html", built);
	if (strlen(built) < sizeof(dir) && access(template, R_OK) == 0)
		snprintf(dir, sizeof(dir), "%s", built);
	return dir;
}

int help_print(const struct config *cfg, const struct help_query *q)
{
	const char *dir = cfg->http_help_dir ? cfg->http_help_dir : help_default_dir();
	struct page_buf out = { .max = HELP_PAGE_MAX };
	char err[600], domain[DOMAIN_SIZE];
	struct help *h = help_load(dir, err, sizeof(err));
	struct addr a;
	int rc = 0;

	if (h == NULL) {
		fprintf(stderr, "policyd: help page: %s\n", err);
		return 1;
	}
	if (q == NULL) {
		help_free(h);
		return 0;
	}
	if (q->ip != NULL && !addr_parse(&a, q->ip, strlen(q->ip))) {
		fprintf(stderr, "policyd: --ip: not an IPv4 or IPv6 address\n");
		rc = 1;
	}
	if (q->list != NULL && find_list(&cfg->rules, q->list) < 0) {
		fprintf(stderr, "policyd: --list: no such list in %s\n", cfg->path);
		rc = 1;
	}
	if (q->domain != NULL &&
	    domain_clean(q->domain, strlen(q->domain), domain, sizeof(domain)) == 0) {
		fprintf(stderr, "policyd: --domain: not a domain name\n");
		rc = 1;
	}
	if (rc == 0 && !help_render(h, cfg, NULL, 0, q, &out)) {
		fprintf(stderr, "policyd: help page: out of memory or too long\n");
		rc = 1;
	}
	if (rc == 0 && (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)) {
		fprintf(stderr, "policyd: writing the help page: %s\n", strerror(errno));
		rc = 1;
	}
	page_buf_free(&out);
	help_free(h);
	return rc;
}
