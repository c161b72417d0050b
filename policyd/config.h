/*
 * config - the configuration file (spec section 3): loading with inih, strict
 * validation, and the struct config that the rest of the daemon reads.
 *
 * Every error is reported as "FILE:LINE: message" through the caller's callback,
 * and loading goes on so that one run shows all errors. A struct config is
 * immutable once loaded, except the lists' health state; a reload builds a new
 * one and swaps it. Memory: the config owns everything it points to (strings,
 * templates, CIDR sets); it is reference-counted because lookups in flight keep
 * using the configuration they started with after a reload.
 */
#ifndef POLICYD_CONFIG_H
#define POLICYD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "codes.h"
#include "log.h"

struct cidr_set;
struct template;

/* One `listen =` line. */
struct listen_spec {
	enum { LISTEN_UNIX, LISTEN_TCP } kind;
	unsigned line;
	char text[128];                  /* as written, for logs */
	char path[108];                  /* unix: the socket path */
	struct sockaddr_storage addr;    /* tcp: address and port */
};

enum list_kind { LIST_DNSBL, LIST_DNSWL, LIST_RHSBL, LIST_LOCAL };

/* Which request attributes an RHSBL checks. */
enum {
	CHECK_SENDER = 1,
	CHECK_HELO = 2,
	CHECK_CLIENT_NAME = 4,
	CHECK_REVERSE_CLIENT_NAME = 8,
};

/*
 * The run-time state of a DNS list: the RFC 5782 health check and the circuit
 * breaker for lists that keep timing out. The only mutable part of a config;
 * carried over to the new config on reload for lists of the same kind and name.
 */
struct list_health {
	bool checked;        /* a health check has given a verdict */
	bool healthy;        /* it passed: the list may be consulted */
	bool check_running;
	unsigned failures;   /* lookups in a row that timed out or failed */
	uint64_t open_until; /* loop time (ms) before which the breaker skips the list */
	uint64_t backoff_ms;
	uint64_t last_error_log; /* rate limit for "list answered an error code" */
};

/* One [dnsbl|dnswl|rhsbl|list NAME] section. */
struct list_config {
	enum list_kind kind;
	char *name;        /* the DNS zone, or the local list's name */
	unsigned line;     /* line of the section header */
	struct codes codes;
	long weight;
	bool ipv6;
	unsigned checks;   /* CHECK_* for RHSBLs */
	char *help_url_source;
	struct template *help_url; /* NULL: use [policy] help_url */
	char *reason;      /* local lists: the reason shown in replies */
	char *file;        /* local lists: the CIDR file */
	struct cidr_set *set; /* local lists: loaded from file */
	unsigned seen;     /* keys given, to reject duplicates */
	struct list_health health; /* DNS lists only */
};

enum policy_action { ACTION_REJECT, ACTION_DEFER, ACTION_WARN, ACTION_PREPEND };
enum on_error_action { ON_ERROR_DUNNO, ON_ERROR_DEFER };

struct config {
	char *path;

	/* [server] */
	struct listen_spec *listen;
	size_t listen_count;
	unsigned socket_mode;
	bool socket_mode_set;
	char *socket_group;
	gid_t socket_gid;
	struct cidr_set *allow;
	char *user;
	uid_t uid;
	gid_t gid;
	long max_connections;
	unsigned long idle_timeout_ms;
	unsigned long request_timeout_ms;
	enum log_target log;
	enum log_level log_level;

	/* [dns] */
	struct sockaddr_storage *nameserver;
	size_t nameserver_count;
	unsigned long dns_timeout_ms;
	long dns_tries;

	/* [cache] */
	long cache_size;
	unsigned long min_ttl_ms;
	unsigned long max_ttl_ms;
	unsigned long negative_ttl_ms;
	unsigned long error_ttl_ms;

	/* [policy] */
	long threshold;
	long allowlist_threshold;
	enum policy_action action;
	char *text_source;
	struct template *text;
	char *help_url_source;
	struct template *help_url;
	char *contact;
	enum on_error_action on_error;
	bool skip_authenticated;

	/* list sections, in file order */
	struct list_config *lists;
	size_t list_count;

	unsigned seen[4]; /* keys given per singleton section, to reject duplicates */
	unsigned refs;    /* holders: main, the policy engine, lookups in flight */
};

/* config_error_fn - receives one complete "FILE:LINE: message" line. */
typedef void config_error_fn(void *ctx, const char *message);

/*
 * config_load - read and validate the file at path. On success returns the config
 * and reports nothing; otherwise reports every error and returns NULL.
 */
struct config *config_load(const char *path, config_error_fn *on_error, void *ctx);

/*
 * config_load_text - the same for a configuration held in memory (name is used in
 * messages). Used by config_load, by tests and by the fuzzer.
 */
struct config *config_load_text(const char *name, const char *text, size_t len,
				config_error_fn *on_error, void *ctx);

/* config_ref - one more holder; config_unref frees the config when the last lets go. */
struct config *config_ref(struct config *cfg);
void config_unref(struct config *cfg);

/* config_lists_equal - same lists with the same codes: a reload may keep the cache. */
bool config_lists_equal(const struct config *a, const struct config *b);

/* config_listen_equal - same listeners: a reload cannot rebind sockets after dropping root. */
bool config_listen_equal(const struct config *a, const struct config *b);

const char *list_kind_name(enum list_kind kind);

#endif
