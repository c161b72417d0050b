/*
 * conn - one client connection: read bytes, frame requests, answer them in order,
 * write the replies in batches, enforce the protocol limits and the idle timeout.
 *
 * Everything a client sends is untrusted. A violation closes this connection only,
 * with a log line that carries the peer and a cleaned excerpt. Memory: a conn owns
 * its input buffer (grown on demand up to the request limit), two output buffers
 * (one being filled, one being written) and its handles; it is freed when the last
 * of its two handles (stream, idle timer) has closed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "engine.h"
#include "server_internal.h"
#include "stats.h"
#include "text.h"

/* The input buffer's first size; a Postfix request is about 600 bytes. */
#define IN_INITIAL 4096
/* The input buffer's limit: a whole request plus one read's worth after it. */
#define IN_MAX (REQUEST_MAX_SIZE + 65536)
/* Stop reading while this much is waiting to be written: a client that pipelines
 * without reading must not make us buffer without bound. */
#define OUT_HIGH_WATER (256 * 1024)
/* Stop reading while this many requests of one connection wait for lookups. */
#define QUEUE_HIGH_WATER 256

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

/* conn_close - unlink from the server and close both handles; idempotent. */
static void conn_close(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	/* Replies still waiting for lookups are orphaned: the engine's callback frees them. */
	for (struct reply_slot *r = c->queue_head, *next; r != NULL; r = next) {
		next = r->next;
		if (r->ready)
			free(r);
		else
			r->owner = NULL;
	}
	c->queue_head = c->queue_tail = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close(&c->h.handle, handle_closed);
	uv_close((uv_handle_t *)&c->idle_timer, handle_closed);
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

/* write_done - the batch is out; send what accumulated meanwhile, or resume reading. */
static void write_done(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = false;
	if (c->closing)
		return;
	if (status < 0) {
		log_info("%s: write failed: %s; closing connection", c->peer, uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->out_len > 0) {
		start_write(c);
		return;
	}
	if (c->close_after_write) {
		if (c->queue_head == NULL)
			conn_close(c);
		return;
	}
	conn_process(c);
}

/* start_write - hand the filled buffer to libuv and start filling the other one. */
static void start_write(struct conn *c)
{
	char *tmp = c->wbuf;
	size_t tmp_cap = c->wbuf_cap;
	uv_buf_t buf;

	c->wbuf = c->out;
	c->wbuf_cap = c->out_cap;
	buf = uv_buf_init(c->wbuf, (unsigned)c->out_len);
	c->out = tmp;
	c->out_cap = tmp_cap;
	c->out_len = 0;
	c->write_req.data = c;
	int rc = uv_write(&c->write_req, &c->h.stream, &buf, 1, write_done);
	if (rc < 0) {
		log_info("%s: write failed: %s; closing connection", c->peer, uv_strerror(rc));
		conn_close(c);
		return;
	}
	c->writing = true;
}

/* append_reply - queue bytes for the next write. */
static bool append_reply(struct conn *c, const char *text, size_t len)
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

/* reply_ready - the engine finished a lookup: send it in its turn. */
static void reply_ready(struct reply_slot *slot)
{
	struct conn *c = slot->owner;

	if (c == NULL) {
		free(slot); /* the connection went away meanwhile */
		return;
	}
	slot->ready = true;
	if (slot != c->queue_head)
		return;
	if (!flush_ready(c)) {
		conn_close(c);
		return;
	}
	if (!c->close_after_write) {
		conn_process(c); /* writes, and reads again if the queue had stopped it */
		return;
	}
	if (c->out_len > 0 && !c->writing)
		start_write(c);
	else if (!c->writing && c->queue_head == NULL)
		conn_close(c);
}

/*
 * answer - decide the request parsed into srv->scratch. An answer that comes at
 * once goes straight to the output unless earlier replies still wait; otherwise
 * the slot joins the queue so that replies leave in request order.
 */
static bool answer(struct conn *c)
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
	c->spare = NULL;
	if (c->queue_tail)
		c->queue_tail->next = slot;
	else
		c->queue_head = slot;
	c->queue_tail = slot;
	c->queued++;
	return true;
}

/* set_reading - follow the back-pressure rule: read only while replies drain. */
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
 * conn_process - answer every complete request in the input buffer, keep the
 * partial one at the front of the buffer, and write the replies in one batch.
 */
static void conn_process(struct conn *c)
{
	size_t consumed = 0;

	while (!c->closing && c->out_len < OUT_HIGH_WATER && c->queued < QUEUE_HIGH_WATER) {
		const char *err = NULL, *start = c->in + consumed;
		size_t err_offset = 0, request_len = 0, avail = c->in_len - consumed;
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
		if (!answer(c)) {
			conn_close(c);
			return;
		}
		memset(&c->scan, 0, sizeof(c->scan));
		consumed += request_len;
	}
	if (consumed > 0) {
		memmove(c->in, c->in + consumed, c->in_len - consumed);
		c->in_len -= consumed;
	}
	if (c->out_len > 0 && !c->writing)
		start_write(c);
	set_reading(c, c->out_len < OUT_HIGH_WATER && c->queued < QUEUE_HIGH_WATER &&
			       !c->close_after_write);
}

/* alloc_input - give libuv the free end of the input buffer, growing it if needed. */
static void alloc_input(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	if (c->in_cap - c->in_len < 1024 && c->in_cap < IN_MAX) {
		size_t ncap = c->in_cap ? c->in_cap * 2 : IN_INITIAL;
		char *grown = realloc(c->in, ncap > IN_MAX ? IN_MAX : ncap);
		if (grown != NULL) {
			c->in = grown;
			c->in_cap = ncap > IN_MAX ? IN_MAX : ncap;
		}
	}
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

/* read_input - new bytes: restart the idle clock and answer what is complete. */
static void read_input(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (nread == 0)
		return; /* EAGAIN, not EOF (traps.md) */
	if (nread < 0) {
		if (nread != UV_EOF && nread != UV_ECONNRESET)
			log_info("%s: read failed: %s; closing connection", c->peer,
				 uv_strerror((int)nread));
		else if (c->in_len > 0)
			log_info("%s: disconnected in the middle of a request", c->peer);
		conn_close(c);
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

	/* Data came meanwhile, or we wait for our own lookups (they end by
	 * request_timeout): not idle, look again later. */
	if (quiet < idle || c->queue_head != NULL) {
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

/* describe_peer - "[address]:port" for TCP, "unix" for unix sockets; for logs. */
static void describe_peer(struct conn *c, bool is_tcp)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct addr a;
	char text[ADDR_TEXT_MAX];

	snprintf(c->peer, sizeof(c->peer), "unix");
	if (!is_tcp || uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0 ||
	    !addr_from_sockaddr(&a, (struct sockaddr *)&ss))
		return;
	addr_format(&a, text, sizeof(text));
	unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	snprintf(c->peer, sizeof(c->peer), "[%s]:%u", text, port);
	c->peer_addr = a;
	c->peer_is_ip = true;
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
static bool may_connect(struct conn *c)
{
	struct server *srv = c->srv;
	const struct config *cfg = srv->cfg;

	if (c->peer_is_ip && !cidr_set_contains(cfg->allow, &c->peer_addr)) {
		log_warn("%s: connection refused: address not in [server] allow", c->peer);
		return false;
	}
	if (srv->conn_count >= (unsigned long)cfg->max_connections) {
		/* Log at most once a second: a flood must not become a log flood. */
		uint64_t now = uv_now(srv->loop);
		if (now - srv->last_refusal_log >= 1000) {
			srv->last_refusal_log = now;
			log_warn("%s: connection refused: max_connections (%ld) reached", c->peer,
				 cfg->max_connections);
		}
		return false;
	}
	return true;
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
	if (rc == 0)
		describe_peer(c, l->is_tcp);
	if (rc != 0 || !may_connect(c)) {
		if (rc != 0)
			log_warn("%s: accept failed: %s", l->name, uv_strerror(rc));
		refuse(c);
		return;
	}
	if (l->is_tcp)
		uv_tcp_nodelay(&c->h.tcp, 1);
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

/*
 * conn_shutdown - the daemon is stopping: stop reading, let the replies already
 * queued be written, then close.
 */
void conn_shutdown(struct conn *c)
{
	set_reading(c, false);
	c->close_after_write = true;
	if (!c->writing && c->out_len == 0 && c->queue_head == NULL)
		conn_close(c);
}
