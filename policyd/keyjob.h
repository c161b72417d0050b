/*
 * keyjob - the DNS lookups of one cache key, shared by every request that needs
 * the key while they are in flight (no duplicate queries), and their end: a
 * result (result.h) that goes into the verdict cache and to every waiter.
 *
 * A key job asks every usable list of the key's kind at once: an A query for the
 * key's name, then a TXT query for a blocklist that hit. Answers are untrusted:
 * an A answer counts only inside the list's codes and never when it is an error
 * code (127.255.255.x, outside 127/8). The lists' health (health.h) decides
 * which lists are asked (IPv6 clients: health_asks_v6), and learns from the
 * answers (circuit breaker); a listing is reported to the probe's tripwire.
 *
 * Rules: keyjob_wait returning false means the waiter's done is never called;
 * otherwise done is called exactly once, from a loop callback, unless
 * keyjob_unwait comes first. Memory: the table owns the jobs in flight; each job
 * holds a reference to the configuration and to the lists' health it began
 * with; waiters are embedded in the requests that wait.
 */
#ifndef POLICYD_KEYJOB_H
#define POLICYD_KEYJOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "breaker.h"
#include "config.h"
#include "health.h"
#include "keys.h"
#include "result.h"

struct keyjob;
struct keyjob_table;
struct lru;
struct probe;
struct reasons;
struct resolver;

/*
 * The most key jobs in flight; requests that would start more get on_error. With a
 * resolver that answers, a lookup takes milliseconds and this allows tens of
 * thousands of new lookups a second; with one that does not, it bounds the queries
 * udns keeps, whose cost grows with their number (udns 0.4 checks each new query
 * ID against every active query).
 */
#define KEYJOB_MAX 1024

/* A request waiting for a key; embedded in the request's own record. */
struct keyjob_waiter {
	LIST_ENTRY(keyjob_waiter) link;                            /* on its job's waiters */
	struct keyjob *job;                                        /* NULL when not waiting */
	void (*done)(struct keyjob_waiter *w, struct result *res); /* res is lent: ref to keep */
};

/* keyjob_table_new - jobs use resolver, intern reasons in reasons, fill cache (may change). */
struct keyjob_table *keyjob_table_new(uv_loop_t *loop, struct resolver *resolver,
				      struct reasons *reasons, const uint8_t seed[16]);
void keyjob_table_set_cache(struct keyjob_table *t, struct lru *cache);
void keyjob_table_set_breaker(struct keyjob_table *t, const struct breaker_params *p);

/* keyjob_table_set_probe - where listings are reported (probe_tripwire); NULL: nowhere. */
void keyjob_table_set_probe(struct keyjob_table *t, struct probe *p);

/*
 * keyjob_table_new_generation - a reload that emptied the cache: jobs begun before
 * finish, but neither fill the cache nor take new waiters.
 */
void keyjob_table_new_generation(struct keyjob_table *t);

/* keyjob_table_free - the resolver has failed every query by now, so no job is left. */
void keyjob_table_free(struct keyjob_table *t);

/*
 * keyjob_wait - make w wait for key under cfg (health[i]: list i's state; usable:
 * what the request found it allows now, health_usable_all): join the job in
 * flight, or start one that asks the askable lists. False when nothing could be
 * sent (no usable list, no memory, KEYJOB_MAX reached): w->done is then never
 * called.
 */
bool keyjob_wait(struct keyjob_table *t, struct config *cfg, struct list_health *const *health,
		 const struct decision_lists *usable, const struct key *key,
		 struct keyjob_waiter *w);

/* keyjob_unwait - stop waiting (the request's deadline passed); the job goes on. */
void keyjob_unwait(struct keyjob_waiter *w);

/* Counters: jobs in flight, and requests that joined one instead of asking again. */
size_t keyjob_in_flight(const struct keyjob_table *t);
uint64_t keyjob_coalesced(const struct keyjob_table *t);

#endif
