/*
 * verdict - scoring the hits of one request and rendering the reply (see verdict.h).
 *
 * The reply text comes from the [policy] template. Its macros are the request's
 * attributes (untrusted) and what the lists said (untrusted TXT bytes); the
 * template module cleans them and keeps the text within 400 bytes, cutting the
 * list's reason first and never the help URL or the contact. Nothing here
 * allocates: every buffer is on the stack.
 */
#include "verdict.h"

#include <stdio.h>
#include <string.h>

#include "template.h"

/* The reply text limit of spec section 4: Postfix's prefix must still fit in 510 bytes. */
#define REPLY_TEXT_MAX 400

/* What the template lookup needs: the request, the verdict and derived strings. */
struct render_ctx {
	const struct config *cfg;
	const struct request *req;
	const struct verdict *v;
	const struct verdict_hit *top;
	bool in_help_url; /* expanding help_url itself: "$help_url" inside it is empty */
	char help_url[REPLY_TEXT_MAX + 1];
	size_t help_url_len;
	char domains[REPLY_TEXT_MAX + 1];
	size_t domains_len;
	char code[16];
	char score[24];
	char reason[1024]; /* the top hit's reason, its parts joined */
	size_t reason_len;
};

/* verdict_add - one more list hit; hits beyond the array still count in the score. */
void verdict_add(struct verdict *v, const struct list_config *list, const uint8_t code[4],
		 const struct reason *reason)
{
	v->score += list->weight;
	if (v->hit_count >= VERDICT_MAX_HITS)
		return;
	struct verdict_hit *h = &v->hits[v->hit_count++];
	h->list = list;
	memcpy(h->code, code, 4);
	h->reason = reason ? *reason : reason_plain(NULL, 0);
}

/* reason_join - head, middle and tail one after the other, as far as they fit. */
size_t reason_join(const struct reason *r, char *buf, size_t size)
{
	const char *parts[3] = { r->head, r->middle, r->tail };
	size_t lens[3] = { r->head_len, r->middle_len, r->tail_len };
	size_t used = 0;

	for (int i = 0; i < 3; i++) {
		size_t n = lens[i] < size - used ? lens[i] : size - used;
		if (n > 0)
			memcpy(buf + used, parts[i], n);
		used += n;
	}
	return used;
}

/* reason_plain - head only. */
struct reason reason_plain(const char *text, size_t len)
{
	return (struct reason){ .head = text, .head_len = text ? len : 0 };
}

/* verdict_refused - the score reaches the threshold and no allowlist accepted the client. */
bool verdict_refused(const struct config *cfg, const struct verdict *v)
{
	if (v->allowlisted || v->score <= cfg->allowlist_threshold)
		return false;
	return v->score >= cfg->threshold;
}

/* top_hit - the hit with the largest weight: it names the list in the reply. */
static const struct verdict_hit *top_hit(const struct verdict *v)
{
	const struct verdict_hit *top = NULL;

	for (unsigned i = 0; i < v->hit_count; i++)
		if (top == NULL || v->hits[i].list->weight > top->list->weight)
			top = &v->hits[i];
	return top;
}

/* set - hand a value to the template. */
static bool set(const char *value, size_t len, enum template_cut cut, const char **out,
		size_t *out_len, enum template_cut *out_cut)
{
	*out = value;
	*out_len = len;
	*out_cut = cut;
	return true;
}

/* name_is - compare a macro name (not terminated) with a known one. */
static bool name_is(const char *name, size_t len, const char *known)
{
	return strlen(known) == len && memcmp(name, known, len) == 0;
}

/* lookup - the template's macro values: list data first, then request attributes. */
static bool lookup(void *arg, const char *name, size_t len, const char **value, size_t *value_len,
		   enum template_cut *cut)
{
	struct render_ctx *c = arg;
	const struct verdict_hit *top = c->top;

	if (name_is(name, len, "rbl_domain") && top)
		return set(top->list->name, strlen(top->list->name), TEMPLATE_KEEP, value, value_len, cut);
	if (name_is(name, len, "rbl_domains"))
		return set(c->domains, c->domains_len, TEMPLATE_CUT_LATER, value, value_len, cut);
	if (name_is(name, len, "rbl_reason") && c->reason_len > 0)
		return set(c->reason, c->reason_len, TEMPLATE_CUT_FIRST, value, value_len, cut);
	if (name_is(name, len, "rbl_code"))
		return set(c->code, strlen(c->code), TEMPLATE_KEEP, value, value_len, cut);
	if (name_is(name, len, "score"))
		return set(c->score, strlen(c->score), TEMPLATE_KEEP, value, value_len, cut);
	if (name_is(name, len, "help_url"))
		return !c->in_help_url &&
		       set(c->help_url, c->help_url_len, TEMPLATE_KEEP, value, value_len, cut);
	if (name_is(name, len, "contact") && c->cfg->contact)
		return set(c->cfg->contact, strlen(c->cfg->contact), TEMPLATE_KEEP, value, value_len,
			   cut);
	*value = request_find(c->req, name, len, value_len);
	*cut = name_is(name, len, "client_address") ? TEMPLATE_KEEP : TEMPLATE_CUT_LATER;
	return *value != NULL;
}

/* prepare - the derived strings: help URL, list of domains, code and score. */
static void prepare(struct render_ctx *c)
{
	const struct template *help = c->cfg->help_url;
	size_t used = 0;

	if (c->top)
		c->reason_len = reason_join(&c->top->reason, c->reason, sizeof(c->reason));

	if (c->top && c->top->list->help_url)
		help = c->top->list->help_url;
	if (help) {
		c->in_help_url = true;
		c->help_url_len = template_expand(help, lookup, c, c->help_url, sizeof(c->help_url),
						  REPLY_TEXT_MAX / 2);
		c->in_help_url = false;
	}
	for (unsigned i = 0; i < c->v->hit_count && used < sizeof(c->domains) - 1; i++)
		used += (size_t)snprintf(c->domains + used, sizeof(c->domains) - used, "%s%s",
					 i ? ", " : "", c->v->hits[i].list->name);
	c->domains_len = used < sizeof(c->domains) ? used : sizeof(c->domains) - 1;
	if (c->top && c->top->list->kind != LIST_LOCAL)
		snprintf(c->code, sizeof(c->code), "%u.%u.%u.%u", c->top->code[0], c->top->code[1],
			 c->top->code[2], c->top->code[3]);
	snprintf(c->score, sizeof(c->score), "%ld", c->v->score);
}

/* verdict_render_word - "action=WORD\n\n"; DUNNO is most replies: no printf. */
size_t verdict_render_word(const char *word, char *out, size_t size)
{
	size_t len = strlen(word);

	if (len + 10 > size)
		return 0;
	memcpy(out, "action=", 7);
	memcpy(out + 7, word, len);
	memcpy(out + 7 + len, "\n\n", 2);
	return len + 9;
}

/* verdict_render_on_error - DUNNO (never refuse for our own failure) unless told to defer. */
size_t verdict_render_on_error(const struct config *cfg, char *out, size_t size)
{
	return verdict_render_word(cfg->on_error == ON_ERROR_DEFER
					   ? "DEFER 4.7.1 Blocklist lookups did not finish in time; "
					     "please try again later"
					   : "DUNNO",
				   out, size);
}

/* verdict_render - DUNNO for a pass; the configured action and text for a refusal. */
size_t verdict_render(const struct config *cfg, const struct request *req, const struct verdict *v,
		      char *out, size_t size)
{
	static const char *const prefix[] = {
		[ACTION_REJECT] = "REJECT 5.7.1 ",
		[ACTION_DEFER] = "DEFER 4.7.1 ",
		[ACTION_WARN] = "WARN ",
		[ACTION_PREPEND] = "PREPEND X-DNSBL: ",
	};
	struct render_ctx c;
	char text[REPLY_TEXT_MAX + 1];

	/* Most replies are DUNNO: decide before building the (large) context. */
	if (!verdict_refused(cfg, v))
		return verdict_render_word("DUNNO", out, size);
	c = (struct render_ctx){ .cfg = cfg, .req = req, .v = v, .top = top_hit(v) };
	prepare(&c);
	size_t len = template_expand(cfg->text, lookup, &c, text, sizeof(text), REPLY_TEXT_MAX);
	/* Postfix reads an empty action text as permit: never send one (traps.md). */
	if (len == 0)
		len = (size_t)snprintf(text, sizeof(text), "Refused by policy");
	int n = snprintf(out, size, "action=%s%s\n\n", prefix[cfg->action], text);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}
