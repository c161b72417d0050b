/*
 * server_internal - state shared by server.c (listeners, accept, shutdown) and
 * conn.c (one client connection). Not used outside the server module.
 */
#ifndef POLICYD_SERVER_INTERNAL_H
#define POLICYD_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "addr.h"
#include "engine.h"
#include "request.h"
#include "server.h"

union stream {
	uv_handle_t handle;
	uv_stream_t stream;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
};

struct listener {
	union stream h;
	struct server *srv;
	bool is_tcp;
	char name[128]; /* for logs */
};

struct conn {
	union stream h;
	uv_timer_t idle_timer;
	struct server *srv;
	struct conn *prev, *next; /* the server's list of open connections */
	int open_handles;         /* freed when this drops to 0 */
	bool closing;
	bool reading;
	bool close_after_write; /* shutdown: close once the replies are written */

	char *in;                 /* bytes read, starting at the current request */
	size_t in_len, in_cap;
	struct request_scanner scan;

	struct reply_slot *queue_head, *queue_tail; /* replies waiting for lookups, in order */
	unsigned queued;
	struct reply_slot *spare; /* handed to the engine; kept while answers come at once */

	char *out;                /* replies waiting to be written */
	size_t out_len, out_cap;
	char *wbuf;               /* replies being written (owned, swapped with out) */
	size_t wbuf_cap;
	bool writing;
	uv_write_t write_req;

	char peer[64];            /* "[192.0.2.1]:1234" or "unix", for logs */
	struct addr peer_addr;    /* TCP peers: checked against [server] allow */
	bool peer_is_ip;
	uint64_t last_read;       /* loop time of the last bytes read, for the idle timeout */
};

struct server {
	uv_loop_t *loop;
	const struct config *cfg;
	struct engine *engine;
	struct listener *listeners;
	size_t listener_count;
	struct conn *conns;        /* open connections */
	unsigned long conn_count;
	bool shutting_down;
	void (*on_done)(void *arg);
	void *done_arg;
	struct request scratch;    /* the parsed request being answered */
	uint64_t last_refusal_log; /* rate limit for "too many connections" */
};

void conn_accept(struct listener *l);
void conn_shutdown(struct conn *c);
void server_conn_closed(struct server *srv);

#endif
