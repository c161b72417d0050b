/*
 * test_score - scoring and tiers (common/score.c): the one place where the thresholds
 * apply; the allowlist wins over the other tiers; the hit with the largest weight names
 * the refusal. Links score.c only.
 */
#include <string.h>

#include "score.h"
#include "tap.h"

static struct list_config lists[3] = {
	{ .kind = LIST_DNSBL, .name = "a.test", .weight = 2 },
	{ .kind = LIST_DNSBL, .name = "b.test", .weight = 3 },
	{ .kind = LIST_DNSWL, .name = "w.test", .weight = -5 },
};

static void add(struct verdict *v, int list, long weight)
{
	struct hit h;

	memset(&h, 0, sizeof(h));
	h.list = &lists[list];
	h.weight = weight;
	verdict_add(v, &h);
}

static void test_tiers(void)
{
	struct rules r = { .threshold = 5, .allowlist_threshold = -1, .soft_threshold = 2,
			   .action = ACTION_REJECT, .soft_action = ACTION_PREPEND };

	is_int(score_tier(&r, -1), TIER_ALLOWLISTED, "score at allowlist_threshold: allowlisted");
	is_int(score_tier(&r, -7), TIER_ALLOWLISTED, "below it: allowlisted");
	is_int(score_tier(&r, 0), TIER_PASS, "0: pass");
	is_int(score_tier(&r, 1), TIER_PASS, "below soft_threshold: pass");
	is_int(score_tier(&r, 2), TIER_SOFT, "at soft_threshold: soft");
	is_int(score_tier(&r, 4), TIER_SOFT, "just below threshold: soft");
	is_int(score_tier(&r, 5), TIER_REFUSED, "at threshold: refused");
	is_int(tier_action(&r, TIER_SOFT), ACTION_PREPEND, "the soft tier's action");
	is_int(tier_action(&r, TIER_REFUSED), ACTION_REJECT, "the refusing tier's action");
	ok(!tier_refuses(TIER_PASS) && !tier_refuses(TIER_ALLOWLISTED) && tier_refuses(TIER_SOFT) &&
		   tier_refuses(TIER_REFUSED),
	   "only soft and refused send something other than DUNNO");
	r.soft_threshold = 0;
	is_int(score_tier(&r, 4), TIER_PASS, "soft_threshold 0: the soft tier is off");
}

/* test_margin - a weight above the margin made the refusal alone: without it the tier falls. */
static void test_margin(void)
{
	struct rules r = { .threshold = 5, .allowlist_threshold = -1, .soft_threshold = 2 };

	for (long score = 2; score <= 12; score++) {
		enum tier t = score_tier(&r, score);
		long margin = score_margin(&r, score, t);
		bool agree = true;
		for (long w = 1; w <= 12; w++)
			agree = agree && (w > margin) == (score_tier(&r, score - w) < t);
		ok(agree, "score %ld (%s): a weight w made it alone exactly when score - w is a milder tier",
		   score, t == TIER_REFUSED ? "refused" : "soft");
	}
	is_int(score_margin(&r, 7, TIER_REFUSED), 2, "refused at 7, threshold 5: 2 can go");
	is_int(score_margin(&r, 3, TIER_SOFT), 1, "soft at 3, soft_threshold 2: 1 can go");
	is_int(score_margin(&r, 5, TIER_REFUSED), 0, "refused at the threshold: any hit made it");
}

static void test_verdict(void)
{
	struct verdict v;

	verdict_clear(&v);
	ok(verdict_top(&v) == NULL, "no hits: no top hit");
	add(&v, 0, 2);
	add(&v, 1, 3);
	add(&v, 2, -5);
	is_int(v.score, 0, "2 + 3 - 5 = 0");
	ok(verdict_top(&v) == &v.hits[1], "the largest weight names the refusal");
	verdict_clear(&v);
	add(&v, 0, 3);
	add(&v, 1, 3);
	ok(verdict_top(&v) == &v.hits[0], "equal weights: the first list");
	verdict_clear(&v);
	for (int i = 0; i < VERDICT_MAX_HITS + 5; i++)
		add(&v, 0, 1);
	is_int(v.hit_count, VERDICT_MAX_HITS, "hits beyond the array are not kept");
	is_int(v.score, VERDICT_MAX_HITS + 5, "... but still count in the score");
}

int main(void)
{
	test_tiers();
	test_margin();
	test_verdict();
	return tap_done();
}
