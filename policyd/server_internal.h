/*
 * server_internal - state shared by server.c (listeners, accept, shutdown) and
 * conn.c (one client connection). Not used outside the server module.
 *
 * Memory bounds (HACKING.md, "Memory"): a connection holds at most CONN_IN_MAX
 * bytes of input, two output buffers of at most CONN_OUT_HIGH + REPLY_MAX bytes,
 * and CONN_QUEUE_MAX queued replies; at most SERVER_WAITING_MAX requests of all
 * connections wait for DNS at once. A connection that reaches a limit is not read
 * until its replies drain (backpressure), so that what a client sends without
 * reading costs it, not the daemon.
 */
#ifndef POLICYD_SERVER_INTERNAL_H
#define POLICYD_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "addr.h"
#include "engine.h"
#include "outbox.h"
#include "request.h"
#include "server.h"

/* The input buffer's first size; a Postfix request is about 600 bytes. */
#define CONN_IN_INITIAL 4096
/* The input buffer's limit: a whole request plus room for what follows it. */
#define CONN_IN_MAX (REQUEST_MAX_SIZE + 4096)
/* Stop taking requests while this much output waits to be written. */
#define CONN_OUT_HIGH (16 * 1024)
/* Stop taking requests while this many replies of one connection are queued. */
#define CONN_QUEUE_MAX 64
/* Requests of all connections that may wait for DNS at once. */
#define SERVER_WAITING_MAX 2048
/* The kernel's send buffer of a connection: Postfix reads each reply before it
 * sends the next request, so a small one costs it nothing, and a client that
 * never reads is held back after a few hundred replies instead of thousands. */
#define CONN_SNDBUF (32 * 1024)
/* Requests one connection may have answered per read: pipelined requests of one
 * client must not delay every other client's answer by more than a slice. libuv
 * reads again in the same turn only while reads fill the buffer (at most 32). */
#define CONN_SLICE 16

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
	struct conn *prev, *next;  /* the server's list of open connections */
	struct conn *stalled_next; /* the server's list of connections waiting for room */
	struct conn *ready_next;   /* the server's list of connections with requests left over */
	bool ready;                /* on that list */
	int open_handles;          /* freed when this drops to 0 */
	bool closing;
	bool reading;
	bool stalled;           /* on the server's stalled list */
	bool close_after_write; /* shutdown or end of input: close once the replies are out */

	char *in; /* bytes read, starting at the current request */
	size_t in_len, in_cap;
	struct request_scanner scan;

	struct reply_slot *queue_head, *queue_tail; /* replies in request order, some not ready */
	unsigned queued;
	struct reply_slot *spare; /* handed to the engine; kept while answers come at once */

	char *out; /* replies waiting to be written */
	size_t out_len, out_cap;
	char *wbuf; /* replies being written (owned, swapped with out) */
	size_t wbuf_cap;
	bool writing;
	uv_write_t write_req;
	struct outbox_entry
		outbox; /* on the server's outbox while replies wait for the turn's end */
	uv_os_fd_t fd;  /* the stream's descriptor, for the outbox's sends */

	char peer[64];         /* "[192.0.2.1]:1234" or "unix", for logs */
	struct addr peer_addr; /* TCP peers: checked against [server] allow */
	bool peer_is_ip;
	uint64_t last_read; /* loop time of the last bytes read, for the idle timeout */
};

struct server {
	uv_loop_t *loop;
	const struct config *cfg;
	struct engine *engine;
	struct listener *listeners;
	size_t listener_count;
	struct conn *conns; /* open connections */
	unsigned long conn_count;
	size_t waiting;                           /* replies of all connections not ready yet */
	struct conn *stalled_head, *stalled_tail; /* waiting for SERVER_WAITING_MAX to have room */
	struct conn *ready_head, *ready_tail; /* with complete requests left over after a slice */
	uv_idle_t ready_idle; /* active while that list is not empty: the loop does not block */
	bool ready_idle_init;
	struct outbox *outbox; /* NULL without io_uring: each connection writes by itself */
	bool shutting_down;
	void (*on_done)(void *arg);
	void *done_arg;
	struct request scratch;      /* the parsed request being answered */
	uint64_t last_refusal_log;   /* rate limit for "too many connections" */
	uint64_t last_accept_log;    /* rate limit for accept errors (descriptors exhausted) */
	unsigned long fd_room;       /* connections the descriptor limit leaves room for */
	unsigned long accept_errors; /* since the last such log line */
};

void conn_accept(struct listener *l);
void conn_shutdown(struct conn *c);
void conn_close(struct conn *c);
/* How the server's outbox asks a connection for its replies and tells it the result. */
extern const struct outbox_calls conn_outbox_calls;
void conn_idle_changed(struct conn *c);
void conn_resume(struct conn *c);
void server_conn_closed(struct server *srv);
void server_resume_stalled(struct server *srv);
void server_add_ready(struct conn *c);
void server_remove_ready(struct conn *c);

#endif
