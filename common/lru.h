/*
 * lru - a bounded map from short byte keys to values, with least-recently-used
 * eviction and a per-entry expiry time: the verdict cache.
 *
 * Lookup, insert and eviction are O(1). Capacity is fixed at creation; memory is
 * bounded by it (entries are preallocated, keys longer than the inline space get
 * one heap block). The hash is SipHash with a secret seed chosen at start, so
 * that clients who choose addresses or domains cannot degrade the table.
 * Memory: the map owns its keys (copied) and its values (given to lru_put); a
 * value leaves through free_value when it is replaced, evicted, expired, removed, cleared
 * or the map is freed. lru_get never allocates.
 */
#ifndef POLICYD_LRU_H
#define POLICYD_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest key: a domain name (253) plus a kind byte, with room. */
#define LRU_KEY_MAX 255

struct lru;

struct lru_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t inserts;
	uint64_t evictions; /* dropped because the map was full */
	uint64_t expiries;  /* dropped because they had expired */
};

typedef void lru_free_fn(void *value);

/* lru_new - a map of at most capacity entries (0: a map that keeps nothing). */
struct lru *lru_new(size_t capacity, const uint8_t seed[16], lru_free_fn *free_value);
void lru_free(struct lru *m);

/*
 * lru_get - the value for key if present and not expired at `now` (expires > now),
 * made most recently used; NULL otherwise. An expired entry is dropped.
 */
void *lru_get(struct lru *m, const void *key, size_t key_len, uint32_t now);

/* A key as lru_get_all takes it. */
struct lru_key {
	const void *bytes;
	size_t len;
};

/* The most keys whose loads lru_get_all requests together. */
#define LRU_BATCH_MAX 8

/*
 * lru_get_all - lru_get of keys[0..n-1] in turn, into values[] (LRU_BATCH_MAX at a time):
 * the same values, order, drops and counters as n calls of lru_get, a repeated key
 * included. The memory of the n lookups is requested together, so that their cache
 * and TLB misses overlap instead of waiting one after another: the hit path's keys
 * are independent, and each lookup on its own is a chain of dependent loads.
 */
void lru_get_all(struct lru *m, const struct lru_key *keys, size_t n, uint32_t now, void **values);

/*
 * lru_peek - the value for key if present and not expired at `now`, with its expiry
 * time; nothing changes (order, expired entries, counters). For readers that must
 * not disturb the cache, such as the help page.
 */
void *lru_peek(const struct lru *m, const void *key, size_t key_len, uint32_t now,
	       uint32_t *expires);

/*
 * lru_put - insert or replace key (at most LRU_KEY_MAX bytes) with value until
 * `expires`, evicting the least recently used entry when full. The map owns the
 * value from now on, even when it returns false (out of memory, key too long,
 * capacity 0): then it has already been freed.
 */
bool lru_put(struct lru *m, const void *key, size_t key_len, void *value, uint32_t expires);

/*
 * lru_remove - drop key's entry, live or expired, freeing its value; false when the map
 * had no entry for key. Counted as neither an eviction nor an expiry. For the help page's
 * "check again": a verdict forgotten before its time.
 */
bool lru_remove(struct lru *m, const void *key, size_t key_len);

/* lru_clear - drop every entry (a reload that changed the lists). */
void lru_clear(struct lru *m);

typedef void lru_each_fn(void *arg, const void *key, size_t key_len, void *value, uint32_t expires);

/*
 * lru_each - fn for every entry not expired at `now`, from the least to the most
 * recently used (so that putting them back in that order restores the recency);
 * nothing changes. fn must not change the map. For saving a map to a file.
 */
void lru_each(const struct lru *m, uint32_t now, lru_each_fn *fn, void *arg);

size_t lru_count(const struct lru *m);
size_t lru_capacity(const struct lru *m);
/* lru_buckets - the size of the bucket array: a power of two, at least the count
 * while it can grow, at most the power of two >= capacity. */
size_t lru_buckets(const struct lru *m);
const struct lru_stats *lru_get_stats(const struct lru *m);

#endif
