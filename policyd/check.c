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
#include "lookup.h"
#include "policy.h"
#include "request.h"
#include "resolver.h"
#include "text.h"

struct check_run {
	struct config *cfg;
	struct request req;
	struct verdict local;
	bool checked;
	struct lookup_env env;
	struct health *health;
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

/* print_list - one line for a list: what it said and why it counts or not. */
static void print_list(const struct list_config *l, const struct list_result *r, bool local_hit)
{
	char reason[200];

	if (l->kind == LIST_LOCAL) {
		printf("list %s: %s weight=%ld file=%s cached=no\n", l->name,
		       local_hit ? "listed" : "not listed", l->weight, l->file);
		return;
	}
	printf("%s %s: %s", list_kind_name(l->kind), l->name,
	       r ? lookup_outcome_name(r->outcome) : "not consulted");
	if (r && r->name[0])
		printf(" query=%s", r->name);
	if (r && r->outcome == OUTCOME_LISTED) {
		printf(" answer=%u.%u.%u.%u ttl=%u weight=%ld", r->code[0], r->code[1], r->code[2],
		       r->code[3], r->ttl, l->weight);
		if (r->reason) {
			text_clean(reason, sizeof(reason), r->reason, r->reason_len);
			printf(" reason=\"%s\"", reason);
		}
	}
	printf(" cached=no\n");
}

/* lookup_done - the lookups are in: print everything and leave the loop. */
static void lookup_done(void *arg, struct lookup *lk)
{
	struct check_run *run = arg;

	if (lk->timed_out)
		run->slot.len = verdict_render_word(run->cfg->on_error == ON_ERROR_DEFER
							    ? "DEFER 4.7.1 lookups timed out"
							    : "DUNNO",
						    run->slot.text, sizeof(run->slot.text));
	else
		run->slot.len = verdict_render(run->cfg, &run->req, &lk->verdict, run->slot.text,
					       sizeof(run->slot.text));
	print_reply(run);
	for (size_t i = 0; i < run->cfg->list_count; i++) {
		bool hit = false;
		for (unsigned k = 0; k < run->local.hit_count; k++)
			hit = hit || run->local.hits[k].list == &run->cfg->lists[i];
		print_list(&run->cfg->lists[i], &lk->results[i], hit);
	}
	uv_stop(run->env.loop);
}

/* decide - once the health checks are done: look up, or answer from local lists. */
static void decide(struct check_run *run)
{
	if (run->checked && !run->local.allowlisted &&
	    lookup_start(&run->env, run->cfg, &run->req, &run->local, lookup_done, run) != NULL)
		return;
	run->slot.len = verdict_render(run->cfg, &run->req, &run->local, run->slot.text,
				       sizeof(run->slot.text));
	print_reply(run);
	for (size_t i = 0; i < run->cfg->list_count; i++) {
		const struct list_config *l = &run->cfg->lists[i];
		bool hit = false;
		for (unsigned k = 0; k < run->local.hit_count; k++)
			hit = hit || run->local.hits[k].list == l;
		struct list_result r = { .outcome = health_usable(l, uv_now(run->env.loop)) };
		if (!run->checked)
			r.outcome = OUTCOME_NOT_APPLICABLE;
		print_list(l, &r, hit);
	}
	uv_stop(run->env.loop);
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
	run.checked = policy_evaluate_local(cfg, &run.req, &run.local);
	run.env.loop = uv_default_loop();
	for (size_t i = 0; i < cfg->list_count && run.env.resolver == NULL; i++)
		if (cfg->lists[i].kind != LIST_LOCAL &&
		    (run.env.resolver = resolver_new(run.env.loop, cfg)) == NULL)
			return 2;
	if (run.env.resolver != NULL)
		run.health = health_new(&run.env, cfg);
	uv_timer_init(run.env.loop, &run.wait);
	run.wait.data = &run;
	uv_timer_start(&run.wait, wait_health, 0, 10);
	uv_run(run.env.loop, UV_RUN_DEFAULT);
	health_free(run.health);
	if (run.env.resolver)
		resolver_free(run.env.resolver);
	uv_walk(run.env.loop, close_all, NULL);
	uv_run(run.env.loop, UV_RUN_DEFAULT);
	uv_loop_close(run.env.loop);
	return run.status;
}
