/*
 * metrics - the daemon's counters in Prometheus's text format (version 0.0.4), for
 * GET /metrics on the HTTP listener: requests and replies by action, the verdict
 * cache, DNS, each list's health, breaker and counters, connections, and the
 * latency histogram. Every family has its HELP and TYPE lines, counters end in
 * _total, label values are escaped, so that `promtool check metrics` accepts it.
 *
 * Memory: the text is built in a heap buffer that the caller frees (libmicrohttpd
 * takes it over); nothing is kept between calls.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

/* put - append formatted text, growing the buffer; remembers a failure. */
__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *grown = realloc(o->buf, cap);
		if (grown == NULL) {
			o->failed = true;
			return;
		}
		o->buf = grown;
		o->cap = cap;
	}
}

/* family - the HELP and TYPE lines of one metric family. */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* counter / gauge - one family of one sample. */
static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	put(o, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "gauge", help);
	put(o, "%s %" PRIu64 "\n", name, v);
}

/* list_labels - the labels of one list; zone names hold no quote or backslash (checked at load). */
static void list_labels(char *buf, size_t size, const struct list_health *h)
{
	snprintf(buf, size, "list=\"%s\",kind=\"%s\"", health_name(h),
		 list_kind_name(health_kind(h)));
}

/*
 * per_list_if - one family with a sample per DNS list of the running configuration,
 * or only for the observed ones.
 */
static void per_list_if(struct out *o, const struct engine *e, bool observed_only, const char *name,
			const char *type, const char *help,
			uint64_t (*value)(const struct engine *, const struct list_health *))
{
	const struct config *cfg = engine_config(e);

	family(o, name, type, help);
	for (size_t i = 0; i < cfg->rules.list_count; i++) {
		const struct list_health *h = engine_health(e, i);
		char labels[320];
		if (h == NULL || (observed_only && !cfg->rules.lists[i].observe))
			continue;
		list_labels(labels, sizeof(labels), h);
		put(o, "%s{%s} %" PRIu64 "\n", name, labels, value(e, h));
	}
}

/* per_list - a sample per DNS list. */
static void per_list(struct out *o, const struct engine *e, const char *name, const char *type,
		     const char *help,
		     uint64_t (*value)(const struct engine *, const struct list_health *))
{
	per_list_if(o, e, false, name, type, help, value);
}

static uint64_t list_queries(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_counters(h)->queries;
}

static uint64_t list_listed(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_counters(h)->listed;
}

static uint64_t list_errors(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_counters(h)->errors;
}

static uint64_t list_refusals(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_counters(h)->refusals;
}

static uint64_t list_failures(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_counters(h)->failures;
}

static uint64_t list_sole(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_counters(h)->sole;
}

static uint64_t list_observed(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_counters(h)->observed;
}

static uint64_t list_enabled(const struct engine *e, const struct list_health *h)
{
	(void)e;
	return health_enabled(h);
}

static uint64_t list_breaker(const struct engine *e, const struct list_health *h)
{
	return engine_list_state(e, h) == OUTCOME_BREAKER;
}

/* histogram - the latency of replies, cumulative buckets in seconds. */
static void histogram(struct out *o)
{
	uint64_t cumulative = 0, count = 0;

	family(o, "policyd_reply_duration_seconds", "histogram",
	       "Time from a request to its reply; requests answered from the cache at once count in the first bucket.");
	for (unsigned b = 0; b < STATS_BUCKETS; b++)
		count += stats.latency[b];
	for (unsigned b = 0; b < STATS_BUCKETS - 1; b++) {
		cumulative += stats.latency[b];
		put(o, "policyd_reply_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
		    (double)stats_bucket_us[b] / 1e6, cumulative);
	}
	put(o, "policyd_reply_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", count);
	put(o, "policyd_reply_duration_seconds_sum %.6f\n", (double)stats.latency_us_total / 1e6);
	put(o, "policyd_reply_duration_seconds_count %" PRIu64 "\n", count);
}

/* greylisting - the families of [greylist], when soft_action = greylist. */
static void greylisting(struct out *o, const struct engine_counters *c)
{
	uint64_t cumulative = 0;

	family(o, "policyd_greylist_answers_total", "counter",
	       "Soft-tier requests by what the greylist store answered: new and early were deferred; retried, known, allowed and unavailable passed.");
	for (unsigned a = 0; a < sizeof(stats.greylist) / sizeof(stats.greylist[0]); a++)
		put(o, "policyd_greylist_answers_total{answer=\"%s\"} %" PRIu64 "\n",
		    greylist_answer_name((enum greylist_answer)a), stats.greylist[a]);
	gauge(o, "policyd_greylist_entries", "Triplets and networks in the memory store.",
	      c->greylist_entries);
	counter(o, "policyd_greylist_store_errors_total",
		"Greylist store commands that failed or missed their deadline (the request passed).",
		stats.greylist_store_errors);
	counter(o, "policyd_greylist_store_outages_total",
		"Times the Redis greylist store went down.", stats.greylist_store_outages);
	gauge(o, "policyd_greylist_store_up", "1 while the Redis greylist store answers.",
	      stats.greylist_store_up);
	family(o, "policyd_greylist_store_duration_seconds", "histogram",
	       "Time the Redis greylist store took to answer.");
	for (unsigned b = 0; b < STATS_BUCKETS - 1; b++) {
		cumulative += stats.greylist_store_latency[b];
		put(o, "policyd_greylist_store_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
		    (double)stats_bucket_us[b] / 1e6, cumulative);
	}
	put(o, "policyd_greylist_store_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
	    stats.greylist_store_answers);
	put(o, "policyd_greylist_store_duration_seconds_sum %.6f\n",
	    (double)stats.greylist_store_us_total / 1e6);
	put(o, "policyd_greylist_store_duration_seconds_count %" PRIu64 "\n",
	    stats.greylist_store_answers);
}

/* metrics_render - every family, in a fixed order. */
char *metrics_render(const struct engine *e, unsigned long open_connections, size_t *len)
{
	static const char *const actions[STATS_ACTIONS] = { "dunno", "reject",  "defer",
							    "warn",  "prepend", "defer_if_permit" };
	struct out o = { .cap = 8192 };
	struct engine_counters c;

	o.buf = malloc(o.cap);
	if (o.buf == NULL)
		return NULL;
	engine_counters(e, &c);
	counter(&o, "policyd_requests_total", "Requests received (each gets one reply).",
		stats.requests);
	family(&o, "policyd_replies_total", "counter", "Replies sent, by action.");
	for (unsigned k = 0; k < STATS_ACTIONS; k++)
		put(&o, "policyd_replies_total{action=\"%s\"} %" PRIu64 "\n", actions[k],
		    stats.replies[k]);
	counter(&o, "policyd_replies_on_error_total",
		"Replies that were the on_error answer: lookups did not finish in time.",
		stats.replies_on_error);
	counter(&o, "policyd_replies_exempt_total",
		"DUNNO replies because the recipient is exempt (the contact, postmaster@...).",
		stats.replies_exempt);
	counter(&o, "policyd_replies_cached_total", "Replies decided without waiting for DNS.",
		stats.replies_cached);
	gauge(&o, "policyd_requests_waiting", "Requests waiting for DNS now.", c.waiting);
	gauge(&o, "policyd_cache_entries", "Verdicts in the cache.", c.cache_entries);
	gauge(&o, "policyd_cache_capacity", "The cache's size ([cache] size).", c.cache_capacity);
	counter(&o, "policyd_cache_hits_total", "Cache lookups that found a live verdict.",
		c.cache_hits);
	counter(&o, "policyd_cache_misses_total", "Cache lookups that found none.", c.cache_misses);
	counter(&o, "policyd_cache_evictions_total", "Verdicts dropped to make room.",
		c.cache_evictions);
	counter(&o, "policyd_cache_expiries_total", "Verdicts dropped because they expired.",
		c.cache_expiries);
	counter(&o, "policyd_lookups_coalesced_total",
		"Requests that joined a lookup already in flight for their key.", c.coalesced);
	gauge(&o, "policyd_lookups_in_flight", "Key lookups waiting for DNS now.",
	      c.keyjobs_in_flight);
	gauge(&o, "policyd_reasons", "Distinct TXT reasons stored for the cache.", c.reasons);
	counter(&o, "policyd_dns_queries_total", "DNS queries sent for lookups (A and TXT).",
		stats.dns_queries);
	counter(&o, "policyd_dns_failures_total",
		"Lookups that failed: timeout, SERVFAIL, garbage.", stats.dns_failures);
	counter(&o, "policyd_dns_error_answers_total",
		"Answers that were error codes or refusals (127.255.255.x, outside 127/8, refused_codes): never a listing.",
		stats.list_errors);
	counter(&o, "policyd_lookups_timed_out_total",
		"Requests whose lookups had not finished by request_timeout.",
		stats.lookups_timed_out);
	per_list(&o, e, "policyd_list_queries_total", "counter", "DNS queries sent to each list.",
		 list_queries);
	per_list(&o, e, "policyd_list_listed_total", "counter",
		 "Lookups in which each list said listed.", list_listed);
	per_list(&o, e, "policyd_list_error_answers_total", "counter",
		 "Error answers of each list (never a listing), refusals aside.", list_errors);
	per_list(
		&o, e, "policyd_list_refusals_total", "counter",
		"Refusal answers of each list (127.255.255.254, a dnswl's 127.0.0.255, refused_codes): the list is disabled until its health check passes.",
		list_refusals);
	per_list(&o, e, "policyd_list_failures_total", "counter",
		 "Lookups of each list that failed (timeout, SERVFAIL).", list_failures);
	per_list(
		&o, e, "policyd_list_sole_hits_total", "counter",
		"Refusals that each list's hit alone made: without its weight the score would have fallen into a milder tier.",
		list_sole);
	per_list_if(
		&o, e, true, "policyd_list_observed_hits_total", "counter",
		"Requests that each observed list (mode = observe) said listed: hits that would have counted.",
		list_observed);
	per_list(&o, e, "policyd_list_enabled", "gauge",
		 "1 when the list passed its RFC 5782 health check and is asked.", list_enabled);
	per_list(&o, e, "policyd_list_breaker_open", "gauge",
		 "1 while the circuit breaker skips the list.", list_breaker);
	counter(&o, "policyd_connections_total", "Policy connections accepted.", stats.connections);
	counter(&o, "policyd_connections_refused_total",
		"Policy connections refused (allow, max_connections, descriptors).",
		stats.connections_refused);
	gauge(&o, "policyd_connections_open", "Policy connections open now.", open_connections);
	counter(&o, "policyd_protocol_errors_total", "Connections closed for a protocol violation.",
		stats.protocol_errors);
	histogram(&o);
	if (c.greylisting)
		greylisting(&o, &c);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
