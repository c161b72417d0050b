/*
 * lookup - the DNS lookups of one request: every applicable DNS list queried in
 * parallel through the resolver, TXT fetched for blocklists that hit, answers
 * filtered by each list's codes, and a deadline (request_timeout) after which
 * whatever is still outstanding is abandoned.
 *
 * Rules: lookup_start() returning NULL means no DNS list applies and done is
 * never called; otherwise done(arg, lk) is called exactly once, from a loop
 * callback, and lk is freed by the lookup module after done returns. Memory:
 * the lookup holds a reference to the config it began with, a copy of the
 * request, and the TXT reasons it received; all go with it.
 */
#ifndef POLICYD_LOOKUP_H
#define POLICYD_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "request.h"
#include "verdict.h"

/* A query name: a domain (at most 253 bytes) under a zone (at most 253 bytes). */
#define LOOKUP_NAME_MAX 512

struct resolver;

enum list_outcome {
	OUTCOME_NOT_APPLICABLE, /* local list, IPv6 client on an IPv4 list, no domain to check */
	OUTCOME_UNHEALTHY,      /* disabled by the RFC 5782 health check (or not checked yet) */
	OUTCOME_BREAKER,        /* skipped: it kept timing out */
	OUTCOME_PENDING,
	OUTCOME_NOT_LISTED,
	OUTCOME_LISTED,
	OUTCOME_ERROR_CODE,     /* answered 127.255.255.x or outside 127/8: never a listing */
	OUTCOME_FAILED,         /* SERVFAIL, timeout inside udns, unusable answer */
	OUTCOME_TIMEOUT,        /* still outstanding at the request's deadline */
};

struct list_result {
	enum list_outcome outcome;
	unsigned pending;   /* queries of this list still outstanding */
	uint8_t code[4];    /* the listing answer */
	uint32_t ttl;       /* smallest TTL of the answers that decided */
	char *reason;       /* TXT (untrusted bytes) or NULL; owned by the lookup */
	size_t reason_len;
	char name[LOOKUP_NAME_MAX]; /* the name queried (the one that hit, if any) */
};

struct lookup_env {
	uv_loop_t *loop;
	struct resolver *resolver;
};

struct lookup;
typedef void lookup_done_fn(void *arg, struct lookup *lk);

struct lookup {
	struct lookup_env *env;
	struct config *cfg;       /* referenced */
	struct request req;       /* parsed from text */
	char *text;               /* a copy of the request */
	struct verdict verdict;   /* local hits at start; DNS hits added at the end */
	struct list_result *results; /* one per cfg->lists entry */
	unsigned pending;         /* queries outstanding */
	struct lookup_query *queries;
	uv_timer_t deadline;
	bool finished;
	bool timed_out;
	lookup_done_fn *done;
	void *done_arg;
};

/*
 * lookup_start - query every applicable DNS list for req (untrusted) with local
 * hits already in *local. NULL: nothing to look up (or no memory: logged).
 */
struct lookup *lookup_start(struct lookup_env *env, struct config *cfg, const struct request *req,
			    const struct verdict *local, lookup_done_fn *done, void *arg);

/* lookup_outcome_name - a word for logs and --check. */
const char *lookup_outcome_name(enum list_outcome o);

#endif
