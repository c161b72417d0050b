/*
 * breaker - the circuit breaker of one DNS list: after `failures` lookups in a row
 * have failed, the list is skipped for `backoff` (doubling each time it opens
 * again, up to `backoff_max`); the first answer closes it. Skipping a list never
 * refuses mail: it only stops waiting for a list that does not answer.
 *
 * A state machine with the time passed in (milliseconds of any monotonic clock),
 * so that tests drive it without waiting. Plain values; nothing is allocated.
 */
#ifndef POLICYD_BREAKER_H
#define POLICYD_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

struct breaker_params {
	unsigned failures;   /* failures in a row that open the breaker */
	uint64_t backoff_ms; /* the first time it stays open */
	uint64_t backoff_max_ms;
};

struct breaker {
	unsigned failures;   /* lookups in a row that failed */
	uint64_t open_until; /* skipped before this time */
	uint64_t backoff_ms; /* how long it was open last time; 0 when closed */
};

enum breaker_event {
	BREAKER_NONE,
	BREAKER_OPENED, /* the list is skipped from now on, for backoff_ms */
	BREAKER_CLOSED, /* it answered again after having been open */
};

/* breaker_open - whether the list is skipped at now. After the wait, one lookup goes through. */
bool breaker_open(const struct breaker *b, const struct breaker_params *p, uint64_t now);

/* breaker_record - one lookup answered (true) or failed; returns what changed, to be logged once. */
enum breaker_event breaker_record(struct breaker *b, const struct breaker_params *p, bool answered,
				  uint64_t now);

#endif
