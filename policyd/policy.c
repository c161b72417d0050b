/*
 * policy - the decision engine (see policy.h): local lists at once, DNS lists
 * through a lookup, the verdict rendered into the caller's slot.
 *
 * Memory: the engine holds a reference to the current config, the resolver and
 * the health checks. A decision that waits for DNS has a small record (struct
 * decision) that lives until its reply is handed over.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "health.h"
#include "log.h"
#include "lookup.h"
#include "resolver.h"
#include "stats.h"
#include "text.h"

struct policy {
	struct lookup_env env;
	struct config *cfg;
	struct health *health;
};

/* A decision waiting for its lookups. */
struct decision {
	struct reply_slot *slot;
	policy_done_fn *done;
};

static const uint8_t no_code[4];

/* has_dns_lists - whether the configuration needs a resolver at all. */
static bool has_dns_lists(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].kind != LIST_LOCAL)
			return true;
	return false;
}

/* policy_new - the resolver (only when DNS lists are configured) and the health checks. */
struct policy *policy_new(uv_loop_t *loop, struct config *cfg)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->env.loop = loop;
	p->cfg = config_ref(cfg);
	if (has_dns_lists(cfg)) {
		p->env.resolver = resolver_new(loop, cfg);
		if (p->env.resolver == NULL) {
			config_unref(p->cfg);
			free(p);
			return NULL;
		}
	}
	p->health = health_new(&p->env, cfg);
	return p;
}

/* policy_set_config - new decisions use cfg; DNS server changes need a restart. */
void policy_set_config(struct policy *p, struct config *cfg)
{
	if (p->env.resolver == NULL && has_dns_lists(cfg))
		p->env.resolver = resolver_new(p->env.loop, cfg);
	else if (cfg->nameserver_count != p->cfg->nameserver_count ||
		 (cfg->nameserver_count > 0 &&
		  memcmp(cfg->nameserver, p->cfg->nameserver,
			 cfg->nameserver_count * sizeof(*cfg->nameserver)) != 0) ||
		 cfg->dns_timeout_ms != p->cfg->dns_timeout_ms || cfg->dns_tries != p->cfg->dns_tries)
		log_warn("reload: [dns] settings changed; they take effect after a restart");
	health_set_config(p->health, cfg);
	config_unref(p->cfg);
	p->cfg = config_ref(cfg);
}

/* policy_free - lookups end by their deadline before the daemon frees the engine. */
void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	health_free(p->health);
	if (p->env.resolver)
		resolver_free(p->env.resolver);
	config_unref(p->cfg);
	free(p);
}

/* policy_evaluate_local - local lists first: they answer without DNS. */
bool policy_evaluate_local(const struct config *cfg, const struct request *req, struct verdict *v)
{
	size_t len;
	const char *value;
	struct addr client;

	memset(v, 0, sizeof(*v));
	value = request_get(req, REQ_SASL_USERNAME, &len);
	if (cfg->skip_authenticated && len > 0)
		return false;
	value = request_get(req, REQ_CLIENT_ADDRESS, &len);
	if (!addr_parse(&client, value, len))
		return false;
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_config *l = &cfg->lists[i];
		if (l->kind == LIST_LOCAL && cidr_set_contains(l->set, &client))
			verdict_add(v, l, no_code, l->reason, l->reason ? strlen(l->reason) : 0);
	}
	v->allowlisted = v->score <= cfg->allowlist_threshold;
	return true;
}

/* policy_log_decision - e.g. "reject: client=[192.0.2.1] helo=<x> from=<a@b> lists=... score=2 cached=no". */
void policy_log_decision(const struct config *cfg, const struct request *req,
			 const struct verdict *v, bool checked, bool cached)
{
	static const char *const action_names[] = { "reject", "defer", "warn", "prepend" };
	bool refused = checked && verdict_refused(cfg, v);
	char client[64], helo[80], from[120], lists[256];
	size_t len, used = 0;
	const char *value;

	if (!log_enabled(refused ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG))
		return;
	value = request_get(req, REQ_CLIENT_ADDRESS, &len);
	text_clean(client, sizeof(client), value, len);
	value = request_get(req, REQ_HELO_NAME, &len);
	text_clean(helo, sizeof(helo), value, len);
	value = request_get(req, REQ_SENDER, &len);
	text_clean(from, sizeof(from), value, len);
	lists[0] = '\0';
	for (unsigned i = 0; i < v->hit_count && used < sizeof(lists); i++) {
		const struct verdict_hit *h = &v->hits[i];
		used += (size_t)snprintf(lists + used, sizeof(lists) - used, "%s%s", i ? "," : "",
					 h->list->name);
		if (h->list->kind != LIST_LOCAL && used < sizeof(lists))
			used += (size_t)snprintf(lists + used, sizeof(lists) - used, "(%u.%u.%u.%u)",
						 h->code[0], h->code[1], h->code[2], h->code[3]);
	}
	(refused ? log_info : log_debug)("%s: client=[%s] helo=<%s> from=<%s> lists=%s score=%ld "
					 "cached=%s",
					 refused ? action_names[cfg->action] : checked ? "pass" : "skip",
					 client, helo, from, v->hit_count ? lists : "-", v->score,
					 cached ? "yes" : "no");
}

/* render - the verdict's reply into the slot, counted and logged. */
static void render(const struct config *cfg, const struct request *req, const struct verdict *v,
		   bool checked, struct reply_slot *slot)
{
	if (checked && verdict_refused(cfg, v))
		stats.replies_refused++;
	else
		stats.replies_dunno++;
	slot->len = verdict_render(cfg, req, v, slot->text, sizeof(slot->text));
	policy_log_decision(cfg, req, v, checked, false);
}

/* render_on_error - lookups did not finish in time: never refuse, unless told to defer. */
static void render_on_error(const struct config *cfg, const struct request *req,
			    struct reply_slot *slot)
{
	char client[64];
	size_t len;
	const char *value = request_get(req, REQ_CLIENT_ADDRESS, &len);

	text_clean(client, sizeof(client), value, len);
	stats.replies_on_error++;
	log_warn("client=[%s]: list lookups did not finish within request_timeout (%lu ms); "
		 "answering %s",
		 client, cfg->request_timeout_ms, cfg->on_error == ON_ERROR_DEFER ? "DEFER" : "DUNNO");
	slot->len = verdict_render_word(cfg->on_error == ON_ERROR_DEFER
						? "DEFER 4.7.1 Blocklist lookups did not finish in "
						  "time; please try again later"
						: "DUNNO",
					slot->text, sizeof(slot->text));
}

/* lookup_done - the DNS answers are in (or the deadline passed). */
static void lookup_done(void *arg, struct lookup *lk)
{
	struct decision *d = arg;

	if (lk->timed_out)
		render_on_error(lk->cfg, &lk->req, d->slot);
	else
		render(lk->cfg, &lk->req, &lk->verdict, true, d->slot);
	d->done(d->slot);
	free(d);
}

/* policy_decide - at once when no DNS list must be asked, else through a lookup. */
enum policy_outcome policy_decide(struct policy *p, const struct request *req,
				  struct reply_slot *slot, policy_done_fn *done)
{
	const struct config *cfg = p->cfg;
	struct verdict v;
	bool checked = policy_evaluate_local(cfg, req, &v);

	if (checked && !v.allowlisted && p->env.resolver != NULL) {
		struct decision *d = malloc(sizeof(*d));
		if (d != NULL) {
			d->slot = slot;
			d->done = done;
			if (lookup_start(&p->env, p->cfg, req, &v, lookup_done, d) != NULL)
				return POLICY_PENDING;
			free(d);
		}
	}
	render(cfg, req, &v, checked, slot);
	return POLICY_ANSWERED;
}
