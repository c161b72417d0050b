/*
 * config_keys - the sections and keys of the configuration (policyd.ini(5)): a
 * table per section that says how each value is parsed and where it is stored,
 * the setters for the decision's values ([policy] and the list sections), and
 * the section headers with their names. Network values are in config_net.c,
 * checks that need the whole file in config_check.c. Strings stored in the config
 * are heap copies that the config owns.
 */
#include "config_internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "parse.h"
#include "reply.h"
#include "template.h"

enum value_kind { V_DURATION, V_LONG, V_BOOL, V_STRING, V_CUSTOM };

struct key_spec {
	const char *name;
	enum value_kind kind;
	size_t offset;
	/* V_LONG bounds; V_DURATION: bounds in ms (long long: 49 days of milliseconds
	 * pass a 32-bit long, and still fit the unsigned long they are stored in). */
	long long min, max;
	bool repeatable;
	custom_fn *custom;
};

/* A buffer for messages that name the bad part of a value. One per thread: a
 * reload loads the configuration on libuv's thread pool while another pool thread
 * may read a changed list file. */
static _Thread_local char value_message[512];

/* config_message - format into the one message buffer. */
const char *config_message(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value_message, sizeof(value_message), fmt, ap);
	va_end(ap);
	return value_message;
}

/* config_copy - replace *slot with a heap copy of value. */
bool config_copy(char **slot, const char *value, const char **err)
{
	char *copy = strdup(value);

	if (copy == NULL) {
		*err = "out of memory";
		return false;
	}
	free(*slot);
	*slot = copy;
	return true;
}

/* pick - index of value among choices, or -1 with a message listing them. */
static int pick(const char *value, const char *const *choices, size_t n, const char **err)
{
	size_t used = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(value, choices[i]) == 0)
			return (int)i;
	used = (size_t)snprintf(value_message, sizeof(value_message), "expected one of:");
	for (size_t i = 0; i < n && used < sizeof(value_message); i++)
		used += (size_t)snprintf(value_message + used, sizeof(value_message) - used, " %s",
					 choices[i]);
	*err = value_message;
	return -1;
}

#define PICK(value, choices, err) pick(value, choices, sizeof(choices) / sizeof(choices[0]), err)

/* set_log - syslog or stderr. */
static bool set_log(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "stderr", "syslog" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct config *)base)->log = (enum log_target)i;
	return i >= 0;
}

/* set_log_level - error, warning, info or debug. */
static bool set_log_level(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "error", "warning", "info", "debug" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct config *)base)->log_level = (enum log_level)i;
	return i >= 0;
}

/* set_action - what a refused client gets. */
static bool set_action(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "reject", "defer", "warn", "prepend" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct rules *)base)->action = (enum action)i;
	return i >= 0;
}

/* set_soft_action - what a doubtful client gets: never a rejection. */
static bool set_soft_action(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "defer", "warn", "prepend", "greylist" };
	static const enum action actions[] = { ACTION_DEFER, ACTION_WARN, ACTION_PREPEND,
					       ACTION_GREYLIST };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct rules *)base)->soft_action = actions[i];
	return i >= 0;
}

/* set_on_error - what a request gets when lookups could not finish. */
static bool set_on_error(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "dunno", "defer" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct rules *)base)->on_error = (enum on_error_action)i;
	return i >= 0;
}

/* compile - build a reply template (its names resolved to reply's macros) and keep its source
 * for messages and comparisons. */
static bool compile(const char *value, struct template **slot, char **source, const char **err)
{
	size_t offset = 0;

	/* Postfix reads an empty reply text as permit (HACKING.md, traps): never allow one. */
	if (*value == '\0') {
		*err = "empty value";
		return false;
	}
	struct template *t = reply_template_compile(value, strlen(value), err, &offset);

	if (t == NULL) {
		*err = config_message("%s at column %zu of the value", *err, offset + 1);
		return false;
	}
	template_free(*slot);
	*slot = t;
	return config_copy(source, value, err);
}

/* set_text - the reply template. */
static bool set_text(struct loader *ld, void *base, const char *value, const char **err)
{
	struct rules *r = base;
	return compile(value, &r->text, &r->text_source, err);
}

/* value_greylist_text - the reply of a greylisting delay ([greylist] text). */
bool value_greylist_text(struct loader *ld, void *base, const char *value, const char **err)
{
	struct rules *r = &((struct config *)base)->rules;
	return compile(value, &r->greylist_text, &r->greylist_text_source, err);
}

/* set_help_url - the global help URL template. */
static bool set_help_url(struct loader *ld, void *base, const char *value, const char **err)
{
	struct rules *r = base;
	return compile(value, &r->help_url, &r->help_url_source, err);
}

/* set_list_help_url - a list's own help URL template. */
static bool set_list_help_url(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;
	return compile(value, &l->help_url, &l->help_url_source, err);
}

/* set_list_text - a list's own reply template. */
static bool set_list_text(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;
	return compile(value, &l->text, &l->text_source, err);
}

/* set_codes - the answer filter of a DNS list, with optional weights; its refusals stay. */
static bool set_codes(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;
	struct codes parsed;

	if (!codes_parse(&parsed, value, strlen(value), err))
		return false;
	parsed.refused_count = l->codes->refused_count;
	memcpy(parsed.refused, l->codes->refused, sizeof(parsed.refused));
	*l->codes = parsed;
	return true;
}

/* set_refused_codes - answers by which the list's operator refuses our queries. */
static bool set_refused_codes(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;
	return codes_parse_refused(l->codes, value, strlen(value), err);
}

/* set_check - which request attributes an RHSBL looks at; a hashed list, the sender. */
static bool set_check(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "sender", "helo", "client_name",
					       "reverse_client_name" };
	struct list_config *l = base;
	const char *pos = value, *item;
	size_t len;

	if (l->kind == LIST_HASHBL) {
		if (strcmp(value, "sender") != 0) {
			*err = "expected sender (the whole sender address)";
			return false;
		}
		l->checks = SOURCE_SENDER_ADDRESS;
		return true;
	}
	l->checks = 0;
	while (parse_list_next(&pos, &item, &len)) {
		char word[32];
		snprintf(word, sizeof(word), "%.*s", (int)(len < 31 ? len : 31), item);
		int i = PICK(word, choices, err);
		if (i < 0)
			return false;
		l->checks |= 1u << i;
	}
	if (l->checks == 0) {
		*err = "expected one or more of: sender helo client_name reverse_client_name";
		return false;
	}
	return true;
}

/* set_hash - how a hashed list hashes the address: sha1 (the default) or md5. */
static bool set_hash(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "sha1", "md5" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct list_config *)base)->hash = i == 0 ? DIGEST_SHA1 : DIGEST_MD5;
	return i >= 0;
}

/* set_type - what a local list's file holds. */
static bool set_type(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "address", "sender_domain", "helo", "client_name",
					       "recipient" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct list_config *)base)->type = (enum local_type)i;
	return i >= 0;
}

/* set_mode - enforce (the default) or observe: looked up, counted, logged, never scored. */
static bool set_mode(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "enforce", "observe" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct list_config *)base)->observe = i == 1;
	return i >= 0;
}

/* set_clients - which requests the list checks: by their SASL login, or all. */
static bool set_clients(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "unauthenticated", "authenticated", "all" };
	static const unsigned bits[] = { CLIENTS_UNAUTHENTICATED, CLIENTS_AUTHENTICATED,
					 CLIENTS_ALL };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct list_config *)base)->clients = bits[i];
	return i >= 0;
}

/* set_url - a plain URL (no macros) shown on the help page: http or https, no blanks. */
static bool set_url(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;

	if (strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0) {
		*err = "expected an http:// or https:// URL";
		return false;
	}
	for (const char *p = value; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("\"<>`", *p)) {
			*err = "a URL holds no blanks, quotes, '<', '>' or non-ASCII bytes";
			return false;
		}
	}
	if (strlen(value) > 300) {
		*err = "URL too long (at most 300 bytes)";
		return false;
	}
	return config_copy(&l->delist_url, value, err);
}

/*
 * set_exempt - recipients that are never refused: "local@" (any domain) or whole
 * addresses, lower case. Replaces the default (postmaster@, abuse@).
 */
static bool set_exempt(struct loader *ld, void *base, const char *value, const char **err)
{
	struct rules *r = base;
	const char *pos = value, *item;
	size_t len, count = 0;

	for (size_t i = 0; i < r->exempt_count; i++)
		free(r->exempt[i].text);
	free(r->exempt);
	r->exempt = NULL;
	r->exempt_count = 0;
	while (parse_list_next(&pos, &item, &len))
		count++;
	if (count == 0)
		return true;
	r->exempt = calloc(count, sizeof(*r->exempt));
	if (r->exempt == NULL) {
		*err = "out of memory";
		return false;
	}
	pos = value;
	while (parse_list_next(&pos, &item, &len)) {
		const char *at = memchr(item, '@', len);
		struct exempt *e = &r->exempt[r->exempt_count];
		if (at == NULL || at == item ||
		    memchr(at + 1, '@', len - (size_t)(at + 1 - item))) {
			*err = config_message("'%.*s': expected local@ or local@domain",
					      (int)(len > 60 ? 60 : len), item);
			return false;
		}
		if ((e->text = strndup(item, len)) == NULL) {
			*err = "out of memory";
			return false;
		}
		for (size_t i = 0; i < len; i++)
			if (e->text[i] >= 'A' && e->text[i] <= 'Z')
				e->text[i] = (char)(e->text[i] + ('a' - 'A'));
		e->len = len;
		e->local_part = at + 1 == item + len;
		r->exempt_count++;
	}
	return true;
}

/*
 * set_recipient_delimiter - the characters that start an address extension, as in
 * Postfix's main.cf: "+", or several ("+-", Postfix 2.11 and later); an empty value
 * turns extensions off. An '@', a quote or a backslash would split the address's
 * own syntax, and a blank cannot be written in an INI value.
 */
static bool set_recipient_delimiter(struct loader *ld, void *base, const char *value,
				    const char **err)
{
	struct rules *r = base;
	size_t len = strlen(value);

	if (len > RULES_DELIMITERS_MAX) {
		*err = config_message("%zu characters; at most %d", len, RULES_DELIMITERS_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c <= ' ' || c >= 0x7f) {
			*err = "a blank, control or non-ASCII byte cannot start an address extension: expected characters such as + or -";
			return false;
		}
		if (c == '@' || c == '"' || c == '\\') {
			*err = config_message(
				"'%c' cannot start an address extension: expected characters such as + or -",
				c);
			return false;
		}
	}
	memcpy(r->recipient_delimiter, value, len + 1);
	return true;
}

#define CFG(field) offsetof(struct config, field)
#define RUL(field) offsetof(struct rules, field)
#define LST(field) offsetof(struct list_config, field)

static const struct key_spec server_keys[] = {
	{ "listen", V_CUSTOM, 0, 0, 0, true, value_listen },
	{ "socket_mode", V_CUSTOM, 0, 0, 0, false, value_socket_mode },
	{ "socket_group", V_CUSTOM, 0, 0, 0, false, value_socket_group },
	{ "allow", V_CUSTOM, 0, 0, 0, false, value_allow },
	{ "user", V_CUSTOM, 0, 0, 0, false, value_user },
	{ "max_connections", V_LONG, CFG(max_connections), 1, 1000000, false, NULL },
	{ "max_tcp_connections", V_LONG, CFG(max_tcp_connections), 1, 1000000, false, NULL },
	{ "max_peer_connections", V_LONG, CFG(max_peer_connections), 1, 1000000, false, NULL },
	{ "idle_timeout", V_DURATION, CFG(idle_timeout_ms), 0, 86400000, false, NULL },
	/* A lookup takes at least a round trip: below 100 ms every request would
	 * get on_error. */
	{ "request_timeout", V_DURATION, CFG(request_timeout_ms), 100, 600000, false, NULL },
	{ "log", V_CUSTOM, 0, 0, 0, false, set_log },
	{ "log_level", V_CUSTOM, 0, 0, 0, false, set_log_level },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

static const struct key_spec dns_keys[] = {
	{ "nameserver", V_CUSTOM, 0, 0, 0, true, value_nameserver },
	{ "timeout", V_DURATION, CFG(dns_timeout_ms), 0, 60000, false, NULL },
	{ "tries", V_LONG, CFG(dns_tries), 1, 3, false, NULL },
	{ "health_interval", V_DURATION, CFG(health_interval_ms), 1000, 86400000, false, NULL },
	{ "breaker_failures", V_LONG, CFG(breaker_failures), 1, 1000, false, NULL },
	{ "breaker_backoff", V_DURATION, CFG(breaker_backoff_ms), 100, 3600000, false, NULL },
	{ "breaker_backoff_max", V_DURATION, CFG(breaker_backoff_max_ms), 100, 86400000, false,
	  NULL },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

static const struct key_spec cache_keys[] = {
	{ "size", V_LONG, CFG(cache_size), 0, 10000000, false, NULL },
	{ "min_ttl", V_DURATION, CFG(min_ttl_ms), 0, 604800000, false, NULL },
	{ "max_ttl", V_DURATION, CFG(max_ttl_ms), 0, 604800000, false, NULL },
	{ "negative_ttl", V_DURATION, CFG(negative_ttl_ms), 0, 604800000, false, NULL },
	{ "error_ttl", V_DURATION, CFG(error_ttl_ms), 0, 604800000, false, NULL },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

static const struct key_spec policy_keys[] = {
	{ "threshold", V_LONG, RUL(threshold), 1, 1000000, false, NULL },
	{ "allowlist_threshold", V_LONG, RUL(allowlist_threshold), -1000000, 1000000, false, NULL },
	{ "soft_threshold", V_LONG, RUL(soft_threshold), 0, 1000000, false, NULL },
	{ "action", V_CUSTOM, 0, 0, 0, false, set_action },
	{ "soft_action", V_CUSTOM, 0, 0, 0, false, set_soft_action },
	{ "text", V_CUSTOM, 0, 0, 0, false, set_text },
	{ "help_url", V_CUSTOM, 0, 0, 0, false, set_help_url },
	{ "contact", V_STRING, RUL(contact), 0, 0, false, NULL },
	{ "site", V_STRING, RUL(site), 0, 0, false, NULL },
	{ "exempt_recipients", V_CUSTOM, 0, 0, 0, false, set_exempt },
	{ "recipient_delimiter", V_CUSTOM, 0, 0, 0, false, set_recipient_delimiter },
	{ "on_error", V_CUSTOM, 0, 0, 0, false, set_on_error },
	{ "skip_authenticated", V_BOOL, RUL(skip_authenticated), 0, 0, false, NULL },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

static const struct key_spec http_keys[] = {
	{ "listen", V_CUSTOM, 0, 0, 0, true, value_http_listen },
	{ "metrics_allow", V_CUSTOM, 0, 0, 0, false, value_metrics_allow },
	{ "help_dir", V_STRING, CFG(http_help_dir), 0, 0, false, NULL },
	{ "max_connections", V_LONG, CFG(http_max_connections), 1, 100000, false, NULL },
	{ "per_ip_connections", V_LONG, CFG(http_per_ip_connections), 0, 100000, false, NULL },
	/* MHD counts whole seconds. */
	{ "timeout", V_DURATION, CFG(http_timeout_ms), 1000, 3600000, false, NULL },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

static const struct key_spec greylist_keys[] = {
	{ "delay", V_DURATION, CFG(greylist_delay_ms), 1000, 86400000, false, NULL },
	/* 30 days; pass_ttl 49 days: the longest milliseconds that 32 bits hold. */
	{ "max_wait", V_DURATION, CFG(greylist_max_wait_ms), 1000, 2592000000, false, NULL },
	{ "pass_ttl", V_DURATION, CFG(greylist_pass_ttl_ms), 1000, 4233600000, false, NULL },
	{ "auto_allow", V_LONG, CFG(greylist_auto_allow), 0, 255, false, NULL },
	{ "network_v4", V_LONG, CFG(greylist_network_v4), 8, 32, false, NULL },
	{ "network_v6", V_LONG, CFG(greylist_network_v6), 16, 128, false, NULL },
	{ "store", V_CUSTOM, 0, 0, 0, false, value_greylist_store },
	{ "size", V_LONG, CFG(greylist_size), 1, 10000000, false, NULL },
	{ "state_file", V_STRING, CFG(greylist_state_file), 0, 0, false, NULL },
	{ "save_interval", V_DURATION, CFG(greylist_save_interval_ms), 1000, 86400000, false,
	  NULL },
	{ "password_file", V_STRING, CFG(greylist_password_file), 0, 0, false, NULL },
	{ "timeout", V_DURATION, CFG(greylist_timeout_ms), 10, 60000, false, NULL },
	{ "text", V_CUSTOM, 0, 0, 0, false, value_greylist_text },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

/* Keys of list sections; list_key_applies() says which kinds take which. */
static const struct key_spec list_keys[] = {
	{ "codes", V_CUSTOM, 0, 0, 0, false, set_codes },
	{ "refused_codes", V_CUSTOM, 0, 0, 0, false, set_refused_codes },
	{ "weight", V_LONG, LST(weight), -1000000, 1000000, false, NULL },
	{ "ipv6", V_CUSTOM, 0, 0, 0, false, value_ipv6 },
	{ "health", V_CUSTOM, 0, 0, 0, false, value_health },
	{ "test_listed", V_CUSTOM, 0, 0, 0, false, value_test_listed },
	{ "test_unlisted", V_CUSTOM, 0, 0, 0, false, value_test_unlisted },
	{ "help_url", V_CUSTOM, 0, 0, 0, false, set_list_help_url },
	{ "text", V_CUSTOM, 0, 0, 0, false, set_list_text },
	{ "delist_url", V_CUSTOM, 0, 0, 0, false, set_url },
	{ "check", V_CUSTOM, 0, 0, 0, false, set_check },
	{ "hash", V_CUSTOM, 0, 0, 0, false, set_hash },
	{ "type", V_CUSTOM, 0, 0, 0, false, set_type },
	{ "file", V_STRING, LST(file), 0, 0, false, NULL },
	{ "reason", V_STRING, LST(reason), 0, 0, false, NULL },
	{ "zone", V_CUSTOM, 0, 0, 0, false, value_zone },
	{ "key_file", V_CUSTOM, 0, 0, 0, false, value_key_file },
	{ "mode", V_CUSTOM, 0, 0, 0, false, set_mode },
	{ "clients", V_CUSTOM, 0, 0, 0, false, set_clients },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

/* list_key_applies - whether a list key makes sense for the list's kind. */
static bool list_key_applies(const char *key, enum list_kind kind)
{
	if (strcmp(key, "codes") == 0 || strcmp(key, "refused_codes") == 0 ||
	    strcmp(key, "zone") == 0 || strcmp(key, "key_file") == 0 || strcmp(key, "mode") == 0)
		return kind != LIST_LOCAL;
	if (strcmp(key, "ipv6") == 0)
		return kind == LIST_DNSBL || kind == LIST_DNSWL;
	if (strcmp(key, "health") == 0 || strncmp(key, "test_", 5) == 0)
		return kind != LIST_LOCAL;
	if (strcmp(key, "check") == 0)
		return kind == LIST_RHSBL || kind == LIST_HASHBL;
	if (strcmp(key, "hash") == 0)
		return kind == LIST_HASHBL;
	if (strcmp(key, "file") == 0 || strcmp(key, "type") == 0)
		return kind == LIST_LOCAL;
	return true;
}

/* store_value - parse a table-described value into base + offset. */
static bool store_value(struct loader *ld, const struct key_spec *k, void *base, const char *value,
			const char **err)
{
	char *slot = (char *)base + k->offset;

	switch (k->kind) {
	case V_DURATION: {
		unsigned long ms;
		if (!parse_duration_ms(value, (unsigned long)k->max, &ms, err))
			return false;
		if (ms < (unsigned long)k->min) {
			*err = config_message("at least %lld ms", k->min);
			return false;
		}
		*(unsigned long *)slot = ms;
		return true;
	}
	case V_LONG: {
		long v;
		if (!parse_long(value, (long)k->min, (long)k->max, &v, err))
			return false;
		*(long *)slot = v;
		return true;
	}
	case V_BOOL: return parse_bool(value, (bool *)slot, err);
	case V_STRING:
		if (*value == '\0') {
			*err = "empty value";
			return false;
		}
		return config_copy((char **)slot, value, err);
	case V_CUSTOM: return k->custom(ld, base, value, err);
	}
	return false;
}

/* section_table - the keys of the current section, the object they fill, its seen-bits. */
static const struct key_spec *section_table(struct loader *ld, void **base, unsigned **seen)
{
	static const struct key_spec *const tables[] = {
		[SECTION_SERVER] = server_keys, [SECTION_DNS] = dns_keys,
		[SECTION_CACHE] = cache_keys,   [SECTION_POLICY] = policy_keys,
		[SECTION_HTTP] = http_keys,     [SECTION_GREYLIST] = greylist_keys,
	};

	if (ld->section_kind == SECTION_LIST) {
		*base = ld->list, *seen = &ld->list->seen;
		return list_keys;
	}
	if (ld->section_kind == SECTION_NONE)
		return NULL;
	/* [policy] keys are stored in the rules; the other sections' in the config (the
	 * [greylist] text, a template, reaches the rules through its setter). */
	*base = ld->section_kind == SECTION_POLICY ? (void *)&ld->cfg->rules : (void *)ld->cfg;
	*seen = &ld->cfg->seen[ld->section_kind - 1];
	return tables[ld->section_kind];
}

/* loader_set_key - find the key in the current section's table and store its value. */
void loader_set_key(struct loader *ld, const char *key, const char *value)
{
	void *base = NULL;
	unsigned *seen = NULL;
	const struct key_spec *table = section_table(ld, &base, &seen);
	const char *err = NULL;

	for (unsigned i = 0; table != NULL && table[i].name != NULL; i++) {
		const struct key_spec *k = &table[i];
		if (strcmp(k->name, key) != 0)
			continue;
		if (ld->section_kind == SECTION_LIST && !list_key_applies(key, ld->list->kind))
			break;
		if (!k->repeatable && (*seen & (1u << i))) {
			loader_error(ld, ld->line, "%s: given twice in this section", key);
			return;
		}
		*seen |= 1u << i;
		if (ld->section_kind != SECTION_LIST && i < 32)
			ld->key_line[ld->section_kind][i] = ld->line;
		if (!store_value(ld, k, base, value, &err))
			loader_error(ld, ld->line, "%s: %s", key, err);
		return;
	}
	loader_error(ld, ld->line, "unknown key '%.60s'", key);
}

/* key_given_line - the line of a singleton section's key, 0 when it was not given. */
static unsigned key_given_line(const struct loader *ld, enum section_kind section, const char *key)
{
	static const struct key_spec *const tables[] = {
		[SECTION_SERVER] = server_keys, [SECTION_DNS] = dns_keys,
		[SECTION_CACHE] = cache_keys,   [SECTION_POLICY] = policy_keys,
		[SECTION_HTTP] = http_keys,     [SECTION_GREYLIST] = greylist_keys,
	};
	const struct key_spec *table =
		section > SECTION_NONE && section < SECTION_LIST ? tables[section] : NULL;

	for (unsigned i = 0; table != NULL && table[i].name != NULL && i < 32; i++)
		if (strcmp(table[i].name, key) == 0)
			return ld->key_line[section][i];
	return 0;
}

/* loader_key_given - whether a singleton section's key was given. */
bool loader_key_given(const struct loader *ld, enum section_kind section, const char *key)
{
	return key_given_line(ld, section, key) != 0;
}

/* loader_key_line - where a key was given, else its section's line (or 1). */
unsigned loader_key_line(const struct loader *ld, enum section_kind section, const char *key)
{
	unsigned line = key_given_line(ld, section, key);

	if (line != 0)
		return line;
	return ld->section_line[section] ? ld->section_line[section] : 1;
}

/*
 * list_name - a section's name, checked: a DNS zone is a clean domain (lower case,
 * no final dot, at least two labels), so that "ZEN.SPAMHAUS.ORG." and
 * "zen.spamhaus.org" are one list; a local list's name is letters, digits, '.',
 * '-' and '_', since it is shown in replies, logs and on the help page.
 */
static bool list_name(struct loader *ld, enum list_kind kind, const char *name, size_t len,
		      char *out)
{
	if (kind != LIST_LOCAL) {
		if (len > DOMAIN_MAX + 1 || domain_clean(name, len, out, DOMAIN_SIZE) == 0) {
			loader_error(
				ld, ld->line,
				"[%s %.*s]: not a DNS zone name (letters, digits, '-' and '_' in two or more labels of 1 to 63 bytes, 253 bytes in all)",
				list_kind_name(kind), (int)(len > 60 ? 60 : len), name);
			return false;
		}
		return true;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_') ||
		    len > 63) {
			loader_error(
				ld, ld->line,
				"[list %.*s]: a list name is letters, digits, '.', '-' and '_' (at most 63)",
				(int)(len > 60 ? 60 : len), name);
			return false;
		}
	}
	memcpy(out, name, len);
	out[len] = '\0';
	return true;
}

/* begin_list - "dnsbl zone" and friends: a new list with its kind's defaults. */
static void begin_list(struct loader *ld, enum list_kind kind, const char *name, size_t len)
{
	struct config *cfg = ld->cfg;
	struct rules *r = &cfg->rules;
	char clean[DOMAIN_SIZE];

	while (len > 0 && (*name == ' ' || *name == '\t'))
		name++, len--;
	if (len == 0 || memchr(name, ' ', len) || memchr(name, '\t', len)) {
		loader_error(ld, ld->line, "[%s] needs one name: [%s NAME]", list_kind_name(kind),
			     list_kind_name(kind));
		ld->section_ok = false;
		return;
	}
	if (!list_name(ld, kind, name, len, clean)) {
		ld->section_ok = false;
		return;
	}
	if (r->list_count == RULES_MAX_LISTS) {
		loader_error(ld, ld->line, "too many lists (at most %d)", RULES_MAX_LISTS);
		ld->section_ok = false;
		return;
	}
	for (size_t i = 0; i < r->list_count; i++) {
		if (r->lists[i].kind == kind && strcmp(r->lists[i].name, clean) == 0) {
			loader_error(ld, ld->line, "[%s %s] already defined at line %u",
				     list_kind_name(kind), clean, r->lists[i].line);
			ld->section_ok = false;
			return;
		}
	}
	struct codes *codes = malloc(sizeof(*codes));
	struct list_config *grown =
		codes == NULL ? NULL : realloc(r->lists, (r->list_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(codes);
		loader_error(ld, ld->line, "out of memory");
		ld->section_ok = false;
		return;
	}
	r->lists = grown;
	struct list_config *l = &r->lists[r->list_count++];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	l->line = ld->line;
	l->name = strdup(clean);
	l->name_len = l->name ? strlen(l->name) : 0;
	l->weight = kind == LIST_DNSWL ? -1 : 1;
	l->checks = kind == LIST_HASHBL ? SOURCE_SENDER_ADDRESS : SOURCE_SENDER;
	l->hash = DIGEST_SHA1;
	l->codes = codes;
	codes_default(l->codes);
	if (kind == LIST_DNSWL) /* dnswl.org's answer to blocked or over-quota resolvers */
		codes_add_refused(l->codes, (const uint8_t[4]){ 127, 0, 0, 255 });
	ld->list = l;
	ld->section_kind = SECTION_LIST;
}

/* loader_begin_section - called by the line reader for each "[...]" header. */
void loader_begin_section(struct loader *ld, const char *name, size_t len)
{
	static const char *const singletons[] = { NULL,     "server", "dns",     "cache",
						  "policy", "http",   "greylist" };
	static const char *const lists[] = { "dnsbl", "dnswl", "rhsbl", "list", "hashbl" };

	ld->section_ok = true;
	ld->list = NULL;
	for (int s = SECTION_SERVER; s < SECTION_LIST; s++) {
		if (strlen(singletons[s]) == len && memcmp(singletons[s], name, len) == 0) {
			ld->section_kind = (enum section_kind)s;
			if (ld->section_line[s] == 0)
				ld->section_line[s] = ld->line;
			return;
		}
	}
	for (int k = LIST_DNSBL; k <= LIST_HASHBL; k++) {
		size_t n = strlen(lists[k]);
		if (len >= n && memcmp(lists[k], name, n) == 0 &&
		    (len == n || name[n] == ' ' || name[n] == '\t')) {
			begin_list(ld, (enum list_kind)k, name + n, len - n);
			return;
		}
	}
	loader_error(ld, ld->line, "unknown section [%.*s]", (int)(len > 60 ? 60 : len), name);
	ld->section_ok = false;
}
