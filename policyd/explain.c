/*
 * explain - the --check mode (see explain.h). It runs one engine on its own loop:
 * the health checks first (a list is asked only once it passed, as in the
 * daemon), then engine_explain(), whose report is printed here. Memory:
 * everything belongs to this one run and is released before it returns.
 */
#include "explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addr.h"
#include "engine.h"
#include "log.h"
#include "text.h"

struct run {
	struct engine *engine;
	struct request req;
	struct reply reply; /* what Postfix would get, written by the engine */
	uv_timer_t wait;
	int status;
	bool reported;
};

/* printable - an argument that may go into a request line: no control bytes. */
static bool printable(const char *s)
{
	for (; s != NULL && *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* answer_of - what list i said: from the key it reads (a listing wins over the rest). */
static int answer_of(const struct explanation *x, size_t i, struct answer *out)
{
	const struct list_config *l = &x->cfg->rules.lists[i];
	const struct decision *d = x->decision;
	int used = -1;

	*out = (struct answer){ .outcome = OUTCOME_NOT_APPLICABLE };
	for (unsigned k = 0; k < d->keys.count; k++) {
		struct answer a = { .outcome = x->timed_out ? OUTCOME_TIMEOUT : OUTCOME_PENDING };
		if (!decision_key_applies(d, l, k))
			continue;
		if (x->results[k] != NULL)
			result_get(x->results[k], i, &a);
		if (used < 0 || a.outcome == OUTCOME_LISTED) {
			*out = a;
			used = (int)k;
		}
		if (a.outcome == OUTCOME_LISTED)
			break;
	}
	return used;
}

/* why_not_v6 - an address list not asked about an IPv6 client: ipv6 = no, or no IPv6 data. */
static const char *why_not_v6(const struct list_config *l, const struct list_health *h)
{
	if (l->ipv6 == LIST_IPV6_NO)
		return "not applicable (IPv4 only: ipv6 = no)";
	if (h == NULL || !health_v6_known(h))
		return "not asked (ipv6 = auto: its IPv6 test point has not answered yet)";
	return "not asked (no IPv6 data: the list does not list the IPv6 test point ::FFFF:7F00:2, ipv6 = auto)";
}

/* why_not - a DNS list that no key reached: disabled, breaker, IPv4 only, or nothing to ask. */
static const char *why_not(const struct explanation *x, size_t i)
{
	const struct list_config *l = &x->cfg->rules.lists[i];
	const struct list_health *h = x->health ? x->health[i] : NULL;

	if (x->decision->kind == DECISION_SKIPPED)
		return "not applicable (the client is not checked: authenticated, or no address)";
	if (x->decision->kind == DECISION_EXEMPT)
		return "not applicable (the recipient is exempt)";
	if (x->decision->tier == TIER_ALLOWLISTED)
		return "not asked (allowlisted by a local list)";
	if (h != NULL && !health_enabled(h))
		return health_checked(h) ? "disabled (health check failed)"
					 : "disabled (health check got no answer)";
	if (list_is_address(l->kind) && x->decision->client.family == ADDR_V6 &&
	    (h == NULL || !health_asks_v6(h)))
		return why_not_v6(l, h);
	if (l->kind == LIST_RHSBL)
		return "not applicable (no usable domain in the attributes it checks)";
	if (l->kind == LIST_HASHBL)
		return "not applicable (no usable sender address: <> or unusual bytes)";
	return "skipped (circuit breaker open)";
}

/* print_local - a local list: matched or not, from the decision's hits. */
static void print_local(const struct explanation *x, const struct list_config *l)
{
	static const char *const types[] = { "address", "sender_domain", "helo", "client_name",
					     "recipient" };
	bool hit = false;

	for (unsigned k = 0; k < x->decision->verdict.hit_count; k++)
		hit = hit || x->decision->verdict.hits[k].list == l;
	printf("list %s: %s type=%s weight=%ld file=%s cached=no\n", l->name,
	       x->decision->kind != DECISION_CHECKED ||
			       !((x->decision->applies >> (size_t)(l - x->cfg->rules.lists)) & 1)
		       ? "not applicable"
	       : hit ? "listed"
		     : "not listed",
	       types[l->type], l->weight, l->file);
}

/* print_list - one line: what list i said, for which name, and what it weighs. */
static void print_list(const struct explanation *x, size_t i)
{
	const struct list_config *l = &x->cfg->rules.lists[i];
	struct answer a;
	char name[KEYS_QUERY_MAX];
	int k;

	if (l->kind == LIST_LOCAL) {
		print_local(x, l);
		return;
	}
	if (x->decision->kind == DECISION_CHECKED && !((x->decision->applies >> i) & 1)) {
		printf("%s %s: not applicable (clients = %s)\n", list_kind_name(l->kind), l->name,
		       l->clients == CLIENTS_AUTHENTICATED
			       ? "authenticated: the client is not"
			       : "unauthenticated: the client is authenticated");
		return;
	}
	k = answer_of(x, i, &a);
	/* An IPv6 client's key reaches an address list that was not asked about it. */
	if (k < 0 || (a.outcome == OUTCOME_NOT_APPLICABLE && list_is_address(l->kind) &&
		      x->decision->client.family == ADDR_V6)) {
		printf("%s %s: %s\n", list_kind_name(l->kind), l->name, why_not(x, i));
		return;
	}
	const struct key *key = &x->decision->keys.key[k];
	printf("%s %s: %s", list_kind_name(l->kind), l->name, outcome_name(a.outcome));
	/* The zone as it may be shown: a keyed zone's key stays out of the output. */
	if (key_query(key, l->hash, l->zone_shown, name, sizeof(name)) > 0)
		printf(" query=%s", name);
	if (a.outcome == OUTCOME_LISTED) {
		printf(" answer=%u.%u.%u.%u ttl=%u weight=%ld", a.code[0], a.code[1], a.code[2],
		       a.code[3], a.ttl, codes_weight(l->codes, a.mask, l->weight));
		if (l->observe)
			printf(" mode=observe (not scored)");
		if (reason_len(&a.reason) > 0) {
			char joined[RESULT_REASON_MAX + 64], text[DOMAIN_SIZE], clean[200];
			if (a.key_text) {
				a.reason.middle = text;
				a.reason.middle_len = key_text(key, text, sizeof(text));
			}
			size_t n = reason_join(&a.reason, joined, sizeof(joined));
			text_clean(clean, sizeof(clean), joined, n);
			printf(" reason=\"%s\"", clean);
		}
	}
	printf(" cached=no\n");
}

/* usable_count - DNS lists that passed their health check. */
static size_t usable_count(const struct explanation *x, size_t *dns)
{
	size_t n = 0;

	*dns = 0;
	for (size_t i = 0; i < x->cfg->rules.list_count; i++) {
		if (x->cfg->rules.lists[i].kind == LIST_LOCAL)
			continue;
		(*dns)++;
		n += x->health && x->health[i] && health_enabled(x->health[i]);
	}
	return n;
}

/* report - the engine's explanation: the reply, then the lists. */
static void report(void *arg, const struct explanation *x)
{
	struct run *run = arg;
	size_t len = x->reply_len, dns;

	while (len > 0 && x->reply[len - 1] == '\n')
		len--;
	printf("%.*s\n", (int)len, x->reply);
	for (size_t i = 0; i < x->cfg->rules.list_count; i++)
		print_list(x, i);
	if (x->decision->kind == DECISION_CHECKED)
		printf("score=%ld\n", x->decision->verdict.score);
	if (x->decision->kind == DECISION_CHECKED && x->decision->tier == TIER_SOFT &&
	    x->cfg->rules.soft_action == ACTION_GREYLIST) {
		const struct greylist_rules *g = &x->cfg->rules.greylist;
		char delay[32];
		reply_duration(g->delay_s, delay, sizeof(delay));
		printf("greylist: soft tier: a new triplet is deferred (as above); a retry after %s passes, unless the store already knows the triplet or allows the client's network (%s store, not asked by --check)\n",
		       delay, x->cfg->greylist_redis ? "Redis" : "memory");
	}
	run->status = strncmp(x->reply, "action=DUNNO", 12) == 0 ? 0 : 1;
	if (x->timed_out) {
		fprintf(stderr,
			"policyd: --check: lookups did not finish within request_timeout\n");
		run->status = 2;
	}
	/* A pass with no DNS list asked says nothing about the lists: an error. A
	 * refusal stands (a local list decided it): the warning says the rest. */
	if (usable_count(x, &dns) == 0 && dns > 0) {
		fprintf(stderr,
			"policyd: --check: warning: every DNS list is disabled (failed or unanswered health check): nothing was looked up\n");
		if (run->status == 0)
			run->status = 2;
	}
	run->reported = true;
	uv_stop(uv_default_loop());
}

/* wait_settled - once the health checks have answered, decide. */
static void wait_settled(uv_timer_t *t)
{
	struct run *run = t->data;

	if (!engine_settled(run->engine))
		return;
	uv_timer_stop(t);
	engine_explain(run->engine, &run->req, &run->reply, report, run);
}

/* close_all - close every handle so that the loop can be closed. */
static void close_all(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* explain_run - one request through the engine, the answer on stdout. */
int explain_run(struct config *cfg, const struct explain_request *req, bool debug)
{
	static struct run run;
	static char text[8192];
	const char *args[] = { req->address,     req->sender,    req->helo,
			       req->client_name, req->recipient, req->sasl_username };
	struct addr a;
	uv_loop_t *loop = uv_default_loop();
	int n;

	log_open(LOG_TO_STDERR, debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		if (!printable(args[i])) {
			fprintf(stderr,
				"policyd: --check: arguments must not hold control characters (a line feed would add attributes)\n");
			return 2;
		}
	}
	if (!addr_parse(&a, req->address, strlen(req->address))) {
		fprintf(stderr, "policyd: --check: '%s' is not an IPv4 or IPv6 address\n",
			req->address);
		return 2;
	}
	n = snprintf(text, sizeof(text),
		     "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
		     "client_address=%s\nclient_name=%s\nreverse_client_name=%s\nhelo_name=%s\n"
		     "sender=%s\nrecipient=%s\nsasl_username=%s\n\n",
		     req->address, req->client_name ? req->client_name : "unknown",
		     req->client_name ? req->client_name : "unknown", req->helo ? req->helo : "",
		     req->sender ? req->sender : "",
		     req->recipient ? req->recipient : "someone@localhost",
		     req->sasl_username ? req->sasl_username : "");
	if (n < 0 || (size_t)n >= sizeof(text)) {
		fprintf(stderr, "policyd: --check: arguments too long\n");
		return 2;
	}
	request_parse(&run.req, text, (size_t)n);
	run.status = 2;
	/* --check asks no greylist store: it must not change what the daemon remembers. */
	run.engine = engine_new_offline(loop, cfg);
	if (run.engine == NULL)
		return 2;
	uv_timer_init(loop, &run.wait);
	run.wait.data = &run;
	uv_timer_start(&run.wait, wait_settled, 0, 10);
	uv_run(loop, UV_RUN_DEFAULT);
	engine_free(run.engine);
	uv_walk(loop, close_all, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	return run.status;
}
