/*
 * config_keys - the sections and keys of the configuration (spec section 3): a
 * table per section that says how each value is parsed and where it is stored,
 * handlers for values that need more than a number, and the checks that need the
 * whole file. Strings stored in the config are heap copies that the config owns.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "parse.h"
#include "template.h"

enum value_kind { V_DURATION, V_LONG, V_BOOL, V_STRING, V_CUSTOM };

struct key_spec;
typedef bool custom_fn(struct loader *ld, void *base, const char *value, const char **err);

struct key_spec {
	const char *name;
	enum value_kind kind;
	size_t offset;
	long min, max;   /* V_LONG bounds; V_DURATION: max in ms */
	bool repeatable;
	custom_fn *custom;
};

/* A buffer for messages that name the bad part of a value. */
static char value_message[256];

/* copy_string - replace *slot with a heap copy of value. */
static bool copy_string(char **slot, const char *value, const char **err)
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

/*
 * parse_host_port - "1.2.3.4", "1.2.3.4:53", "[::1]:53" or "::1" into a sockaddr.
 * default_port 0 means a port is required; min_port 0 lets ":0" ask the kernel
 * for any free port (listeners log the port they got).
 */
static bool parse_host_port(const char *s, unsigned default_port, long min_port,
			    struct sockaddr_storage *out, const char **err)
{
	char host[64];
	const char *port_text = NULL;
	struct addr a;
	long port = default_port;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || (size_t)(close - s - 1) >= sizeof(host)) {
			*err = "bad [IPv6] address";
			return false;
		}
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0') {
			*err = "junk after ]";
			return false;
		}
	} else {
		const char *colon = strrchr(s, ':');
		/* More than one colon without brackets is a bare IPv6 address. */
		if (colon != NULL && strchr(s, ':') == colon) {
			port_text = colon + 1;
		} else {
			colon = NULL;
		}
		size_t n = colon ? (size_t)(colon - s) : strlen(s);
		if (n >= sizeof(host)) {
			*err = "address too long";
			return false;
		}
		memcpy(host, s, n);
		host[n] = '\0';
	}
	if (!addr_parse(&a, host, strlen(host))) {
		*err = "not a numeric IPv4 or IPv6 address";
		return false;
	}
	if (port_text != NULL && !parse_long(port_text, min_port, 65535, &port, err))
		return false;
	if (port_text == NULL && port == 0) {
		*err = "a port is required";
		return false;
	}
	memset(out, 0, sizeof(*out));
	if (a.family == ADDR_V4 && *s != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a.bytes, 4);
		sin->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*err = "not a numeric IPv6 address";
			return false;
		}
		sin6->sin6_port = htons((uint16_t)port);
	}
	return true;
}

/* set_listen - "unix:/path" or "inet:host:port"; repeatable. */
static bool set_listen(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct listen_spec spec = { .line = ld->line };

	if (strlen(value) >= sizeof(spec.text)) {
		*err = "value too long";
		return false;
	}
	memcpy(spec.text, value, strlen(value) + 1);
	if (strncmp(value, "unix:", 5) == 0) {
		const char *path = value + 5;
		spec.kind = LISTEN_UNIX;
		if (path[0] != '/') {
			*err = "unix socket path must be absolute";
			return false;
		}
		if (strlen(path) >= sizeof(spec.path)) {
			snprintf(value_message, sizeof(value_message),
				 "unix socket path too long (%zu bytes, at most %zu)", strlen(path),
				 sizeof(spec.path) - 1);
			*err = value_message;
			return false;
		}
		snprintf(spec.path, sizeof(spec.path), "%s", path);
	} else if (strncmp(value, "inet:", 5) == 0) {
		spec.kind = LISTEN_TCP;
		if (!parse_host_port(value + 5, 0, 0, &spec.addr, err))
			return false;
	} else {
		*err = "expected unix:/path or inet:address:port";
		return false;
	}
	struct listen_spec *grown = realloc(cfg->listen, (cfg->listen_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		*err = "out of memory";
		return false;
	}
	cfg->listen = grown;
	cfg->listen[cfg->listen_count++] = spec;
	return true;
}

/* set_nameserver - an address with an optional port; repeatable. */
static bool set_nameserver(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct sockaddr_storage sa;

	if (!parse_host_port(value, 53, 1, &sa, err))
		return false;
	struct sockaddr_storage *grown =
		realloc(cfg->nameserver, (cfg->nameserver_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		*err = "out of memory";
		return false;
	}
	cfg->nameserver = grown;
	cfg->nameserver[cfg->nameserver_count++] = sa;
	return true;
}

/* set_socket_mode - octal permissions for unix sockets. */
static bool set_socket_mode(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;

	if (!parse_mode(value, &cfg->socket_mode, err))
		return false;
	cfg->socket_mode_set = true;
	return true;
}

/* set_socket_group - a group that must exist now. */
static bool set_socket_group(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct group *gr = getgrnam(value);

	if (gr == NULL) {
		*err = "no such group";
		return false;
	}
	cfg->socket_gid = gr->gr_gid;
	return copy_string(&cfg->socket_group, value, err);
}

/* set_user - a user that must exist now; its primary group is used too. */
static bool set_user(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct passwd *pw = getpwnam(value);

	if (pw == NULL) {
		*err = "no such user";
		return false;
	}
	cfg->uid = pw->pw_uid;
	cfg->gid = pw->pw_gid;
	return copy_string(&cfg->user, value, err);
}

/* set_allow - a CIDR list; it replaces the default (loopback only). */
static bool set_allow(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct cidr_set *set = cidr_set_new();
	const char *bad = NULL;
	size_t bad_len = 0;

	if (set == NULL) {
		*err = "out of memory";
		return false;
	}
	if (!cidr_set_parse_list(set, value, strlen(value), err, &bad, &bad_len)) {
		snprintf(value_message, sizeof(value_message), "%s: '%.*s'", *err,
			 (int)(bad_len > 60 ? 60 : bad_len), bad ? bad : "");
		*err = value_message;
		cidr_set_free(set);
		return false;
	}
	cidr_set_finish(set);
	cidr_set_free(cfg->allow);
	cfg->allow = set;
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
		((struct config *)base)->action = (enum policy_action)i;
	return i >= 0;
}

/* set_on_error - what a request gets when lookups could not finish. */
static bool set_on_error(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "dunno", "defer" };
	int i = PICK(value, choices, err);
	if (i >= 0)
		((struct config *)base)->on_error = (enum on_error_action)i;
	return i >= 0;
}

/* compile - build a template and keep its source for messages and comparisons. */
static bool compile(const char *value, struct template **slot, char **source, const char **err)
{
	size_t offset = 0;

	/* Postfix reads an empty reply text as permit (traps.md): never allow one. */
	if (*value == '\0') {
		*err = "empty value";
		return false;
	}
	struct template *t = template_compile(value, strlen(value), err, &offset);

	if (t == NULL) {
		snprintf(value_message, sizeof(value_message), "%s at column %zu of the value", *err,
			 offset + 1);
		*err = value_message;
		return false;
	}
	template_free(*slot);
	*slot = t;
	return copy_string(source, value, err);
}

/* set_text - the reply template. */
static bool set_text(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	return compile(value, &cfg->text, &cfg->text_source, err);
}

/* set_help_url - the global help URL template. */
static bool set_help_url(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	return compile(value, &cfg->help_url, &cfg->help_url_source, err);
}

/* set_list_help_url - a list's own help URL template. */
static bool set_list_help_url(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;
	return compile(value, &l->help_url, &l->help_url_source, err);
}

/* set_codes - the answer filter of a DNS list. */
static bool set_codes(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;
	return codes_parse(&l->codes, value, strlen(value), err);
}

/* set_check - which request attributes an RHSBL looks at. */
static bool set_check(struct loader *ld, void *base, const char *value, const char **err)
{
	static const char *const choices[] = { "sender", "helo", "client_name",
					       "reverse_client_name" };
	struct list_config *l = base;
	const char *pos = value, *item;
	size_t len;

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

#define CFG(field) offsetof(struct config, field)
#define LST(field) offsetof(struct list_config, field)

static const struct key_spec server_keys[] = {
	{ "listen", V_CUSTOM, 0, 0, 0, true, set_listen },
	{ "socket_mode", V_CUSTOM, 0, 0, 0, false, set_socket_mode },
	{ "socket_group", V_CUSTOM, 0, 0, 0, false, set_socket_group },
	{ "allow", V_CUSTOM, 0, 0, 0, false, set_allow },
	{ "user", V_CUSTOM, 0, 0, 0, false, set_user },
	{ "max_connections", V_LONG, CFG(max_connections), 1, 1000000, false, NULL },
	{ "idle_timeout", V_DURATION, CFG(idle_timeout_ms), 0, 86400000, false, NULL },
	{ "request_timeout", V_DURATION, CFG(request_timeout_ms), 0, 600000, false, NULL },
	{ "log", V_CUSTOM, 0, 0, 0, false, set_log },
	{ "log_level", V_CUSTOM, 0, 0, 0, false, set_log_level },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

static const struct key_spec dns_keys[] = {
	{ "nameserver", V_CUSTOM, 0, 0, 0, true, set_nameserver },
	{ "timeout", V_DURATION, CFG(dns_timeout_ms), 0, 60000, false, NULL },
	{ "tries", V_LONG, CFG(dns_tries), 1, 3, false, NULL },
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
	{ "threshold", V_LONG, CFG(threshold), -1000000, 1000000, false, NULL },
	{ "allowlist_threshold", V_LONG, CFG(allowlist_threshold), -1000000, 1000000, false, NULL },
	{ "action", V_CUSTOM, 0, 0, 0, false, set_action },
	{ "text", V_CUSTOM, 0, 0, 0, false, set_text },
	{ "help_url", V_CUSTOM, 0, 0, 0, false, set_help_url },
	{ "contact", V_STRING, CFG(contact), 0, 0, false, NULL },
	{ "on_error", V_CUSTOM, 0, 0, 0, false, set_on_error },
	{ "skip_authenticated", V_BOOL, CFG(skip_authenticated), 0, 0, false, NULL },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

/* Keys of list sections; list_key_applies() says which kinds take which. */
static const struct key_spec list_keys[] = {
	{ "codes", V_CUSTOM, 0, 0, 0, false, set_codes },
	{ "weight", V_LONG, LST(weight), -1000000, 1000000, false, NULL },
	{ "ipv6", V_BOOL, LST(ipv6), 0, 0, false, NULL },
	{ "help_url", V_CUSTOM, 0, 0, 0, false, set_list_help_url },
	{ "check", V_CUSTOM, 0, 0, 0, false, set_check },
	{ "file", V_STRING, LST(file), 0, 0, false, NULL },
	{ "reason", V_STRING, LST(reason), 0, 0, false, NULL },
	{ NULL, 0, 0, 0, 0, false, NULL },
};

/* list_key_applies - whether a list key makes sense for the list's kind. */
static bool list_key_applies(const char *key, enum list_kind kind)
{
	if (strcmp(key, "codes") == 0)
		return kind != LIST_LOCAL;
	if (strcmp(key, "ipv6") == 0)
		return kind == LIST_DNSBL || kind == LIST_DNSWL;
	if (strcmp(key, "check") == 0)
		return kind == LIST_RHSBL;
	if (strcmp(key, "file") == 0)
		return kind == LIST_LOCAL;
	return true;
}

/* store_value - parse a table-described value into base + offset. */
static bool store_value(struct loader *ld, const struct key_spec *k, void *base, const char *value,
			const char **err)
{
	char *slot = (char *)base + k->offset;

	switch (k->kind) {
	case V_DURATION:
		return parse_duration_ms(value, (unsigned long)k->max, (unsigned long *)slot, err);
	case V_LONG: {
		long v;
		if (!parse_long(value, k->min, k->max, &v, err))
			return false;
		*(long *)slot = v;
		return true;
	}
	case V_BOOL:
		return parse_bool(value, (bool *)slot, err);
	case V_STRING:
		if (*value == '\0') {
			*err = "empty value";
			return false;
		}
		return copy_string((char **)slot, value, err);
	case V_CUSTOM:
		return k->custom(ld, base, value, err);
	}
	return false;
}

/* section_table - the keys of the current section, its object and its seen-bits. */
static const struct key_spec *section_table(struct loader *ld, void **base, unsigned **seen)
{
	switch (ld->section_kind) {
	case SECTION_SERVER:
		*base = ld->cfg, *seen = &ld->cfg->seen[0];
		return server_keys;
	case SECTION_DNS:
		*base = ld->cfg, *seen = &ld->cfg->seen[1];
		return dns_keys;
	case SECTION_CACHE:
		*base = ld->cfg, *seen = &ld->cfg->seen[2];
		return cache_keys;
	case SECTION_POLICY:
		*base = ld->cfg, *seen = &ld->cfg->seen[3];
		return policy_keys;
	case SECTION_LIST:
		*base = ld->list, *seen = &ld->list->seen;
		return list_keys;
	case SECTION_NONE:
		break;
	}
	return NULL;
}

/* loader_set_key - find the key in the current section's table and store its value. */
void loader_set_key(struct loader *ld, const char *key, const char *value)
{
	void *base = NULL;
	unsigned *seen = NULL;
	const struct key_spec *table = section_table(ld, &base, &seen);
	const char *err = NULL;

	for (unsigned i = 0; table[i].name != NULL; i++) {
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
		if (!store_value(ld, k, base, value, &err))
			loader_error(ld, ld->line, "%s: %s", key, err);
		return;
	}
	loader_error(ld, ld->line, "unknown key '%.60s'", key);
}

/* begin_list - "dnsbl zone" and friends: a new list with its kind's defaults. */
static void begin_list(struct loader *ld, enum list_kind kind, const char *name, size_t len)
{
	struct config *cfg = ld->cfg;

	while (len > 0 && (*name == ' ' || *name == '\t'))
		name++, len--;
	if (len > 253) {
		loader_error(ld, ld->line, "[%s ...]: a zone name has at most 253 bytes",
			     list_kind_name(kind));
		ld->section_ok = false;
		return;
	}
	if (len == 0 || memchr(name, ' ', len) || memchr(name, '\t', len)) {
		loader_error(ld, ld->line, "[%s] needs one name: [%s NAME]", list_kind_name(kind),
			     list_kind_name(kind));
		ld->section_ok = false;
		return;
	}
	for (size_t i = 0; i < cfg->list_count; i++) {
		if (cfg->lists[i].kind == kind && strlen(cfg->lists[i].name) == len &&
		    memcmp(cfg->lists[i].name, name, len) == 0) {
			loader_error(ld, ld->line, "[%s %.*s] already defined at line %u",
				     list_kind_name(kind), (int)len, name, cfg->lists[i].line);
			ld->section_ok = false;
			return;
		}
	}
	struct list_config *grown = realloc(cfg->lists, (cfg->list_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		loader_error(ld, ld->line, "out of memory");
		ld->section_ok = false;
		return;
	}
	cfg->lists = grown;
	struct list_config *l = &cfg->lists[cfg->list_count++];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	l->line = ld->line;
	l->name = strndup(name, len);
	l->weight = kind == LIST_DNSWL ? -1 : 1;
	l->checks = CHECK_SENDER;
	codes_default(&l->codes);
	ld->list = l;
	ld->section_kind = SECTION_LIST;
}

/* loader_begin_section - called by the line reader for each "[...]" header. */
void loader_begin_section(struct loader *ld, const char *name, size_t len)
{
	static const char *const singletons[] = { NULL, "server", "dns", "cache", "policy" };
	static const char *const lists[] = { "dnsbl", "dnswl", "rhsbl", "list" };

	ld->section_ok = true;
	ld->list = NULL;
	for (int s = SECTION_SERVER; s <= SECTION_POLICY; s++) {
		if (strlen(singletons[s]) == len && memcmp(singletons[s], name, len) == 0) {
			ld->section_kind = (enum section_kind)s;
			if (ld->section_line[s] == 0)
				ld->section_line[s] = ld->line;
			return;
		}
	}
	for (int k = LIST_DNSBL; k <= LIST_LOCAL; k++) {
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

/* list_file_error - report a bad line of a local list file as FILE:LINE. */
static void list_file_error(void *ctx, unsigned line, const char *message)
{
	struct loader *ld = ctx;
	char full[1200];

	snprintf(full, sizeof(full), "%s:%u: %s", ld->list->file, line, message);
	ld->errors++;
	ld->on_error(ld->ctx, full);
}

/* load_local_list - read a [list] file into its CIDR set. */
static void load_local_list(struct loader *ld, struct list_config *l);

/*
 * resolve_relative - a relative list file is taken relative to the configuration
 * file's directory, so that a configuration and its lists can move together.
 */
static void resolve_relative(struct loader *ld, struct list_config *l)
{
	const char *slash = strrchr(ld->name, '/');
	char *joined;

	if (l->file[0] == '/' || slash == NULL)
		return;
	size_t dir_len = (size_t)(slash - ld->name);
	joined = malloc(dir_len + 1 + strlen(l->file) + 1);
	if (joined == NULL)
		return;
	sprintf(joined, "%.*s/%s", (int)dir_len, ld->name, l->file);
	free(l->file);
	l->file = joined;
}

/* finish_list - checks of one list section that need all its keys. */
static void finish_list(struct loader *ld, struct list_config *l)
{
	if (l->kind == LIST_LOCAL) {
		if (l->file == NULL) {
			loader_error(ld, l->line, "[list %s] needs file = PATH", l->name);
			return;
		}
		resolve_relative(ld, l);
		ld->list = l;
		load_local_list(ld, l);
	}
}

/* loader_finish - checks that need the whole file. */
void loader_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	unsigned server_line = ld->section_line[SECTION_SERVER] ? ld->section_line[SECTION_SERVER] : 1;
	unsigned policy_line = ld->section_line[SECTION_POLICY] ? ld->section_line[SECTION_POLICY] : 1;
	const char *err = NULL;

	if (cfg->listen_count == 0 && getenv("LISTEN_FDS") == NULL)
		loader_error(ld, server_line, "[server] needs at least one listen = ...");
	if (cfg->min_ttl_ms > cfg->max_ttl_ms)
		loader_error(ld, ld->section_line[SECTION_CACHE], "min_ttl is larger than max_ttl");
	if (cfg->allow == NULL) {
		cfg->allow = cidr_set_new();
		if (cfg->allow == NULL ||
		    !cidr_set_parse_list(cfg->allow, "127.0.0.0/8 ::1", 15, &err, NULL, NULL))
			loader_error(ld, server_line, "out of memory");
		else
			cidr_set_finish(cfg->allow);
	}
	if (cfg->text == NULL) {
		static const char default_text[] =
			"Your host [$client_address] is blacklisted by $rbl_domain"
			"${rbl_reason?: $rbl_reason}. See $help_url or send your questions to $contact";
		if (!compile(default_text, &cfg->text, &cfg->text_source, &err))
			loader_error(ld, policy_line, "default text: %s", err);
	}
	if (cfg->text != NULL && template_uses(cfg->text, "contact") && cfg->contact == NULL)
		loader_error(ld, policy_line, "the reply text uses $contact: set contact = ADDRESS");
	if (cfg->text != NULL && template_uses(cfg->text, "help_url") && cfg->help_url == NULL)
		loader_error(ld, policy_line, "the reply text uses $help_url: set help_url = URL");
	if (cfg->allowlist_threshold >= cfg->threshold)
		loader_error(ld, policy_line, "allowlist_threshold must be below threshold");
	for (size_t i = 0; i < cfg->list_count; i++)
		finish_list(ld, &cfg->lists[i]);
}

/* load_local_list - read the file now so that -t and SIGHUP see its errors. */
static void load_local_list(struct loader *ld, struct list_config *l)
{
	FILE *f = fopen(l->file, "rb");
	char *text = NULL;
	size_t cap = 0, len = 0;

	if (f == NULL) {
		loader_error(ld, l->line, "[list %s] cannot open %s: %s", l->name, l->file,
			     strerror(errno));
		return;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *grown = ncap > (1u << 30) ? NULL : realloc(text, ncap);
			if (grown == NULL) {
				loader_error(ld, l->line, "[list %s] %s is too large", l->name, l->file);
				fclose(f);
				free(text);
				return;
			}
			text = grown, cap = ncap;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		loader_error(ld, l->line, "[list %s] cannot read %s: %s", l->name, l->file,
			     strerror(errno));
	fclose(f);
	l->set = cidr_set_new();
	if (l->set == NULL || cidr_set_load_text(l->set, text, len, list_file_error, ld) < 0)
		loader_error(ld, l->line, "[list %s] out of memory", l->name);
	else
		cidr_set_finish(l->set);
	free(text);
}
