/*
 * test_decision - the pure steps of one request's decision (common/decision.c): skipped
 * and exempt requests, local lists of every type, the allowlist settling it, each DNS
 * list adding once from the keys it reads (an RHSBL naming the attribute that matched),
 * per-code weights, and the log line. Links the common/ modules it uses.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "decision.h"
#include "nameset.h"
#include "request.h"
#include "tap.h"

static struct list_config lists[4];
static struct codes zen_codes, dbl_codes; /* the DNS lists' answer filters */
static struct exempt exempt[2] = {
	{ .text = "postmaster@", .len = 11, .local_part = true },
	{ .text = "abuse@example.org", .len = 17, .local_part = false },
};
static struct rules rules = {
	.threshold = 2,
	.allowlist_threshold = -1,
	.contact = "help@example.org",
	.contact_len = 16,
	.exempt = exempt,
	.exempt_count = 2,
	.skip_authenticated = true,
	.lists = lists,
	.list_count = 4,
	/* As the loader sets them by default: every list checks unauthenticated clients. */
	.client_lists = { 0xf, 0 },
	.dns_lists = 0xc, /* zen.test and dbl.test */
};
static struct request req;
static char text[4096];

static void ignore(void *ctx, unsigned line, const char *message)
{
	(void)ctx, (void)line, (void)message;
}

/* request - client address, sender, helo, recipient, and optionally sasl_username. */
static void request(const char *addr, const char *sender, const char *helo, const char *rcpt,
		    const char *sasl)
{
	int n = snprintf(text, sizeof(text),
			 "queue_id=ABC123\nclient_address=%s\nclient_name=unknown\nhelo_name=%s\n"
			 "sender=%s\nrecipient=%s\nsasl_username=%s\n\n",
			 addr, helo, sender, rcpt, sasl);
	request_parse(&req, text, (size_t)n);
}

static void setup(void)
{
	static const char senders[] = "spammer.example\n";
	static const char friends[] = "192.0.2.200\n";
	const char *err;

	lists[0] = (struct list_config){ .kind = LIST_LOCAL,
					 .type = LOCAL_SENDER_DOMAIN,
					 .name = "senders",
					 .weight = 5,
					 .reason = "our own list" };
	lists[0].names = name_set_load(NAMES_DOMAINS, senders, sizeof(senders) - 1, ignore, NULL);
	lists[1] = (struct list_config){
		.kind = LIST_LOCAL, .type = LOCAL_ADDRESS, .name = "friends", .weight = -10
	};
	lists[1].set = cidr_set_new();
	cidr_set_load_text(lists[1].set, friends, sizeof(friends) - 1, ignore, NULL);
	cidr_set_finish(lists[1].set);
	lists[2] = (struct list_config){
		.kind = LIST_DNSBL, .name = "zen.test", .weight = 1, .codes = &zen_codes
	};
	codes_parse(lists[2].codes, "127.0.0.[2..3]*3, 127.0.0.[10..11]", 34, &err);
	lists[3] = (struct list_config){ .kind = LIST_RHSBL,
					 .name = "dbl.test",
					 .weight = 2,
					 .checks = SOURCE_SENDER | SOURCE_HELO,
					 .codes = &dbl_codes };
	codes_default(lists[3].codes);
}

static void test_kinds(void)
{
	struct decision d;

	request("192.0.2.1", "joe@spammer.example", "vm", "user@mx.test", "alice");
	decision_begin(&d, &rules, &req);
	is_int(d.kind, DECISION_SKIPPED, "an authenticated client is not checked");
	request("not-an-address", "joe@x.test", "vm", "user@mx.test", "");
	decision_begin(&d, &rules, &req);
	is_int(d.kind, DECISION_SKIPPED, "no usable client address: not checked");
	request("192.0.2.1", "joe@spammer.example", "vm", "PostMaster@mx.test", "");
	decision_begin(&d, &rules, &req);
	is_int(d.kind, DECISION_EXEMPT, "postmaster@ any domain, any case: exempt");
	request("192.0.2.1", "joe@spammer.example", "vm", "help@example.org", "");
	decision_begin(&d, &rules, &req);
	is_int(d.kind, DECISION_EXEMPT, "the contact is always exempt");
	request("192.0.2.1", "joe@spammer.example", "vm", "abuse@example.net", "");
	decision_begin(&d, &rules, &req);
	is_int(d.kind, DECISION_CHECKED, "a whole-address exemption is only that address");
	is_int(d.verdict.score, 5, "the sender_domain list hit: score 5");
	is_int(d.tier, TIER_REFUSED, "... refused by the local list alone");
	ok(d.verdict.hits[0].source == SOURCE_SENDER &&
		   d.verdict.hits[0].what_len == strlen("spammer.example"),
	   "the hit names the sender domain");
	request("192.0.2.200", "joe@spammer.example", "vm", "user@mx.test", "");
	decision_begin(&d, &rules, &req);
	is_int(d.tier, TIER_ALLOWLISTED, "the friends list (-10) settles it: allowlisted");
	ok(!decision_wants_dns(&d, &rules), "... and no DNS list is asked");
	request("192.0.2.1", "joe@spammer.example", "vm", "user@mx.test", "");
	decision_begin(&d, &rules, &req);
	rules.dns_floor = 0;
	ok(!decision_wants_dns(&d, &rules),
	   "refused by a local list, and no DNS allowlist could undo it: DNS is not asked");
	rules.dns_floor = -4;
	ok(decision_wants_dns(&d, &rules),
	   "refused by a local list, but DNS allowlists could take 4 off the score 5: DNS is asked");
	rules.dns_floor = 0;
}

static void test_dns_hits(void)
{
	static const uint8_t seed[16] = "decision-test!!!";
	struct reasons *t = reasons_new(seed);
	uint64_t usable = (UINT64_C(1) << 2) | (UINT64_C(1) << 3); /* lists 2 and 3 */
	struct result *results[KEYS_MAX] = { NULL };
	struct decision d;
	char line[1024];

	request("192.0.2.1", "joe@clean.example", "Bad.Example", "user@mx.test", "");
	decision_begin(&d, &rules, &req);
	is_int(decision_sources(&rules, usable), SOURCE_SENDER | SOURCE_HELO,
	       "the RHSBL's sources");
	keys_derive(&req, &d.client, decision_sources(&rules, usable), &d.keys);
	is_int(d.keys.count, 3, "keys: the address, clean.example, bad.example");
	/* The address: zen answered .2 and .10: two patterns, 3 + 1. */
	struct list_answer addr_answers[4] = {
		{ .outcome = OUTCOME_NOT_APPLICABLE },
		{ .outcome = OUTCOME_NOT_APPLICABLE },
		{ .outcome = OUTCOME_LISTED,
		  .code = { 127, 0, 0, 2 },
		  .mask = 3,
		  .ttl = 60,
		  .txt = "zen says 192.0.2.1",
		  .txt_len = 18 },
		{ .outcome = OUTCOME_NOT_APPLICABLE },
	};
	struct list_answer clean_answers[4] = {
		{ 0 }, { 0 }, { 0 }, { .outcome = OUTCOME_NOT_LISTED }
	};
	struct list_answer bad_answers[4] = {
		{ 0 },
		{ 0 },
		{ 0 },
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 1, 2 }, .mask = 1, .ttl = 60 },
	};
	results[0] = result_build(t, &d.keys.key[0], addr_answers, 4);
	results[1] = result_build(t, &d.keys.key[1], clean_answers, 4);
	results[2] = result_build(t, &d.keys.key[2], bad_answers, 4);
	decision_add(&d, &rules, results);
	is_int(d.verdict.hit_count, 2, "two DNS lists hit, each once");
	is_int(d.verdict.hits[0].weight, 4,
	       "zen: .2 matches [2..3]*3, .10 the unweighted pattern: 3 + 1");
	ok(d.verdict.hits[1].source == SOURCE_HELO && d.verdict.hits[1].what_len == 11 &&
		   memcmp(d.verdict.hits[1].what, "bad.example", 11) == 0,
	   "the RHSBL hit names the helo, whose domain was listed");
	is_int(d.verdict.score, 6, "score 4 + 2");
	is_int(d.tier, TIER_REFUSED, "refused");
	char joined[128];
	size_t n = reason_join(&d.verdict.hits[0].reason, joined, sizeof(joined));
	ok(n == 18 && memcmp(joined, "zen says 192.0.2.1", 18) == 0,
	   "the cached reason reads with the client's address put back");
	decision_describe(&d, &req, "reject", true, NULL, line, sizeof(line));
	is_str(line,
	       "ABC123: reject: client=unknown[192.0.2.1] helo=<Bad.Example> from=<joe@clean.example> "
	       "to=<user@mx.test> lists=zen.test(127.0.0.2),dbl.test(127.0.1.2)[bad.example] score=6 "
	       "cached=yes reason=\"zen says 192.0.2.1\"",
	       "the log line");
	for (int i = 0; i < 3; i++)
		result_unref(results[i]);
	reasons_free(t);
}

/*
 * dns_decision - the request (sasl: its login, "" none) decided under r, zen (list 2)
 * answering 127.0.0.2 (weight 3) for the address and dbl (list 3) 127.0.1.2 (weight
 * 2) for the helo bad.example.
 */
static void dns_decision(struct decision *d, const struct rules *r, const char *sasl)
{
	static const uint8_t seed[16] = "decision-test!!!";
	struct reasons *t = reasons_new(seed);
	struct result *results[KEYS_MAX] = { NULL };
	struct list_answer addr_answers[4] = {
		{ 0 },
		{ 0 },
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 0, 2 }, .mask = 1 },
		{ 0 }
	};
	struct list_answer bad_answers[4] = {
		{ 0 },
		{ 0 },
		{ 0 },
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 1, 2 }, .mask = 1 }
	};
	struct list_answer clean_answers[4] = {
		{ 0 }, { 0 }, { 0 }, { .outcome = OUTCOME_NOT_LISTED }
	};

	request("192.0.2.1", "joe@clean.example", "bad.example", "user@mx.test", sasl);
	decision_begin(d, r, &req);
	if (d->kind != DECISION_CHECKED) {
		reasons_free(t);
		return;
	}
	keys_derive(&req, &d->client, SOURCE_SENDER | SOURCE_HELO, &d->keys);
	results[0] = result_build(t, &d->keys.key[0], addr_answers, 4);
	results[1] = result_build(t, &d->keys.key[1], clean_answers, 4);
	results[2] = result_build(t, &d->keys.key[2], bad_answers, 4);
	decision_add(d, r, results);
	for (int i = 0; i < 3; i++)
		result_unref(results[i]);
	reasons_free(t);
}

/* test_observe - an observed list is recorded and logged, never scored; which hits decide. */
static void test_observe(void)
{
	struct list_config mine[4];
	struct rules r = rules;
	struct decision d;
	char line[1024];

	memcpy(mine, lists, sizeof(mine));
	r.lists = mine;
	dns_decision(&d, &r, "");
	ok(d.tier == TIER_REFUSED && d.verdict.score == 5, "both lists enforced: score 3 + 2");
	is_int((long)decision_sole(&d, &r), 0,
	       "threshold 2: each list alone would have refused, so neither decided it");
	is_int(d.observed_count, 0, "no list observed");

	mine[3].observe = true;
	dns_decision(&d, &r, "");
	is_int(d.verdict.hit_count, 1, "dbl observed: only zen's hit is in the verdict");
	is_int(d.verdict.score, 3, "... and only zen scores");
	ok(d.observed_count == 1 && d.observed[0].list == &mine[3] &&
		   memcmp(d.observed[0].code, "\177\0\1\2", 4) == 0,
	   "the observed listing is kept with its answer");
	is_int((long)decision_sole(&d, &r), (long)(UINT64_C(1) << 2),
	       "the observed list never helps decide: zen alone made the refusal");
	decision_describe(&d, &req, "reject", true, NULL, line, sizeof(line));
	ok(strstr(line, " lists=zen.test(127.0.0.2) observed=dbl.test(127.0.1.2) score=3 ") != NULL,
	   "the log line: observed= after lists=, not in lists=");

	mine[2].observe = true;
	dns_decision(&d, &r, "");
	ok(d.verdict.hit_count == 0 && d.verdict.score == 0 && d.tier == TIER_PASS,
	   "both observed: nothing scored, a pass");
	is_int(d.observed_count, 2, "... both listings observed");
	decision_describe(&d, &req, "pass", true, NULL, line, sizeof(line));
	ok(strstr(line, " lists=- observed=zen.test(127.0.0.2),dbl.test(127.0.1.2) score=0 ") !=
		   NULL,
	   "the log line names both");
}

/* test_hashbl - a hashed list reads the sender address key; its hit names the address. */
static void test_hashbl(void)
{
	static const uint8_t seed[16] = "decision-test!!!";
	static struct codes hbl_codes;
	struct reasons *t = reasons_new(seed);
	struct list_config mine[5];
	struct rules r = rules;
	struct result *results[KEYS_MAX] = { NULL };
	struct decision d;
	char line[1024];
	uint64_t usable = (UINT64_C(1) << 2) | (UINT64_C(1) << 3) | (UINT64_C(1) << 4);

	memcpy(mine, lists, sizeof(lists));
	mine[4] = (struct list_config){ .kind = LIST_HASHBL,
					.name = "hbl.test",
					.weight = 2,
					.checks = SOURCE_SENDER_ADDRESS,
					.hash = DIGEST_SHA1,
					.codes = &hbl_codes };
	codes_default(mine[4].codes);
	r.lists = mine;
	r.list_count = 5;
	r.dns_lists |= UINT64_C(1) << 4;
	r.client_lists[0] |= UINT64_C(1) << 4;
	request("192.0.2.1", "Spam@Example.ORG", "vm", "user@mx.test", "");
	decision_begin(&d, &r, &req);
	is_int(decision_sources(&r, usable), SOURCE_SENDER | SOURCE_HELO | SOURCE_SENDER_ADDRESS,
	       "the hashed list adds the sender address to the sources");
	keys_derive(&req, &d.client, decision_sources(&r, usable), &d.keys);
	is_int(d.keys.count, 3, "keys: the address, example.org, the sender address");
	ok(!decision_key_applies(&d, &mine[4], 0) && !decision_key_applies(&d, &mine[4], 1) &&
		   decision_key_applies(&d, &mine[4], 2),
	   "the hashed list reads the sender address key only");
	ok(!decision_key_applies(&d, &mine[3], 2) && !decision_key_applies(&d, &mine[2], 2),
	   "the RHSBL and the DNSBL do not read it");
	struct list_answer none[5] = { { 0 }, { 0 }, { 0 }, { 0 }, { 0 } };
	struct list_answer listed[5] = {
		{ 0 },
		{ 0 },
		{ 0 },
		{ 0 },
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 3, 2 }, .mask = 1, .ttl = 60 },
	};
	results[0] = result_build(t, &d.keys.key[0], none, 5);
	results[1] = result_build(t, &d.keys.key[1], none, 5);
	results[2] = result_build(t, &d.keys.key[2], listed, 5);
	decision_add(&d, &r, results);
	ok(d.verdict.hit_count == 1 && d.verdict.hits[0].list == &mine[4] &&
		   d.verdict.hits[0].source == SOURCE_SENDER_ADDRESS,
	   "one hit, the hashed list's, on the sender address");
	ok(d.verdict.hits[0].what_len == 16 &&
		   memcmp(d.verdict.hits[0].what, "spam@example.org", 16) == 0,
	   "the hit names the address, lowercased");
	is_int(d.tier, TIER_REFUSED, "weight 2: refused");
	decision_describe(&d, &req, "reject", true, NULL, line, sizeof(line));
	ok(strstr(line, " lists=hbl.test(127.0.3.2)[spam@example.org] ") != NULL,
	   "the log line names the address: %s", line);
	for (int i = 0; i < 3; i++)
		result_unref(results[i]);
	reasons_free(t);
}

/* test_sole - the lists whose weight alone made the refusal. */
static void test_sole(void)
{
	struct list_config mine[4];
	struct rules r = rules;
	struct decision d;

	memcpy(mine, lists, sizeof(mine));
	r.lists = mine;
	r.threshold = 4;
	dns_decision(&d, &r, "");
	is_int((long)decision_sole(&d, &r), (long)((UINT64_C(1) << 2) | (UINT64_C(1) << 3)),
	       "threshold 4, score 3 + 2: without either the score falls below: both decided it");
	r.threshold = 3;
	dns_decision(&d, &r, "");
	is_int((long)decision_sole(&d, &r), (long)(UINT64_C(1) << 2),
	       "threshold 3: without zen 2 (a pass), without dbl 3 (still refused): zen alone");
	r.threshold = 6;
	dns_decision(&d, &r, "");
	is_int((long)decision_sole(&d, &r), 0, "threshold 6: a pass, no refusal to decide");
	r.soft_threshold = 4;
	dns_decision(&d, &r, "");
	ok(d.tier == TIER_SOFT &&
		   decision_sole(&d, &r) == ((UINT64_C(1) << 2) | (UINT64_C(1) << 3)),
	   "soft_threshold 4, score 5: a soft refusal that either list alone made");
}

/* test_clients - a list checks the requests its `clients` take. */
static void test_clients(void)
{
	struct rules r = rules;
	struct decision d;

	/* zen (list 2) an AuthBL: authenticated only; the rest unauthenticated. */
	r.client_lists[0] = 0xf & ~(UINT64_C(1) << 2);
	r.client_lists[1] = UINT64_C(1) << 2;
	dns_decision(&d, &r, "alice");
	is_int(d.kind, DECISION_CHECKED, "an authenticated client is checked when a list takes it");
	ok(d.verdict.hit_count == 1 && d.verdict.hits[0].list == &lists[2] && d.verdict.score == 3,
	   "... by the AuthBL only: dbl's listing of its helo does not count");
	is_int(d.tier, TIER_REFUSED, "... which refuses it");
	dns_decision(&d, &r, "");
	ok(d.verdict.hit_count == 1 && d.verdict.hits[0].list == &lists[3] && d.verdict.score == 2,
	   "an unauthenticated client: dbl counts, the AuthBL does not");

	request("192.0.2.1", "joe@spammer.example", "vm", "user@mx.test", "alice");
	decision_begin(&d, &r, &req);
	ok(d.kind == DECISION_CHECKED && d.verdict.hit_count == 0,
	   "the local list of senders (unauthenticated) does not see an authenticated client");
	r.client_lists[1] |= 1; /* the senders list: clients = all */
	decision_begin(&d, &r, &req);
	ok(d.verdict.score == 5 && d.tier == TIER_REFUSED, "... with clients = all it does");
	request("192.0.2.1", "joe@spammer.example", "vm", "postmaster@mx.test", "alice");
	decision_begin(&d, &r, &req);
	is_int(d.kind, DECISION_EXEMPT,
	       "an exempt recipient stays exempt for authenticated clients");
	request("192.0.2.200", "joe@spammer.example", "vm", "user@mx.test", "alice");
	r.client_lists[1] |= 2; /* friends: all */
	decision_begin(&d, &r, &req);
	ok(d.tier == TIER_ALLOWLISTED && !decision_wants_dns(&d, &r),
	   "a local allowlist that takes authenticated clients settles it");
	r.client_lists[1] = 0;
	request("192.0.2.1", "joe@spammer.example", "vm", "user@mx.test", "alice");
	decision_begin(&d, &r, &req);
	is_int(d.kind, DECISION_SKIPPED, "no list takes authenticated clients: skipped");
}

/* kind_for - the kind of decision for a request from a listed sender to rcpt, under r. */
static enum decision_kind kind_for(const struct rules *r, const char *rcpt)
{
	struct decision d;

	request("192.0.2.1", "joe@spammer.example", "vm", rcpt, "");
	decision_begin(&d, r, &req);
	return d.kind;
}

/* test_extensions - exemptions and recipient lists see through user+ext@domain. */
static void test_extensions(void)
{
	static const char traps[] = "trap@example.org\n";
	struct list_config trap_list = {
		.kind = LIST_LOCAL, .type = LOCAL_RECIPIENT, .name = "traps", .weight = 5
	};
	struct rules r = rules;
	struct decision d;

	memcpy(r.recipient_delimiter, "+", 2);
	is_int(kind_for(&r, "postmaster+urgent@mx.test"), DECISION_EXEMPT,
	       "postmaster+urgent@: exempt as postmaster@");
	is_int(kind_for(&r, "HELP+x@Example.ORG"), DECISION_EXEMPT,
	       "the contact with an extension, in any case: exempt");
	is_int(kind_for(&r, "abuse+x@example.org"), DECISION_EXEMPT,
	       "a whole-address exemption with an extension: exempt");
	is_int(kind_for(&r, "abuse+x@example.net"), DECISION_CHECKED,
	       "... but only in its own domain");
	is_int(kind_for(&r, "\"postmaster+x\"@mx.test"), DECISION_EXEMPT,
	       "a quoted local part: exempt as Postfix's unquoted form");
	is_int(kind_for(&r, "+postmaster@mx.test"), DECISION_CHECKED,
	       "a local part that starts with the delimiter is not postmaster");
	is_int(kind_for(&r, "postmaster"), DECISION_EXEMPT, "RCPT TO:<postmaster>: exempt");
	memcpy(r.recipient_delimiter, "", 1);
	is_int(kind_for(&r, "postmaster+urgent@mx.test"), DECISION_CHECKED,
	       "recipient_delimiter empty: no extensions");

	memcpy(r.recipient_delimiter, "+-", 3);
	trap_list.names = name_set_load(NAMES_RECIPIENTS, traps, sizeof(traps) - 1, ignore, NULL);
	r.lists = &trap_list;
	r.list_count = 1;
	request("192.0.2.1", "joe@clean.example", "vm", "Trap-x@example.org", "");
	decision_begin(&d, &r, &req);
	ok(d.kind == DECISION_CHECKED && d.verdict.score == 5 && d.tier == TIER_REFUSED,
	   "a recipient list entry trap@ refuses trap-x@ when '-' is a delimiter");
	name_set_free(trap_list.names);
}

int main(void)
{
	setup();
	test_kinds();
	test_dns_hits();
	test_observe();
	test_sole();
	test_clients();
	test_extensions();
	test_hashbl();
	name_set_free(lists[0].names);
	cidr_set_free(lists[1].set);
	return tap_done();
}
