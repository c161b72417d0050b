/*
 * decision - the pure steps of one request's decision (see decision.h): the
 * exemptions, the site's own lists, the DNS lists' hits from their keys' results,
 * and the log line. Nothing is allocated; request values are cleaned before
 * they are shown.
 */
#include "decision.h"
#include "hot.h"

#include <string.h>

#include "addr.h"
#include "domain.h"
#include "nameset.h"
#include "request.h"
#include "text.h"

static const uint8_t no_code[4];

/* same_text - ASCII case-insensitive equality of two texts of len bytes. */
static bool same_text(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x + ('a' - 'A'));
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + ('a' - 'A'));
		if (x != y)
			return false;
	}
	return true;
}

/* local_is - whether the recipient's local part, with or without its extension, is local. */
static bool local_is(const struct recipient *rc, const char *local, size_t len)
{
	return rc->local_len > 0 && (len == rc->local_len || len == rc->user_len) &&
	       same_text(rc->local, local, len);
}

/* address_is - whether the recipient, with or without its extension, is the address text. */
static bool address_is(const struct recipient *rc, const char *text, size_t len)
{
	const char *at = memchr(text, '@', len);
	size_t local = at ? (size_t)(at - text) : 0;

	return at != NULL && rc->domain != NULL && rc->domain_len == len - local - 1 &&
	       same_text(rc->domain, at + 1, rc->domain_len) && local_is(rc, text, local);
}

/*
 * exempt - whether the recipient is the contact, or matches exempt_recipients
 * ("postmaster@" any domain, or a whole address), with or without its address
 * extension: a refused sender must always reach a human (the help page's promise),
 * also one who writes to postmaster+urgent@, which Postfix delivers to postmaster.
 */
static bool exempt(const struct rules *r, const struct recipient *rc)
{
	if (r->contact != NULL && address_is(rc, r->contact, r->contact_len))
		return true;
	for (size_t i = 0; i < r->exempt_count; i++) {
		const struct exempt *e = &r->exempt[i];
		if (e->local_part ? local_is(rc, e->text, e->len - 1)
				  : address_is(rc, e->text, e->len))
			return true;
	}
	return false;
}

/* local_matches - whether the request value a local list of this type reads is listed. */
static bool local_matches(const struct list_config *l, const struct decision *d,
			  const struct request *req, const struct recipient *rc)
{
	char domain[DOMAIN_SIZE];
	size_t len, n;
	const char *v;

	switch (l->type) {
	case LOCAL_ADDRESS: return cidr_set_contains(l->set, &d->client);
	case LOCAL_RECIPIENT: return name_set_has_recipient(l->names, rc);
	case LOCAL_SENDER_DOMAIN:
		v = request_get(req, REQ_SENDER, &len);
		if (!domain_of_address(v, len, &v, &len))
			return false;
		break;
	case LOCAL_HELO: v = request_get(req, REQ_HELO_NAME, &len); break;
	case LOCAL_CLIENT_NAME: v = request_get(req, REQ_CLIENT_NAME, &len); break;
	default: return false;
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
HOT void decision_begin(struct decision *d, const struct rules *r, const struct request *req)
{
	struct recipient rc;
	size_t len, text_len;
	const char *value;

	verdict_clear(&d->verdict);
	d->keys.count = 0;
	d->lists = (struct decision_lists){ 0, 0 };
	d->observed_count = 0;
	d->tier = TIER_PASS;
	d->client_text_len = 0;
	d->kind = DECISION_SKIPPED;
	request_get(req, REQ_SASL_USERNAME, &len);
	/* An authenticated client is checked only by the lists that take it (AuthBL). */
	d->applies = r->client_lists[len > 0];
	if (len > 0 && d->applies == 0)
		return;
	value = request_get(req, REQ_CLIENT_ADDRESS, &len);
	text_len = addr_parse_text(&d->client, value, len, d->client_text, sizeof(d->client_text));
	if (text_len == 0)
		return;
	value = request_get(req, REQ_RECIPIENT, &len);
	recipient_parse(&rc, value, len, r->recipient_delimiter);
	if (exempt(r, &rc)) {
		d->kind = DECISION_EXEMPT;
		return;
	}
	d->kind = DECISION_CHECKED;
	d->client_text_len = text_len;
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		if (l->kind == LIST_LOCAL && ((d->applies >> i) & 1) &&
		    local_matches(l, d, req, &rc))
			local_hit(d, l, req);
	}
	d->tier = score_tier(r, d->verdict.score);
}

/* decision_sources - the attributes the readable RHSBLs and hashed lists check. */
unsigned decision_sources(const struct rules *r, uint64_t readable)
{
	unsigned sources = 0;

	for (size_t i = 0; i < r->list_count; i++)
		if ((r->lists[i].kind == LIST_RHSBL || r->lists[i].kind == LIST_HASHBL) &&
		    ((readable >> i) & 1))
			sources |= r->lists[i].checks;
	return sources;
}

/* decision_kind_reads - DNSBLs and DNSWLs read addresses, RHSBLs domains, hashed lists senders. */
bool decision_kind_reads(enum list_kind kind, enum key_family family)
{
	switch (kind) {
	case LIST_DNSBL:
	case LIST_DNSWL: return family == KEY_V4 || family == KEY_V6;
	case LIST_RHSBL: return family == KEY_DOMAIN;
	case LIST_HASHBL: return family == KEY_MAILBOX;
	default: return false;
	}
}

/* key_applies - address lists read the address key; the others the names they check.
 * Inline: decision_add asks it for every list and key of every request. */
static inline bool key_applies(const struct decision *d, const struct list_config *l, unsigned i)
{
	const struct key *k = &d->keys.key[i];

	if (!decision_kind_reads(l->kind, key_family(k)))
		return false;
	return !key_is_name(k) || (d->keys.sources[i] & l->checks) != 0;
}

/* decision_key_applies - see decision.h. */
bool decision_key_applies(const struct decision *d, const struct list_config *l, unsigned i)
{
	return key_applies(d, l, i);
}

/* first_source - the lowest SOURCE_* bit of a key that the list checks: what the hit names. */
static unsigned first_source(unsigned sources)
{
	return sources & (~sources + 1);
}

/* observe - an observed list said listed: kept for the log line and the counters. */
static void observe(struct decision *d, const struct list_config *l, const uint8_t code[4])
{
	if (d->observed_count < DECISION_MAX_OBSERVED) {
		d->observed[d->observed_count].list = l;
		memcpy(d->observed[d->observed_count].code, code, 4);
		d->observed_count++;
	}
}

/* decision_add - each DNS list once, from the first of its keys that says "listed". */
HOT void decision_add(struct decision *d, const struct rules *r, struct result *const *results)
{
	/* The DNS lists that take the request, in file order. */
	for (uint64_t m = d->applies & r->dns_lists; m != 0; m &= m - 1) {
		size_t i = (size_t)__builtin_ctzll(m);
		const struct list_config *l = &r->lists[i];
		for (unsigned k = 0; k < d->keys.count; k++) {
			struct answer a;
			struct hit h;
			const struct key *key = &d->keys.key[k];
			if (results[k] == NULL || !key_applies(d, l, k) ||
			    result_outcome(results[k], i) != OUTCOME_LISTED)
				continue;
			result_get(results[k], i, &a);
			if (l->observe) {
				observe(d, l, a.code);
				break;
			}
			h.list = l;
			h.weight = codes_weight(l->codes, a.mask, l->weight);
			memcpy(h.code, a.code, 4);
			h.source =
				key_is_name(key) ? first_source(d->keys.sources[k] & l->checks) : 0;
			if (key_is_name(key)) {
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

/* decision_sole - a hit decides when its weight is more than the tier's margin. */
uint64_t decision_sole(const struct decision *d, const struct rules *r)
{
	uint64_t sole = 0;
	long margin;

	if (d->kind != DECISION_CHECKED || !tier_refuses(d->tier))
		return 0;
	margin = score_margin(r, d->verdict.score, d->tier);
	for (unsigned i = 0; i < d->verdict.hit_count; i++)
		if (d->verdict.hits[i].weight > margin)
			sole |= (uint64_t)1 << (d->verdict.hits[i].list - r->lists);
	return sole;
}

/* A bounded line being written: bytes past the end are dropped, never overflow. */
struct line {
	char *out;
	size_t used, room; /* room excludes the terminator */
};

/* put - bytes as they are (our own text). */
static void put(struct line *l, const char *s, size_t n)
{
	if (n > l->room - l->used)
		n = l->room - l->used;
	memcpy(l->out + l->used, s, n);
	l->used += n;
}

/*
 * put_fixed - bytes of a length known when compiling (a literal, through put_literal):
 * inlined, the copy is a few stores instead of a call to memcpy, and a log line is
 * mostly such words.
 */
static inline __attribute__((always_inline)) void put_fixed(struct line *l, const char *s, size_t n)
{
	if (n <= l->room - l->used) {
		memcpy(l->out + l->used, s, n);
		l->used += n;
	} else {
		put(l, s, n);
	}
}

#define put_literal(l, s) put_fixed((l), (s), sizeof(s) - 1)

/* put_str - a C string of our own. */
static void put_str(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/*
 * put_clean - an untrusted value, at most max bytes: bytes outside printable
 * ASCII become '?', and a value that is cut ends in "..." (as text_clean does, in
 * one pass and without a copy).
 */
HOT static void put_clean(struct line *l, const char *v, size_t len, size_t max)
{
	bool cut = len > max;
	size_t n = cut ? (max > 3 ? max - 3 : 0) : len;

	if (n > l->room - l->used)
		n = l->room - l->used;
	text_copy_clean(l->out + l->used, v, n, '?');
	l->used += n;
	if (cut && max >= 3)
		put_literal(l, "...");
}

/* put_long - a number without printf. */
static void put_long(struct line *l, long v)
{
	char text[TEXT_DECIMAL_MAX];

	put(l, text, text_decimal(text, v));
}

/* put_code - an A answer, d.d.d.d: written as addr_format writes an IPv4 address, which
 * it is, without a division loop per octet. */
static void put_code(struct line *l, const uint8_t code[4])
{
	struct addr a = { .family = ADDR_V4 };
	char text[ADDR_TEXT_MAX];

	memcpy(a.bytes, code, 4);
	put(l, text, addr_format(&a, text, sizeof(text)));
}

/* decision_describe - one line; each value has its own cap so that none crowds out the rest. */
HOT size_t decision_describe(const struct decision *d, const struct request *req, const char *word,
			     bool cached, const char *extra, char *out, size_t size)
{
	struct line l = { .out = out, .room = size - 1 };
	const struct hit *top = verdict_top(&d->verdict);
	size_t len;
	const char *v;

	if (size < 64)
		return 0;
	v = request_get(req, REQ_QUEUE_ID, &len);
	if (len > 0)
		put_clean(&l, v, len, 20);
	else
		put_literal(&l, "NOQUEUE");
	put_literal(&l, ": ");
	put_str(&l, word);
	put_literal(&l, ": client=");
	v = request_get(req, REQ_CLIENT_NAME, &len);
	if (len > 0)
		put_clean(&l, v, len, 80);
	else
		put_literal(&l, "unknown");
	put_literal(&l, "[");
	v = request_get(req, REQ_CLIENT_ADDRESS, &len);
	put_clean(&l, v, len, 46);
	put_literal(&l, "]");
	/* Each value has its own cap, so that none crowds out the rest. */
	put_literal(&l, " helo=<");
	v = request_get(req, REQ_HELO_NAME, &len);
	put_clean(&l, v, len, 80);
	put_literal(&l, "> from=<");
	v = request_get(req, REQ_SENDER, &len);
	put_clean(&l, v, len, 120);
	put_literal(&l, "> to=<");
	v = request_get(req, REQ_RECIPIENT, &len);
	put_clean(&l, v, len, 120);
	put_literal(&l, "> lists=");
	if (d->verdict.hit_count == 0)
		put_literal(&l, "-");
	for (unsigned i = 0; i < d->verdict.hit_count; i++) {
		const struct hit *h = &d->verdict.hits[i];
		if (i > 0)
			put_literal(&l, ",");
		put_str(&l, h->list->name);
		put_literal(&l, "(");
		if (h->list->kind == LIST_LOCAL)
			put_literal(&l, "local");
		else
			put_code(&l, h->code);
		put_literal(&l, ")");
		if (h->source != 0 && h->list->kind != LIST_LOCAL) {
			put_literal(&l, "[");
			put_clean(&l, h->what, h->what_len, 80);
			put_literal(&l, "]");
		}
	}
	for (unsigned i = 0; i < d->observed_count; i++) {
		if (i > 0)
			put_literal(&l, ",");
		else
			put_literal(&l, " observed=");
		put_str(&l, d->observed[i].list->name);
		put_literal(&l, "(");
		put_code(&l, d->observed[i].code);
		put_literal(&l, ")");
	}
	put_literal(&l, " score=");
	put_long(&l, d->verdict.score);
	put_str(&l, cached ? " cached=yes" : " cached=no");
	if (top != NULL && tier_refuses(d->tier) && reason_len(&top->reason) > 0) {
		put_str(&l, " reason=\"");
		put_clean(&l, top->reason.head, top->reason.head_len, 160);
		if (top->reason.head_len < 160) {
			size_t left = 160 - top->reason.head_len;
			put_clean(&l, top->reason.middle, top->reason.middle_len, left);
			if (top->reason.middle_len < left)
				put_clean(&l, top->reason.tail, top->reason.tail_len,
					  left - top->reason.middle_len);
		}
		put_str(&l, "\"");
	}
	if (extra != NULL && *extra) {
		put_literal(&l, " ");
		put_str(&l, extra);
	}
	out[l.used] = '\0';
	return l.used;
}
