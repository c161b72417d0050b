/*
 * floor - the trivial floor server that the policyd benchmark compares policyd with.
 *
 * Usage: policyd-floor inet:HOST:PORT | unix:PATH
 *
 * Answers "action=DUNNO\n\n" to every request without parsing it: it only finds the empty
 * lines that end requests (also across read boundaries) and answers all the requests that
 * one read completed with one write.  Prints "LISTEN <address>" (port 0 resolved) and then
 * "READY" on stdout once listening.  Exits 0 on SIGTERM or SIGINT.
 *
 * Memory: each connection is one malloc'd struct floor_conn, freed only in its close
 * callback.  Reads go into one static buffer: the loop is single-threaded and each read
 * callback consumes its data before it returns.  Replies point into a static block of
 * repeated replies, so a queued write owns only its malloc'd uv_write_t, freed in the write
 * callback.  Untrusted input: everything read from connections.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "endpoint.h"
#include "ends.h"

#define FLOOR_REPLY "action=DUNNO\n\n"
#define FLOOR_REPLY_LEN (sizeof(FLOOR_REPLY) - 1)
#define FLOOR_BLOCK_REPLIES 4096	/* replies in the static block */
#define FLOOR_READ_SIZE 65536		/* at most this many requests end in one read */
#define FLOOR_MAX_BUFS (FLOOR_READ_SIZE / FLOOR_BLOCK_REPLIES + 1)
#define FLOOR_QUEUE_MAX (4u << 20)	/* stop reading while more replies than this wait */
#define FLOOR_BACKLOG 511

struct floor {
	uv_loop_t *loop;
	struct endpoint ep;
	union endpoint_handle listener;
	uv_signal_t sigterm;
	uv_signal_t sigint;
};

struct floor_conn {
	union endpoint_handle h;	/* h.handle.data points back here */
	bool at_line_start;		/* the last byte read ended a line, or none was read (ends.h) */
	int paused;			/* reading stopped until queued replies drain */
};

static char floor_block[FLOOR_BLOCK_REPLIES * FLOOR_REPLY_LEN];
static char floor_rbuf[FLOOR_READ_SIZE];

static void floor_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void floor_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* floor_on_close - free a connection once libuv is done with its handle */
static void floor_on_close(uv_handle_t *handle)
{
	free(handle->data);
}

/* floor_close - start closing a connection, once */
static void floor_close(struct floor_conn *conn)
{
	if (!uv_is_closing(&conn->h.handle))
		uv_close(&conn->h.handle, floor_on_close);
}

/* floor_skip - drop the first n bytes of a buffer list; return the first buffer left */
static unsigned int floor_skip(uv_buf_t *bufs, unsigned int nbufs, size_t n)
{
	unsigned int i = 0;

	while (i < nbufs && n >= bufs[i].len) {
		n -= bufs[i].len;
		i++;
	}
	if (i < nbufs) {
		bufs[i].base += n;
		bufs[i].len -= n;
	}
	return i;
}

/* floor_on_write - a queued write ended: free it, resume reading once drained */
static void floor_on_write(uv_write_t *req, int status)
{
	struct floor_conn *conn = req->handle->data;

	free(req);
	if (status < 0) {
		floor_close(conn);
		return;
	}
	if (conn->paused && conn->h.stream.write_queue_size == 0) {
		conn->paused = 0;
		if (uv_read_start(&conn->h.stream, floor_on_alloc, floor_on_read) != 0)
			floor_close(conn);
	}
}

/* floor_reply - send n replies as one write, queueing what the socket does not take now */
static void floor_reply(struct floor_conn *conn, size_t n)
{
	uv_buf_t bufs[FLOOR_MAX_BUFS];
	unsigned int nbufs = 0, first;
	size_t total = n * FLOOR_REPLY_LEN;
	uv_write_t *req;
	int rc;

	while (n > 0 && nbufs < FLOOR_MAX_BUFS) {
		size_t k = n < FLOOR_BLOCK_REPLIES ? n : FLOOR_BLOCK_REPLIES;

		bufs[nbufs++] = uv_buf_init(floor_block, (unsigned int)(k * FLOOR_REPLY_LEN));
		n -= k;
	}
	rc = uv_try_write(&conn->h.stream, bufs, nbufs);
	if (rc >= 0 && (size_t)rc == total)
		return;
	if (rc < 0 && rc != UV_EAGAIN) {
		floor_close(conn);
		return;
	}
	first = floor_skip(bufs, nbufs, rc < 0 ? 0 : (size_t)rc);
	req = malloc(sizeof(*req));
	if (req == NULL) {
		floor_close(conn);
		return;
	}
	if (uv_write(req, &conn->h.stream, bufs + first, nbufs - first, floor_on_write) != 0) {
		free(req);
		floor_close(conn);
		return;
	}
	if (conn->h.stream.write_queue_size > FLOOR_QUEUE_MAX) {
		(void)uv_read_stop(&conn->h.stream);
		conn->paused = 1;
	}
}

/* floor_on_alloc - hand libuv the shared read buffer */
static void floor_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	(void)suggested;
	buf->base = floor_rbuf;
	buf->len = sizeof(floor_rbuf);
}

/* floor_on_read - answer every request that untrusted data completed */
static void floor_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct floor_conn *conn = stream->data;
	size_t n;

	if (nread < 0) {
		floor_close(conn);
		return;
	}
	if (nread == 0)
		return;		/* "try again", not end of file (HACKING.md, traps) */
	n = request_ends(&conn->at_line_start, buf->base, (size_t)nread);
	if (n > 0)
		floor_reply(conn, n);
}

/* floor_on_connection - accept a client and start reading from it */
static void floor_on_connection(uv_stream_t *server, int status)
{
	struct floor *fl = server->data;
	struct floor_conn *conn;

	if (status < 0) {
		fprintf(stderr, "policyd-floor: accept: %s\n", uv_strerror(status));
		return;
	}
	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		fprintf(stderr, "policyd-floor: out of memory\n");
		exit(1);
	}
	if (endpoint_handle_init(fl->loop, &fl->ep, &conn->h) != 0) {
		free(conn);	/* never a handle: no close callback will come */
		return;
	}
	conn->h.handle.data = conn;
	conn->at_line_start = true;
	if (uv_accept(server, &conn->h.stream) != 0) {
		floor_close(conn);
		return;
	}
	endpoint_tune(&fl->ep, &conn->h);
	if (uv_read_start(&conn->h.stream, floor_on_alloc, floor_on_read) != 0)
		floor_close(conn);
}

/* floor_close_walk - close one handle at shutdown: connections free themselves */
static void floor_close_walk(uv_handle_t *handle, void *arg)
{
	if (uv_is_closing(handle))
		return;
	if (handle->data == arg)
		uv_close(handle, NULL);		/* listener and signals, inside struct floor */
	else
		uv_close(handle, floor_on_close);
}

/* floor_on_signal - SIGTERM or SIGINT: close every handle so uv_run returns */
static void floor_on_signal(uv_signal_t *sig, int signum)
{
	struct floor *fl = sig->data;

	(void)signum;
	uv_walk(fl->loop, floor_close_walk, fl);
}

/* floor_start - listen, catch signals and announce READY */
static int floor_start(struct floor *fl)
{
	char name[ENDPOINT_TEXT_MAX + 16];
	int rc;

	rc = endpoint_handle_init(fl->loop, &fl->ep, &fl->listener);
	if (rc != 0)
		return rc;
	fl->listener.handle.data = fl;
	rc = endpoint_listen(&fl->ep, &fl->listener, FLOOR_BACKLOG, floor_on_connection);
	if (rc == 0)
		rc = endpoint_name(&fl->ep, &fl->listener, name, sizeof(name));
	if (rc != 0)
		return rc;
	uv_signal_init(fl->loop, &fl->sigterm);
	uv_signal_init(fl->loop, &fl->sigint);
	fl->sigterm.data = fl;
	fl->sigint.data = fl;
	uv_signal_start(&fl->sigterm, floor_on_signal, SIGTERM);
	uv_signal_start(&fl->sigint, floor_on_signal, SIGINT);
	printf("LISTEN %s\nREADY\n", name);
	fflush(stdout);
	return 0;
}

/* main - parse the address, serve until a signal, close everything */
int main(int argc, char **argv)
{
	static struct floor fl;
	size_t i;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: policyd-floor inet:HOST:PORT | unix:PATH\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < FLOOR_BLOCK_REPLIES; i++)
		memcpy(floor_block + i * FLOOR_REPLY_LEN, FLOOR_REPLY, FLOOR_REPLY_LEN);
	rc = endpoint_parse(&fl.ep, argv[1]);
	if (rc != 0) {
		fprintf(stderr, "policyd-floor: %s: %s\n", argv[1], uv_strerror(rc));
		return 2;
	}
	fl.loop = uv_default_loop();
	rc = floor_start(&fl);
	if (rc != 0) {
		fprintf(stderr, "policyd-floor: %s: %s\n", fl.ep.text, uv_strerror(rc));
		uv_walk(fl.loop, floor_close_walk, &fl);
		uv_run(fl.loop, UV_RUN_DEFAULT);
		uv_loop_close(fl.loop);
		return 1;
	}
	uv_run(fl.loop, UV_RUN_DEFAULT);
	uv_loop_close(fl.loop);
	return 0;
}
