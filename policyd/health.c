/*
 * health - RFC 5782 health checks and the circuit breaker (see health.h).
 *
 * A check asks a list for its test points: 127.0.0.2 (an RHSBL: "test") must be
 * listed and 127.0.0.1 ("invalid") must not. A list that fails is disabled with
 * an error-level log line, and re-enabled when it passes again. A list never
 * checked is not consulted: until the first check passes, nothing it says can
 * refuse mail. Memory: struct health owns its timer and the check records in
 * flight; each check holds a reference to the config whose list it checks.
 */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "log.h"
#include "resolver.h"

#define HEALTH_INTERVAL_MS (10 * 60 * 1000)
#define HEALTH_RETRY_MS (30 * 1000)   /* after a check that could not get an answer */
#define BREAKER_FIRST_MS (30 * 1000)
#define BREAKER_MAX_MS (10 * 60 * 1000)
#define ERROR_LOG_INTERVAL_MS (60 * 1000)

struct health {
	struct lookup_env *env;
	struct config *cfg;
	uv_timer_t timer;
	struct check *checks; /* in flight */
	bool retry_soon;
	bool first_round_done;
};

/* One list's check: two queries, listed and not-listed test points. */
struct check {
	struct check *next;
	struct health *h;
	struct config *cfg;
	size_t list;
	struct resolver_query *rq[2];
	enum { PROBE_PENDING, PROBE_LISTED, PROBE_NOT_LISTED, PROBE_FAILED } probe[2];
};

/* probe_result - what a test point answered, taken as listed, not listed, or no answer. */
static int probe_result(enum resolver_status status, const uint8_t (*addrs)[4], size_t count)
{
	if (status == RESOLVER_NXDOMAIN || status == RESOLVER_NODATA)
		return PROBE_NOT_LISTED;
	if (status != RESOLVER_OK)
		return PROBE_FAILED;
	for (size_t i = 0; i < count; i++)
		if (codes_classify(addrs[i]) == CODES_ANSWER_LISTING)
			return PROBE_LISTED;
	return PROBE_FAILED; /* only error codes: the operator refuses us, not a verdict */
}

/* judge - both probes are in: change the list's state, loudly when it changes. */
static void judge(struct check *c)
{
	struct list_config *l = &c->cfg->lists[c->list];
	struct list_health *st = &l->health;
	const char *kind = list_kind_name(l->kind);
	bool listed_ok = c->probe[0] == PROBE_LISTED;
	bool unlisted_ok = c->probe[1] == PROBE_NOT_LISTED;

	st->check_running = false;
	if (c->probe[0] == PROBE_FAILED || c->probe[1] == PROBE_FAILED) {
		log_warn("[%s %s]: health check got no usable answer; %s", kind, l->name,
			 st->healthy ? "keeping it enabled" : "not consulting it yet");
		c->h->retry_soon = true;
		return;
	}
	bool was = st->checked && st->healthy;
	st->checked = true;
	st->healthy = listed_ok && unlisted_ok;
	if (st->healthy && !was)
		log_info("[%s %s]: health check passed; list enabled", kind, l->name);
	else if (!st->healthy && !unlisted_ok)
		log_error("[%s %s]: the test point that must not be listed IS listed: the list "
			  "answers everything (wildcard or dead). Disabled until it passes again",
			  kind, l->name);
	else if (!st->healthy)
		log_error("[%s %s]: the test point that must be listed is NOT listed: the list is "
			  "dead or not served. Disabled until it passes again",
			  kind, l->name);
}

/* unlink_check - remove a finished check and drop its config reference. */
static void unlink_check(struct check *c)
{
	for (struct check **p = &c->h->checks; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	config_unref(c->cfg);
	free(c);
}

/* on_probe - one test point answered. */
static void on_probe(struct check *c, int which, enum resolver_status status,
		     const uint8_t (*addrs)[4], size_t count)
{
	c->rq[which] = NULL;
	c->probe[which] = probe_result(status, addrs, count);
	if (c->probe[0] == PROBE_PENDING || c->probe[1] == PROBE_PENDING)
		return;
	judge(c);
	unlink_check(c);
}

static void on_listed_probe(void *arg, enum resolver_status s, const uint8_t (*a)[4], size_t n,
			    uint32_t ttl)
{
	(void)ttl;
	on_probe(arg, 0, s, a, n);
}

static void on_unlisted_probe(void *arg, enum resolver_status s, const uint8_t (*a)[4], size_t n,
			      uint32_t ttl)
{
	(void)ttl;
	on_probe(arg, 1, s, a, n);
}

/* start_check - query both test points of list i. */
static void start_check(struct health *h, size_t i)
{
	struct list_config *l = &h->cfg->lists[i];
	bool domains = l->kind == LIST_RHSBL;
	char listed[300], unlisted[300];
	struct check *c;

	if (l->kind == LIST_LOCAL || l->health.check_running || h->env->resolver == NULL)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->h = h;
	c->cfg = config_ref(h->cfg);
	c->list = i;
	snprintf(listed, sizeof(listed), "%s.%s", domains ? "test" : "2.0.0.127", l->name);
	snprintf(unlisted, sizeof(unlisted), "%s.%s", domains ? "invalid" : "1.0.0.127", l->name);
	c->rq[0] = resolver_query_a(h->env->resolver, listed, on_listed_probe, c);
	c->rq[1] = resolver_query_a(h->env->resolver, unlisted, on_unlisted_probe, c);
	if (c->rq[0] == NULL || c->rq[1] == NULL) {
		if (c->rq[0])
			resolver_cancel(c->rq[0]);
		if (c->rq[1])
			resolver_cancel(c->rq[1]);
		config_unref(c->cfg);
		free(c);
		h->retry_soon = true;
		return;
	}
	l->health.check_running = true;
	c->next = h->checks;
	h->checks = c;
}

/* on_timer - a round of checks; the next one comes sooner if this one lacked answers. */
static void on_timer(uv_timer_t *t)
{
	struct health *h = t->data;

	h->retry_soon = false;
	for (size_t i = 0; i < h->cfg->list_count; i++)
		start_check(h, i);
	h->first_round_done = true;
	uv_timer_start(&h->timer, on_timer, h->retry_soon ? HEALTH_RETRY_MS : HEALTH_INTERVAL_MS, 0);
}

/* health_new - first round at once (from the loop), then every 10 minutes. */
struct health *health_new(struct lookup_env *env, struct config *cfg)
{
	struct health *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->env = env;
	h->cfg = config_ref(cfg);
	uv_timer_init(env->loop, &h->timer);
	h->timer.data = h;
	uv_timer_start(&h->timer, on_timer, 0, 0);
	uv_unref((uv_handle_t *)&h->timer);
	return h;
}

/* health_set_config - the same list keeps its state; new and disabled lists are checked now. */
void health_set_config(struct health *h, struct config *cfg)
{
	for (size_t i = 0; i < cfg->list_count; i++) {
		struct list_config *l = &cfg->lists[i];
		for (size_t j = 0; j < h->cfg->list_count; j++) {
			const struct list_config *old = &h->cfg->lists[j];
			if (old->kind == l->kind && strcmp(old->name, l->name) == 0) {
				l->health = old->health;
				l->health.check_running = false;
			}
		}
	}
	config_unref(h->cfg);
	h->cfg = config_ref(cfg);
	/* New lists, and disabled ones: an administrator who fixed a list reloads
	 * and expects it back now, not at the next 10-minute round. */
	for (size_t i = 0; i < cfg->list_count; i++)
		if (!cfg->lists[i].health.checked || !cfg->lists[i].health.healthy)
			start_check(h, i);
}

/* close_timer - free the health state once its timer has closed. */
static void close_timer(uv_handle_t *handle)
{
	free(handle->data);
}

/* health_free - abandon checks in flight and stop the timer. */
void health_free(struct health *h)
{
	if (h == NULL)
		return;
	while (h->checks != NULL) {
		struct check *c = h->checks;
		for (int k = 0; k < 2; k++)
			if (c->rq[k])
				resolver_cancel(c->rq[k]);
		unlink_check(c);
	}
	config_unref(h->cfg);
	uv_close((uv_handle_t *)&h->timer, close_timer);
}

/* health_busy - checks in flight, or the first round not started yet. */
bool health_busy(const struct health *h)
{
	return !h->first_round_done || h->checks != NULL;
}

/* health_usable - healthy and not skipped by the breaker (half-open after the wait). */
enum list_outcome health_usable(const struct list_config *l, uint64_t now)
{
	if (!l->health.checked || !l->health.healthy)
		return OUTCOME_UNHEALTHY;
	if (l->health.failures >= HEALTH_BREAKER_FAILURES && now < l->health.open_until)
		return OUTCOME_BREAKER;
	return OUTCOME_PENDING;
}

/* health_record - count failures in a row; open the breaker once, close it on an answer. */
void health_record(struct list_config *l, bool answered, uint64_t now)
{
	struct list_health *st = &l->health;

	if (answered) {
		if (st->failures >= HEALTH_BREAKER_FAILURES)
			log_info("[%s %s]: answers again; circuit breaker closed",
				 list_kind_name(l->kind), l->name);
		st->failures = 0;
		st->backoff_ms = 0;
		return;
	}
	if (++st->failures < HEALTH_BREAKER_FAILURES || now < st->open_until)
		return;
	st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : BREAKER_FIRST_MS;
	if (st->backoff_ms > BREAKER_MAX_MS)
		st->backoff_ms = BREAKER_MAX_MS;
	st->open_until = now + st->backoff_ms;
	log_warn("[%s %s]: %u lookups in a row failed; skipping the list for %llu s",
		 list_kind_name(l->kind), l->name, st->failures,
		 (unsigned long long)(st->backoff_ms / 1000));
}

/* health_error_code - explain an error answer, at most once a minute per list. */
void health_error_code(struct list_config *l, const uint8_t code[4], uint64_t now)
{
	struct list_health *st = &l->health;

	if (st->last_error_log != 0 && now - st->last_error_log < ERROR_LOG_INTERVAL_MS)
		return;
	st->last_error_log = now ? now : 1;
	if (codes_classify(code) == CODES_ANSWER_REFUSED)
		log_warn("[%s %s]: answered %u.%u.%u.%u, an error code (the operator refuses "
			 "queries through public resolvers, or rate-limits us): not counted as a "
			 "listing. Use a local recursive resolver or mirror the zone (see README)",
			 list_kind_name(l->kind), l->name, code[0], code[1], code[2], code[3]);
	else
		log_warn("[%s %s]: answered %u.%u.%u.%u, outside 127.0.0.0/8: not counted as a "
			 "listing",
			 list_kind_name(l->kind), l->name, code[0], code[1], code[2], code[3]);
}
