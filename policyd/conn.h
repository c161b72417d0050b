/*
 * conn - one client connection: reading, request framing, in-order replies,
 * backpressure, the idle timeout, and finishing what was asked after the client
 * shut down its sending side.
 *
 * A connection knows nothing of listeners or of other connections. What it needs
 * of the server that holds it comes through struct conn_host: the loop, the
 * configuration in force, the engine, the outbox, the one request that every
 * request is parsed into, and the calls that schedule it (conn_calls). Calls go
 * one way across this seam: the server calls conn_*; a connection answers only
 * through the host's calls, never by naming the server.
 *
 * Rules: conn_init() may be followed by conn_start() (serve) or conn_refuse()
 * (close at once). Once closing, the connection calls calls->closed exactly once,
 * then calls->freed exactly once after its handles have closed; its holder frees
 * the memory that embeds it only then.
 *
 * Memory bounds (HACKING.md, "Memory"): a connection holds at most CONN_IN_MAX
 * bytes of input, two output buffers of at most CONN_OUT_HIGH + REPLY_MAX bytes,
 * and CONN_QUEUE_MAX queued replies; at most CONN_WAITING_MAX requests of all
 * connections wait for DNS at once (the engine counts them), plus one per
 * connection that has none waiting. A connection that reaches a limit is not read
 * until its replies drain, so that what a client sends without reading costs it,
 * not the daemon.
 */
#ifndef POLICYD_CONN_H
#define POLICYD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "outbox.h"
#include "request.h"

/* The input buffer's first size; a Postfix request is about 600 bytes. */
#define CONN_IN_INITIAL 4096
/* The input buffer's limit: a whole request plus room for what follows it. */
#define CONN_IN_MAX (REQUEST_MAX_SIZE + 4096)
/* Stop taking requests while this much output waits to be written. */
#define CONN_OUT_HIGH (16 * 1024)
/* Stop taking requests while this many replies of one connection are queued. */
#define CONN_QUEUE_MAX 64
/* Requests of all connections that may wait for DNS at once (engine_waiting). */
#define CONN_WAITING_MAX 2048
/* The kernel's send buffer of a connection: Postfix reads each reply before it
 * sends the next request, so a small one costs it nothing, and a client that
 * never reads is held back after a few hundred replies instead of thousands. */
#define CONN_SNDBUF (32 * 1024)
/* Requests one connection may have answered per read: pipelined requests of one
 * client must not delay every other client's answer by more than a slice. libuv
 * reads again in the same turn only while reads fill the buffer (at most 32). */
#define CONN_SLICE 16

struct conn;
struct conn_host;

/* How a connection asks its holder to schedule it. */
struct conn_calls {
	/* stall - c may take no more requests until fewer than CONN_WAITING_MAX wait:
	 * call conn_resume(c) when a request has left the engine. */
	void (*stall)(struct conn *c);
	/* ready - c has complete requests left after its slice: call conn_turn(c) on a
	 * later loop turn. */
	void (*ready)(struct conn *c);
	/* room - a request that waited for DNS has been answered. */
	void (*room)(struct conn_host *h);
	/* closed - c is closing: it must be scheduled no more. */
	void (*closed)(struct conn *c);
	/* freed - c's handles have closed: the memory that holds it may go. */
	void (*freed)(struct conn *c);
};

/* What connections share: owned by their holder, which outlives them. */
struct conn_host {
	uv_loop_t *loop;
	const struct config *cfg; /* in force; the holder swaps it on reload */
	struct engine *engine;
	struct outbox *outbox;   /* NULL without io_uring: each connection writes by itself */
	struct request *scratch; /* the request being answered, parsed in place */
	const struct conn_calls *calls;
	struct log_limit violations; /* protocol errors: a line a second for all connections */
};

union conn_stream {
	uv_handle_t handle;
	uv_stream_t stream;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
};

/* A reply in the connection's queue: the engine writes `reply`, the rest is ours. */
struct conn_reply {
	STAILQ_ENTRY(conn_reply) link; /* the connection's queue, in request order */
	struct conn *owner;            /* NULL once the connection has gone: freed when answered */
	struct conn_host *host;        /* told of the room an answer makes, owner or not */
	bool ready;
	struct reply reply;
};

STAILQ_HEAD(conn_replies, conn_reply);

/* One connection. Its fields are conn.c's; others read peer names only. */
struct conn {
	union conn_stream h;
	uv_timer_t idle_timer;
	struct conn_host *host;
	int open_handles; /* the calls->freed call comes when this drops to 0 */
	bool closing;
	bool reading;
	bool wants_turn;        /* asked for a later slice (calls->ready), not yet given */
	bool close_after_write; /* shutdown or end of input: close once the replies are out */

	char *in; /* bytes read, starting at the current request */
	size_t in_len, in_cap;
	struct request_scanner scan;

	struct conn_replies queue; /* replies in request order, some not ready */
	unsigned queued;
	struct conn_reply *spare; /* handed to the engine; kept while answers come at once */

	char *out; /* replies waiting to be written */
	size_t out_len, out_cap;
	char *wbuf; /* replies being written (owned, swapped with out) */
	size_t wbuf_cap;
	bool writing;
	uv_write_t write_req;
	struct outbox_entry outbox; /* on the outbox while replies wait for the turn's end */
	uv_os_fd_t fd;              /* the stream's descriptor, for the outbox's sends */

	char peer[64];        /* "[192.0.2.1]:1234" or "unix", for logs */
	uint64_t last_active; /* loop time of the last bytes read or written, for idling */
};

/* conn_init - set up c's handles on host's loop, for a TCP or a unix stream. */
void conn_init(struct conn *c, struct conn_host *host, bool is_tcp);

/* conn_stream - the stream to accept into, and to ask for the peer's address. */
uv_stream_t *conn_stream(struct conn *c);

/* conn_start - serve an accepted connection; peer is its name for logs. */
void conn_start(struct conn *c, const char *peer);

/* conn_refuse - close a connection that may not be served (calls->freed follows). */
void conn_refuse(struct conn *c);

/* conn_turn - the turn asked for with calls->ready: answer the next slice. */
void conn_turn(struct conn *c);

/* conn_resume - room was made under CONN_WAITING_MAX: take waiting requests. */
void conn_resume(struct conn *c);

/* conn_idle_changed - a reload changed idle_timeout: follow the new value. */
void conn_idle_changed(struct conn *c);

/* conn_shutdown - stop reading, write what is queued, then close. */
void conn_shutdown(struct conn *c);

/* conn_close - close now, replies or not; idempotent. */
void conn_close(struct conn *c);

/* How the outbox asks a connection for its replies and tells it the result. */
extern const struct outbox_calls conn_outbox_calls;

#endif
