/*
 * engine - the one place that decides. It owns the verdict cache, the key jobs in
 * flight, the resolver, the lists' run-time health and their RFC 5782 probes, and
 * the reasons table; the daemon's connections, --check and the help page are its
 * clients.
 *
 * One request walks down and back once: engine_decide() runs the pure steps of
 * decision.h (exemptions, local lists), derives the request's keys, reads the
 * cache, and either answers at once (a hit allocates nothing) or parks the request
 * until its key jobs end or request_timeout passes, then renders the reply
 * (reply.h) and logs the decision.
 *
 * Rules: engine_decide() returning ENGINE_PENDING means done(reply) will be called
 * exactly once, no later than request_timeout, after the engine has stopped
 * counting the request as waiting; ENGINE_ANSWERED means it will not be called.
 * The reply belongs to the caller and must stay until then; the engine only
 * writes into it. The request is untrusted and read only during the call: a request
 * that must wait keeps a compact copy of what its reply may show.
 *
 * Memory: the engine holds a reference to the current configuration; requests
 * and key jobs in flight hold references to the configuration they began with.
 */
#ifndef POLICYD_ENGINE_H
#define POLICYD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "decision.h"
#include "health.h"
#include "reply.h"
#include "request.h"

/* A reply for Postfix, "action=...\n\n": the engine writes it into the caller's buffer. */
struct reply {
	size_t len;
	char text[REPLY_MAX];
};

typedef void engine_done_fn(struct reply *reply);

enum engine_outcome { ENGINE_ANSWERED, ENGINE_PENDING };

struct engine;

/* engine_new - the engine for cfg (holds a reference); NULL on error, logged. */
struct engine *engine_new(uv_loop_t *loop, struct config *cfg);

/*
 * engine_new_offline - the same without a greylist store (for --check): a soft-tier
 * request is answered as a new triplet would be, and nothing is remembered.
 */
struct engine *engine_new_offline(uv_loop_t *loop, struct config *cfg);

/*
 * engine_set_config - a reload: new requests use cfg; requests in flight finish with
 * the configuration they began with. False (logged) when what cfg needs cannot be
 * had (a new cache, a resolver): the engine then keeps the old configuration.
 */
bool engine_set_config(struct engine *e, struct config *cfg);

/* engine_decide - answer req into reply now, or park it and call done(reply) later. */
enum engine_outcome engine_decide(struct engine *e, const struct request *req, struct reply *reply,
				  engine_done_fn *done);

/* engine_waiting - requests parked until their lookups end, of every client. */
size_t engine_waiting(const struct engine *e);

/* What engine_explain reports: the decision and what every key's result said. */
struct explanation {
	const struct config *cfg;
	const struct decision *decision;
	struct result *const *results;     /* per decision->keys; NULL: not known */
	struct list_health *const *health; /* per list of cfg; NULL for local lists */
	bool timed_out;
	const char *reply; /* the reply Postfix would get */
	size_t reply_len;
	uint64_t now; /* loop time, ms */
};

typedef void engine_explain_fn(void *arg, const struct explanation *x);

/*
 * engine_explain - decide req as engine_decide would (same lists, same cache, same
 * reply) and report the explanation through fn, exactly once: at once or when
 * the lookups end. The reply is written into the caller's buffer, which must stay
 * until then. For --check.
 */
void engine_explain(struct engine *e, const struct request *req, struct reply *reply,
		    engine_explain_fn *fn, void *arg);

/* engine_settled - the first health checks have answered (--check waits for them). */
bool engine_settled(const struct engine *e);

/* What the cache knows now about one list for one address: for the help page. */
struct engine_list_peek {
	const struct list_config *list;
	enum outcome outcome; /* OUTCOME_PENDING: nothing cached */
	uint8_t code[4];
	char reason[RESULT_REASON_MAX + 64]; /* joined, untrusted bytes */
	size_t reason_len;
	uint64_t expires; /* seconds of the cache's clock (loop time / 1000) */
	bool disabled;    /* health check failed, or not checked yet */
	bool not_asked;   /* an IPv6 address the list is not asked about (ipv6, its IPv6 data) */
};

/*
 * engine_peek - what the cache says about address a for each address list of the
 * current configuration (out[i] for list i; up to max). Never sends a query.
 * Returns the number of lists filled in.
 */
size_t engine_peek(struct engine *e, const struct addr *a, struct engine_list_peek *out,
		   size_t max);

/*
 * engine_peek_domain - the same for a domain (clean, as domain_clean leaves it) and each
 * RHSBL of the current configuration: what the cache says about its domain key. Never
 * sends a query. Returns the number of lists filled in.
 */
size_t engine_peek_domain(struct engine *e, const char *domain, size_t len,
			  struct engine_list_peek *out, size_t max);

/*
 * engine_forget - the help page's "check again": drop the cached verdicts of address a
 * and, when domain is not NULL (clean, len bytes), of that domain, so that the next
 * request that needs them looks them up afresh. Never sends a query; lookups in flight
 * go on. Returns how many cache entries were dropped (0 to 2).
 */
size_t engine_forget(struct engine *e, const struct addr *a, const char *domain, size_t len);

/* engine_config - the configuration new requests use. */
const struct config *engine_config(const struct engine *e);

/* engine_health - the run-time state of list i of the current configuration (NULL: local). */
const struct list_health *engine_health(const struct engine *e, size_t i);

/* engine_list_state - PENDING (asked), UNHEALTHY (disabled) or BREAKER (skipped) now. */
enum outcome engine_list_state(const struct engine *e, const struct list_health *h);

/* Counters for statistics and /metrics. */
struct engine_counters {
	size_t cache_entries, cache_capacity;
	uint64_t cache_hits, cache_misses, cache_evictions, cache_expiries;
	uint64_t coalesced;
	size_t keyjobs_in_flight;
	size_t waiting;          /* requests parked until their lookups end */
	size_t reasons;          /* distinct TXT patterns stored */
	bool greylisting;        /* soft_action = greylist */
	size_t greylist_entries; /* the memory store's triplets and networks */
};
void engine_counters(const struct engine *e, struct engine_counters *out);

/* engine_log_stats - log the cache's and lists' counters. */
void engine_log_stats(const struct engine *e);

/* engine_free - fail what is in flight (requests get their answers), release the engine. */
void engine_free(struct engine *e);

#endif
