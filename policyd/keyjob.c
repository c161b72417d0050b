/*
 * keyjob - coalesced DNS lookups per cache key (see keyjob.h).
 *
 * When every query of a job has ended, its answers are packed into a result
 * (with the TTL rule of policyd.ini(5): the smallest TTL that made the verdict,
 * clamped to [min_ttl, max_ttl]; negative_ttl when nothing was listed; error_ttl
 * when a list failed), put into the cache, and handed to every waiter. Memory: a
 * job owns its per-list states, its query records (name allocated to size) and
 * the TXT bytes until it completes; the table is a hash of jobs by key with a
 * secret seed, so that clients cannot choose keys that collide.
 */
#include "keyjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "log.h"
#include "lru.h"
#include "probe.h"
#include "resolver.h"
#include "siphash.h"
#include "stats.h"

#define TABLE_BUCKETS 4096

/* What one list has said so far for this key. */
struct list_state {
	enum outcome outcome;
	uint8_t code[4];
	uint16_t mask;
	uint32_t ttl;
	char *txt;
	size_t txt_len;
	struct list_health *health;
};

struct query {
	SLIST_ENTRY(query) link; /* on its job's queries */
	struct keyjob *job;
	struct resolver_query *rq;
	size_t list;
	char name[]; /* the query name, kept for the TXT query after an A hit */
};

struct keyjob {
	LIST_ENTRY(keyjob) link; /* on its bucket */
	struct keyjob_table *t;
	uint64_t hash;
	struct key key;
	struct config *cfg;
	unsigned generation;
	LIST_HEAD(, keyjob_waiter) waiters;
	struct list_state *lists;
	unsigned pending;
	SLIST_HEAD(, query) queries; /* freed with the job */
};

struct keyjob_table {
	uv_loop_t *loop;
	struct resolver *resolver;
	struct reasons *reasons;
	struct lru *cache;
	struct probe *probe; /* told of listings (the tripwire) */
	struct breaker_params breaker;
	uint8_t seed[16];
	unsigned generation;
	size_t in_flight;
	uint64_t coalesced;
	LIST_HEAD(keyjob_bucket, keyjob) buckets[TABLE_BUCKETS]; /* all-zero is empty */
};

/* clamp - a TTL in ms within [lo, hi]. */
static uint64_t clamp(uint64_t t, uint64_t lo, uint64_t hi)
{
	return t < lo ? lo : t > hi ? hi : t;
}

/* result_ttl_ms - the smallest TTL of what made the verdict, clamped. */
static uint64_t result_ttl_ms(const struct keyjob *job)
{
	const struct config *cfg = job->cfg;
	uint64_t ttl = UINT64_MAX;

	for (size_t i = 0; i < cfg->rules.list_count; i++) {
		const struct list_state *l = &job->lists[i];
		uint64_t t = UINT64_MAX;
		if (l->outcome == OUTCOME_LISTED)
			t = clamp((uint64_t)l->ttl * 1000, cfg->min_ttl_ms, cfg->max_ttl_ms);
		else if (l->outcome == OUTCOME_NOT_LISTED)
			t = cfg->negative_ttl_ms;
		else if (l->outcome == OUTCOME_ERROR_CODE || l->outcome == OUTCOME_FAILED)
			t = cfg->error_ttl_ms;
		if (t < ttl)
			ttl = t;
	}
	return ttl == UINT64_MAX ? cfg->negative_ttl_ms : ttl;
}

/* build - pack the lists' answers into a result. */
static struct result *build(struct keyjob *job)
{
	size_t n = job->cfg->rules.list_count;
	struct list_answer *answers = calloc(n ? n : 1, sizeof(*answers));
	struct result *res;

	if (answers == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct list_state *l = &job->lists[i];
		answers[i] = (struct list_answer){
			.outcome = l->outcome,
			.mask = l->mask,
			.ttl = l->ttl,
			.txt = l->txt,
			.txt_len = l->txt_len,
		};
		memcpy(answers[i].code, l->code, 4);
	}
	res = result_build(job->t->reasons, &job->key, answers, n);
	free(answers);
	return res;
}

/* free_job - the job's memory, its references, and its place in the count. */
static void free_job(struct keyjob *job)
{
	struct query *q;

	while ((q = SLIST_FIRST(&job->queries)) != NULL) {
		SLIST_REMOVE_HEAD(&job->queries, link);
		free(q);
	}
	for (size_t i = 0; i < job->cfg->rules.list_count; i++) {
		free(job->lists[i].txt);
		health_unref(job->lists[i].health);
	}
	free(job->lists);
	config_unref(job->cfg);
	job->t->in_flight--;
	free(job);
}

/* complete - every query has ended: teach the breakers, cache, hand out, free. */
static void complete(struct keyjob *job)
{
	struct keyjob_table *t = job->t;
	uint64_t now = uv_now(t->loop);
	struct keyjob_waiter *w;

	LIST_REMOVE(job, link);
	for (size_t i = 0; i < job->cfg->rules.list_count; i++) {
		struct list_state *l = &job->lists[i];
		if (l->outcome == OUTCOME_PENDING)
			l->outcome = OUTCOME_NOT_LISTED;
		if (l->outcome >= OUTCOME_NOT_LISTED && l->health != NULL)
			health_record(l->health, &t->breaker, l->outcome != OUTCOME_FAILED, now);
		if (l->outcome == OUTCOME_LISTED && l->health != NULL) {
			health_count_listed(l->health);
			if (t->probe != NULL)
				probe_tripwire(t->probe, l->health);
		}
	}
	struct result *res = build(job);
	if (res != NULL && job->generation == t->generation && t->cache != NULL)
		/* The cache counts whole seconds: round up, so that an entry lives at
		 * least its TTL (and less than one second more). */
		lru_put(t->cache, job->key.bytes, job->key.len, result_ref(res),
			(uint32_t)((now + result_ttl_ms(job) + 999) / 1000));
	/* Pop the head each time: a waiter's done may unwait others of this job. */
	while ((w = LIST_FIRST(&job->waiters)) != NULL) {
		LIST_REMOVE(w, link);
		w->job = NULL;
		w->done(w, res);
	}
	result_unref(res);
	free_job(job);
}

/* query_done - one query has ended; the last one completes the job. */
static void query_done(struct query *q)
{
	if (--q->job->pending == 0)
		complete(q->job);
}

/* on_txt - the reason of a list that hit: kept as bytes, cleaned only when shown. */
static void on_txt(void *arg, enum resolver_status status, const char *txt, size_t len,
		   uint32_t ttl)
{
	struct query *q = arg;
	struct list_state *l = &q->job->lists[q->list];

	(void)ttl;
	q->rq = NULL;
	if (status == RESOLVER_OK && l->txt == NULL && len > 0) {
		size_t keep = len > RESULT_REASON_MAX ? RESULT_REASON_MAX : len;
		if ((l->txt = malloc(keep)) != NULL) {
			memcpy(l->txt, txt, keep);
			l->txt_len = keep;
		}
	}
	query_done(q);
}

/* take_answers - a listing inside codes, an error code, a refusal, or neither (not listed). */
static void take_answers(struct query *q, const uint8_t (*addrs)[4], size_t count, uint32_t ttl)
{
	struct keyjob *job = q->job;
	const struct list_config *lc = &job->cfg->rules.lists[q->list];
	struct list_state *l = &job->lists[q->list];
	const uint8_t *error = NULL;
	uint32_t mask = 0;

	switch (codes_take(lc->codes, addrs, count, l->code, &mask, &error)) {
	case CODES_ERROR:
		stats.list_errors++;
		if (l->health)
			health_error_code(l->health, error, uv_now(job->t->loop));
		l->outcome = OUTCOME_ERROR_CODE;
		break;
	case CODES_REFUSED: /* counted neither way; the list waits for its health check */
		stats.list_errors++;
		if (l->health)
			health_refused(l->health, error);
		l->outcome = OUTCOME_ERROR_CODE;
		break;
	case CODES_LISTED:
		l->mask = (uint16_t)mask;
		l->ttl = ttl;
		l->outcome = OUTCOME_LISTED;
		break;
	case CODES_NOT_LISTED: break;
	}
}

/* on_a - the A answer of one list; a blocklist that hit is asked for its TXT. */
static void on_a(void *arg, enum resolver_status status, const uint8_t (*addrs)[4], size_t count,
		 uint32_t ttl)
{
	struct query *q = arg;
	struct keyjob *job = q->job;
	struct list_state *l = &job->lists[q->list];
	const struct list_config *lc = &job->cfg->rules.lists[q->list];

	q->rq = NULL;
	if (status == RESOLVER_OK) {
		take_answers(q, addrs, count, ttl);
		if (l->outcome == OUTCOME_LISTED &&
		    codes_weight(lc->codes, l->mask, lc->weight) > 0) {
			char shown[KEYS_QUERY_MAX];
			key_query(&job->key, lc->hash, lc->zone_shown, shown, sizeof(shown));
			q->rq = resolver_query_txt(job->t->resolver, q->name, shown, on_txt, q);
			if (q->rq != NULL) {
				stats.dns_queries++;
				if (l->health)
					health_count_query(l->health);
				return;
			}
		}
	} else if (status == RESOLVER_TEMPFAIL || status == RESOLVER_ERROR) {
		stats.dns_failures++;
		l->outcome = OUTCOME_FAILED;
	}
	query_done(q);
}

/*
 * keyjob_submit_a - the A query of list i for the job's key, in its zone (a keyed
 * zone's key is in the query name only; debug lines show "$key" instead).
 */
static void keyjob_submit_a(struct keyjob *job, size_t i)
{
	const struct list_config *lc = &job->cfg->rules.lists[i];
	char name[KEYS_QUERY_MAX], shown[KEYS_QUERY_MAX];
	size_t len = key_query(&job->key, lc->hash, lc->zone, name, sizeof(name));
	struct query *q;

	/* A domain and a zone longer than a DNS name together cannot be asked. */
	if (len == 0 || len > 253) {
		job->lists[i].outcome = OUTCOME_NOT_APPLICABLE;
		return;
	}
	q = calloc(1, sizeof(*q) + len + 1);
	if (q == NULL) {
		job->lists[i].outcome = OUTCOME_FAILED;
		return;
	}
	q->job = job;
	q->list = i;
	memcpy(q->name, name, len + 1);
	SLIST_INSERT_HEAD(&job->queries, q, link);
	key_query(&job->key, lc->hash, lc->zone_shown, shown, sizeof(shown));
	q->rq = resolver_query_a(job->t->resolver, q->name, shown, on_a, q);
	if (q->rq == NULL) {
		job->lists[i].outcome = OUTCOME_FAILED;
		return;
	}
	stats.dns_queries++;
	if (job->lists[i].health)
		health_count_query(job->lists[i].health);
	job->lists[i].outcome = OUTCOME_PENDING;
	job->pending++;
}

/* start_queries - one A query per askable list of the key's kind. */
static void start_queries(struct keyjob *job, struct list_health *const *health,
			  const struct decision_lists *usable)
{
	const struct rules *r = &job->cfg->rules;
	enum key_family family = key_family(&job->key);
	bool v6 = family == KEY_V6;

	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		struct list_state *st = &job->lists[i];
		st->outcome = OUTCOME_NOT_APPLICABLE;
		if (!decision_kind_reads(l->kind, family) || health[i] == NULL ||
		    (v6 && !health_asks_v6(health[i])))
			continue;
		st->health = health_ref(health[i]);
		st->outcome = decision_list_outcome(usable, i);
		if (st->outcome == OUTCOME_PENDING)
			keyjob_submit_a(job, i);
	}
}

/*
 * find - the job in flight for a key, if any. Only one of the current generation
 * counts: a job begun before a reload that changed the lists holds answers in
 * the old lists' order.
 */
static struct keyjob *find(struct keyjob_table *t, const struct key *key, uint64_t hash)
{
	struct keyjob *job;

	LIST_FOREACH(job, &t->buckets[hash % TABLE_BUCKETS], link)
		if (job->hash == hash && job->generation == t->generation &&
		    job->key.len == key->len && memcmp(job->key.bytes, key->bytes, key->len) == 0)
			return job;
	return NULL;
}

/* attach - add a waiter to a job. */
static void attach(struct keyjob *job, struct keyjob_waiter *w)
{
	w->job = job;
	LIST_INSERT_HEAD(&job->waiters, w, link);
}

/* keyjob_wait - join or start the job of a key. */
bool keyjob_wait(struct keyjob_table *t, struct config *cfg, struct list_health *const *health,
		 const struct decision_lists *usable, const struct key *key,
		 struct keyjob_waiter *w)
{
	uint64_t hash = siphash13(t->seed, key->bytes, key->len);
	struct keyjob *job = find(t, key, hash);

	if (job != NULL) {
		t->coalesced++;
		attach(job, w);
		return true;
	}
	if (t->in_flight >= KEYJOB_MAX)
		return false;
	job = calloc(1, sizeof(*job));
	if (job == NULL || (job->lists = calloc(cfg->rules.list_count ? cfg->rules.list_count : 1,
						sizeof(*job->lists))) == NULL) {
		free(job);
		return false;
	}
	LIST_INIT(&job->waiters);
	SLIST_INIT(&job->queries);
	job->t = t;
	job->hash = hash;
	job->key = *key;
	job->cfg = config_ref(cfg);
	job->generation = t->generation;
	t->in_flight++;
	start_queries(job, health, usable);
	if (job->pending == 0) {
		free_job(job);
		return false;
	}
	LIST_INSERT_HEAD(&t->buckets[hash % TABLE_BUCKETS], job, link);
	attach(job, w);
	return true;
}

/* keyjob_unwait - leave the waiters of a job that goes on without us. */
void keyjob_unwait(struct keyjob_waiter *w)
{
	if (w->job == NULL)
		return;
	LIST_REMOVE(w, link);
	w->job = NULL;
}

/* keyjob_table_new - an empty table. */
struct keyjob_table *keyjob_table_new(uv_loop_t *loop, struct resolver *resolver,
				      struct reasons *reasons, const uint8_t seed[16])
{
	struct keyjob_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->loop = loop;
	t->resolver = resolver;
	t->reasons = reasons;
	memcpy(t->seed, seed, sizeof(t->seed));
	return t;
}

void keyjob_table_set_cache(struct keyjob_table *t, struct lru *cache)
{
	t->cache = cache;
}

void keyjob_table_set_breaker(struct keyjob_table *t, const struct breaker_params *p)
{
	t->breaker = *p;
}

void keyjob_table_set_probe(struct keyjob_table *t, struct probe *p)
{
	t->probe = p;
}

/* keyjob_table_new_generation - results of older jobs no longer go into the cache. */
void keyjob_table_new_generation(struct keyjob_table *t)
{
	t->generation++;
}

size_t keyjob_in_flight(const struct keyjob_table *t)
{
	return t->in_flight;
}

uint64_t keyjob_coalesced(const struct keyjob_table *t)
{
	return t->coalesced;
}

/* keyjob_table_free - by now the resolver has failed every query, so the table is empty. */
void keyjob_table_free(struct keyjob_table *t)
{
	if (t != NULL && t->in_flight > 0)
		log_error("keyjob: %zu lookups still in flight at exit", t->in_flight);
	free(t);
}
