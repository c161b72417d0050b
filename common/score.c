/*
 * score - adding hits and applying the thresholds (see score.h). Pure; nothing is
 * allocated.
 */
#include "score.h"

/* verdict_add - the score always counts; the array keeps the first VERDICT_MAX_HITS. */
void verdict_add(struct verdict *v, const struct hit *h)
{
	v->score += h->weight;
	if (v->hit_count < VERDICT_MAX_HITS)
		v->hits[v->hit_count++] = *h;
}

/* verdict_top - the largest weight wins; on a tie, the list that comes first. */
const struct hit *verdict_top(const struct verdict *v)
{
	const struct hit *top = NULL;

	for (unsigned i = 0; i < v->hit_count; i++)
		if (top == NULL || v->hits[i].weight > top->weight)
			top = &v->hits[i];
	return top;
}

/*
 * score_tier - the allowlist is checked first, so that an allowlisted client is
 * never refused, whatever the other thresholds say; the configuration keeps
 * allowlist_threshold < soft_threshold < threshold.
 */
enum tier score_tier(const struct rules *r, long score)
{
	if (score <= r->allowlist_threshold)
		return TIER_ALLOWLISTED;
	if (score >= r->threshold)
		return TIER_REFUSED;
	if (r->soft_threshold > 0 && score >= r->soft_threshold)
		return TIER_SOFT;
	return TIER_PASS;
}
