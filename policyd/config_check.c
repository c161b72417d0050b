/*
 * config_check - what the loader checks once the whole file is read: required
 * and related values, the reply's budget (the help URL and the contact must fit
 * whole), defaults that depend on other keys, warnings an administrator should
 * see in `policyd -t` (a resolver off loopback, example.org left in the contact),
 * and the local list files, which are read now so that -t and SIGHUP see their
 * errors. Everything it builds belongs to the config being loaded.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "domain.h"
#include "nameset.h"
#include "reply.h"
#include "template.h"

/* The built-in reply texts; "Your $rbl_listed" says what is listed: host, sender domain, ... */
static const char default_text[] =
	"Your $rbl_listed is blacklisted by $rbl_domain${rbl_reason?: $rbl_reason}. See $help_url or send your questions to $contact";
static const char default_local_text[] =
	"Your $rbl_listed is blacklisted by this site${rbl_reason?: $rbl_reason}. See $help_url or send your questions to $contact";
/* A greylisting delay: said to be one, with when to retry and why. */
static const char default_greylist_text[] =
	"Greylisted: please retry in $greylist_retry; this message is delayed, not refused, because your $rbl_listed is listed by $rbl_domain. See $help_url or send your questions to $contact";

/* The longest text of an address a URL may carry: an IPv6 address. */
#define ADDRESS_TEXT_LONGEST 39

/* config_read_file - see config.h: non-blocking open, regular files only, size checked first. */
char *config_read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf;
	size_t used = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		return NULL;
	}
	/* The file may grow while it is read: read at most max + 1 bytes and refuse more. */
	size_t cap = (size_t)st.st_size + 1 < max + 1 ? (size_t)st.st_size + 1 : max + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap) {
			/* Grown since fstat: take it only if it is still within max. */
			char *grown = cap > max
					      ? NULL
					      : realloc(buf, cap * 2 > max + 1 ? max + 1 : cap * 2);
			if (grown == NULL) {
				free(buf);
				close(fd);
				errno = EFBIG;
				return NULL;
			}
			buf = grown;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
		}
	}
	close(fd);
	buf[used] = '\0';
	*len = used;
	return buf;
}

/* The context of a list file's error messages. */
struct file_errors {
	const char *file;
	config_error_fn *on_error;
	void *ctx;
	unsigned errors;
};

/* file_error - "FILE:LINE: message" for a bad line of a list file. */
static void file_error(void *arg, unsigned line, const char *message)
{
	struct file_errors *fe = arg;
	char full[1200];

	snprintf(full, sizeof(full), "%s:%u: %s", fe->file, line, message);
	fe->errors++;
	fe->on_error(fe->ctx, full);
}

/* config_load_list - see config.h. */
bool config_load_list(const struct list_config *l, const char *config_name, struct cidr_set **set,
		      struct name_set **names, config_error_fn *on_error, void *ctx,
		      unsigned *open_line)
{
	struct file_errors fe = { l->file, on_error, ctx, 0 };
	size_t len = 0;
	char *text = config_read_file(l->file, CONFIG_LIST_FILE_MAX, &len);
	char message[1200];

	*set = NULL;
	*names = NULL;
	*open_line = 0;
	if (text == NULL) {
		snprintf(message, sizeof(message), "%s:%u: [list %s] cannot read %s: %s",
			 config_name, l->line, l->name, l->file,
			 errno == EINVAL  ? "not a regular file"
			 : errno == EFBIG ? "file too large"
					  : strerror(errno));
		on_error(ctx, message);
		return false;
	}
	/* A writer that has not finished leaves the last line open: count it for the caller. */
	if (len > 0 && text[len - 1] != '\n') {
		unsigned lines = 1;
		for (const char *p = text; (p = memchr(p, '\n', len - (size_t)(p - text))) != NULL;
		     p++)
			lines++;
		*open_line = lines;
	}
	if (l->type == LOCAL_ADDRESS) {
		*set = cidr_set_new();
		if (*set == NULL || cidr_set_load_text(*set, text, len, file_error, &fe) < 0)
			fe.errors++;
		else
			cidr_set_finish(*set);
	} else {
		enum name_kind kind = l->type == LOCAL_RECIPIENT ? NAMES_RECIPIENTS : NAMES_DOMAINS;
		*names = name_set_load(kind, text, len, file_error, &fe);
		if (*names == NULL)
			fe.errors++;
	}
	free(text);
	if (fe.errors > 0) {
		cidr_set_free(*set);
		name_set_free(*names);
		*set = NULL;
		*names = NULL;
	}
	return fe.errors == 0;
}

/* loader_file_error - list file errors count as the configuration's errors. */
static void loader_file_error(void *arg, const char *message)
{
	struct loader *ld = arg;

	ld->errors++;
	ld->on_error(ld->ctx, message);
}

/*
 * loader_resolve_relative - a relative list or key file is taken relative to the
 * configuration file's directory, so that a configuration and its files can move
 * together.
 */
void loader_resolve_relative(struct loader *ld, char **path)
{
	const char *slash = strrchr(ld->name, '/');
	char *joined;

	if ((*path)[0] == '/' || slash == NULL)
		return;
	size_t dir_len = (size_t)(slash - ld->name);
	joined = malloc(dir_len + 1 + strlen(*path) + 1);
	if (joined == NULL)
		return;
	sprintf(joined, "%.*s/%s", (int)dir_len, ld->name, *path);
	free(*path);
	*path = joined;
}

/* finish_list - checks of one list section that need all its keys; local files are read. */
static void finish_list(struct loader *ld, struct list_config *l)
{
	if (l->kind == LIST_HASHBL && !l->health_off &&
	    (l->test_point[0] == NULL || l->test_point[1] == NULL))
		loader_error(
			ld, l->line,
			"[hashbl %s] needs test_listed and test_unlisted (addresses the list lists and does not: hashed lists have no standard test points), or health = off",
			l->name);
	if (l->kind != LIST_LOCAL) {
		loader_finish_zone(ld, l);
		return;
	}
	if (l->file == NULL) {
		loader_error(ld, l->line, "[list %s] needs file = PATH", l->name);
		return;
	}
	loader_resolve_relative(ld, &l->file);
	unsigned open_line = 0;
	/*
	 * A last line without a newline may be a file caught while it is written; at start,
	 * in -t and on SIGHUP it is read as it is (an empty list would be worse), with a
	 * warning, and the watch reads the file again when its writer finishes.
	 */
	if (config_load_list(l, ld->name, &l->set, &l->names, loader_file_error, ld, &open_line) &&
	    open_line > 0) {
		char message[1200];

		snprintf(
			message, sizeof(message),
			"%s:%u: warning: the last line has no newline (a file still being written?); read as it is",
			l->file, open_line);
		ld->on_error(ld->ctx, message);
	}
}

/* set_cidrs - a default CIDR list. */
static void set_cidrs(struct loader *ld, struct cidr_set **slot, const char *text, unsigned line)
{
	const char *err = NULL;

	if (*slot != NULL)
		return;
	*slot = cidr_set_new();
	if (*slot == NULL || !cidr_set_parse_list(*slot, text, strlen(text), &err, NULL, NULL))
		loader_error(ld, line, "out of memory");
	else
		cidr_set_finish(*slot);
}

/* compile_default - a built-in template. */
static struct template *compile_default(struct loader *ld, const char *text, unsigned line)
{
	const char *err = NULL;
	size_t offset = 0;
	struct template *t = reply_template_compile(text, strlen(text), &err, &offset);

	if (t == NULL)
		loader_error(ld, line, "built-in text: %s", err);
	return t;
}

/* The state of help URL measurement: the longest a macro can expand to. */
struct url_measure {
	size_t longest_list;
	size_t variable; /* bytes the macros may add at most */
	bool unbounded;  /* a request attribute other than the ones we know */
};

/* measure_macro - the worst case of one help_url macro. */
static void measure_macro(void *arg, const char *name, size_t len)
{
	struct url_measure *m = arg;

	if (len == 14 && memcmp(name, "client_address", 14) == 0)
		m->variable += ADDRESS_TEXT_LONGEST;
	else if (len == 10 && memcmp(name, "rbl_domain", 10) == 0)
		m->variable += m->longest_list;
	else if (len == 8 && memcmp(name, "rbl_code", 8) == 0)
		m->variable += 15;
	/* Request values (sender_domain, helo_name...) are dropped from a URL that
	 * would be too long, so they do not count here. */
}

/* check_help_url - the URL with its macros at their longest must fit REPLY_HELP_URL_MAX. */
static size_t check_help_url(struct loader *ld, const struct template *t, unsigned line,
			     const char *where)
{
	struct url_measure m = { 0 };
	const struct rules *r = &ld->cfg->rules;
	size_t worst;

	if (t == NULL)
		return 0;
	for (size_t i = 0; i < r->list_count; i++)
		if (strlen(r->lists[i].name) > m.longest_list)
			m.longest_list = strlen(r->lists[i].name);
	template_each_name(t, measure_macro, &m);
	worst = template_literal_len(t) + m.variable;
	if (worst > REPLY_HELP_URL_MAX)
		loader_error(
			ld, line,
			"%s: the URL can be %zu bytes long with its macros expanded; at most %d fit, and a URL is never cut (shorten it)",
			where, worst, REPLY_HELP_URL_MAX);
	return worst;
}

/* check_contact - a plain mail address that fits whole. */
static void check_contact(struct loader *ld, const char *contact, unsigned line)
{
	size_t len = strlen(contact);

	if (len > REPLY_CONTACT_MAX)
		loader_error(ld, line,
			     "contact: %zu bytes; at most %d fit, and the contact is never cut",
			     len, REPLY_CONTACT_MAX);
	if (strchr(contact, '@') == NULL || strpbrk(contact, " \t<>\"") != NULL)
		loader_error(
			ld, line,
			"contact: expected a plain mail address such as postmaster@example.org");
}

/* check_reply - the text's own words, the longest help URL and the contact must fit 400 bytes. */
static void check_reply(struct loader *ld, const struct template *text, size_t url, unsigned line)
{
	const struct rules *r = &ld->cfg->rules;
	size_t contact = r->contact ? strlen(r->contact) : 0;
	size_t fixed = template_literal_len(text) + url + contact;

	if (fixed > REPLY_TEXT_MAX)
		loader_error(
			ld, line,
			"text: its own words (%zu bytes), the help URL (up to %zu) and the contact (%zu) need more than the %d bytes of a reply",
			template_literal_len(text), url, contact, REPLY_TEXT_MAX);
}

/* add_attr - remember one request attribute that a template shows. */
static void add_attr(void *arg, const char *name, size_t len)
{
	struct rules *r = arg;
	char **grown;

	for (size_t i = 0; i < r->reply_attr_count; i++)
		if (strlen(r->reply_attrs[i]) == len && memcmp(r->reply_attrs[i], name, len) == 0)
			return;
	grown = realloc(r->reply_attrs, (r->reply_attr_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return;
	r->reply_attrs = grown;
	if ((grown[r->reply_attr_count] = strndup(name, len)) != NULL)
		r->reply_attr_count++;
}

/* check_templates - budgets, required values, and the attributes replies may show. */
static void check_templates(struct loader *ld)
{
	struct rules *r = &ld->cfg->rules;
	unsigned policy_line =
		ld->section_line[SECTION_POLICY] ? ld->section_line[SECTION_POLICY] : 1;
	size_t url = check_help_url(ld, r->help_url,
				    loader_key_line(ld, SECTION_POLICY, "help_url"), "help_url");

	if (r->text == NULL) {
		r->text = compile_default(ld, default_text, policy_line);
		r->local_text = compile_default(ld, default_local_text, policy_line);
	}
	for (size_t i = 0; i < r->list_count; i++) {
		struct list_config *l = &r->lists[i];
		const struct template *text = l->text ? l->text
					      : l->kind == LIST_LOCAL && r->local_text
						      ? r->local_text
						      : r->text;
		size_t list_url =
			l->help_url ? check_help_url(ld, l->help_url, l->line, "help_url") : url;
		if (text != NULL && template_uses(text, "help_url") && list_url == 0 &&
		    r->help_url == NULL)
			loader_error(
				ld, l->line,
				"[%s %s]: the reply text uses $help_url: set help_url = URL in [policy] or in this section",
				list_kind_name(l->kind), l->name);
		if (text != NULL)
			check_reply(ld, text, list_url, l->text ? l->line : policy_line);
		if (l->text)
			template_each_name(l->text, add_attr, r);
		if (l->help_url)
			template_each_name(l->help_url, add_attr, r);
	}
	if (r->text != NULL && template_uses(r->text, "contact") && r->contact == NULL)
		loader_error(ld, policy_line,
			     "the reply text uses $contact: set contact = ADDRESS");
	if (r->text != NULL && template_uses(r->text, "help_url") && r->help_url == NULL)
		loader_error(ld, policy_line, "the reply text uses $help_url: set help_url = URL");
	if (r->soft_action == ACTION_GREYLIST) {
		unsigned line = loader_key_line(ld, SECTION_GREYLIST, "text");
		if (r->greylist_text == NULL)
			r->greylist_text = compile_default(ld, default_greylist_text, line);
		if (r->greylist_text != NULL) {
			if (template_uses(r->greylist_text, "contact") && r->contact == NULL)
				loader_error(
					ld, line,
					"the greylisting text uses $contact: set contact = ADDRESS in [policy]");
			if (template_uses(r->greylist_text, "help_url") && r->help_url == NULL)
				loader_error(
					ld, line,
					"the greylisting text uses $help_url: set help_url = URL in [policy]");
			/* The help URL of a delay carries "&greylisted=1" (reply.c). */
			check_reply(ld, r->greylist_text, url ? url + 13 : 0, line);
			template_each_name(r->greylist_text, add_attr, r);
		}
	}
	if (r->contact != NULL) {
		check_contact(ld, r->contact, loader_key_line(ld, SECTION_POLICY, "contact"));
		r->contact_len = strlen(r->contact);
	}
	if (r->text)
		template_each_name(r->text, add_attr, r);
	if (r->local_text)
		template_each_name(r->local_text, add_attr, r);
	if (r->help_url)
		template_each_name(r->help_url, add_attr, r);
}

/* check_thresholds - allowlist < soft < threshold, so that the tiers cannot overlap. */
static void check_thresholds(struct loader *ld)
{
	const struct rules *r = &ld->cfg->rules;
	unsigned line = ld->section_line[SECTION_POLICY] ? ld->section_line[SECTION_POLICY] : 1;

	if (r->allowlist_threshold >= r->threshold)
		loader_error(ld, loader_key_line(ld, SECTION_POLICY, "allowlist_threshold"),
			     "allowlist_threshold must be below threshold");
	if (r->soft_threshold != 0 &&
	    (r->soft_threshold >= r->threshold || r->soft_threshold <= r->allowlist_threshold))
		loader_error(
			ld, loader_key_line(ld, SECTION_POLICY, "soft_threshold"),
			"soft_threshold must be above allowlist_threshold and below threshold (or 0: off)");
	(void)line;
}

/* is_loopback - 127.0.0.0/8 or ::1. */
static bool is_loopback(const struct sockaddr_storage *ss)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (ss->ss_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr)[0] == 127;
	return ss->ss_family == AF_INET6 &&
	       memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, v6_loopback, 16) == 0;
}

/*
 * check_resolver - udns sends every query from one source port with guessable IDs:
 * only a resolver on this host is safe from spoofed answers. Warn about others,
 * configured or (without nameserver lines) taken from /etc/resolv.conf.
 */
static void check_resolver(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	unsigned line = loader_key_line(ld, SECTION_DNS, "nameserver");
	static const char why[] =
		"udns uses one source port and no 0x20, so answers from a resolver off this host can be spoofed; run unbound on loopback";

	if (!config_has_dns_lists(cfg))
		return;
	for (size_t i = 0; i < cfg->nameserver_count; i++) {
		if (!is_loopback(&cfg->nameserver[i])) {
			char host[64] = "?";
			const struct sockaddr_storage *ss = &cfg->nameserver[i];
			if (ss->ss_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
					  host, sizeof(host));
			else
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
					  host, sizeof(host));
			loader_warn(ld, line, "nameserver %s is not on loopback: %s", host, why);
		}
	}
	if (cfg->nameserver_count > 0)
		return;
	size_t len = 0;
	char *text = config_read_file("/etc/resolv.conf", 65536, &len);
	for (char *p = text, *nl; p != NULL && *p; p = nl ? nl + 1 : NULL) {
		char word[16], host[64];
		struct addr a;
		nl = strchr(p, '\n');
		if (sscanf(p, "%15s %63s", word, host) == 2 && strcmp(word, "nameserver") == 0 &&
		    addr_parse(&a, host, strlen(host)) &&
		    !(a.family == ADDR_V4
			      ? a.bytes[0] == 127
			      : memcmp(a.bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0))
			loader_warn(
				ld, line,
				"no nameserver lines: /etc/resolv.conf's nameserver %s is not on loopback: %s",
				host, why);
	}
	free(text);
}

/* example_domain - whether s names example.org, example.com or example.net (RFC 2606). */
static bool example_domain(const char *s)
{
	return s != NULL &&
	       (strstr(s, "example.org") || strstr(s, "example.com") || strstr(s, "example.net"));
}

/* check_examples - the sample's placeholders left in what refused senders read. */
static void check_examples(struct loader *ld)
{
	const struct rules *r = &ld->cfg->rules;

	if (example_domain(r->contact))
		loader_warn(
			ld, loader_key_line(ld, SECTION_POLICY, "contact"),
			"contact still names an example domain (%s): refused senders would write to nobody",
			r->contact);
	if (example_domain(r->help_url_source))
		loader_warn(
			ld, loader_key_line(ld, SECTION_POLICY, "help_url"),
			"help_url still points at an example domain: refused senders would find no page");
}

/* set_exempt_defaults - postmaster@ and abuse@ unless exempt_recipients was given. */
static void set_exempt_defaults(struct loader *ld)
{
	static const char *const defaults[] = { "postmaster@", "abuse@" };
	struct rules *r = &ld->cfg->rules;

	if (loader_key_given(ld, SECTION_POLICY, "exempt_recipients") || r->exempt != NULL)
		return;
	r->exempt = calloc(2, sizeof(*r->exempt));
	if (r->exempt == NULL)
		return;
	for (size_t i = 0; i < 2; i++) {
		r->exempt[i].text = strdup(defaults[i]);
		r->exempt[i].len = strlen(defaults[i]);
		r->exempt[i].local_part = true;
		if (r->exempt[i].text != NULL)
			r->exempt_count++;
	}
}

/*
 * set_dns_floor - the lowest sum the DNS lists can add to a score: for each list,
 * its negative weighted patterns, and its own weight when that is negative (an
 * observed list adds nothing).
 */
static void set_dns_floor(struct rules *r)
{
	r->dns_floor = 0;
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		bool unweighted = false;
		if (l->kind == LIST_LOCAL || l->observe)
			continue;
		for (unsigned p = 0; p < l->codes->count && p < CODES_MAX_PATTERNS; p++) {
			if (!l->codes->pattern[p].weighted)
				unweighted = true;
			else if (l->codes->pattern[p].weight < 0)
				r->dns_floor += l->codes->pattern[p].weight;
		}
		if (unweighted && l->weight < 0)
			r->dns_floor += l->weight;
	}
}

/*
 * set_client_lists - each list's `clients` (when not given: unauthenticated with
 * skip_authenticated = yes, as before lists had the key; all with no), the lists
 * that check a request without and with a SASL login, and which are DNS lists.
 */
static void set_client_lists(struct rules *r)
{
	r->client_lists[0] = r->client_lists[1] = r->dns_lists = 0;
	for (size_t i = 0; i < r->list_count; i++) {
		struct list_config *l = &r->lists[i];
		if (l->kind != LIST_LOCAL)
			r->dns_lists |= (uint64_t)1 << i;
		if (l->clients == 0)
			l->clients = r->skip_authenticated ? CLIENTS_UNAUTHENTICATED : CLIENTS_ALL;
		if (l->clients & CLIENTS_UNAUTHENTICATED)
			r->client_lists[0] |= (uint64_t)1 << i;
		if (l->clients & CLIENTS_AUTHENTICATED)
			r->client_lists[1] |= (uint64_t)1 << i;
	}
}

/* set_site_default - the site's name for the help page: the contact's domain when not given. */
static void set_site_default(struct loader *ld)
{
	struct rules *r = &ld->cfg->rules;
	const char *at = r->contact ? strrchr(r->contact, '@') : NULL;

	if (r->site == NULL && at != NULL && at[1] != '\0')
		r->site = strdup(at + 1);
}

/* loader_finish - checks that need the whole file. */
void loader_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	unsigned server_line =
		ld->section_line[SECTION_SERVER] ? ld->section_line[SECTION_SERVER] : 1;

	if (cfg->listen_count == 0 && getenv("LISTEN_FDS") == NULL)
		loader_error(ld, server_line, "[server] needs at least one listen = ...");
	if (cfg->min_ttl_ms > cfg->max_ttl_ms)
		loader_error(ld, loader_key_line(ld, SECTION_CACHE, "min_ttl"),
			     "min_ttl is larger than max_ttl");
	if (cfg->breaker_backoff_ms > cfg->breaker_backoff_max_ms)
		loader_error(ld, loader_key_line(ld, SECTION_DNS, "breaker_backoff"),
			     "breaker_backoff is larger than breaker_backoff_max");
	set_cidrs(ld, &cfg->allow, "127.0.0.0/8 ::1", server_line);
	set_cidrs(ld, &cfg->metrics_allow, "127.0.0.0/8 ::1", server_line);
	set_exempt_defaults(ld);
	set_site_default(ld);
	set_dns_floor(&cfg->rules);
	set_client_lists(&cfg->rules);
	check_thresholds(ld);
	loader_finish_greylist(ld);
	for (size_t i = 0; i < cfg->rules.list_count; i++)
		finish_list(ld, &cfg->rules.lists[i]);
	check_templates(ld);
	if (ld->errors > 0)
		return;
	check_resolver(ld);
	check_examples(ld);
}
