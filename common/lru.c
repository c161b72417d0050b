/*
 * lru - the verdict cache: a bounded hash map with least-recently-used eviction and
 * per-entry expiry (see lru.h).
 *
 * Layout: one calloc'd array of capacity + 1 fixed-size entries (48 bytes on 64-bit).
 * Entry 0 is the sentinel of a circular doubly-linked recency list; entries 1..capacity
 * hold data, so index 0 also means "none" in bucket chains and in the free list. Entries
 * are taken in index order, so the entry array becomes resident only as the cache fills.
 *
 * The bucket array (uint32 chain heads, 0 = empty) grows with the count, not with the
 * capacity: it starts at BUCKETS_MIN and doubles whenever the count passes the bucket
 * count, up to the power of two >= capacity. A cache of 100,000 that holds the 3,000
 * keys of its busy senders so has 16 KiB of heads, all in use, where a table sized for
 * the capacity would spread the same heads over 512 KiB; every hit reads one head, and
 * on a host where each system call empties the TLB (page-table isolation without PCID)
 * a head on a page of its own is a page walk per lookup. The doubling moves the old
 * chains a few buckets per insert (migrate), so no single request pays for rehashing a
 * large table; while it runs, an old bucket below `moved` has gone to the new array and
 * one at or above it has not (head). Every operation is O(1) (expected, for the chains).
 *
 * Memory: the map owns its copies of the keys and the values handed to lru_put. Keys of up
 * to KEY_INLINE bytes live inside the entry; a longer key gets one malloc'd block. Every
 * value leaves through free_value exactly once: replaced, evicted, expired, removed, cleared, or at
 * lru_free. lru_get allocates nothing; lru_put allocates only a long key's block and, when
 * the table doubles, the new bucket array (the old one is freed once emptied).
 */
#include "lru.h"
#include "hot.h"
#include "siphash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bounds the arrays (about 480 MB of entries at the top) and keeps indexes in uint32. */
#define CAPACITY_MAX 10000000u

/* The first bucket array: 1 KiB; a clear goes back to it. A test build sets it lower so
 * that small maps double (and clear in the middle of doubling) all the time. */
#ifndef LRU_BUCKETS_MIN
#define LRU_BUCKETS_MIN 256u
#endif
#define BUCKETS_MIN ((uint32_t)LRU_BUCKETS_MIN)

/* Old buckets moved to the new array per insert while the table doubles: at least one
 * more than needed to finish before the count can reach the next doubling. */
#define MIGRATE_STEP 2u

/* Inline key bytes: what fills the entry to 48 bytes; an IPv6 address and a kind byte fit. */
#define KEY_INLINE 19

struct entry {
	void *value;
	uint32_t newer;   /* recency list: towards the most recently used (0 = sentinel) */
	uint32_t older;   /* towards the least recently used */
	uint32_t chain;   /* next entry in the same bucket, or in the free list; 0 ends */
	uint32_t hash;    /* low 32 bits of the key's SipHash: picks the bucket, skips compares */
	uint32_t expires; /* usable while expires > now */
	uint8_t key_len;
	/* The key itself, or (key_len > KEY_INLINE) a pointer to it, copied with memcpy. */
	uint8_t key[KEY_INLINE];
};

_Static_assert(sizeof(void *) <= KEY_INLINE, "a long key's pointer must fit the inline space");
_Static_assert(LRU_KEY_MAX <= UINT8_MAX, "key_len is one byte");
_Static_assert(sizeof(void *) != 8 || sizeof(struct entry) == 48, "entries stay at 48 bytes");

struct lru {
	struct entry *e;  /* capacity + 1 entries; e[0] is the recency list's sentinel */
	uint32_t *bucket; /* chain heads, indexed by hash & mask */
	uint32_t *old;    /* while doubling: the previous array, emptied from the bottom */
	uint32_t mask;    /* bucket count - 1 */
	uint32_t old_mask;
	uint32_t moved;    /* old buckets below this one have been moved to bucket */
	uint32_t max_mask; /* the bucket count at full capacity - 1 */
	uint32_t capacity;
	uint32_t count;
	uint32_t used;      /* entries 1..used have held data since creation or the last clear */
	uint32_t free_list; /* entries emptied by expiry, waiting for reuse */
	lru_free_fn *free_value;
	struct lru_stats stats;
	uint8_t seed[16];
};

/* long_key - the heap block of a key longer than KEY_INLINE (its pointer sits inline). */
static inline uint8_t *long_key(const struct entry *e)
{
	uint8_t *p;

	memcpy(&p, e->key, sizeof(p));
	return p;
}

/* entry_key - where an entry's key bytes are: inline, or the block a long key points to. */
static inline const uint8_t *entry_key(const struct entry *e)
{
	return e->key_len <= KEY_INLINE ? e->key : long_key(e);
}

/* release - hand a value back to its owner's free function. */
static inline void release(const struct lru *m, void *value)
{
	if (m->free_value)
		m->free_value(value);
}

/* head - the chain head that holds hash now: the old array's until that bucket moves. */
static inline uint32_t *head(const struct lru *m, uint32_t hash)
{
	if (m->old != NULL && (hash & m->old_mask) >= m->moved)
		return &m->old[hash & m->old_mask];
	return &m->bucket[hash & m->mask];
}

/* find - the index of key's entry, 0 when absent. */
HOT static uint32_t find(const struct lru *m, const void *key, size_t len, uint32_t hash)
{
	for (uint32_t i = *head(m, hash); i != 0; i = m->e[i].chain) {
		const struct entry *e = &m->e[i];

		/* The stored hash settles almost every mismatch without touching key bytes. */
		if (e->hash == hash && (size_t)e->key_len == len &&
		    (len == 0 || memcmp(entry_key(e), key, len) == 0))
			return i;
	}
	return 0;
}

/* list_unlink - take entry i out of the recency list. */
static inline void list_unlink(struct lru *m, uint32_t i)
{
	struct entry *e = &m->e[i];

	m->e[e->newer].older = e->older;
	m->e[e->older].newer = e->newer;
}

/* list_push_newest - make entry i the most recently used. */
static inline void list_push_newest(struct lru *m, uint32_t i)
{
	struct entry *e = &m->e[i];

	e->older = m->e[0].older;
	e->newer = 0;
	m->e[e->older].newer = i;
	m->e[0].older = i;
}

/* bucket_unlink - take entry i out of its bucket's chain (short: load factor <= 1). */
static void bucket_unlink(struct lru *m, uint32_t i)
{
	uint32_t *link = head(m, m->e[i].hash);

	while (*link != i)
		link = &m->e[*link].chain;
	*link = m->e[i].chain;
}

/*
 * drop - remove entry i from the map and free what it owns. The value goes last, once the
 * map is consistent again, so a free function that looks at the map sees no half state.
 */
static void drop(struct lru *m, uint32_t i)
{
	struct entry *e = &m->e[i];
	void *value = e->value;

	bucket_unlink(m, i);
	list_unlink(m, i);
	if (e->key_len > KEY_INLINE)
		free(long_key(e));
	e->key_len = 0;
	e->value = NULL;
	m->count--;
	release(m, value);
}

/* lru_new - a map of at most capacity entries; NULL with errno set on failure. */
struct lru *lru_new(size_t capacity, const uint8_t seed[16], lru_free_fn *free_value)
{
	struct lru *m;
	size_t buckets = 1;

	if (capacity > CAPACITY_MAX) {
		errno = EINVAL;
		return NULL;
	}
	while (buckets < capacity)
		buckets <<= 1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->max_mask = (uint32_t)(buckets - 1);
	m->mask = (uint32_t)(buckets < BUCKETS_MIN ? buckets : BUCKETS_MIN) - 1;
	/* calloc, not malloc + memset: untouched pages stay unmapped until first used. */
	m->e = calloc(capacity + 1, sizeof(*m->e));
	m->bucket = calloc((size_t)m->mask + 1, sizeof(*m->bucket));
	if (!m->e || !m->bucket) {
		free(m->e);
		free(m->bucket);
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->capacity = (uint32_t)capacity;
	m->free_value = free_value;
	memcpy(m->seed, seed, sizeof(m->seed));
	/* The sentinel's zero links already make it an empty circular list. */
	return m;
}

/* release_all - free every key block and value, newest first; leaves the links stale. */
static void release_all(struct lru *m)
{
	uint32_t i = m->e[0].older;

	while (i != 0) {
		struct entry *e = &m->e[i];
		uint32_t next = e->older;

		*head(m, e->hash) = 0;
		if (e->key_len > KEY_INLINE)
			free(long_key(e));
		e->key_len = 0;
		release(m, e->value);
		e->value = NULL;
		i = next;
	}
}

/* lru_free - free the map, its keys, and every value still in it. */
void lru_free(struct lru *m)
{
	if (!m)
		return;
	release_all(m);
	free(m->e);
	free(m->bucket);
	free(m->old);
	free(m);
}

/*
 * lru_clear - drop every entry. The bucket array goes back to its first size, as the map
 * will fill again from nothing; if that small array cannot be had, the current one stays,
 * with only the heads of live entries reset (the others are already 0).
 */
void lru_clear(struct lru *m)
{
	uint32_t mask = m->max_mask < BUCKETS_MIN - 1 ? m->max_mask : BUCKETS_MIN - 1;
	uint32_t *small = m->mask > mask ? calloc((size_t)mask + 1, sizeof(*small)) : NULL;

	release_all(m);
	/* Buckets not yet moved were reset in the old array; their new ones are still 0. */
	free(m->old);
	m->old = NULL;
	if (small != NULL) {
		free(m->bucket);
		m->bucket = small;
		m->mask = mask;
	}
	m->e[0].newer = 0;
	m->e[0].older = 0;
	m->count = 0;
	m->used = 0;
	m->free_list = 0;
}

/* hash32 - the key's hash under this map's seed, cut to the 32 bits entries keep. */
static inline uint32_t hash32(const struct lru *m, const void *key, size_t len)
{
	return (uint32_t)siphash13(m->seed, key, len);
}

/* lru_peek - the live value for key and its expiry; order, entries and counters unchanged. */
void *lru_peek(const struct lru *m, const void *key, size_t key_len, uint32_t now,
	       uint32_t *expires)
{
	uint32_t i = 0;

	if (key_len <= LRU_KEY_MAX && m->count > 0)
		i = find(m, key, key_len, hash32(m, key, key_len));
	if (i == 0 || m->e[i].expires <= now)
		return NULL;
	if (expires != NULL)
		*expires = m->e[i].expires;
	return m->e[i].value;
}

/* hit - the outcome of a lookup that found entry i (0: none): its live value, made most
 * recently used, or NULL (an expired entry is dropped). */
HOT static void *hit(struct lru *m, uint32_t i, uint32_t now)
{
	if (i == 0) {
		m->stats.misses++;
		return NULL;
	}
	if (m->e[i].expires <= now) {
		drop(m, i);
		m->e[i].chain = m->free_list;
		m->free_list = i;
		m->stats.expiries++;
		m->stats.misses++;
		return NULL;
	}
	list_unlink(m, i);
	list_push_newest(m, i);
	m->stats.hits++;
	return m->e[i].value;
}

/* lru_get - the live value for key, made most recently used; an expired entry is dropped. */
HOT void *lru_get(struct lru *m, const void *key, size_t key_len, uint32_t now)
{
	uint32_t i = 0;

	if (key_len <= LRU_KEY_MAX && m->count > 0)
		i = find(m, key, key_len, hash32(m, key, key_len));
	return hit(m, i, now);
}

/* prefetch - ask for the cache line at p ahead of its use; a hint that changes nothing. */
static inline void prefetch(const void *p)
{
	__builtin_prefetch(p, 1, 3);
}

/*
 * lru_get_all - see lru.h. Four passes, each starting the loads the next one needs:
 * the bucket heads, the first entry of each chain, the lookups themselves (which start
 * loading each found entry's recency neighbours), then the recency updates in key order.
 * An entry found twice (a repeated key) is made newest twice, or, expired, dropped by
 * the first lookup and missed by the second, as two lru_get calls would.
 */
HOT void lru_get_all(struct lru *m, const struct lru_key *keys, size_t n, uint32_t now,
		     void **values)
{
	uint32_t hash[LRU_BATCH_MAX], found[LRU_BATCH_MAX];

	/* More keys than the arrays hold: the same, a batch after another. */
	for (; n > LRU_BATCH_MAX;
	     n -= LRU_BATCH_MAX, keys += LRU_BATCH_MAX, values += LRU_BATCH_MAX)
		lru_get_all(m, keys, LRU_BATCH_MAX, now, values);
	for (size_t k = 0; k < n; k++) {
		hash[k] = hash32(m, keys[k].bytes, keys[k].len);
		prefetch(head(m, hash[k]));
	}
	for (size_t k = 0; k < n; k++)
		prefetch(&m->e[*head(m, hash[k])]);
	for (size_t k = 0; k < n; k++) {
		found[k] = 0;
		if (keys[k].len <= LRU_KEY_MAX && m->count > 0)
			found[k] = find(m, keys[k].bytes, keys[k].len, hash[k]);
		if (found[k] != 0) {
			prefetch(&m->e[m->e[found[k]].newer]);
			prefetch(&m->e[m->e[found[k]].older]);
		}
	}
	for (size_t k = 0; k < n; k++) {
		/* An entry this lookup drops as expired is gone for a later one of the same key:
		 * that one finds nothing, as a later lru_get would. */
		if (found[k] != 0 && m->e[found[k]].expires <= now)
			for (size_t later = k + 1; later < n; later++)
				if (found[later] == found[k])
					found[later] = 0;
		values[k] = hit(m, found[k], now);
	}
}

/* migrate - move up to n old buckets' chains to the new array; the old one goes when empty. */
static void migrate(struct lru *m, uint32_t n)
{
	while (m->old != NULL && n-- > 0) {
		uint32_t i = m->old[m->moved];

		/* Moving the bucket first makes head() send every hash of it to the new array. */
		m->moved++;
		while (i != 0) {
			uint32_t next = m->e[i].chain;
			uint32_t *link = &m->bucket[m->e[i].hash & m->mask];

			m->e[i].chain = *link;
			*link = i;
			i = next;
		}
		if (m->moved > m->old_mask) {
			free(m->old);
			m->old = NULL;
		}
	}
}

/*
 * grow - double the bucket array once the count passes it. Without memory for the new
 * array the map goes on with longer chains, and tries again at the next insert.
 */
static void grow(struct lru *m)
{
	uint32_t *bigger;

	if (m->count <= m->mask || m->mask >= m->max_mask)
		return;
	migrate(m, UINT32_MAX); /* cannot happen (see MIGRATE_STEP); keeps head() right if it did */
	bigger = calloc(((size_t)m->mask + 1) * 2, sizeof(*bigger));
	if (bigger == NULL)
		return;
	m->old = m->bucket;
	m->old_mask = m->mask;
	m->moved = 0;
	m->bucket = bigger;
	m->mask = m->mask * 2 + 1;
}

/* take_slot - an empty entry: a reusable one, a never used one, or the evicted oldest. */
static uint32_t take_slot(struct lru *m)
{
	uint32_t i = m->free_list;

	if (i != 0) {
		m->free_list = m->e[i].chain;
		return i;
	}
	if (m->used < m->capacity)
		return ++m->used;
	i = m->e[0].newer;
	drop(m, i);
	m->stats.evictions++;
	return i;
}

/* replace - give existing entry i a new value and expiry, and make it the newest. */
static void replace(struct lru *m, uint32_t i, void *value, uint32_t expires)
{
	struct entry *e = &m->e[i];
	void *old = e->value;

	e->value = value;
	e->expires = expires;
	list_unlink(m, i);
	list_push_newest(m, i);
	/* Putting the very same value again must not free what the map still holds. */
	if (old != value)
		release(m, old);
}

/* lru_put - insert or replace key with value until expires; the map owns value either way. */
bool lru_put(struct lru *m, const void *key, size_t key_len, void *value, uint32_t expires)
{
	uint32_t hash, i, *link;
	uint8_t *copy = NULL;
	struct entry *e;

	if (m->capacity == 0 || key_len > LRU_KEY_MAX) {
		release(m, value);
		return false;
	}
	hash = hash32(m, key, key_len);
	i = find(m, key, key_len, hash);
	if (i != 0) {
		replace(m, i, value, expires);
		return true;
	}
	/* Allocate before evicting, so that running out of memory leaves the map as it was. */
	if (key_len > KEY_INLINE) {
		copy = malloc(key_len);
		if (!copy) {
			release(m, value);
			return false;
		}
		memcpy(copy, key, key_len);
	}
	i = take_slot(m);
	e = &m->e[i];
	e->value = value;
	e->expires = expires;
	e->hash = hash;
	e->key_len = (uint8_t)key_len;
	if (copy)
		memcpy(e->key, &copy, sizeof(copy));
	else if (key_len > 0)
		memcpy(e->key, key, key_len);
	link = head(m, hash);
	e->chain = *link;
	*link = i;
	list_push_newest(m, i);
	m->count++;
	m->stats.inserts++;
	migrate(m, MIGRATE_STEP);
	grow(m);
	return true;
}

/* lru_remove - drop key's entry; its slot joins the free list, as an expired one's does. */
bool lru_remove(struct lru *m, const void *key, size_t key_len)
{
	uint32_t i = 0;

	if (key_len <= LRU_KEY_MAX && m->count > 0)
		i = find(m, key, key_len, hash32(m, key, key_len));
	if (i == 0)
		return false;
	drop(m, i);
	m->e[i].chain = m->free_list;
	m->free_list = i;
	return true;
}

/* lru_each - from the least to the most recently used: the order lru_put restores. */
void lru_each(const struct lru *m, uint32_t now, lru_each_fn *fn, void *arg)
{
	for (uint32_t i = m->e[0].newer; i != 0; i = m->e[i].newer) {
		const struct entry *e = &m->e[i];
		if (e->expires > now)
			fn(arg, entry_key(e), e->key_len, e->value, e->expires);
	}
}

/* lru_count - how many entries the map holds, expired ones not yet dropped included. */
size_t lru_count(const struct lru *m)
{
	return m->count;
}

/* lru_capacity - the most entries the map will hold. */
size_t lru_capacity(const struct lru *m)
{
	return m->capacity;
}

/* lru_buckets - how many chain heads the map has now (it grows them with the count). */
size_t lru_buckets(const struct lru *m)
{
	return (size_t)m->mask + 1;
}

/* lru_get_stats - the counters since creation (lru_clear does not reset them). */
const struct lru_stats *lru_get_stats(const struct lru *m)
{
	return &m->stats;
}
