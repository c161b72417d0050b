/*
 * test_greylist - the pure half of greylisting (common/greylist.c): the sender's
 * normalisation (postgrey's cases: BATV either way round, VERP numbers, address
 * extensions; SRS0 and SRS1), the triplet's network and key, and the rules a store
 * applies, walked through a triplet's life and a network's count. Links greylist,
 * digest and addr.
 */
#include <string.h>

#include "greylist.h"
#include "tap.h"

static const char *sender(const char *s)
{
	static char out[GREYLIST_ADDRESS_MAX];

	greylist_sender(s, strlen(s), out);
	return out;
}

static void test_sender(void)
{
	is_str(sender("Alice@Example.ORG"), "alice@example.org", "lower case");
	is_str(sender(""), "", "the null sender stays empty");
	is_str(sender("prvs=0123456789=bob@example.org"), "bob@example.org", "BATV prvs=tag=user");
	is_str(sender("prvs=bob=0123456789@example.org"), "bob@example.org", "BATV prvs=user=tag");
	is_str(sender("prvs=bob@example.org"), "prvs=bob@example.org", "prvs= without a tag stays");
	is_str(sender("list-bounces+123-alice=example.net@lists.example.org"),
	       "list-bounces@lists.example.org", "an extension goes");
	is_str(sender("bounce-1234-5678@lists.example.org"), "bounce-#-#@lists.example.org",
	       "numeric VERP parts become #");
	is_str(sender("user2000@example.org"), "user2000@example.org", "digits inside a word stay");
	is_str(sender("SRS0=HHH=TT=orig.example=user@forwarder.example"), "user@orig.example",
	       "SRS0 names the original sender");
	is_str(sender("SRS1=HHH=fwd1.example==HHH=TT=orig.example=user@fwd2.example"),
	       "user@orig.example", "SRS1 names the original sender");
	is_str(sender("SRS0=HHH=TT=orig.example=prvs=0123456789=user@forwarder.example"),
	       "user@orig.example", "the original sender is stripped too");
	is_str(sender("srs0=broken@example.org"), "srs0=broken@example.org",
	       "a malformed SRS address stays");
	char longer[600];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	is_int(strlen(sender(longer)), GREYLIST_ADDRESS_MAX - 1, "a long sender is cut");
}

static const struct greylist_rules rules = {
	.delay_s = 300,
	.max_wait_s = 2 * 86400,
	.pass_ttl_s = 35 * 86400,
	.auto_allow = 2,
	.network_v4 = 24,
	.network_v6 = 64,
};

static void test_key(void)
{
	struct addr a, b, c;
	struct greylist_key k1, k2, k3;

	addr_parse(&a, "192.0.2.10", 10);
	addr_parse(&b, "192.0.2.200", 11);
	addr_parse(&c, "2001:db8:1:2:3::4", 17);
	ok(greylist_make_key(&rules, &a, "Bob@Example.org", 15, "rcpt@example.net", 16, &k1),
	   "a key");
	is_str(k1.network, "192.0.2.0/24", "the IPv4 network");
	ok(greylist_make_key(&rules, &b, "bob@example.org", 15, "RCPT@example.net", 16, &k2),
	   "a key from the same network");
	ok(memcmp(k1.triplet, k2.triplet, sizeof(k1.triplet)) == 0,
	   "same network, sender and recipient (case aside): the same triplet");
	greylist_make_key(&rules, &b, "bob@example.org", 15, "other@example.net", 17, &k2);
	ok(memcmp(k1.triplet, k2.triplet, sizeof(k1.triplet)) != 0,
	   "another recipient: another triplet");
	ok(greylist_make_key(&rules, &c, "", 0, "rcpt@example.net", 16, &k3), "IPv6, null sender");
	is_str(k3.network, "2001:db8:1:2::/64", "the IPv6 network");
	ok(!greylist_make_key(&rules, &a, "bob@example.org", 15, "", 0, &k3),
	   "no recipient: no key");
}

static void test_triplet(void)
{
	uint32_t t0 = 1800000000u;
	struct greylist_step s = greylist_triplet_step(&rules, 0, t0);

	is_int(s.answer, GREYLIST_NEW, "a new triplet is deferred");
	is_int(s.retry_s, 300, "... retry after the delay");
	ok(s.keep && s.value == t0 && s.expires == t0 + 2 * 86400, "... kept until max_wait");
	s = greylist_triplet_step(&rules, t0, t0 + 100);
	is_int(s.answer, GREYLIST_EARLY, "a retry before the delay is deferred");
	is_int(s.retry_s, 200, "... with the time left");
	ok(!s.keep, "... and the first sighting stands");
	s = greylist_triplet_step(&rules, t0, t0 + 300);
	is_int(s.answer, GREYLIST_EARLY,
	       "300 s on a clock of whole seconds may be less: not yet (it passes after more)");
	s = greylist_triplet_step(&rules, t0, t0 + 301);
	is_int(s.answer, GREYLIST_RETRIED, "a retry after the delay passes");
	ok(s.keep && s.value == GREYLIST_PASSED && s.expires == t0 + 301 + 35 * 86400,
	   "... and is remembered for pass_ttl");
	s = greylist_triplet_step(&rules, GREYLIST_PASSED, t0 + 86400);
	is_int(s.answer, GREYLIST_KNOWN, "a triplet that passed passes again");
	ok(s.expires == t0 + 86400 + 35 * 86400, "... and is kept alive");
	s = greylist_triplet_step(&rules, t0 + 1000, t0);
	is_int(s.answer, GREYLIST_NEW, "first seen in the future (a clock set back): new");
	ok(greylist_defers(GREYLIST_NEW) && greylist_defers(GREYLIST_EARLY) &&
		   !greylist_defers(GREYLIST_RETRIED) && !greylist_defers(GREYLIST_UNAVAILABLE),
	   "only new and early defer");
}

static void test_network(void)
{
	uint32_t t0 = 1800000000u;
	struct greylist_step s;
	uint32_t v = 0;

	ok(!greylist_network_allowed(&rules, 0), "an unknown network is not allowed");
	s = greylist_network_step(&rules, v, GREYLIST_NEW, t0);
	ok(!s.keep, "a deferral does not count");
	s = greylist_network_step(&rules, v, GREYLIST_RETRIED, t0);
	ok(s.keep && !greylist_network_allowed(&rules, s.value), "one proven retry counts");
	v = s.value;
	s = greylist_network_step(&rules, v, GREYLIST_RETRIED, t0 + 60);
	ok(s.value == v, "a second in the same hour does not");
	s = greylist_network_step(&rules, v, GREYLIST_RETRIED, t0 + 3600);
	ok(greylist_network_allowed(&rules, s.value), "the next hour's makes auto_allow (2)");
	v = s.value;
	s = greylist_network_step(&rules, v, GREYLIST_ALLOWED, t0 + 86400);
	ok(s.keep && s.value == v && s.expires == t0 + 86400 + 35 * 86400,
	   "an allowed network's pass keeps it alive");
	struct greylist_rules never = rules;
	never.auto_allow = 0;
	s = greylist_network_step(&never, 0, GREYLIST_RETRIED, t0);
	ok(!s.keep && !greylist_network_allowed(&never, 0xffffffffu), "auto_allow = 0: never");
	is_str(greylist_answer_name(GREYLIST_ALLOWED), "allowed", "answer names");
}

int main(void)
{
	test_sender();
	test_key();
	test_triplet();
	test_network();
	return tap_done();
}
