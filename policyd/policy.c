/*
 * policy - the decision for one request (see policy.h). No state, no allocation:
 * the verdict lives on the stack and its reasons point into the configuration.
 */
#include "policy.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "stats.h"
#include "text.h"

static const uint8_t no_code[4];

/* policy_evaluate - local lists first: they answer without DNS. */
bool policy_evaluate(const struct config *cfg, const struct request *req, struct verdict *v)
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

/* log_decision - one Postfix-style line per decision; passes only at debug level. */
static void log_decision(const struct request *req, const struct verdict *v, const char *action,
			 bool refused)
{
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
					 "cached=no",
					 action, client, helo, from, v->hit_count ? lists : "-",
					 v->score);
}

/* policy_answer - evaluate, render, count and log. */
size_t policy_answer(const struct config *cfg, const struct request *req, char *out, size_t size)
{
	static const char *const action_names[] = { "reject", "defer", "warn", "prepend" };
	struct verdict v;
	bool checked = policy_evaluate(cfg, req, &v);
	bool refused = checked && verdict_refused(cfg, &v);
	size_t n = verdict_render(cfg, req, &v, out, size);

	if (refused)
		stats.replies_refused++;
	else
		stats.replies_dunno++;
	log_decision(req, &v, refused ? action_names[cfg->action] : checked ? "pass" : "skip",
		     refused);
	return n;
}

/* policy_warn_unsupported - DNS lists are configured but not consulted yet. */
void policy_warn_unsupported(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].kind != LIST_LOCAL)
			log_warn("[%s %s]: DNS list lookups are not implemented yet; this list is "
				 "not consulted",
				 list_kind_name(cfg->lists[i].kind), cfg->lists[i].name);
}
