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
	.threshold = 2, .allowlist_threshold = -1, .contact = "help@example.org",
	.exempt = exempt, .exempt_count = 2, .skip_authenticated = true,
	.lists = lists, .list_count = 4,
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

	lists[0] = (struct list_config){ .kind = LIST_LOCAL, .type = LOCAL_SENDER_DOMAIN,
					 .name = "senders", .weight = 5, .reason = "our own list" };
	lists[0].names = name_set_load(NAMES_DOMAINS, senders, sizeof(senders) - 1, ignore, NULL);
	lists[1] = (struct list_config){ .kind = LIST_LOCAL, .type = LOCAL_ADDRESS,
					 .name = "friends", .weight = -10 };
	lists[1].set = cidr_set_new();
	cidr_set_load_text(lists[1].set, friends, sizeof(friends) - 1, ignore, NULL);
	cidr_set_finish(lists[1].set);
	lists[2] = (struct list_config){ .kind = LIST_DNSBL, .name = "zen.test", .weight = 1,
					 .codes = &zen_codes };
	codes_parse(lists[2].codes, "127.0.0.[2..3]*3, 127.0.0.[10..11]", 34, &err);
	lists[3] = (struct list_config){ .kind = LIST_RHSBL, .name = "dbl.test", .weight = 2,
					 .checks = SOURCE_SENDER | SOURCE_HELO, .codes = &dbl_codes };
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
	is_int(decision_sources(&rules, usable), SOURCE_SENDER | SOURCE_HELO, "the RHSBL's sources");
	keys_derive(&req, &d.client, decision_sources(&rules, usable), &d.keys);
	is_int(d.keys.count, 3, "keys: the address, clean.example, bad.example");
	/* The address: zen answered .2 and .10: two patterns, 3 + 1. */
	struct list_answer addr_answers[4] = {
		{ .outcome = OUTCOME_NOT_APPLICABLE }, { .outcome = OUTCOME_NOT_APPLICABLE },
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 0, 2 }, .mask = 3, .ttl = 60,
		  .txt = "zen says 192.0.2.1", .txt_len = 18 },
		{ .outcome = OUTCOME_NOT_APPLICABLE },
	};
	struct list_answer clean_answers[4] = { { 0 }, { 0 }, { 0 }, { .outcome = OUTCOME_NOT_LISTED } };
	struct list_answer bad_answers[4] = {
		{ 0 }, { 0 }, { 0 },
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 1, 2 }, .mask = 1, .ttl = 60 },
	};
	results[0] = result_build(t, &d.keys.key[0], addr_answers, 4);
	results[1] = result_build(t, &d.keys.key[1], clean_answers, 4);
	results[2] = result_build(t, &d.keys.key[2], bad_answers, 4);
	decision_add(&d, &rules, results);
	is_int(d.verdict.hit_count, 2, "two DNS lists hit, each once");
	is_int(d.verdict.hits[0].weight, 4, "zen: .2 matches [2..3]*3, .10 the unweighted pattern: 3 + 1");
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
	struct list_config trap_list = { .kind = LIST_LOCAL, .type = LOCAL_RECIPIENT,
					 .name = "traps", .weight = 5 };
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
	test_extensions();
	name_set_free(lists[0].names);
	cidr_set_free(lists[1].set);
	return tap_done();
}
