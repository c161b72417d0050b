/*
 * resolver - asynchronous A and TXT lookups: one udns context on the libuv loop
 * (see resolver.h for the contract).
 *
 * Driving udns: a uv_poll on its UDP socket calls dns_ioevent(); a uv_timer,
 * requested by udns through dns_set_tmcbck(), calls dns_timeouts(). udns counts
 * time in whole seconds of a clock we hand it: ours is the loop's monotonic clock
 * (uv_now), so wall-clock steps cannot stretch or cut a timeout, and a timer armed
 * for a udns deadline fires when that clock has reached it. As a guard against
 * the udns "timer stall" (HACKING.md, traps: dns_timeouts() requests no new timer when the
 * deadline has not moved), the timer is re-armed by hand whenever queries are
 * active and it is not running.
 *
 * Queries: every submit allocates a struct resolver_query, owned by the resolver
 * and kept on r->queries until udns reports the query's end (or until
 * resolver_free). The udns query itself is never cancelled (dns_cancel leaks in
 * 0.4): resolver_cancel only marks ours so the answer is dropped when it comes.
 * Answers are parsed by udns's own dns_parse_a4/dns_parse_txt, wrapped so that a
 * NOERROR reply whose answer records are all about another name counts as a
 * garbled reply (TEMPFAIL), never as "no such record". udns result blocks are
 * freed with free() after the callback.
 *
 * Untrusted data: every byte of an answer, and the query names (they are built
 * from client data). Names are cleaned before they reach a log line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <udns.h>

#include "log.h"
#include "resolver.h"
#include "text.h"

#define RESOLVER_MAX_TIMEOUT_S 300 /* udns's limits for DNS_OPT_TIMEOUT */
#define RESOLVER_MAX_TRIES 50      /* and for DNS_OPT_NTRIES */

_Static_assert(sizeof(struct in_addr) == 4, "udns addresses are passed as 4-byte arrays");

struct resolver_query {
	struct resolver *r;
	LIST_ENTRY(resolver_query) link; /* on r->queries */
	bool txt;                        /* TXT, else A */
	bool live;                       /* the callback is still due */
	union {
		resolver_a_fn *a;
		resolver_txt_fn *txt;
	} cb;
	void *arg;
	char name[]; /* as it may be shown (no key of a keyed zone), for debug logs only */
};

struct resolver {
	uv_loop_t *loop;
	struct dns_ctx *ctx;
	uv_poll_t poll;
	uv_timer_t timer;
	LIST_HEAD(, resolver_query) queries; /* every query udns has not finished */
	size_t pending;                      /* of those, the ones whose callback is due */
	time_t now;                          /* the clock value last handed to udns */
	unsigned busy;                       /* inside dns_ioevent/dns_timeouts */
	int handles;                         /* open uv handles; r is freed at 0 */
	bool poll_init, timer_init;
	bool closing;  /* resolver_free was called */
	bool released; /* udns and the handles are gone */
};

static void resolver_on_timer(uv_timer_t *t);

/* udns_clock - the seconds clock handed to udns: loop time, monotonic, never 0. */
static time_t udns_clock(const struct resolver *r)
{
	return (time_t)(uv_now(r->loop) / 1000) + 1;
}

/* arm_timer - run resolver_on_timer when udns_clock() reaches deadline (0: at once). */
static void arm_timer(struct resolver *r, time_t deadline)
{
	uint64_t now = uv_now(r->loop);
	uint64_t due = deadline > 1 ? (uint64_t)(deadline - 1) * 1000 : 0;

	uv_timer_start(&r->timer, resolver_on_timer, due > now ? due - now : 0, 0);
}

/* on_utm - udns: arm the timer timeout seconds after r->now, or stop it (< 0). */
static void on_utm(struct dns_ctx *ctx, int timeout, void *data)
{
	struct resolver *r = data;

	if (!r->timer_init || r->released)
		return;
	if (ctx == NULL || timeout < 0)
		uv_timer_stop(&r->timer);
	else if (timeout == 0)
		uv_timer_start(&r->timer, resolver_on_timer, 0, 0);
	else
		arm_timer(r, r->now + timeout);
}

/* clean_name - a query name fit for a log line. */
static const char *clean_name(char *buf, size_t size, const char *name)
{
	text_clean(buf, size, name, strlen(name));
	return buf;
}

/* query_free - take q off the resolver's list and free it. */
static void query_free(struct resolver_query *q)
{
	LIST_REMOVE(q, link);
	free(q);
}

/* map_status - a udns status (< 0) as ours. A garbled reply is a failure, not "no record". */
static enum resolver_status map_status(int status)
{
	switch (status) {
	case DNS_E_NXDOMAIN: return RESOLVER_NXDOMAIN;
	case DNS_E_NODATA: return RESOLVER_NODATA;
	case DNS_E_TEMPFAIL: /* timeout, SERVFAIL, REFUSED, no reply */
	case DNS_E_PROTOCOL: /* garbled or unusable reply */ return RESOLVER_TEMPFAIL;
	default: /* DNS_E_NOMEM, DNS_E_BADQUERY, unknown */ return RESOLVER_ERROR;
	}
}

/* deliver - call q's callback with a udns result (may be NULL) or a failure. */
static void deliver(struct resolver_query *q, enum resolver_status status, const void *result)
{
	if (q->txt) {
		const struct dns_rr_txt *t = result;
		if (t && t->dnstxt_nrr > 0 && t->dnstxt_txt[0].len >= 0)
			q->cb.txt(q->arg, RESOLVER_OK, (const char *)t->dnstxt_txt[0].txt,
				  (size_t)t->dnstxt_txt[0].len, t->dnstxt_ttl);
		else
			q->cb.txt(q->arg, t ? RESOLVER_NODATA : status, NULL, 0, 0);
	} else {
		const struct dns_rr_a4 *a = result;
		if (a && a->dnsa4_nrr > 0)
			q->cb.a(q->arg, RESOLVER_OK,
				(const uint8_t(*)[4])(const void *)a->dnsa4_addr,
				(size_t)a->dnsa4_nrr, a->dnsa4_ttl);
		else
			q->cb.a(q->arg, a ? RESOLVER_NODATA : status, NULL, 0, 0);
	}
}

/*
 * on_answer - udns: query q ended with result (a malloc'd block) or, when result is
 * NULL, the status in dns_status(). udns has already freed its own query.
 */
static void on_answer(struct dns_ctx *ctx, void *result, void *data)
{
	struct resolver_query *q = data;
	struct resolver *r = q->r;
	int status = result ? 0 : dns_status(ctx);

	if (q->live) {
		q->live = false;
		r->pending--;
		if (status == DNS_E_PROTOCOL && log_enabled(LOG_LEVEL_DEBUG)) {
			char buf[128];
			log_debug("resolver: %s %s: unusable reply", q->txt ? "TXT" : "A",
				  clean_name(buf, sizeof(buf), q->name));
		}
		deliver(q, map_status(status), result);
	}
	free(result);
	query_free(q);
}

/*
 * answers_name - untrusted reply: does any answer record (any type, CNAME
 * included) belong to the queried name qdn?
 */
static bool answers_name(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end)
{
	struct dns_parse p;
	struct dns_rr rr;

	dns_initparse(&p, qdn, pkt, cur, end);
	p.dnsp_qtyp = 0;
	p.dnsp_qcls = 0;
	return dns_nextrr(&p, &rr) > 0;
}

/*
 * question_is_plain - untrusted reply: the question name is stored as plain
 * labels that end inside the packet, right before cur. udns 0.4 matches the
 * question with dns_getdn (compression allowed), but its parsers then read the
 * bytes at dns_payload(pkt) as an uncompressed name, without a bound
 * (dns_stdrr_size, dns_stdrr_finish): a compressed question name makes them read
 * past the reply, and a long one makes dns_dntop_size() return 0 so that
 * dns_dntop() writes up to 1 KiB past the result block.
 */
static bool question_is_plain(dnscc_t *pkt, dnscc_t *cur, dnscc_t *end)
{
	dnscc_t *p = dns_payload(pkt);

	while (p < end && *p != 0) {
		if (*p > DNS_MAXLABEL || end - p <= *p + 1)
			return false;
		p += *p + 1;
	}
	return p < end && p + 1 == cur;
}

/*
 * parse_checked - untrusted reply: udns's parser, except that a question name
 * udns cannot parse safely, and answer records all about other names (NODATA for
 * udns), are protocol errors. udns calls parsers only for NOERROR replies with a
 * non-empty answer section.
 */
static int parse_checked(dns_parse_fn *parse, dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur,
			 dnscc_t *end, void **result)
{
	if (!question_is_plain(pkt, cur, end))
		return DNS_E_PROTOCOL;
	int rc = parse(qdn, pkt, cur, end, result);

	if (rc == DNS_E_NODATA && !answers_name(qdn, pkt, cur, end))
		return DNS_E_PROTOCOL;
	return rc;
}

/* parse_a - untrusted reply to an A query. */
static int parse_a(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end, void **result)
{
	return parse_checked(dns_parse_a4, qdn, pkt, cur, end, result);
}

/* parse_txt - untrusted reply to a TXT query. */
static int parse_txt(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end, void **result)
{
	return parse_checked(dns_parse_txt, qdn, pkt, cur, end, result);
}

/* on_close - libuv: one of our handles is closed; the last one frees r. */
static void on_close(uv_handle_t *h)
{
	struct resolver *r = h->data;

	if (--r->handles == 0)
		free(r);
}

/*
 * release - the shutdown order of HACKING.md (traps): stop and close the poll, clear the
 * timer callback, dns_free (drops udns's queries, no callbacks), close the timer;
 * then our remaining query structs. r itself goes in the last close callback.
 */
static void release(struct resolver *r)
{
	if (r->released)
		return;
	r->released = true;
	if (r->poll_init) {
		uv_poll_stop(&r->poll);
		uv_close((uv_handle_t *)&r->poll, on_close);
	}
	if (r->ctx) {
		dns_set_tmcbck(r->ctx, NULL, NULL);
		dns_free(r->ctx);
		r->ctx = NULL;
	}
	if (r->timer_init) {
		uv_timer_stop(&r->timer);
		uv_close((uv_handle_t *)&r->timer, on_close);
	}
	while (!LIST_EMPTY(&r->queries))
		query_free(LIST_FIRST(&r->queries));
	if (r->handles == 0)
		free(r);
}

/* after_udns - back from udns: finish a deferred resolver_free, or guard against the stall. */
static void after_udns(struct resolver *r)
{
	if (r->busy)
		return;
	if (r->closing) {
		release(r);
		return;
	}
	if (dns_active(r->ctx) > 0 && !uv_is_active((uv_handle_t *)&r->timer))
		uv_timer_start(&r->timer, resolver_on_timer, 0, 0);
}

/* resolver_on_timer - libuv: let udns retransmit and expire; re-arm if udns did not. */
static void resolver_on_timer(uv_timer_t *t)
{
	struct resolver *r = t->data;
	int wait;

	r->busy++;
	r->now = udns_clock(r);
	wait = dns_timeouts(r->ctx, -1, r->now);
	r->busy--;
	if (!r->busy && !r->closing && wait >= 0 && !uv_is_active((uv_handle_t *)t))
		arm_timer(r, r->now + wait);
	after_udns(r);
}

/*
 * on_readable - libuv: replies (or junk) wait on the udns socket. libuv stops the
 * poll after reporting an error; reading clears a socket error, so poll again.
 */
static void on_readable(uv_poll_t *h, int status, int events)
{
	struct resolver *r = h->data;

	if (status < 0)
		log_debug("resolver: poll: %s", uv_strerror(status));
	r->busy++;
	r->now = udns_clock(r);
	dns_ioevent(r->ctx, r->now);
	r->busy--;
	after_udns(r);
	if (status < 0 && !r->closing)
		uv_poll_start(&r->poll, UV_READABLE, on_readable);
}

/* format_addr - "address port" of a nameserver, for logs. */
static const char *format_addr(char *buf, size_t size, const struct sockaddr_storage *ss)
{
	char host[64] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		uv_ip4_name(sin, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(sin6, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(buf, size, "%s port %u", host, port);
	return buf;
}

/* add_servers - the configured nameservers, with their ports; none: keep resolv.conf's. */
static bool add_servers(struct resolver *r, const struct config *cfg)
{
	char buf[96];

	if (cfg->nameserver_count == 0)
		return true;
	dns_add_serv(r->ctx, NULL);
	for (size_t i = 0; i < cfg->nameserver_count; i++) {
		const struct sockaddr_storage *ss = &cfg->nameserver[i];
		if (i == DNS_MAXSERV) {
			log_warn("resolver: only the first %d nameservers are used", DNS_MAXSERV);
			break;
		}
		if (dns_add_serv_s(r->ctx, (const struct sockaddr *)ss) < 0) {
			log_error("resolver: nameserver %s: %s", format_addr(buf, sizeof(buf), ss),
				  strerror(errno));
			return false;
		}
	}
	return true;
}

/* configure - servers, no search list, timeout (whole seconds, at least 2) and tries. */
static bool configure(struct resolver *r, const struct config *cfg)
{
	/* udns counts whole seconds from a clock that ticks once a second, so a try of
	 * N seconds ends anywhere in (N-1, N]. One second more makes every try last at
	 * least the configured time; request_timeout bounds the total anyway. */
	unsigned long secs = (cfg->dns_timeout_ms + 999) / 1000 + 1;
	long tries = cfg->dns_tries;

	if (secs < 1)
		secs = 1;
	if (secs > RESOLVER_MAX_TIMEOUT_S)
		secs = RESOLVER_MAX_TIMEOUT_S;
	if (tries < 1)
		tries = 1;
	if (tries > RESOLVER_MAX_TRIES)
		tries = RESOLVER_MAX_TRIES;
	if (!add_servers(r, cfg))
		return false;
	dns_add_srch(r->ctx, NULL);
	if (dns_set_opt(r->ctx, DNS_OPT_TIMEOUT, (int)secs) < 0 ||
	    dns_set_opt(r->ctx, DNS_OPT_NTRIES, (int)tries) < 0) {
		log_error("resolver: cannot set timeout %lus and %ld tries", secs, tries);
		return false;
	}
	log_debug("resolver: %zu nameserver(s)%s, timeout %lus, %ld tries", cfg->nameserver_count,
		  cfg->nameserver_count ? "" : " (resolv.conf)", secs, tries);
	return true;
}

/* resolver_new - see resolver.h. */
struct resolver *resolver_new(uv_loop_t *loop, const struct config *cfg)
{
	struct resolver *r = calloc(1, sizeof(*r));
	int fd, rc;

	if (!r) {
		log_error("resolver: out of memory");
		return NULL;
	}
	r->loop = loop;
	LIST_INIT(&r->queries);
	r->poll.data = r;
	r->timer.data = r;
	if (dns_init(NULL, 0) < 0 || !(r->ctx = dns_new(NULL))) {
		log_error("resolver: cannot create a udns context");
		goto fail;
	}
	if (!configure(r, cfg))
		goto fail;
	fd = dns_open(r->ctx);
	if (fd < 0) {
		log_error("resolver: cannot open the DNS socket: %s", strerror(errno));
		goto fail;
	}
	uv_timer_init(loop, &r->timer);
	r->timer_init = true;
	r->handles++;
	rc = uv_poll_init(loop, &r->poll, fd);
	if (rc < 0) {
		log_error("resolver: uv_poll_init: %s", uv_strerror(rc));
		goto fail;
	}
	r->poll_init = true;
	r->handles++;
	rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
	if (rc < 0) {
		log_error("resolver: uv_poll_start: %s", uv_strerror(rc));
		goto fail;
	}
	r->now = udns_clock(r);
	dns_set_tmcbck(r->ctx, on_utm, r);
	return r;

fail:
	r->closing = true;
	release(r);
	return NULL;
}

/* resolver_submit - one query; NULL (callback never called) when udns refuses it. */
static struct resolver_query *resolver_submit(struct resolver *r, const char *name,
					      const char *shown, resolver_a_fn *a_cb,
					      resolver_txt_fn *txt_cb, void *arg)
{
	size_t len = strlen(name);
	bool txt = txt_cb != NULL;
	struct resolver_query *q;
	char buf[128];

	if (r->closing || len == 0 || len >= DNS_MAXNAME)
		return NULL;
	if (shown == NULL)
		shown = name;
	size_t shown_len = strlen(shown);
	q = malloc(sizeof(*q) + shown_len + 1);
	if (!q) {
		log_warn("resolver: out of memory");
		return NULL;
	}
	*q = (struct resolver_query){ .r = r, .txt = txt, .live = true, .arg = arg };
	if (txt)
		q->cb.txt = txt_cb;
	else
		q->cb.a = a_cb;
	memcpy(q->name, shown, shown_len + 1);
	if (!dns_submit_p(r->ctx, name, DNS_C_IN, txt ? DNS_T_TXT : DNS_T_A, DNS_NOSRCH,
			  txt ? parse_txt : parse_a, on_answer, q)) {
		log_debug("resolver: cannot query %s: %s", clean_name(buf, sizeof(buf), shown),
			  dns_strerror(dns_status(r->ctx)));
		free(q);
		return NULL;
	}
	LIST_INSERT_HEAD(&r->queries, q, link);
	r->pending++;
	/* udns asks for a timer only when its idea of the deadline changed: make sure. */
	if (!uv_is_active((uv_handle_t *)&r->timer))
		uv_timer_start(&r->timer, resolver_on_timer, 0, 0);
	return q;
}

/* resolver_query_a - see resolver.h. */
struct resolver_query *resolver_query_a(struct resolver *r, const char *name, const char *shown,
					resolver_a_fn *cb, void *arg)
{
	return cb ? resolver_submit(r, name, shown, cb, NULL, arg) : NULL;
}

/* resolver_query_txt - see resolver.h. */
struct resolver_query *resolver_query_txt(struct resolver *r, const char *name, const char *shown,
					  resolver_txt_fn *cb, void *arg)
{
	return cb ? resolver_submit(r, name, shown, NULL, cb, arg) : NULL;
}

/* resolver_cancel - see resolver.h: the udns query runs on; its answer is dropped. */
void resolver_cancel(struct resolver_query *q)
{
	if (!q || !q->live)
		return;
	q->live = false;
	q->r->pending--;
}

/* resolver_pending - see resolver.h; cancelled queries are not counted. */
size_t resolver_pending(const struct resolver *r)
{
	return r->pending;
}

/*
 * resolver_free - see resolver.h. Waiters are failed first, since dns_free drops
 * queries silently. Called (against the rules) from inside a resolver callback,
 * the release waits until udns has returned, rather than pulling the context from
 * under it.
 */
void resolver_free(struct resolver *r)
{
	struct resolver_query *q;

	if (!r || r->closing)
		return;
	r->closing = true;
	/* Callbacks cannot unlink a query here (only udns's answer or release does),
	 * nor add one (resolver_submit refuses while closing). */
	LIST_FOREACH(q, &r->queries, link) {
		if (!q->live)
			continue;
		q->live = false;
		r->pending--;
		deliver(q, RESOLVER_ERROR, NULL);
	}
	if (r->busy) {
		log_error("resolver: resolver_free called from a resolver callback");
		return;
	}
	release(r);
}
