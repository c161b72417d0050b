/*
 * breaker - the circuit breaker's transitions (see breaker.h).
 */
#include "breaker.h"

/* breaker_open - enough failures and still inside the back-off. */
bool breaker_open(const struct breaker *b, const struct breaker_params *p, uint64_t now)
{
	return b->failures >= p->failures && now < b->open_until;
}

/*
 * breaker_record - an answer closes; a failure counts, and opens the breaker when
 * the count is reached and it is not open already (failures of lookups that were
 * sent before it opened do not extend it). The back-off doubles from one opening
 * to the next until an answer resets it.
 */
enum breaker_event breaker_record(struct breaker *b, const struct breaker_params *p, bool answered,
				  uint64_t now)
{
	if (answered) {
		bool was_open = b->failures >= p->failures;
		b->failures = 0;
		b->backoff_ms = 0;
		b->open_until = 0;
		return was_open ? BREAKER_CLOSED : BREAKER_NONE;
	}
	if (b->failures < UINT32_MAX)
		b->failures++;
	if (b->failures < p->failures || now < b->open_until)
		return BREAKER_NONE;
	b->backoff_ms = b->backoff_ms ? b->backoff_ms * 2 : p->backoff_ms;
	if (b->backoff_ms > p->backoff_max_ms)
		b->backoff_ms = p->backoff_max_ms;
	b->open_until = now + b->backoff_ms;
	return BREAKER_OPENED;
}
