/*
 * health - the run-time state of one DNS list, owned by the engine: whether its
 * RFC 5782 health check passed, whether it holds IPv6 data (ipv6 = auto), when
 * its unlisted test point was last asked (the tripwire), its circuit breaker,
 * the rate limit of its "error answer" warning, and its counters (for
 * statistics and /metrics).
 *
 * A configuration is immutable; this state is not. Each list of the current
 * configuration has one struct list_health, found by kind and name, so that a
 * reload keeps the state of lists that stay, and lookups or checks begun under
 * an older configuration write into the same object (never into a configuration
 * that may already be gone).
 *
 * Rules: the struct is opaque; key jobs and probes write through the functions
 * below, and the engine, metrics and --check read through them. Memory:
 * reference-counted; the engine's table holds one reference per list, and each
 * lookup or check in flight holds its own.
 */
#ifndef POLICYD_HEALTH_H
#define POLICYD_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "decision.h"
#include "result.h"
#include "rules.h"

/* Opaque: only health.c reads or writes its fields. */
struct list_health;

/* Counters since start. */
struct health_counters {
	uint64_t queries;  /* DNS queries sent for lookups (A and TXT) */
	uint64_t listed;   /* lookups that found the key listed */
	uint64_t errors;   /* error answers (127.255.255.x, outside 127/8), refusals aside */
	uint64_t refusals; /* refusal answers (127.255.255.254, ...): the operator refuses us */
	uint64_t failures; /* SERVFAIL, timeouts, unusable answers */
	uint64_t sole;     /* refusals that its hit alone made (decision_sole) */
	uint64_t observed; /* mode = observe: requests it said listed, that it would have scored */
};

/*
 * The tripwire: while a list answers hits, its unlisted test point is asked again
 * when it was last asked this long ago or more, so that a list that starts
 * listing everything is disabled within three times this (30 s) of the change.
 */
#define HEALTH_TRIPWIRE_MS (10 * 1000)

/* What the IPv6 test points of a check said (ipv6 = auto). */
enum health_v6 {
	HEALTH_V6_UNKNOWN, /* no usable answer: the state stays */
	HEALTH_V6_DATA,    /* ::FFFF:7F00:2 listed and ::FFFF:7F00:1 not */
	HEALTH_V6_NO_DATA, /* anything else: IPv6 clients are not asked */
};

/* health_new - the state of a list never checked (not consulted until a check passes). */
struct list_health *health_new(enum list_kind kind, const char *name);
struct list_health *health_ref(struct list_health *h);
void health_unref(struct list_health *h);

/* health_kind / health_name - the list it is the state of (name: its zone). */
enum list_kind health_kind(const struct list_health *h);
const char *health_name(const struct list_health *h);

/*
 * health_configure - the list's `health` and `ipv6` keys, from each configuration:
 * health = off enables the list at once, and no check disables it (said once, with
 * the risk).
 */
void health_configure(struct list_health *h, bool off, enum list_ipv6 ipv6);

/* health_off - `health = off`: never disabled by a check (nor by the tripwire). */
bool health_off(const struct list_health *h);

/* health_asks_v6 - IPv6 clients are asked: ipv6 = yes, or auto and the list has IPv6 data. */
bool health_asks_v6(const struct list_health *h);

/* health_v6_known - ipv6 = auto and a check has said whether the list has IPv6 data. */
bool health_v6_known(const struct list_health *h);

/* health_wants_check - never checked, disabled, or ipv6 = auto without a v6 verdict yet. */
bool health_wants_check(const struct list_health *h);

/* health_checked - a health check has given a verdict (passed or not). */
bool health_checked(const struct list_health *h);

/* health_enabled - the last verdict passed: the list may be asked (breaker aside). */
bool health_enabled(const struct list_health *h);

/* health_counters - its counters, valid while h is referenced. */
const struct health_counters *health_counters(const struct list_health *h);

/*
 * health_usable - whether the list may be asked now: OUTCOME_PENDING (yes),
 * OUTCOME_UNHEALTHY (disabled or not checked yet) or OUTCOME_BREAKER.
 */
enum outcome health_usable(const struct list_health *h, const struct breaker_params *p,
			   uint64_t now);

/*
 * health_usable_all - health_usable for lists 0..n-1 at once, as one request
 * uses it (h[i] NULL: a local list, neither readable nor askable).
 */
struct decision_lists health_usable_all(struct list_health *const *h, size_t n,
					const struct breaker_params *p, uint64_t now);

/* health_count_query / health_count_listed - a query sent for a lookup; a lookup found a listing. */
void health_count_query(struct list_health *h);
void health_count_listed(struct list_health *h);

/* health_count_sole / health_count_observed - a refusal it alone made; an observed listing. */
void health_count_sole(struct list_health *h);
void health_count_observed(struct list_health *h);

/* health_record - one lookup of the list answered or failed: the breaker, logged when it changes. */
void health_record(struct list_health *h, const struct breaker_params *p, bool answered,
		   uint64_t now);

/* health_error_code - an error answer such as 127.255.255.254: counted, logged once a minute. */
void health_error_code(struct list_health *h, const uint8_t code[4], uint64_t now);

/*
 * health_refused - the list answered a refusal (codes_refused: 127.255.255.254, a
 * dnswl's 127.0.0.255, its refused_codes): counted; the list is disabled as a failed
 * health check disables it, until a check passes. One error line that says what the
 * answer means and what to do, when the state changes (not once per request).
 */
void health_refused(struct list_health *h, const uint8_t code[4]);

/*
 * health_check_begin / health_check_end - one RFC 5782 check of the list runs
 * between them; begin is false (and nothing changes) when one is running already.
 */
bool health_check_begin(struct list_health *h);
void health_check_end(struct list_health *h);

/*
 * health_judge - the verdict of an RFC 5782 check: both test points answered as
 * they must (healthy), or not; logged loudly when the state changes (the line that
 * enables a list says whether IPv6 clients are asked, for ipv6 = yes or no).
 */
void health_judge(struct list_health *h, bool listed_ok, bool unlisted_ok);

/*
 * health_judge_v6 - what a check's IPv6 test points said (ipv6 = auto): whether
 * IPv6 clients are asked; one line when it is first known or changes. It never
 * disables the list.
 */
void health_judge_v6(struct list_health *h, enum health_v6 v6);

/*
 * health_tripwire_due - the list is enabled by a check (not health = off), and its
 * unlisted test point was asked HEALTH_TRIPWIRE_MS ago or more (by a check or the
 * tripwire).
 */
bool health_tripwire_due(const struct list_health *h, uint64_t now);

/* health_unlisted_asked - the unlisted test point is being asked now (a check or the tripwire). */
void health_unlisted_asked(struct list_health *h, uint64_t now);

/*
 * health_tripped - the tripwire found the unlisted test point listed: the list
 * now lists everything; disabled as a failed check disables it, one error line.
 */
void health_tripped(struct list_health *h);

/* health_unanswered - a check got no usable answer: no verdict, the state stays; logged. */
void health_unanswered(struct list_health *h);

#endif
