/*
 * decision - the decision about one request, as pure steps that the engine and
 * --check drive: what the request is (skipped, exempt, checked), what the site's
 * own lists say, which cache keys the DNS lists need, what each key's result
 * adds, the tier, and the Postfix-style log line.
 *
 * The order is the rule of policyd.ini(5): a request is checked only against the
 * lists whose `clients` take it (with or without a SASL login); an authenticated
 * client that no list takes, and an exempt recipient (exempt_recipients, the
 * contact), are never checked; local lists come first, and a score at or below
 * allowlist_threshold accepts at once; then every DNS list's answer for its key
 * adds to the score, except an observed list's (`mode = observe`), which is only
 * recorded for the log line and the counters. The engine decides which keys to look up (it knows which
 * lists are healthy) and where results come from (cache or DNS).
 *
 * Memory: a decision is a plain value (about 4 KiB, on the stack or in a waiting
 * request). Its hits point into the rules, into the results passed in (which the
 * caller keeps referenced while it uses the decision) and into the decision
 * itself; the request is only read during each call.
 */
#ifndef POLICYD_DECISION_H
#define POLICYD_DECISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "keys.h"
#include "result.h"
#include "rules.h"
#include "score.h"

struct request;

enum decision_kind {
	DECISION_SKIPPED, /* authenticated client no list checks, or no usable address: DUNNO */
	DECISION_EXEMPT,  /* the recipient is exempt: DUNNO, whatever the lists say */
	DECISION_CHECKED,
};

/*
 * decision_lists - what each DNS list may do for one request, as the engine
 * finds it from the lists' health once per request (bit i: list i of the rules).
 * An open circuit breaker stops queries, not the verdicts already cached.
 */
struct decision_lists {
	uint64_t readable; /* healthy: its verdicts count, cached or asked */
	uint64_t askable;  /* healthy and its breaker not open: it may be queried now */
};
_Static_assert(RULES_MAX_LISTS <= 64, "a list's bit fits in a uint64_t");

/* decision_list_outcome - OUTCOME_PENDING (ask list i), OUTCOME_BREAKER or OUTCOME_UNHEALTHY. */
static inline enum outcome decision_list_outcome(const struct decision_lists *u, size_t i)
{
	uint64_t bit = (uint64_t)1 << i;

	return (u->askable & bit)    ? OUTCOME_PENDING
	       : (u->readable & bit) ? OUTCOME_BREAKER
				     : OUTCOME_UNHEALTHY;
}

#define DECISION_MAX_OBSERVED 16

/* An observed list that said listed. */
struct decision_observed {
	const struct list_config *list;
	uint8_t code[4]; /* its answer */
};

struct decision {
	enum decision_kind kind;
	struct addr client;
	char client_text[ADDR_TEXT_MAX]; /* canonical, for reasons that hold the address */
	size_t client_text_len;
	struct keyset keys;
	struct decision_lists lists; /* set with the keys; none until then */
	uint64_t applies;            /* the lists whose `clients` take this request */
	/* Observed lists (mode = observe) that said listed, with their answers: never in the
	 * verdict. The first DECISION_MAX_OBSERVED are kept. */
	unsigned observed_count;
	struct decision_observed observed[DECISION_MAX_OBSERVED];
	struct verdict verdict;
	enum tier tier;
};

/*
 * decision_begin - classify req (untrusted) and apply the local lists. Afterwards
 * kind says whether lists apply, and tier whether the local lists settled it
 * (ALLOWLISTED) or DNS may still matter.
 */
void decision_begin(struct decision *d, const struct rules *r, const struct request *req);

/*
 * decision_wants_dns - whether DNS lists may still change the outcome: not when
 * the request is not checked, when a local allowlist settled it, or when the local
 * lists refuse it so firmly that every DNS allowlist together could not bring the
 * score below threshold (then waiting for DNS could only delay the refusal, or
 * turn it into an on_error pass if DNS failed).
 */
static inline bool decision_wants_dns(const struct decision *d, const struct rules *r)
{
	return d->kind == DECISION_CHECKED && d->tier != TIER_ALLOWLISTED &&
	       !(d->tier == TIER_REFUSED && d->verdict.score + r->dns_floor >= r->threshold);
}

/*
 * decision_sources - the SOURCE_* bits that the RHSBLs among `readable` (bit i
 * set when list i of r may be read now) check.
 */
unsigned decision_sources(const struct rules *r, uint64_t readable);

/*
 * decision_add - add the hits of results[i], the result for d->keys.key[i] (NULL:
 * unknown, adds nothing), then set the tier. Each DNS list that applies adds at
 * most once, from the first key it reads that says "listed"; an observed list's
 * listing goes to d->observed instead.
 */
void decision_add(struct decision *d, const struct rules *r, struct result *const *results);

/*
 * decision_key_applies - whether list l reads key i of d: address lists the address
 * key, an RHSBL the domain keys whose sources it checks.
 */
bool decision_key_applies(const struct decision *d, const struct list_config *l, unsigned i);

/* decision_kind_reads - whether lists of kind are asked about keys of family. */
bool decision_kind_reads(enum list_kind kind, enum key_family family);

/*
 * decision_sole - the lists (bit i: list i of r) whose hit alone made a refusal:
 * without its weight the score would fall into a milder tier (a refusal soft or a
 * pass, a soft refusal a pass). None unless the tier refuses.
 */
uint64_t decision_sole(const struct decision *d, const struct rules *r);

/*
 * decision_describe - the log line of the decision, Postfix style:
 * "QUEUEID: reject: client=NAME[ADDR] helo=<..> from=<..> to=<..> lists=zone(code)
 * [observed=zone(code)] score=N cached=no reason=\"...\"", every request value
 * cleaned and cut; observed= only when an observed list said listed. word is
 * the action's name ("reject", "pass", "skip", "exempt"); extra (may be NULL) is
 * appended (e.g. "skipped=zone(breaker)"). Returns the length.
 */
size_t decision_describe(const struct decision *d, const struct request *req, const char *word,
			 bool cached, const char *extra, char *out, size_t size);

#endif
