/*
 * conn - one client connection: read bytes, frame requests, answer them in order,
 * write the replies in batches, enforce the protocol limits, the memory bounds of
 * server_internal.h and the idle timeout, and finish what was asked after the
 * client shut down its sending side.
 *
 * Everything a client sends is untrusted. A violation closes this connection only,
 * with a log line that carries the peer and a cleaned excerpt. Memory: a conn owns
 * its input buffer (grown on demand up to CONN_IN_MAX and shrunk again when it
 * empties), two output buffers (one being filled, one being written), its queued
 * reply slots and its handles; it is freed when the last of its two handles
 * (stream, idle timer) has closed. A slot the engine still holds when the
 * connection closes is orphaned (owner NULL) and freed by the engine's callback.
 * A connection with replies to send is a member of the server's outbox until the
 * turn's end (outbox.h); it leaves in conn_close, before it can be freed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "hot.h"
#include "log.h"
#include "server_internal.h"
#include "stats.h"
#include "text.h"

static void conn_process(struct conn *c);
static void alloc_input(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_input(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* handle_closed - free the connection when its last handle has closed. */
static void handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	free(c->spare);
	free(c->in);
	free(c->out);
	free(c->wbuf);
	free(c);
}

/* close_handle - close one of the connection's handles unless it is closing already. */
static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, handle_closed);
}

/* unstall - take the connection off the server's list of those waiting for room. */
static void unstall(struct conn *c)
{
	struct server *srv = c->srv;
	struct conn **p = &srv->stalled_head, *prev = NULL;

	if (!c->stalled)
		return;
	while (*p != NULL && *p != c) {
		prev = *p;
		p = &(*p)->stalled_next;
	}
	if (*p == c) {
		*p = c->stalled_next;
		if (srv->stalled_tail == c)
			srv->stalled_tail = prev;
	}
	c->stalled = false;
	c->stalled_next = NULL;
}

/*
 * conn_close - unlink from the server and close both handles; idempotent, and safe
 * on handles that something else (the exit path) already began to close.
 */
void conn_close(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	unstall(c);
	server_remove_ready(c);
	if (srv->outbox != NULL)
		outbox_remove(srv->outbox, &c->outbox);
	/* Replies still waiting for lookups are orphaned: the engine's callback frees them. */
	for (struct reply_slot *r = c->queue_head, *next; r != NULL; r = next) {
		next = r->next;
		if (r->ready) {
			free(r);
		} else {
			r->owner = NULL;
		}
	}
	c->queue_head = c->queue_tail = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close_handle(&c->h.handle);
	close_handle((uv_handle_t *)&c->idle_timer);
	server_conn_closed(srv);
}

/* log_violation - a protocol error: say who, what, and show a cleaned excerpt. */
static void log_violation(struct conn *c, const char *what, size_t offset)
{
	char excerpt[64];
	size_t start = offset > c->in_len ? c->in_len : offset;
	size_t avail = c->in_len - start;

	text_clean(excerpt, sizeof(excerpt), c->in + start, avail > 40 ? 40 : avail);
	log_warn("%s: protocol error: %s near \"%s\"; closing connection", c->peer, what, excerpt);
	stats.protocol_errors++;
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
	return !c->writing && c->out_len == 0 && c->queue_head == NULL && !c->ready;
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
 * have stopped at CONN_OUT_HIGH. One on the ready list waits for its next slice
 * like the others.
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
	if (!c->ready)
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
	if (c->srv->outbox == NULL || !outbox_add(c->srv->outbox, &c->outbox))
		start_write(c);
}

/* conn_of - the connection an outbox member is embedded in. */
static struct conn *conn_of(struct outbox_entry *e)
{
	return (struct conn *)(void *)((char *)e - offsetof(struct conn, outbox));
}

/* outbox_take - what the outbox sends for c: the filled buffer, unless libuv writes already. */
HOT static bool outbox_take(struct outbox_entry *e, int *fd, const char **buf, size_t *len)
{
	struct conn *c = conn_of(e);

	if (c->closing || c->writing || c->out_len == 0)
		return false;
	*fd = c->fd;
	*buf = c->out;
	*len = c->out_len;
	return true;
}

/*
 * outbox_sent - the outbox wrote result bytes from the start of the filled buffer (or
 * failed with -errno). Replies appended since it was taken, and what the socket did
 * not take, go through libuv; then the connection goes on as after any write.
 */
HOT static void outbox_sent(struct outbox_entry *e, int result)
{
	struct conn *c = conn_of(e);

	if (c->closing)
		return;
	if (result < 0 && result != -EAGAIN) {
		write_failed(c, result);
		return;
	}
	size_t done = result > 0 ? (size_t)result : 0;
	if (done >= c->out_len)
		c->out_len = 0;
	else
		queue_rest(c, done);
	written(c);
}

const struct outbox_calls conn_outbox_calls = { outbox_take, outbox_sent };

/* append_reply - queue bytes for the next write. */
HOT static bool append_reply(struct conn *c, const char *text, size_t len)
{
	if (!reserve(&c->out, &c->out_cap, c->out_len, len)) {
		log_error("%s: out of memory; closing connection", c->peer);
		return false;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	return true;
}

/* flush_ready - move the replies at the head of the queue that are ready to the output. */
static bool flush_ready(struct conn *c)
{
	while (c->queue_head != NULL && c->queue_head->ready) {
		struct reply_slot *r = c->queue_head;
		bool ok = append_reply(c, r->text, r->len);
		c->queue_head = r->next;
		if (c->queue_head == NULL)
			c->queue_tail = NULL;
		c->queued--;
		free(r);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * reply_ready - the engine finished a request that waited: it leaves in its turn.
 * One fewer request waits, so a connection stalled on SERVER_WAITING_MAX may go on.
 */
HOT static void reply_ready(struct reply_slot *slot)
{
	struct conn *c = slot->owner;
	struct server *srv;

	(*slot->waiting)--;
	if (c == NULL) {
		free(slot); /* the connection went away meanwhile */
		return;
	}
	srv = c->srv;
	slot->ready = true;
	if (slot == c->queue_head) {
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
	server_resume_stalled(srv);
}

/*
 * take_request - have the engine decide the request parsed into srv->scratch. An answer that comes at
 * once goes straight to the output unless earlier replies still wait; otherwise
 * the slot joins the queue so that replies leave in request order.
 */
static bool take_request(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->spare == NULL && (c->spare = malloc(sizeof(*c->spare))) == NULL) {
		log_error("%s: out of memory; closing connection", c->peer);
		return false;
	}
	stats.requests++;
	struct reply_slot *slot = c->spare;
	slot->owner = c;
	slot->ready = false;
	slot->next = NULL;
	enum engine_outcome outcome = engine_decide(srv->engine, &srv->scratch, slot, reply_ready);
	if (outcome == ENGINE_ANSWERED && c->queue_head == NULL)
		return append_reply(c, slot->text, slot->len);
	slot->ready = outcome == ENGINE_ANSWERED;
	if (!slot->ready) {
		/* Counted until the engine hands it back, even if the connection goes first:
		 * closing and reconnecting must not escape SERVER_WAITING_MAX. */
		slot->waiting = &srv->waiting;
		srv->waiting++;
	}
	c->spare = NULL;
	if (c->queue_tail)
		c->queue_tail->next = slot;
	else
		c->queue_head = slot;
	c->queue_tail = slot;
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

/*
 * room - whether this connection may take one more request now. The server-wide
 * cap only holds back connections that already have replies queued, so that a
 * well-behaved client is never made to wait for others' lookups; the total stays
 * bounded by SERVER_WAITING_MAX plus one request per connection.
 */
static bool room(const struct conn *c)
{
	return c->out_len < CONN_OUT_HIGH && c->queued < CONN_QUEUE_MAX &&
	       (c->srv->waiting < SERVER_WAITING_MAX || c->queued == 0);
}

/* stall - wait in line for SERVER_WAITING_MAX to leave room; resumed in order. */
static void stall(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->stalled || c->srv->waiting < SERVER_WAITING_MAX || c->queued == 0)
		return;
	c->stalled = true;
	c->stalled_next = NULL;
	if (srv->stalled_tail)
		srv->stalled_tail->stalled_next = c;
	else
		srv->stalled_head = c;
	srv->stalled_tail = c;
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
	size_t consumed = 0;
	unsigned answered = 0;

	while (!c->closing && room(c)) {
		if (answered == CONN_SLICE) {
			/* The rest on a later turn, after the other clients had theirs. */
			server_add_ready(c);
			break;
		}
		const char *err = NULL, *start = c->in + consumed;
		size_t err_offset = 0, request_len = 0, avail = c->in_len - consumed;
		if (avail == 0)
			break;
		/* Most requests arrive whole: one pass finds and indexes them. */
		if (c->scan.pos > 0 ||
		    !request_parse_whole(&c->srv->scratch, start, avail, &request_len)) {
			enum request_scan r = request_scan(&c->scan, start, avail, &request_len,
							   &err, &err_offset);
			if (r == REQUEST_INCOMPLETE)
				break;
			if (r == REQUEST_INVALID) {
				log_violation(c, err, consumed + err_offset);
				conn_close(c);
				return;
			}
			request_parse(&c->srv->scratch, start, request_len);
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
	if (!room(c))
		stall(c);
	/* Read more only when what is here has been taken: the buffer is bounded. */
	set_reading(c, room(c) && !c->ready && !c->close_after_write);
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
	c->last_read = uv_now(c->srv->loop);
	conn_process(c);
}

/* idle_timeout - nothing arrived for idle_timeout: close, saying whether a request was cut. */
static void idle_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	uint64_t idle = c->srv->cfg->idle_timeout_ms;
	uint64_t quiet = uv_now(c->srv->loop) - c->last_read;

	/* idle_timeout = 0 (a reload may set it): no limit. */
	if (idle == 0)
		return;
	/* Data came meanwhile, or we owe replies (they end by request_timeout), or replies
	 * wait in the outbox for this turn's end (a timer of this turn answered): not idle. */
	if (quiet < idle || c->queue_head != NULL || c->writing || c->out_len > 0) {
		uv_timer_start(&c->idle_timer, idle_timeout, quiet < idle ? idle - quiet : idle, 0);
		return;
	}
	stats.idle_timeouts++;
	if (c->in_len > 0)
		log_warn("%s: timeout with an incomplete request (%zu bytes); closing connection",
			 c->peer, c->in_len);
	else
		log_info("%s: idle timeout; closing connection", c->peer);
	conn_close(c);
}

/* conn_idle_changed - a reload changed idle_timeout: every connection follows the new value. */
void conn_idle_changed(struct conn *c)
{
	uint64_t idle = c->srv->cfg->idle_timeout_ms;

	if (c->closing)
		return;
	if (idle == 0)
		uv_timer_stop(&c->idle_timer);
	else if (!uv_is_active((uv_handle_t *)&c->idle_timer))
		uv_timer_start(&c->idle_timer, idle_timeout, idle, 0);
}

/*
 * describe_peer - "[address]:port" for TCP, "unix" for unix sockets; for logs and for
 * [server] allow. False when a TCP peer's address cannot be had: it is then refused,
 * never served unchecked.
 */
static bool describe_peer(struct conn *c, bool is_tcp)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct addr a;
	char text[ADDR_TEXT_MAX];
	int rc;

	snprintf(c->peer, sizeof(c->peer), is_tcp ? "[unknown peer]" : "unix");
	if (!is_tcp)
		return true;
	rc = uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len);
	if (rc != 0 || !addr_from_sockaddr(&a, (struct sockaddr *)&ss)) {
		log_warn("connection refused: the peer's address is unknown (%s)",
			 rc != 0 ? uv_strerror(rc) : "not an IP address");
		return false;
	}
	addr_format(&a, text, sizeof(text));
	unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	snprintf(c->peer, sizeof(c->peer), "[%s]:%u", text, port);
	c->peer_addr = a;
	c->peer_is_ip = true;
	return true;
}

/* refuse - close an accepted connection that may not be served. */
static void refuse(struct conn *c)
{
	stats.connections_refused++;
	c->closing = true;
	c->open_handles = 2;
	uv_close(&c->h.handle, handle_closed);
	uv_close((uv_handle_t *)&c->idle_timer, handle_closed);
}

/* may_connect - the allow list (TCP) and max_connections, checked at accept. */
static bool may_connect(struct conn *c, bool is_tcp)
{
	struct server *srv = c->srv;
	const struct config *cfg = srv->cfg;

	if (is_tcp && (!c->peer_is_ip || !cidr_set_contains(cfg->allow, &c->peer_addr))) {
		log_warn("%s: connection refused: address not in [server] allow", c->peer);
		return false;
	}
	/* The descriptor limit binds before max_connections when it is lower: refuse
	 * here, with a log line, rather than let accept fail later without one. */
	bool by_fds = srv->fd_room < (unsigned long)cfg->max_connections;
	unsigned long most = by_fds ? srv->fd_room : (unsigned long)cfg->max_connections;
	if (srv->conn_count >= most) {
		/* Log at most once a second: a flood must not become a log flood. */
		uint64_t now = uv_now(srv->loop);
		if (now - srv->last_refusal_log >= 1000) {
			srv->last_refusal_log = now;
			if (by_fds)
				log_warn("%s: connection refused: %lu connections use the "
					 "descriptors "
					 "the limit leaves (out of file descriptors: raise "
					 "LimitNOFILE "
					 "or lower max_connections)",
					 c->peer, srv->conn_count);
			else
				log_warn("%s: connection refused: max_connections (%ld) reached",
					 c->peer, cfg->max_connections);
		}
		return false;
	}
	return true;
}

/* accept_failed - say so, at most once a second, with how many failed meanwhile. */
static void accept_failed(struct server *srv, const char *listener, int rc)
{
	uint64_t now = uv_now(srv->loop);

	srv->accept_errors++;
	if (srv->last_accept_log != 0 && now - srv->last_accept_log < 1000)
		return;
	srv->last_accept_log = now ? now : 1;
	log_warn("%s: accept failed: %s (%lu in the last second)%s", listener, uv_strerror(rc),
		 srv->accept_errors,
		 rc == UV_EMFILE || rc == UV_ENFILE
			 ? "; out of file descriptors: raise LimitNOFILE or lower max_connections"
			 : "");
	srv->accept_errors = 0;
}

/* conn_accept - take one pending connection from a listener. */
void conn_accept(struct listener *l)
{
	struct server *srv = l->srv;
	struct conn *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		log_error("out of memory accepting a connection");
		return;
	}
	c->srv = srv;
	if (l->is_tcp)
		uv_tcp_init(srv->loop, &c->h.tcp);
	else
		uv_pipe_init(srv->loop, &c->h.pipe, 0);
	uv_timer_init(srv->loop, &c->idle_timer);
	c->h.handle.data = c;
	c->idle_timer.data = c;
	rc = uv_accept(&l->h.stream, &c->h.stream);
	if (rc != 0) {
		accept_failed(srv, l->name, rc);
		refuse(c);
		return;
	}
	if (!describe_peer(c, l->is_tcp) || !may_connect(c, l->is_tcp)) {
		refuse(c);
		return;
	}
	if (l->is_tcp)
		uv_tcp_nodelay(&c->h.tcp, 1);
	uv_fileno(&c->h.handle, &c->fd); /* for the outbox; cannot fail on an accepted stream */
	int sndbuf = CONN_SNDBUF;
	uv_send_buffer_size(&c->h.handle, &sndbuf);
	c->open_handles = 2;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->conn_count++;
	stats.connections++;
	log_debug("%s: connected on %s", c->peer, l->name);
	c->last_read = uv_now(srv->loop);
	if (srv->cfg->idle_timeout_ms > 0)
		uv_timer_start(&c->idle_timer, idle_timeout, srv->cfg->idle_timeout_ms, 0);
	set_reading(c, true);
}

/* conn_resume - the server made room, or a new turn came: take the requests in the buffer. */
void conn_resume(struct conn *c)
{
	c->stalled = false;
	c->stalled_next = NULL;
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
	unstall(c);
	if (drained(c))
		conn_close(c);
}
