/*
 * engine - the decision engine (see engine.h): its state, the cache-hit path,
 * requests parked until their lookups end, reloads, and the readers (--check,
 * the help page, statistics).
 *
 * A request that must wait (struct wait) keeps a compact copy of itself (the
 * attributes policyd reads and those its reply may show, each cut at
 * WAIT_VALUE_MAX), its keys, the reply budget computed on the whole request, a
 * waiter per unknown key and a deadline timer. When the last key is known, or
 * the deadline passes, the copy is parsed again and the same pure steps as the
 * hit path render the reply.
 *
 * Greylisting (soft_action = greylist) adds a stage: a soft-tier decision asks the
 * greylist store about its triplet before it is answered. The memory store answers
 * at once; Redis answers later, within its timeout, so a request that asks it is
 * held by a wait too (made then, on the hit path). If request_timeout passes first,
 * the request passes at once, and the wait lives on until the store's answer comes
 * (the store calls back exactly once), so that the store never holds a freed wait.
 *
 * Memory: a wait holds a configuration reference and one reference per result
 * until it finishes; it is freed in its timer's close callback, once it has both
 * answered and heard from the store it asked.
 */
#include "engine.h"
#include "hot.h"
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "greystore.h"
#include "keyjob.h"
#include "log.h"
#include "lru.h"
#include "probe.h"
#include "resolver.h"
#include "stats.h"
#include "text.h"
#include "watch.h"

/* What a waiting request keeps of each attribute: a reply shows at most 400 bytes. */
#define WAIT_VALUE_MAX 512

struct wait;

/* One key a request waits for. */
struct wait_key {
	struct keyjob_waiter waiter;
	struct wait *wait;
	struct result *result; /* referenced; NULL until known */
};

struct wait {
	struct engine *e;
	struct config *cfg;
	struct keyset keys;
	struct wait_key key[KEYS_MAX];
	unsigned unresolved;
	size_t budget;
	uv_timer_t deadline;
	bool finished; /* answered: the caller has its reply */
	bool asking;   /* the greylist store owes an answer */
	struct reply *reply;
	engine_done_fn *done;
	engine_explain_fn *explain;
	void *explain_arg;
	uint64_t started_ns;
	size_t text_len;
	char text[]; /* the compact request */
};

/* free_result - the cache's free function. */
static void free_result(void *value)
{
	result_unref(value);
}

/* same_point - two test point labels (NULL: RFC 5782's) alike. */
static bool same_point(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* same_health_check - the same health key and test points: the verdict still holds. */
static bool same_health_check(const struct list_config *a, const struct list_config *b)
{
	return a->health_off == b->health_off && a->hash == b->hash &&
	       same_point(a->test_point[0], b->test_point[0]) &&
	       same_point(a->test_point[1], b->test_point[1]);
}

/* make_health - the state of each DNS list of cfg: the old one's by kind and name, else new. */
static struct list_health **make_health(const struct config *cfg, struct list_health *const *old,
					const struct config *old_cfg)
{
	const struct rules *r = &cfg->rules;
	struct list_health **h = calloc(r->list_count ? r->list_count : 1, sizeof(*h));

	if (h == NULL)
		return NULL;
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		if (l->kind == LIST_LOCAL)
			continue;
		for (size_t j = 0; old_cfg != NULL && j < old_cfg->rules.list_count; j++) {
			const struct list_config *o = &old_cfg->rules.lists[j];
			if (old[j] != NULL && o->kind == l->kind && strcmp(o->name, l->name) == 0 &&
			    strcmp(o->zone, l->zone) == 0 && same_health_check(o, l))
				h[i] = health_ref(old[j]);
		}
		if (h[i] == NULL && (h[i] = health_new(l->kind, l->name)) == NULL) {
			for (size_t k = 0; k < i; k++)
				health_unref(h[k]);
			free(h);
			return NULL;
		}
	}
	return h;
}

/* free_health - drop the table's references. */
static void free_health(struct list_health **h, size_t n)
{
	for (size_t i = 0; h != NULL && i < n; i++)
		health_unref(h[i]);
	free(h);
}

/* breaker_params - the configured circuit breaker. */
static struct breaker_params breaker_params(const struct config *cfg)
{
	return (struct breaker_params){
		.failures = (unsigned)cfg->breaker_failures,
		.backoff_ms = cfg->breaker_backoff_ms,
		.backoff_max_ms = cfg->breaker_backoff_max_ms,
	};
}

/* start_dns - the resolver, key jobs and probes, once some list needs DNS. */
static bool start_dns(struct engine *e, const struct config *cfg)
{
	if (e->resolver != NULL || !config_has_dns_lists(cfg))
		return true;
	e->resolver = resolver_new(e->loop, cfg);
	if (e->resolver == NULL)
		return false;
	e->jobs = keyjob_table_new(e->loop, e->resolver, e->reasons, e->seed);
	e->probe = probe_new(e->loop, e->resolver, cfg->health_interval_ms);
	if (e->jobs == NULL || e->probe == NULL) {
		log_error("out of memory starting DNS lookups");
		return false;
	}
	keyjob_table_set_cache(e->jobs, e->cache);
	keyjob_table_set_breaker(e->jobs, &e->breaker);
	keyjob_table_set_probe(e->jobs, e->probe);
	return true;
}

/*
 * set_greylisting - the greylist store cfg needs: none, the one the engine has (told
 * of cfg), or a new one (the old one saved and freed: a Redis store answers its asks
 * in flight as unavailable, and they pass). False (logged) when it cannot be had.
 */
static bool set_greylisting(struct engine *e, const struct config *cfg)
{
	struct greystore *fresh;

	if (cfg->rules.soft_action != ACTION_GREYLIST || e->offline) {
		greystore_free(e->grey);
		e->grey = NULL;
		return true;
	}
	if (e->grey != NULL && greystore_set_config(e->grey, cfg))
		return true;
	if ((fresh = greystore_new(e->loop, cfg)) == NULL)
		return false;
	greystore_free(e->grey);
	e->grey = fresh;
	return true;
}

/* make_engine - the cache, the reasons table, DNS when some list needs it, the store. */
static struct engine *make_engine(uv_loop_t *loop, struct config *cfg, bool offline)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->loop = loop;
	e->offline = offline;
	e->cfg = config_ref(cfg);
	e->breaker = breaker_params(cfg);
	if (getrandom(e->seed, sizeof(e->seed), 0) != (ssize_t)sizeof(e->seed))
		log_warn("getrandom failed; the cache uses a predictable hash seed");
	e->reasons = reasons_new(e->seed);
	e->cache = lru_new((size_t)cfg->cache_size, e->seed, free_result);
	e->health = make_health(cfg, NULL, NULL);
	if (e->reasons == NULL || e->cache == NULL || e->health == NULL) {
		log_error("cannot allocate a cache of %ld entries", cfg->cache_size);
		engine_free(e);
		return NULL;
	}
	if (!start_dns(e, cfg) || !set_greylisting(e, cfg)) {
		engine_free(e);
		return NULL;
	}
	if (e->probe != NULL)
		probe_set_lists(e->probe, &cfg->rules, e->health, cfg->health_interval_ms);
	if ((e->watch = watch_new(loop)) != NULL)
		watch_set(e->watch, cfg);
	return e;
}

struct engine *engine_new(uv_loop_t *loop, struct config *cfg)
{
	return make_engine(loop, cfg, false);
}

struct engine *engine_new_offline(uv_loop_t *loop, struct config *cfg)
{
	return make_engine(loop, cfg, true);
}

/* dns_changed - whether [dns] servers differ (udns cannot change them with queries active). */
static bool dns_changed(const struct config *a, const struct config *b)
{
	return a->nameserver_count != b->nameserver_count ||
	       (a->nameserver_count > 0 &&
		memcmp(a->nameserver, b->nameserver,
		       a->nameserver_count * sizeof(*a->nameserver)) != 0) ||
	       a->dns_timeout_ms != b->dns_timeout_ms || a->dns_tries != b->dns_tries;
}

/* cache_changed - what makes cached results meaningless or their TTLs wrong. */
static bool cache_changed(const struct config *a, const struct config *b)
{
	return !config_lists_equal(a, b) || a->min_ttl_ms != b->min_ttl_ms ||
	       a->max_ttl_ms != b->max_ttl_ms || a->negative_ttl_ms != b->negative_ttl_ms ||
	       a->error_ttl_ms != b->error_ttl_ms;
}

/*
 * engine_set_config - everything that can fail is allocated first (a cache of the
 * new size, the health table, a resolver); only then is anything replaced.
 */
bool engine_set_config(struct engine *e, struct config *cfg)
{
	struct lru *cache = NULL;
	struct list_health **health;

	if (cfg->cache_size != e->cfg->cache_size) {
		cache = lru_new((size_t)cfg->cache_size, e->seed, free_result);
		if (cache == NULL) {
			log_error("reload refused: cannot allocate a cache of %ld entries",
				  cfg->cache_size);
			return false;
		}
	}
	health = make_health(cfg, e->health, e->cfg);
	if (health == NULL || !start_dns(e, cfg) || !set_greylisting(e, cfg)) {
		log_error(
			"reload refused: out of memory, or DNS lookups or the greylist store cannot start");
		lru_free(cache);
		free_health(health, cfg->rules.list_count);
		return false;
	}
	if (e->resolver != NULL && dns_changed(e->cfg, cfg))
		log_warn(
			"reload: [dns] servers, timeout or tries changed; they take effect after a restart");
	if (cache != NULL || cache_changed(e->cfg, cfg)) {
		log_info("reload: lists or cache settings changed; the verdict cache is emptied");
		if (e->jobs)
			keyjob_table_new_generation(e->jobs);
		if (cache != NULL) {
			lru_free(e->cache);
			e->cache = cache;
		} else {
			lru_clear(e->cache);
		}
		if (e->jobs)
			keyjob_table_set_cache(e->jobs, e->cache);
	}
	free_health(e->health, e->cfg->rules.list_count);
	e->health = health;
	e->breaker = breaker_params(cfg);
	if (e->jobs)
		keyjob_table_set_breaker(e->jobs, &e->breaker);
	config_unref(e->cfg);
	e->cfg = config_ref(cfg);
	if (e->probe)
		probe_set_lists(e->probe, &cfg->rules, e->health, cfg->health_interval_ms);
	if (e->watch)
		watch_set(e->watch, cfg);
	return true;
}

/*
 * usable_lists - which lists may be read or asked now, from their health: the one
 * time a request asks it (its log line asks again only if it waited). A list
 * skipped by the circuit breaker is still readable: the breaker stops queries,
 * not the verdicts already in the cache. Returns whether some readable address
 * list takes the request (its `clients`) and its address family. The masks stay
 * whole: a key job asks every list of its key, so that its result serves every
 * request that joins it, authenticated or not.
 */
HOT static bool usable_lists(const struct engine *e, const struct decision *d,
			     struct decision_lists *u)
{
	const struct rules *r = &e->cfg->rules;
	int family = d->client.family;
	bool address = false;

	*u = health_usable_all(e->health, r->list_count, &e->breaker, uv_now(e->loop));
	for (uint64_t m = u->readable & d->applies; m != 0 && !address; m &= m - 1) {
		size_t i = (size_t)__builtin_ctzll(m);
		const struct list_config *l = &r->lists[i];
		address = list_is_address(l->kind) &&
			  (family == ADDR_V4 || health_asks_v6(e->health[i]));
	}
	return address;
}

/*
 * stale - a cached result that skipped a list which may be asked now, and which
 * takes the request, counts as missing.
 */
HOT static bool stale(const struct engine *e, const struct result *res, uint64_t askable)
{
	const struct rules *r = &e->cfg->rules;

	for (size_t i = 0; i < r->list_count; i++) {
		enum outcome o = result_outcome(res, i);
		if ((o == OUTCOME_UNHEALTHY || o == OUTCOME_BREAKER) && ((askable >> i) & 1))
			return true;
	}
	return false;
}

_Static_assert(KEYS_MAX <= LRU_BATCH_MAX, "one lru_get_all takes every key of a request");

/* cached - every key of d from the cache; true when all are there. Allocates nothing. */
HOT static bool cached(struct engine *e, const struct decision *d, struct result **results)
{
	const struct keyset *keys = &d->keys;
	uint64_t now = uv_now(e->loop);
	struct lru_key wanted[KEYS_MAX];
	void *values[KEYS_MAX];
	bool all = true;

	/* All keys at once, so that their cache misses overlap; then each result's. */
	for (unsigned i = 0; i < keys->count; i++)
		wanted[i] = (struct lru_key){ keys->key[i].bytes, keys->key[i].len };
	lru_get_all(e->cache, wanted, keys->count, (uint32_t)(now / 1000), values);
	for (unsigned i = 0; i < keys->count; i++) {
		results[i] = values[i];
		if (results[i] != NULL)
			__builtin_prefetch(results[i]);
	}
	for (unsigned i = 0; i < keys->count; i++) {
		if (results[i] != NULL && stale(e, results[i], d->lists.askable & d->applies))
			results[i] = NULL;
		all = all && results[i] != NULL;
	}
	return all;
}

/* derive_keys - which DNS lists are usable, and the keys they need for this request. */
HOT static void derive_keys(struct engine *e, const struct request *req, struct decision *d)
{
	d->keys.count = 0;
	if (e->resolver == NULL || !decision_wants_dns(d, &e->cfg->rules))
		return;
	bool address = usable_lists(e, d, &d->lists);
	keys_derive(req, address ? &d->client : NULL,
		    decision_sources(&e->cfg->rules, d->lists.readable & d->applies), &d->keys);
}

/* count_reply - the statistics of one reply: its action, and how long it waited. */
HOT static void count_reply(const struct config *cfg, const struct decision *d, uint64_t waited_us)
{
	static const enum stats_action kinds[] = {
		[ACTION_REJECT] = STATS_REJECT,     [ACTION_DEFER] = STATS_DEFER,
		[ACTION_WARN] = STATS_WARN,         [ACTION_PREPEND] = STATS_PREPEND,
		[ACTION_GREYLIST] = STATS_GREYLIST,
	};

	if (d->kind == DECISION_EXEMPT)
		stats.replies_exempt++;
	if (waited_us == 0)
		stats.replies_cached++;
	if (d->kind == DECISION_CHECKED && tier_refuses(d->tier))
		stats_reply(kinds[tier_action(&cfg->rules, d->tier)], waited_us);
	else
		stats_reply(STATS_DUNNO, waited_us);
}

/*
 * skipped_lists - for a pass, the DNS lists that would have been asked but were
 * not (disabled by their health check, or skipped by the circuit breaker):
 * "skipped=zone(disabled),zone(breaker)", so that a pass that a dead list made
 * possible can be told from grep alone.
 */
static void skipped_lists(const struct engine *e, const struct config *cfg,
			  const struct decision *d, char *out, size_t size)
{
	const struct rules *r = &cfg->rules;
	size_t used = 0;

	out[0] = '\0';
	if (cfg != e->cfg || d->kind != DECISION_CHECKED || !decision_wants_dns(d, r))
		return;
	/* The DNS lists that take the request and may not be asked: none, usually. */
	for (uint64_t m = r->dns_lists & d->applies & ~d->lists.askable; m != 0; m &= m - 1) {
		size_t i = (size_t)__builtin_ctzll(m);
		const struct list_config *l = &r->lists[i];
		enum outcome o = decision_list_outcome(&d->lists, i);
		if (e->health[i] == NULL ||
		    (list_is_address(l->kind) && d->client.family == ADDR_V6 &&
		     !health_asks_v6(e->health[i])))
			continue;
		int n = snprintf(out + used, size - used, "%s%s(%s)",
				 used ? "," : "skipped=", l->name,
				 o == OUTCOME_BREAKER ? "breaker" : "disabled");
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

HOT static void log_decision(const struct engine *e, const struct config *cfg,
			     const struct decision *d, const struct request *req, bool from_cache)
{
	static const char *const names[] = { "reject", "defer", "warn", "prepend" };
	bool refused = d->kind == DECISION_CHECKED && tier_refuses(d->tier);
	char skipped[256], *out;
	size_t room;

	/* Every line here is at info or debug: at log_level warning, nothing to work out. */
	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	/* A pass that a dead list may have made possible is logged like a refusal. */
	skipped[0] = '\0';
	if (!refused)
		skipped_lists(e, cfg, d, skipped, sizeof(skipped));
	enum log_level level = refused || d->kind == DECISION_EXEMPT || skipped[0] != '\0'
				       ? LOG_LEVEL_INFO
				       : LOG_LEVEL_DEBUG;
	const char *word = d->kind == DECISION_SKIPPED   ? "skip"
			   : d->kind == DECISION_EXEMPT  ? "exempt"
			   : refused                     ? names[tier_action(&cfg->rules, d->tier)]
			   : d->tier == TIER_ALLOWLISTED ? "allowlisted"
							 : "pass";

	/* The line is formatted straight into the log's batch, at most 1 KiB as always. */
	if ((out = log_begin(level, &room)) == NULL)
		return;
	log_end(decision_describe(d, req, word, from_cache, skipped, out,
				  room < 1024 ? room : 1024));
}

/* log_greylist - the decision line of a greylisted request, always at info. */
static void log_greylist(const struct decision *d, const struct request *req, bool deferred,
			 const char *note)
{
	char *out;
	size_t room;

	if (!log_enabled(LOG_LEVEL_INFO) || (out = log_begin(LOG_LEVEL_INFO, &room)) == NULL)
		return;
	log_end(decision_describe(d, req, deferred ? "greylist" : "pass", false, note, out,
				  room < 1024 ? room : 1024));
}

/*
 * count_lists - what each list was worth to this decision: the refusal it alone
 * made (sole hits), the listings of observed lists. Only for the running
 * configuration, whose lists the health table holds; called only for a
 * refusal, or when some observed list said listed.
 */
HOT static void count_lists(const struct engine *e, const struct config *cfg,
			    const struct decision *d)
{
	const struct rules *r = &cfg->rules;
	uint64_t sole;

	if (cfg != e->cfg)
		return;
	for (unsigned i = 0; i < d->observed_count; i++) {
		struct list_health *h = e->health[d->observed[i].list - r->lists];
		if (h != NULL)
			health_count_observed(h);
	}
	sole = decision_sole(d, r);
	for (size_t i = 0; sole != 0; i++, sole >>= 1)
		if ((sole & 1) && e->health[i] != NULL)
			health_count_sole(e->health[i]);
}

/* respond - render, count and log a decision into the reply. */
HOT static void respond(const struct engine *e, const struct config *cfg, const struct decision *d,
			const struct request *req, size_t budget, bool from_cache,
			uint64_t waited_us, struct reply *reply)
{
	count_reply(cfg, d, waited_us);
	if (d->observed_count > 0 || (d->kind == DECISION_CHECKED && tier_refuses(d->tier)))
		count_lists(e, cfg, d);
	reply->len = reply_render(&cfg->rules, req, &d->verdict,
				  d->kind == DECISION_CHECKED ? d->tier : TIER_PASS, budget,
				  reply->text, sizeof(reply->text));
	log_decision(e, cfg, d, req, from_cache);
}

/* What greylisting made of a soft-tier request. */
struct grey_outcome {
	enum greylist_answer answer;
	uint32_t retry_s;
	bool no_recipient; /* no triplet: the request passed without asking the store */
};

/* greylisting - whether this decision goes to the greylist store before its answer. */
HOT static inline bool greylisting(const struct engine *e, const struct config *cfg,
				   const struct decision *d)
{
	return d->kind == DECISION_CHECKED && d->tier == TIER_SOFT &&
	       cfg->rules.soft_action == ACTION_GREYLIST && e->grey != NULL;
}

/* grey_key - the triplet of req; false without a recipient or a client address. */
static bool grey_key(const struct config *cfg, const struct decision *d, const struct request *req,
		     struct greylist_key *k)
{
	size_t sender_len, recipient_len;
	const char *sender = request_get(req, REQ_SENDER, &sender_len);
	const char *recipient = request_get(req, REQ_RECIPIENT, &recipient_len);

	return (d->client.family == ADDR_V4 || d->client.family == ADDR_V6) &&
	       greylist_make_key(&cfg->rules.greylist, &d->client, sender, sender_len, recipient,
				 recipient_len, k);
}

/* respond_grey - the reply of a soft-tier request that greylisting decided. */
static void respond_grey(const struct engine *e, const struct config *cfg, const struct decision *d,
			 const struct request *req, size_t budget, uint64_t waited_us,
			 const struct grey_outcome *g, struct reply *reply)
{
	bool defers = greylist_defers(g->answer) && !g->no_recipient;
	char note[64];

	if (!g->no_recipient)
		stats.greylist[g->answer]++;
	stats_reply(defers ? STATS_GREYLIST : STATS_DUNNO, waited_us);
	if (defers) {
		count_lists(e, cfg, d);
		reply->len = reply_greylist(&cfg->rules, req, &d->verdict, g->retry_s, budget,
					    reply->text, sizeof(reply->text));
	} else {
		reply->len = reply_word("DUNNO", reply->text, sizeof(reply->text));
	}
	snprintf(note, sizeof(note), "greylist=%s",
		 g->no_recipient ? "no-recipient" : greylist_answer_name(g->answer));
	log_greylist(d, req, defers, note);
}

/* respond_on_error - lookups did not finish in time: never refuse, unless told to defer. */
static void respond_on_error(const struct config *cfg, const struct request *req,
			     uint64_t waited_us, struct reply *reply, const char *why)
{
	char client[64];
	size_t len;
	const char *value = request_get(req, REQ_CLIENT_ADDRESS, &len);

	stats.replies_on_error++;
	stats_reply(cfg->rules.on_error == ON_ERROR_DEFER ? STATS_DEFER : STATS_DUNNO, waited_us);
	text_clean(client, sizeof(client), value, len);
	log_warn("client=[%s]: %s; answering %s", client, why,
		 cfg->rules.on_error == ON_ERROR_DEFER ? "DEFER" : "DUNNO");
	reply->len = reply_on_error(&cfg->rules, reply->text, sizeof(reply->text));
}

/* explain_now - report an explanation of a decision made at once. */
static void explain_now(struct engine *e, const struct decision *d, struct result *const *results,
			bool timed_out, const struct reply *reply, engine_explain_fn *fn, void *arg)
{
	struct explanation x = {
		.cfg = e->cfg,
		.decision = d,
		.results = results,
		.health = e->health,
		.timed_out = timed_out,
		.reply = reply->text,
		.reply_len = reply->len,
		.now = uv_now(e->loop),
	};
	fn(arg, &x);
}

/* wait_closed - the deadline timer has closed: the wait's memory goes. */
static void wait_closed(uv_handle_t *h)
{
	free(h->data);
}

/* release - a wait that has answered and hears from no store any more lets go. */
static void release(struct wait *w)
{
	if (!w->finished || w->asking)
		return;
	for (unsigned i = 0; i < w->keys.count; i++)
		result_unref(w->key[i].result);
	config_unref(w->cfg);
	uv_close((uv_handle_t *)&w->deadline, wait_closed);
}

/* rebuild - the wait's decision again, from its copy of the request and its results. */
static void rebuild(struct wait *w, struct decision *d, struct result **results, bool timed_out)
{
	struct engine *e = w->e;

	for (unsigned i = 0; i < w->keys.count; i++)
		results[i] = w->key[i].result;
	request_parse(&e->scratch, w->text, w->text_len);
	decision_begin(d, &w->cfg->rules, &e->scratch);
	d->keys = w->keys;
	/* For the log line: the lists' health now, as the hit path's log line has it. */
	if (w->cfg == e->cfg && e->resolver != NULL)
		d->lists = health_usable_all(e->health, e->cfg->rules.list_count, &e->breaker,
					     uv_now(e->loop));
	/* A local list file that changed meanwhile may have allowlisted the client. */
	if (!timed_out && decision_wants_dns(d, &w->cfg->rules))
		decision_add(d, &w->cfg->rules, results);
}

/* waited_us - how long the wait has waited; at least 1: 0 means "answered at once". */
static uint64_t waited_us(const struct wait *w)
{
	return (uv_hrtime() - w->started_ns) / 1000 + 1;
}

/* answered - the reply is written: the caller hears of it, then the wait may go. */
static void answered(struct wait *w, const struct decision *d, struct result *const *results,
		     bool timed_out)
{
	struct engine *e = w->e;

	w->finished = true;
	uv_timer_stop(&w->deadline);
	/* Counted no more before the caller hears of it: its stalled clients may go on. */
	e->waiting--;
	if (w->explain != NULL) {
		struct explanation x = {
			.cfg = w->cfg,
			.decision = d,
			.results = results,
			.health = w->cfg == e->cfg ? e->health : NULL,
			.timed_out = timed_out,
			.reply = w->reply->text,
			.reply_len = w->reply->len,
			.now = uv_now(e->loop),
		};
		w->explain(w->explain_arg, &x);
	} else {
		w->done(w->reply);
	}
	release(w);
}

static redis_done_fn grey_answered;

/*
 * finish - every key is known, or the deadline passed: render as the hit path does,
 * or (greylisting, Redis) ask the store first. The deadline passing while the store
 * is asked answers the request as a pass.
 */
static void finish(struct wait *w, bool timed_out)
{
	struct engine *e = w->e;
	struct result *results[KEYS_MAX];
	struct decision d;

	if (w->finished)
		return;
	if (!w->asking)
		for (unsigned i = 0; i < w->keys.count; i++)
			keyjob_unwait(&w->key[i].waiter);
	rebuild(w, &d, results, timed_out && !w->asking);
	if (w->asking) {
		/* request_timeout passed while the store was asked: pass, never defer. */
		struct grey_outcome g = { .answer = GREYLIST_UNAVAILABLE };
		respond_grey(e, w->cfg, &d, &e->scratch, w->budget, waited_us(w), &g, w->reply);
	} else if (timed_out) {
		stats.lookups_timed_out++;
		respond_on_error(w->cfg, &e->scratch, waited_us(w), w->reply,
				 "list lookups did not finish within request_timeout");
	} else if (w->explain == NULL && greylisting(e, w->cfg, &d)) {
		struct greylist_key k;
		struct grey_outcome g = { .answer = GREYLIST_UNAVAILABLE };
		if (!grey_key(w->cfg, &d, &e->scratch, &k))
			g.no_recipient = true;
		else if (!greystore_ask(e->grey, &w->cfg->rules.greylist, &k, &g.answer, &g.retry_s,
					grey_answered, w)) {
			w->asking = true;
			return;
		}
		respond_grey(e, w->cfg, &d, &e->scratch, w->budget, waited_us(w), &g, w->reply);
	} else {
		respond(e, w->cfg, &d, &e->scratch, w->budget, false, waited_us(w), w->reply);
	}
	answered(w, &d, results, timed_out);
}

/* grey_answered - the Redis store's answer for a waiting request. */
static void grey_answered(void *arg, enum greylist_answer answer, uint32_t retry_s)
{
	struct wait *w = arg;
	struct engine *e = w->e;
	struct result *results[KEYS_MAX];
	struct decision d;
	struct grey_outcome g = { .answer = answer, .retry_s = retry_s };

	w->asking = false;
	if (w->finished) {
		release(w);
		return;
	}
	rebuild(w, &d, results, false);
	respond_grey(e, w->cfg, &d, &e->scratch, w->budget, waited_us(w), &g, w->reply);
	answered(w, &d, results, false);
}

/* on_deadline - request_timeout has passed; the key jobs go on without us. */
static void on_deadline(uv_timer_t *t)
{
	finish(t->data, true);
}

/* key_known - a key job ended (res may be NULL when it ran out of memory). */
static void key_known(struct keyjob_waiter *kw, struct result *res)
{
	struct wait_key *k = (struct wait_key *)kw;
	struct wait *w = k->wait;

	k->result = result_ref(res);
	if (--w->unresolved == 0)
		finish(w, false);
}

/* saturated - key jobs cannot start: log at most once a minute. */
static void saturated(struct engine *e)
{
	uint64_t now = uv_now(e->loop);

	if (e->last_saturated_log != 0 && now - e->last_saturated_log < 60000)
		return;
	e->last_saturated_log = now ? now : 1;
	log_warn(
		"%zu DNS lookups in flight (the most is %d): requests beyond are answered with on_error until lookups end; is the resolver answering?",
		keyjob_in_flight(e->jobs), KEYJOB_MAX);
}

/*
 * wait_new - a wait for req: the compact copy of what the reply needs, the keys and
 * a reference to each result known. NULL when out of memory.
 */
static struct wait *wait_new(struct engine *e, const struct request *req, const struct decision *d,
			     struct result *const *results)
{
	const struct rules *r = &e->cfg->rules;
	size_t need =
		request_compact(req, r->reply_attrs, r->reply_attr_count, WAIT_VALUE_MAX, NULL, 0);
	struct wait *w = calloc(1, sizeof(*w) + need);

	if (w == NULL)
		return NULL;
	w->text_len = request_compact(req, r->reply_attrs, r->reply_attr_count, WAIT_VALUE_MAX,
				      w->text, need);
	w->e = e;
	w->cfg = config_ref(e->cfg);
	w->keys = d->keys;
	w->budget = reply_budget(req);
	w->started_ns = uv_hrtime();
	for (unsigned i = 0; i < d->keys.count; i++) {
		struct wait_key *k = &w->key[i];
		k->wait = w;
		k->waiter.done = key_known;
		k->result = result_ref(results[i]);
	}
	return w;
}

/* wait_discard - a wait that never started: its waiters, references and memory. */
static void wait_discard(struct wait *w)
{
	for (unsigned i = 0; i < w->keys.count; i++) {
		keyjob_unwait(&w->key[i].waiter);
		result_unref(w->key[i].result);
	}
	config_unref(w->cfg);
	free(w);
}

/* wait_start - the deadline runs, and the request counts as waiting. */
static void wait_start(struct wait *w, struct reply *reply, engine_done_fn *done)
{
	struct engine *e = w->e;

	w->reply = reply;
	w->done = done;
	uv_timer_init(e->loop, &w->deadline);
	w->deadline.data = w;
	uv_timer_start(&w->deadline, on_deadline, e->cfg->request_timeout_ms, 0);
	e->waiting++;
}

/*
 * park - copy what the reply needs and wait for the unknown keys. Returns NULL
 * when nothing is left to wait for (every missing key has no list to ask), and
 * sets *failed when a lookup could not start at all.
 */
static struct wait *park(struct engine *e, const struct request *req, const struct decision *d,
			 struct result *const *results, bool *failed)
{
	struct wait *w = wait_new(e, req, d, results);

	*failed = w == NULL;
	if (w == NULL)
		return NULL;
	for (unsigned i = 0; i < d->keys.count; i++) {
		if (results[i] != NULL)
			continue;
		if (keyjob_wait(e->jobs, e->cfg, e->health, &d->lists, &d->keys.key[i],
				&w->key[i].waiter))
			w->unresolved++;
		else if (keyjob_in_flight(e->jobs) >= KEYJOB_MAX)
			*failed = true;
	}
	if (w->unresolved == 0 || *failed) {
		wait_discard(w);
		return NULL;
	}
	return w;
}

/*
 * grey_decide - a soft-tier request decided at once goes to the greylist store: the
 * memory store answers now; Redis makes it wait (true: done comes later).
 */
static bool grey_decide(struct engine *e, const struct decision *d, const struct request *req,
			struct result *const *results, struct reply *reply, engine_done_fn *done)
{
	struct config *cfg = e->cfg;
	struct greylist_key k;
	struct grey_outcome g = { .answer = GREYLIST_UNAVAILABLE };

	if (!grey_key(cfg, d, req, &k)) {
		g.no_recipient = true;
	} else if (!greystore_waits(e->grey)) {
		greystore_ask(e->grey, &cfg->rules.greylist, &k, &g.answer, &g.retry_s, NULL, NULL);
	} else {
		struct wait *w = wait_new(e, req, d, results);
		if (w != NULL) {
			if (!greystore_ask(e->grey, &cfg->rules.greylist, &k, &g.answer, &g.retry_s,
					   grey_answered, w)) {
				w->asking = true;
				wait_start(w, reply, done);
				return true;
			}
			wait_discard(w);
		}
	}
	respond_grey(e, cfg, d, req, reply_budget(req), 0, &g, reply);
	return false;
}

/*
 * decide - the one path of engine_decide and engine_explain: local lists, then the
 * cache; only keys the cache lacks make the request wait. A cache hit allocates
 * nothing: the decision and its results live on the stack, and the reply goes
 * straight into the caller's reply.
 */
HOT static enum engine_outcome decide(struct engine *e, const struct request *req,
				      struct reply *reply, engine_done_fn *done,
				      engine_explain_fn *explain, void *arg)
{
	struct config *cfg = e->cfg;
	struct decision d;
	struct result *results[KEYS_MAX];
	bool all_cached, failed = false;

	decision_begin(&d, &cfg->rules, req);
	derive_keys(e, req, &d);
	all_cached = d.keys.count == 0 || cached(e, &d, results);
	if (!all_cached) {
		struct wait *w = park(e, req, &d, results, &failed);
		if (w != NULL) {
			w->explain = explain;
			w->explain_arg = arg;
			wait_start(w, reply, done);
			return ENGINE_PENDING;
		}
	}
	if (failed) {
		saturated(e);
		respond_on_error(cfg, req, 0, reply, "DNS lookups could not start");
	} else {
		if (d.keys.count > 0)
			decision_add(&d, &cfg->rules, results);
		/* --check says what greylisting would do, without asking the store. */
		if (explain == NULL && greylisting(e, cfg, &d)) {
			if (grey_decide(e, &d, req, results, reply, done))
				return ENGINE_PENDING;
		} else {
			respond(e, cfg, &d, req, reply_budget(req), all_cached && d.keys.count > 0,
				0, reply);
		}
	}
	if (explain != NULL)
		explain_now(e, &d, results, false, reply, explain, arg);
	return ENGINE_ANSWERED;
}

/* engine_decide - see engine.h. */
enum engine_outcome engine_decide(struct engine *e, const struct request *req, struct reply *reply,
				  engine_done_fn *done)
{
	return decide(e, req, reply, done, NULL, NULL);
}

/* engine_explain - the same path; the explanation replaces the done callback. */
void engine_explain(struct engine *e, const struct request *req, struct reply *reply,
		    engine_explain_fn *fn, void *arg)
{
	decide(e, req, reply, NULL, fn, arg);
}

/* engine_waiting - see engine.h. */
size_t engine_waiting(const struct engine *e)
{
	return e->waiting;
}

/* engine_settled - no probe is waiting for answers. */
bool engine_settled(const struct engine *e)
{
	return e->probe == NULL || !probe_busy(e->probe);
}

/*
 * engine_free - probes first, then the resolver, which fails the queries still in
 * flight so that every key job completes and every waiting request is answered;
 * then the table, the cache and the reasons their results point into.
 */
void engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	if (e->jobs)
		keyjob_table_set_probe(e->jobs, NULL); /* the key jobs failed below end after it */
	probe_free(e->probe);
	watch_free(e->watch);
	/* Before the configuration goes: the store's last answers render replies with it. */
	greystore_free(e->grey);
	if (e->resolver)
		resolver_free(e->resolver);
	keyjob_table_free(e->jobs);
	lru_free(e->cache);
	reasons_free(e->reasons);
	free_health(e->health, e->cfg->rules.list_count);
	config_unref(e->cfg);
	free(e);
}

/* ---------------------------------------------------------------- the help page's recheck */

/*
 * engine_forget - drop the verdicts of an address and a domain from the cache (see
 * engine.h). A request that finds them missing starts their lookups as for any miss.
 */
size_t engine_forget(struct engine *e, const struct addr *a, const char *domain, size_t len)
{
	struct key key;
	size_t n = 0;

	key_for_address(&key, a);
	n += lru_remove(e->cache, key.bytes, key.len);
	if (domain != NULL && len > 0) {
		key_for_domain(&key, domain, len);
		n += lru_remove(e->cache, key.bytes, key.len);
	}
	return n;
}
