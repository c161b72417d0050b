/*
 * lookup - what one request needs from DNS: the cache keys it depends on (its
 * client address, and each distinct domain an RHSBL checks), the hits those
 * keys' results give, and, when some key is not cached, a job that waits for the
 * key lookups until the request's deadline (request_timeout).
 *
 * Rules: lookup_start() returning NULL means nothing was started and done is
 * never called; otherwise done(arg, lk) is called exactly once, from a loop
 * callback, and lk is freed after done returns. Memory: the job holds a
 * reference to the config it began with, a copy of the request, and a
 * reference to each key result it uses; all go with it.
 */
#ifndef POLICYD_LOOKUP_H
#define POLICYD_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "config.h"
#include "keylookup.h"
#include "lookup_types.h"
#include "request.h"
#include "verdict.h"

/* One address key and up to four domains (sender, helo, client_name, reverse_client_name). */
#define LOOKUP_MAX_KEYS 5

struct request_keys {
	unsigned count;
	struct key key[LOOKUP_MAX_KEYS];
	unsigned sources[LOOKUP_MAX_KEYS]; /* CHECK_* bits for domain keys, 0 for the address */
	char address_text[ADDR_TEXT_MAX];  /* filled when a cached reason needs it */
	size_t address_text_len;
};

/* lookup_keys - the keys req (untrusted) needs under cfg: none when no DNS list applies. */
void lookup_keys(const struct config *cfg, const struct request *req, const struct addr *client,
		 uint64_t now_ms, struct request_keys *out);

/* lookup_key_applies - whether list l reads key k of keys (its kind; an RHSBL's sources). */
bool lookup_key_applies(const struct list_config *l, const struct request_keys *keys, unsigned k);

/*
 * lookup_add_hits - add to v the DNS hits of the results (results[i] answers key
 * i; NULL: none). The hits' reasons point into the results and into keys, which
 * must outlive v's use.
 */
void lookup_add_hits(const struct config *cfg, struct request_keys *keys,
		     struct key_result *const *results, struct verdict *v);

struct lookup;
typedef void lookup_done_fn(void *arg, struct lookup *lk);

struct lookup_key {
	struct key_waiter waiter;
	struct lookup *lk;
	struct key_result *result; /* referenced; NULL until known */
};

struct lookup {
	struct lookup_env *env;
	struct config *cfg;     /* referenced */
	struct request req;     /* parsed from text */
	char *text;             /* a copy of the request */
	struct verdict verdict; /* local hits at start; DNS hits added at the end */
	struct request_keys keys;
	struct lookup_key wait[LOOKUP_MAX_KEYS];
	unsigned unresolved;
	uv_timer_t deadline;
	bool finished;
	bool timed_out;         /* some key was still unknown at the deadline */
	lookup_done_fn *done;
	void *done_arg;
};

/*
 * lookup_start - wait for the keys whose results[i] is NULL (the others are
 * known; the job takes its own references). NULL when no key lookup could start.
 */
struct lookup *lookup_start(struct lookup_env *env, struct config *cfg, const struct request *req,
			    const struct verdict *local, const struct request_keys *keys,
			    struct key_result *const *results, lookup_done_fn *done, void *arg);

/* lookup_domain - clean an untrusted domain for an RHSBL query; false if unusable. */
bool lookup_domain(const char *s, size_t len, char *out, size_t size);

#endif
