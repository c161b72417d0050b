/*
 * conn - one client connection: read bytes, frame requests, answer them in order,
 * write the replies in batches, enforce the protocol limits, the memory bounds of
 * conn.h and the idle timeout, and finish what was asked after the client shut
 * down its sending side.
 *
 * Everything a client sends is untrusted. A violation closes this connection only,
 * with a log line that carries the peer and a cleaned excerpt. Memory: a conn owns
 * its input buffer (grown on demand up to CONN_IN_MAX and shrunk again when it
 * empties), two output buffers (one being filled, one being written), its queued
 * replies and its handles; the struct itself belongs to its holder, told by
 * calls->freed when the last of its two handles (stream, idle timer) has closed.
 * A reply the engine still holds when the connection closes is orphaned (owner
 * NULL) and freed when the engine answers it. A connection with replies to send
 * is a member of the outbox until the turn's end (outbox.h); it leaves in
 * conn_close, before it can be freed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "hot.h"
#include "log.h"
#include "stats.h"
#include "text.h"

static void conn_process(struct conn *c);
static void alloc_input(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_input(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* handle_closed - when the last handle has closed, the buffers go and the holder is told. */
static void handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	free(c->spare);
	free(c->in);
	free(c->out);
	free(c->wbuf);
	c->host->calls->freed(c);
}

/* close_handle - close one of the connection's handles unless it is closing already. */
static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, handle_closed);
}

/*
 * conn_close - leave the holder's queues and the outbox, orphan the replies the
 * engine still holds, close both handles; idempotent, and safe on handles that
 * something else (the exit path) already began to close.
 */
void conn_close(struct conn *c)
{
	struct conn_host *host = c->host;

	if (c->closing)
		return;
	c->closing = true;
	/* Before the handle closes the descriptor: a number the kernel hands out again
	 * must not find its old socket registered with the ring. */
	if (host->outbox != NULL)
		outbox_remove(host->outbox, &c->outbox);
	/* Replies still waiting for lookups are orphaned: reply_ready frees them. */
	while (!STAILQ_EMPTY(&c->queue)) {
		struct conn_reply *r = STAILQ_FIRST(&c->queue);
		STAILQ_REMOVE_HEAD(&c->queue, link);
		if (r->ready)
			free(r);
		else
			r->owner = NULL;
	}
	c->queued = 0;
	close_handle(&c->h.handle);
	close_handle((uv_handle_t *)&c->idle_timer);
	host->calls->closed(c);
}

/*
 * log_violation - a protocol error: say who, what, and show a cleaned excerpt; at
 * most a line a second for all connections, with how many were not logged.
 */
static void log_violation(struct conn *c, const char *what, size_t offset)
{
	char excerpt[64];
	size_t start = offset > c->in_len ? c->in_len : offset;
	size_t avail = c->in_len - start;
	unsigned long held;
	char more[64];

	stats.protocol_errors++;
	if (!log_limit_pass(&c->host->violations, uv_now(c->host->loop), &held))
		return;
	text_clean(excerpt, sizeof(excerpt), c->in + start, avail > 40 ? 40 : avail);
	log_warn("%s: protocol error: %s near \"%s\"; closing connection%s", c->peer, what, excerpt,
		 log_held_text(more, sizeof(more), held));
}

/* reserve - make room for n more bytes in a growable buffer. */
static bool reserve(char **buf, size_t *cap, size_t used, size_t n)
{
	if (*cap - used >= n)
		return true;
	size_t ncap = *cap ? *cap : 1024;
	while (ncap - used < n)
		ncap *= 2;
	char *grown = realloc(*buf, ncap);
	if (grown == NULL)
		return false;
	*buf = grown;
	*cap = ncap;
	return true;
}

static void start_write(struct conn *c);

/* drained - nothing more to write, nothing more to come (no request left over either). */
static bool drained(const struct conn *c)
{
	return !c->writing && c->out_len == 0 && STAILQ_EMPTY(&c->queue) && !c->wants_turn;
}

/* moved - output left, or a reply became ready: the connection is not idle. */
static void moved(struct conn *c)
{
	c->last_active = uv_now(c->host->loop);
}

/* write_failed - a write's error (a libuv or negative errno code) ends the connection. */
static void write_failed(struct conn *c, int error)
{
	log_info("%s: write failed: %s; closing connection", c->peer, uv_strerror(error));
	conn_close(c);
}

/*
 * written - a write has finished (or gone to libuv): a connection that was only
 * finishing closes once drained; any other takes more requests, since reading may
 * have stopped at CONN_OUT_HIGH. One that waits for its turn waits like the others.
 */
static void written(struct conn *c)
{
	if (c->writing || c->closing)
		return;
	if (c->close_after_write) {
		if (drained(c))
			conn_close(c);
		return;
	}
	if (!c->wants_turn)
		conn_process(c);
}

/* write_done - the batch is out; send what accumulated meanwhile, or take more requests. */
HOT static void write_done(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = false;
	if (c->closing || uv_is_closing(&c->h.handle))
		return;
	if (status < 0) {
		write_failed(c, status);
		return;
	}
	moved(c);
	/* What accumulated meanwhile may go straight out (start_write tries first):
	 * then nothing is pending and this is the moment to take more requests. */
	if (c->out_len > 0)
		start_write(c);
	written(c);
}

/*
 * queue_rest - libuv writes what is left of the filled buffer after its first done
 * bytes (the socket was full), while the other buffer fills.
 */
static void queue_rest(struct conn *c, size_t done)
{
	char *tmp = c->wbuf;
	size_t tmp_cap = c->wbuf_cap;

	c->wbuf = c->out;
	c->wbuf_cap = c->out_cap;
	uv_buf_t buf = uv_buf_init(c->wbuf + done, (unsigned)(c->out_len - done));
	c->out = tmp;
	c->out_cap = tmp_cap;
	c->out_len = 0;
	c->write_req.data = c;
	int rc = uv_write(&c->write_req, &c->h.stream, &buf, 1, write_done);
	if (rc < 0) {
		write_failed(c, rc);
		return;
	}
	c->writing = true;
}

/*
 * start_write - send the filled buffer now: straight to the socket when it takes it
 * all (the common case), else hand the rest to libuv. Trying first matters: a
 * uv_write that completes at once still costs an epoll_ctl on the next loop turn
 * (libuv 1.44 stops and restarts the watcher), one system call per reply.
 */
HOT static void start_write(struct conn *c)
{
	uv_buf_t buf = uv_buf_init(c->out, (unsigned)c->out_len);
	int rc = uv_try_write(&c->h.stream, &buf, 1);

	if (rc == (int)c->out_len) {
		c->out_len = 0;
		return;
	}
	if (rc < 0 && rc != UV_EAGAIN) {
		write_failed(c, rc);
		return;
	}
	queue_rest(c, rc > 0 ? (size_t)rc : 0);
}

/*
 * send_soon - the replies go out at the end of this loop turn with every other
 * connection's, in one system call (outbox.h); without an outbox, now.
 */
HOT static void send_soon(struct conn *c)
{
	struct outbox *o = c->host->outbox;

	if (o == NULL || !outbox_add(o, &c->outbox))
		start_write(c);
}

/* conn_of_member - the connection an outbox member is embedded in. */
static struct conn *conn_of_member(struct outbox_entry *e)
{
	return (struct conn *)(void *)((char *)e - offsetof(struct conn, outbox));
}

/* lend_output - what the outbox sends for c: the filled buffer, unless libuv writes already. */
HOT static bool lend_output(struct outbox_entry *e, int *fd, const char **buf, size_t *len)
{
	struct conn *c = conn_of_member(e);

	if (c->closing || c->writing || c->out_len == 0)
		return false;
	*fd = c->fd;
	*buf = c->out;
	*len = c->out_len;
	return true;
}

/*
 * lent_output_sent - the outbox wrote result bytes from the start of the filled
 * buffer (or failed with -errno). Replies appended since it was lent, and what the
 * socket did not take, go through libuv; then the connection goes on as after any
 * write.
 */
HOT static void lent_output_sent(struct outbox_entry *e, int result)
{
	struct conn *c = conn_of_member(e);

	if (c->closing)
		return;
	if (result < 0 && result != -EAGAIN) {
		write_failed(c, result);
		return;
	}
	size_t done = result > 0 ? (size_t)result : 0;
	if (done > 0)
		moved(c);
	if (done >= c->out_len)
		c->out_len = 0;
	else
		queue_rest(c, done);
	written(c);
}

const struct outbox_calls conn_outbox_calls = { lend_output, lent_output_sent };

/* append_reply - queue bytes for the next write. */
HOT static bool append_reply(struct conn *c, const struct reply *r)
{
	if (!reserve(&c->out, &c->out_cap, c->out_len, r->len)) {
		log_error("%s: out of memory; closing connection", c->peer);
		return false;
	}
	memcpy(c->out + c->out_len, r->text, r->len);
	c->out_len += r->len;
	return true;
}

/* flush_ready - move the replies at the head of the queue that are ready to the output. */
static bool flush_ready(struct conn *c)
{
	struct conn_reply *r;

	while ((r = STAILQ_FIRST(&c->queue)) != NULL && r->ready) {
		bool ok = append_reply(c, &r->reply);
		STAILQ_REMOVE_HEAD(&c->queue, link);
		c->queued--;
		free(r);
		if (!ok)
			return false;
	}
	return true;
}

/* reply_of - the queue entry that embeds a reply the engine hands back. */
static struct conn_reply *reply_of(struct reply *reply)
{
	return (struct conn_reply *)(void *)((char *)reply - offsetof(struct conn_reply, reply));
}

/*
 * reply_ready - the engine answered a request that waited: it leaves in its turn.
 * One fewer request waits, so the holder may let stalled connections go on.
 */
HOT static void reply_ready(struct reply *reply)
{
	struct conn_reply *r = reply_of(reply);
	struct conn *c = r->owner;
	struct conn_host *host = r->host;

	if (c == NULL) {
		free(r); /* the connection went away meanwhile; its room is still room */
		host->calls->room(host);
		return;
	}
	r->ready = true;
	moved(c);
	if (r == STAILQ_FIRST(&c->queue)) {
		if (!flush_ready(c)) {
			conn_close(c);
		} else if (!c->close_after_write) {
			conn_process(c); /* writes, and reads again if the queue had stopped it */
		} else {
			if (c->out_len > 0 && !c->writing)
				start_write(c);
			if (!c->closing && drained(c))
				conn_close(c);
		}
	}
	host->calls->room(host);
}

/*
 * take_request - have the engine decide the request parsed into the host's scratch.
 * An answer that comes at once goes straight to the output unless earlier replies
 * still wait; otherwise the reply joins the queue so that replies leave in request
 * order.
 */
static bool take_request(struct conn *c)
{
	struct conn_host *host = c->host;

	if (c->spare == NULL && (c->spare = malloc(sizeof(*c->spare))) == NULL) {
		log_error("%s: out of memory; closing connection", c->peer);
		return false;
	}
	stats.requests++;
	struct conn_reply *r = c->spare;
	enum engine_outcome outcome =
		engine_decide(host->engine, host->scratch, &r->reply, reply_ready);
	if (outcome == ENGINE_ANSWERED && STAILQ_EMPTY(&c->queue))
		return append_reply(c, &r->reply);
	r->owner = c;
	r->host = host;
	r->ready = outcome == ENGINE_ANSWERED;
	c->spare = NULL;
	STAILQ_INSERT_TAIL(&c->queue, r, link);
	c->queued++;
	return true;
}

/* set_reading - read only while the limits leave room (backpressure). */
static void set_reading(struct conn *c, bool on)
{
	if (on == c->reading || c->closing)
		return;
	if (on)
		uv_read_start(&c->h.stream, alloc_input, read_input);
	else
		uv_read_stop(&c->h.stream);
	c->reading = on;
}

/* waiting_full - CONN_WAITING_MAX requests of all connections wait for DNS. */
static bool waiting_full(const struct conn *c)
{
	return engine_waiting(c->host->engine) >= CONN_WAITING_MAX;
}

/*
 * room - whether this connection may take one more request now. The server-wide
 * cap only holds back connections that already have replies queued, so that a
 * well-behaved client is never made to wait for others' lookups; the total stays
 * bounded by CONN_WAITING_MAX plus one request per connection.
 */
static bool room(const struct conn *c)
{
	return c->out_len < CONN_OUT_HIGH && c->queued < CONN_QUEUE_MAX &&
	       (c->queued == 0 || !waiting_full(c));
}

/* shrink_input - give back a large input buffer once it is empty again. */
static void shrink_input(struct conn *c)
{
	if (c->in_len == 0 && c->in_cap > CONN_IN_INITIAL) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/*
 * conn_process - answer the complete requests in the input buffer while the limits
 * leave room, keep the rest at the front of the buffer, and write the replies in
 * one batch.
 */
HOT static void conn_process(struct conn *c)
{
	struct request *scratch = c->host->scratch;
	size_t consumed = 0;
	unsigned answered = 0;

	while (!c->closing && room(c)) {
		if (answered == CONN_SLICE) {
			/* The rest on a later turn, after the other clients had theirs. */
			if (!c->wants_turn) {
				c->wants_turn = true;
				c->host->calls->ready(c);
			}
			break;
		}
		const char *err = NULL, *start = c->in + consumed;
		size_t err_offset = 0, request_len = 0, avail = c->in_len - consumed;
		if (avail == 0)
			break;
		/* Most requests arrive whole: one pass finds and indexes them. */
		if (c->scan.pos > 0 || !request_parse_whole(scratch, start, avail, &request_len)) {
			enum request_scan r = request_scan(&c->scan, start, avail, &request_len,
							   &err, &err_offset);
			if (r == REQUEST_INCOMPLETE)
				break;
			if (r == REQUEST_INVALID) {
				log_violation(c, err, consumed + err_offset);
				conn_close(c);
				return;
			}
			request_parse(scratch, start, request_len);
		}
		if (!take_request(c)) {
			conn_close(c);
			return;
		}
		memset(&c->scan, 0, sizeof(c->scan));
		consumed += request_len;
		answered++;
	}
	if (c->closing)
		return;
	if (consumed > 0) {
		memmove(c->in, c->in + consumed, c->in_len - consumed);
		c->in_len -= consumed;
		shrink_input(c);
	}
	if (c->out_len > 0 && !c->writing)
		send_soon(c);
	if (!room(c) && c->queued > 0 && waiting_full(c))
		c->host->calls->stall(c);
	/* Read more only when what is here has been taken: the buffer is bounded. */
	set_reading(c, room(c) && !c->wants_turn && !c->close_after_write);
	if (c->close_after_write && drained(c))
		conn_close(c);
}

/* alloc_input - give libuv the free end of the input buffer, growing it if needed. */
static void alloc_input(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	if (c->in_cap - c->in_len < 1024 && c->in_cap < CONN_IN_MAX) {
		size_t ncap = c->in_cap ? c->in_cap * 2 : CONN_IN_INITIAL;
		if (ncap > CONN_IN_MAX)
			ncap = CONN_IN_MAX;
		char *grown = realloc(c->in, ncap);
		if (grown != NULL) {
			c->in = grown;
			c->in_cap = ncap;
		}
	}
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

/*
 * end_of_input - the client shut down its sending side (nc -q, shutdown(SHUT_WR)):
 * every request it sent is answered, the replies are written, then the connection
 * closes. A partial request at the end is logged and dropped.
 */
static void end_of_input(struct conn *c)
{
	set_reading(c, false);
	if (c->in_len > 0)
		log_info("%s: disconnected in the middle of a request", c->peer);
	c->in_len = 0;
	c->close_after_write = true;
	if (drained(c))
		conn_close(c);
}

/* read_input - new bytes: restart the idle clock and answer what is complete. */
HOT static void read_input(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (nread == 0)
		return; /* EAGAIN, not EOF (HACKING.md, traps) */
	if (nread == UV_EOF) {
		end_of_input(c);
		return;
	}
	if (nread < 0) {
		if (nread != UV_ECONNRESET)
			log_info("%s: read failed: %s; closing connection", c->peer,
				 uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	if (c->in_len + (size_t)nread > c->in_cap) {
		conn_close(c); /* cannot happen: libuv reads into the room we gave */
		return;
	}
	c->in_len += (size_t)nread;
	/* The idle timer is re-armed lazily when it fires: no timer work per read. */
	moved(c);
	conn_process(c);
}

/* owed - a reply the engine has not answered yet: it ends by request_timeout. */
static bool owed(const struct conn *c)
{
	const struct conn_reply *r;

	STAILQ_FOREACH(r, &c->queue, link)
		if (!r->ready)
			return true;
	return false;
}

/*
 * idle_timeout - nothing moved for idle_timeout: no bytes read, no reply made ready,
 * no bytes written. A connection whose replies wait for the engine is not idle
 * (they end by request_timeout); one whose output has not moved is a client that
 * does not read, and closes like an idle one.
 */
static void idle_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	uint64_t idle = c->host->cfg->idle_timeout_ms;
	uint64_t quiet = uv_now(c->host->loop) - c->last_active;

	/* idle_timeout = 0 (a reload may set it): no limit. */
	if (idle == 0)
		return;
	if (quiet < idle || owed(c)) {
		uv_timer_start(&c->idle_timer, idle_timeout, quiet < idle ? idle - quiet : idle, 0);
		return;
	}
	stats.idle_timeouts++;
	if (c->writing || c->out_len > 0)
		log_warn(
			"%s: timeout: the client has not read its replies (%zu bytes waiting); closing connection",
			c->peer, c->out_len);
	else if (c->in_len > 0)
		log_warn("%s: timeout with an incomplete request (%zu bytes); closing connection",
			 c->peer, c->in_len);
	else
		log_info("%s: idle timeout; closing connection", c->peer);
	conn_close(c);
}

/* conn_idle_changed - a reload changed idle_timeout: every connection follows the new value. */
void conn_idle_changed(struct conn *c)
{
	uint64_t idle = c->host->cfg->idle_timeout_ms;

	if (c->closing)
		return;
	if (idle == 0)
		uv_timer_stop(&c->idle_timer);
	else if (!uv_is_active((uv_handle_t *)&c->idle_timer))
		uv_timer_start(&c->idle_timer, idle_timeout, idle, 0);
}

/* conn_init - the handles, so that the holder can accept into the stream. */
void conn_init(struct conn *c, struct conn_host *host, bool is_tcp)
{
	c->host = host;
	STAILQ_INIT(&c->queue);
	if (is_tcp)
		uv_tcp_init(host->loop, &c->h.tcp);
	else
		uv_pipe_init(host->loop, &c->h.pipe, 0);
	uv_timer_init(host->loop, &c->idle_timer);
	c->h.handle.data = c;
	c->idle_timer.data = c;
	c->open_handles = 2;
	snprintf(c->peer, sizeof(c->peer), is_tcp ? "[unknown peer]" : "unix");
}

/* conn_stream - the connection's stream. */
uv_stream_t *conn_stream(struct conn *c)
{
	return &c->h.stream;
}

/* conn_refuse - close at once; the holder hears calls->freed, not calls->closed. */
void conn_refuse(struct conn *c)
{
	c->closing = true;
	uv_close(&c->h.handle, handle_closed);
	uv_close((uv_handle_t *)&c->idle_timer, handle_closed);
}

/* conn_start - an accepted connection that may be served: read it. */
void conn_start(struct conn *c, const char *peer)
{
	struct conn_host *host = c->host;

	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (c->h.handle.type == UV_TCP)
		uv_tcp_nodelay(&c->h.tcp, 1);
	uv_fileno(&c->h.handle, &c->fd); /* for the outbox; cannot fail on an accepted stream */
	if (host->outbox != NULL)
		outbox_attach(host->outbox, &c->outbox, c->fd);
	int sndbuf = CONN_SNDBUF;
	uv_send_buffer_size(&c->h.handle, &sndbuf);
	c->last_active = uv_now(host->loop);
	if (host->cfg->idle_timeout_ms > 0)
		uv_timer_start(&c->idle_timer, idle_timeout, host->cfg->idle_timeout_ms, 0);
	set_reading(c, true);
}

/* conn_turn - the holder gives the turn asked for: the next slice. */
void conn_turn(struct conn *c)
{
	c->wants_turn = false;
	if (!c->closing)
		conn_process(c);
}

/* conn_resume - the holder made room: take the requests in the buffer. */
void conn_resume(struct conn *c)
{
	if (!c->closing)
		conn_process(c);
}

/*
 * conn_shutdown - the daemon is stopping: stop reading, let the replies already
 * queued be written, then close.
 */
void conn_shutdown(struct conn *c)
{
	set_reading(c, false);
	c->close_after_write = true;
	if (drained(c))
		conn_close(c);
}
