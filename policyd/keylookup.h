/*
 * keylookup - the DNS lookups of one cache key, shared by every request that
 * needs that key while it is in flight (spec section 6: no duplicate queries).
 *
 * A key is a client address (all DNSBLs and DNSWLs are asked about it) or a
 * domain (all RHSBLs are asked). Its outcome is a key_result: an immutable,
 * reference-counted record of what each list answered, stored in the verdict
 * cache and read by requests without copying. Memory: key lookups belong to the
 * key table until they complete; waiters are embedded in the request jobs that
 * wait; a key_result lives while the cache or a request holds a reference.
 */
#ifndef POLICYD_KEYLOOKUP_H
#define POLICYD_KEYLOOKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "addr.h"
#include "lookup_types.h"
#include "verdict.h"

struct key_result;
struct key_table;
struct key_lookup;

/* A key: a kind byte ('4', '6' or 'D') and the address bytes or the domain. */
struct key {
	uint8_t len;
	uint8_t bytes[1 + 253];
};

/* A request waiting for a key; embedded in the request's job. */
struct key_waiter {
	struct key_waiter *next, *prev;
	struct key_lookup *kl; /* NULL when not waiting */
	void (*done)(struct key_waiter *w, struct key_result *res); /* res is lent: ref to keep */
};

/*
 * What one list said, as read from a key_result. The reason's middle is the
 * key's own text when key_text is set: the caller fills it in (reason.middle
 * stays NULL here), because the result stores only the pattern around it.
 */
struct key_answer {
	enum list_outcome outcome;
	uint8_t code[4];
	uint32_t ttl;
	struct reason reason; /* untrusted TXT bytes inside the result; empty if none */
	bool key_text;
};

/* key_result_get - list i's answer (i indexes cfg->lists). */
void key_result_get(const struct key_result *res, size_t i, struct key_answer *out);
struct key_result *key_result_ref(struct key_result *res);
void key_result_unref(struct key_result *res);
/* key_result_stale - whether a list skipped then (unhealthy, breaker) may be asked now. */
bool key_result_stale(const struct key_result *res, const struct config *cfg, uint64_t now_ms);

/* key_text - the text a list's TXT would hold for a key: the address, or the domain. */
size_t key_text(const struct key *k, char *buf, size_t size);

/* key_for_address / key_for_domain - build keys ("4"/"6" + bytes, "D" + domain). */
void key_for_address(struct key *k, const struct addr *a);
void key_for_domain(struct key *k, const char *domain, size_t len);

/*
 * key_table_new - in-flight key lookups; results go into env->cache with TTLs
 * from the config each lookup began with. key_table_set_generation starts a new
 * generation (a reload that emptied the cache): lookups of the old one finish
 * but do not fill the cache.
 */
struct key_table *key_table_new(struct lookup_env *env);
void key_table_set_generation(struct key_table *t);
void key_table_free(struct key_table *t);

/*
 * key_wait - make w wait for key: join the lookup in flight for it, or start
 * one for cfg. Returns false when no query could be sent (then w->done is never
 * called).
 */
bool key_wait(struct key_table *t, struct config *cfg, const struct key *key,
	      struct key_waiter *w);

/* key_unwait - stop waiting (the request's deadline passed); the lookup goes on. */
void key_unwait(struct key_waiter *w);

/* key_table_counters - coalesced waits and lookups started, for statistics. */
uint64_t key_table_coalesced(const struct key_table *t);

#endif
