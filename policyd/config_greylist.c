/*
 * config_greylist - the [greylist] section (policyd.ini(5)): where greylisting
 * keeps its state (`store`), the Redis password (`password_file`, read here like a
 * list's key file: a regular file others cannot read, never reported), and the
 * checks that need the whole file: times that make sense together, a Redis
 * deadline inside request_timeout, and the section unused unless soft_action =
 * greylist. Fills rules.greylist from the section's values. Strings stored here
 * belong to the config being loaded.
 */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

/* The longest Redis password read (Redis itself takes longer ones; nobody writes them). */
#define PASSWORD_MAX 256

/* value_greylist_store - "memory", or a Redis URL checked (and resolved) at once. */
bool value_greylist_store(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;

	(void)ld;
	if (strcmp(value, "memory") == 0) {
		cfg->greylist_redis = false;
	} else if (strncmp(value, "redis://", 8) == 0 || strncmp(value, "redis+unix:", 11) == 0) {
		if (!redis_target_parse(value, &cfg->greylist_target, err))
			return false;
		cfg->greylist_redis = true;
	} else {
		*err = "expected memory, redis://HOST:PORT/DB or redis+unix:/PATH";
		return false;
	}
	return config_copy(&cfg->greylist_store, value, err);
}

/* read_password - password_file's one line into the Redis target. */
static void read_password(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	char password[SECRET_FILE_MAX + 1];
	unsigned line = loader_key_line(ld, SECTION_GREYLIST, "password_file");

	loader_resolve_relative(ld, &cfg->greylist_password_file);
	if (!loader_read_secret(ld, line, "password_file", cfg->greylist_password_file,
				"the password", password, sizeof(password)))
		return;
	size_t len = strlen(password);
	if (len > PASSWORD_MAX || strpbrk(password, "\r\n") != NULL) {
		explicit_bzero(password, sizeof(password));
		loader_error(ld, line, "password_file %s: expected one line of at most %d bytes",
			     cfg->greylist_password_file, PASSWORD_MAX);
		return;
	}
	cfg->greylist_target.password = strdup(password);
	explicit_bzero(password, sizeof(password));
	if (cfg->greylist_target.password == NULL)
		loader_error(ld, line, "out of memory");
}

/* loader_finish_greylist - the section's checks, and the rules it gives. */
void loader_finish_greylist(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	struct rules *r = &cfg->rules;
	unsigned section = ld->section_line[SECTION_GREYLIST];

	r->greylist = (struct greylist_rules){
		.delay_s = (uint32_t)(cfg->greylist_delay_ms / 1000),
		.max_wait_s = (uint32_t)(cfg->greylist_max_wait_ms / 1000),
		.pass_ttl_s = (uint32_t)(cfg->greylist_pass_ttl_ms / 1000),
		.auto_allow = (unsigned)cfg->greylist_auto_allow,
		.network_v4 = (unsigned)cfg->greylist_network_v4,
		.network_v6 = (unsigned)cfg->greylist_network_v6,
	};
	cfg->greylist_target.timeout_ms = cfg->greylist_timeout_ms;
	if (r->soft_action != ACTION_GREYLIST) {
		if (section != 0)
			loader_warn(
				ld, section,
				"[greylist] has no effect: [policy] soft_action is not greylist");
		return;
	}
	if (r->soft_threshold == 0)
		loader_warn(ld, loader_key_line(ld, SECTION_POLICY, "soft_action"),
			    "soft_action = greylist has no effect while soft_threshold is 0 (off)");
	/* The store counts whole seconds, and a retry passes strictly after delay and
	 * strictly before max_wait: some second must lie between the two. */
	if (cfg->greylist_max_wait_ms / 1000 < cfg->greylist_delay_ms / 1000 + 2)
		loader_error(
			ld, loader_key_line(ld, SECTION_GREYLIST, "max_wait"),
			"max_wait must be at least 2s longer than delay (whole seconds): no retry could pass");
	if (cfg->greylist_pass_ttl_ms < cfg->greylist_max_wait_ms)
		loader_error(ld, loader_key_line(ld, SECTION_GREYLIST, "pass_ttl"),
			     "pass_ttl must be at least max_wait");
	if (cfg->greylist_redis) {
		if (cfg->greylist_timeout_ms >= cfg->request_timeout_ms)
			loader_error(
				ld, loader_key_line(ld, SECTION_GREYLIST, "timeout"),
				"timeout must be shorter than [server] request_timeout: a request waits for the store within it");
		if (cfg->greylist_password_file != NULL)
			read_password(ld);
		if (cfg->greylist_state_file != NULL)
			loader_warn(
				ld, loader_key_line(ld, SECTION_GREYLIST, "state_file"),
				"state_file is for the memory store; Redis keeps its own state");
	} else {
		if (cfg->greylist_password_file != NULL)
			loader_warn(
				ld, loader_key_line(ld, SECTION_GREYLIST, "password_file"),
				"password_file is for a Redis store; the memory store needs none");
		if (cfg->greylist_state_file != NULL)
			loader_resolve_relative(ld, &cfg->greylist_state_file);
	}
}
