/*
 * lookup_types - what the lookup modules (keylookup, lookup, health, policy,
 * check) share: the outcome of one list for one key, and the environment they
 * run in. The environment's members are owned by the policy engine (or by
 * --check), never by the modules that use them.
 */
#ifndef POLICYD_LOOKUP_TYPES_H
#define POLICYD_LOOKUP_TYPES_H

#include <uv.h>

/* A query name: a domain (at most 253 bytes) under a zone (at most 253 bytes). */
#define LOOKUP_NAME_MAX 512

enum list_outcome {
	OUTCOME_NOT_APPLICABLE, /* local list, other key kind, IPv6 client on an IPv4 list */
	OUTCOME_UNHEALTHY,      /* disabled by the RFC 5782 health check (or not checked yet) */
	OUTCOME_BREAKER,        /* skipped: it kept failing */
	OUTCOME_PENDING,
	OUTCOME_NOT_LISTED,
	OUTCOME_LISTED,
	OUTCOME_ERROR_CODE,     /* answered 127.255.255.x or outside 127/8: never a listing */
	OUTCOME_FAILED,         /* SERVFAIL, udns timeout, unusable answer */
	OUTCOME_TIMEOUT,        /* still outstanding at the request's deadline */
};

struct resolver;
struct key_table;
struct lru;

struct lookup_env {
	uv_loop_t *loop;
	struct resolver *resolver; /* NULL when no DNS list is configured */
	struct key_table *keys;    /* lookups in flight, by key */
	struct lru *cache;         /* verdicts by key; may have capacity 0 */
};

/* lookup_outcome_name - a word for logs and --check. */
const char *lookup_outcome_name(enum list_outcome o);

#endif
