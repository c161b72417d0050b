/*
 * config - the configuration file (policyd.ini(5)): loading with inih, strict
 * validation, and the struct config that the rest of the daemon reads.
 *
 * Every error is reported as "FILE:LINE: message" through the caller's callback,
 * and loading goes on so that one run shows all errors; warnings (a nameserver off
 * loopback, an example.org contact) go through the same callback as
 * "FILE:LINE: warning: message" and do not fail the load. A struct config is
 * immutable once loaded (the run-time state of lists, such as their health, is
 * the engine's); a reload builds a new one and swaps it. The one exception is the
 * contents of local list files, which the engine swaps whole when a file changes.
 *
 * Memory: the config owns everything it points to (strings, templates, CIDR and
 * name sets); it is reference-counted because lookups in flight keep using the
 * configuration they started with after a reload.
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
#include "redis.h"
#include "rules.h"

struct cidr_set;
struct template;

/* One `listen =` line. */
struct listen_spec {
	enum { LISTEN_UNIX, LISTEN_TCP } kind;
	unsigned line;
	char text[128];               /* as written, for logs */
	char path[108];               /* unix: the socket path */
	struct sockaddr_storage addr; /* tcp: address and port */
};

struct config {
	char *path;

	/* [server] */
	struct listen_spec *listen;
	size_t listen_count;
	unsigned socket_mode;
	char *socket_group;
	gid_t socket_gid;
	struct cidr_set *allow;
	char *user;
	uid_t uid;
	gid_t gid;
	long max_connections;
	long max_tcp_connections;  /* 0: three quarters of max_connections beside a unix socket */
	long max_peer_connections; /* from one TCP peer address */
	unsigned long idle_timeout_ms;
	unsigned long request_timeout_ms;
	enum log_target log;
	enum log_level log_level;

	/* [dns] */
	struct sockaddr_storage *nameserver;
	size_t nameserver_count;
	unsigned long dns_timeout_ms;
	long dns_tries;
	unsigned long health_interval_ms; /* RFC 5782 checks of every list */
	long breaker_failures;            /* lookups in a row that fail before a list is skipped */
	unsigned long breaker_backoff_ms; /* how long, the first time (then doubling) */
	unsigned long breaker_backoff_max_ms;

	/* [cache] */
	long cache_size;
	unsigned long min_ttl_ms;
	unsigned long max_ttl_ms;
	unsigned long negative_ttl_ms;
	unsigned long error_ttl_ms;

	/* [policy] and the list sections */
	struct rules rules;

	/* [http] */
	struct listen_spec *http_listen;
	size_t http_listen_count;
	struct cidr_set *metrics_allow;
	char *http_help_dir; /* the help page's files; NULL: help_default_dir() */
	long http_max_connections;
	long http_per_ip_connections;  /* 0: no limit */
	unsigned long http_timeout_ms; /* idle HTTP connections are closed after this */

	/* [greylist]: the times and networks are in rules.greylist. */
	unsigned long greylist_delay_ms;
	unsigned long greylist_max_wait_ms;
	unsigned long greylist_pass_ttl_ms;
	long greylist_auto_allow;
	long greylist_network_v4;
	long greylist_network_v6;
	char *greylist_store; /* as written: "memory" or a Redis URL */
	bool greylist_redis;  /* the store is Redis: greylist_target says where */
	struct redis_target greylist_target;
	long greylist_size;                      /* memory store: entries */
	char *greylist_state_file;               /* memory store: NULL, none */
	unsigned long greylist_save_interval_ms; /* memory store: how often state_file is written */
	char *greylist_password_file; /* Redis: AUTH with its one line (greylist_target.password) */
	unsigned long greylist_timeout_ms; /* Redis: the deadline of each command */

	unsigned seen[6]; /* keys given per singleton section, to reject duplicates */
	unsigned refs;    /* holders: main, the engine, lookups in flight */
};

/* config_error_fn - receives one complete "FILE:LINE: message" line. */
typedef void config_error_fn(void *ctx, const char *message);

/*
 * config_load - read and validate the file at path. On success returns the config
 * and reports only warnings; otherwise reports every error and returns NULL.
 */
struct config *config_load(const char *path, config_error_fn *on_error, void *ctx);

/*
 * config_load_text - the same for a configuration held in memory (name is used in
 * messages and to find relative list files). Used by config_load, tests and the fuzzer.
 */
struct config *config_load_text(const char *name, const char *text, size_t len,
				config_error_fn *on_error, void *ctx);

/* config_ref - one more holder; config_unref frees the config when the last lets go. */
struct config *config_ref(struct config *cfg);
void config_unref(struct config *cfg);

/*
 * config_lists_equal - the same DNS lists in the same order with the same kinds,
 * codes and checks: cached results stay meaningful, and a reload may keep the cache.
 */
bool config_lists_equal(const struct config *a, const struct config *b);

/* config_listen_equal - same listeners: a reload cannot rebind sockets after dropping root. */
bool config_listen_equal(const struct config *a, const struct config *b);

/* config_has_dns_lists - whether any list needs DNS (and so a resolver). */
bool config_has_dns_lists(const struct config *cfg);

/*
 * config_read_file - the whole of a regular file of at most max bytes, opened without
 * blocking (a FIFO or a device is refused, not waited on) into a heap buffer the
 * caller frees, NUL-terminated. NULL with errno set (EFBIG: too large, EINVAL: not
 * a regular file). Used for the configuration and for local list files.
 */
char *config_read_file(const char *path, size_t max, size_t *len);

struct name_set;

/*
 * config_load_list - read the file of local list l into a new CIDR set (type
 * address) or name set (other types), reporting each bad line as LISTFILE:LINE,
 * and a file that cannot be read as CONFIG:LINE (the list's section in the
 * configuration file config_name). On any error nothing is returned (both NULL)
 * and false: a half-read list never replaces a good one. *open_line is set to the
 * number of the file's last line when that line has no newline (the file may still
 * be being written; the caller decides), 0 otherwise. It logs nothing and touches
 * no shared state, so that it can run on a thread of libuv's pool (watch.c).
 */
bool config_load_list(const struct list_config *l, const char *config_name, struct cidr_set **set,
		      struct name_set **names, config_error_fn *on_error, void *ctx,
		      unsigned *open_line);

/* The largest local list file read: ten million entries of a typical length. */
#define CONFIG_LIST_FILE_MAX ((size_t)256 << 20)

#endif
