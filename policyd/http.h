/*
 * http - the optional HTTP listener of [http] listen: the help page for refused
 * senders (GET / and /blacklisted.html, with ?ip=&list=&domain=), its style sheet
 * and logo, and /metrics for the peers of metrics_allow.
 *
 * libmicrohttpd does the HTTP; it runs on the daemon's libuv loop without threads:
 * one MHD daemon per listen address in "external epoll" mode, whose epoll
 * descriptor a uv_poll watches (MHD_run when it is readable) and whose next
 * timeout a uv_timer keeps (MHD_get_timeout). Connections are bounded in number,
 * per client address, in memory and in idle time, so a slow or hostile HTTP
 * client costs the policy sockets nothing but the loop time MHD spends on it.
 * The page reads the engine's live configuration on every request; the web
 * never causes a DNS query.
 *
 * Memory: struct http owns its listeners, its MHD daemons and the loaded help
 * page. Responses are copies handed to MHD, which frees them.
 */
#ifndef POLICYD_HTTP_H
#define POLICYD_HTTP_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "page.h"

struct engine;
struct http;

/*
 * http_metrics_fn - append the Prometheus text of /metrics to out. main serves
 * metrics.c's counters through it; until one is set, /metrics says policyd_up 1.
 */
typedef void http_metrics_fn(void *arg, struct page_buf *out);

/*
 * http_new - bind every [http] listen address of cfg (before privileges are
 * dropped) and load the help page from [http] help_dir. NULL on error, logged.
 * Serving starts when the loop runs.
 */
struct http *http_new(uv_loop_t *loop, const struct config *cfg, struct engine *engine);

/*
 * http_connection_limit - the connections each HTTP listener of cfg accepts:
 * [http] max_connections, but all of them together at most a quarter of the
 * descriptor limit, so that web clients can never take the descriptors Postfix's
 * connections need. The policy listeners reserve this many per listener.
 */
unsigned long http_connection_limit(const struct config *cfg);

/* http_set_metrics - what /metrics serves from now on. */
void http_set_metrics(struct http *h, http_metrics_fn *fn, void *arg);

/*
 * http_reload - a SIGHUP: load the help page of next's help_dir again (a broken
 * one is logged and the old page stays). Listen addresses stay as they are.
 */
void http_reload(struct http *h, const struct config *next);

/* http_listen_equal - the same [http] listen lines: otherwise a restart is needed. */
bool http_listen_equal(const struct config *a, const struct config *b);

/* http_shutdown - stop accepting; connections in flight go on until http_free. */
void http_shutdown(struct http *h);

/*
 * http_free - close every connection and release everything. The loop must have
 * run the close callbacks of the handles first (uv_walk + uv_run at exit).
 */
void http_free(struct http *h);

#endif
