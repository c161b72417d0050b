/*
 * engine_view - what the engine lets others see without changing anything: the
 * cache's knowledge of an address for the help page (never a DNS query), the
 * live configuration and list health, counters for /metrics, and the statistics
 * lines. Everything returned points into the engine's state and is valid until
 * the next loop turn.
 */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "log.h"

/*
 * peek_key - the cached result of key for each list that reads keys of its kind
 * (address keys for a DNSBL or DNSWL, domain keys for an RHSBL); never a query. The
 * reason of a listing that quotes the key gets the key's text (an address or domain).
 */
static size_t peek_key(struct engine *e, const struct key *key, const struct addr *a,
		       struct engine_list_peek *out, size_t max)
{
	const struct rules *r = &e->cfg->rules;
	uint64_t now = uv_now(e->loop);
	uint32_t expires = 0;
	struct result *res;
	char text[LRU_KEY_MAX + 1];
	size_t n = 0, text_len;

	text_len = key_text(key, text, sizeof(text));
	res = lru_peek(e->cache, key->bytes, key->len, (uint32_t)(now / 1000), &expires);
	for (size_t i = 0; i < r->list_count && n < max; i++) {
		const struct list_config *l = &r->lists[i];
		struct engine_list_peek *p = &out[n];
		struct answer ans;
		if (a != NULL ? !list_is_address(l->kind) : l->kind != LIST_RHSBL)
			continue;
		memset(p, 0, sizeof(*p));
		p->list = l;
		p->disabled = e->health[i] == NULL || !health_enabled(e->health[i]);
		p->not_asked = a != NULL && a->family == ADDR_V6 &&
			       (e->health[i] == NULL || !health_asks_v6(e->health[i]));
		p->outcome = OUTCOME_PENDING;
		if (res != NULL && !p->not_asked) {
			result_get(res, i, &ans);
			p->outcome = ans.outcome;
			memcpy(p->code, ans.code, 4);
			p->expires = expires;
			if (ans.key_text) {
				ans.reason.middle = text;
				ans.reason.middle_len = text_len;
			}
			p->reason_len = reason_join(&ans.reason, p->reason, sizeof(p->reason));
		}
		n++;
	}
	return n;
}

/* engine_peek - the cached result for the address key, list by list; never a query. */
size_t engine_peek(struct engine *e, const struct addr *a, struct engine_list_peek *out, size_t max)
{
	struct key key;

	key_for_address(&key, a);
	return peek_key(e, &key, a, out, max);
}

/* engine_peek_domain - the cached result for the domain key, RHSBL by RHSBL; never a query. */
size_t engine_peek_domain(struct engine *e, const char *domain, size_t len,
			  struct engine_list_peek *out, size_t max)
{
	struct key key;

	key_for_domain(&key, domain, len);
	return peek_key(e, &key, NULL, out, max);
}

const struct config *engine_config(const struct engine *e)
{
	return e->cfg;
}

const struct list_health *engine_health(const struct engine *e, size_t i)
{
	return i < e->cfg->rules.list_count ? e->health[i] : NULL;
}

/* engine_list_state - what health_usable says now, with the running breaker settings. */
enum outcome engine_list_state(const struct engine *e, const struct list_health *h)
{
	return health_usable(h, &e->breaker, uv_now(e->loop));
}

/* engine_counters - a snapshot for statistics and /metrics. */
void engine_counters(const struct engine *e, struct engine_counters *out)
{
	const struct lru_stats *st = lru_get_stats(e->cache);

	memset(out, 0, sizeof(*out));
	out->cache_entries = lru_count(e->cache);
	out->cache_capacity = lru_capacity(e->cache);
	out->cache_hits = st->hits;
	out->cache_misses = st->misses;
	out->cache_evictions = st->evictions;
	out->cache_expiries = st->expiries;
	out->coalesced = e->jobs ? keyjob_coalesced(e->jobs) : 0;
	out->keyjobs_in_flight = e->jobs ? keyjob_in_flight(e->jobs) : 0;
	out->waiting = e->waiting;
	out->reasons = reasons_count(e->reasons);
	out->greylisting = e->grey != NULL;
	out->greylist_entries = e->grey ? greystore_count(e->grey) : 0;
}

/* engine_log_stats - the cache's counters, then one line per DNS list. */
void engine_log_stats(const struct engine *e)
{
	const struct rules *r = &e->cfg->rules;
	struct engine_counters c;
	uint64_t now = uv_now(e->loop);

	engine_counters(e, &c);
	log_info(
		"statistics: cache entries=%zu/%zu hits=%llu misses=%llu coalesced=%llu evictions=%llu expiries=%llu reasons=%zu waiting=%zu lookups=%zu",
		c.cache_entries, c.cache_capacity, (unsigned long long)c.cache_hits,
		(unsigned long long)c.cache_misses, (unsigned long long)c.coalesced,
		(unsigned long long)c.cache_evictions, (unsigned long long)c.cache_expiries,
		c.reasons, c.waiting, c.keyjobs_in_flight);
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_health *h = e->health[i];
		const struct health_counters *n;
		enum outcome o;
		if (h == NULL)
			continue;
		n = health_counters(h);
		o = health_usable(h, &e->breaker, now);
		log_info(
			"statistics: [%s %s] state=%s queries=%llu listed=%llu errors=%llu failures=%llu",
			list_kind_name(health_kind(h)), health_name(h),
			o == OUTCOME_PENDING   ? "enabled"
			: o == OUTCOME_BREAKER ? "breaker-open"
			: health_checked(h)    ? "disabled"
					       : "unchecked",
			(unsigned long long)n->queries, (unsigned long long)n->listed,
			(unsigned long long)n->errors, (unsigned long long)n->failures);
	}
}
