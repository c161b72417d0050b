/*
 * test_health - unit tests of policyd/health.c through its functions only (the
 * struct is opaque): a list is not asked before a check passes, a failed check
 * disables it, the breaker skips it, the counters count; and health_usable_all,
 * the bits one request reads, agrees with health_usable list by list, local
 * lists (NULL) included. Time is passed in; log lines go to stderr.
 */
#include "health.h"
#include "log.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

static const struct breaker_params breaker = { .failures = 2,
					       .backoff_ms = 1000,
					       .backoff_max_ms = 8000 };

static void test_lifecycle(void)
{
	struct list_health *h = health_new(LIST_DNSBL, "zen.example");
	uint8_t code[4] = { 127, 255, 255, 254 };

	is_int(health_kind(h), LIST_DNSBL, "kind kept");
	is_str(health_name(h), "zen.example", "name kept");
	ok(!health_checked(h) && !health_enabled(h), "new: not checked, not enabled");
	is_int(health_usable(h, &breaker, 0), OUTCOME_UNHEALTHY, "new: not asked");
	ok(health_check_begin(h), "a check begins");
	ok(!health_check_begin(h), "a second check does not while one runs");
	health_check_end(h);
	ok(health_check_begin(h), "and begins again once it ended");
	health_check_end(h);
	health_judge(h, true, true);
	ok(health_checked(h) && health_enabled(h), "passed: checked and enabled");
	is_int(health_usable(h, &breaker, 0), OUTCOME_PENDING, "passed: asked");
	health_unanswered(h);
	ok(health_enabled(h), "no usable answer keeps the verdict");

	health_count_query(h);
	health_count_query(h);
	health_count_listed(h);
	health_error_code(h, code, 5);
	health_record(h, &breaker, false, 10);
	is_int(health_usable(h, &breaker, 10), OUTCOME_PENDING, "one failure: still asked");
	health_record(h, &breaker, false, 20);
	is_int(health_usable(h, &breaker, 20), OUTCOME_BREAKER, "two failures: breaker open");
	is_int(health_usable(h, &breaker, 20 + 1000), OUTCOME_PENDING, "after the wait: asked");
	const struct health_counters *n = health_counters(h);
	ok(n->queries == 2 && n->listed == 1 && n->errors == 1 && n->failures == 2,
	   "counters: 2 queries, 1 listed, 1 error, 2 failures");

	health_judge(h, false, true);
	ok(health_checked(h) && !health_enabled(h), "failed check: checked, disabled");
	is_int(health_usable(h, &breaker, 20 + 1000), OUTCOME_UNHEALTHY, "failed check: not asked");
	health_unref(h);
}

static void test_usable_all(void)
{
	struct list_health *h[5] = {
		health_new(LIST_DNSBL, "a.example"), NULL,
		health_new(LIST_RHSBL, "b.example"), health_new(LIST_DNSWL, "c.example"),
		health_new(LIST_DNSBL, "d.example"),
	};
	uint64_t now = 100;

	health_judge(h[0], true, true); /* asked */
	health_judge(h[2], true, true); /* breaker open below */
	health_record(h[2], &breaker, false, now);
	health_record(h[2], &breaker, false, now);
	health_judge(h[3], true, false); /* wildcard: disabled; h[4] never checked */

	struct decision_lists u = health_usable_all(h, 5, &breaker, now);
	is_int(u.readable, (1u << 0) | (1u << 2), "readable: the healthy ones, breaker or not");
	is_int(u.askable, 1u << 0, "askable: only the one whose breaker is closed");
	for (size_t i = 0; i < 5; i++) {
		enum outcome want = h[i] ? health_usable(h[i], &breaker, now) : OUTCOME_UNHEALTHY;
		is_int(decision_list_outcome(&u, i), want,
		       "list %zu: the bits say what health_usable says", i);
	}
	for (size_t i = 0; i < 5; i++)
		health_unref(h[i]);
}

int main(void)
{
	log_open(LOG_TO_STDERR, LOG_LEVEL_ERROR);
	test_lifecycle();
	test_usable_all();
	return tap_done();
}
