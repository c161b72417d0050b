/*
 * health - the run-time state of one DNS list, owned by the engine: whether its
 * RFC 5782 health check passed, its circuit breaker, the rate limit of its
 * "error answer" warning, and its counters (for statistics and /metrics).
 *
 * A configuration is immutable; this state is not. Each list of the current
 * configuration has one struct list_health, found by kind and name, so that a
 * reload keeps the state of lists that stay, and lookups or checks begun under
 * an older configuration write into the same object (never into a configuration
 * that may already be gone). Memory: reference-counted; the engine's table holds
 * one reference per list, and each lookup or check in flight holds its own.
 */
#ifndef POLICYD_HEALTH_H
#define POLICYD_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "breaker.h"
#include "result.h"
#include "rules.h"

struct list_health {
	unsigned refs;
	enum list_kind kind;
	char *name;   /* a copy: the list's zone */
	bool checked; /* a health check has given a verdict */
	bool healthy; /* it passed: the list may be asked */
	bool check_running;
	struct breaker breaker;
	uint64_t last_error_log; /* loop time of the last "error answer" warning */
	/* Counters since start: DNS queries sent for lookups (A and TXT), listings,
	 * error answers (127.255.255.x, outside 127/8), failures (SERVFAIL, timeouts),
	 * and requests that skipped it (disabled or breaker open). */
	uint64_t queries, listed, errors, failures, skipped;
};

/* health_new - the state of a list never checked (not consulted until a check passes). */
struct list_health *health_new(enum list_kind kind, const char *name);
struct list_health *health_ref(struct list_health *h);
void health_unref(struct list_health *h);

/*
 * health_usable - whether the list may be asked now: OUTCOME_PENDING (yes),
 * OUTCOME_UNHEALTHY (disabled or not checked yet) or OUTCOME_BREAKER.
 */
enum outcome health_usable(const struct list_health *h, const struct breaker_params *p,
			   uint64_t now);

/* health_record - one lookup of the list answered or failed: the breaker, logged when it changes. */
void health_record(struct list_health *h, const struct breaker_params *p, bool answered,
		   uint64_t now);

/* health_error_code - an error answer such as 127.255.255.254: counted, logged once a minute. */
void health_error_code(struct list_health *h, const uint8_t code[4], uint64_t now);

/*
 * health_judge - the verdict of an RFC 5782 check: both test points answered as
 * they must (healthy), or not; logged loudly when the state changes.
 */
void health_judge(struct list_health *h, bool listed_ok, bool unlisted_ok);

#endif
