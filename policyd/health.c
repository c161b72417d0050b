/*
 * health - a DNS list's run-time state and its log lines (see health.h). One line
 * when the state changes, never one per request: a dead list must not flood the
 * log any more than it may refuse mail.
 */
#include "health.h"
#include "hot.h"

#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "log.h"

#define ERROR_LOG_INTERVAL_MS (60 * 1000)

struct list_health {
	unsigned refs;
	enum list_kind kind;
	char *name;   /* a copy: the list's zone */
	bool checked; /* a health check has given a verdict */
	bool healthy; /* it passed: the list may be asked */
	bool refused; /* disabled by a refusal answer (refused_code), until a check passes */
	uint8_t refused_code[4];
	bool check_running;
	bool off;                /* health = off: enabled, never checked for IPv4 */
	enum list_ipv6 ipv6;     /* the list's ipv6 key */
	bool v6_known;           /* a check has said whether it holds IPv6 data */
	bool v6_data;            /* it lists ::FFFF:7F00:2 and not ::FFFF:7F00:1 */
	uint64_t unlisted_asked; /* loop time the unlisted test point was last asked */
	struct breaker breaker;
	uint64_t last_error_log; /* loop time of the last "error answer" warning */
	struct health_counters counters;
};

/* health_new - not checked, not healthy: nothing it says can refuse mail before a check. */
struct list_health *health_new(enum list_kind kind, const char *name)
{
	struct list_health *h = calloc(1, sizeof(*h));

	if (h == NULL || (h->name = strdup(name)) == NULL) {
		free(h);
		return NULL;
	}
	h->refs = 1;
	h->kind = kind;
	return h;
}

struct list_health *health_ref(struct list_health *h)
{
	if (h != NULL)
		h->refs++;
	return h;
}

void health_unref(struct list_health *h)
{
	if (h == NULL || --h->refs > 0)
		return;
	free(h->name);
	free(h);
}

enum list_kind health_kind(const struct list_health *h)
{
	return h->kind;
}

const char *health_name(const struct list_health *h)
{
	return h->name;
}

/* health_configure - health = off enables the list now; said once, with the risk. */
void health_configure(struct list_health *h, bool off, enum list_ipv6 ipv6)
{
	h->ipv6 = ipv6;
	if (off == h->off)
		return;
	h->off = off;
	h->checked = off;
	h->healthy = off;
	h->refused = false;
	if (off)
		log_warn(
			"[%s %s]: health = off: enabled without health checks; if the list dies or starts listing everything, it will refuse mail until you notice",
			list_kind_name(h->kind), h->name);
}

bool health_off(const struct list_health *h)
{
	return h->off;
}

/* health_asks_v6 - HOT: an IPv6 client's request asks it for each address list. */
HOT bool health_asks_v6(const struct list_health *h)
{
	return h->ipv6 == LIST_IPV6_YES || (h->ipv6 == LIST_IPV6_AUTO && h->v6_data);
}

bool health_v6_known(const struct list_health *h)
{
	return h->ipv6 == LIST_IPV6_AUTO && h->v6_known;
}

bool health_wants_check(const struct list_health *h)
{
	return !health_enabled(h) ||
	       (list_is_address(h->kind) && h->ipv6 == LIST_IPV6_AUTO && !h->v6_known);
}

bool health_checked(const struct list_health *h)
{
	return h->checked;
}

bool health_enabled(const struct list_health *h)
{
	return h->checked && h->healthy;
}

const struct health_counters *health_counters(const struct list_health *h)
{
	return &h->counters;
}

void health_count_query(struct list_health *h)
{
	h->counters.queries++;
}

void health_count_listed(struct list_health *h)
{
	h->counters.listed++;
}

void health_count_sole(struct list_health *h)
{
	h->counters.sole++;
}

void health_count_observed(struct list_health *h)
{
	h->counters.observed++;
}

/* health_usable - healthy and not skipped by the breaker (half-open after the wait). */
HOT enum outcome health_usable(const struct list_health *h, const struct breaker_params *p,
			       uint64_t now)
{
	if (!h->checked || !h->healthy)
		return OUTCOME_UNHEALTHY;
	if (breaker_open(&h->breaker, p, now))
		return OUTCOME_BREAKER;
	return OUTCOME_PENDING;
}

/* health_usable_all - one bit per list that health_usable lets read, and one per list it lets ask. */
HOT struct decision_lists health_usable_all(struct list_health *const *h, size_t n,
					    const struct breaker_params *p, uint64_t now)
{
	struct decision_lists u = { 0, 0 };

	for (size_t i = 0; i < n; i++) {
		enum outcome o = h[i] != NULL ? health_usable(h[i], p, now) : OUTCOME_UNHEALTHY;
		if (o != OUTCOME_UNHEALTHY)
			u.readable |= (uint64_t)1 << i;
		if (o == OUTCOME_PENDING)
			u.askable |= (uint64_t)1 << i;
	}
	return u;
}

/* health_record - count, and say once when the breaker opens or closes. */
void health_record(struct list_health *h, const struct breaker_params *p, bool answered,
		   uint64_t now)
{
	if (!answered)
		h->counters.failures++;
	switch (breaker_record(&h->breaker, p, answered, now)) {
	case BREAKER_OPENED:
		log_warn(
			"[%s %s]: %u lookups in a row failed; skipping the list for %llu s (circuit breaker open)",
			list_kind_name(h->kind), h->name, h->breaker.failures,
			(unsigned long long)((h->breaker.backoff_ms + 999) / 1000));
		break;
	case BREAKER_CLOSED:
		log_info("[%s %s]: answers again; circuit breaker closed", list_kind_name(h->kind),
			 h->name);
		break;
	case BREAKER_NONE: break;
	}
}

/* health_error_code - explain an error answer, at most once a minute per list. */
void health_error_code(struct list_health *h, const uint8_t code[4], uint64_t now)
{
	h->counters.errors++;
	if (h->last_error_log != 0 && now - h->last_error_log < ERROR_LOG_INTERVAL_MS)
		return;
	h->last_error_log = now ? now : 1;
	if (codes_classify(code) == CODES_ANSWER_ERROR)
		log_warn(
			"[%s %s]: answered %u.%u.%u.%u, an error code of the operator: not counted as a listing",
			list_kind_name(h->kind), h->name, code[0], code[1], code[2], code[3]);
	else
		log_warn(
			"[%s %s]: answered %u.%u.%u.%u, outside 127.0.0.0/8: not counted as a listing",
			list_kind_name(h->kind), h->name, code[0], code[1], code[2], code[3]);
}

/* refusal_meaning - what a refusal answer means, and what the administrator can do. */
static const char *refusal_meaning(enum list_kind kind, const uint8_t code[4])
{
	static const uint8_t dnswl[4] = { 127, 0, 0, 255 };

	if (codes_classify(code) == CODES_ANSWER_REFUSED && code[3] == 254)
		return "this list refuses queries from public resolvers: run a resolver of your own (see README) or use the operator's keyed service";
	if (codes_classify(code) == CODES_ANSWER_REFUSED && code[3] == 255)
		return "this list says our queries are over its quota: run a resolver of your own or mirror the zone (see README), or use the operator's keyed service";
	if (codes_classify(code) == CODES_ANSWER_REFUSED)
		return "this list says the zone name has a typo: check the list's name (and its key, for a keyed service)";
	if (kind == LIST_DNSWL && memcmp(code, dnswl, 4) == 0)
		return "this list blocks our queries or says they are over its quota: run a resolver of your own (see README) or register with the operator";
	return "an answer of refused_codes: the operator refuses our queries";
}

/* health_refused - count; disable the list, and say so once per change of state or answer. */
void health_refused(struct list_health *h, const uint8_t code[4])
{
	bool said =
		!(h->checked && h->healthy) && h->refused && memcmp(h->refused_code, code, 4) == 0;

	h->counters.refusals++;
	if (h->off) {
		/* No check would enable it again; a refusal never counts as a listing anyway. */
		if (h->refused && memcmp(h->refused_code, code, 4) == 0)
			return;
		h->refused = true;
		memcpy(h->refused_code, code, 4);
		log_error("[%s %s]: answered %u.%u.%u.%u: %s; health = off: it stays enabled",
			  list_kind_name(h->kind), h->name, code[0], code[1], code[2], code[3],
			  refusal_meaning(h->kind, code));
		return;
	}
	h->checked = true;
	h->healthy = false;
	h->refused = true;
	memcpy(h->refused_code, code, 4);
	if (said)
		return;
	log_error("[%s %s]: answered %u.%u.%u.%u: %s; disabled until its health check passes",
		  list_kind_name(h->kind), h->name, code[0], code[1], code[2], code[3],
		  refusal_meaning(h->kind, code));
}

/* health_check_begin - at most one check of a list at a time. */
bool health_check_begin(struct list_health *h)
{
	if (h->check_running)
		return false;
	h->check_running = true;
	return true;
}

void health_check_end(struct list_health *h)
{
	h->check_running = false;
}

/* v6_note - for the "list enabled" line: ipv6 = yes or no (auto has a line of its own). */
static const char *v6_note(const struct list_health *h)
{
	if (!list_is_address(h->kind) || h->ipv6 == LIST_IPV6_AUTO)
		return "";
	return h->ipv6 == LIST_IPV6_YES ? "; IPv6 clients are asked (ipv6 = yes)"
					: "; IPv6 clients are not asked (ipv6 = no)";
}

/* health_judge - passed, wildcard (the unlisted point is listed) or dead (the listed one is not). */
void health_judge(struct list_health *h, bool listed_ok, bool unlisted_ok)
{
	bool was = h->checked && h->healthy;
	const char *kind = list_kind_name(h->kind);

	if (h->off)
		return;
	h->checked = true;
	h->healthy = listed_ok && unlisted_ok;
	h->refused = false;
	if (h->healthy && !was)
		log_info("[%s %s]: health check passed; list enabled%s", kind, h->name, v6_note(h));
	else if (!h->healthy && !unlisted_ok)
		log_error(
			"[%s %s]: the test point that must not be listed IS listed: the list answers everything (wildcard or dead). Disabled until it passes again",
			kind, h->name);
	else if (!h->healthy)
		log_error(
			"[%s %s]: the test point that must be listed is NOT listed: the list is dead or not served. Disabled until it passes again",
			kind, h->name);
}

/* health_judge_v6 - take the IPv6 verdict; say whether IPv6 clients are asked when that changes. */
void health_judge_v6(struct list_health *h, enum health_v6 v6)
{
	bool was = health_asks_v6(h), known = h->v6_known;

	if (v6 == HEALTH_V6_UNKNOWN)
		return;
	h->v6_known = true;
	h->v6_data = v6 == HEALTH_V6_DATA;
	if (known && was == health_asks_v6(h))
		return;
	if (h->v6_data)
		log_info(
			"[%s %s]: IPv6 clients are asked: the list lists RFC 5782's IPv6 test point ::FFFF:7F00:2",
			list_kind_name(h->kind), h->name);
	else
		log_info(
			"[%s %s]: IPv6 clients are not asked: no IPv6 data (the list does not list RFC 5782's IPv6 test point ::FFFF:7F00:2 as it must); IPv4 clients still are",
			list_kind_name(h->kind), h->name);
}

/* health_tripwire_due - at most one tripwire query per list per HEALTH_TRIPWIRE_MS. */
bool health_tripwire_due(const struct list_health *h, uint64_t now)
{
	return !h->off && h->checked && h->healthy && now - h->unlisted_asked >= HEALTH_TRIPWIRE_MS;
}

void health_unlisted_asked(struct list_health *h, uint64_t now)
{
	h->unlisted_asked = now;
}

/* health_tripped - the list went wildcard while answering hits. */
void health_tripped(struct list_health *h)
{
	if (h->off || !(h->checked && h->healthy))
		return;
	h->healthy = false;
	h->refused = false;
	log_error(
		"[%s %s]: the test point that must not be listed IS listed now: the list lists everything (wildcard or dead) and its hits are not counted. Disabled until its health check passes",
		list_kind_name(h->kind), h->name);
}

/* health_unanswered - SERVFAIL, a timeout or only error codes: not a verdict. */
void health_unanswered(struct list_health *h)
{
	log_warn("[%s %s]: health check got no usable answer; %s", list_kind_name(h->kind), h->name,
		 h->healthy ? "keeping it enabled" : "not consulting it yet");
}
