/*
 * reload - loading the configuration on libuv's thread pool (see reload.h).
 *
 * The pool thread runs config_load and keeps its messages in the struct reload;
 * nothing else is shared with the loop thread until libuv hands the work back.
 * The struct, its messages and a configuration nobody took are freed in loaded().
 */
#include "reload.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

struct reload {
	uv_work_t req;
	const char *path;
	reload_done_fn *done;
	void *arg;
	bool cancelled;
	/* Written by the pool thread, read on the loop thread once it is done. */
	struct config *cfg;
	char *messages[RELOAD_MESSAGES_MAX];
	size_t count;   /* messages kept */
	size_t dropped; /* messages beyond RELOAD_MESSAGES_MAX */
};

/* keep - the loader's callback on the pool thread: keep the message for the loop. */
static void keep(void *ctx, const char *message)
{
	struct reload *r = ctx;

	if (r->count < RELOAD_MESSAGES_MAX && (r->messages[r->count] = strdup(message)) != NULL)
		r->count++;
	else
		r->dropped++;
}

/* load - on a pool thread. */
static void load(uv_work_t *req)
{
	struct reload *r = req->data;

	r->cfg = config_load(r->path, keep, r);
}

/* log_messages - the loader's messages, as log_config_error wrote them on the loop. */
static void log_messages(const struct reload *r)
{
	for (size_t i = 0; i < r->count; i++) {
		if (strstr(r->messages[i], ": warning: ") != NULL)
			log_warn("%s", r->messages[i]);
		else
			log_error("%s", r->messages[i]);
	}
	if (r->dropped > 0)
		log_error(
			"reload: %zu more messages of the configuration not logged (see policyd -t)",
			r->dropped);
}

/* loaded - on the loop thread: log, hand the configuration over, free the rest. */
static void loaded(uv_work_t *req, int status)
{
	struct reload *r = req->data;

	if (!r->cancelled && status == 0) {
		log_messages(r);
		r->done(r->arg, r->cfg);
		r->cfg = NULL;
	}
	if (r->cfg != NULL)
		config_unref(r->cfg);
	for (size_t i = 0; i < r->count; i++)
		free(r->messages[i]);
	free(r);
}

struct reload *reload_start(uv_loop_t *loop, const char *path, reload_done_fn *done, void *arg)
{
	struct reload *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->req.data = r;
	r->path = path;
	r->done = done;
	r->arg = arg;
	if (uv_queue_work(loop, &r->req, load, loaded) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

/* reload_cancel - a load not started yet is dropped by libuv, one running is ignored. */
void reload_cancel(struct reload *r)
{
	if (r == NULL)
		return;
	r->cancelled = true;
	uv_cancel((uv_req_t *)&r->req);
}
