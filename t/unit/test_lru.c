/*
 * test_lru - unit tests of common/lru.c: SipHash-2-4 against the reference vectors; the
 * map's insert, replace, eviction order, expiry, clear, capacity edge cases and key
 * handling; the bucket array that grows with the count; a million random operations checked
 * against a simple reference model; and that
 * every value reaches free_value exactly once, at the moment it leaves the map.
 * Values are malloc'd records carrying an id; freed[] counts how often each id was freed.
 * Each test creates and frees its own maps. Built twice: as is, and with LRU_BUCKETS_MIN 4
 * and frequent clears (unit-lru-small), so that the model run doubles tables all the time.
 */
#include "lru.h"
#include "siphash.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A string literal as a key: its bytes without the terminating NUL. */
#define K(s) (s), (sizeof(s) - 1)

static const uint8_t seed[16] = { 0x3c, 0x91, 0x07, 0xee, 0x5a, 0x12, 0x88, 0x4f,
				  0xd0, 0x6b, 0x29, 0xc4, 0x73, 0x1e, 0xb5, 0x0a };

#define MAX_VALUES (1u << 21)

static uint8_t freed[MAX_VALUES]; /* how many times each value id was freed */
static uint32_t n_values;
static uint32_t double_frees;

struct value {
	uint32_t id;
};

/* new_value - a fresh tracked value. */
static void *new_value(void)
{
	struct value *v = malloc(sizeof(*v));

	if (!v || n_values >= MAX_VALUES)
		abort();
	v->id = n_values++;
	return v;
}

/* id_of - the id of a live value. */
static uint32_t id_of(const void *v)
{
	return ((const struct value *)v)->id;
}

/* free_value - the map's free function: count, then free. */
static void free_value(void *p)
{
	struct value *v = p;

	if (freed[v->id]++)
		double_frees++;
	free(v);
}

/* put_id - put a fresh value under key and return its id (or -1 when lru_put refuses). */
static long put_id(struct lru *m, const void *key, size_t len, uint32_t expires)
{
	void *v = new_value();
	uint32_t id = id_of(v);

	return lru_put(m, key, len, v, expires) ? (long)id : -1;
}

/* get_id - the id of key's value at now, -1 when lru_get returns NULL. */
static long get_id(struct lru *m, const void *key, size_t len, uint32_t now)
{
	void *v = lru_get(m, key, len, now);

	return v ? (long)id_of(v) : -1;
}

/* all_freed_once - whether every value id in [from, n_values) was freed exactly once. */
static bool all_freed_once(uint32_t from)
{
	for (uint32_t id = from; id < n_values; id++)
		if (freed[id] != 1)
			return false;
	return true;
}

/* test_siphash - the reference vectors (key 00..0f, message 00..len-1) and seed sensitivity. */
static void test_siphash(void)
{
	static const uint64_t want[] = {
		0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
		0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
		0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
		0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
		0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794,
	};
	uint8_t key[16], msg[65], other[16];
	int differ = 0;

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 65; i++)
		msg[i] = (uint8_t)i;
	ok(siphash24(key, NULL, 0) == 0x726fdb47dd0e0e31, "siphash24 of the empty message");
	ok(siphash24(key, msg, 15) == 0xa129ca6149be45e5, "siphash24 of 00..0e (15 bytes)");
	for (size_t len = 0; len < sizeof(want) / sizeof(want[0]); len++)
		ok(siphash24(key, msg, len) == want[len], "siphash24 reference vector, %zu bytes",
		   len);
	ok(siphash24(key, msg, 63) == 0x958a324ceb064572, "siphash24 reference vector, 63 bytes");
	/* Input that does not start on an 8-byte boundary hashes the same. */
	memcpy(other, msg + 1, 13);
	ok(siphash24(key, msg + 1, 13) == siphash24(key, other, 13),
	   "siphash24 does not depend on alignment");
	/* Every single-bit change of the seed changes the hash of the same message. */
	for (int bit = 0; bit < 128; bit++) {
		memcpy(other, key, sizeof(other));
		other[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		differ += siphash24(other, K("example.com")) != siphash24(key, K("example.com"));
	}
	is_int(differ, 128, "each of the 128 seed bits changes the hash");
	memset(other, 0xa5, sizeof(other));
	differ = 0;
	for (size_t len = 0; len <= 64; len++)
		differ += siphash24(other, msg, len) != siphash24(key, msg, len);
	is_int(differ, 65, "two seeds give different hashes for 65 messages");
}

/*
 * test_siphash13 - SipHash-1-3 against Python's hash() of bytes, which is SipHash-1-3
 * (sys.hash_info.algorithm) with an all-zero key under PYTHONHASHSEED=0; and it is not
 * SipHash-2-4 with another name.
 */
static void test_siphash13(void)
{
	static const struct {
		const char *msg;
		uint64_t want;
	} vec[] = {
		{ "a", UINT64_C(0x407448d2b89b1813) },
		{ "abcdefg", UINT64_C(0x6db12aae9070f506) },
		{ "abcdefgh", UINT64_C(0x3f7b849c0b8e35ea) },
		{ "abcdefghijklmnop", UINT64_C(0x94f60d3d29e6a312) },
		{ "0123456789abcdefghijklmnopqrstu", UINT64_C(0xad7f6f5d9f61f23d) },
	};
	uint8_t zero[16] = { 0 };

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++)
		ok(siphash13(zero, vec[i].msg, strlen(vec[i].msg)) == vec[i].want,
		   "siphash13 of \"%s\" is Python's", vec[i].msg);
	ok(siphash13(zero, "abcdefgh", 8) != siphash24(zero, "abcdefgh", 8),
	   "siphash13 is not siphash24");
}

/* test_basic - insert, get, replace, a prefix is another key, the stats. */
static void test_basic(void)
{
	uint32_t first = n_values;
	struct lru *m = lru_new(8, seed, free_value);
	long a1, a2;
	void *v;

	ok(m != NULL, "lru_new(8)");
	is_int(lru_capacity(m), 8, "capacity 8");
	is_int(lru_count(m), 0, "a new map is empty");
	ok(lru_get(m, K("alpha"), 10) == NULL, "get on an empty map");
	a1 = put_id(m, K("alpha"), 100);
	ok(a1 >= 0, "put alpha");
	is_int(get_id(m, K("alpha"), 10), a1, "get alpha");
	ok(lru_get(m, K("alph"), 10) == NULL, "a prefix is another key");
	ok(lru_get(m, K("alphab"), 10) == NULL, "a longer key is another key");
	ok(lru_get(m, K("beta"), 10) == NULL, "an absent key");
	a2 = put_id(m, K("alpha"), 100);
	is_int(freed[a1], 1, "replacing frees the old value once");
	is_int(get_id(m, K("alpha"), 10), a2, "get returns the new value");
	is_int(lru_count(m), 1, "replacing keeps one entry");
	v = lru_get(m, K("alpha"), 10);
	ok(lru_put(m, K("alpha"), v, 200), "put the same value again");
	is_int(freed[a2], 0, "putting the same value again does not free it");
	is_int(get_id(m, K("alpha"), 150), a2, "the new expiry applies");
	is_int(put_id(m, K("beta"), 100) >= 0, 1, "put beta");
	is_int(lru_count(m), 2, "two entries");
	is_int(lru_get_stats(m)->hits, 4, "hits counted");
	is_int(lru_get_stats(m)->misses, 4, "misses counted");
	is_int(lru_get_stats(m)->inserts, 2, "inserts count new keys");
	is_int(lru_get_stats(m)->evictions + lru_get_stats(m)->expiries, 0, "nothing dropped");
	lru_free(m);
	ok(all_freed_once(first), "lru_free frees every value once");
	lru_free(NULL);
}

/* test_remove - a removed key is gone at once, its value freed once, its slot reused. */
static void test_remove(void)
{
	uint32_t first = n_values;
	struct lru *m = lru_new(2, seed, free_value);
	long a, b, c;

	a = put_id(m, K("alpha"), 100);
	b = put_id(m, K("beta"), 100);
	ok(lru_remove(m, K("alpha")), "lru_remove of a key the map holds");
	is_int(freed[a], 1, "... frees its value once");
	ok(lru_get(m, K("alpha"), 10) == NULL && lru_peek(m, K("alpha"), 10, NULL) == NULL,
	   "... and it is gone");
	is_int(lru_count(m), 1, "one entry left");
	ok(!lru_remove(m, K("alpha")), "lru_remove of an absent key: false");
	ok(!lru_remove(m, K("gamma")), "lru_remove of a key never put: false");
	c = put_id(m, K("gamma"), 100);
	is_int(get_id(m, K("beta"), 10), b, "the slot is reused: beta is not evicted");
	is_int(get_id(m, K("gamma"), 10), c, "gamma is there");
	is_int(lru_get_stats(m)->evictions + lru_get_stats(m)->expiries, 0,
	       "a removal is neither an eviction nor an expiry");
	put_id(m, K("delta"), 5);
	ok(lru_remove(m, K("delta")), "lru_remove drops an expired entry too");
	lru_free(m);
	ok(all_freed_once(first), "every value freed exactly once");
}

/* test_eviction - the least recently used goes first; a get or a replace refreshes. */
static void test_eviction(void)
{
	uint32_t first = n_values;
	struct lru *m = lru_new(3, seed, free_value);
	long a = put_id(m, K("a"), 100), b = put_id(m, K("b"), 100), c = put_id(m, K("c"), 100);
	long d, e, ids[10];
	bool in_order = true;

	is_int(get_id(m, K("a"), 1), a, "get a refreshes it");
	d = put_id(m, K("d"), 100);
	ok(freed[b] == 1 && freed[a] == 0 && freed[c] == 0, "putting d evicts b, the oldest");
	is_int(lru_get_stats(m)->evictions, 1, "one eviction");
	/* Now newest to oldest: d, a, c. */
	e = put_id(m, K("e"), 100);
	ok(freed[c] == 1 && freed[a] == 0 && freed[d] == 0, "putting e evicts c");
	ok(get_id(m, K("b"), 1) == -1 && get_id(m, K("c"), 1) == -1, "b and c are gone");
	ok(get_id(m, K("a"), 1) == a && get_id(m, K("d"), 1) == d && get_id(m, K("e"), 1) == e,
	   "a, d and e remain");
	/* Now newest to oldest: e, d, a. Replacing a refreshes it and evicts nothing. */
	put_id(m, K("a"), 100);
	is_int(lru_get_stats(m)->evictions, 2, "replacing in a full map evicts nothing");
	put_id(m, K("f"), 100);
	ok(freed[d] == 1 && get_id(m, K("d"), 1) == -1 && get_id(m, K("a"), 1) >= 0,
	   "after a replace, the next put evicts d, not a");
	lru_free(m);

	/* A stream of new keys leaves in exactly the order it came. */
	m = lru_new(5, seed, free_value);
	for (int i = 0; i < 10; i++) {
		uint8_t key[2] = { 'k', (uint8_t)i };

		ids[i] = put_id(m, key, sizeof(key), 100);
		if (i >= 5 && (freed[ids[i - 5]] != 1 || freed[ids[i - 4]] != 0))
			in_order = false;
	}
	ok(in_order, "ten puts into five places evict in insertion order");
	is_int(lru_count(m), 5, "the map stays full");
	lru_free(m);
	ok(all_freed_once(first), "every evicted or remaining value freed once");
}

/* test_expiry - expires == now is expired; an expired entry is dropped and its place reused. */
static void test_expiry(void)
{
	uint32_t first = n_values;
	struct lru *m = lru_new(2, seed, free_value);
	long x = put_id(m, K("x"), 100), u;

	is_int(get_id(m, K("x"), 99), x, "alive one second before expiry");
	is_int(get_id(m, K("x"), 100), -1, "expired when expires == now");
	is_int(freed[x], 1, "the expired value was freed");
	is_int(lru_count(m), 0, "the expired entry was dropped");
	is_int(lru_get_stats(m)->expiries, 1, "one expiry");
	is_int(get_id(m, K("x"), 100), -1, "still absent");
	is_int(lru_get_stats(m)->expiries, 1, "an absent key is not another expiry");
	is_int(lru_get_stats(m)->misses, 2, "both failed gets are misses");
	ok(put_id(m, K("y"), 0) >= 0, "put y, expiring at 0");
	is_int(get_id(m, K("y"), 0), -1, "expires 0 is expired at now 0");

	put_id(m, K("p"), 50);
	put_id(m, K("q"), 60);
	is_int(get_id(m, K("p"), 55), -1, "p expired");
	put_id(m, K("r"), 60);
	is_int(lru_get_stats(m)->evictions, 0, "an expired entry's place is reused, no eviction");
	ok(get_id(m, K("q"), 10) >= 0 && get_id(m, K("r"), 10) >= 0, "q and r both present");
	lru_free(m);

	m = lru_new(1, seed, free_value);
	put_id(m, K("s"), 5);
	put_id(m, K("t"), 50);
	is_int(lru_get_stats(m)->evictions, 1, "an expired entry not yet seen is evicted");
	is_int(lru_get_stats(m)->expiries, 0, "and that eviction is not an expiry");
	put_id(m, K("u"), 5);
	u = put_id(m, K("u"), 50);
	is_int(get_id(m, K("u"), 10), u, "replacing an expired entry revives the key");
	lru_free(m);
	ok(all_freed_once(first), "every value freed once");
}

/* test_clear - clear frees everything, keeps the stats, and the map works afterwards. */
static void test_clear(void)
{
	uint32_t first = n_values;
	struct lru *m = lru_new(16, seed, free_value);
	uint8_t key[40];
	bool gone = true, back = true;

	memset(key, 'c', sizeof(key));
	for (int i = 0; i < 10; i++) {
		key[0] = (uint8_t)i;
		put_id(m, key, i % 2 ? sizeof(key) : 3, 100); /* long and short keys */
	}
	is_int(lru_count(m), 10, "ten entries before clear");
	lru_clear(m);
	is_int(lru_count(m), 0, "none after clear");
	ok(all_freed_once(first), "clear freed every value once");
	for (int i = 0; i < 10; i++) {
		key[0] = (uint8_t)i;
		gone &= lru_get(m, key, i % 2 ? sizeof(key) : 3, 1) == NULL;
	}
	ok(gone, "no key survives a clear");
	is_int(lru_get_stats(m)->evictions + lru_get_stats(m)->expiries, 0,
	       "a clear is neither eviction nor expiry");
	for (int i = 0; i < 16; i++) {
		key[0] = (uint8_t)(100 + i);
		put_id(m, key, sizeof(key), 100);
	}
	is_int(lru_get_stats(m)->evictions, 0, "the full capacity is available after clear");
	for (int i = 0; i < 16; i++) {
		key[0] = (uint8_t)(100 + i);
		back &= lru_get(m, key, sizeof(key), 1) != NULL;
	}
	ok(back, "all sixteen new keys retrievable");
	put_id(m, K("seventeenth"), 100);
	is_int(lru_get_stats(m)->evictions, 1, "the seventeenth put evicts");
	lru_clear(m);
	lru_clear(m);
	is_int(lru_count(m), 0, "clearing an empty map");
	lru_free(m);
	ok(all_freed_once(first), "every value freed once");
}

/* test_capacity_edges - capacity 0 keeps nothing, 1 keeps the last, the 10,000,000 limit. */
static void test_capacity_edges(void)
{
	uint32_t first = n_values;
	struct lru *m = lru_new(0, seed, free_value);
	long a, b;

	ok(m != NULL, "lru_new(0) gives a map");
	is_int(put_id(m, K("a"), 100), -1, "capacity 0: put returns false");
	is_int(freed[n_values - 1], 1, "capacity 0: the value was freed");
	ok(lru_get(m, K("a"), 1) == NULL, "capacity 0: get returns NULL");
	is_int(lru_count(m), 0, "capacity 0: count 0");
	is_int(lru_get_stats(m)->inserts, 0, "capacity 0: nothing inserted");
	lru_clear(m);
	lru_free(m);

	m = lru_new(1, seed, free_value);
	a = put_id(m, K("a"), 100);
	is_int(get_id(m, K("a"), 1), a, "capacity 1: a");
	b = put_id(m, K("b"), 100);
	ok(freed[a] == 1 && get_id(m, K("a"), 1) == -1, "capacity 1: b evicts a");
	is_int(get_id(m, K("b"), 1), b, "capacity 1: b");
	put_id(m, K("b"), 100);
	is_int(lru_get_stats(m)->evictions, 1, "capacity 1: replacing b evicts nothing");
	is_int(lru_count(m), 1, "capacity 1: one entry");
	lru_free(m);

	ok(lru_new(10000001, seed, free_value) == NULL, "capacity above 10,000,000 refused");
	m = lru_new(10000000, seed, free_value);
	ok(m != NULL, "capacity 10,000,000 accepted");
	for (uint32_t i = 0; i < 1000; i++)
		put_id(m, &i, sizeof(i), 100);
	is_int(lru_count(m), 1000, "a large map holds what it was given");
	lru_free(m);
	ok(all_freed_once(first), "every value freed once");
}

/* test_long_keys - 200-byte domains, shared prefixes, same bytes with other lengths. */
static void test_long_keys(void)
{
	uint32_t first = n_values;
	struct lru *m = lru_new(300, seed, free_value);
	uint8_t buf[LRU_KEY_MAX + 1];
	long ids[LRU_KEY_MAX + 1];
	bool all = true;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)("abcdefghijklmnopqrstuvwxyz0123456789-."[i % 38]);
	buf[0] = 'D'; /* the kind byte */
	/* 50 domain keys of 200 bytes that differ only in their last byte. */
	for (int i = 0; i < 50; i++) {
		buf[199] = (uint8_t)i;
		ids[i] = put_id(m, buf, 200, 100);
	}
	for (int i = 0; i < 50; i++) {
		buf[199] = (uint8_t)i;
		all &= get_id(m, buf, 200, 1) == ids[i];
	}
	ok(all, "50 keys of 200 bytes differing in the last byte");
	lru_clear(m);
	/* Every prefix of one 255-byte key, the empty key included: 256 distinct keys. */
	for (size_t len = 0; len <= LRU_KEY_MAX; len++)
		ids[len] = put_id(m, buf, len, 100);
	is_int(lru_count(m), LRU_KEY_MAX + 1, "256 prefixes are 256 keys");
	all = true;
	for (size_t len = 0; len <= LRU_KEY_MAX; len++)
		all &= get_id(m, buf, len, 1) == ids[len];
	ok(all, "each prefix, short or long, finds its own value");
	is_int(put_id(m, buf, LRU_KEY_MAX + 1, 100), -1, "a key of 256 bytes is refused");
	is_int(freed[n_values - 1], 1, "and its value freed");
	ok(lru_get(m, buf, LRU_KEY_MAX + 1, 1) == NULL, "get with a 256-byte key is a miss");
	lru_clear(m);
	/* Zero bytes only: the keys differ in nothing but length. */
	memset(buf, 0, sizeof(buf));
	for (size_t len = 0; len <= 40; len++)
		ids[len] = put_id(m, buf, len, 100);
	all = true;
	for (size_t len = 0; len <= 40; len++)
		all &= get_id(m, buf, len, 1) == ids[len];
	ok(all, "41 keys of zero bytes, lengths 0 to 40, stay apart");
	lru_free(m);
	ok(all_freed_once(first), "every value freed once");
}

/* test_sequential - 100,000 consecutive IPv4 keys in a map of that size stay retrievable. */
static void test_sequential(void)
{
	enum { N = 100000 };
	uint32_t first = n_values;
	struct lru *m = lru_new(N, seed, free_value);
	uint32_t wrong = 0;

	for (uint32_t i = 0; i < N; i++) {
		uint32_t ip = 0x0a000000u + i; /* 10.0.0.0 onwards */
		uint8_t key[5] = { '4', (uint8_t)(ip >> 24), (uint8_t)(ip >> 16),
				   (uint8_t)(ip >> 8), (uint8_t)ip };

		put_id(m, key, sizeof(key), 100);
	}
	is_int(lru_count(m), N, "100,000 entries");
	is_int(lru_get_stats(m)->evictions, 0, "no evictions below capacity");
	for (uint32_t i = 0; i < N; i++) {
		uint32_t ip = 0x0a000000u + i;
		uint8_t key[5] = { '4', (uint8_t)(ip >> 24), (uint8_t)(ip >> 16),
				   (uint8_t)(ip >> 8), (uint8_t)ip };

		wrong += get_id(m, key, sizeof(key), 1) != (long)(first + i);
	}
	is_int(wrong, 0, "every sequential key finds its own value");
	is_int(lru_get_stats(m)->hits, N, "100,000 hits");
	lru_free(m);
	ok(all_freed_once(first), "every value freed once");
}

/* test_no_free_fn - a map without a free function leaves values alone. */
static void test_no_free_fn(void)
{
	static int values[6];
	struct lru *m = lru_new(4, seed, NULL);

	for (int i = 0; i < 6; i++) {
		uint8_t key = (uint8_t)i;

		lru_put(m, &key, 1, &values[i], 100);
	}
	ok(lru_get(m, (uint8_t[]){ 5 }, 1, 1) == &values[5], "values without a free function");
	is_int(lru_get_stats(m)->evictions, 2, "evictions without a free function");
	lru_free(m);
}

/*
 * test_get_all_edges - lru_get_all of 13 keys (more than one batch) with a repeated live
 * key, a repeated expired one, a missing one and one longer than LRU_KEY_MAX, against
 * lru_get of the same keys in turn on a twin map: the same values, counters and, seen
 * through what a later fill evicts, the same recency order.
 */
static void test_get_all_edges(void)
{
	static int values[20];
	static uint8_t big[300];
	struct lru *a = lru_new(24, seed, NULL), *b = lru_new(24, seed, NULL);
	uint8_t key[20][2];
	struct lru_key keys[13];
	void *got[13];
	const int pick[13] = { 3, 7, 3, 19, 5, 5, -1, 11, 0, 7, -2, 12, 1 };
	bool same = true;

	for (int i = 0; i < 20; i++) {
		key[i][0] = 'k';
		key[i][1] = (uint8_t)i;
		/* Keys 5 and 11 expire at 50; the others live until 100. */
		lru_put(a, key[i], 2, &values[i], i == 5 || i == 11 ? 50 : 100);
		lru_put(b, key[i], 2, &values[i], i == 5 || i == 11 ? 50 : 100);
	}
	for (int i = 0; i < 13; i++) {
		if (pick[i] == -1)
			keys[i] = (struct lru_key){ (const uint8_t *)"absent", 6 };
		else if (pick[i] == -2)
			keys[i] = (struct lru_key){ big, sizeof(big) };
		else
			keys[i] = (struct lru_key){ key[pick[i]], 2 };
	}
	lru_get_all(a, keys, 13, 60, got);
	for (int i = 0; i < 13; i++)
		same &= lru_get(b, keys[i].bytes, keys[i].len, 60) == got[i];
	ok(same, "13 keys in two batches: the values of 13 lru_get calls");
	ok(got[2] == &values[3] && got[4] == NULL && got[5] == NULL && got[6] == NULL &&
		   got[10] == NULL,
	   "a repeated key hits twice; an expired one misses twice; absent and too long miss");
	ok(memcmp(lru_get_stats(a), lru_get_stats(b), sizeof(struct lru_stats)) == 0,
	   "the same counters (%llu hits, %llu misses, %llu expiries)",
	   (unsigned long long)lru_get_stats(a)->hits, (unsigned long long)lru_get_stats(a)->misses,
	   (unsigned long long)lru_get_stats(a)->expiries);
	/* Twelve more keys evict the twelve least recently used: the same ones in both. */
	for (int i = 0; i < 12; i++) {
		uint8_t more[2] = { 'm', (uint8_t)i };

		lru_put(a, more, 2, &values[0], 100);
		lru_put(b, more, 2, &values[0], 100);
	}
	same = true;
	for (int i = 0; i < 20; i++)
		same &= (lru_peek(a, key[i], 2, 60, NULL) == NULL) ==
			(lru_peek(b, key[i], 2, 60, NULL) == NULL);
	ok(same, "the same recency order: a fill evicts the same keys");
	lru_free(a);
	lru_free(b);
}

/* growth_key - key i of test_growth: 4 to 40 bytes, so that long keys move as well. */
static size_t growth_key(uint8_t *key, uint32_t i)
{
	size_t len = 4 + i % 37;

	memset(key, 'g', len);
	memcpy(key, &i, sizeof(i));
	return len;
}

/* put_keys - growth keys from to to - 1, each with a fresh value expiring at 100. */
static void put_keys(struct lru *m, uint32_t from, uint32_t to)
{
	uint8_t key[40];

	for (uint32_t i = from; i < to; i++)
		put_id(m, key, growth_key(key, i), 100);
}

/* test_growth - the bucket array follows the count, and every key stays found while the
 * table doubles, while expired entries leave during a doubling, and across a clear that
 * comes in the middle of one. */
static void test_growth(void)
{
	enum { N = 6000 };
	static long ids[N];
	uint32_t first = n_values;
	struct lru *m = lru_new(100000, seed, free_value);
	uint8_t key[40];
	size_t len, small;
	bool sized = true, found = true, right = true;
	uint32_t expired = 0;

	for (uint32_t i = 0; i < N; i++) {
		size_t count;

		len = growth_key(key, i);
		/* Every seventh expires at 50; the others at 100. */
		ids[i] = put_id(m, key, len, i % 7 == 0 ? 50 : 100);
		count = lru_count(m);
		sized &= lru_buckets(m) >= count && lru_buckets(m) <= (count < 128 ? 256 : 2 * count);
		len = growth_key(key, i / 2);
		found &= get_id(m, key, len, 10) == ids[i / 2];
		len = growth_key(key, i);
		found &= get_id(m, key, len, 10) == ids[i];
	}
	ok(sized, "while 6,000 keys go in, buckets >= count and <= 2 x count (or the first 256)");
	is_int(lru_buckets(m), 8192, "6,000 keys in a cache of 100,000: 8,192 buckets, not 131,072");
	ok(found, "after each insert, that key and the one half as old are found");
	/* 6,000 keys are 1,904 inserts into the doubling from 4,096 to 8,192 buckets: one
	 * that moves 2 buckets per insert has 288 of 4,096 still to move. */
	for (uint32_t i = 0; i < N; i += 7) {
		len = growth_key(key, i);
		expired += get_id(m, key, len, 60) == -1;
	}
	is_int(expired, (N + 6) / 7, "every seventh key expired and left in the middle of a doubling");
	put_keys(m, N, N + 400);
	for (uint32_t i = 0; i < N; i++) {
		len = growth_key(key, i);
		right &= get_id(m, key, len, 60) == (i % 7 == 0 ? -1 : ids[i]);
	}
	ok(right, "after the doubling ended, every live key has its value, no expired one is back");
	is_int(lru_count(m), N + 400 - (N + 6) / 7, "the count is what went in less what expired");
	lru_clear(m);
	small = lru_buckets(m);
	ok(small <= 256, "a clear takes the bucket array back to its first size (%zu)", small);
	/* Past the first doubling and into its moving: then clear. */
	put_keys(m, 0, (uint32_t)(small + small / 4));
	ok(lru_buckets(m) == 2 * small, "%zu keys doubled the array", small + small / 4);
	lru_clear(m);
	found = true;
	for (uint32_t i = 0; i < small + small / 4; i++) {
		len = growth_key(key, i);
		found &= get_id(m, key, len, 10) == -1;
	}
	ok(found && lru_count(m) == 0, "a clear in the middle of a doubling leaves no key behind");
	for (uint32_t i = 0; i < N; i++) {
		len = growth_key(key, i);
		ids[i] = put_id(m, key, len, 100);
	}
	right = true;
	for (uint32_t i = 0; i < N; i++) {
		len = growth_key(key, i);
		right &= get_id(m, key, len, 60) == ids[i];
	}
	ok(right, "after that clear, 6,000 new keys grow the table again and are all found");
	lru_free(m);
	ok(all_freed_once(first), "every value of the growth test freed once");

	m = lru_new(100, seed, free_value);
	put_keys(m, 0, 1000);
	is_int(lru_buckets(m), 128, "a cache of 100 stops at 128 buckets");
	lru_free(m);
	/* A power of two: the count reaches the bucket count, and must not double it. */
	m = lru_new(256, seed, free_value);
	put_keys(m, 0, 1000);
	is_int(lru_buckets(m), 256, "a cache of 256, full, stops at 256 buckets");
	lru_free(m);
}

/* The reference model: an array-based LRU with linear search, too simple to be wrong. */
#define MODEL_CAP 64
/* One operation in this many clears both maps. */
#ifndef MODEL_CLEAR_EVERY
#define MODEL_CLEAR_EVERY 100000
#endif
#define NONE UINT32_MAX

struct model_entry {
	uint8_t key[LRU_KEY_MAX];
	size_t len;
	void *value;
	uint32_t id;
	uint32_t expires;
	uint64_t stamp; /* larger is more recently used */
};

struct model {
	struct model_entry e[MODEL_CAP];
	size_t n;
	uint64_t clock;
	struct lru_stats stats;
};

/* model_find - the index of key in the model, -1 when absent. */
static int model_find(const struct model *md, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < md->n; i++)
		if (md->e[i].len == len && memcmp(md->e[i].key, key, len) == 0)
			return (int)i;
	return -1;
}

/* model_remove - delete entry i and return the id of its value. */
static uint32_t model_remove(struct model *md, int i)
{
	uint32_t id = md->e[i].id;

	md->e[i] = md->e[--md->n];
	return id;
}

/* model_get - the model's lru_get; *dropped is the id of an expired value, or NONE. */
static void *model_get(struct model *md, const uint8_t *key, size_t len, uint32_t now,
		       uint32_t *dropped)
{
	int i = model_find(md, key, len);

	*dropped = NONE;
	if (i < 0) {
		md->stats.misses++;
		return NULL;
	}
	if (md->e[i].expires <= now) {
		*dropped = model_remove(md, i);
		md->stats.expiries++;
		md->stats.misses++;
		return NULL;
	}
	md->e[i].stamp = ++md->clock;
	md->stats.hits++;
	return md->e[i].value;
}

/* model_put - the model's lru_put; returns the id of a replaced or evicted value, or NONE. */
static uint32_t model_put(struct model *md, const uint8_t *key, size_t len, void *value,
			  uint32_t expires)
{
	int i = model_find(md, key, len);
	uint32_t dropped = NONE;

	if (i >= 0) {
		dropped = md->e[i].id;
	} else {
		if (md->n == MODEL_CAP) {
			int oldest = 0;

			for (size_t j = 1; j < md->n; j++)
				if (md->e[j].stamp < md->e[oldest].stamp)
					oldest = (int)j;
			dropped = model_remove(md, oldest);
			md->stats.evictions++;
		}
		i = (int)md->n++;
		memcpy(md->e[i].key, key, len);
		md->e[i].len = len;
		md->stats.inserts++;
	}
	md->e[i].value = value;
	md->e[i].id = id_of(value);
	md->e[i].expires = expires;
	md->e[i].stamp = ++md->clock;
	return dropped;
}

struct ukey {
	uint8_t b[LRU_KEY_MAX];
	size_t len;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15;
static unsigned model_clears;

/* rnd - splitmix64: a fixed sequence, so that a failure repeats. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
	return z ^ (z >> 31);
}

/*
 * make_universe - 160 keys: IPv4 and IPv6 shapes, prefixes of one long domain-like key
 * (lengths up to 255), and runs of zero bytes that differ only in length.
 */
static void make_universe(struct ukey *u, size_t n)
{
	static uint8_t domain[LRU_KEY_MAX];

	for (size_t i = 0; i < sizeof(domain); i++)
		domain[i] = (uint8_t)('a' + i % 26);
	domain[0] = 'D';
	for (size_t i = 0; i < n; i++) {
		memset(u[i].b, 0, sizeof(u[i].b));
		switch (i % 4) {
		case 0:
			memcpy(u[i].b, (uint8_t[]){ '4', 192, 0, 2, (uint8_t)i }, 5);
			u[i].len = 5;
			break;
		case 1:
			memcpy(u[i].b, (uint8_t[]){ '6', 0x20, 0x01, 0x0d, 0xb8 }, 5);
			u[i].b[16] = (uint8_t)i;
			u[i].len = 17;
			break;
		case 2:
			u[i].len = 1 + rnd() % LRU_KEY_MAX;
			memcpy(u[i].b, domain, u[i].len);
			break;
		default:
			u[i].len = (i / 4) % 30; /* zeros, 0 to 29 bytes */
			break;
		}
	}
}

/* freed_now - whether a value the model dropped was freed exactly once by the map. */
static bool freed_now(uint32_t id)
{
	return id == NONE || freed[id] == 1;
}

/* model_alive - whether no value the model still holds has been freed. */
static bool model_alive(const struct model *md)
{
	for (size_t i = 0; i < md->n; i++)
		if (freed[md->e[i].id] != 0)
			return false;
	return true;
}

/* pick - a random key: half of them from a hot set smaller than the map. */
static const struct ukey *pick(const struct ukey *u, uint64_t r)
{
	return &u[r % 2 ? (r >> 1) % 160 : (r >> 1) % 48];
}

/*
 * batch_step - one lru_get_all of n random keys (repeats come often from the hot set)
 * against the model's gets of the same keys in turn; false at the first difference.
 */
static bool batch_step(struct lru *m, struct model *md, const struct ukey *u, uint32_t now,
		       size_t n)
{
	struct lru_key keys[LRU_BATCH_MAX];
	void *want[LRU_BATCH_MAX], *got[LRU_BATCH_MAX];
	uint32_t dropped[LRU_BATCH_MAX];
	bool same = true;

	for (size_t i = 0; i < n; i++) {
		const struct ukey *k = pick(u, rnd());

		keys[i] = (struct lru_key){ k->b, k->len };
		want[i] = model_get(md, k->b, k->len, now, &dropped[i]);
	}
	lru_get_all(m, keys, n, now, got);
	for (size_t i = 0; i < n; i++)
		same &= got[i] == want[i] && freed_now(dropped[i]);
	return same;
}

/* model_step - one random operation on both; false at the first difference. */
static bool model_step(struct lru *m, struct model *md, const struct ukey *u, uint32_t *now)
{
	uint64_t r = rnd();
	/* Half the operations go to a hot set smaller than the map: hits and refreshes happen. */
	const struct ukey *k = pick(u, r);
	uint32_t dropped, expires;
	void *want, *v;

	r >>= 16;
	if (r % 8 == 0)
		(*now)++;
	r >>= 3;
	if (r % MODEL_CLEAR_EVERY == 0) {
		bool all = true;

		lru_clear(m);
		for (size_t i = 0; i < md->n; i++)
			all &= freed_now(md->e[i].id);
		md->n = 0;
		model_clears++;
		return lru_count(m) == 0 && all;
	}
	r >>= 17;
	if (r % 4 == 0) {
		want = model_get(md, k->b, k->len, *now, &dropped);
		return lru_get(m, k->b, k->len, *now) == want && freed_now(dropped);
	}
	if (r % 4 == 1)
		return batch_step(m, md, u, *now, 1 + (r >> 2) % LRU_BATCH_MAX);
	r >>= 1;
	/* A quarter expire around now (one second before to one after), so the expires == now
	 * boundary comes up often; the rest live up to 100 seconds, about 800 operations. */
	expires = r % 4 == 0 ? *now - 1 + (uint32_t)(r / 4 % 3) : *now + (uint32_t)(r / 4 % 100);
	v = new_value();
	dropped = model_put(md, k->b, k->len, v, expires);
	return lru_put(m, k->b, k->len, v, expires) && freed_now(dropped) && freed[id_of(v)] == 0;
}

/* test_model - a million random operations give the same results as the reference model. */
static void test_model(void)
{
	static struct model md;
	static struct ukey u[160];
	uint32_t first = n_values, now = 1000;
	struct lru *m = lru_new(MODEL_CAP, seed, free_value);
	long op, failed_at = -1;
	bool stats_same = true;

	make_universe(u, 160);
	for (op = 0; op < 1000000 && failed_at < 0; op++) {
		if (!model_step(m, &md, u, &now) || lru_count(m) != md.n)
			failed_at = op;
		if (op % 4096 == 0 && (memcmp(lru_get_stats(m), &md.stats, sizeof(md.stats)) != 0 ||
				       !model_alive(&md)))
			stats_same = false;
	}
	is_int(failed_at, -1,
	       "1,000,000 operations (a quarter of them lru_get_all of 1 to %d keys): same results "
	       "and frees as the model", LRU_BATCH_MAX);
	ok(stats_same, "same stats as the model throughout, held values never freed");
	ok(model_clears > 0, "the run included %u clears", model_clears);
	is_int(lru_get_stats(m)->hits, md.stats.hits, "hits as the model (%llu)",
	       (unsigned long long)md.stats.hits);
	is_int(lru_get_stats(m)->misses, md.stats.misses, "misses as the model");
	is_int(lru_get_stats(m)->inserts, md.stats.inserts, "inserts as the model");
	is_int(lru_get_stats(m)->evictions, md.stats.evictions, "evictions as the model (%llu)",
	       (unsigned long long)md.stats.evictions);
	is_int(lru_get_stats(m)->expiries, md.stats.expiries, "expiries as the model (%llu)",
	       (unsigned long long)md.stats.expiries);
	lru_free(m);
	ok(all_freed_once(first), "every one of %u values freed exactly once", n_values - first);
}

int main(void)
{
	test_siphash();
	test_siphash13();
	test_basic();
	test_remove();
	test_eviction();
	test_expiry();
	test_clear();
	test_capacity_edges();
	test_long_keys();
	test_sequential();
	test_no_free_fn();
	test_get_all_edges();
	test_growth();
	test_model();
	is_int(double_frees, 0, "no value was ever freed twice");
	ok(all_freed_once(0), "all %u values freed exactly once", n_values);
	return tap_done();
}
