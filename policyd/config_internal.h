/*
 * config_internal - the loader state shared by the files of the config module:
 * config.c (file reading, inih glue, lifetime), config_keys.c (sections, keys,
 * values), config_net.c (network and system values) and config_check.c (checks
 * that need the whole file, local list files). Not used outside the module.
 */
#ifndef POLICYD_CONFIG_INTERNAL_H
#define POLICYD_CONFIG_INTERNAL_H

#include "config.h"

enum section_kind {
	SECTION_NONE,
	SECTION_SERVER,
	SECTION_DNS,
	SECTION_CACHE,
	SECTION_POLICY,
	SECTION_HTTP,
	SECTION_GREYLIST,
	SECTION_LIST,
};

struct loader {
	const char *name; /* file name for messages */
	const char *text; /* the whole file */
	size_t len;
	size_t pos;    /* next byte for the line reader */
	unsigned line; /* line number of the line inih is handling */
	config_error_fn *on_error;
	void *ctx;
	unsigned errors;

	struct config *cfg;
	enum section_kind section_kind;
	bool section_ok;          /* false after a bad header: its keys are skipped silently */
	struct list_config *list; /* the current list section */
	unsigned section_line[SECTION_LIST]; /* header line of each singleton section */
	unsigned key_line[SECTION_LIST][32]; /* line of each singleton key, for later checks */
};

/* A setter for a value that needs more than a number: parse, store, or set *err. */
typedef bool custom_fn(struct loader *ld, void *base, const char *value, const char **err);

__attribute__((format(printf, 3, 4))) void loader_error(struct loader *ld, unsigned line,
							const char *fmt, ...);
__attribute__((format(printf, 3, 4))) void loader_warn(struct loader *ld, unsigned line,
						       const char *fmt, ...);
void loader_begin_section(struct loader *ld, const char *name, size_t len);
void loader_set_key(struct loader *ld, const char *key, const char *value);
void loader_finish(struct loader *ld);

/* loader_key_line - where a singleton section's key was given, else the section's line. */
unsigned loader_key_line(const struct loader *ld, enum section_kind section, const char *key);

/* loader_key_given - whether a singleton section's key was given. */
bool loader_key_given(const struct loader *ld, enum section_kind section, const char *key);

/* config_message - a message naming the bad part of a value (a static buffer, one at a time). */
__attribute__((format(printf, 1, 2))) const char *config_message(const char *fmt, ...);

/* config_copy - replace *slot with a heap copy of value. */
bool config_copy(char **slot, const char *value, const char **err);

/* config_free - release a config and everything it owns; NULL is fine. */
void config_free(struct config *cfg);

/* The network and system values (config_net.c). */
custom_fn value_listen, value_http_listen, value_nameserver, value_socket_mode, value_socket_group,
	value_user, value_allow, value_metrics_allow;

/* A DNS list's zone and key file, its health check and IPv6 (config_zone.c). */
custom_fn value_zone, value_key_file, value_health, value_ipv6, value_test_listed,
	value_test_unlisted;

/* loader_finish_zone - a DNS list's query zone, its $key read from key_file (config_zone.c). */
void loader_finish_zone(struct loader *ld, struct list_config *l);

/* The longest secret file read (a list's key, a Redis password), with its newline. */
#define SECRET_FILE_MAX 512

/*
 * loader_read_secret - the content of a secret file without its final newline, cut
 * at size - 1 bytes, into out: a regular file that others may not read, not empty
 * ("expected NOUN on one line"). The caller checks the content. False with "WHAT
 * PATH: why" reported at line; the content is never reported.
 */
bool loader_read_secret(struct loader *ld, unsigned line, const char *what, const char *path,
			const char *noun, char *out, size_t size);

/* The [greylist] section's store and its checks (config_greylist.c); its text
 * (config_keys.c, with the other templates). */
custom_fn value_greylist_store, value_greylist_text;
void loader_finish_greylist(struct loader *ld);

/* loader_resolve_relative - a relative path taken from the configuration file's directory. */
void loader_resolve_relative(struct loader *ld, char **path);

#endif
