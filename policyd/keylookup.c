/*
 * keylookup - DNS lookups per cache key, coalesced, and their immutable results
 * (see keylookup.h).
 *
 * One lookup asks every usable list of the key's kind: A for the key's name,
 * then TXT for a blocklist that hit. Answers are untrusted: an A answer counts
 * only inside the list's codes and never when it is an error code. When every
 * query is answered the lookup becomes a key_result, goes into the cache with
 * the TTL of spec section 6, and is handed to every waiter.
 *
 * Memory: a million cached verdicts must fit in well under 128 MiB, and TXT
 * reasons are the bulk of a listed verdict. Lists put the client's own address
 * (or the domain) into their TXT, so the result keeps the TXT with that text cut
 * out, as a pattern interned in a table shared by all results: one copy per list
 * instead of one per address. A lookup owns its query records and the TXT bytes
 * until it completes; a result is one small heap block (or the shared all-clean
 * result), reference-counted, holding one reference per pattern it uses.
 */
#include "keylookup.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "codes.h"
#include "health.h"
#include "log.h"
#include "lru.h"
#include "resolver.h"
#include "stats.h"

#define TABLE_BUCKETS 4096
/* The most of a TXT record kept: a reply shows at most 400 bytes of text. */
#define REASON_MAX 512
/* refs of the shared result that says "not listed anywhere"; never freed. */
#define STATIC_REFS UINT32_MAX

/* The bytes each LISTED list takes in a result: code[4], ttl[4], pattern pointer. */
#define LISTED_BYTES (8 + sizeof(struct pattern *))
#define NO_SPLIT UINT16_MAX
#define PATTERN_BUCKETS 1024

/* A TXT with the key's text cut out at `split` (NO_SPLIT: nothing was cut). */
struct pattern {
	struct pattern *next;
	uint64_t hash;
	uint32_t refs;
	uint16_t len;
	uint16_t split;
	char bytes[];
};

struct key_result {
	uint32_t refs;
	uint16_t list_count; /* 0: the shared all-clean result */
	/* outcome byte per list, then per LISTED list: LISTED_BYTES */
	uint8_t data[];
};

static struct key_result all_clean = { .refs = STATIC_REFS };
static struct pattern *patterns[PATTERN_BUCKETS];
static uint8_t pattern_seed[16];

struct list_state {
	enum list_outcome outcome;
	unsigned pending;
	uint8_t code[4];
	uint32_t ttl;
	char *reason;
	size_t reason_len;
};

struct kl_query {
	struct kl_query *next;
	struct key_lookup *kl;
	struct resolver_query *rq;
	size_t list;
	char name[LOOKUP_NAME_MAX];
};

struct key_lookup {
	struct key_lookup *next; /* bucket chain */
	struct key_table *t;
	uint64_t hash;
	struct key key;
	struct config *cfg;
	unsigned generation;
	struct key_waiter *waiters;
	struct list_state *lists;
	unsigned pending;
	struct kl_query *queries;
};

struct key_table {
	struct lookup_env *env;
	uint8_t seed[16];
	unsigned generation;
	uint64_t coalesced;
	struct key_lookup *buckets[TABLE_BUCKETS];
};

/* pattern_get - the interned pattern for bytes cut at split, one reference more. */
static struct pattern *pattern_get(const char *bytes, size_t len, uint16_t split)
{
	uint8_t buf[REASON_MAX + 2];
	uint64_t hash;
	struct pattern **head, *p;

	memcpy(buf, &split, 2);
	memcpy(buf + 2, bytes, len);
	hash = siphash24(pattern_seed, buf, len + 2);
	head = &patterns[hash % PATTERN_BUCKETS];
	for (p = *head; p != NULL; p = p->next) {
		if (p->hash == hash && p->len == len && p->split == split &&
		    memcmp(p->bytes, bytes, len) == 0) {
			p->refs++;
			return p;
		}
	}
	p = malloc(sizeof(*p) + len);
	if (p == NULL)
		return NULL;
	p->hash = hash;
	p->refs = 1;
	p->len = (uint16_t)len;
	p->split = split;
	memcpy(p->bytes, bytes, len);
	p->next = *head;
	*head = p;
	return p;
}

/* pattern_put - drop a reference; the last one unlinks and frees the pattern. */
static void pattern_put(struct pattern *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	for (struct pattern **q = &patterns[p->hash % PATTERN_BUCKETS]; *q != NULL; q = &(*q)->next) {
		if (*q == p) {
			*q = p->next;
			break;
		}
	}
	free(p);
}

/* listed_pattern - the pattern pointer stored in a LISTED list's bytes. */
static struct pattern *listed_pattern(const uint8_t *p)
{
	struct pattern *pat;

	memcpy(&pat, p + 8, sizeof(pat));
	return pat;
}

/* key_result_ref - one more holder (the shared result is not counted). */
struct key_result *key_result_ref(struct key_result *res)
{
	if (res != NULL && res->refs != STATIC_REFS)
		res->refs++;
	return res;
}

/* key_result_unref - the last holder frees it and its patterns; the cache's free function. */
void key_result_unref(struct key_result *res)
{
	if (res == NULL || res->refs == STATIC_REFS || --res->refs > 0)
		return;
	const uint8_t *p = res->data + res->list_count;
	for (size_t i = 0; i < res->list_count; i++) {
		if (res->data[i] == OUTCOME_LISTED) {
			pattern_put(listed_pattern(p));
			p += LISTED_BYTES;
		}
	}
	free(res);
}

/* key_result_get - decode list i: outcome bytes first, then the listed lists' details. */
void key_result_get(const struct key_result *res, size_t i, struct key_answer *out)
{
	memset(out, 0, sizeof(*out));
	if (res->list_count == 0) {
		out->outcome = OUTCOME_NOT_LISTED;
		return;
	}
	if (i >= res->list_count) {
		out->outcome = OUTCOME_NOT_APPLICABLE;
		return;
	}
	out->outcome = (enum list_outcome)res->data[i];
	if (out->outcome != OUTCOME_LISTED)
		return;
	const uint8_t *p = res->data + res->list_count;
	for (size_t j = 0; j < i; j++)
		if (res->data[j] == OUTCOME_LISTED)
			p += LISTED_BYTES;
	memcpy(out->code, p, 4);
	out->ttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	const struct pattern *pat = listed_pattern(p);
	if (pat == NULL)
		return;
	if (pat->split == NO_SPLIT) {
		out->reason = reason_plain(pat->bytes, pat->len);
		return;
	}
	out->reason.head = pat->bytes;
	out->reason.head_len = pat->split;
	out->reason.tail = pat->bytes + pat->split;
	out->reason.tail_len = pat->len - pat->split;
	out->key_text = true;
}

/* key_text - the address as lists write it, or the domain. */
size_t key_text(const struct key *k, char *buf, size_t size)
{
	if (k->bytes[0] == 'D') {
		size_t n = k->len - 1u < size - 1 ? k->len - 1u : size - 1;
		memcpy(buf, k->bytes + 1, n);
		buf[n] = '\0';
		return n;
	}
	struct addr a = { .family = k->bytes[0] == '4' ? ADDR_V4 : ADDR_V6 };
	memcpy(a.bytes, k->bytes + 1, k->len - 1u);
	return addr_format(&a, buf, size);
}

/* key_result_stale - a list skipped at lookup time that may be asked now makes it stale. */
bool key_result_stale(const struct key_result *res, const struct config *cfg, uint64_t now_ms)
{
	for (size_t i = 0; i < res->list_count && i < cfg->list_count; i++) {
		enum list_outcome o = (enum list_outcome)res->data[i];
		if ((o == OUTCOME_UNHEALTHY || o == OUTCOME_BREAKER) &&
		    health_usable(&cfg->lists[i], now_ms) == OUTCOME_PENDING)
			return true;
	}
	return false;
}

/* key_for_address - '4' or '6' then the address bytes. */
void key_for_address(struct key *k, const struct addr *a)
{
	size_t n = a->family == ADDR_V4 ? 4 : 16;

	k->bytes[0] = a->family == ADDR_V4 ? '4' : '6';
	memcpy(k->bytes + 1, a->bytes, n);
	k->len = (uint8_t)(1 + n);
}

/* key_for_domain - 'D' then the (already cleaned, lower-case) domain. */
void key_for_domain(struct key *k, const char *domain, size_t len)
{
	k->bytes[0] = 'D';
	memcpy(k->bytes + 1, domain, len);
	k->len = (uint8_t)(1 + len);
}

/* make_pattern - the TXT with the key's text cut out (first occurrence), interned. */
static struct pattern *make_pattern(const struct key_lookup *kl, const struct list_state *l)
{
	char text[LRU_KEY_MAX + 1];
	size_t text_len = key_text(&kl->key, text, sizeof(text));
	char cut[REASON_MAX];
	size_t len = l->reason_len;

	if (l->reason == NULL)
		return NULL;
	for (size_t i = 0; text_len > 0 && i + text_len <= len; i++) {
		if (memcmp(l->reason + i, text, text_len) == 0) {
			memcpy(cut, l->reason, i);
			memcpy(cut + i, l->reason + i + text_len, len - i - text_len);
			return pattern_get(cut, len - text_len, (uint16_t)i);
		}
	}
	return pattern_get(l->reason, len, NO_SPLIT);
}

/* build_result - pack the lists' outcomes; all not listed shares one static result. */
static struct key_result *build_result(const struct key_lookup *kl)
{
	size_t n = kl->cfg->list_count, size = n;
	bool clean = true;

	for (size_t i = 0; i < n; i++) {
		enum list_outcome o = kl->lists[i].outcome;
		clean = clean && (o == OUTCOME_NOT_LISTED || o == OUTCOME_NOT_APPLICABLE);
		if (o == OUTCOME_LISTED)
			size += LISTED_BYTES;
	}
	if (clean)
		return &all_clean;
	struct key_result *res = malloc(offsetof(struct key_result, data) + size);
	if (res == NULL)
		return NULL;
	res->refs = 1;
	res->list_count = (uint16_t)n;
	uint8_t *p = res->data + n;
	for (size_t i = 0; i < n; i++) {
		const struct list_state *l = &kl->lists[i];
		res->data[i] = (uint8_t)l->outcome;
		if (l->outcome != OUTCOME_LISTED)
			continue;
		struct pattern *pat = make_pattern(kl, l);
		memcpy(p, l->code, 4);
		p[4] = (uint8_t)(l->ttl >> 24), p[5] = (uint8_t)(l->ttl >> 16);
		p[6] = (uint8_t)(l->ttl >> 8), p[7] = (uint8_t)l->ttl;
		memcpy(p + 8, &pat, sizeof(pat));
		p += LISTED_BYTES;
	}
	return res;
}

/* result_ttl_ms - spec section 6: the smallest TTL that made the verdict, clamped. */
static uint64_t result_ttl_ms(const struct key_lookup *kl)
{
	const struct config *cfg = kl->cfg;
	uint64_t ttl = UINT64_MAX;

	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_state *l = &kl->lists[i];
		uint64_t t = UINT64_MAX;
		if (l->outcome == OUTCOME_LISTED) {
			t = (uint64_t)l->ttl * 1000;
			t = t < cfg->min_ttl_ms ? cfg->min_ttl_ms : t > cfg->max_ttl_ms ? cfg->max_ttl_ms : t;
		} else if (l->outcome == OUTCOME_NOT_LISTED) {
			t = cfg->negative_ttl_ms;
		} else if (l->outcome == OUTCOME_ERROR_CODE || l->outcome == OUTCOME_FAILED) {
			t = cfg->error_ttl_ms;
		}
		if (t < ttl)
			ttl = t;
	}
	return ttl == UINT64_MAX ? cfg->negative_ttl_ms : ttl;
}

/* unlink_lookup - take a lookup out of its bucket. */
static void unlink_lookup(struct key_lookup *kl)
{
	struct key_lookup **p = &kl->t->buckets[kl->hash % TABLE_BUCKETS];

	while (*p != NULL && *p != kl)
		p = &(*p)->next;
	if (*p == kl)
		*p = kl->next;
}

/* complete - every query is answered: settle lists, cache, hand out, free. */
static void complete(struct key_lookup *kl)
{
	struct lookup_env *env = kl->t->env;
	uint64_t now = uv_now(env->loop);

	unlink_lookup(kl);
	for (size_t i = 0; i < kl->cfg->list_count; i++) {
		struct list_state *l = &kl->lists[i];
		if (l->outcome == OUTCOME_PENDING)
			l->outcome = OUTCOME_NOT_LISTED;
		if (l->outcome >= OUTCOME_NOT_LISTED)
			health_record(&kl->cfg->lists[i], l->outcome != OUTCOME_FAILED, now);
	}
	struct key_result *res = build_result(kl);
	if (res != NULL && kl->generation == kl->t->generation && env->cache != NULL)
		/* The cache counts whole seconds: round up, so that an entry lives at
		 * least its TTL (and less than one second more). */
		lru_put(env->cache, kl->key.bytes, kl->key.len, key_result_ref(res),
			(uint32_t)((now + result_ttl_ms(kl) + 999) / 1000));
	while (kl->waiters != NULL) {
		struct key_waiter *w = kl->waiters;
		kl->waiters = w->next;
		if (kl->waiters)
			kl->waiters->prev = NULL;
		w->kl = NULL;
		w->next = w->prev = NULL;
		w->done(w, res);
	}
	key_result_unref(res);
	for (struct kl_query *q = kl->queries, *next; q != NULL; q = next) {
		next = q->next;
		free(q);
	}
	for (size_t i = 0; i < kl->cfg->list_count; i++)
		free(kl->lists[i].reason);
	free(kl->lists);
	config_unref(kl->cfg);
	free(kl);
}

/* query_done - one query answered; the last one completes the lookup. */
static void query_done(struct kl_query *q)
{
	struct key_lookup *kl = q->kl;

	kl->lists[q->list].pending--;
	if (--kl->pending == 0)
		complete(kl);
}

/* on_txt - the reason of a list that hit: kept as bytes, cleaned only when shown. */
static void on_txt(void *arg, enum resolver_status status, const char *txt, size_t len,
		   uint32_t ttl)
{
	struct kl_query *q = arg;
	struct list_state *l = &q->kl->lists[q->list];

	(void)ttl;
	q->rq = NULL;
	if (status == RESOLVER_OK && l->reason == NULL && len > 0) {
		size_t keep = len > REASON_MAX ? REASON_MAX : len;
		if ((l->reason = malloc(keep)) != NULL) {
			memcpy(l->reason, txt, keep);
			l->reason_len = keep;
		}
	}
	query_done(q);
}

/* take_answers - a listing inside codes, an error code, or neither. */
static void take_answers(struct kl_query *q, const uint8_t (*addrs)[4], size_t count, uint32_t ttl)
{
	struct key_lookup *kl = q->kl;
	struct list_config *lc = &kl->cfg->lists[q->list];
	struct list_state *l = &kl->lists[q->list];

	for (size_t i = 0; i < count; i++) {
		if (codes_classify(addrs[i]) != CODES_ANSWER_LISTING) {
			stats.list_errors++;
			health_error_code(lc, addrs[i], uv_now(kl->t->env->loop));
			l->outcome = OUTCOME_ERROR_CODE; /* the whole answer is untrustworthy */
			return;
		}
	}
	for (size_t i = 0; i < count; i++) {
		if (codes_match(&lc->codes, addrs[i])) {
			memcpy(l->code, addrs[i], 4);
			l->ttl = ttl;
			l->outcome = OUTCOME_LISTED;
			return;
		}
	}
}

/* on_a - the A answer of one list. */
static void on_a(void *arg, enum resolver_status status, const uint8_t (*addrs)[4], size_t count,
		 uint32_t ttl)
{
	struct kl_query *q = arg;
	struct key_lookup *kl = q->kl;
	struct list_state *l = &kl->lists[q->list];

	q->rq = NULL;
	if (status == RESOLVER_OK) {
		take_answers(q, addrs, count, ttl);
		/* A blocklist that hit: its TXT record says why, for the reply. */
		if (l->outcome == OUTCOME_LISTED && kl->cfg->lists[q->list].weight > 0) {
			q->rq = resolver_query_txt(kl->t->env->resolver, q->name, on_txt, q);
			if (q->rq != NULL) {
				stats.dns_queries++;
				return;
			}
		}
	} else if (status == RESOLVER_TEMPFAIL || status == RESOLVER_ERROR) {
		stats.dns_failures++;
		l->outcome = OUTCOME_FAILED;
	}
	query_done(q);
}

/* submit - the A query of list i. */
static void submit(struct key_lookup *kl, size_t i, const char *prefix)
{
	struct kl_query *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		kl->lists[i].outcome = OUTCOME_FAILED;
		return;
	}
	q->kl = kl;
	q->list = i;
	snprintf(q->name, sizeof(q->name), "%s.%s", prefix, kl->cfg->lists[i].name);
	q->next = kl->queries;
	kl->queries = q;
	q->rq = resolver_query_a(kl->t->env->resolver, q->name, on_a, q);
	if (q->rq == NULL) {
		kl->lists[i].outcome = OUTCOME_FAILED;
		return;
	}
	stats.dns_queries++;
	kl->lists[i].pending++;
	kl->pending++;
}

/* start_queries - one A query per usable list of the key's kind. */
static void start_queries(struct key_lookup *kl)
{
	const struct config *cfg = kl->cfg;
	uint64_t now = uv_now(kl->t->env->loop);
	char prefix[LOOKUP_NAME_MAX];
	bool is_domain = kl->key.bytes[0] == 'D';
	struct addr a = { .family = kl->key.bytes[0] == '4' ? ADDR_V4 : ADDR_V6 };

	if (is_domain) {
		memcpy(prefix, kl->key.bytes + 1, kl->key.len - 1u);
		prefix[kl->key.len - 1] = '\0';
	} else {
		memcpy(a.bytes, kl->key.bytes + 1, kl->key.len - 1u);
		addr_reverse_name(&a, prefix, sizeof(prefix));
	}
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_config *l = &cfg->lists[i];
		struct list_state *st = &kl->lists[i];
		st->outcome = OUTCOME_NOT_APPLICABLE;
		if (l->kind == LIST_LOCAL || (l->kind == LIST_RHSBL) != is_domain ||
		    (!is_domain && a.family == ADDR_V6 && !l->ipv6))
			continue;
		if (is_domain && strlen(prefix) + 1 + strlen(l->name) > 253)
			continue;
		st->outcome = health_usable(l, now);
		if (st->outcome == OUTCOME_PENDING)
			submit(kl, i, prefix);
	}
}

/*
 * find - the lookup in flight for a key, if any. Only one of the current
 * generation counts: a lookup begun before a reload that changed the lists
 * holds results in the old lists' order.
 */
static struct key_lookup *find(struct key_table *t, const struct key *key, uint64_t hash)
{
	for (struct key_lookup *kl = t->buckets[hash % TABLE_BUCKETS]; kl != NULL; kl = kl->next)
		if (kl->hash == hash && kl->generation == t->generation &&
		    kl->key.len == key->len && memcmp(kl->key.bytes, key->bytes, key->len) == 0)
			return kl;
	return NULL;
}

/* attach - add a waiter to a lookup's list. */
static void attach(struct key_lookup *kl, struct key_waiter *w)
{
	w->kl = kl;
	w->prev = NULL;
	w->next = kl->waiters;
	if (kl->waiters)
		kl->waiters->prev = w;
	kl->waiters = w;
}

/* key_wait - join or start the lookup of a key. */
bool key_wait(struct key_table *t, struct config *cfg, const struct key *key,
	      struct key_waiter *w)
{
	uint64_t hash = siphash24(t->seed, key->bytes, key->len);
	struct key_lookup *kl = find(t, key, hash);

	if (kl != NULL) {
		t->coalesced++;
		attach(kl, w);
		return true;
	}
	kl = calloc(1, sizeof(*kl));
	if (kl == NULL || (kl->lists = calloc(cfg->list_count, sizeof(*kl->lists))) == NULL) {
		free(kl);
		return false;
	}
	kl->t = t;
	kl->hash = hash;
	kl->key = *key;
	kl->cfg = config_ref(cfg);
	kl->generation = t->generation;
	start_queries(kl);
	if (kl->pending == 0) {
		free(kl->lists);
		config_unref(kl->cfg);
		free(kl);
		return false;
	}
	kl->next = t->buckets[hash % TABLE_BUCKETS];
	t->buckets[hash % TABLE_BUCKETS] = kl;
	attach(kl, w);
	return true;
}

/* key_unwait - leave the waiters of a lookup that goes on without us. */
void key_unwait(struct key_waiter *w)
{
	struct key_lookup *kl = w->kl;

	if (kl == NULL)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		kl->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->kl = NULL;
	w->next = w->prev = NULL;
}

/* key_table_new - an empty table with a secret hash seed. */
struct key_table *key_table_new(struct lookup_env *env)
{
	struct key_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->env = env;
	if (getrandom(t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed))
		log_warn("getrandom failed; the in-flight table uses a fixed hash seed");
	memcpy(pattern_seed, t->seed, sizeof(pattern_seed));
	return t;
}

/* key_table_set_generation - results of older lookups no longer go into the cache. */
void key_table_set_generation(struct key_table *t)
{
	t->generation++;
}

/* key_table_coalesced - requests that joined a lookup in flight. */
uint64_t key_table_coalesced(const struct key_table *t)
{
	return t->coalesced;
}

/* key_table_free - by now the resolver has failed every query, so the table is empty. */
void key_table_free(struct key_table *t)
{
	free(t);
}
