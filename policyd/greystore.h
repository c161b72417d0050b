/*
 * greystore - where greylisting remembers triplets and networks: in this process
 * (`store = memory`, the default: an LRU map of `size` entries, saved to
 * `state_file`) or in Redis shared by every MX host (redis.h).
 *
 * The memory store answers at once. Each entry takes 52 bytes: a 48-byte map entry
 * (a 17-byte key: a kind byte and 16 bytes of the SHA-1; the 32-bit value of
 * greylist.h; its expiry) and a 4-byte bucket head; 1,000,000 entries take 52 MB,
 * touched only as they fill. The state file is written atomically (a temporary
 * file, fsync, rename) every save_interval (a minute), on the thread pool, and at exit; it is read
 * at start. Its format: "policyd-greylist 1\n", a little-endian 32-bit count, 25
 * bytes a record (the key, the value, the expiry), then the SHA-1 of all that: a
 * file that is cut, changed or of another format is logged and ignored.
 *
 * Memory: the store owns its map, its Redis store and the buffer of a save in
 * flight (freed when the save comes back, which libuv waits for in the loop's
 * last run).
 */
#ifndef POLICYD_GREYSTORE_H
#define POLICYD_GREYSTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "greylist.h"
#include "redis.h"

struct greystore;

/* greystore_new - the store cfg names (its state file read); NULL when it cannot be had (logged). */
struct greystore *greystore_new(uv_loop_t *loop, const struct config *cfg);

/*
 * greystore_set_config - a reload. False (logged) when cfg needs another kind of store
 * or a memory store of another size that cannot be allocated: the caller keeps the
 * store it has, or makes a new one.
 */
bool greystore_set_config(struct greystore *g, const struct config *cfg);

/* greystore_same_kind - whether cfg keeps the kind of store g is (memory or Redis). */
bool greystore_same_kind(const struct greystore *g, const struct config *cfg);

/*
 * greystore_ask - the answer for k under rules (the memory store's; Redis has the
 * rules of its last configuration): true when it is known now (*answer, *retry_s);
 * false when done(arg, ...) will follow (Redis), within the store's timeout.
 */
bool greystore_ask(struct greystore *g, const struct greylist_rules *rules,
		   const struct greylist_key *k, enum greylist_answer *answer, uint32_t *retry_s,
		   redis_done_fn *done, void *arg);

/* greystore_waits - whether answers come later (Redis) rather than at once (memory). */
bool greystore_waits(const struct greystore *g);

/* greystore_count - entries held (memory store); 0 for Redis. */
size_t greystore_count(const struct greystore *g);

/* greystore_free - save the state file (memory store), answer Redis asks in flight, free. */
void greystore_free(struct greystore *g);

#endif
