/*
 * check - the --check mode (see check.h): the administrator's "why was this host
 * refused?". It builds the request Postfix would send, runs the health checks and
 * the lookups exactly as the daemon does (same parser, same lists, same reply
 * text), and prints the reply line and one line per list: zone, answer, TTL,
 * whether it came from the cache. Memory: everything belongs to this one run.
 */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addr.h"
#include "health.h"
#include "log.h"
#include "keylookup.h"
#include "lookup.h"
#include "lru.h"
#include "policy.h"
#include "request.h"
#include "resolver.h"
#include "text.h"

struct check_run {
	struct config *cfg;
	struct request req;
	struct verdict local;
	struct addr client;
	bool checked;
	struct lookup_env env;
	struct health *health;
	struct request_keys keys;
	uv_timer_t wait;
	struct reply_slot slot;
	int status;
};

/* print_reply - the reply line without the protocol's empty line. */
static void print_reply(struct check_run *run)
{
	size_t len = run->slot.len;

	while (len > 0 && run->slot.text[len - 1] == '\n')
		len--;
	printf("%.*s\n", (int)len, run->slot.text);
	run->status = strncmp(run->slot.text, "action=DUNNO", 12) == 0 ? 0 : 1;
}

/* list_answer - what list i said: from the key it depends on (a listing wins). */
static const struct key *list_answer(const struct check_run *run, size_t i,
				     struct key_result *const *results, struct key_answer *out)
{
	const struct list_config *l = &run->cfg->lists[i];
	const struct key *used = NULL;

	*out = (struct key_answer){ .outcome = OUTCOME_NOT_APPLICABLE };
	for (unsigned k = 0; k < run->keys.count; k++) {
		const struct key *key = &run->keys.key[k];
		struct key_answer a = { .outcome = OUTCOME_TIMEOUT };
		if (!lookup_key_applies(l, &run->keys, k))
			continue;
		if (results[k] != NULL)
			key_result_get(results[k], i, &a);
		if (used == NULL || a.outcome == OUTCOME_LISTED) {
			*out = a;
			used = key;
		}
		if (a.outcome == OUTCOME_LISTED)
			break;
	}
	return used;
}

/* print_list - one line for a list: what it said, for which name, and why it counts. */
static void print_list(const struct check_run *run, size_t i, struct key_result *const *results)
{
	const struct list_config *l = &run->cfg->lists[i];
	struct key_answer a = { .outcome = OUTCOME_NOT_APPLICABLE };
	char reason[200], name[LOOKUP_NAME_MAX];

	if (l->kind == LIST_LOCAL) {
		bool hit = false;
		for (unsigned k = 0; k < run->local.hit_count; k++)
			hit = hit || run->local.hits[k].list == l;
		printf("list %s: %s weight=%ld file=%s cached=no\n", l->name,
		       hit ? "listed" : "not listed", l->weight, l->file);
		return;
	}
	const struct key *key = list_answer(run, i, results, &a);
	if (key == NULL)
		a.outcome = health_usable(l, uv_now(run->env.loop)) == OUTCOME_PENDING
				    ? OUTCOME_NOT_APPLICABLE
				    : health_usable(l, uv_now(run->env.loop));
	printf("%s %s: %s", list_kind_name(l->kind), l->name, lookup_outcome_name(a.outcome));
	if (key != NULL && key->bytes[0] == 'D') {
		printf(" query=%.*s.%s", key->len - 1, (const char *)key->bytes + 1, l->name);
	} else if (key != NULL) {
		struct addr addr = { .family = key->bytes[0] == '4' ? ADDR_V4 : ADDR_V6 };
		memcpy(addr.bytes, key->bytes + 1, key->len - 1u);
		addr_reverse_name(&addr, name, sizeof(name));
		printf(" query=%s.%s", name, l->name);
	}
	if (a.outcome == OUTCOME_LISTED) {
		printf(" answer=%u.%u.%u.%u ttl=%u weight=%ld", a.code[0], a.code[1], a.code[2],
		       a.code[3], a.ttl, l->weight);
		if (a.reason.head_len + a.reason.tail_len > 0) {
			char joined[1024], text[LRU_KEY_MAX + 1];
			if (a.key_text) {
				a.reason.middle = text;
				a.reason.middle_len = key_text(key, text, sizeof(text));
			}
			size_t used = reason_join(&a.reason, joined, sizeof(joined));
			text_clean(reason, sizeof(reason), joined, used);
			printf(" reason=\"%s\"", reason);
		}
	}
	printf(" cached=no\n");
}

/* finish - print the reply and the lists, and leave the loop. */
static void finish(struct check_run *run, struct key_result *const *results)
{
	print_reply(run);
	for (size_t i = 0; i < run->cfg->list_count; i++)
		print_list(run, i, results);
	uv_stop(run->env.loop);
}

/* lookup_done - the lookups are in (or timed out): render as the daemon does. */
static void lookup_done(void *arg, struct lookup *lk)
{
	struct check_run *run = arg;
	struct key_result *results[LOOKUP_MAX_KEYS];

	for (unsigned k = 0; k < lk->keys.count; k++)
		results[k] = lk->wait[k].result;
	if (lk->timed_out)
		run->slot.len = verdict_render_on_error(run->cfg, run->slot.text,
							sizeof(run->slot.text));
	else
		run->slot.len = verdict_render(run->cfg, &run->req, &lk->verdict, run->slot.text,
					       sizeof(run->slot.text));
	finish(run, results);
}

/* decide - once the health checks are done: look up, or answer from local lists. */
static void decide(struct check_run *run)
{
	struct key_result *none[LOOKUP_MAX_KEYS] = { NULL };

	run->keys.count = 0;
	if (run->checked && !run->local.allowlisted && run->env.resolver != NULL) {
		lookup_keys(run->cfg, &run->req, &run->client, uv_now(run->env.loop), &run->keys);
		if (run->keys.count > 0 &&
		    lookup_start(&run->env, run->cfg, &run->req, &run->local, &run->keys, none,
				 lookup_done, run) != NULL)
			return;
	}
	run->keys.count = 0;
	run->slot.len = verdict_render(run->cfg, &run->req, &run->local, run->slot.text,
				       sizeof(run->slot.text));
	finish(run, none);
}

/* wait_health - poll until the RFC 5782 checks have answered (each is bounded by udns). */
static void wait_health(uv_timer_t *t)
{
	struct check_run *run = t->data;

	if (run->health != NULL && health_busy(run->health))
		return;
	uv_timer_stop(t);
	decide(run);
}

/* close_all - close every handle so that the loop can be closed. */
static void close_all(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* check_run - one request through the real request path, the answer on stdout. */
int check_run(struct config *cfg, const struct check_request *req, bool debug)
{
	static struct check_run run;
	static char text[4096];
	struct addr a;
	int n;

	log_open(LOG_TO_STDERR, debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	if (!addr_parse(&a, req->address, strlen(req->address))) {
		fprintf(stderr, "policyd: --check: '%s' is not an IPv4 or IPv6 address\n",
			req->address);
		return 2;
	}
	n = snprintf(text, sizeof(text),
		     "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
		     "client_address=%s\nclient_name=%s\nreverse_client_name=%s\nhelo_name=%s\n"
		     "sender=%s\nrecipient=postmaster@localhost\n\n",
		     req->address, req->client_name ? req->client_name : "unknown",
		     req->client_name ? req->client_name : "unknown", req->helo ? req->helo : "",
		     req->sender ? req->sender : "");
	if (n < 0 || (size_t)n >= sizeof(text) || strpbrk(text, "\r") != NULL) {
		fprintf(stderr, "policyd: --check: arguments too long\n");
		return 2;
	}
	run.cfg = cfg;
	run.status = 2;
	request_parse(&run.req, text, (size_t)n);
	run.checked = policy_evaluate_local(cfg, &run.req, &run.local, &run.client);
	run.env.loop = uv_default_loop();
	for (size_t i = 0; i < cfg->list_count && run.env.resolver == NULL; i++)
		if (cfg->lists[i].kind != LIST_LOCAL &&
		    (run.env.resolver = resolver_new(run.env.loop, cfg)) == NULL)
			return 2;
	if (run.env.resolver != NULL) {
		run.env.keys = key_table_new(&run.env);
		run.health = health_new(&run.env, cfg);
	}
	uv_timer_init(run.env.loop, &run.wait);
	run.wait.data = &run;
	uv_timer_start(&run.wait, wait_health, 0, 10);
	uv_run(run.env.loop, UV_RUN_DEFAULT);
	health_free(run.health);
	if (run.env.resolver)
		resolver_free(run.env.resolver);
	key_table_free(run.env.keys);
	uv_walk(run.env.loop, close_all, NULL);
	uv_run(run.env.loop, UV_RUN_DEFAULT);
	uv_loop_close(run.env.loop);
	return run.status;
}
