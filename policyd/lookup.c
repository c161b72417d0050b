/*
 * lookup - the DNS lookups of one request (see lookup.h).
 *
 * Each applicable list gets one A query per name (the client's reversed address,
 * or each domain an RHSBL checks); a blocklist that hits gets a TXT query for its
 * reason. Answers are untrusted: an A answer counts only inside the list's codes
 * and never when it is an error code (127.255.255.x, outside 127/8). Memory: the
 * lookup owns its query records, its copy of the request and the TXT reasons;
 * everything is freed after the done callback, in the deadline timer's close
 * callback.
 */
#include "lookup.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "codes.h"
#include "health.h"
#include "log.h"
#include "resolver.h"
#include "stats.h"

struct lookup_query {
	struct lookup_query *next;
	struct lookup *lk;
	struct resolver_query *rq; /* NULL once answered */
	size_t list;               /* index into cfg->lists and lk->results */
	char name[LOOKUP_NAME_MAX];
};

static void query_answered(struct lookup_query *q);

/* lookup_outcome_name - words for logs and --check. */
const char *lookup_outcome_name(enum list_outcome o)
{
	static const char *const names[] = {
		"not applicable", "disabled (health check)", "skipped (circuit breaker)",
		"pending", "not listed", "listed", "error answer", "failed", "timed out",
	};
	return names[o];
}

/* free_lookup - the deadline timer is closed: release everything. */
static void free_lookup(uv_handle_t *h)
{
	struct lookup *lk = h->data;

	for (struct lookup_query *q = lk->queries, *next; q != NULL; q = next) {
		next = q->next;
		free(q);
	}
	for (size_t i = 0; i < lk->cfg->list_count; i++)
		free(lk->results[i].reason);
	free(lk->results);
	config_unref(lk->cfg);
	free(lk->text);
	free(lk);
}

/*
 * finish - all answers are in, or the deadline passed: abandon what is still
 * outstanding, add the DNS hits to the verdict, report, and free.
 */
static void finish(struct lookup *lk, bool timed_out)
{
	if (lk->finished)
		return;
	lk->finished = true;
	lk->timed_out = timed_out;
	for (struct lookup_query *q = lk->queries; q != NULL; q = q->next) {
		if (q->rq != NULL) {
			resolver_cancel(q->rq);
			q->rq = NULL;
		}
	}
	for (size_t i = 0; i < lk->cfg->list_count; i++) {
		struct list_result *r = &lk->results[i];
		const struct list_config *l = &lk->cfg->lists[i];
		if (r->outcome == OUTCOME_PENDING)
			r->outcome = OUTCOME_TIMEOUT;
		if (r->outcome == OUTCOME_LISTED)
			verdict_add(&lk->verdict, l, r->code, r->reason ? r->reason : l->reason,
				    r->reason ? r->reason_len : l->reason ? strlen(l->reason) : 0);
	}
	lk->verdict.allowlisted = lk->verdict.score <= lk->cfg->allowlist_threshold;
	if (timed_out)
		stats.lookups_timed_out++;
	uv_timer_stop(&lk->deadline);
	lk->done(lk->done_arg, lk);
	uv_close((uv_handle_t *)&lk->deadline, free_lookup);
}

/* on_deadline - request_timeout has passed. */
static void on_deadline(uv_timer_t *t)
{
	finish(t->data, true);
}

/* list_settled - every query of a list is answered: feed the circuit breaker. */
static void list_settled(struct lookup *lk, size_t i)
{
	struct list_result *r = &lk->results[i];
	struct list_config *l = &lk->cfg->lists[i];

	if (r->outcome == OUTCOME_PENDING)
		r->outcome = OUTCOME_NOT_LISTED;
	health_record(l, r->outcome != OUTCOME_FAILED, uv_now(lk->env->loop));
}

/* on_txt - the reason of a list that hit: keep the first one, bytes as they came. */
static void on_txt(void *arg, enum resolver_status status, const char *txt, size_t len,
		   uint32_t ttl)
{
	struct lookup_query *q = arg;
	struct list_result *r = &q->lk->results[q->list];

	(void)ttl;
	q->rq = NULL;
	if (status == RESOLVER_OK && r->reason == NULL && len > 0) {
		size_t keep = len > 2048 ? 2048 : len; /* more than a reply can show */
		r->reason = malloc(keep);
		if (r->reason != NULL) {
			memcpy(r->reason, txt, keep);
			r->reason_len = keep;
		}
	}
	query_answered(q);
}

/* take_answers - classify A answers: a listing inside codes, an error code, or neither. */
static void take_answers(struct lookup_query *q, const uint8_t (*addrs)[4], size_t count,
			 uint32_t ttl)
{
	struct lookup *lk = q->lk;
	struct list_config *l = &lk->cfg->lists[q->list];
	struct list_result *r = &lk->results[q->list];

	for (size_t i = 0; i < count; i++) {
		if (codes_classify(addrs[i]) != CODES_ANSWER_LISTING) {
			stats.list_errors++;
			health_error_code(l, addrs[i], uv_now(lk->env->loop));
			if (r->outcome != OUTCOME_LISTED)
				r->outcome = OUTCOME_ERROR_CODE;
			return; /* an error answer makes the whole answer untrustworthy */
		}
	}
	for (size_t i = 0; i < count; i++) {
		if (codes_match(&l->codes, addrs[i])) {
			if (r->outcome != OUTCOME_LISTED || ttl < r->ttl) {
				memcpy(r->code, addrs[i], 4);
				r->ttl = ttl;
				snprintf(r->name, sizeof(r->name), "%s", q->name);
			}
			r->outcome = OUTCOME_LISTED;
			return;
		}
	}
}

/* on_a - the A answer of one query. */
static void on_a(void *arg, enum resolver_status status, const uint8_t (*addrs)[4], size_t count,
		 uint32_t ttl)
{
	struct lookup_query *q = arg;
	struct lookup *lk = q->lk;
	struct list_result *r = &lk->results[q->list];

	q->rq = NULL;
	if (status == RESOLVER_OK) {
		take_answers(q, addrs, count, ttl);
		/* A blocklist that hit: its TXT record says why, for the reply. */
		if (r->outcome == OUTCOME_LISTED && r->reason == NULL &&
		    lk->cfg->lists[q->list].weight > 0 && strcmp(r->name, q->name) == 0) {
			q->rq = resolver_query_txt(lk->env->resolver, q->name, on_txt, q);
			if (q->rq != NULL) {
				stats.dns_queries++;
				return;
			}
		}
	} else if (status == RESOLVER_TEMPFAIL || status == RESOLVER_ERROR) {
		stats.dns_failures++;
		if (r->outcome == OUTCOME_PENDING)
			r->outcome = OUTCOME_FAILED;
	}
	query_answered(q);
}

/* query_answered - one query is done; settle its list and maybe the whole lookup. */
static void query_answered(struct lookup_query *q)
{
	struct lookup *lk = q->lk;
	struct list_result *r = &lk->results[q->list];

	lk->pending--;
	if (--r->pending == 0)
		list_settled(lk, q->list);
	if (lk->pending == 0)
		finish(lk, false);
}

/* submit - one A query for name in list i. */
static void submit(struct lookup *lk, size_t i, const char *name)
{
	struct lookup_query *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return;
	q->lk = lk;
	q->list = i;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->next = lk->queries;
	lk->queries = q;
	lk->results[i].pending++;
	lk->pending++;
	q->rq = resolver_query_a(lk->env->resolver, name, on_a, q);
	if (q->rq == NULL) {
		lk->results[i].pending--;
		lk->pending--;
		lk->results[i].outcome = OUTCOME_FAILED;
		return;
	}
	stats.dns_queries++;
	if (lk->results[i].name[0] == '\0')
		snprintf(lk->results[i].name, sizeof(lk->results[i].name), "%s", name);
}

/*
 * clean_domain - take a domain from untrusted request data: lower case, no
 * trailing dot, only letters, digits, '-' and '_' in non-empty labels. Address
 * literals, "unknown" and anything else are refused (returns false).
 */
static bool clean_domain(const char *s, size_t len, char *out, size_t size)
{
	struct addr a;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len >= size || len > 253 || (len == 7 && memcmp(s, "unknown", 7) == 0) ||
	    s[0] == '[' || addr_parse(&a, s, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool label_edge = i == 0 || s[i - 1] == '.';
		if (c == '.' ? label_edge : !(isalnum(c) || c == '-' || c == '_'))
			return false;
		out[i] = (char)tolower(c);
	}
	out[len] = '\0';
	return strchr(out, '.') != NULL; /* a bare word is not a domain to look up */
}

/* rhsbl_names - query the domains an RHSBL checks, each distinct one once. */
static void rhsbl_names(struct lookup *lk, size_t i)
{
	static const struct {
		unsigned check;
		enum request_key key;
	} sources[] = {
		{ CHECK_SENDER, REQ_SENDER },
		{ CHECK_HELO, REQ_HELO_NAME },
		{ CHECK_CLIENT_NAME, REQ_CLIENT_NAME },
		{ CHECK_REVERSE_CLIENT_NAME, REQ_REVERSE_CLIENT_NAME },
	};
	const struct list_config *l = &lk->cfg->lists[i];
	char seen[4][256];
	unsigned nseen = 0;

	for (size_t s = 0; s < 4; s++) {
		size_t len;
		const char *v = request_get(&lk->req, sources[s].key, &len);
		char domain[256], name[LOOKUP_NAME_MAX];
		if (!(l->checks & sources[s].check))
			continue;
		if (sources[s].key == REQ_SENDER) {
			const char *at = memchr(v, '@', len);
			if (at == NULL)
				continue;
			len -= (size_t)(at + 1 - v);
			v = at + 1;
		}
		if (!clean_domain(v, len, domain, sizeof(domain)))
			continue;
		bool dup = false;
		for (unsigned k = 0; k < nseen; k++)
			dup = dup || strcmp(seen[k], domain) == 0;
		if (dup || strlen(domain) + 1 + strlen(l->name) > 253)
			continue;
		memcpy(seen[nseen++], domain, sizeof(domain));
		snprintf(name, sizeof(name), "%s.%s", domain, l->name);
		submit(lk, i, name);
	}
}

/* start_list - the queries of one DNS list, unless it must be skipped. */
static void start_list(struct lookup *lk, size_t i, const struct addr *client,
		       const char *reversed)
{
	struct list_config *l = &lk->cfg->lists[i];
	struct list_result *r = &lk->results[i];
	char name[LOOKUP_NAME_MAX];

	r->outcome = OUTCOME_NOT_APPLICABLE;
	if (l->kind == LIST_LOCAL)
		return;
	if (l->kind != LIST_RHSBL && client->family == ADDR_V6 && !l->ipv6)
		return;
	enum list_outcome usable = health_usable(l, uv_now(lk->env->loop));
	if (usable != OUTCOME_PENDING) {
		r->outcome = usable;
		return;
	}
	r->outcome = OUTCOME_PENDING;
	if (l->kind == LIST_RHSBL) {
		rhsbl_names(lk, i);
	} else {
		snprintf(name, sizeof(name), "%s.%s", reversed, l->name);
		submit(lk, i, name);
	}
	if (r->pending == 0 && r->outcome == OUTCOME_PENDING)
		r->outcome = OUTCOME_NOT_APPLICABLE;
}

/* any_list_usable - whether some DNS list would be asked: avoids allocating for nothing. */
static bool any_list_usable(struct lookup_env *env, const struct config *cfg,
			    const struct addr *client)
{
	uint64_t now = uv_now(env->loop);

	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_config *l = &cfg->lists[i];
		if (l->kind == LIST_LOCAL ||
		    (l->kind != LIST_RHSBL && client->family == ADDR_V6 && !l->ipv6))
			continue;
		if (health_usable(l, now) == OUTCOME_PENDING)
			return true;
	}
	return false;
}

/* lookup_start - copy the request, submit every query, arm the deadline. */
struct lookup *lookup_start(struct lookup_env *env, struct config *cfg, const struct request *req,
			    const struct verdict *local, lookup_done_fn *done, void *arg)
{
	struct lookup *lk;
	struct addr client;
	char reversed[ADDR_REVERSE_MAX];
	size_t len;
	const char *text = request_get(req, REQ_CLIENT_ADDRESS, &len);

	if (env->resolver == NULL || !addr_parse(&client, text, len) ||
	    !any_list_usable(env, cfg, &client))
		return NULL;
	addr_reverse_name(&client, reversed, sizeof(reversed));
	lk = calloc(1, sizeof(*lk));
	text = request_bytes(req, &len);
	if (lk == NULL || (lk->text = malloc(len)) == NULL ||
	    (lk->results = calloc(cfg->list_count, sizeof(*lk->results))) == NULL) {
		if (lk)
			free(lk->text);
		free(lk);
		log_error("out of memory starting lookups");
		return NULL;
	}
	memcpy(lk->text, text, len);
	request_parse(&lk->req, lk->text, len);
	lk->env = env;
	lk->cfg = config_ref(cfg);
	lk->verdict = *local;
	lk->done = done;
	lk->done_arg = arg;
	uv_timer_init(env->loop, &lk->deadline);
	lk->deadline.data = lk;
	for (size_t i = 0; i < cfg->list_count; i++)
		start_list(lk, i, &client, reversed);
	if (lk->pending == 0) {
		/* Nothing was sent (no list applies, or all are skipped). */
		lk->finished = true;
		uv_close((uv_handle_t *)&lk->deadline, free_lookup);
		return NULL;
	}
	uv_timer_start(&lk->deadline, on_deadline, cfg->request_timeout_ms, 0);
	return lk;
}
