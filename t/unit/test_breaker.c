/*
 * test_breaker - the circuit breaker's transitions with time passed in (common/breaker.c):
 * opening after the configured failures in a row, the back-off doubling up to its
 * maximum, one try after the wait, closing on the first answer. Links breaker.c only.
 */
#include "breaker.h"
#include "tap.h"

static const struct breaker_params params = { .failures = 3, .backoff_ms = 1000,
					      .backoff_max_ms = 5000 };

/* fail_n - n failures at time now; returns the last event. */
static enum breaker_event fail_n(struct breaker *b, unsigned n, uint64_t now)
{
	enum breaker_event e = BREAKER_NONE;

	for (unsigned i = 0; i < n; i++)
		e = breaker_record(b, &params, false, now);
	return e;
}

static void test_opens_and_closes(void)
{
	struct breaker b = { 0 };

	is_int(fail_n(&b, 2, 100), BREAKER_NONE, "two failures of three: still closed");
	ok(!breaker_open(&b, &params, 100), "... and the list is asked");
	is_int(breaker_record(&b, &params, false, 100), BREAKER_OPENED, "the third failure opens it");
	ok(breaker_open(&b, &params, 100), "open right after");
	ok(breaker_open(&b, &params, 1099), "open until the back-off has passed (1 s)");
	ok(!breaker_open(&b, &params, 1100), "after the back-off one lookup goes through");
	is_int(breaker_record(&b, &params, true, 1100), BREAKER_CLOSED, "an answer closes it, once");
	is_int(b.failures, 0, "... and the count starts again");
	is_int(breaker_record(&b, &params, true, 1200), BREAKER_NONE, "a second answer changes nothing");
	is_int(fail_n(&b, 2, 1300), BREAKER_NONE, "after closing, three failures are needed again");
	is_int(fail_n(&b, 1, 1300), BREAKER_OPENED, "... and open it again");
	is_int(b.backoff_ms, 1000, "closing reset the back-off to its first value");
}

static void test_backoff_doubles(void)
{
	struct breaker b = { 0 };
	uint64_t now = 0;
	uint64_t want[] = { 1000, 2000, 4000, 5000, 5000 };

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		enum breaker_event e = fail_n(&b, i == 0 ? 3 : 1, now);
		is_int(e, BREAKER_OPENED, "opening %zu", i + 1);
		is_int(b.backoff_ms, want[i], "opening %zu: back-off %llu ms", i + 1,
		       (unsigned long long)want[i]);
		ok(breaker_open(&b, &params, now + want[i] - 1) &&
			   !breaker_open(&b, &params, now + want[i]),
		   "opening %zu: skipped exactly that long", i + 1);
		now += want[i];
	}
}

static void test_failures_while_open(void)
{
	struct breaker b = { 0 };

	fail_n(&b, 3, 0);
	is_int(fail_n(&b, 10, 500), BREAKER_NONE,
	       "failures of lookups sent before it opened do not extend it");
	is_int(b.open_until, 1000, "... open_until unchanged");
}

int main(void)
{
	test_opens_and_closes();
	test_backoff_doubles();
	test_failures_while_open();
	return tap_done();
}
