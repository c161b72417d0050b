/*
 * probe - RFC 5782 checks on a timer (see probe.h).
 *
 * Each check asks both test points of one list at once and judges when both have
 * answered. "No usable answer" (SERVFAIL, timeout, only error codes) is not a
 * verdict: the list keeps its state and the next round comes after
 * PROBE_RETRY_MS instead of the full interval. A test point answered with a
 * refusal (codes_refused) is one: the list is disabled as refused, and said so.
 */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "codes.h"
#include "log.h"
#include "resolver.h"

/* After a round in which some check got no answer. */
#define PROBE_RETRY_MS (30 * 1000)

struct target {
	enum list_kind kind;
	char *zone;  /* what is queried (a keyed zone holds the site's key) */
	char *shown; /* the zone as debug log lines may show it */
	struct list_health *health;
	struct codes refusals; /* the list's filter: only its refusal answers are read */
};

struct probe {
	uv_loop_t *loop;
	struct resolver *resolver;
	uv_timer_t timer;
	uint64_t interval_ms;
	struct target *targets; /* the current configuration's DNS lists */
	size_t target_count;
	LIST_HEAD(, check) checks; /* in flight */
	bool retry_soon;
	bool first_round_done;
};

enum point { POINT_PENDING, POINT_LISTED, POINT_NOT_LISTED, POINT_FAILED, POINT_REFUSED };

/* One list's check: two queries, the listed and the unlisted test point. */
struct check {
	LIST_ENTRY(check) link; /* on p->checks */
	struct probe *p;
	struct list_health *health;
	struct resolver_query *rq[2];
	enum point point[2];
	uint8_t refusal[4]; /* the refusal answer of a POINT_REFUSED */
	struct codes refusals;
};

/*
 * point_result - a test point's answer: listed, not listed, refused (the refusal
 * answer into c->refusal) or no usable answer.
 */
static enum point point_result(struct check *c, enum resolver_status status,
			       const uint8_t (*addrs)[4], size_t count)
{
	if (status == RESOLVER_NXDOMAIN || status == RESOLVER_NODATA)
		return POINT_NOT_LISTED;
	if (status != RESOLVER_OK)
		return POINT_FAILED;
	for (size_t i = 0; i < count; i++) {
		if (codes_refused(&c->refusals, addrs[i])) {
			memcpy(c->refusal, addrs[i], 4);
			return POINT_REFUSED;
		}
	}
	for (size_t i = 0; i < count; i++)
		if (codes_classify(addrs[i]) == CODES_ANSWER_LISTING)
			return POINT_LISTED;
	return POINT_FAILED; /* only error codes: the operator refuses us, not a verdict */
}

/* unlink_check - remove a finished check and drop its health reference. */
static void unlink_check(struct check *c)
{
	LIST_REMOVE(c, link);
	health_check_end(c->health);
	health_unref(c->health);
	free(c);
}

/* on_point - one test point answered; the second one settles the check. */
static void on_point(struct check *c, int which, enum resolver_status status,
		     const uint8_t (*addrs)[4], size_t count)
{
	struct list_health *h = c->health;

	c->rq[which] = NULL;
	c->point[which] = point_result(c, status, addrs, count);
	if (c->point[0] == POINT_PENDING || c->point[1] == POINT_PENDING)
		return;
	if (c->point[0] == POINT_REFUSED || c->point[1] == POINT_REFUSED) {
		health_refused(h, c->refusal);
	} else if (c->point[0] == POINT_FAILED || c->point[1] == POINT_FAILED) {
		health_unanswered(h);
		c->p->retry_soon = true;
	} else {
		health_judge(h, c->point[0] == POINT_LISTED, c->point[1] == POINT_NOT_LISTED);
	}
	unlink_check(c);
}

static void on_listed_point(void *arg, enum resolver_status s, const uint8_t (*a)[4], size_t n,
			    uint32_t ttl)
{
	(void)ttl;
	on_point(arg, 0, s, a, n);
}

static void on_unlisted_point(void *arg, enum resolver_status s, const uint8_t (*a)[4], size_t n,
			      uint32_t ttl)
{
	(void)ttl;
	on_point(arg, 1, s, a, n);
}

/* start_check - query both test points of one list, unless a check is running. */
static void start_check(struct probe *p, const struct target *t)
{
	bool domains = t->kind == LIST_RHSBL;
	char listed[300], unlisted[300], shown[2][300];
	struct check *c;

	if (!health_check_begin(t->health))
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		health_check_end(t->health);
		p->retry_soon = true;
		return;
	}
	c->p = p;
	c->health = health_ref(t->health);
	c->refusals = t->refusals;
	snprintf(listed, sizeof(listed), "%s.%s", domains ? "test" : "2.0.0.127", t->zone);
	snprintf(unlisted, sizeof(unlisted), "%s.%s", domains ? "invalid" : "1.0.0.127", t->zone);
	snprintf(shown[0], sizeof(shown[0]), "%s.%s", domains ? "test" : "2.0.0.127", t->shown);
	snprintf(shown[1], sizeof(shown[1]), "%s.%s", domains ? "invalid" : "1.0.0.127", t->shown);
	c->rq[0] = resolver_query_a(p->resolver, listed, shown[0], on_listed_point, c);
	c->rq[1] = resolver_query_a(p->resolver, unlisted, shown[1], on_unlisted_point, c);
	if (c->rq[0] == NULL || c->rq[1] == NULL) {
		resolver_cancel(c->rq[0]);
		resolver_cancel(c->rq[1]);
		health_check_end(c->health);
		health_unref(c->health);
		free(c);
		p->retry_soon = true;
		return;
	}
	LIST_INSERT_HEAD(&p->checks, c, link);
}

/* probe_on_timer - a round of checks; the next one comes sooner if this one lacked answers. */
static void probe_on_timer(uv_timer_t *timer)
{
	struct probe *p = timer->data;

	p->retry_soon = false;
	for (size_t i = 0; i < p->target_count; i++)
		start_check(p, &p->targets[i]);
	p->first_round_done = true;
	uv_timer_start(&p->timer, probe_on_timer,
		       p->retry_soon && PROBE_RETRY_MS < p->interval_ms ? PROBE_RETRY_MS
									: p->interval_ms,
		       0);
}

/* probe_new - the first round from the loop, at once. */
struct probe *probe_new(uv_loop_t *loop, struct resolver *resolver, uint64_t interval_ms)
{
	struct probe *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->loop = loop;
	LIST_INIT(&p->checks);
	p->resolver = resolver;
	p->interval_ms = interval_ms;
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, probe_on_timer, 0, 0);
	uv_unref((uv_handle_t *)&p->timer);
	return p;
}

/* free_targets - drop the copy of the lists. */
static void free_targets(struct probe *p)
{
	for (size_t i = 0; i < p->target_count; i++) {
		free(p->targets[i].zone);
		free(p->targets[i].shown);
		health_unref(p->targets[i].health);
	}
	free(p->targets);
	p->targets = NULL;
	p->target_count = 0;
}

/* probe_set_lists - copy the DNS lists; check new and disabled ones now (after the first round). */
void probe_set_lists(struct probe *p, const struct rules *r, struct list_health *const *health,
		     uint64_t interval_ms)
{
	free_targets(p);
	p->targets = calloc(r->list_count ? r->list_count : 1, sizeof(*p->targets));
	if (p->targets == NULL)
		return;
	for (size_t i = 0; i < r->list_count; i++) {
		struct target *t = &p->targets[p->target_count];
		if (r->lists[i].kind == LIST_LOCAL || health[i] == NULL)
			continue;
		t->kind = r->lists[i].kind;
		t->zone = strdup(r->lists[i].zone);
		t->shown = strdup(r->lists[i].zone_shown);
		if (t->zone == NULL || t->shown == NULL) {
			free(t->zone);
			free(t->shown);
			continue;
		}
		t->health = health_ref(health[i]);
		t->refusals = *r->lists[i].codes;
		p->target_count++;
	}
	if (interval_ms != p->interval_ms) {
		p->interval_ms = interval_ms;
		if (p->first_round_done)
			uv_timer_start(&p->timer, probe_on_timer, interval_ms, 0);
	}
	if (!p->first_round_done)
		return;
	for (size_t i = 0; i < p->target_count; i++)
		if (!health_enabled(p->targets[i].health))
			start_check(p, &p->targets[i]);
}

/* probe_busy - checks in flight, or the first round not begun. */
bool probe_busy(const struct probe *p)
{
	return !p->first_round_done || !LIST_EMPTY(&p->checks);
}

/* close_timer - free the probe once its timer has closed. */
static void close_timer(uv_handle_t *handle)
{
	free(handle->data);
}

/* probe_free - cancel what is in flight (the resolver drops those answers). */
void probe_free(struct probe *p)
{
	struct check *c;

	if (p == NULL)
		return;
	while ((c = LIST_FIRST(&p->checks)) != NULL) {
		resolver_cancel(c->rq[0]);
		resolver_cancel(c->rq[1]);
		unlink_check(c);
	}
	free_targets(p);
	uv_close((uv_handle_t *)&p->timer, close_timer);
}
