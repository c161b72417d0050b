/*
 * fuzz_dns_answer - what policyd does with DNS answers, through the daemon's own
 * functions: A records taken by codes_take (what keyjob.c calls), packed with TXT
 * bytes into a cached result (result_build, with the reasons table that cuts the
 * key's own text out of a TXT), read back into a decision (decision_add) and
 * rendered into the reply (reply_render) with a loaded configuration; and the raw
 * reply packet run through resolver.c's own parse_a / parse_txt (udns's
 * dns_parse_a4 / dns_parse_txt plus resolver.c's checks) and deliver(), reached
 * the way udns's receive path reaches them.
 *
 * Input: byte 0 chooses the configuration (reject, defer, warn, prepend, each
 * with its own template), the request (a Postfix fixture or one with long,
 * dirty attributes) and how many lists hit; the rest is read three ways: as
 * 4-byte A answers, as TXT bytes (the reason), and as a DNS reply packet.
 *
 * Invariants: the classification of policyd.ini(5) (127/8 only, 127.255.255/24
 * refused); the filters match what they say; a reply is "action=" + one line of
 * printable ASCII + "\n\n", never empty nor digits only, and its text after the
 * action prefix is at most 400 bytes; the log line is one line; every result and
 * every interned reason is freed again; a udns result keeps its strings inside
 * its own block (udns is not instrumented: see inside_block), and every callback
 * is called once.
 */
#include "fuzz.h"

#include <malloc.h>
#include <stdbool.h>
#include <string.h>
#include <udns.h>

#include "codes.h"
#include "config.h"
#include "decision.h"
#include "reply.h"
#include "request.h"
#include "result.h"

/*
 * The unit under test, statics included: parse_a, parse_txt, map_status and
 * deliver are what the daemon runs on every reply. Its other functions (libuv
 * and udns sockets) are compiled but never called here.
 */
#include "resolver.c"


/* One configuration per action; each has three DNS lists whose codes differ. */
static const char *const config_texts[] = {
	"[server]\nlisten = inet:127.0.0.1:10040\n"
	"[policy]\naction = reject\n"
	"help_url = https://www.example.org/blacklisted.html?ip=$client_address\n"
	"contact = postmaster@example.org\n"
	"[dnsbl x.test]\ncodes = 127.0.0.[2..11]\nweight = 2\n"
	"[dnsbl y.test]\nweight = 1\nhelp_url = https://y.test/lookup?$client_address\n"
	"[rhsbl z.test]\ncodes = 127.0.1.[2..99]\ncheck = sender, helo\n",

	"[server]\nlisten = inet:127.0.0.1:10040\n"
	"[policy]\naction = defer\n"
	"text = ${rbl_reason:no reason} ($rbl_code, score $score, lists $rbl_domains) "
	"helo=$helo_name from=<$sender> see $help_url or $contact\n"
	"help_url = https://www.example.org/h?ip=$client_address&helo=$helo_name\n"
	"contact = postmaster@example.org\n"
	"[dnsbl x.test]\ncodes = 127.0.0.2, 127.0.0.4\nweight = 2\n"
	"[dnsbl y.test]\ncodes = 127.0.[0..255].[1..3]\n"
	"[rhsbl z.test]\ncodes = 127.0.0.[2;4;6..8]\n",

	"[server]\nlisten = inet:127.0.0.1:10040\n"
	"[policy]\naction = warn\ntext = $rbl_reason\n"
	"[dnsbl x.test]\ncodes = 127.0.0.[2..3]*3, 127.0.0.[10..11]*1\n[dnsbl y.test]\n"
	"[rhsbl z.test]\n",

	"[server]\nlisten = inet:127.0.0.1:10040\n"
	"[policy]\naction = prepend\n"
	"text = $rbl_domain: $rbl_reason$rbl_reason ${sender?from $sender} $client_name\n"
	"[dnsbl x.test]\nweight = 3\n"
	"[dnsbl y.test]\nweight = 5\nhelp_url = https://y.test/${rbl_reason}\n"
	"[rhsbl z.test]\n",
};
static const char *const prefixes[] = {
	"REJECT 5.7.1 ", "DEFER 4.7.1 ", "WARN ", "PREPEND X-DNSBL: ",
};
#define CONFIGS (sizeof(config_texts) / sizeof(config_texts[0]))

static struct config *configs[CONFIGS];
static struct reasons *reasons_table;

/* Two requests: a real one and one whose attributes are long and dirty. */
static const char fixture[] = "request=smtpd_access_policy\n"
			      "protocol_state=RCPT\n"
			      "protocol_name=ESMTP\n"
			      "client_address=192.0.2.10\n"
			      "client_name=unknown\n"
			      "reverse_client_name=unknown\n"
			      "helo_name=vm\n"
			      "sender=root@vm\n"
			      "recipient=root@mx.test\n"
			      "queue_id=\n"
			      "sasl_username=\n"
			      "\n";
static char hostile[12000];
static struct request requests[2];

/* on_config_error - the fixed configurations must load (warnings, such as the resolver's, pass). */
static void on_config_error(void *ctx, const char *message)
{
	(void)ctx;
	if (strstr(message, ": warning: ") != NULL)
		return;
	fprintf(stderr, "fuzz_dns_answer: %s\n", message);
	abort();
}

/* make_hostile - a request with a 4000-byte helo name and a 3000-byte sender, bytes 1..255. */
static size_t make_hostile(void)
{
	size_t n = 0;

	n += (size_t)snprintf(hostile + n, sizeof(hostile) - n, "%s",
			      "request=smtpd_access_policy\n"
			      "client_address=2001:db8::25\n"
			      "helo_name=");
	for (int i = 0; i < 4000; i++)
		hostile[n++] = (char)(i % 255 + 1 == '\n' ? 'x' : i % 255 + 1);
	n += (size_t)snprintf(hostile + n, sizeof(hostile) - n, "\nsender=");
	for (int i = 0; i < 3000; i++)
		hostile[n++] = (char)(i % 3 ? 'a' : 0x7f);
	n += (size_t)snprintf(hostile + n, sizeof(hostile) - n, "\nclient_name=%s\n\n",
			      "very.long.name.of.a.client.example");
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (size_t i = 0; i < CONFIGS; i++) {
		const char *text = config_texts[i];
		configs[i] = config_load_text("fuzz-dns.ini", text, strlen(text), on_config_error,
					      NULL);
		FUZZ_CHECK(configs[i] != NULL && configs[i]->rules.list_count == 3);
		FUZZ_CHECK((size_t)configs[i]->rules.action == i);
	}
	reasons_table = reasons_new((const uint8_t *)"fuzz-dns-answer!");
	request_parse(&requests[0], fixture, sizeof(fixture) - 1);
	request_parse(&requests[1], hostile, make_hostile());
	FUZZ_CHECK(requests[1].count == 5);
	return 0;
}

/* check_reply - one clean line after "action=", within the limits of reply.h. */
static void check_reply(const char *out, size_t n, const char *prefix)
{
	size_t plen = strlen(prefix);

	FUZZ_CHECK(n > 9 && n < 1024 && strlen(out) == n);
	FUZZ_CHECK(strncmp(out, "action=", 7) == 0);
	FUZZ_CHECK(out[n - 1] == '\n' && out[n - 2] == '\n');
	for (size_t i = 7; i < n - 2; i++)
		FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f);
	FUZZ_CHECK(strspn(out + 7, "0123456789") < n - 9);
	if (strcmp(out, "action=DUNNO\n\n") == 0)
		return;
	FUZZ_CHECK(strncmp(out + 7, prefix, plen) == 0);
	size_t text = n - 2 - 7 - plen;
	FUZZ_CHECK(text > 0 && text <= REPLY_TEXT_MAX);
}

/* classify_ref - the rule of policyd.ini(5), said plainly. */
static enum codes_answer classify_ref(const uint8_t a[4])
{
	if (a[0] != 127)
		return CODES_ANSWER_OUTSIDE;
	if (a[1] == 255 && a[2] == 255)
		return a[3] == 252 || a[3] == 254 || a[3] == 255 ? CODES_ANSWER_REFUSED
								 : CODES_ANSWER_ERROR;
	return CODES_ANSWER_LISTING;
}

/* refused_ref - a refusal: built in, or dnswl.org's 127.0.0.255 for a dnswl (none has refused_codes). */
static bool refused_ref(const struct list_config *l, const uint8_t a[4])
{
	return classify_ref(a) == CODES_ANSWER_REFUSED ||
	       (l->kind == LIST_DNSWL && a[0] == 127 && a[1] == 0 && a[2] == 0 && a[3] == 255);
}

/* match_ref - the filters of the configurations above, said plainly. */
static bool match_ref(size_t config, size_t list, const uint8_t a[4])
{
	bool is127 = a[0] == 127 && a[1] == 0;

	switch (config * 3 + list) {
	case 0: /* 127.0.0.[2..11] */
		return is127 && a[2] == 0 && a[3] >= 2 && a[3] <= 11;
	case 3: /* 127.0.0.2, 127.0.0.4 */
		return is127 && a[2] == 0 && (a[3] == 2 || a[3] == 4);
	case 4: /* 127.0.[0..255].[1..3] */
		return is127 && a[3] >= 1 && a[3] <= 3;
	case 2: /* 127.0.1.[2..99] */
		return is127 && a[2] == 1 && a[3] >= 2 && a[3] <= 99;
	case 6: /* 127.0.0.[2..3]*3, 127.0.0.[10..11]*1 */
		return is127 && a[2] == 0 && ((a[3] >= 2 && a[3] <= 3) || (a[3] >= 10 && a[3] <= 11));
	case 5: /* 127.0.0.[2;4;6..8] */
		return is127 && a[2] == 0 && (a[3] == 2 || a[3] == 4 || (a[3] >= 6 && a[3] <= 8));
	default: /* 127.0.0.[2..255] */
		return is127 && a[2] == 0 && a[3] >= 2;
	}
}

/*
 * take_answers - codes_take, the daemon's reading of an A answer, checked against
 * the plain rules: a refusal answer makes it refused, else any error answer
 * spoils the whole answer; otherwise the answers inside the list's codes make it
 * listed, the first of them its code.
 */
static bool take_answers(size_t config, size_t list, const uint8_t (*addrs)[4], size_t count,
			 struct list_answer *out)
{
	const struct list_config *l = &configs[config]->rules.lists[list];
	const uint8_t *error = NULL;
	uint32_t mask = 0;
	bool any_error = false, any_match = false, any_refused = false;

	for (size_t i = 0; i < count; i++) {
		enum codes_answer c = codes_classify(addrs[i]);
		FUZZ_CHECK(c == classify_ref(addrs[i]));
		any_error = any_error || c != CODES_ANSWER_LISTING;
		FUZZ_CHECK(codes_refused(l->codes, addrs[i]) == refused_ref(l, addrs[i]));
		any_refused = any_refused || refused_ref(l, addrs[i]);
		bool m = codes_match(l->codes, addrs[i]);
		FUZZ_CHECK(m == match_ref(config, list, addrs[i]));
		FUZZ_CHECK(m == (codes_match_mask(l->codes, addrs[i]) != 0));
		any_match = any_match || m;
	}
	*out = (struct list_answer){ .outcome = OUTCOME_NOT_LISTED };
	switch (codes_take(l->codes, addrs, count, out->code, &mask, &error)) {
	case CODES_REFUSED:
		FUZZ_CHECK(any_refused && error != NULL && refused_ref(l, error));
		out->outcome = OUTCOME_ERROR_CODE;
		return false;
	case CODES_ERROR:
		FUZZ_CHECK(!any_refused && any_error && error != NULL);
		out->outcome = OUTCOME_ERROR_CODE;
		return false;
	case CODES_LISTED:
		/* A filter never matches outside 127/8 nor an error code of 127.255.255/24. */
		FUZZ_CHECK(!any_refused && !any_error && any_match && mask != 0 && codes_match(l->codes, out->code));
		out->outcome = OUTCOME_LISTED;
		out->mask = (uint16_t)mask;
		out->ttl = 300;
		return true;
	case CODES_NOT_LISTED:
		FUZZ_CHECK(!any_refused && !any_error && !any_match);
		return false;
	}
	return false;
}

/*
 * render - answers[i] for list i of the configuration (3 lists), packed into a
 * result per key of the request as the key jobs do, read back by decision_add and
 * rendered by reply_render; then everything is released, and the reasons table
 * must be empty again.
 */
static void render(size_t config, size_t request, const struct list_answer *answers)
{
	static struct decision d;
	const struct config *cfg = configs[config];
	const struct request *req = &requests[request];
	const uint64_t usable = 7; /* lists 0, 1 and 2 */
	struct result *results[KEYS_MAX] = { NULL };
	char out[1024], line[1024];
	size_t n;

	decision_begin(&d, &cfg->rules, req);
	FUZZ_CHECK(d.kind == DECISION_CHECKED);
	keys_derive(req, &d.client, decision_sources(&cfg->rules, usable), &d.keys);
	for (unsigned k = 0; k < d.keys.count; k++) {
		struct list_answer per_key[3];
		for (size_t i = 0; i < 3; i++) {
			per_key[i] = answers[i];
			if (!decision_key_applies(&d, &cfg->rules.lists[i], k))
				per_key[i] = (struct list_answer){ .outcome = OUTCOME_NOT_APPLICABLE };
		}
		results[k] = result_build(reasons_table, &d.keys.key[k], per_key, 3);
		FUZZ_CHECK(results[k] != NULL);
	}
	decision_add(&d, &cfg->rules, results);
	n = reply_render(&cfg->rules, req, &d.verdict, d.tier, reply_budget(req), out, sizeof(out));
	check_reply(out, n, prefixes[config]);
	n = decision_describe(&d, req, "reject", true, NULL, line, sizeof(line));
	FUZZ_CHECK(n == strlen(line) && strchr(line, '\n') == NULL);
	for (unsigned k = 0; k < d.keys.count; k++)
		result_unref(results[k]);
	FUZZ_CHECK(reasons_count(reasons_table) == 0);
}

/* As udns's receive path: the question matched to ours, NOERROR, some answers. */
struct question {
	dnsc_t dn[DNS_MAXDN];
	dnscc_t *cur; /* past the question's name: at its type and class */
	int type;
};

/*
 * find_question - what udns 0.4 (dns_ioevent) checks before it calls a query's
 * parser; false when it would not call it. udns decodes the question name with
 * dns_getdn, so compression is allowed there; it compares it with the name it
 * asked for, which here is the decoded name itself.
 */
static bool find_question(dnscc_t *pkt, dnscc_t *end, struct question *q)
{
	dnscc_t *cur = dns_payload(pkt);

	if (end - pkt < DNS_HSIZE || dns_numqd(pkt) != 1 || dns_opcode(pkt) != 0)
		return false;
	if (dns_getdn(pkt, &cur, end, q->dn, sizeof(q->dn)) <= 0 || cur + 4 > end)
		return false;
	if (dns_get16(cur + 2) != DNS_C_IN || dns_rcode(pkt) != DNS_R_NOERROR || dns_tc(pkt) ||
	    dns_numan(pkt) == 0)
		return false;
	q->cur = cur;
	q->type = dns_get16(cur);
	return true;
}

/*
 * inside_block - a string that udns put into its result block (one malloc) ends
 * inside it. udns 0.4 sizes the block with dns_dntop_size() and fills it with
 * dns_dntop(); when they disagree it writes past the block, and since udns is
 * not instrumented, ASan would notice only later, if ever. malloc_usable_size is
 * the exact size under ASan and at least the size otherwise.
 */
static void inside_block(const void *block, const char *s)
{
	const char *start = block, *end = start + malloc_usable_size((void *)block);

	FUZZ_CHECK(s >= start && s < end);
	FUZZ_CHECK(memchr(s, '\0', (size_t)(end - s)) != NULL);
}

/* What the answer callbacks need: the configuration and request to render with. */
struct answer_ctx {
	size_t config, request;
	size_t packet_size;
	unsigned calls;
};

/* on_a_answer - resolver_a_fn: as keyjob.c's on_a, the answers decide a listing. */
static void on_a_answer(void *arg, enum resolver_status status, const uint8_t (*addrs)[4],
			size_t count, uint32_t ttl)
{
	struct answer_ctx *c = arg;
	struct list_answer answers[3] = { { 0 } };

	(void)ttl;
	c->calls++;
	if (status != RESOLVER_OK) {
		FUZZ_CHECK(addrs == NULL && count == 0);
		return;
	}
	FUZZ_CHECK(addrs != NULL && count > 0);
	FUZZ_CHECK(count * 15 <= c->packet_size); /* an A record takes 15 bytes or more */
	for (size_t i = 0; i < 3; i++)
		take_answers(c->config, i, addrs, count, &answers[i]);
	render(c->config, c->request, answers);
}

/* on_txt_answer - resolver_txt_fn: as keyjob.c's on_txt, the reason of lists that hit. */
static void on_txt_answer(void *arg, enum resolver_status status, const char *txt, size_t len,
			  uint32_t ttl)
{
	struct answer_ctx *c = arg;
	struct list_answer answers[3];

	(void)ttl;
	c->calls++;
	if (status != RESOLVER_OK)
		return;
	FUZZ_CHECK(txt != NULL && len < c->packet_size);
	for (size_t i = 0; i < 3; i++)
		answers[i] = (struct list_answer){ .outcome = OUTCOME_LISTED, .code = { 127, 0, 0, 2 },
						   .mask = 1, .ttl = 60, .txt = txt,
						   .txt_len = len };
	render(c->config, c->request, answers);
}

/*
 * parse_packet - the input as a reply to an A or TXT query: resolver.c's own
 * parse_a / parse_txt (udns's parsers plus its checks), then its deliver(), which
 * hands the callback what lookup.c gets.
 */
static void parse_packet(const uint8_t *data, size_t size, size_t config, size_t request)
{
	dnscc_t *pkt = data, *end = data + size;
	struct answer_ctx ctx = { .config = config, .request = request, .packet_size = size };
	struct resolver_query *rq;
	struct question q;
	void *result = NULL;
	int rc;

	if (!find_question(pkt, end, &q) || (q.type != DNS_T_A && q.type != DNS_T_TXT))
		return;
	rq = calloc(1, sizeof(*rq) + 1);
	FUZZ_CHECK(rq != NULL);
	rq->txt = q.type == DNS_T_TXT;
	rq->arg = &ctx;
	if (rq->txt) {
		rq->cb.txt = on_txt_answer;
		rc = parse_txt(q.dn, pkt, q.cur, end, &result);
	} else {
		rq->cb.a = on_a_answer;
		rc = parse_a(q.dn, pkt, q.cur, end, &result);
	}
	if (rc < 0) {
		FUZZ_CHECK(result == NULL);
		deliver(rq, map_status(rc), NULL);
	} else {
		const struct dns_rr_null *rr = result;
		FUZZ_CHECK(rr != NULL && rr->dnsn_nrr > 0);
		inside_block(rr, rr->dnsn_qname);
		inside_block(rr, rr->dnsn_cname);
		if (rq->txt) {
			const struct dns_rr_txt *t = result;
			for (int i = 0; i < t->dnstxt_nrr; i++) {
				FUZZ_CHECK(t->dnstxt_txt[i].len >= 0);
				inside_block(t, (const char *)t->dnstxt_txt[i].txt);
			}
		}
		deliver(rq, RESOLVER_OK, result);
		free(result);
	}
	FUZZ_CHECK(ctx.calls == 1);
	free(rq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t config = data[0] & 3;
	size_t request = (data[0] >> 2) & 1;
	size_t hits = 1 + ((data[0] >> 3) & 3) % 3; /* 1..3 lists hit */
	const uint8_t *rest = data + 1;
	size_t len = size - 1;

	/* (a) A answers: every 4 bytes, up to 64 answers, for each list of the configuration. */
	size_t count = len / 4 > 64 ? 64 : len / 4;
	const uint8_t(*addrs)[4] = (const uint8_t(*)[4])rest;
	struct list_answer answers[3];
	for (size_t list = 0; list < 3; list++)
		take_answers(config, list, addrs, count, &answers[list]);
	render(config, request, answers);

	/*
	 * (b) TXT bytes as the reason of the lists that hit (hits of them, from list 0),
	 * each a part of the input; the request's own address in them is cut out by the
	 * reasons table and put back when read.
	 */
	size_t keep = len > RESULT_REASON_MAX ? RESULT_REASON_MAX : len;
	for (size_t i = 0; i < 3; i++) {
		answers[i] = (struct list_answer){ .outcome = i < hits ? OUTCOME_LISTED
								       : OUTCOME_NOT_LISTED,
						   .code = { 127, 0, 0, (uint8_t)(2 + i) },
						   .mask = 1, .ttl = 60 };
		if (i < hits && (data[0] & 0x20) == 0) {
			answers[i].txt = (const char *)rest + i * (keep / 3);
			answers[i].txt_len = keep / 3;
		} else if (i < hits) {
			answers[i].txt = (const char *)rest;
			answers[i].txt_len = keep;
		}
	}
	render(config, request, answers);

	/* (c) the raw packet, through udns. */
	parse_packet(rest, len, config, request);
	return 0;
}
