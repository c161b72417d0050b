/*
 * score - the hits of one request, their score, and the tier it falls in: the one
 * place where the thresholds of [policy] are applied.
 *
 * A hit is a list that said "listed" (or a local list that matched), with what it
 * adds to the score (its weight, or its matching code patterns' weights), the
 * answer, the reason and what was looked up. Tiers, from the allowlist up:
 * ALLOWLISTED (score <= allowlist_threshold: accepted at once, whatever other lists
 * say), PASS, SOFT (soft_threshold <= score < threshold, when soft_threshold is
 * set: soft_action), REFUSED (score >= threshold: action). Memory: a verdict is a
 * plain value; its hits point into the rules and into storage the caller keeps
 * alive while it uses the verdict (results, keys, the request).
 */
#ifndef POLICYD_SCORE_H
#define POLICYD_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "rules.h"

#define VERDICT_MAX_HITS 16

struct hit {
	const struct list_config *list;
	long weight;      /* what it adds to the score */
	uint8_t code[4];  /* the A answer inside the list's codes; zero for local lists */
	unsigned source;  /* SOURCE_* of the name looked up; 0 for the client address */
	const char *what; /* the address or domain looked up (clean text) */
	size_t what_len;
	struct reason reason; /* all parts empty when the list gave none */
	bool txt;             /* the reason came from DNS (a TXT record) */
};

struct verdict {
	long score;
	unsigned hit_count;
	struct hit hits[VERDICT_MAX_HITS];
};

enum tier { TIER_ALLOWLISTED, TIER_PASS, TIER_SOFT, TIER_REFUSED };

/* verdict_clear - no hits, score 0; the hit array itself is not touched (2 KiB). */
static inline void verdict_clear(struct verdict *v)
{
	v->score = 0;
	v->hit_count = 0;
}

/* verdict_add - record a hit and add its weight; hits beyond the array still count. */
void verdict_add(struct verdict *v, const struct hit *h);

/* verdict_top - the hit with the largest weight (the first of equals): it names the list. */
const struct hit *verdict_top(const struct verdict *v);

/* score_tier - where a score falls under the rules' thresholds. */
enum tier score_tier(const struct rules *r, long score);

/*
 * score_margin - for a refusing tier (SOFT or REFUSED), how much of the score can
 * go and the tier stay: a hit whose weight is larger made the refusal alone
 * (without it the score falls below that tier's threshold, into a milder tier).
 */
static inline long score_margin(const struct rules *r, long score, enum tier t)
{
	return score - (t == TIER_REFUSED ? r->threshold : r->soft_threshold);
}

/* tier_action - the action of a refusing tier; PASS and ALLOWLISTED have none. */
static inline enum action tier_action(const struct rules *r, enum tier t)
{
	return t == TIER_SOFT ? r->soft_action : r->action;
}

/* tier_refuses - whether the tier sends something other than DUNNO. */
static inline bool tier_refuses(enum tier t)
{
	return t == TIER_SOFT || t == TIER_REFUSED;
}

#endif
