/*
 * policy - the decision engine (see policy.h): local lists at once, DNS lists
 * through a lookup, the verdict rendered into the caller's slot.
 *
 * Memory: the engine holds a reference to the current config, the resolver and
 * the health checks. A decision that waits for DNS has a small record (struct
 * decision) that lives until its reply is handed over.
 */
#include "policy.h"

#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "health.h"
#include "log.h"
#include "lookup.h"
#include "lru.h"
#include "resolver.h"
#include "stats.h"
#include "text.h"

struct policy {
	struct lookup_env env;
	struct config *cfg;
	struct health *health;
	uint8_t seed[16]; /* the cache's secret hash seed */
};

/* A decision waiting for its lookups. */
struct decision {
	struct reply_slot *slot;
	policy_done_fn *done;
	uint64_t started_ns; /* for the latency statistics */
};

static const uint8_t no_code[4];

/* has_dns_lists - whether the configuration needs a resolver at all. */
static bool has_dns_lists(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].kind != LIST_LOCAL)
			return true;
	return false;
}

/* free_cached - the cache's free function for key results. */
static void free_cached(void *value)
{
	key_result_unref(value);
}

/* make_cache - the verdict cache of [cache] size entries. */
static bool make_cache(struct policy *p, const struct config *cfg)
{
	lru_free(p->env.cache);
	p->env.cache = lru_new((size_t)cfg->cache_size, p->seed, free_cached);
	if (p->env.cache == NULL)
		log_error("cannot allocate a cache of %ld entries", cfg->cache_size);
	return p->env.cache != NULL;
}

/* policy_new - the resolver (only when DNS lists are configured), cache and health checks. */
struct policy *policy_new(uv_loop_t *loop, struct config *cfg)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->env.loop = loop;
	p->cfg = config_ref(cfg);
	if (getrandom(p->seed, sizeof(p->seed), 0) != (ssize_t)sizeof(p->seed))
		log_warn("getrandom failed; the cache uses a predictable hash seed");
	if (has_dns_lists(cfg) && (p->env.resolver = resolver_new(loop, cfg)) == NULL) {
		policy_free(p);
		return NULL;
	}
	if (!make_cache(p, cfg) || (p->env.keys = key_table_new(&p->env)) == NULL) {
		policy_free(p);
		return NULL;
	}
	p->health = health_new(&p->env, cfg);
	return p;
}

/* dns_changed - whether [dns] differs (udns cannot change servers with queries active). */
static bool dns_changed(const struct config *a, const struct config *b)
{
	return a->nameserver_count != b->nameserver_count ||
	       (a->nameserver_count > 0 &&
		memcmp(a->nameserver, b->nameserver, a->nameserver_count * sizeof(*a->nameserver)) !=
			0) ||
	       a->dns_timeout_ms != b->dns_timeout_ms || a->dns_tries != b->dns_tries;
}

/* policy_set_config - new decisions use cfg; the cache survives unless the lists changed. */
void policy_set_config(struct policy *p, struct config *cfg)
{
	if (p->env.resolver == NULL && has_dns_lists(cfg))
		p->env.resolver = resolver_new(p->env.loop, cfg);
	else if (dns_changed(p->cfg, cfg))
		log_warn("reload: [dns] settings changed; they take effect after a restart");
	if (!config_lists_equal(p->cfg, cfg) || cfg->cache_size != p->cfg->cache_size ||
	    cfg->min_ttl_ms != p->cfg->min_ttl_ms || cfg->max_ttl_ms != p->cfg->max_ttl_ms ||
	    cfg->negative_ttl_ms != p->cfg->negative_ttl_ms ||
	    cfg->error_ttl_ms != p->cfg->error_ttl_ms) {
		log_info("reload: lists or cache settings changed; the verdict cache is emptied");
		key_table_set_generation(p->env.keys);
		if (cfg->cache_size != p->cfg->cache_size)
			make_cache(p, cfg);
		else
			lru_clear(p->env.cache);
	}
	health_set_config(p->health, cfg);
	config_unref(p->cfg);
	p->cfg = config_ref(cfg);
}

/*
 * policy_free - health checks first, then the resolver, which fails the queries
 * still in flight so that every key lookup completes; then the table and cache.
 */
void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	health_free(p->health);
	if (p->env.resolver)
		resolver_free(p->env.resolver);
	key_table_free(p->env.keys);
	lru_free(p->env.cache);
	config_unref(p->cfg);
	free(p);
}

/* policy_log_stats - the cache's counters, with the daemon's statistics. */
void policy_log_stats(const struct policy *p)
{
	const struct lru_stats *st;

	if (p->env.cache == NULL)
		return;
	st = lru_get_stats(p->env.cache);
	log_info("statistics: cache entries=%zu/%zu hits=%llu misses=%llu coalesced=%llu "
		 "evictions=%llu expiries=%llu",
		 lru_count(p->env.cache), lru_capacity(p->env.cache),
		 (unsigned long long)st->hits, (unsigned long long)st->misses,
		 (unsigned long long)key_table_coalesced(p->env.keys),
		 (unsigned long long)st->evictions, (unsigned long long)st->expiries);
}

/* policy_evaluate_local - local lists first: they answer without DNS. */
bool policy_evaluate_local(const struct config *cfg, const struct request *req, struct verdict *v,
			   struct addr *client)
{
	size_t len;
	const char *value;

	/* Only the header: hits are written as they are added (the array is 2 KiB). */
	v->score = 0;
	v->hit_count = 0;
	v->allowlisted = false;
	value = request_get(req, REQ_SASL_USERNAME, &len);
	if (cfg->skip_authenticated && len > 0)
		return false;
	value = request_get(req, REQ_CLIENT_ADDRESS, &len);
	if (!addr_parse(client, value, len))
		return false;
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_config *l = &cfg->lists[i];
		if (l->kind == LIST_LOCAL && cidr_set_contains(l->set, client)) {
			struct reason r = reason_plain(l->reason, l->reason ? strlen(l->reason) : 0);
			verdict_add(v, l, no_code, &r);
		}
	}
	v->allowlisted = v->score <= cfg->allowlist_threshold;
	return true;
}

/* policy_log_decision - e.g. "reject: client=[192.0.2.1] helo=<x> from=<a@b> lists=... score=2 cached=no". */
void policy_log_decision(const struct config *cfg, const struct request *req,
			 const struct verdict *v, bool checked, bool cached)
{
	static const char *const action_names[] = { "reject", "defer", "warn", "prepend" };
	bool refused = checked && verdict_refused(cfg, v);
	char client[64], helo[80], from[120], lists[256];
	size_t len, used = 0;
	const char *value;

	if (!log_enabled(refused ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG))
		return;
	value = request_get(req, REQ_CLIENT_ADDRESS, &len);
	text_clean(client, sizeof(client), value, len);
	value = request_get(req, REQ_HELO_NAME, &len);
	text_clean(helo, sizeof(helo), value, len);
	value = request_get(req, REQ_SENDER, &len);
	text_clean(from, sizeof(from), value, len);
	lists[0] = '\0';
	for (unsigned i = 0; i < v->hit_count && used < sizeof(lists); i++) {
		const struct verdict_hit *h = &v->hits[i];
		used += (size_t)snprintf(lists + used, sizeof(lists) - used, "%s%s", i ? "," : "",
					 h->list->name);
		if (h->list->kind != LIST_LOCAL && used < sizeof(lists))
			used += (size_t)snprintf(lists + used, sizeof(lists) - used, "(%u.%u.%u.%u)",
						 h->code[0], h->code[1], h->code[2], h->code[3]);
	}
	(refused ? log_info : log_debug)("%s: client=[%s] helo=<%s> from=<%s> lists=%s score=%ld "
					 "cached=%s",
					 refused ? action_names[cfg->action] : checked ? "pass" : "skip",
					 client, helo, from, v->hit_count ? lists : "-", v->score,
					 cached ? "yes" : "no");
}

/* render - the verdict's reply into the slot, counted and logged. */
static void render(const struct config *cfg, const struct request *req, const struct verdict *v,
		   bool checked, bool cached, struct reply_slot *slot)
{
	if (checked && verdict_refused(cfg, v))
		stats.replies_refused++;
	else
		stats.replies_dunno++;
	slot->len = verdict_render(cfg, req, v, slot->text, sizeof(slot->text));
	policy_log_decision(cfg, req, v, checked, cached);
}

/* render_on_error - lookups did not finish in time: never refuse, unless told to defer. */
static void render_on_error(const struct config *cfg, const struct request *req,
			    struct reply_slot *slot)
{
	char client[64];
	size_t len;
	const char *value = request_get(req, REQ_CLIENT_ADDRESS, &len);

	text_clean(client, sizeof(client), value, len);
	stats.replies_on_error++;
	log_warn("client=[%s]: list lookups did not finish within request_timeout (%lu ms); "
		 "answering %s",
		 client, cfg->request_timeout_ms, cfg->on_error == ON_ERROR_DEFER ? "DEFER" : "DUNNO");
	slot->len = verdict_render_on_error(cfg, slot->text, sizeof(slot->text));
}

/* lookup_done - the DNS answers are in (or the deadline passed). */
static void lookup_done(void *arg, struct lookup *lk)
{
	struct decision *d = arg;

	stats_waited((uv_hrtime() - d->started_ns) / 1000);
	if (lk->timed_out)
		render_on_error(lk->cfg, &lk->req, d->slot);
	else
		render(lk->cfg, &lk->req, &lk->verdict, true, false, d->slot);
	d->done(d->slot);
	free(d);
}

/*
 * cached_results - look every key up in the cache. A result that skipped a list
 * which may be asked now counts as missing. Allocates nothing.
 */
static bool cached_results(struct policy *p, const struct request_keys *keys,
			   struct key_result **results)
{
	uint64_t now_ms = uv_now(p->env.loop);
	bool all = true;

	for (unsigned i = 0; i < keys->count; i++) {
		results[i] = lru_get(p->env.cache, keys->key[i].bytes, keys->key[i].len,
				     (uint32_t)(now_ms / 1000));
		if (results[i] != NULL && key_result_stale(results[i], p->cfg, now_ms))
			results[i] = NULL;
		all = all && results[i] != NULL;
	}
	return all;
}

/*
 * policy_decide - local lists, then the cache; only keys the cache lacks make the
 * request wait. A cache hit allocates nothing: keys, results and the verdict live
 * on the stack, and the reply goes straight into the caller's slot.
 */
enum policy_outcome policy_decide(struct policy *p, const struct request *req,
				  struct reply_slot *slot, policy_done_fn *done)
{
	struct config *cfg = p->cfg;
	struct verdict v;
	struct request_keys keys;
	struct key_result *results[LOOKUP_MAX_KEYS];
	struct addr client;
	bool checked = policy_evaluate_local(cfg, req, &v, &client);

	keys.count = 0;
	if (checked && !v.allowlisted && p->env.resolver != NULL)
		lookup_keys(cfg, req, &client, uv_now(p->env.loop), &keys);
	bool cached = keys.count > 0 && cached_results(p, &keys, results);
	if (keys.count > 0 && !cached) {
		struct decision *d = malloc(sizeof(*d));
		if (d != NULL) {
			d->slot = slot;
			d->done = done;
			d->started_ns = uv_hrtime();
			if (lookup_start(&p->env, cfg, req, &v, &keys, results, lookup_done, d))
				return POLICY_PENDING;
			free(d);
		}
	}
	if (keys.count > 0) {
		lookup_add_hits(cfg, &keys, results, &v);
		v.allowlisted = v.score <= cfg->allowlist_threshold;
	}
	render(cfg, req, &v, checked, cached, slot);
	return POLICY_ANSWERED;
}
