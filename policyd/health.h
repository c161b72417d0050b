/*
 * health - keeps dead and wildcarded lists from refusing the world: the RFC 5782
 * health check (127.0.0.2 / TEST must be listed, 127.0.0.1 / INVALID must not)
 * at start and every 10 minutes, and a circuit breaker that skips a list for a
 * while after lookups in a row have failed. State lives in each list's
 * struct list_health; one log line when a list changes state, not one per request.
 */
#ifndef POLICYD_HEALTH_H
#define POLICYD_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "lookup.h"

/* Lookups in a row that must fail before the breaker skips a list. */
#define HEALTH_BREAKER_FAILURES 5

struct health;

/* health_new - check every DNS list of cfg now and every 10 minutes. */
struct health *health_new(struct lookup_env *env, struct config *cfg);

/* health_set_config - a reload: carry states over by kind and name, check new and disabled lists. */
void health_set_config(struct health *h, struct config *cfg);

void health_free(struct health *h);

/* health_busy - whether checks are still waiting for answers (--check waits for them). */
bool health_busy(const struct health *h);

/* health_usable - whether a list may be consulted now (healthy, breaker closed). */
enum list_outcome health_usable(const struct list_config *l, uint64_t now);

/* health_record - the breaker's bookkeeping after a list's lookup for one request. */
void health_record(struct list_config *l, bool answered, uint64_t now);

/* health_error_code - log (at most once a minute per list) an error answer such as 127.255.255.254. */
void health_error_code(struct list_config *l, const uint8_t code[4], uint64_t now);

#endif
