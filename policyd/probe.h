/*
 * probe - the RFC 5782 health checks of the DNS lists: 127.0.0.2 (for an RHSBL,
 * "test") must be listed and 127.0.0.1 ("invalid") must not. Every list is
 * checked at start, then every health_interval; one that fails (dead, or a
 * wildcard that lists everything) is disabled until a check passes again. A
 * check that gets no usable answer changes nothing and is retried sooner.
 *
 * Verdicts go into the lists' struct list_health (health.h), which the engine
 * owns. Memory: the probe owns its timer, its copy of the current lists (names
 * and health references) and its checks in flight, each of which holds its own
 * health reference; the engine owns the probe.
 */
#ifndef POLICYD_PROBE_H
#define POLICYD_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "health.h"
#include "rules.h"

struct probe;
struct resolver;

/* probe_new - checks through resolver every interval_ms; the first round runs at once. */
struct probe *probe_new(uv_loop_t *loop, struct resolver *resolver, uint64_t interval_ms);

/*
 * probe_set_lists - the lists of the current configuration (health[i] for r's list
 * i; NULL for local lists). Lists never checked, and disabled ones, are checked
 * now: an administrator who fixed a list reloads and expects it back at once.
 */
void probe_set_lists(struct probe *p, const struct rules *r, struct list_health *const *health,
		     uint64_t interval_ms);

/* probe_busy - checks still waiting for answers, or the first round not begun (--check waits). */
bool probe_busy(const struct probe *p);

/* probe_free - abandon the checks in flight and close the timer. */
void probe_free(struct probe *p);

#endif
