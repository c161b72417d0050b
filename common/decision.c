/*
 * decision - the pure steps of one request's decision (see decision.h): the
 * exemptions, the site's own lists, the DNS lists' hits from their keys' results,
 * and the log line. Nothing is allocated; request values are cleaned before
 * they are shown.
 */
#include "decision.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "domain.h"
#include "nameset.h"
#include "request.h"
#include "text.h"

static const uint8_t no_code[4];

/* lower_equal - ASCII case-insensitive equality of a request value and a lower-case text. */
static bool lower_equal(const char *s, const char *lower, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (c != lower[i])
			return false;
	}
	return true;
}

/*
 * exempt - whether the recipient is the contact, or matches exempt_recipients
 * ("postmaster@" any domain, or a whole address). A refused sender must always
 * reach a human: the help page's promise.
 */
static bool exempt(const struct rules *r, const struct request *req)
{
	size_t len;
	const char *rcpt = request_get(req, REQ_RECIPIENT, &len);
	const char *at;

	if (len == 0)
		return false;
	if (r->contact != NULL && strlen(r->contact) == len && lower_equal(rcpt, r->contact, len) &&
	    len > 0)
		return true;
	at = memchr(rcpt, '@', len);
	for (size_t i = 0; i < r->exempt_count; i++) {
		const struct exempt *e = &r->exempt[i];
		if (e->local_part ? at != NULL && (size_t)(at - rcpt) + 1 == e->len &&
					    lower_equal(rcpt, e->text, e->len)
				  : e->len == len && lower_equal(rcpt, e->text, len))
			return true;
	}
	return false;
}

/* local_matches - whether the request value a local list of this type reads is listed. */
static bool local_matches(const struct list_config *l, const struct decision *d,
			  const struct request *req)
{
	char domain[DOMAIN_SIZE];
	size_t len, n;
	const char *v;

	switch (l->type) {
	case LOCAL_ADDRESS:
		return cidr_set_contains(l->set, &d->client);
	case LOCAL_RECIPIENT:
		v = request_get(req, REQ_RECIPIENT, &len);
		return name_set_has_recipient(l->names, v, len);
	case LOCAL_SENDER_DOMAIN:
		v = request_get(req, REQ_SENDER, &len);
		if (!domain_of_address(v, len, &v, &len))
			return false;
		break;
	case LOCAL_HELO:
		v = request_get(req, REQ_HELO_NAME, &len);
		break;
	case LOCAL_CLIENT_NAME:
		v = request_get(req, REQ_CLIENT_NAME, &len);
		break;
	default:
		return false;
	}
	n = domain_clean(v, len, domain, sizeof(domain));
	return n > 0 && name_set_has_domain(l->names, domain, n);
}

/* local_hit - a local list matched: its weight, its reason, what it matched. */
static void local_hit(struct decision *d, const struct list_config *l, const struct request *req)
{
	static const unsigned sources[] = {
		[LOCAL_ADDRESS] = 0,
		[LOCAL_SENDER_DOMAIN] = SOURCE_SENDER,
		[LOCAL_HELO] = SOURCE_HELO,
		[LOCAL_CLIENT_NAME] = SOURCE_CLIENT_NAME,
		[LOCAL_RECIPIENT] = SOURCE_RECIPIENT,
	};
	static const enum request_key attrs[] = {
		[LOCAL_ADDRESS] = REQ_CLIENT_ADDRESS, [LOCAL_SENDER_DOMAIN] = REQ_SENDER,
		[LOCAL_HELO] = REQ_HELO_NAME,         [LOCAL_CLIENT_NAME] = REQ_CLIENT_NAME,
		[LOCAL_RECIPIENT] = REQ_RECIPIENT,
	};
	struct hit h = { .list = l, .weight = l->weight, .source = sources[l->type] };

	memcpy(h.code, no_code, 4);
	if (l->type == LOCAL_ADDRESS) {
		h.what = d->client_text;
		h.what_len = d->client_text_len;
	} else {
		h.what = request_get(req, attrs[l->type], &h.what_len);
		if (l->type == LOCAL_SENDER_DOMAIN)
			domain_of_address(h.what, h.what_len, &h.what, &h.what_len);
	}
	h.reason = reason_plain(l->reason, l->reason ? strlen(l->reason) : 0);
	verdict_add(&d->verdict, &h);
}

/* decision_begin - skip, exempt, then the local lists. */
void decision_begin(struct decision *d, const struct rules *r, const struct request *req)
{
	size_t len;
	const char *value;

	verdict_clear(&d->verdict);
	d->keys.count = 0;
	d->tier = TIER_PASS;
	d->client_text_len = 0;
	d->kind = DECISION_SKIPPED;
	request_get(req, REQ_SASL_USERNAME, &len);
	if (r->skip_authenticated && len > 0)
		return;
	value = request_get(req, REQ_CLIENT_ADDRESS, &len);
	if (!addr_parse(&d->client, value, len))
		return;
	if (exempt(r, req)) {
		d->kind = DECISION_EXEMPT;
		return;
	}
	d->kind = DECISION_CHECKED;
	d->client_text_len = addr_format(&d->client, d->client_text, sizeof(d->client_text));
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		if (l->kind == LIST_LOCAL && local_matches(l, d, req))
			local_hit(d, l, req);
	}
	d->tier = score_tier(r, d->verdict.score);
}

/* decision_sources - the attributes the usable RHSBLs check. */
unsigned decision_sources(const struct rules *r, const bool *usable)
{
	unsigned sources = 0;

	for (size_t i = 0; i < r->list_count; i++)
		if (r->lists[i].kind == LIST_RHSBL && usable[i])
			sources |= r->lists[i].checks;
	return sources;
}

/* decision_key_applies - address lists read the address key; an RHSBL the domains it checks. */
bool decision_key_applies(const struct decision *d, const struct list_config *l, unsigned i)
{
	bool domain_key = key_is_domain(&d->keys.key[i]);

	if (l->kind == LIST_LOCAL || domain_key != (l->kind == LIST_RHSBL))
		return false;
	return !domain_key || (d->keys.sources[i] & l->checks) != 0;
}

/* first_source - the lowest SOURCE_* bit of a key that the list checks: what the hit names. */
static unsigned first_source(unsigned sources)
{
	return sources & (~sources + 1);
}

/* decision_add - each DNS list once, from the first of its keys that says "listed". */
void decision_add(struct decision *d, const struct rules *r, struct result *const *results)
{
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		if (l->kind == LIST_LOCAL)
			continue;
		for (unsigned k = 0; k < d->keys.count; k++) {
			struct answer a;
			struct hit h;
			const struct key *key = &d->keys.key[k];
			if (results[k] == NULL || !decision_key_applies(d, l, k) ||
			    result_outcome(results[k], i) != OUTCOME_LISTED)
				continue;
			result_get(results[k], i, &a);
			h.list = l;
			h.weight = codes_weight(&l->codes, a.mask, l->weight);
			memcpy(h.code, a.code, 4);
			h.source = key_is_domain(key) ? first_source(d->keys.sources[k] & l->checks) : 0;
			if (key_is_domain(key)) {
				h.what = (const char *)key->bytes + 1;
				h.what_len = key->len - 1u;
			} else {
				h.what = d->client_text;
				h.what_len = d->client_text_len;
			}
			h.reason = a.reason;
			h.txt = reason_len(&a.reason) > 0;
			if (a.key_text) {
				h.reason.middle = h.what;
				h.reason.middle_len = h.what_len;
			} else if (!h.txt && l->reason != NULL) {
				h.reason = reason_plain(l->reason, strlen(l->reason));
			}
			verdict_add(&d->verdict, &h);
			break;
		}
	}
	d->tier = score_tier(r, d->verdict.score);
}

/* put_clean - copy an untrusted value, cleaned and cut: at most max bytes and room. */
static size_t put_clean(char *out, size_t room, const char *v, size_t len, size_t max)
{
	char buf[256];

	if (room == 0)
		return 0;
	if (max >= sizeof(buf))
		max = sizeof(buf) - 1;
	size_t n = text_clean(buf, max + 1 < room ? max + 1 : room, v, len);
	memcpy(out, buf, n);
	return n;
}

/* decision_describe - one line; each value has its own cap so that none crowds out the rest. */
size_t decision_describe(const struct decision *d, const struct request *req, const char *word,
			 bool cached, const char *extra, char *out, size_t size)
{
	static const struct {
		const char *label;
		enum request_key key;
		size_t max;
	} fields[] = {
		{ " helo=<", REQ_HELO_NAME, 80 },
		{ " from=<", REQ_SENDER, 120 },
		{ " to=<", REQ_RECIPIENT, 120 },
	};
	size_t used = 0, len;
	const char *v;

	if (size < 64)
		return 0;
#define ROOM (size - used - 1)
#define PUT(s, n)                                                                                  \
	do {                                                                                       \
		size_t n_ = (n) < ROOM ? (n) : ROOM;                                               \
		memcpy(out + used, (s), n_);                                                       \
		used += n_;                                                                        \
	} while (0)
	v = request_get(req, REQ_QUEUE_ID, &len);
	if (len > 0)
		used += put_clean(out + used, ROOM, v, len, 20);
	else
		PUT("NOQUEUE", 7);
	PUT(": ", 2);
	PUT(word, strlen(word));
	PUT(": client=", 9);
	v = request_get(req, REQ_CLIENT_NAME, &len);
	used += put_clean(out + used, ROOM, len ? v : "unknown", len ? len : 7, 80);
	PUT("[", 1);
	v = request_get(req, REQ_CLIENT_ADDRESS, &len);
	used += put_clean(out + used, ROOM, v, len, 46);
	PUT("]", 1);
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		PUT(fields[f].label, strlen(fields[f].label));
		v = request_get(req, fields[f].key, &len);
		used += put_clean(out + used, ROOM, v, len, fields[f].max);
		PUT(">", 1);
	}
	{
		const struct hit *top = verdict_top(&d->verdict);
		PUT(" lists=", 7);
		if (d->verdict.hit_count == 0)
			PUT("-", 1);
		for (unsigned i = 0; i < d->verdict.hit_count && ROOM > 0; i++) {
			const struct hit *h = &d->verdict.hits[i];
			int n;
			if (i > 0)
				PUT(",", 1);
			PUT(h->list->name, strlen(h->list->name));
			if (h->list->kind != LIST_LOCAL)
				n = snprintf(out + used, ROOM + 1, "(%u.%u.%u.%u)", h->code[0],
					     h->code[1], h->code[2], h->code[3]);
			else
				n = snprintf(out + used, ROOM + 1, "(local)");
			used += n < 0 ? 0 : (size_t)n < ROOM ? (size_t)n : ROOM;
			if (h->source != 0 && h->list->kind != LIST_LOCAL) {
				PUT("[", 1);
				used += put_clean(out + used, ROOM, h->what, h->what_len, 80);
				PUT("]", 1);
			}
		}
		int n = snprintf(out + used, ROOM + 1, " score=%ld cached=%s", d->verdict.score,
				 cached ? "yes" : "no");
		used += n < 0 ? 0 : (size_t)n < ROOM ? (size_t)n : ROOM;
		if (top != NULL && tier_refuses(d->tier) && reason_len(&top->reason) > 0) {
			char joined[RESULT_REASON_MAX + 64];
			size_t jl = reason_join(&top->reason, joined, sizeof(joined));
			PUT(" reason=\"", 9);
			used += put_clean(out + used, ROOM, joined, jl, 160);
			PUT("\"", 1);
		}
	}
	if (extra != NULL && *extra) {
		PUT(" ", 1);
		PUT(extra, strlen(extra));
	}
#undef PUT
#undef ROOM
	out[used] = '\0';
	return used;
}
