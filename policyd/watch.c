/*
 * watch - re-reading changed local list files (see watch.h).
 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "log.h"
#include "nameset.h"

/* What a file looked like: enough to see that it changed. */
struct look {
	bool ok;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct watched {
	size_t list;        /* index in the configuration's lists */
	struct look loaded; /* as it was when the set in use was read */
	struct look seen;   /* as it was at the last look, when different */
	bool pending;       /* it changed; waiting for it to settle */
};

struct watch {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct config *cfg; /* referenced */
	struct watched *files;
	size_t count;
};

/* look_at - stat a file (following a symlink, as the loader's open does). */
static struct look look_at(const char *path)
{
	struct stat st;
	struct look l = { 0 };

	if (stat(path, &st) != 0)
		return l;
	l.ok = true;
	l.dev = st.st_dev;
	l.ino = st.st_ino;
	l.size = st.st_size;
	l.mtime = st.st_mtim;
	return l;
}

static bool same(const struct look *a, const struct look *b)
{
	return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* log_list_error - a bad line of a changed file: the running list stays. */
static void log_list_error(void *ctx, const char *message)
{
	(void)ctx;
	log_error("%s", message);
}

/* reload - read the file again; swap the set in only when it read without errors. */
static void reload(struct watch *w, struct watched *f)
{
	struct list_config *l = &w->cfg->rules.lists[f->list];
	struct cidr_set *set = NULL;
	struct name_set *names = NULL;

	if (!config_load_list(l, w->cfg->path, &set, &names, log_list_error, NULL)) {
		log_error("[list %s]: %s changed but has errors; the list in use stays", l->name,
			  l->file);
		f->loaded = f->seen; /* do not read the same bad file every turn */
		return;
	}
	if (set != NULL) {
		cidr_set_free(l->set);
		l->set = set;
	}
	if (names != NULL) {
		name_set_free(l->names);
		l->names = names;
	}
	f->loaded = f->seen;
	log_info("[list %s]: %s changed; read again (%s: %zu)", l->name, l->file,
		 set ? "address ranges" : "entries",
		 set ? cidr_set_size(set) : name_set_size(names));
}

/* watch_on_timer - look at every file; read again those that changed and settled. */
static void watch_on_timer(uv_timer_t *t)
{
	struct watch *w = t->data;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < w->count; i++) {
		struct watched *f = &w->files[i];
		struct look l = look_at(w->cfg->rules.lists[f->list].file);
		if (same(&l, &f->loaded)) {
			f->pending = false;
			continue;
		}
		/* Changed: read it once two looks agree and the last write is old enough. */
		long long age_ms = (long long)(now.tv_sec - l.mtime.tv_sec) * 1000 +
				   (now.tv_nsec - l.mtime.tv_nsec) / 1000000;
		if (f->pending && same(&l, &f->seen) && l.ok && age_ms >= WATCH_SETTLE_MS)
			reload(w, f);
		else
			f->pending = true;
		f->seen = l;
	}
}

struct watch *watch_new(uv_loop_t *loop)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->loop = loop;
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	return w;
}

/* watch_set - one record per local list, as its file is now. */
void watch_set(struct watch *w, struct config *cfg)
{
	const struct rules *r = &cfg->rules;

	free(w->files);
	w->files = NULL;
	w->count = 0;
	if (w->cfg)
		config_unref(w->cfg);
	w->cfg = config_ref(cfg);
	w->files = calloc(r->list_count ? r->list_count : 1, sizeof(*w->files));
	for (size_t i = 0; w->files != NULL && i < r->list_count; i++) {
		if (r->lists[i].kind != LIST_LOCAL || r->lists[i].file == NULL)
			continue;
		w->files[w->count].list = i;
		w->files[w->count].loaded = look_at(r->lists[i].file);
		w->count++;
	}
	if (w->count > 0) {
		uv_timer_start(&w->timer, watch_on_timer, WATCH_INTERVAL_MS, WATCH_INTERVAL_MS);
		uv_unref((uv_handle_t *)&w->timer);
	} else {
		uv_timer_stop(&w->timer);
	}
}

static void closed(uv_handle_t *h)
{
	free(h->data);
}

void watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	free(w->files);
	config_unref(w->cfg);
	uv_close((uv_handle_t *)&w->timer, closed);
}
