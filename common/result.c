/*
 * result - packed per-key results and the interned reasons table (see result.h).
 *
 * Layout of a result block: refs, the number of lists n, one outcome byte per
 * list, then for each LISTED list in order: the last three bytes of its code (the
 * first is always 127: other answers are never listings), ttl[4] (big-endian),
 * mask[2], and a pointer to its pattern (or NULL). A listed verdict of one list
 * is 24 bytes: the smallest block malloc has, which is what keeps a million
 * cached verdicts small. A pattern is a TXT with the
 * key's text cut out at `split` (NO_SPLIT: nothing was cut); it knows its table,
 * so that the last result to let go can unlink it.
 *
 * The table is a chained hash over (split, bytes) with a secret SipHash seed,
 * doubled whenever it holds more than two patterns per bucket, so that lists
 * that put something unique into every TXT (a timestamp, a ticket number) cannot
 * turn it into long chains.
 */
#include "result.h"
#include "hot.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "keys.h"
#include "siphash.h"

#define NO_SPLIT UINT16_MAX
#define INITIAL_BUCKETS 64
/* refs of the shared all-clean result: never counted, never freed. */
#define STATIC_REFS UINT32_MAX
/* The bytes each LISTED list takes in a block. */
#define LISTED_BYTES (3 + 4 + 2 + sizeof(struct pattern *))

struct pattern {
	LIST_ENTRY(pattern) link; /* its bucket's chain */
	struct reasons *owner;
	uint64_t hash;
	uint32_t refs;
	uint16_t len;
	uint16_t split;
	char bytes[];
};

LIST_HEAD(chain, pattern);

struct reasons {
	uint8_t seed[16];
	size_t count;
	size_t buckets;
	struct chain *bucket; /* zeroed memory is an array of empty chains */
};

struct result {
	uint32_t refs;
	uint16_t list_count; /* 0: the shared all-clean result */
	uint8_t data[];
};

static struct result all_clean = { .refs = STATIC_REFS };

/* outcome_name - the words --check and the logs use. */
const char *outcome_name(enum outcome o)
{
	static const char *const names[] = {
		"not applicable",
		"disabled (health check)",
		"skipped (circuit breaker)",
		"pending",
		"not listed",
		"listed",
		"error answer",
		"failed",
		"timed out",
	};
	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

/* reason_plain - head only. */
struct reason reason_plain(const char *text, size_t len)
{
	return (struct reason){ .head = text, .head_len = text ? len : 0 };
}

/* reason_join - head, middle and tail one after the other, as far as they fit. */
HOT size_t reason_join(const struct reason *r, char *buf, size_t size)
{
	const char *parts[3] = { r->head, r->middle, r->tail };
	size_t lens[3] = { r->head_len, r->middle_len, r->tail_len };
	size_t used = 0;

	for (int i = 0; i < 3; i++) {
		size_t n = lens[i] < size - used ? lens[i] : size - used;
		if (n > 0)
			memcpy(buf + used, parts[i], n);
		used += n;
	}
	return used;
}

/* reasons_new - a small table; it grows as patterns come. */
struct reasons *reasons_new(const uint8_t seed[16])
{
	struct reasons *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->bucket = calloc(INITIAL_BUCKETS, sizeof(*t->bucket));
	if (t->bucket == NULL) {
		free(t);
		return NULL;
	}
	memcpy(t->seed, seed, sizeof(t->seed));
	t->buckets = INITIAL_BUCKETS;
	return t;
}

/* reasons_free - patterns still linked (a caller's leak) are freed with the table. */
void reasons_free(struct reasons *t)
{
	if (t == NULL)
		return;
	for (size_t b = 0; b < t->buckets; b++) {
		struct pattern *p;
		while ((p = LIST_FIRST(&t->bucket[b])) != NULL) {
			LIST_REMOVE(p, link);
			free(p);
		}
	}
	free(t->bucket);
	free(t);
}

size_t reasons_count(const struct reasons *t)
{
	return t->count;
}

size_t reasons_buckets(const struct reasons *t)
{
	return t->buckets;
}

/* grow - twice the buckets; on failure the table keeps working, only with longer chains. */
static void grow(struct reasons *t)
{
	size_t n = t->buckets * 2;
	struct chain *bucket = calloc(n, sizeof(*bucket));

	if (bucket == NULL)
		return;
	for (size_t b = 0; b < t->buckets; b++) {
		struct pattern *p;
		while ((p = LIST_FIRST(&t->bucket[b])) != NULL) {
			LIST_REMOVE(p, link);
			LIST_INSERT_HEAD(&bucket[p->hash % n], p, link);
		}
	}
	free(t->bucket);
	t->bucket = bucket;
	t->buckets = n;
}

/* pattern_get - the interned pattern for bytes cut at split, one reference more. */
static struct pattern *pattern_get(struct reasons *t, const char *bytes, size_t len, uint16_t split)
{
	uint8_t buf[RESULT_REASON_MAX + 2];
	uint64_t hash;
	struct pattern *p;

	memcpy(buf, &split, 2);
	memcpy(buf + 2, bytes, len);
	hash = siphash13(t->seed, buf, len + 2);
	LIST_FOREACH(p, &t->bucket[hash % t->buckets], link) {
		if (p->hash == hash && p->len == len && p->split == split &&
		    memcmp(p->bytes, bytes, len) == 0) {
			p->refs++;
			return p;
		}
	}
	p = malloc(sizeof(*p) + len);
	if (p == NULL)
		return NULL;
	p->owner = t;
	p->hash = hash;
	p->refs = 1;
	p->len = (uint16_t)len;
	p->split = split;
	memcpy(p->bytes, bytes, len);
	if (t->count + 1 > t->buckets * 2)
		grow(t);
	LIST_INSERT_HEAD(&t->bucket[hash % t->buckets], p, link);
	t->count++;
	return p;
}

/* pattern_put - drop a reference; the last one unlinks and frees the pattern. */
static void pattern_put(struct pattern *p)
{
	struct reasons *t;

	if (p == NULL || --p->refs > 0)
		return;
	t = p->owner;
	LIST_REMOVE(p, link);
	t->count--;
	free(p);
}

/* make_pattern - the TXT with the key's text cut out (first occurrence), interned. */
static struct pattern *make_pattern(struct reasons *t, const struct key *key,
				    const struct list_answer *a)
{
	char text[DOMAIN_SIZE];
	size_t text_len = key_text(key, text, sizeof(text));
	char cut[RESULT_REASON_MAX];
	size_t len = a->txt_len > RESULT_REASON_MAX ? RESULT_REASON_MAX : a->txt_len;

	if (a->txt == NULL || len == 0)
		return NULL;
	for (size_t i = 0; text_len > 0 && i + text_len <= len; i++) {
		if (memcmp(a->txt + i, text, text_len) == 0) {
			memcpy(cut, a->txt, i);
			memcpy(cut + i, a->txt + i + text_len, len - i - text_len);
			return pattern_get(t, cut, len - text_len, (uint16_t)i);
		}
	}
	return pattern_get(t, a->txt, len, NO_SPLIT);
}

/* listed_pattern - the pattern pointer stored in a LISTED list's bytes. */
static struct pattern *listed_pattern(const uint8_t *p)
{
	struct pattern *pat;

	memcpy(&pat, p + 9, sizeof(pat));
	return pat;
}

/* result_build - outcome bytes, then the details of the listed lists. */
struct result *result_build(struct reasons *t, const struct key *key,
			    const struct list_answer *answers, size_t n)
{
	size_t size = n;
	bool clean = true;

	if (n > UINT16_MAX)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		enum outcome o = answers[i].outcome;
		clean = clean && (o == OUTCOME_NOT_LISTED || o == OUTCOME_NOT_APPLICABLE);
		if (o == OUTCOME_LISTED)
			size += LISTED_BYTES;
	}
	if (clean)
		return &all_clean;
	struct result *res = malloc(offsetof(struct result, data) + size);
	if (res == NULL)
		return NULL;
	res->refs = 1;
	res->list_count = (uint16_t)n;
	uint8_t *p = res->data + n;
	for (size_t i = 0; i < n; i++) {
		const struct list_answer *a = &answers[i];
		res->data[i] = (uint8_t)a->outcome;
		if (a->outcome != OUTCOME_LISTED)
			continue;
		struct pattern *pat = make_pattern(t, key, a);
		memcpy(p, a->code + 1, 3);
		p[3] = (uint8_t)(a->ttl >> 24), p[4] = (uint8_t)(a->ttl >> 16);
		p[5] = (uint8_t)(a->ttl >> 8), p[6] = (uint8_t)a->ttl;
		p[7] = (uint8_t)(a->mask >> 8), p[8] = (uint8_t)a->mask;
		memcpy(p + 9, &pat, sizeof(pat));
		p += LISTED_BYTES;
	}
	return res;
}

/* result_outcome - the outcome byte. */
HOT enum outcome result_outcome(const struct result *res, size_t i)
{
	if (res->list_count == 0)
		return OUTCOME_NOT_LISTED;
	if (i >= res->list_count)
		return OUTCOME_NOT_APPLICABLE;
	return (enum outcome)res->data[i];
}

/* result_get - decode list i: skip the details of the listed lists before it. */
HOT void result_get(const struct result *res, size_t i, struct answer *out)
{
	memset(out, 0, sizeof(*out));
	out->outcome = result_outcome(res, i);
	if (out->outcome != OUTCOME_LISTED)
		return;
	const uint8_t *p = res->data + res->list_count;
	for (size_t j = 0; j < i; j++)
		if (res->data[j] == OUTCOME_LISTED)
			p += LISTED_BYTES;
	out->code[0] = 127;
	memcpy(out->code + 1, p, 3);
	out->ttl = (uint32_t)p[3] << 24 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
	out->mask = (uint16_t)(p[7] << 8 | p[8]);
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

/* result_ref - one more holder (the shared result is not counted). */
struct result *result_ref(struct result *res)
{
	if (res != NULL && res->refs != STATIC_REFS)
		res->refs++;
	return res;
}

/* result_unref - the last holder frees the block and drops its patterns. */
void result_unref(struct result *res)
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
