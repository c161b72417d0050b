/*
 * lookup - the keys a request needs, the hits their results give, and the job
 * that waits for uncached keys until the request's deadline (see lookup.h).
 *
 * Domains come from untrusted request attributes and are cleaned strictly
 * before they become query names. Memory: a job owns its copy of the request
 * and one reference per key result; it is freed in its deadline timer's close
 * callback, after its done callback has returned.
 */
#include "lookup.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "log.h"
#include "stats.h"

/* lookup_outcome_name - words for logs and --check. */
const char *lookup_outcome_name(enum list_outcome o)
{
	static const char *const names[] = {
		"not applicable", "disabled (health check)", "skipped (circuit breaker)",
		"pending", "not listed", "listed", "error answer", "failed", "timed out",
	};
	return names[o];
}

/*
 * lookup_domain - lower case, no trailing dot, only letters, digits, '-' and '_'
 * in non-empty labels, at least two labels. Address literals and "unknown" are
 * refused.
 */
bool lookup_domain(const char *s, size_t len, char *out, size_t size)
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
	return memchr(out, '.', len) != NULL;
}

/*
 * usable_kind - whether some healthy list of this kind (address or domain) applies.
 * A list skipped by the circuit breaker still counts: the breaker stops queries,
 * not the verdicts already in the cache.
 */
static bool usable_kind(const struct config *cfg, bool domain, int family, uint64_t now_ms)
{
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_config *l = &cfg->lists[i];
		if (l->kind == LIST_LOCAL || (l->kind == LIST_RHSBL) != domain ||
		    (!domain && family == ADDR_V6 && !l->ipv6))
			continue;
		if (health_usable(l, now_ms) != OUTCOME_UNHEALTHY)
			return true;
	}
	return false;
}

/* add_domain - one more domain key, or one more source for a domain already there. */
static void add_domain(struct request_keys *out, const char *domain, unsigned source)
{
	size_t len = strlen(domain);

	for (unsigned i = 0; i < out->count; i++) {
		const struct key *k = &out->key[i];
		if (k->bytes[0] == 'D' && k->len == len + 1 && memcmp(k->bytes + 1, domain, len) == 0) {
			out->sources[i] |= source;
			return;
		}
	}
	key_for_domain(&out->key[out->count], domain, len);
	out->sources[out->count++] = source;
}

/* lookup_keys - the address key, then each distinct domain some RHSBL checks. */
void lookup_keys(const struct config *cfg, const struct request *req, const struct addr *client,
		 uint64_t now_ms, struct request_keys *out)
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
	unsigned wanted = 0;

	out->count = 0;
	out->address_text_len = 0;
	if (usable_kind(cfg, false, client->family, now_ms)) {
		key_for_address(&out->key[0], client);
		out->sources[0] = 0;
		out->count = 1;
	}
	if (!usable_kind(cfg, true, 0, now_ms))
		return;
	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].kind == LIST_RHSBL)
			wanted |= cfg->lists[i].checks;
	for (size_t s = 0; s < sizeof(sources) / sizeof(sources[0]); s++) {
		size_t len;
		const char *v = request_get(req, sources[s].key, &len);
		char domain[256];
		if (!(wanted & sources[s].check))
			continue;
		if (sources[s].key == REQ_SENDER) {
			const char *at = memchr(v, '@', len);
			if (at == NULL)
				continue;
			len -= (size_t)(at + 1 - v);
			v = at + 1;
		}
		if (lookup_domain(v, len, domain, sizeof(domain)))
			add_domain(out, domain, sources[s].check);
	}
}

/* key_middle - the key's text for a reason that was stored without it. */
static void key_middle(struct request_keys *keys, unsigned k, struct reason *r)
{
	const struct key *key = &keys->key[k];

	if (key->bytes[0] == 'D') {
		r->middle = (const char *)key->bytes + 1;
		r->middle_len = key->len - 1u;
		return;
	}
	if (keys->address_text_len == 0)
		keys->address_text_len = key_text(key, keys->address_text, sizeof(keys->address_text));
	r->middle = keys->address_text;
	r->middle_len = keys->address_text_len;
}

/* lookup_key_applies - address lists read the address key; an RHSBL the domains it checks. */
bool lookup_key_applies(const struct list_config *l, const struct request_keys *keys, unsigned k)
{
	bool domain_key = keys->key[k].bytes[0] == 'D';

	if (l->kind == LIST_LOCAL || domain_key != (l->kind == LIST_RHSBL))
		return false;
	return !domain_key || (keys->sources[k] & l->checks) != 0;
}

/* lookup_add_hits - IP lists from the address key; an RHSBL once if any of its domains hit. */
void lookup_add_hits(const struct config *cfg, struct request_keys *keys,
		     struct key_result *const *results, struct verdict *v)
{
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_config *l = &cfg->lists[i];
		if (l->kind == LIST_LOCAL)
			continue;
		for (unsigned k = 0; k < keys->count; k++) {
			struct key_answer a;
			if (results[k] == NULL || !lookup_key_applies(l, keys, k))
				continue;
			key_result_get(results[k], i, &a);
			if (a.outcome != OUTCOME_LISTED)
				continue;
			if (a.key_text)
				key_middle(keys, k, &a.reason);
			else if (a.reason.head_len == 0 && l->reason != NULL)
				a.reason = reason_plain(l->reason, strlen(l->reason));
			verdict_add(v, l, a.code, &a.reason);
			break;
		}
	}
	v->allowlisted = false;
}

/* free_job - the deadline timer has closed: release everything. */
static void free_job(uv_handle_t *h)
{
	struct lookup *lk = h->data;

	for (unsigned i = 0; i < lk->keys.count; i++)
		key_result_unref(lk->wait[i].result);
	config_unref(lk->cfg);
	free(lk->text);
	free(lk);
}

/* finish - every key is known, or the deadline passed: report, then free. */
static void finish(struct lookup *lk, bool timed_out)
{
	struct key_result *results[LOOKUP_MAX_KEYS];

	if (lk->finished)
		return;
	lk->finished = true;
	lk->timed_out = timed_out;
	for (unsigned i = 0; i < lk->keys.count; i++) {
		key_unwait(&lk->wait[i].waiter);
		results[i] = lk->wait[i].result;
	}
	lookup_add_hits(lk->cfg, &lk->keys, results, &lk->verdict);
	lk->verdict.allowlisted = lk->verdict.score <= lk->cfg->allowlist_threshold;
	if (timed_out)
		stats.lookups_timed_out++;
	uv_timer_stop(&lk->deadline);
	lk->done(lk->done_arg, lk);
	uv_close((uv_handle_t *)&lk->deadline, free_job);
}

/* on_deadline - request_timeout has passed; the key lookups go on without us. */
static void on_deadline(uv_timer_t *t)
{
	finish(t->data, true);
}

/* key_known - a key lookup completed (res may be NULL when it ran out of memory). */
static void key_known(struct key_waiter *w, struct key_result *res)
{
	struct lookup_key *lkey = (struct lookup_key *)w;
	struct lookup *lk = lkey->lk;

	lkey->result = key_result_ref(res);
	if (--lk->unresolved == 0)
		finish(lk, false);
}

/* lookup_start - copy the request, wait for the unknown keys, arm the deadline. */
struct lookup *lookup_start(struct lookup_env *env, struct config *cfg, const struct request *req,
			    const struct verdict *local, const struct request_keys *keys,
			    struct key_result *const *results, lookup_done_fn *done, void *arg)
{
	struct lookup *lk = calloc(1, sizeof(*lk));
	size_t len;
	const char *text = request_bytes(req, &len);

	if (lk == NULL || (lk->text = malloc(len)) == NULL) {
		free(lk);
		log_error("out of memory starting lookups");
		return NULL;
	}
	memcpy(lk->text, text, len);
	request_parse(&lk->req, lk->text, len);
	lk->env = env;
	lk->cfg = config_ref(cfg);
	lk->verdict = *local;
	lk->keys = *keys;
	lk->done = done;
	lk->done_arg = arg;
	uv_timer_init(env->loop, &lk->deadline);
	lk->deadline.data = lk;
	for (unsigned i = 0; i < keys->count; i++) {
		struct lookup_key *lkey = &lk->wait[i];
		lkey->lk = lk;
		lkey->waiter.done = key_known;
		lkey->result = key_result_ref(results[i]);
		if (results[i] == NULL && key_wait(env->keys, cfg, &keys->key[i], &lkey->waiter))
			lk->unresolved++;
	}
	if (lk->unresolved == 0) {
		/* Nothing to wait for after all: the caller answers at once. */
		lk->finished = true;
		uv_close((uv_handle_t *)&lk->deadline, free_job);
		return NULL;
	}
	uv_timer_start(&lk->deadline, on_deadline, cfg->request_timeout_ms, 0);
	return lk;
}
