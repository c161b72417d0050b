/*
 * test_result - packed per-key results and the reasons table (common/result.c): what
 * goes in comes out per list; the key's own text is cut out of a TXT and stored once
 * for every address; patterns are freed with the last result; the table grows instead
 * of chaining without bound. Links result.c, keys.c, domain.c, addr.c, request.c,
 * siphash.c.
 */
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "result.h"
#include "tap.h"

static const uint8_t seed[16] = "test-result-seed";

/* joined - the reason of an answer with the key's text put back. */
static const char *joined(struct answer *a, const struct key *k)
{
	static char buf[1024];
	char text[DOMAIN_SIZE];
	size_t n;

	if (a->key_text) {
		a->reason.middle = text;
		a->reason.middle_len = key_text(k, text, sizeof(text));
	}
	n = reason_join(&a->reason, buf, sizeof(buf) - 1);
	buf[n] = '\0';
	return buf;
}

static void test_round_trip(void)
{
	struct reasons *t = reasons_new(seed);
	struct key k;
	struct addr a;
	struct answer out;
	static const char txt[] = "Listed: see http://bl.test/lookup?192.0.2.10 now";
	struct list_answer in[3] = {
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 0, 3 }, .mask = 5, .ttl = 77,
		  .txt = txt, .txt_len = sizeof(txt) - 1 },
		{ .outcome = OUTCOME_FAILED },
		{ .outcome = OUTCOME_LISTED, .code = { 127, 0, 0, 2 }, .mask = 1, .ttl = 3600 },
	};

	addr_parse(&a, "192.0.2.10", 10);
	key_for_address(&k, &a);
	struct result *r = result_build(t, &k, in, 3);
	ok(r != NULL, "a result with two listed lists");
	result_get(r, 0, &out);
	ok(out.outcome == OUTCOME_LISTED && out.code[3] == 3 && out.mask == 5 && out.ttl == 77,
	   "list 0: listed, code, mask, TTL");
	ok(out.key_text, "list 0: the address was cut out of the TXT");
	is_str(joined(&out, &k), txt, "list 0: the reason reads as the TXT did");
	is_int(result_outcome(r, 1), OUTCOME_FAILED, "list 1: failed");
	result_get(r, 2, &out);
	ok(out.outcome == OUTCOME_LISTED && out.ttl == 3600 && reason_len(&out.reason) == 0,
	   "list 2: listed without a TXT");
	is_int(result_outcome(r, 7), OUTCOME_NOT_APPLICABLE, "a list beyond the result: not applicable");
	is_int(reasons_count(t), 1, "one pattern stored");

	/* Another address of the same list, same wording: the same pattern. */
	static const char txt2[] = "Listed: see http://bl.test/lookup?192.0.2.11 now";
	struct key k2;
	addr_parse(&a, "192.0.2.11", 10);
	key_for_address(&k2, &a);
	in[0].txt = txt2;
	in[0].txt_len = sizeof(txt2) - 1;
	struct result *r2 = result_build(t, &k2, in, 3);
	is_int(reasons_count(t), 1, "a second address with the same wording shares the pattern");
	result_get(r2, 0, &out);
	is_str(joined(&out, &k2), txt2, "... and reads back with its own address");
	result_unref(r);
	is_int(reasons_count(t), 1, "the pattern stays while a result uses it");
	result_unref(r2);
	is_int(reasons_count(t), 0, "the last result frees the pattern");

	struct list_answer clean[2] = { { .outcome = OUTCOME_NOT_LISTED },
					{ .outcome = OUTCOME_NOT_APPLICABLE } };
	struct result *c1 = result_build(t, &k, clean, 2), *c2 = result_build(t, &k2, clean, 2);
	ok(c1 == c2, "not listed anywhere: one shared static result");
	is_int(result_outcome(c1, 0), OUTCOME_NOT_LISTED, "... which says not listed");
	result_unref(c1);
	result_unref(c2);
	reasons_free(t);
}

static void test_growth(void)
{
	struct reasons *t = reasons_new(seed);
	static struct result *held[5000];
	struct key k;
	char txt[64];

	key_for_domain(&k, "example.com", 11);
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(txt, sizeof(txt), "ticket %d", i);
		struct list_answer in = { .outcome = OUTCOME_LISTED, .mask = 1, .txt = txt,
					  .txt_len = (size_t)n };
		held[i] = result_build(t, &k, &in, 1);
	}
	is_int(reasons_count(t), 5000, "5000 distinct reasons stored");
	ok(reasons_buckets(t) >= 2500, "the table grew with them (%zu buckets)", reasons_buckets(t));
	for (int i = 0; i < 5000; i++)
		result_unref(held[i]);
	is_int(reasons_count(t), 0, "all freed with their results");
	reasons_free(t);
}

int main(void)
{
	test_round_trip();
	test_growth();
	return tap_done();
}
