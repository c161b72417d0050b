/*
 * config_internal - the loader state shared by config.c (file reading, inih glue)
 * and config_keys.c (sections, keys, validation). Not used outside the config module.
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
	SECTION_LIST,
};

struct loader {
	const char *name;   /* file name for messages */
	const char *text;   /* the whole file */
	size_t len;
	size_t pos;         /* next byte for the line reader */
	unsigned line;      /* line number of the line inih is handling */
	config_error_fn *on_error;
	void *ctx;
	unsigned errors;

	struct config *cfg;
	enum section_kind section_kind;
	bool section_ok;    /* false after a bad header: its keys are skipped silently */
	struct list_config *list; /* the current list section */
	unsigned section_line[SECTION_LIST]; /* header line of each singleton section */
};

__attribute__((format(printf, 3, 4))) void loader_error(struct loader *ld, unsigned line,
							 const char *fmt, ...);
void loader_begin_section(struct loader *ld, const char *name, size_t len);
void loader_set_key(struct loader *ld, const char *key, const char *value);
void loader_finish(struct loader *ld);

#endif
