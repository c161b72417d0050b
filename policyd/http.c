/*
 * http - the HTTP listener (see http.h): sockets bound before privileges are
 * dropped, one libmicrohttpd daemon per socket driven by the libuv loop, and the
 * routes: the help page in the reader's language, its assets, POST /recheck,
 * /metrics. The bounds that keep a flood of HTTP clients from costing the policy
 * sockets their latency are here too: page renders per loop turn and per client,
 * and a deadline for each connection from its accept.
 *
 * Why libmicrohttpd: it is maintained, packaged by Debian (libmicrohttpd-dev),
 * parses HTTP/1.1 strictly with its own limits (header memory per connection,
 * connections in all and per address, idle timeouts), and can run with no thread
 * of its own: in "external epoll" mode it exposes one epoll descriptor for all its
 * sockets, which fits a uv_poll, and tells when it next needs to run, which fits
 * a uv_timer. Everything then happens on the daemon's one thread, between policy
 * requests, and a request is answered in one call, from memory.
 *
 * Renders: a request for the page (or /metrics, or a recheck) is answered in the
 * loop turn it arrives in while fewer than HTTP_RENDERS_PER_TURN were made in that
 * turn, none of them for the same client address, and none waits before it;
 * otherwise MHD suspends the connection and it waits in a queue. At the end of each
 * turn (a check handle) up to HTTP_RENDERS_PER_TURN waiting ones, each of another
 * address, oldest first, are resumed for the next turn. A turn so renders at most
 * twice that many pages (the resumed, and new ones that find the queue empty), and
 * one client's many connections wait behind others' instead of taking every turn.
 * Measured before (issue 22): a page flood took 96 % of the loop and raised the
 * policy latency 9 to 35 times.
 *
 * Deadline: [http] timeout counts from a connection's accept, whatever it sends or
 * receives (MHD's own timeout is only an idle one, which a header line every few
 * seconds resets): a timer shuts down what is older, or resumes it to be closed
 * when it waits in the queue.
 *
 * Memory: struct http owns the endpoints array, the MHD daemons, their listen
 * sockets, the loaded help page, the recheck's memory of addresses and one struct
 * http_conn per open connection (MHD's socket context, freed when MHD says it
 * closed). uv handles are embedded in the endpoints and in struct http, closed by
 * main's uv_walk at exit, before http_free resumes what waits and stops the MHD
 * daemons.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "build_config.h"
#include "domain.h"
#include "engine.h"
#include "help.h"
#include "keys.h"
#include "log.h"
#include "lru.h"
#include "text.h"

/* Per connection: the request line and headers must fit in half of this. */
#define HTTP_CONNECTION_MEMORY (16 * 1024)
#define HTTP_BACKLOG 1024

/* Page renders (the page, /metrics, a recheck) per loop turn; more wait for the next. */
#define HTTP_RENDERS_PER_TURN 2
/* Renders take at most a quarter of the loop's time, measured, with a burst of 50 ms. */
#define HTTP_RENDER_SHARE 4
#define HTTP_RENDER_BURST_NS (50 * 1000 * 1000)
/* The clients served last, whose waiting connections go after others'. */
#define HTTP_RECENT 32

/* POST /recheck: in all at most a burst of 20, then one per 3 s (20 a minute); per
 * address one that forgot something per 5 minutes, for up to 4096 addresses. */
#define HTTP_RECHECK_BURST 20
#define HTTP_RECHECK_EVERY_MS 3000
#define HTTP_RECHECK_ADDRESS_S 300
#define HTTP_RECHECK_ADDRESSES 4096

/* The same policy as the page's meta tag, plus what only a header can say. */
static const char CSP[] =
	"default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct http;

/* One [http] listen address: its socket and the MHD daemon that serves it. */
struct endpoint {
	struct http *http;
	char name[128];
	int fd;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	bool handles; /* poll and timer initialised */
};

/* One open HTTP connection: MHD's socket context, from its accept to its close. */
struct http_conn {
	TAILQ_ENTRY(http_conn) by_age;  /* http.conns, oldest first, until the deadline */
	TAILQ_ENTRY(http_conn) waiting; /* http.waiting while suspended for a render */
	struct MHD_Connection *c;
	int fd;
	uint64_t deadline; /* loop time, ms */
	struct addr peer;
	bool have_peer;
	bool in_age, suspended;
	bool granted; /* resumed for a render in this turn */
	bool expired; /* past its deadline: closed at the next call */
};

TAILQ_HEAD(http_conns, http_conn);

struct http {
	uv_loop_t *loop;
	struct engine *engine;
	struct help *help;
	struct endpoint *endpoints;
	size_t endpoint_count;
	http_metrics_fn *metrics;
	void *metrics_arg;
	uint64_t timeout_ms;
	struct http_conns conns;   /* every open connection, by age */
	struct http_conns waiting; /* suspended until a turn has room to render them */
	uv_timer_t deadline;
	uv_prepare_t turn_start;
	uv_check_t turn_end;
	bool handles, stopping;
	uv_idle_t busy; /* active while connections wait: the loop polls without blocking */
	/* This turn's renders; the clients served lately (a ring, the newest at recent_next - 1). */
	unsigned renders;
	struct addr recent[HTTP_RECENT];
	unsigned recent_next, recent_count;
	/* The render time left (ns, may go below 0 by one render) and when it was refilled. */
	int64_t budget_ns;
	uint64_t budget_at;
	uv_timer_t refill;
	/* POST /recheck: the bucket in all, the addresses that were rechecked lately. */
	uint64_t recheck_tokens_at; /* loop time at which the bucket was last filled */
	unsigned recheck_tokens;
	struct lru *rechecked;
	/* Counters for /metrics. */
	uint64_t rechecks[3]; /* forgotten, nothing, limited */
	uint64_t deferred, deadline_closed;
};

/* ---------------------------------------------------------------- the loop */

static void drive(struct endpoint *ep);

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status, (void)events;
	drive(p->data);
}

/* http_on_timer - the wait MHD asked for has passed (0: it has buffered work). */
static void http_on_timer(uv_timer_t *t)
{
	drive(t->data);
}

/*
 * drive - let MHD accept, read, answer and time out what is ready, then wake up
 * again when it says it must: a timeout of 0 means it has buffered work left
 * (its epoll is edge-triggered inside), which runs on the next loop iteration,
 * after the policy sockets have had their turn.
 */
static void drive(struct endpoint *ep)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (ep->mhd == NULL)
		return;
	MHD_run(ep->mhd);
	if (MHD_get_timeout(ep->mhd, &ms) == MHD_YES)
		uv_timer_start(&ep->timer, http_on_timer, ms, 0);
	else
		uv_timer_stop(&ep->timer);
}

/* ---------------------------------------------------------------- bounds */

/* served_lately - whether one of the last n clients served was the one at a (NULL: unknown). */
static bool served_lately(const struct http *h, const struct addr *a, unsigned n)
{
	if (n > h->recent_count)
		n = h->recent_count;
	for (unsigned k = 1; a != NULL && k <= n; k++)
		if (addr_equal(&h->recent[(h->recent_next + HTTP_RECENT - k) % HTTP_RECENT], a))
			return true;
	return false;
}

/* note_served - a render for the client at a (NULL: unknown peer). */
static void note_served(struct http *h, const struct addr *a)
{
	h->renders++;
	if (a == NULL)
		return;
	h->recent[h->recent_next] = *a;
	h->recent_next = (h->recent_next + 1) % HTTP_RECENT;
	if (h->recent_count < HTTP_RECENT)
		h->recent_count++;
}

/* refill - the render time earned since the last refill: a quarter of the time passed. */
static void refill(struct http *h)
{
	uint64_t now = uv_hrtime();

	h->budget_ns += (int64_t)((now - h->budget_at) / HTTP_RENDER_SHARE);
	if (h->budget_ns > HTTP_RENDER_BURST_NS)
		h->budget_ns = HTTP_RENDER_BURST_NS;
	h->budget_at = now;
}

static void http_on_busy(uv_idle_t *i);

/*
 * may_render - whether the connection's request may be rendered now; if not, it is
 * suspended and waits (see the top of this file). A connection resumed for a render
 * always may: it was granted one.
 */
static bool may_render(struct http *h, struct http_conn *hc)
{
	const struct addr *peer = hc != NULL && hc->have_peer ? &hc->peer : NULL;

	refill(h);
	if (hc == NULL || hc->granted ||
	    (h->renders < HTTP_RENDERS_PER_TURN && h->budget_ns > 0 && TAILQ_EMPTY(&h->waiting) &&
	     !served_lately(h, peer, h->renders))) {
		note_served(h, peer);
		if (hc != NULL)
			hc->granted = false;
		return true;
	}
	MHD_suspend_connection(hc->c);
	hc->suspended = true;
	TAILQ_INSERT_TAIL(&h->waiting, hc, waiting);
	h->deferred++;
	uv_idle_start(&h->busy, http_on_busy);
	return false;
}

/*
 * http_on_busy - nothing to do: an active idle handle only keeps the loop's poll from
 * blocking while connections wait, so that each turn's end can resume some.
 */
static void http_on_busy(uv_idle_t *i)
{
	(void)i;
}

/* http_on_turn_start - a loop turn begins: its renders start from none. */
static void http_on_turn_start(uv_prepare_t *p)
{
	struct http *h = p->data;

	h->renders = 0;
}

/* resume - let a waiting connection go on; MHD's wake-up brings it to the next turn. */
static void resume(struct http *h, struct http_conn *hc)
{
	TAILQ_REMOVE(&h->waiting, hc, waiting);
	hc->suspended = false;
	MHD_resume_connection(hc->c);
}

/* http_on_refill - enough render time has been earned again: the turn's end resumes. */
static void http_on_refill(uv_timer_t *t)
{
	struct http *h = t->data;

	if (!TAILQ_EMPTY(&h->waiting))
		uv_idle_start(&h->busy, http_on_busy);
}

/*
 * pick - the waiting connection to resume next: the oldest of a client not served
 * lately nor picked in this batch, else the oldest of a client not picked; NULL: none.
 */
static struct http_conn *pick(struct http *h, const struct addr *picked, unsigned n)
{
	struct http_conn *hc, *fallback = NULL;

	TAILQ_FOREACH(hc, &h->waiting, waiting) {
		bool again = false;
		for (unsigned i = 0; hc->have_peer && i < n; i++)
			again |= addr_equal(&picked[i], &hc->peer);
		if (again)
			continue;
		if (!served_lately(h, hc->have_peer ? &hc->peer : NULL, HTTP_RECENT))
			return hc;
		if (fallback == NULL)
			fallback = hc;
	}
	return fallback;
}

/*
 * http_on_turn_end - after a turn's I/O: while render time is left, the waiting
 * connections of up to a turn's renders of distinct clients are resumed for the next
 * turn, those of clients not served lately first; without time left, a timer wakes
 * the loop when there is again.
 */
static void http_on_turn_end(uv_check_t *c)
{
	struct http *h = c->data;
	struct addr picked[HTTP_RENDERS_PER_TURN];
	struct http_conn *hc;
	unsigned n = 0;

	if (TAILQ_EMPTY(&h->waiting)) {
		uv_idle_stop(&h->busy);
		return;
	}
	refill(h);
	if (h->budget_ns <= 0) {
		/* No render time left: the loop may sleep until there is again. */
		uint64_t wait_ms = (uint64_t)(-h->budget_ns) * HTTP_RENDER_SHARE / 1000000 + 1;
		uv_idle_stop(&h->busy);
		if (!uv_is_active((uv_handle_t *)&h->refill))
			uv_timer_start(&h->refill, http_on_refill, wait_ms, 0);
		return;
	}
	uv_idle_start(&h->busy, http_on_busy);
	while (n < HTTP_RENDERS_PER_TURN && (hc = pick(h, picked, n)) != NULL) {
		if (hc->have_peer)
			picked[n] = hc->peer;
		n++;
		hc->granted = true;
		resume(h, hc);
	}
	/* MHD runs the resumed at its next MHD_run (its epoll descriptor does not say so in
	 * external mode): the endpoints' timers bring that run to the next turn. */
	for (size_t i = 0; i < h->endpoint_count; i++)
		if (h->endpoints[i].mhd != NULL)
			uv_timer_start(&h->endpoints[i].timer, http_on_timer, 0, 0);
}

/* conn_of - our record of an MHD connection (its socket context). */
static struct http_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

static void http_on_deadline(uv_timer_t *t);

/* arm_deadline - the timer for the oldest connection's deadline, or none. */
static void arm_deadline(struct http *h)
{
	struct http_conn *hc = TAILQ_FIRST(&h->conns);
	uint64_t now = uv_now(h->loop);

	if (hc == NULL)
		uv_timer_stop(&h->deadline);
	else
		uv_timer_start(&h->deadline, http_on_deadline,
			       hc->deadline > now ? hc->deadline - now : 0, 0);
}

/*
 * http_on_deadline - connections accepted [http] timeout ago end now: one that waits
 * for a render is resumed to be closed; another is shut down, which MHD sees as the
 * peer's close on its next run.
 */
static void http_on_deadline(uv_timer_t *t)
{
	struct http *h = t->data;
	uint64_t now = uv_now(h->loop);
	struct http_conn *hc;

	while ((hc = TAILQ_FIRST(&h->conns)) != NULL && hc->deadline <= now) {
		TAILQ_REMOVE(&h->conns, hc, by_age);
		hc->in_age = false;
		hc->expired = true;
		h->deadline_closed++;
		if (hc->suspended) {
			resume(h, hc);
			for (size_t i = 0; i < h->endpoint_count; i++)
				if (h->endpoints[i].mhd != NULL)
					uv_timer_start(&h->endpoints[i].timer, http_on_timer, 0, 0);
		} else {
			shutdown(hc->fd, SHUT_RDWR);
		}
	}
	arm_deadline(h);
}

/* on_notify - MHD accepted or closed a connection: keep our record of it. */
static void on_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;
	struct http_conn *hc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		/* libmicrohttpd 1.0 (Debian 13) answers every query in one buffer of the
		 * connection: the descriptor is read before the next query overwrites it. */
		const union MHD_ConnectionInfo *fd_info =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		int fd = fd_info != NULL ? fd_info->connect_fd : -1;
		const union MHD_ConnectionInfo *peer =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		hc = calloc(1, sizeof(*hc));
		*socket_context = hc;
		if (hc == NULL)
			return; /* no deadline and no render bound for it: MHD's limits still hold */
		hc->c = c;
		hc->fd = fd;
		hc->have_peer = peer != NULL && peer->client_addr != NULL &&
				addr_from_sockaddr(&hc->peer, peer->client_addr);
		hc->deadline = uv_now(h->loop) + h->timeout_ms;
		hc->in_age = true;
		TAILQ_INSERT_TAIL(&h->conns, hc, by_age);
		if (TAILQ_FIRST(&h->conns) == hc && h->handles)
			arm_deadline(h);
		return;
	}
	if (hc == NULL)
		return;
	if (hc->in_age)
		TAILQ_REMOVE(&h->conns, hc, by_age);
	if (hc->suspended)
		TAILQ_REMOVE(&h->waiting, hc, waiting);
	free(hc);
	*socket_context = NULL;
}

/* ---------------------------------------------------------------- responses */

/* What an answer carries besides its body. */
struct http_answer {
	unsigned status;
	const char *type, *cache;
	const char *lang;  /* Content-Language, with Vary: Accept-Language; NULL: none */
	const char *allow; /* Allow, for 405 */
	bool retry;        /* Retry-After, for 429 */
};

/* respond - queue body (copied, or owned when `owned`) with the headers every answer has. */
static enum MHD_Result respond(struct MHD_Connection *c, const struct http_answer *a, void *body,
			       size_t len, bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, CSP);
	MHD_add_response_header(r, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, MHD_HTTP_HEADER_X_FRAME_OPTIONS, "DENY");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, a->cache);
	if (a->lang != NULL) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_LANGUAGE, a->lang);
		MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Language");
	}
	if (a->allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, a->allow);
	if (a->retry)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "300");
	rc = MHD_queue_response(c, a->status, r);
	MHD_destroy_response(r);
	return rc;
}

/* respond_text - a short plain-text answer (errors); allow for a 405. */
static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text,
				    const char *allow)
{
	struct http_answer a = {
		status, "text/plain; charset=utf-8", "no-store", NULL, allow, false
	};

	return respond(c, &a, (void *)text, strlen(text), false);
}

/* peer_allowed - whether the connection's peer is in metrics_allow. */
static bool peer_allowed(struct MHD_Connection *c, const struct config *cfg)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct addr a;

	return info != NULL && info->client_addr != NULL && cfg->metrics_allow != NULL &&
	       addr_from_sockaddr(&a, info->client_addr) &&
	       cidr_set_contains(cfg->metrics_allow, &a);
}

/* default_metrics - what /metrics says until main sets its callback (http_set_metrics). */
static void default_metrics(void *arg, struct page_buf *out)
{
	static const char text[] = "# HELP policyd_up Whether policyd is running.\n"
				   "# TYPE policyd_up gauge\n"
				   "policyd_up 1\n";
	(void)arg;
	page_buf_append(out, text, sizeof(text) - 1);
}

/* arg - a query value of the request, NULL when absent. */
static const char *arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* render - the help page for q with status and cache policy; the language is q's. */
static enum MHD_Result render(struct http *h, struct MHD_Connection *c, const struct help_query *q,
			      unsigned status, bool retry)
{
	struct page_buf out = { .max = HELP_PAGE_MAX };
	const struct config *cfg = engine_config(h->engine);

	if (!help_render(h->help, cfg, h->engine, uv_now(h->loop), q, &out)) {
		page_buf_free(&out);
		log_error("http: the help page could not be rendered (out of memory or too long)");
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
	}
	/* A page about an address changes as the cache does: it is not kept anywhere. */
	struct http_answer a = { status,
				 "text/html; charset=utf-8",
				 q->ip != NULL || q->recheck != HELP_RECHECK_NONE ? "no-store"
										  : "no-cache",
				 q->lang,
				 NULL,
				 retry };
	return respond(c, &a, out.data, out.len, true);
}

/* query_of - the page's query values of the request, and its language. */
static struct help_query query_of(struct http *h, struct MHD_Connection *c)
{
	const char *greylisted = arg(c, "greylisted");
	struct help_query q = {
		.ip = arg(c, "ip"),
		.list = arg(c, "list"),
		.domain = arg(c, "domain"),
		.greylisted = greylisted != NULL && strcmp(greylisted, "1") == 0,
		.lang = help_lang_pick(
			h->help, arg(c, "lang"),
			MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_ACCEPT_LANGUAGE)),
	};
	return q;
}

/* serve_page - the help page for this request's query, from the live configuration. */
static enum MHD_Result serve_page(struct http *h, struct MHD_Connection *c)
{
	struct help_query q = query_of(h, c);

	return render(h, c, &q, MHD_HTTP_OK, false);
}

/* recheck_tokens - the bucket's rechecks left, refilled over time. */
static unsigned recheck_tokens(struct http *h)
{
	uint64_t now = uv_now(h->loop);
	uint64_t earned = (now - h->recheck_tokens_at) / HTTP_RECHECK_EVERY_MS;

	if (earned > 0) {
		h->recheck_tokens = h->recheck_tokens + earned > HTTP_RECHECK_BURST
					    ? HTTP_RECHECK_BURST
					    : h->recheck_tokens + (unsigned)earned;
		h->recheck_tokens_at += earned * HTTP_RECHECK_EVERY_MS;
	}
	return h->recheck_tokens;
}

/*
 * serve_recheck - POST /recheck?ip=&domain=&lang=: forget what the cache holds about
 * the address (and the domain) so that the next delivery attempt is looked up again;
 * never a query. Limited in all and per address (429); logged and counted.
 */
static enum MHD_Result serve_recheck(struct http *h, struct MHD_Connection *c,
				     const struct http_conn *hc)
{
	struct help_query q = query_of(h, c);
	char ip[ADDR_TEXT_MAX], domain[DOMAIN_SIZE], peer[ADDR_TEXT_MAX] = "?";
	uint32_t now_s = (uint32_t)(uv_now(h->loop) / 1000);
	struct addr a;
	struct key key;
	bool have_domain;

	if (q.ip == NULL || !addr_parse(&a, q.ip, strlen(q.ip)))
		return respond_text(c, MHD_HTTP_BAD_REQUEST, "a valid ?ip= is needed\n", NULL);
	addr_format(&a, ip, sizeof(ip));
	have_domain = q.domain != NULL &&
		      domain_clean(q.domain, strlen(q.domain), domain, sizeof(domain)) > 0;
	if (hc != NULL && hc->have_peer)
		addr_format(&hc->peer, peer, sizeof(peer));
	key_for_address(&key, &a);
	if (lru_peek(h->rechecked, key.bytes, key.len, now_s, NULL) != NULL ||
	    recheck_tokens(h) == 0) {
		h->rechecks[2]++;
		log_debug("http: recheck of %s from %s refused: asked too often", ip, peer);
		q.recheck = HELP_RECHECK_LIMITED;
		return render(h, c, &q, MHD_HTTP_TOO_MANY_REQUESTS, true);
	}
	size_t forgot = help_recheck(h->engine, &a, have_domain ? domain : NULL);
	q.recheck = forgot > 0 ? HELP_RECHECK_DONE : HELP_RECHECK_NOTHING;
	h->rechecks[forgot > 0 ? 0 : 1]++;
	if (forgot > 0) {
		/* Only a recheck that forgot something spends the bucket: one visitor
		 * looping over addresses the cache holds nothing of would otherwise leave
		 * every sender 429 (a limit per visitor cannot tell visitors apart behind
		 * a proxy). */
		h->recheck_tokens--;
		/* The value only marks the address: the map frees nothing (no free function). */
		static char mark;
		lru_put(h->rechecked, key.bytes, key.len, &mark, now_s + HTTP_RECHECK_ADDRESS_S);
		log_info(
			"http: recheck of %s%s%s asked from %s: %zu cached verdicts forgotten, looked up again at the next delivery attempt",
			ip, have_domain ? " and " : "", have_domain ? domain : "", peer, forgot);
	}
	return render(h, c, &q, MHD_HTTP_OK, false);
}

/* metrics_more - the listener's own counters, after the daemon's. */
static void metrics_more(const struct http *h, struct page_buf *out)
{
	char text[1400];
	int n = snprintf(
		text, sizeof(text),
		"# HELP policyd_http_rechecks_total POST /recheck requests by result: verdicts forgotten, nothing cached to forget, refused as too frequent (429).\n"
		"# TYPE policyd_http_rechecks_total counter\n"
		"policyd_http_rechecks_total{result=\"forgotten\"} %llu\n"
		"policyd_http_rechecks_total{result=\"nothing\"} %llu\n"
		"policyd_http_rechecks_total{result=\"limited\"} %llu\n"
		"# HELP policyd_http_renders_deferred_total Page renders put off to a later loop turn (at most %d a turn, one per client).\n"
		"# TYPE policyd_http_renders_deferred_total counter\n"
		"policyd_http_renders_deferred_total %llu\n"
		"# HELP policyd_http_deadline_closed_total HTTP connections closed because [http] timeout had passed since their accept.\n"
		"# TYPE policyd_http_deadline_closed_total counter\n"
		"policyd_http_deadline_closed_total %llu\n",
		(unsigned long long)h->rechecks[0], (unsigned long long)h->rechecks[1],
		(unsigned long long)h->rechecks[2], HTTP_RENDERS_PER_TURN,
		(unsigned long long)h->deferred, (unsigned long long)h->deadline_closed);

	if (n > 0 && (size_t)n < sizeof(text))
		page_buf_append(out, text, (size_t)n);
}

/* serve_metrics - /metrics for the peers of metrics_allow. */
static enum MHD_Result serve_metrics(struct http *h, struct MHD_Connection *c)
{
	struct page_buf out = { .max = HELP_PAGE_MAX };

	if (!peer_allowed(c, engine_config(h->engine)))
		return respond_text(c, MHD_HTTP_FORBIDDEN, "forbidden\n", NULL);
	h->metrics(h->metrics_arg, &out);
	metrics_more(h, &out);
	if (out.failed || out.data == NULL) {
		page_buf_free(&out);
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
	}
	struct http_answer a = { MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
				 "no-store",  NULL,
				 NULL,        false };
	return respond(c, &a, out.data, out.len, true);
}

/*
 * spend - take the time since may_render refilled (the render just made) from the
 * render time left; passes the render's result on.
 */
static enum MHD_Result spend(struct http *h, enum MHD_Result rc)
{
	uint64_t now = uv_hrtime();

	h->budget_ns -= (int64_t)(now - h->budget_at);
	h->budget_at = now;
	return rc;
}

/* is_page - the help page's paths. */
static bool is_page(const char *url)
{
	return strcmp(url, "/") == 0 || strcmp(url, "/blacklisted.html") == 0 ||
	       strcmp(url, "/index.html") == 0;
}

/* on_request - MHD's access handler: route one request, answered at once or after a wait. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct http *h = cls;
	struct http_conn *hc = conn_of(c);
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	const char *asset, *type;
	size_t len;

	(void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
	/* Past its deadline while it waited, or the daemon stops: closed without an answer. */
	if (h->stopping || (hc != NULL && hc->expired))
		return MHD_NO;
	if (strcmp(url, "/recheck") == 0) {
		if (!post)
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
					    "only POST: the form of the help page sends it\n",
					    "POST");
		return may_render(h, hc) ? spend(h, serve_recheck(h, c, hc)) : MHD_YES;
	}
	if (!get)
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n",
				    "GET, HEAD");
	if (is_page(url))
		return may_render(h, hc) ? spend(h, serve_page(h, c)) : MHD_YES;
	if (strcmp(url, "/metrics") == 0)
		return may_render(h, hc) ? spend(h, serve_metrics(h, c)) : MHD_YES;
	if (url[0] == '/' && (asset = help_asset(h->help, url + 1, &len, &type)) != NULL) {
		struct http_answer a = { MHD_HTTP_OK, type, "public, max-age=3600",
					 NULL,        NULL, false };
		return respond(c, &a, (void *)asset, len, false);
	}
	return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

/* on_mhd_log - MHD's complaints (mostly about peers) at debug level: a peer cannot flood the log. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;

	(void)cls;
	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	/* MHD may quote what a peer sent: no control byte of it reaches the log. */
	text_clean_inplace(line, len);
	log_debug("http: %s", line);
}

/* ---------------------------------------------------------------- listeners */

/* bind_socket - a listening TCP socket for spec; an IPv6 address listens on IPv6 only. */
static int bind_socket(const struct listen_spec *spec, char *name, size_t name_size)
{
	int family = spec->addr.ss_family, one = 1, fd;
	socklen_t len =
		family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct sockaddr_storage ss;
	char host[ADDR_TEXT_MAX];
	struct addr a;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("[http] %s: socket: %s", spec->text, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&spec->addr, len) != 0 ||
	    listen(fd, HTTP_BACKLOG) != 0) {
		log_error("[http] %s: bind: %s", spec->text, strerror(errno));
		close(fd);
		return -1;
	}
	/* "inet:127.0.0.1:0" takes a free port: the log says which. */
	len = sizeof(ss);
	snprintf(name, name_size, "%s", spec->text);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    addr_from_sockaddr(&a, (struct sockaddr *)&ss)) {
		unsigned port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
		addr_format(&a, host, sizeof(host));
		snprintf(name, name_size, family == AF_INET6 ? "inet:[%s]:%u" : "inet:%s:%u", host,
			 port);
	}
	return fd;
}

unsigned long http_connection_limit(const struct config *cfg)
{
	struct rlimit rl;
	unsigned long want = (unsigned long)cfg->http_max_connections, share;

	if (cfg->http_listen_count == 0)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return want;
	share = (unsigned long)rl.rlim_cur / 4 / cfg->http_listen_count;
	if (share == 0)
		share = 1; /* a listener that may accept nothing is no listener */
	return want < share ? want : share;
}

/* start_daemon - an MHD daemon on ep->fd with the limits of cfg, driven from outside. */
static bool start_daemon(struct http *h, struct endpoint *ep, const struct config *cfg)
{
	unsigned long limit = http_connection_limit(cfg);

	if (limit < (unsigned long)cfg->http_max_connections)
		log_warn(
			"[http] %s: max_connections %lu lowered to %lu: the descriptor limit keeps three quarters for policy connections",
			ep->name, (unsigned long)cfg->http_max_connections, limit);
	/* MHD counts whole seconds; a timeout of 1.5 s becomes 2. */
	unsigned timeout_s = (unsigned)((cfg->http_timeout_ms + 999) / 1000);

	/* Suspending brings MHD's wake-up descriptor (ITC) into its epoll set: a resumed
	 * connection makes the epoll descriptor readable, and the next turn runs it. */
	ep->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
		on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, on_notify, h, MHD_OPTION_LISTEN_SOCKET,
		(MHD_socket)ep->fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->http_per_ip_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
	if (ep->mhd == NULL) {
		log_error("[http] %s: libmicrohttpd could not start", ep->name);
		return false;
	}
	return true;
}

/* load_help - the help page of cfg's help_dir; NULL on error, logged. */
static struct help *load_help(const struct config *cfg)
{
	const char *dir = cfg->http_help_dir ? cfg->http_help_dir : help_default_dir();
	char err[600];
	struct help *help = help_load(dir, err, sizeof(err));

	if (help == NULL)
		log_error("[http] help page: %s", err);
	else if (help_warning(help) != NULL)
		log_warn("[http] help page: %s", help_warning(help));
	return help;
}

struct http *http_new(uv_loop_t *loop, const struct config *cfg, struct engine *engine)
{
	struct http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->loop = loop;
	h->engine = engine;
	h->metrics = default_metrics;
	h->timeout_ms = cfg->http_timeout_ms;
	TAILQ_INIT(&h->conns);
	TAILQ_INIT(&h->waiting);
	h->recheck_tokens = HTTP_RECHECK_BURST;
	h->recheck_tokens_at = uv_now(loop);
	uint8_t seed[16];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		log_warn(
			"getrandom failed; the recheck's memory of addresses uses a predictable hash seed");
	h->rechecked = lru_new(HTTP_RECHECK_ADDRESSES, seed, NULL);
	h->endpoints =
		calloc(cfg->http_listen_count ? cfg->http_listen_count : 1, sizeof(*h->endpoints));
	if (h->endpoints == NULL || h->rechecked == NULL || (h->help = load_help(cfg)) == NULL) {
		http_free(h);
		return NULL;
	}
	for (size_t i = 0; i < cfg->http_listen_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		ep->http = h;
		ep->fd = bind_socket(&cfg->http_listen[i], ep->name, sizeof(ep->name));
		if (ep->fd < 0) {
			http_free(h);
			return NULL;
		}
		h->endpoint_count = i + 1;
		if (!start_daemon(h, ep, cfg)) {
			http_free(h);
			return NULL;
		}
	}
	/* Only now the loop learns of them: a failure above leaves no handle to close. */
	uv_timer_init(loop, &h->deadline);
	uv_timer_init(loop, &h->refill);
	uv_idle_init(loop, &h->busy);
	uv_prepare_init(loop, &h->turn_start);
	uv_check_init(loop, &h->turn_end);
	h->deadline.data = h->refill.data = h->busy.data = h->turn_start.data = h->turn_end.data =
		h;
	h->budget_ns = HTTP_RENDER_BURST_NS;
	h->budget_at = uv_hrtime();
	uv_prepare_start(&h->turn_start, http_on_turn_start);
	uv_check_start(&h->turn_end, http_on_turn_end);
	/* Neither keeps the loop alive at exit; the deadline timer only runs with connections. */
	uv_unref((uv_handle_t *)&h->turn_start);
	uv_unref((uv_handle_t *)&h->turn_end);
	h->handles = true;
	for (size_t i = 0; i < h->endpoint_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(ep->mhd, MHD_DAEMON_INFO_EPOLL_FD);
		uv_timer_init(loop, &ep->timer);
		uv_poll_init(loop, &ep->poll, info->epoll_fd);
		ep->poll.data = ep->timer.data = ep;
		ep->handles = true;
		uv_poll_start(&ep->poll, UV_READABLE, on_poll);
		drive(ep);
		log_info("http: listening on %s (help page from %s)", ep->name, help_dir(h->help));
	}
	return h;
}

void http_set_metrics(struct http *h, http_metrics_fn *fn, void *arg)
{
	h->metrics = fn ? fn : default_metrics;
	h->metrics_arg = arg;
}

void http_reload(struct http *h, const struct config *next)
{
	struct help *help = load_help(next);

	if (help == NULL) {
		log_error("reload: keeping the previous help page");
		return;
	}
	help_free(h->help);
	h->help = help;
}

bool http_listen_equal(const struct config *a, const struct config *b)
{
	if (a->http_listen_count != b->http_listen_count)
		return false;
	for (size_t i = 0; i < a->http_listen_count; i++)
		if (strcmp(a->http_listen[i].text, b->http_listen[i].text) != 0)
			return false;
	return true;
}

void http_shutdown(struct http *h)
{
	for (size_t i = 0; h != NULL && i < h->endpoint_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		MHD_socket fd = ep->mhd ? MHD_quiesce_daemon(ep->mhd) : MHD_INVALID_SOCKET;
		if (fd != MHD_INVALID_SOCKET) {
			close(fd);
			ep->fd = -1;
		}
	}
}

void http_free(struct http *h)
{
	struct http_conn *hc;

	if (h == NULL)
		return;
	/* MHD must not be stopped with connections suspended: resume them, and let one run
	 * close them (on_request says no to every call now). */
	h->stopping = true;
	while ((hc = TAILQ_FIRST(&h->waiting)) != NULL)
		resume(h, hc);
	for (size_t i = 0; i < h->endpoint_count; i++)
		if (h->endpoints[i].mhd != NULL)
			MHD_run(h->endpoints[i].mhd);
	for (size_t i = 0; i < h->endpoint_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		/* MHD_stop_daemon closes the listen socket unless it was quiesced. */
		if (ep->mhd != NULL)
			MHD_stop_daemon(ep->mhd);
		else if (ep->fd >= 0)
			close(ep->fd);
	}
	help_free(h->help);
	lru_free(h->rechecked);
	free(h->endpoints);
	free(h);
}
