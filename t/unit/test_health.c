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

/* ipv6 = auto asks IPv6 clients only once a check found IPv6 data; yes and no decide alone. */
static void test_ipv6(void)
{
	struct list_health *h = health_new(LIST_DNSBL, "v6.example");

	health_configure(h, false, LIST_IPV6_AUTO);
	ok(health_wants_check(h) && !health_asks_v6(h), "auto, never checked: IPv6 not asked");
	health_judge(h, true, true);
	ok(health_enabled(h) && !health_asks_v6(h) && !health_v6_known(h),
	   "IPv4 passed, IPv6 points unanswered: enabled, IPv6 not asked yet");
	ok(health_wants_check(h), "and still wants a check for IPv6");
	health_judge(h, true, true);
	health_judge_v6(h, HEALTH_V6_NO_DATA);
	ok(health_enabled(h) && !health_asks_v6(h) && health_v6_known(h),
	   "no IPv6 data: enabled for IPv4, IPv6 clients skipped");
	ok(!health_wants_check(h), "nothing more to check now");
	health_judge(h, true, true);
	health_judge_v6(h, HEALTH_V6_DATA);
	ok(health_asks_v6(h), "IPv6 data: IPv6 clients asked");
	health_judge(h, true, true);
	health_judge_v6(h, HEALTH_V6_UNKNOWN);
	ok(health_asks_v6(h), "an unanswered IPv6 pair keeps the verdict");
	health_configure(h, false, LIST_IPV6_NO);
	ok(!health_asks_v6(h), "ipv6 = no: not asked, whatever the data");
	health_configure(h, false, LIST_IPV6_YES);
	health_judge(h, true, true);
	health_judge_v6(h, HEALTH_V6_NO_DATA);
	ok(health_asks_v6(h), "ipv6 = yes: asked, whatever the data");
	health_unref(h);
}

/* health = off: enabled at once, never disabled by a check, the tripwire or a refusal. */
static void test_off(void)
{
	struct list_health *h = health_new(LIST_DNSBL, "off.example");
	uint8_t code[4] = { 127, 255, 255, 254 };

	health_configure(h, true, LIST_IPV6_AUTO);
	ok(health_enabled(h) && health_off(h), "health = off: enabled without a check");
	health_judge(h, false, false);
	health_judge_v6(h, HEALTH_V6_DATA);
	ok(health_enabled(h) && health_asks_v6(h), "a check takes only the IPv6 verdict");
	ok(!health_tripwire_due(h, 1000000), "no tripwire");
	health_tripped(h);
	health_refused(h, code);
	ok(health_enabled(h), "neither the tripwire nor a refusal disables it");
	health_configure(h, false, LIST_IPV6_AUTO);
	ok(!health_enabled(h) && health_wants_check(h), "health = rfc5782 again: checked first");
	health_unref(h);
}

/* The tripwire: due every HEALTH_TRIPWIRE_MS at most, only on an enabled list; a trip disables. */
static void test_tripwire(void)
{
	struct list_health *h = health_new(LIST_DNSBL, "trip.example");
	uint64_t now = 50000;

	ok(!health_tripwire_due(h, now), "not due before the list is enabled");
	ok(health_check_begin(h), "a check begins");
	health_unlisted_asked(h, now);
	health_check_end(h);
	health_judge(h, true, true);
	ok(!health_tripwire_due(h, now + HEALTH_TRIPWIRE_MS - 1),
	   "not due within 10 s of the last ask");
	ok(health_tripwire_due(h, now + HEALTH_TRIPWIRE_MS), "due 10 s after it");
	health_unlisted_asked(h, now + HEALTH_TRIPWIRE_MS);
	ok(!health_tripwire_due(h, now + HEALTH_TRIPWIRE_MS + 1), "asked: not due again at once");
	health_tripped(h);
	ok(health_checked(h) && !health_enabled(h), "tripped: disabled");
	ok(!health_tripwire_due(h, now + 5 * HEALTH_TRIPWIRE_MS),
	   "a disabled list is not tripped again");
	health_judge(h, true, true);
	ok(health_enabled(h), "until a check passes");
	health_unref(h);
}

int main(void)
{
	log_open(LOG_TO_STDERR, LOG_LEVEL_ERROR);
	test_lifecycle();
	test_usable_all();
	test_ipv6();
	test_off();
	test_tripwire();
	return tap_done();
}
