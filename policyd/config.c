/*
 * config - loading the configuration file, and the config's lifetime (see config.h).
 *
 * inih does the INI syntax; we feed it through our own line reader so that every
 * handler call knows its line number (Debian's inih does not pass one), so that
 * section headers are seen even when a section has no keys, and so that lines
 * longer than inih's buffer are reported instead of being cut (HACKING.md,
 * traps). Keys are described by tables in config_keys.c; checks that need the
 * whole file are in config_check.c. The loader owns the config it builds until
 * it hands it to the caller.
 */
#include "config.h"
#include "config_internal.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "build_config.h"
#include "nameset.h"
#include "template.h"
#include "text.h"

/* The largest configuration file we read; far above any real one. */
#define CONFIG_MAX_SIZE (4u << 20)

/* report - hand "FILE:LINE: <kind>message" to the loader's error callback. */
__attribute__((format(printf, 4, 0))) static void
report(struct loader *ld, unsigned line, const char *kind, const char *fmt, va_list ap)
{
	char message[1024];
	char full[1200];

	vsnprintf(message, sizeof(message), fmt, ap);
	snprintf(full, sizeof(full), "%s:%u: %s%s", ld->name, line, kind, message);
	ld->on_error(ld->ctx, full);
}

/* loader_error - report "FILE:LINE: message" and remember that loading failed. */
void loader_error(struct loader *ld, unsigned line, const char *fmt, ...)
{
	va_list ap;

	ld->errors++;
	va_start(ap, fmt);
	report(ld, line, "", fmt, ap);
	va_end(ap);
}

/* loader_warn - "FILE:LINE: warning: message"; loading goes on and succeeds. */
void loader_warn(struct loader *ld, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(ld, line, "warning: ", fmt, ap);
	va_end(ap);
}

/* trim - strip blanks at both ends of s[0..*len). */
static const char *trim(const char *s, size_t *len)
{
	while (*len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && strchr(" \t\r\n", s[*len - 1]) != NULL)
		(*len)--;
	return s;
}

/*
 * classify_line - look at a whole line as inih will: note section headers and
 * report lines inih would reject, so that every bad line is reported (inih itself
 * only returns the first).
 */
static void classify_line(struct loader *ld, const char *line, size_t len)
{
	const char *s;
	size_t body = 0;

	/* inih skips a UTF-8 byte order mark at the start of the file. */
	if (ld->line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3, len -= 3;
	s = trim(line, &len);
	if (len == 0 || *s == ';' || *s == '#')
		return;
	if (*s == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL) {
			loader_error(ld, ld->line, "section header without ']'");
			ld->section_ok = false;
			return;
		}
		size_t name_len = (size_t)(close - s - 1);
		const char *name = trim(s + 1, &name_len);
		size_t rest_len = len - (size_t)(close + 1 - s);
		const char *rest = trim(close + 1, &rest_len);
		loader_begin_section(ld, name, name_len);
		if (rest_len > 0 && *rest != ';' && *rest != '#')
			loader_error(ld, ld->line, "junk after the section header");
		return;
	}
	/* As in inih, the '=' must come before an inline comment (';' after a blank). */
	while (body < len &&
	       !(s[body] == ';' && body > 0 && (s[body - 1] == ' ' || s[body - 1] == '\t')))
		body++;
	if (memchr(s, '=', body) == NULL && memchr(s, ':', body) == NULL)
		loader_error(ld, ld->line, "expected 'key = value'");
}

/*
 * read_line - inih's fgets-style reader over the file held in memory. It hands
 * out one whole line per call and counts lines.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	size_t room = (size_t)num - 1;

	if (ld->pos >= ld->len)
		return NULL;
	const char *start = ld->text + ld->pos;
	const char *nl = memchr(start, '\n', ld->len - ld->pos);
	size_t line_len = nl ? (size_t)(nl - start) + 1 : ld->len - ld->pos;

	ld->line++;
	ld->pos += line_len;
	if (line_len > room) {
		/* Hand inih an empty line instead of a cut one: a cut line would be
		 * parsed as two. */
		loader_error(ld, ld->line, "line too long (at most %zu bytes)", room - 1);
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	memcpy(str, start, line_len);
	str[line_len] = '\0';
	if (memchr(start, '\0', line_len) != NULL) {
		loader_error(ld, ld->line, "NUL byte in line");
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	classify_line(ld, start, line_len);
	return str;
}

/* handle_pair - inih's callback; the section is the one our reader saw. */
static int handle_pair(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;

	(void)section;
	if (!ld->section_ok)
		return 1;
	if (ld->section_kind == SECTION_NONE) {
		loader_error(ld, ld->line, "key '%s' outside of any section", name);
		return 1;
	}
	loader_set_key(ld, name, value);
	return 1;
}

/* set_defaults - the values that apply when a key is absent (policyd.ini(5)). */
static void set_defaults(struct config *cfg)
{
	struct rules *r = &cfg->rules;

	cfg->socket_mode = 0660;
	cfg->max_connections = 4096;
	cfg->max_peer_connections = 1024;
	cfg->idle_timeout_ms = 300000;
	cfg->request_timeout_ms = 3000;
	cfg->log = LOG_TO_SYSLOG;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->dns_timeout_ms = 2000;
	cfg->dns_tries = 2;
	cfg->cache_size = 100000;
	cfg->min_ttl_ms = 60000;
	cfg->max_ttl_ms = 3600000;
	cfg->negative_ttl_ms = 300000;
	cfg->error_ttl_ms = 10000;
	cfg->health_interval_ms = 600000;
	cfg->breaker_failures = 5;
	cfg->breaker_backoff_ms = 30000;
	cfg->breaker_backoff_max_ms = 600000;
	cfg->http_max_connections = 1024;
	cfg->http_per_ip_connections = 32;
	cfg->http_timeout_ms = 10000;
	cfg->greylist_delay_ms = 300000;
	cfg->greylist_max_wait_ms = 172800000;  /* 2 days */
	cfg->greylist_pass_ttl_ms = 3024000000; /* 35 days */
	cfg->greylist_auto_allow = 5;
	cfg->greylist_network_v4 = 24;
	cfg->greylist_network_v6 = 64;
	cfg->greylist_size = 1000000;
	cfg->greylist_save_interval_ms = 60000;
	cfg->greylist_timeout_ms = 200;
	r->threshold = 1;
	r->allowlist_threshold = -1;
	r->soft_threshold = 0;
	r->action = ACTION_REJECT;
	r->soft_action = ACTION_PREPEND;
	r->on_error = ON_ERROR_DUNNO;
	r->skip_authenticated = true;
	memcpy(r->recipient_delimiter, "+", 2);
}

/* configure_inih - let long lines through: reply templates easily exceed 200 bytes. */
static size_t configure_inih(size_t text_len)
{
#if HAVE_INI_MAX_LINE
	size_t want = text_len + 8 < 256 ? 256 : text_len + 8;
	ini_use_stack = false;
	ini_max_line = (int)want;
	ini_initial_alloc = (int)want;
	ini_allow_multiline = false;
	return want;
#else
	(void)text_len;
	return 200;
#endif
}

/* config_load_text - parse and validate a configuration held in memory. */
struct config *config_load_text(const char *name, const char *text, size_t len,
				config_error_fn *on_error, void *ctx)
{
	struct loader ld = {
		.name = name,
		.text = text,
		.len = len,
		.on_error = on_error,
		.ctx = ctx,
		.section_ok = true,
	};

	ld.cfg = calloc(1, sizeof(*ld.cfg));
	if (ld.cfg == NULL) {
		loader_error(&ld, 0, "out of memory");
		return NULL;
	}
	set_defaults(ld.cfg);
	ld.cfg->path = strdup(name);
	ld.cfg->refs = 1;
	configure_inih(len);
	int rc = ini_parse_stream(read_line, &ld, handle_pair, &ld);
	if (rc < 0)
		loader_error(&ld, 0, "out of memory while parsing");
	else if (rc > 0 && ld.errors == 0)
		loader_error(&ld, (unsigned)rc, "syntax error");
	loader_finish(&ld);
	if (ld.errors > 0) {
		config_free(ld.cfg);
		return NULL;
	}
	return ld.cfg;
}

/* config_load - read the file (a regular file, at most CONFIG_MAX_SIZE), then parse it as text. */
struct config *config_load(const char *path, config_error_fn *on_error, void *ctx)
{
	size_t len = 0;
	char *text = config_read_file(path, CONFIG_MAX_SIZE, &len);
	struct config *cfg;

	if (text == NULL) {
		char message[1200];
		snprintf(message, sizeof(message), "%s:0: cannot read: %s", path,
			 errno == EINVAL  ? "not a regular file"
			 : errno == EFBIG ? "file too large"
					  : strerror(errno));
		on_error(ctx, message);
		return NULL;
	}
	cfg = config_load_text(path, text, len, on_error, ctx);
	free(text);
	return cfg;
}

/* free_list - release what one list section owns. */
static void free_list(struct list_config *l)
{
	free(l->name);
	if (l->zone != NULL)
		explicit_bzero(l->zone, strlen(l->zone)); /* a keyed zone holds the site's key */
	free(l->zone);
	free(l->zone_shown);
	free(l->key_file);
	free(l->test_point[0]);
	free(l->test_point[1]);
	free(l->codes);
	free(l->help_url_source);
	template_free(l->help_url);
	free(l->text_source);
	template_free(l->text);
	free(l->delist_url);
	free(l->reason);
	free(l->file);
	cidr_set_free(l->set);
	name_set_free(l->names);
}

/* free_rules - release the [policy] section and the lists. */
static void free_rules(struct rules *r)
{
	free(r->text_source);
	template_free(r->text);
	template_free(r->local_text);
	free(r->greylist_text_source);
	template_free(r->greylist_text);
	free(r->help_url_source);
	template_free(r->help_url);
	free(r->contact);
	free(r->site);
	for (size_t i = 0; i < r->exempt_count; i++)
		free(r->exempt[i].text);
	free(r->exempt);
	for (size_t i = 0; i < r->list_count; i++)
		free_list(&r->lists[i]);
	free(r->lists);
	for (size_t i = 0; i < r->reply_attr_count; i++)
		free(r->reply_attrs[i]);
	free(r->reply_attrs);
}

/* config_free - release a config and everything it owns; NULL is fine. */
void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->listen);
	free(cfg->socket_group);
	cidr_set_free(cfg->allow);
	free(cfg->user);
	free(cfg->nameserver);
	free_rules(&cfg->rules);
	free(cfg->http_listen);
	cidr_set_free(cfg->metrics_allow);
	free(cfg->http_help_dir);
	free(cfg->greylist_store);
	free(cfg->greylist_state_file);
	free(cfg->greylist_password_file);
	if (cfg->greylist_target.password != NULL) {
		explicit_bzero(cfg->greylist_target.password,
			       strlen(cfg->greylist_target.password));
		free(cfg->greylist_target.password);
	}
	free(cfg);
}

/* config_ref - one more holder. */
struct config *config_ref(struct config *cfg)
{
	cfg->refs++;
	return cfg;
}

/* config_unref - the last holder frees the config; NULL is fine. */
void config_unref(struct config *cfg)
{
	if (cfg != NULL && --cfg->refs == 0)
		config_free(cfg);
}

/*
 * config_lists_equal - whether cached results stay meaningful: the same DNS lists in
 * the same order with the same kinds, zones (a new key may see other data),
 * pattern layouts (a result keeps which patterns matched) and checks. Weights, reasons and texts are read when a
 * result is used, so they may change; local lists are never cached.
 */
bool config_lists_equal(const struct config *a, const struct config *b)
{
	const struct rules *ra = &a->rules, *rb = &b->rules;

	if (ra->list_count != rb->list_count)
		return false;
	for (size_t i = 0; i < ra->list_count; i++) {
		const struct list_config *x = &ra->lists[i], *y = &rb->lists[i];
		if (x->kind != y->kind || strcmp(x->name, y->name) != 0 || x->ipv6 != y->ipv6 ||
		    x->checks != y->checks || x->hash != y->hash ||
		    !codes_same_layout(x->codes, y->codes) ||
		    (x->zone != NULL) != (y->zone != NULL) ||
		    (x->zone != NULL && strcmp(x->zone, y->zone) != 0))
			return false;
	}
	return true;
}

/* config_listen_equal - the same listen lines in the same order. */
bool config_listen_equal(const struct config *a, const struct config *b)
{
	if (a->listen_count != b->listen_count)
		return false;
	for (size_t i = 0; i < a->listen_count; i++)
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0)
			return false;
	return true;
}

/* config_has_dns_lists - any list other than a local one. */
bool config_has_dns_lists(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->rules.list_count; i++)
		if (cfg->rules.lists[i].kind != LIST_LOCAL)
			return true;
	return false;
}
