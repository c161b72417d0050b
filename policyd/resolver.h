/*
 * resolver - asynchronous DNS for the lists: one udns context driven by the libuv
 * loop (a uv_poll on its socket, a uv_timer for its retransmissions).
 *
 * Queries are A or TXT lookups of a full name (e.g. "2.0.0.127.zen.spamhaus.org").
 * Every answer is untrusted network data: A answers are passed as raw 4-byte
 * addresses, TXT answers as bytes that may hold anything (NUL, CR, LF, >2 KiB).
 *
 * Rules (as libuv's): when a submit function returns NULL its callback is never
 * called; otherwise the callback is called exactly once, unless the query is
 * cancelled first with resolver_cancel(), after which it is never called.
 * Memory: the resolver owns its queries; callback arguments (addresses, TXT
 * bytes) are valid only during the callback.
 */
#ifndef POLICYD_RESOLVER_H
#define POLICYD_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

struct resolver;
struct resolver_query;

enum resolver_status {
	RESOLVER_OK,       /* answers present */
	RESOLVER_NXDOMAIN, /* the name does not exist: "not listed" */
	RESOLVER_NODATA,   /* the name exists without records of this type */
	RESOLVER_TEMPFAIL, /* timeout, SERVFAIL, truncated or unusable answer */
	RESOLVER_ERROR,    /* anything else (bad name, resolver shut down, no memory) */
};

/* resolver_a_fn - count A records (network byte order); ttl the smallest TTL (OK only). */
typedef void resolver_a_fn(void *arg, enum resolver_status status, const uint8_t (*addrs)[4],
			   size_t count, uint32_t ttl);
/* resolver_txt_fn - the first TXT record's strings joined (len bytes, untrusted). */
typedef void resolver_txt_fn(void *arg, enum resolver_status status, const char *txt, size_t len,
			     uint32_t ttl);

/*
 * resolver_new - a context with cfg's nameservers (or /etc/resolv.conf when none),
 * timeout and tries. NULL on error, with the reason logged.
 */
struct resolver *resolver_new(uv_loop_t *loop, const struct config *cfg);

/*
 * resolver_query_a, resolver_query_txt - ask for name. shown is the name as debug log
 * lines may show it (NULL: name): a keyed zone's query name holds the site's key,
 * which nothing but the query may carry.
 */
struct resolver_query *resolver_query_a(struct resolver *r, const char *name, const char *shown,
					resolver_a_fn *cb, void *arg);
struct resolver_query *resolver_query_txt(struct resolver *r, const char *name, const char *shown,
					  resolver_txt_fn *cb, void *arg);

/* resolver_cancel - the callback will not be called; the query's memory is reclaimed later. */
void resolver_cancel(struct resolver_query *q);

/* resolver_pending - queries submitted and not yet answered or failed. */
size_t resolver_pending(const struct resolver *r);

/*
 * resolver_free - fail every pending query (callbacks get RESOLVER_ERROR), then
 * release udns and close the handles; the memory goes when the loop runs their
 * close callbacks. Never call it from inside a resolver callback.
 */
void resolver_free(struct resolver *r);

#endif
