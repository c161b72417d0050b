/*
 * probe - the RFC 5782 health checks of the DNS lists: 127.0.0.2 (for an RHSBL,
 * "test") must be listed and 127.0.0.1 ("invalid") must not, or the list's own
 * test_listed and test_unlisted. Every list is checked at start, then every
 * health_interval; one that fails (dead, or a wildcard that lists everything) is
 * disabled until a check passes again. A check that gets no usable answer
 * changes nothing and is retried sooner. With ipv6 = auto a check also asks the
 * IPv6 test points ::FFFF:7F00:2 (listed) and ::FFFF:7F00:1 (not): IPv6 clients
 * are asked only when both answer so. health = off: only those are asked.
 *
 * The tripwire: while lookups find listings, the unlisted test point is asked
 * again once it was last asked HEALTH_TRIPWIRE_MS ago (health.h), whatever
 * health_interval says, so that a list that starts listing everything is
 * disabled within 30 s; a list that only lists what it should is never tripped.
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

/*
 * probe_tripwire - a lookup found a listing on the list whose state is h: ask its
 * unlisted test point when the tripwire is due (health_tripwire_due); when it is
 * listed, the list is disabled (health_tripped). Cheap when not due.
 */
void probe_tripwire(struct probe *p, struct list_health *h);

/* probe_busy - checks still waiting for answers, or the first round not begun (--check waits). */
bool probe_busy(const struct probe *p);

/* probe_free - abandon the checks in flight and close the timer. */
void probe_free(struct probe *p);

#endif
