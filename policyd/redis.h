/*
 * redis - the greylist store that several policyd share: Redis or Valkey, through
 * hiredis's asynchronous API on the libuv loop (our own glue; replies read by
 * redis.c itself, see there).
 *
 * One connection. Each ask is one round trip: EVALSHA of a script (loaded when the
 * connection opens) that reads and updates the triplet and the client's network
 * atomically by the rules of greylist.h, with the store's own clock, so that MX
 * hosts whose clocks differ agree; Redis keeps the expiry (EXPIREAT, a whole
 * second). Keys: "policyd:greylist:t:" and the triplet's SHA-1 in hex,
 * "policyd:greylist:n:" and the network ("192.0.2.0/24").
 *
 * Rules: the loop never blocks (the address is numeric, resolved at configuration
 * time). An ask's done is called exactly once, within timeout_ms of the ask, or
 * never when the ask was not made (redis_store_ask returned false: the store is
 * down or backing off, and the request passes at once). A command that misses its
 * deadline, a connection that fails, or a reply that makes no sense (of the wrong
 * type or shape, not RESP, one more than was asked for) is a failure: the asks in
 * flight are answered GREYLIST_UNAVAILABLE, the connection is dropped and opened
 * again with back-off (100 ms doubling to 10 s). An outage is logged
 * once when it begins and once when the store answers again, and counted in
 * stats (greylist_store_outages, greylist_store_up, greylist_store_errors).
 *
 * Memory: the store owns its connection and one record per ask in flight;
 * redis_store_free answers every ask in flight with GREYLIST_UNAVAILABLE before it
 * returns. Its timer and its connection's poll handle are closed then, and their
 * close callbacks free the store and the connection: the loop must run once more
 * before uv_loop_close (main's uv_run after its uv_walk at exit), and the store
 * must be freed before that walk, which would close them without their callbacks.
 */
#ifndef POLICYD_REDIS_H
#define POLICYD_REDIS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "greylist.h"

/* Where the store is: `store = redis://HOST:PORT/DB` or `redis+unix:/PATH[?db=N]`. */
struct redis_target {
	bool unix_socket;
	char host[ADDR_TEXT_MAX]; /* numeric */
	int port;
	char path[108];
	long db;
	char *password;           /* from password_file; NULL: no AUTH */
	unsigned long timeout_ms; /* the deadline of each command */
};

/*
 * redis_target_parse - the target named by url (as written in the configuration);
 * a host name is resolved here (this runs at load, off the loop). False with *err
 * set when it is malformed or does not resolve.
 */
bool redis_target_parse(const char *url, struct redis_target *out, const char **err);

typedef void redis_done_fn(void *arg, enum greylist_answer answer, uint32_t retry_s);

struct redis_store;

/* redis_store_new - starts connecting at once; NULL when out of memory (logged). */
struct redis_store *redis_store_new(uv_loop_t *loop, const struct redis_target *t,
				    const struct greylist_rules *g);

/*
 * redis_store_set - a reload: the rules apply to the next asks; a different target
 * drops the connection (its asks answered GREYLIST_UNAVAILABLE) and opens the new one.
 * The store copies what it keeps of both.
 */
void redis_store_set(struct redis_store *s, const struct redis_target *t,
		     const struct greylist_rules *g);

/*
 * redis_store_ask - ask about k; done(arg, ...) follows within timeout_ms. False
 * when the store cannot be asked now (down, connecting or backing off): done is
 * not called, and the caller passes the request as GREYLIST_UNAVAILABLE.
 */
bool redis_store_ask(struct redis_store *s, const struct greylist_key *k, redis_done_fn *done,
		     void *arg);

/* redis_store_up - whether the connection is open and its script loaded. */
bool redis_store_up(const struct redis_store *s);

/* redis_store_free - answer the asks in flight (GREYLIST_UNAVAILABLE), close, free. */
void redis_store_free(struct redis_store *s);

#endif
