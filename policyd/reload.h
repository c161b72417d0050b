/*
 * reload - the configuration loaded again (SIGHUP) on libuv's thread pool, so that
 * reading large local list files does not hold the replies of the event loop (a
 * 33.8 MB list held them for 230 ms when the loader ran on the loop).
 *
 * config_load is a function of the files it reads and logs nothing; on the pool
 * thread its errors and warnings are kept (the first RELOAD_MESSAGES_MAX of them,
 * then a count), and logged on the loop thread when the load is done, before the
 * callback hears of the result. Only one reload runs at a time: the caller asks for
 * another when the first is done.
 *
 * Memory: a struct reload belongs to this module from reload_start until its work
 * comes back; the configuration handed to the callback belongs to the callback.
 * reload_cancel makes the callback never come; the memory (and a configuration
 * loaded in vain) is freed when the work comes back, which libuv waits for in the
 * loop's last run.
 */
#ifndef POLICYD_RELOAD_H
#define POLICYD_RELOAD_H

#include <uv.h>

#include "config.h"

/* The loader's messages one reload logs at most; a count says how many more there were. */
#define RELOAD_MESSAGES_MAX 100

struct reload;

/* reload_done_fn - on the loop thread: the new configuration, or NULL when it failed. */
typedef void reload_done_fn(void *arg, struct config *cfg);

/*
 * reload_start - load the file at path on the thread pool. Returns the reload in
 * flight, or NULL (out of memory: then done is never called, as libuv's rule goes).
 * path must stay valid until done is called or the reload is cancelled.
 */
struct reload *reload_start(uv_loop_t *loop, const char *path, reload_done_fn *done, void *arg);

/* reload_cancel - done will not be called; NULL is allowed. */
void reload_cancel(struct reload *r);

#endif
