/*
 * probe - RFC 5782 checks on a timer (see probe.h).
 *
 * Each check asks the test points of one list at once (the IPv4 pair, or the
 * list's own, unless health = off; RFC 5782's IPv6 pair when ipv6 = auto) and
 * judges when all have answered. The tripwire asks the unlisted point alone. "No usable answer" (SERVFAIL, timeout, only error codes) is not a
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
#include "digest.h"
#include "log.h"
#include "resolver.h"

/* After a round in which some check got no answer. */
#define PROBE_RETRY_MS (30 * 1000)

/* The test points of a check: RFC 5782's IPv4 (or a list's own) pair, then the IPv6 pair. */
enum { POINT_LISTED_V4, POINT_UNLISTED_V4, POINT_LISTED_V6, POINT_UNLISTED_V6, POINTS };

struct target {
	struct list_health *health;
	struct codes refusals; /* the list's filter: only its refusal answers are read */
	char *name[POINTS];    /* what is queried (a keyed zone holds the site's key); NULL: not */
	char *shown[POINTS];   /* the same as debug log lines may show it */
	bool v4, v6;           /* the IPv4 pair is asked (health = rfc5782), the IPv6 pair (auto) */
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

enum point {
	POINT_SKIPPED,
	POINT_PENDING,
	POINT_LISTED,
	POINT_NOT_LISTED,
	POINT_FAILED,
	POINT_REFUSED
};

struct check;

/* One test point's query: the callback's argument. */
struct point_query {
	struct check *c;
	int which;
	struct resolver_query *rq;
};

/* One list's check: its test points asked at once; or the tripwire, the unlisted point alone. */
struct check {
	LIST_ENTRY(check) link; /* on p->checks */
	struct probe *p;
	struct list_health *health;
	bool tripwire;
	struct point_query q[POINTS];
	enum point point[POINTS];
	unsigned pending;
	uint8_t refusal[4]; /* the refusal answer of a POINT_REFUSED */
	struct codes refusals;
};

/*
 * point_result - a test point's answer: listed, not listed, refused (the refusal
 * answer of an IPv4 point into c->refusal) or no usable answer.
 */
static enum point point_result(struct check *c, int which, enum resolver_status status,
			       const uint8_t (*addrs)[4], size_t count)
{
	if (status == RESOLVER_NXDOMAIN || status == RESOLVER_NODATA)
		return POINT_NOT_LISTED;
	if (status != RESOLVER_OK)
		return POINT_FAILED;
	for (size_t i = 0; i < count; i++) {
		if (codes_refused(&c->refusals, addrs[i])) {
			if (which < POINT_LISTED_V6) /* the IPv6 pair's refusal disables nothing */
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
	if (!c->tripwire)
		health_check_end(c->health);
	health_unref(c->health);
	free(c);
}

/*
 * v6_verdict - what the IPv6 pair said: data, no data (a refusal too), or nothing
 * usable (no answer). It never disables the list.
 */
static enum health_v6 v6_verdict(const struct check *c)
{
	enum point l = c->point[POINT_LISTED_V6], u = c->point[POINT_UNLISTED_V6];

	if (l == POINT_FAILED || u == POINT_FAILED)
		return HEALTH_V6_UNKNOWN;
	return l == POINT_LISTED && u == POINT_NOT_LISTED ? HEALTH_V6_DATA : HEALTH_V6_NO_DATA;
}

/* judge_v4 - the IPv4 pair (or the tripwire's point) has answered: refused, unanswered, or a verdict. */
static void judge_v4(struct check *c)
{
	struct list_health *h = c->health;
	enum point l = c->point[POINT_LISTED_V4], u = c->point[POINT_UNLISTED_V4];

	if (c->tripwire) {
		if (u == POINT_REFUSED)
			health_refused(h, c->refusal);
		else if (u == POINT_LISTED)
			health_tripped(h);
	} else if (l == POINT_REFUSED || u == POINT_REFUSED) {
		health_refused(h, c->refusal);
	} else if (l == POINT_FAILED || u == POINT_FAILED) {
		health_unanswered(h);
		c->p->retry_soon = true;
	} else {
		health_judge(h, l == POINT_LISTED, u == POINT_NOT_LISTED);
	}
}

/* pair_done - both points of a pair have answered, or were not asked. */
static bool pair_done(const struct check *c, int first)
{
	return c->point[first] != POINT_PENDING && c->point[first + 1] != POINT_PENDING;
}

/*
 * on_point - one test point answered. Each pair is judged when both its points
 * are in, the IPv4 pair without waiting for the IPv6 one; the last frees the check.
 */
static void on_point(void *arg, enum resolver_status status, const uint8_t (*addrs)[4],
		     size_t count, uint32_t ttl)
{
	struct point_query *q = arg;
	struct check *c = q->c;
	bool v6 = q->which >= POINT_LISTED_V6;

	(void)ttl;
	q->rq = NULL;
	c->point[q->which] = point_result(c, q->which, status, addrs, count);
	if (!v6 && pair_done(c, POINT_LISTED_V4)) {
		judge_v4(c);
	} else if (v6 && pair_done(c, POINT_LISTED_V6)) {
		enum health_v6 verdict = v6_verdict(c);
		if (verdict == HEALTH_V6_UNKNOWN)
			c->p->retry_soon = true;
		health_judge_v6(c->health, verdict);
	}
	if (--c->pending == 0)
		unlink_check(c);
}

/* cancel_points - drop the queries of a check (the resolver drops their answers). */
static void cancel_points(struct check *c)
{
	for (int i = 0; i < POINTS; i++) {
		resolver_cancel(c->q[i].rq);
		c->q[i].rq = NULL;
	}
}

/*
 * start_check - query the test points of one list, unless a check is running; the
 * tripwire asks the unlisted IPv4 point alone, and never waits for a check.
 */
static void start_check(struct probe *p, const struct target *t, bool tripwire)
{
	struct check *c;

	if (!tripwire && !t->v4 && !t->v6)
		return;
	if (!tripwire && !health_check_begin(t->health))
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		if (!tripwire)
			health_check_end(t->health);
		p->retry_soon = true;
		return;
	}
	c->p = p;
	c->tripwire = tripwire;
	c->health = health_ref(t->health);
	c->refusals = t->refusals;
	for (int i = 0; i < POINTS; i++) {
		bool ask =
			tripwire ? i == POINT_UNLISTED_V4 : (i < POINT_LISTED_V6 ? t->v4 : t->v6);
		c->q[i] = (struct point_query){ c, i, NULL };
		if (!ask || t->name[i] == NULL)
			continue;
		c->point[i] = POINT_PENDING;
		c->q[i].rq =
			resolver_query_a(p->resolver, t->name[i], t->shown[i], on_point, &c->q[i]);
		if (c->q[i].rq == NULL) {
			cancel_points(c);
			c->pending = 0;
			break;
		}
		c->pending++;
	}
	if (c->pending == 0) {
		if (!tripwire)
			health_check_end(c->health);
		health_unref(c->health);
		free(c);
		p->retry_soon = true;
		return;
	}
	if (c->point[POINT_UNLISTED_V4] == POINT_PENDING)
		health_unlisted_asked(t->health, uv_now(p->loop));
	LIST_INSERT_HEAD(&p->checks, c, link);
}

/* probe_on_timer - a round of checks; the next one comes sooner if this one lacked answers. */
static void probe_on_timer(uv_timer_t *timer)
{
	struct probe *p = timer->data;

	p->retry_soon = false;
	for (size_t i = 0; i < p->target_count; i++)
		start_check(p, &p->targets[i], false);
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
		for (int k = 0; k < POINTS; k++) {
			free(p->targets[i].name[k]);
			free(p->targets[i].shown[k]);
		}
		health_unref(p->targets[i].health);
	}
	free(p->targets);
	p->targets = NULL;
	p->target_count = 0;
}

/*
 * The RFC 5782 test points: IPv4 127.0.0.2 and 127.0.0.1, the domains "test" and
 * "invalid", IPv6 ::FFFF:7F00:2 and ::FFFF:7F00:1 as 32 reversed nibbles.
 */
static const char *const rfc5782_v4[2] = { "2.0.0.127", "1.0.0.127" };
static const char *const rfc5782_domain[2] = { "test", "invalid" };
static const char *const rfc5782_v6[2] = {
	"2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
	"1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
};

/* join - "label.zone" in a new string (NULL: out of memory). */
static char *join(const char *label, const char *zone)
{
	size_t a = strlen(label), b = strlen(zone);
	char *s = malloc(a + b + 2);

	if (s != NULL) {
		memcpy(s, label, a);
		s[a] = '.';
		memcpy(s + a + 1, zone, b + 1);
	}
	return s;
}

/* point_names - the query names of a list's test points (false: out of memory). */
static bool point_names(struct target *t, const struct list_config *l)
{
	const char *const *v4 = l->kind == LIST_RHSBL ? rfc5782_domain : rfc5782_v4;

	for (int k = 0; k < POINTS; k++) {
		const char *label = k >= POINT_LISTED_V6       ? rfc5782_v6[k - POINT_LISTED_V6]
				    : l->test_point[k] != NULL ? l->test_point[k]
							       : v4[k];
		char hashed[DIGEST_HEX_SIZE];
		if (k >= POINT_LISTED_V6 && !t->v6)
			continue;
		/* A hashed list's test points are addresses: it is asked their hashes. */
		if (l->kind == LIST_HASHBL) {
			if (l->test_point[k] == NULL ||
			    digest_hex(l->hash, label, strlen(label), hashed, sizeof(hashed)) == 0)
				continue;
			label = hashed;
		}
		t->name[k] = join(label, l->zone);
		t->shown[k] = join(label, l->zone_shown);
		if (t->name[k] == NULL || t->shown[k] == NULL)
			return false;
	}
	return true;
}

/* probe_set_lists - copy the DNS lists; check those that want it now (after the first round). */
void probe_set_lists(struct probe *p, const struct rules *r, struct list_health *const *health,
		     uint64_t interval_ms)
{
	free_targets(p);
	p->targets = calloc(r->list_count ? r->list_count : 1, sizeof(*p->targets));
	if (p->targets == NULL)
		return;
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		struct target *t = &p->targets[p->target_count];
		if (l->kind == LIST_LOCAL || health[i] == NULL)
			continue;
		health_configure(health[i], l->health_off, l->ipv6);
		t->v4 = !l->health_off;
		t->v6 = list_is_address(l->kind) && l->ipv6 == LIST_IPV6_AUTO;
		if (!point_names(t, l)) {
			for (int k = 0; k < POINTS; k++) {
				free(t->name[k]);
				free(t->shown[k]);
			}
			memset(t, 0, sizeof(*t));
			continue;
		}
		t->health = health_ref(health[i]);
		t->refusals = *l->codes;
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
		if (health_wants_check(p->targets[i].health))
			start_check(p, &p->targets[i], false);
}

/* probe_tripwire - a lookup found a listing on the list of h; see probe.h. */
void probe_tripwire(struct probe *p, struct list_health *h)
{
	if (!health_tripwire_due(h, uv_now(p->loop)))
		return;
	for (size_t i = 0; i < p->target_count; i++) {
		if (p->targets[i].health == h) {
			start_check(p, &p->targets[i], true);
			return;
		}
	}
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
		cancel_points(c);
		unlink_check(c);
	}
	free_targets(p);
	uv_close((uv_handle_t *)&p->timer, close_timer);
}
