/*
 * server - listeners (unix and TCP, configured or passed in by systemd) and client
 * connections on one libuv loop: reading, request framing, in-order replies,
 * limits, timeouts and graceful shutdown.
 *
 * Memory: the server owns its listeners and connections; each connection owns its
 * buffers and is freed in the close callback of its last handle. The server reads
 * the current struct config through a pointer that main swaps on reload; it never
 * frees a config.
 */
#ifndef POLICYD_SERVER_H
#define POLICYD_SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"

struct server;

struct engine;

/*
 * server_new - bind every listener of cfg (or take systemd's sockets); NULL on
 * error. Requests are decided by the engine, which the caller owns.
 */
struct server *server_new(uv_loop_t *loop, const struct config *cfg, struct engine *engine);

/* server_set_config - use cfg from now on (reload). Listeners stay as they are. */
void server_set_config(struct server *srv, const struct config *cfg);

/* server_start - start accepting. */
int server_start(struct server *srv);

/*
 * server_shutdown - stop accepting, let requests in flight be answered, close
 * connections; done() is called once everything is closed.
 */
void server_shutdown(struct server *srv, void (*done)(void *arg), void *arg);

/* server_abort - close every connection at once (the exit deadline passed). */
void server_abort(struct server *srv);

/* server_free - release the server after shutdown has completed. */
void server_free(struct server *srv);

unsigned long server_connection_count(const struct server *srv);

#endif
