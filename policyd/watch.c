/*
 * watch - re-reading changed local list files (see watch.h).
 *
 * The read runs on libuv's thread pool: read_file_job works only on its struct
 * read_job (a copy of the list's section, the configuration's immutable path, the
 * sets it builds, the first error as text) and logs nothing; read_done, on the
 * loop thread, decides and logs. At most one read is in flight (w->job), which
 * bounds the memory of a reload to one extra copy of one list.
 */
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
	struct look loaded; /* as it was when the set in use was read (or refused) */
	struct look seen;   /* as it was at the last look, when different */
	struct look open;   /* as it was when read with its last line open (no newline) */
	bool pending;       /* it changed; waiting for it to settle */
};

/* One file read on the thread pool, and what came of it. */
struct read_job {
	uv_work_t req;
	struct watch *w;
	struct config *cfg;      /* referenced: the configuration the list belongs to */
	size_t file;             /* index in w->files, valid while w->cfg == cfg */
	struct list_config list; /* shallow copy; the worker reads file, name, type, line */
	struct look look;        /* the look that started the read */
	bool accept_open;        /* it stayed unchanged with its last line open: use it */
	/* Written by the worker, read on the loop thread once it is done. */
	bool ok;
	struct cidr_set *set;
	struct name_set *names;
	unsigned open_line; /* the last line's number when it has no newline */
	unsigned errors;
	char first[400]; /* the first error, "FILE:LINE: message" */
	double ms;       /* how long the read and parse took */
};

struct watch {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct config *cfg; /* referenced */
	struct watched *files;
	size_t count;
	struct read_job *job; /* the read in flight, or NULL */
	bool closing;         /* watch_free was called */
	bool timer_closed;
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

/* age_ms - how long ago a look's file was last modified. */
static long long age_ms(const struct look *l)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (long long)(now.tv_sec - l->mtime.tv_sec) * 1000 +
	       (now.tv_nsec - l->mtime.tv_nsec) / 1000000;
}

/* maybe_free - the watch's memory goes once its timer has closed and no read is out. */
static void maybe_free(struct watch *w)
{
	if (w->closing && w->timer_closed && w->job == NULL)
		free(w);
}

/* note_error - a worker's error callback: count, keep the first; never log here. */
static void note_error(void *ctx, const char *message)
{
	struct read_job *j = ctx;

	if (j->errors++ == 0)
		snprintf(j->first, sizeof(j->first), "%s", message);
}

/* read_file_job - on a pool thread: read and parse the file, nothing else. */
static void read_file_job(uv_work_t *req)
{
	struct read_job *j = req->data;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	j->ok = config_load_list(&j->list, j->cfg->path, &j->set, &j->names, note_error, j,
				 &j->open_line);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	j->ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* job_free - a finished read: its sets (if not swapped in), its reference, itself. */
static void job_free(struct read_job *j)
{
	cidr_set_free(j->set);
	name_set_free(j->names);
	config_unref(j->cfg);
	free(j);
}

/* swap_in - the new set replaces the one in use; the old is freed at once (watch.h). */
static void swap_in(struct list_config *l, struct read_job *j)
{
	if (j->set != NULL) {
		cidr_set_free(l->set);
		l->set = j->set;
		j->set = NULL;
	}
	if (j->names != NULL) {
		name_set_free(l->names);
		l->names = j->names;
		j->names = NULL;
	}
}

/* apply - on the loop thread: wait for an open last line, refuse errors, or swap. */
static void apply(struct watch *w, struct watched *f, struct read_job *j)
{
	struct list_config *l = &w->cfg->rules.lists[f->list];

	if (j->open_line > 0 && !j->accept_open) {
		/* Its writer may not have finished: wait for the next change, or for it to stay. */
		if (!same(&f->open, &j->look))
			log_warn(
				"[list %s]: %s ends in the middle of line %u (still being written?); the list in use stays until the file ends with a newline or stays unchanged for %d s",
				l->name, l->file, j->open_line, WATCH_OPEN_SETTLE_MS / 1000);
		f->open = j->look;
		return;
	}
	f->loaded = j->look; /* a bad file is not read again until it changes */
	if (!j->ok) {
		log_error("[list %s]: %s changed but has errors; the list in use stays: %s%s",
			  l->name, l->file, j->first,
			  j->errors > 1 ? " (and more, see policyd -t)" : "");
		return;
	}
	size_t size = j->set ? cidr_set_size(j->set) : name_set_size(j->names);
	const char *what = j->set ? "address ranges" : "entries";
	swap_in(l, j);
	if (j->open_line > 0)
		log_warn(
			"[list %s]: %s changed; read again (%s: %zu, in %.0f ms), its last line %u without a newline, as the file stayed so for %d s",
			l->name, l->file, what, size, j->ms, j->open_line,
			WATCH_OPEN_SETTLE_MS / 1000);
	else
		log_info("[list %s]: %s changed; read again (%s: %zu, in %.0f ms)", l->name,
			 l->file, what, size, j->ms);
}

/* read_done - on the loop thread: use the result, unless the watch moved on meanwhile. */
static void read_done(uv_work_t *req, int status)
{
	struct read_job *j = req->data;
	struct watch *w = j->w;

	w->job = NULL;
	/* Cancelled at shutdown, shut down since, or reloaded since (the new configuration
	 * read its files itself): the result is of no use. */
	if (status == 0 && !w->closing && j->cfg == w->cfg && j->file < w->count)
		apply(w, &w->files[j->file], j);
	job_free(j);
	maybe_free(w);
}

/* start_read - read file i on the thread pool; false if it cannot start now. */
static bool start_read(struct watch *w, size_t i, const struct look *l, bool accept_open)
{
	struct read_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return false;
	j->req.data = j;
	j->w = w;
	j->cfg = config_ref(w->cfg);
	j->file = i;
	j->list = w->cfg->rules.lists[w->files[i].list];
	j->look = *l;
	j->accept_open = accept_open;
	if (uv_queue_work(w->loop, &j->req, read_file_job, read_done) != 0) {
		job_free(j);
		return false;
	}
	w->job = j;
	log_debug("[list %s]: reading %s on the thread pool", j->list.name, j->list.file);
	return true;
}

/* watch_on_timer - look at every file; read again one that changed and settled. */
static void watch_on_timer(uv_timer_t *t)
{
	struct watch *w = t->data;

	/* One read at a time; the others are looked at again at the next tick. */
	if (w->job != NULL)
		return;
	for (size_t i = 0; i < w->count; i++) {
		struct watched *f = &w->files[i];
		struct look l = look_at(w->cfg->rules.lists[f->list].file);
		if (same(&l, &f->loaded)) {
			f->pending = false;
			continue;
		}
		/* Changed: read it once two looks agree and the last write is old enough; a
		 * file read before with its last line open must stay so for longer. */
		long long age = age_ms(&l);
		bool open = same(&l, &f->open);
		bool settled = f->pending && same(&l, &f->seen) && l.ok && age >= WATCH_SETTLE_MS;
		f->pending = true;
		f->seen = l;
		if (settled && (!open || age >= WATCH_OPEN_SETTLE_MS) && start_read(w, i, &l, open))
			return;
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
	struct watch *w = h->data;

	w->timer_closed = true;
	maybe_free(w);
}

/*
 * watch_free - stop watching. A read not yet started is cancelled; one that runs
 * keeps the loop alive until it ends (libuv counts it as an active request), and
 * read_done then throws its result away and frees the watch.
 */
void watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	w->closing = true;
	free(w->files);
	w->files = NULL;
	w->count = 0;
	config_unref(w->cfg);
	w->cfg = NULL;
	if (w->job != NULL)
		uv_cancel((uv_req_t *)&w->job->req);
	uv_close((uv_handle_t *)&w->timer, closed);
}
