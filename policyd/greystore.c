/*
 * greystore - the greylist stores (see greystore.h): the memory store and its state
 * file here; Redis in redis.c, reached through the same ask.
 *
 * A save copies the map into a buffer on the loop (25 bytes an entry: 25 MB and a
 * few tens of milliseconds for a full million, every save_interval) and writes it on the
 * thread pool, so that the disk never holds the replies. One save runs at a time;
 * the buffer belongs to the save until it comes back.
 *
 * The last save (at exit, or a reload that ends the memory store) is written on the
 * loop, and may meet the periodic save still on the thread pool: both write PATH.tmp.
 * They take turns under one lock, and the last save marks the one in flight
 * superseded first, so that a periodic save that has not started yet never puts an
 * older map over the newer one.
 */
#include "greystore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "log.h"
#include "lru.h"

#define KEY_LEN 17 /* a kind byte ('T' triplet, 'N' network) and 16 bytes of SHA-1 */
#define RECORD_LEN (KEY_LEN + 4 + 4)
#define STATE_MAX_ENTRIES 10000000u

static const char magic[] = "policyd-greylist 1\n";
#define HEADER_LEN (sizeof(magic) - 1 + 4)

struct save {
	uv_work_t req;
	struct greystore *g; /* NULL once the store is gone: the save only frees itself */
	char *path;
	uint8_t *buf;
	size_t len;
	int error;       /* errno of a failed write */
	bool superseded; /* a later save was written on the loop: this one writes nothing */
};

/* Held while a state file is written, by the thread pool or the loop. */
static uv_mutex_t writing;
static uv_once_t writing_once = UV_ONCE_INIT;

static void writing_init(void)
{
	if (uv_mutex_init(&writing) != 0)
		abort(); /* at start, before any save: nothing can run without it */
}

struct greystore {
	uv_loop_t *loop;
	struct lru *map; /* memory store */
	struct redis_store *redis;
	char *state_file; /* memory store: NULL, none */
	uv_timer_t timer; /* saves the state file */
	uint64_t save_interval_ms;
	bool timer_open;
	struct save *saving; /* the save in flight */
	uint8_t seed[16];
};

/* wall_now - seconds of the Unix epoch: the state file outlives the process. */
static uint32_t wall_now(void)
{
	return (uint32_t)time(NULL);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* map_key - the memory store's key: a kind byte and 16 bytes of a SHA-1. */
static void map_key(uint8_t out[KEY_LEN], char kind, const uint8_t *sha1)
{
	out[0] = (uint8_t)kind;
	memcpy(out + 1, sha1, KEY_LEN - 1);
}

/* The state file's buffer while it is filled. */
struct filling {
	uint8_t *buf;
	size_t used, cap;
};

/* add_record - one entry of the map, as lru_each gives it. */
static void add_record(void *arg, const void *key, size_t key_len, void *value, uint32_t expires)
{
	struct filling *f = arg;

	if (key_len != KEY_LEN || f->used + RECORD_LEN > f->cap)
		return;
	memcpy(f->buf + f->used, key, KEY_LEN);
	put32(f->buf + f->used + KEY_LEN, (uint32_t)(uintptr_t)value);
	put32(f->buf + f->used + KEY_LEN + 4, expires);
	f->used += RECORD_LEN;
}

/* snapshot - the whole state file's bytes, in a heap buffer; NULL when out of memory. */
static uint8_t *snapshot(const struct greystore *g, size_t *len)
{
	size_t n = lru_count(g->map);
	struct filling f = { .cap = HEADER_LEN + n * RECORD_LEN + DIGEST_SHA1_LEN };

	if ((f.buf = malloc(f.cap)) == NULL)
		return NULL;
	memcpy(f.buf, magic, sizeof(magic) - 1);
	f.used = HEADER_LEN;
	lru_each(g->map, wall_now(), add_record, &f);
	put32(f.buf + sizeof(magic) - 1, (uint32_t)((f.used - HEADER_LEN) / RECORD_LEN));
	digest_sha1(f.buf, f.used, f.buf + f.used);
	*len = f.used + DIGEST_SHA1_LEN;
	return f.buf;
}

/*
 * write_file - buf into path atomically: PATH.tmp (mode 0600: it says which networks
 * mail us), fsync, rename. Returns 0 or an errno.
 */
static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[4096];
	int fd, err = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno;
	for (size_t off = 0; off < len && err == 0;) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0 && errno != EINTR)
			err = errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (err == 0 && fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
	return err;
}

static void save_work(uv_work_t *req)
{
	struct save *s = req->data;

	uv_mutex_lock(&writing);
	if (!s->superseded)
		s->error = write_file(s->path, s->buf, s->len);
	uv_mutex_unlock(&writing);
}

static void save_done(uv_work_t *req, int status)
{
	struct save *s = req->data;

	(void)status;
	if (s->g != NULL) {
		s->g->saving = NULL;
		if (s->error != 0)
			log_warn("greylist: cannot write %s: %s", s->path, strerror(s->error));
	}
	free(s->buf);
	free(s->path);
	free(s);
}

/* on_save_timer - a save on the thread pool, unless one is still running. */
static void on_save_timer(uv_timer_t *t)
{
	struct greystore *g = t->data;
	struct save *s;

	if (g->saving != NULL || g->state_file == NULL)
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(g->state_file)) == NULL ||
	    (s->buf = snapshot(g, &s->len)) == NULL) {
		if (s != NULL)
			free(s->path);
		free(s);
		log_warn("greylist: out of memory saving %s", g->state_file);
		return;
	}
	s->g = g;
	s->req.data = s;
	if (uv_queue_work(g->loop, &s->req, save_work, save_done) != 0) {
		free(s->buf);
		free(s->path);
		free(s);
		return;
	}
	g->saving = s;
}

/* save_now - at exit, on the loop: the map as it is. */
static void save_now(struct greystore *g)
{
	size_t len;
	uint8_t *buf;
	int err;

	if (g->state_file == NULL || (buf = snapshot(g, &len)) == NULL)
		return;
	/* Waits for a periodic save that is writing; one that has not begun never will. */
	uv_mutex_lock(&writing);
	if (g->saving != NULL)
		g->saving->superseded = true;
	err = write_file(g->state_file, buf, len);
	uv_mutex_unlock(&writing);
	if (err != 0)
		log_warn("greylist: cannot write %s: %s", g->state_file, strerror(err));
	else
		log_info("greylist: %zu entries saved to %s", lru_count(g->map), g->state_file);
	free(buf);
}

/*
 * load - the state file into the map: every check before the first entry goes in,
 * so that a bad file changes nothing. A missing file is the first start.
 */
static void load(struct greystore *g)
{
	size_t len, count;
	uint8_t sum[DIGEST_SHA1_LEN];
	uint32_t now = wall_now();
	uint8_t *buf = (uint8_t *)config_read_file(
		g->state_file,
		HEADER_LEN + (size_t)STATE_MAX_ENTRIES * RECORD_LEN + DIGEST_SHA1_LEN, &len);

	if (buf == NULL) {
		if (errno != ENOENT)
			log_warn("greylist: cannot read %s: %s; starting empty", g->state_file,
				 strerror(errno));
		return;
	}
	if (len < HEADER_LEN + DIGEST_SHA1_LEN || memcmp(buf, magic, sizeof(magic) - 1) != 0) {
		log_warn(
			"greylist: %s is not a policyd greylist state file; ignored (starting empty)",
			g->state_file);
		free(buf);
		return;
	}
	count = get32(buf + sizeof(magic) - 1);
	digest_sha1(buf, len - DIGEST_SHA1_LEN, sum);
	/* The count is checked against the length by division: a product can wrap where
	 * size_t has 32 bits, and a crafted count would then pass. */
	if (count > STATE_MAX_ENTRIES || (len - HEADER_LEN - DIGEST_SHA1_LEN) % RECORD_LEN != 0 ||
	    (len - HEADER_LEN - DIGEST_SHA1_LEN) / RECORD_LEN != count ||
	    memcmp(sum, buf + len - DIGEST_SHA1_LEN, DIGEST_SHA1_LEN) != 0) {
		log_warn("greylist: %s is damaged (cut short or changed); ignored (starting empty)",
			 g->state_file);
		free(buf);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		const uint8_t *r = buf + HEADER_LEN + i * RECORD_LEN;
		uint32_t value = get32(r + KEY_LEN), expires = get32(r + KEY_LEN + 4);
		if ((r[0] != 'T' && r[0] != 'N') || value == 0 || expires <= now)
			continue;
		/* Oldest first: a smaller map keeps the most recent. */
		lru_put(g->map, r, KEY_LEN, (void *)(uintptr_t)value, expires);
	}
	log_info("greylist: %zu entries read from %s", lru_count(g->map), g->state_file);
	free(buf);
}

/* memory_ask - the rules of greylist.h on the map. */
static void memory_ask(struct greystore *g, const struct greylist_rules *r,
		       const struct greylist_key *k, enum greylist_answer *answer,
		       uint32_t *retry_s)
{
	uint32_t now = wall_now();
	uint8_t tkey[KEY_LEN], nkey[KEY_LEN], nsum[DIGEST_SHA1_LEN];
	uint32_t network, triplet;
	struct greylist_step s;

	digest_sha1(k->network, k->network_len, nsum);
	map_key(nkey, 'N', nsum);
	map_key(tkey, 'T', k->triplet);
	network = (uint32_t)(uintptr_t)lru_get(g->map, nkey, KEY_LEN, now);
	if (greylist_network_allowed(r, network)) {
		s.answer = GREYLIST_ALLOWED;
		s.retry_s = 0;
	} else {
		triplet = (uint32_t)(uintptr_t)lru_get(g->map, tkey, KEY_LEN, now);
		s = greylist_triplet_step(r, triplet, now);
		if (s.keep)
			lru_put(g->map, tkey, KEY_LEN, (void *)(uintptr_t)s.value, s.expires);
	}
	*answer = s.answer;
	*retry_s = s.retry_s;
	s = greylist_network_step(r, network, s.answer, now);
	if (s.keep)
		lru_put(g->map, nkey, KEY_LEN, (void *)(uintptr_t)s.value, s.expires);
}

/* open_memory - the map and its saved state. */
static bool open_memory(struct greystore *g, const struct config *cfg)
{
	if ((g->map = lru_new((size_t)cfg->greylist_size, g->seed, NULL)) == NULL) {
		log_error("greylist: cannot allocate a store of %ld entries", cfg->greylist_size);
		return false;
	}
	if (cfg->greylist_state_file != NULL) {
		if ((g->state_file = strdup(cfg->greylist_state_file)) == NULL)
			return false;
		load(g);
	}
	uv_timer_init(g->loop, &g->timer);
	g->timer.data = g;
	g->timer_open = true;
	g->save_interval_ms = cfg->greylist_save_interval_ms;
	uv_timer_start(&g->timer, on_save_timer, g->save_interval_ms, g->save_interval_ms);
	/* The saves do not keep the loop alive: at exit the last save is made on the loop. */
	uv_unref((uv_handle_t *)&g->timer);
	return true;
}

struct greystore *greystore_new(uv_loop_t *loop, const struct config *cfg)
{
	struct greystore *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->loop = loop;
	uv_once(&writing_once, writing_init);
	/* The map's own hash seed: keys are SHA-1 digests, but chains stay unpredictable. */
	if (getrandom(g->seed, sizeof(g->seed), 0) != (ssize_t)sizeof(g->seed))
		log_warn("getrandom failed; the greylist store uses a predictable hash seed");
	if (cfg->greylist_redis) {
		g->redis = redis_store_new(loop, &cfg->greylist_target, &cfg->rules.greylist);
		if (g->redis == NULL) {
			free(g);
			return NULL;
		}
		return g;
	}
	if (!open_memory(g, cfg)) {
		greystore_free(g);
		return NULL;
	}
	return g;
}

bool greystore_same_kind(const struct greystore *g, const struct config *cfg)
{
	return (g->redis != NULL) == cfg->greylist_redis;
}

/* copy_entry - one entry into the new map of a reload that changed the size. */
static void copy_entry(void *arg, const void *key, size_t key_len, void *value, uint32_t expires)
{
	lru_put(arg, key, key_len, value, expires);
}

bool greystore_set_config(struct greystore *g, const struct config *cfg)
{
	if (!greystore_same_kind(g, cfg))
		return false;
	if (g->redis != NULL) {
		redis_store_set(g->redis, &cfg->greylist_target, &cfg->rules.greylist);
		return true;
	}
	if ((size_t)cfg->greylist_size != lru_capacity(g->map)) {
		struct lru *map = lru_new((size_t)cfg->greylist_size, g->seed, NULL);
		if (map == NULL) {
			log_error("greylist: cannot allocate a store of %ld entries; keeping %zu",
				  cfg->greylist_size, lru_capacity(g->map));
			return true;
		}
		lru_each(g->map, wall_now(), copy_entry, map);
		lru_free(g->map);
		g->map = map;
	}
	if (cfg->greylist_save_interval_ms != g->save_interval_ms) {
		g->save_interval_ms = cfg->greylist_save_interval_ms;
		uv_timer_start(&g->timer, on_save_timer, g->save_interval_ms, g->save_interval_ms);
	}
	if ((cfg->greylist_state_file == NULL) != (g->state_file == NULL) ||
	    (g->state_file != NULL && strcmp(g->state_file, cfg->greylist_state_file) != 0)) {
		char *path = cfg->greylist_state_file ? strdup(cfg->greylist_state_file) : NULL;
		if (cfg->greylist_state_file == NULL || path != NULL) {
			free(g->state_file);
			g->state_file = path;
		}
	}
	return true;
}

bool greystore_ask(struct greystore *g, const struct greylist_rules *rules,
		   const struct greylist_key *k, enum greylist_answer *answer, uint32_t *retry_s,
		   redis_done_fn *done, void *arg)
{
	if (g->redis == NULL) {
		memory_ask(g, rules, k, answer, retry_s);
		return true;
	}
	/* Redis applies the rules it was given with the configuration (redis_store_set). */
	if (redis_store_ask(g->redis, k, done, arg))
		return false;
	*answer = GREYLIST_UNAVAILABLE;
	*retry_s = 0;
	return true;
}

bool greystore_waits(const struct greystore *g)
{
	return g->redis != NULL;
}

size_t greystore_count(const struct greystore *g)
{
	return g->map != NULL ? lru_count(g->map) : 0;
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void greystore_free(struct greystore *g)
{
	if (g == NULL)
		return;
	if (g->redis != NULL)
		redis_store_free(g->redis);
	if (g->map != NULL)
		save_now(g);
	if (g->saving != NULL)
		g->saving->g = NULL;
	lru_free(g->map);
	free(g->state_file);
	if (g->timer_open) {
		uv_timer_stop(&g->timer);
		uv_close((uv_handle_t *)&g->timer, timer_closed);
		return;
	}
	free(g);
}
