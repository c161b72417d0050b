/*
 * test_reply - rendering a verdict into Postfix's reply (common/reply.c): the words of
 * each action, the text naming what is listed, the per-request budget that keeps
 * Postfix's whole line within 510 bytes with the help URL and the contact whole,
 * cleaning of untrusted bytes, the on_error replies. Links reply.c, template.c, text.c,
 * request.c, domain.c, addr.c, score.c, result.c, keys.c, siphash.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "request.h"
#include "tap.h"
#include "template.h"

static const char default_text[] =
	"Your $rbl_listed is blacklisted by $rbl_domain${rbl_reason?: $rbl_reason}. "
	"See $help_url or send your questions to $contact";

/* compile - a reply template, its names resolved as the configuration's are. */
static struct template *compile(const char *s)
{
	const char *err;
	size_t off;
	struct template *t = reply_template_compile(s, strlen(s), &err, &off);

	if (t == NULL) {
		printf("Bail out! template: %s\n", err);
		exit(1);
	}
	return t;
}

static struct list_config zen = {
	.kind = LIST_DNSBL, .name = "zen.test", .name_len = 8, .weight = 2
};
static struct list_config dbl = {
	.kind = LIST_RHSBL, .name = "dbl.test", .name_len = 8, .weight = 2
};
static struct rules rules;
static struct request req;
static char reqtext[8192];

/* request - a request with the given recipient and sender. */
static void request(const char *rcpt, const char *sender)
{
	int n = snprintf(
		reqtext, sizeof(reqtext),
		"client_address=192.0.2.1\nclient_name=mail.example.net\nhelo_name=mx.example.net\n"
		"sender=%s\nrecipient=%s\n\n",
		sender, rcpt);
	request_parse(&req, reqtext, (size_t)n);
}

/* hit - one hit of list l on what, with a reason. */
static void hit(struct verdict *v, struct list_config *l, unsigned source, const char *what,
		const char *reason)
{
	struct hit h = { .list = l,
			 .weight = l->weight,
			 .code = { 127, 0, 0, 2 },
			 .source = source,
			 .what = what,
			 .what_len = strlen(what),
			 .txt = reason != NULL };

	h.reason = reason_plain(reason, reason ? strlen(reason) : 0);
	verdict_add(v, &h);
}

/* render - the reply's text after "action=", without the final empty line. */
static const char *render(const struct verdict *v, enum tier t, size_t budget)
{
	static char out[REPLY_MAX];
	size_t n = reply_render(&rules, &req, v, t, budget, out, sizeof(out));

	if (n >= 2 && out[n - 1] == '\n' && out[n - 2] == '\n')
		out[n - 2] = '\0';
	return out + 7;
}

static void test_words(void)
{
	char greylisted[REPLY_MAX];
	struct verdict v;

	request("user@mx.test", "joe@example.com");
	verdict_clear(&v);
	is_str(render(&v, TIER_PASS, 400), "DUNNO", "a pass: DUNNO");
	is_str(render(&v, TIER_ALLOWLISTED, 400), "DUNNO", "allowlisted: DUNNO");
	hit(&v, &zen, 0, "192.0.2.1", "Spam source");
	is_str(render(&v, TIER_REFUSED, 400),
	       "REJECT 5.7.1 Your host [192.0.2.1] is blacklisted by zen.test: Spam source. See "
	       "https://www.example.org/blacklisted.html?ip=192.0.2.1&list=zen.test or send your "
	       "questions to postmaster@example.org",
	       "a refusal names the host, the list, its reason, the URL and the contact");
	rules.action = ACTION_DEFER;
	ok(strncmp(render(&v, TIER_REFUSED, 400), "DEFER 4.7.1 Your host", 21) == 0, "defer");
	rules.soft_action = ACTION_PREPEND;
	ok(strncmp(render(&v, TIER_SOFT, 400), "PREPEND X-DNSBL: Your host", 26) == 0,
	   "the soft tier uses soft_action");
	rules.action = ACTION_WARN;
	ok(strncmp(render(&v, TIER_REFUSED, 400), "WARN Your host", 14) == 0, "warn");
	rules.action = ACTION_REJECT;
	reply_greylist(&rules, &req, &v, 300, 400, greylisted, sizeof(greylisted));
	ok(strncmp(greylisted, "action=DEFER_IF_PERMIT 4.7.1 Your host", 38) == 0,
	   "a greylisting delay: %s", greylisted);

	verdict_clear(&v);
	hit(&v, &dbl, SOURCE_SENDER, "bad.example", "Spam domain");
	ok(strncmp(render(&v, TIER_REFUSED, 400),
		   "REJECT 5.7.1 Your sender domain bad.example is blacklisted by dbl.test",
		   69) == 0,
	   "an RHSBL hit on the sender names the sender domain, not the host: %s",
	   render(&v, TIER_REFUSED, 400));
	verdict_clear(&v);
	hit(&v, &dbl, SOURCE_SENDER_ADDRESS, "spam@bad.example", NULL);
	ok(strstr(render(&v, TIER_REFUSED, 400),
		  "Your sender address spam@bad.example is blacklisted by dbl.test") != NULL,
	   "a hashed list's hit names the sender address: %s", render(&v, TIER_REFUSED, 400));
	verdict_clear(&v);
	hit(&v, &dbl, SOURCE_HELO, "bad.example", NULL);
	ok(strstr(render(&v, TIER_REFUSED, 400),
		  "Your HELO name bad.example is blacklisted by dbl.test. See") != NULL,
	   "a helo hit without a reason: no empty ': '");
}

/* postfix_line - the SMTP line Postfix would send: its prefix for the recipient, then the text. */
static size_t postfix_line(const char *reply, const char *rcpt)
{
	const char *text = reply + strlen("REJECT 5.7.1 ");

	return strlen("554 5.7.1 <") + strlen(rcpt) + strlen(">: Recipient address rejected: ") +
	       strlen(text);
}

static void test_budget(void)
{
	char rcpt[400], reason[600];
	struct verdict v;
	const char *out;
	size_t budget;

	memset(rcpt, 'r', 240);
	strcpy(rcpt + 240, "@example.com");
	memset(reason, 'x', 500);
	reason[500] = '\0';
	request(rcpt, "joe@example.com");
	budget = reply_budget(&req);
	ok(budget < REPLY_TEXT_MAX, "a 252-byte recipient shrinks the budget to %zu", budget);
	verdict_clear(&v);
	hit(&v, &zen, 0, "192.0.2.1", reason);
	out = render(&v, TIER_REFUSED, budget);
	ok(postfix_line(out, rcpt) <= REPLY_LINE_MAX, "Postfix's line is %zu bytes: at most 510",
	   postfix_line(out, rcpt));
	ok(strstr(out, "https://www.example.org/blacklisted.html?ip=192.0.2.1&list=zen.test or") &&
		   strstr(out, "postmaster@example.org"),
	   "the URL and the contact are whole");
	ok(strstr(out, "xxx...") != NULL, "the reason was cut, marked with dots");

	memset(rcpt, 'r', 380);
	strcpy(rcpt + 380, "@example.com");
	request(rcpt, "joe@example.com");
	budget = reply_budget(&req);
	out = render(&v, TIER_REFUSED, budget);
	ok(strstr(out, "https://www.example.org/blacklisted.html?ip=192.0.2.1&list=zen.test") &&
		   strstr(out, "postmaster@example.org"),
	   "an absurd 392-byte recipient: the URL and the contact are still whole");
	request("user@mx.test", "joe@example.com");
	is_int(reply_budget(&req), REPLY_TEXT_MAX, "a short request: the whole 400 bytes");
	rules.action = ACTION_PREPEND;
	request(rcpt, "joe@example.com");
	out = render(&v, TIER_REFUSED, reply_budget(&req));
	ok(strlen(out) - strlen("PREPEND X-DNSBL: ") == REPLY_TEXT_MAX,
	   "a header is not an SMTP line: prepend keeps 400 bytes");
	rules.action = ACTION_REJECT;
}

static void test_dirty_and_errors(void)
{
	struct verdict v;
	char out[REPLY_MAX];

	request("user@mx.test", "joe@example.com");
	verdict_clear(&v);
	hit(&v, &zen, 0, "192.0.2.1", "bad\r\nline\x01\xff end");
	const char *s = render(&v, TIER_REFUSED, 400);
	ok(strchr(s, '\r') == NULL && strchr(s, '\n') == NULL && strstr(s, "bad  line   end"),
	   "control and non-ASCII bytes of a TXT become spaces: %s", s);
	rules.on_error = ON_ERROR_DUNNO;
	reply_on_error(&rules, out, sizeof(out));
	is_str(out, "action=DUNNO\n\n", "on_error dunno");
	rules.on_error = ON_ERROR_DEFER;
	reply_on_error(&rules, out, sizeof(out));
	ok(strncmp(out, "action=DEFER 4.7.1 ", 19) == 0, "on_error defer");
	is_str(reply_class(SOURCE_SENDER), "Sender address", "rbl_class of a sender hit");
	is_str(reply_class(SOURCE_SENDER_ADDRESS), "Sender address",
	       "rbl_class of a hashed list's hit on the sender address");
	is_str(reply_class(0), "Client host", "rbl_class of an address hit");
}

/*
 * test_vouched_values - the help URL, the list's name and our own words reach the text
 * without being cleaned again; request data inside the URL was cleaned when the URL was
 * expanded, and request data, the reason and the contact are cleaned in the text.
 */
static void test_vouched_values(void)
{
	static const char dirty[] = "client_address=192.0.2.\x01\x7f"
				    "1\nhelo_name=mx\x1b.example\n"
				    "sender=joe@example.com\nrecipient=user@mx.test\n\n";
	struct template *old = rules.text;
	char contact[] = "post\x7fmaster@example.org";
	char *old_contact = rules.contact;
	size_t old_contact_len = rules.contact_len;
	struct verdict v;
	const char *s;
	size_t i;

	memcpy(reqtext, dirty, sizeof(dirty));
	request_parse(&req, reqtext, sizeof(dirty) - 1);
	rules.text = compile("$rbl_domain $rbl_class $client_address $helo_name $help_url "
			     "$rbl_reason $contact");
	rules.contact = contact;
	rules.contact_len = strlen(contact);
	verdict_clear(&v);
	hit(&v, &zen, 0, "192.0.2.1", "bad\x7freason");
	s = render(&v, TIER_REFUSED, 400);
	for (i = 0; s[i] != '\0' && s[i] >= 0x20 && s[i] < 0x7f; i++)
		;
	ok(s[i] == '\0', "every byte of the reply is printable: %s", s);
	is_str(s,
	       "REJECT 5.7.1 zen.test Client host 192.0.2.  1 mx .example "
	       "https://www.example.org/blacklisted.html?ip=192.0.2.  1&list=zen.test bad reason "
	       "post master@example.org",
	       "request data, in the text and in the URL, the reason and the contact are cleaned");
	template_free(rules.text);
	rules.text = old;
	rules.contact = old_contact;
	rules.contact_len = old_contact_len;
}

static void test_help_url_drops_request_values(void)
{
	struct verdict v;
	char sender[300], out[REPLY_HELP_URL_MAX + 1];
	struct template *old = rules.help_url;

	rules.help_url = compile("https://www.example.org/blacklisted.html?ip=$client_address"
				 "&list=$rbl_domain&domain=$sender_domain");
	memcpy(sender, "joe@", 4);
	memset(sender + 4, 'd', 200);
	strcpy(sender + 204, ".example");
	request("user@mx.test", "joe@short.example");
	verdict_clear(&v);
	hit(&v, &zen, 0, "192.0.2.1", NULL);
	reply_help_url(&rules, &req, &v, out, sizeof(out));
	is_str(out,
	       "https://www.example.org/blacklisted.html?ip=192.0.2.1&list=zen.test&domain=short.example",
	       "the sender's domain in the URL");
	request("user@mx.test", sender);
	reply_help_url(&rules, &req, &v, out, sizeof(out));
	is_str(out, "https://www.example.org/blacklisted.html?ip=192.0.2.1&list=zen.test&domain=",
	       "a domain too long for the URL is left out, never cut");
	template_free(rules.help_url);
	rules.help_url = old;
}

/*
 * expand_both - the reply text of template src for v, compiled with the names resolved
 * (as the configuration does) into with_ids and without (plain template_compile) into
 * by_name; the whole reply after "action=REJECT 5.7.1 ".
 */
static void expand_both(const char *src, const struct verdict *v, char *with_ids, char *by_name,
			size_t size)
{
	struct template *old = rules.text;
	const char *err;
	size_t off;
	char out[REPLY_MAX];

	rules.text = compile(src);
	reply_render(&rules, &req, v, TIER_REFUSED, REPLY_TEXT_MAX, out, sizeof(out));
	out[strcspn(out, "\n")] = '\0';
	snprintf(with_ids, size, "%s", out + strlen("action=REJECT 5.7.1 "));
	template_free(rules.text);
	rules.text = template_compile(src, strlen(src), &err, &off);
	reply_render(&rules, &req, v, TIER_REFUSED, REPLY_TEXT_MAX, out, sizeof(out));
	out[strcspn(out, "\n")] = '\0';
	snprintf(by_name, size, "%s", out + strlen("action=REJECT 5.7.1 "));
	template_free(rules.text);
	rules.text = old;
}

/*
 * test_macro_ids - names resolved when a template is compiled: each of ours gives its value,
 * any other name (one that starts or ends like ours, or differs in case) is the request
 * attribute of that name, the conditionals test the same values, and a template compiled
 * without resolving its names renders the same text.
 */
static void test_macro_ids(void)
{
	static const struct {
		const char *src, *want, *what;
	} cases[] = {
		{ "[$rbl_domain]", "[zen.test]", "rbl_domain" },
		{ "[$rbl_reason|$rbl_txt]", "[Spam source|Spam source]", "rbl_reason, rbl_txt" },
		{ "[$rbl_what|$rbl_listed|$rbl_class]", "[192.0.2.1|host [192.0.2.1]|Client host]",
		  "rbl_what, rbl_listed, rbl_class" },
		{ "[$rbl_code|$rbl_domains|$score]", "[127.0.0.2|zen.test, dbl.test|4]",
		  "rbl_code, rbl_domains, score" },
		{ "[$help_url]",
		  "[https://www.example.org/blacklisted.html?ip=192.0.2.1&list=zen.test]",
		  "help_url" },
		{ "[$contact|$client_address|$sender_domain]",
		  "[postmaster@example.org|192.0.2.1|example.com]",
		  "contact, client_address, sender_domain" },
		{ "[$helo_name|$x_custom|$absent]", "[mx.example.net|custom value|]",
		  "other names are request attributes" },
		{ "[$rbl_dom|$rbl|$rbl_domainx|$contacts]", "[prefix||extended|more]",
		  "a prefix of one of ours, or a name that extends one, is an attribute" },
		{ "[$RBL_DOMAIN|$Contact]", "[upper|]", "names are case-sensitive" },
		{ "[${rbl_reason?why: $rbl_reason}${rbl_reason:no reason}]", "[why: Spam source]",
		  "${name?text} with a value" },
		{ "[${absent?set}${absent:unset}${x_custom?set}${rbl_dom:unset}]", "[unsetset]",
		  "conditionals on attributes" },
		{ "[${help_url?url}${contact:none}${rbl_code?code}]", "[urlcode]",
		  "conditionals on our names" },
	};
	char with_ids[REPLY_MAX], by_name[REPLY_MAX];
	struct verdict v;
	int n = snprintf(
		reqtext, sizeof(reqtext),
		"client_address=192.0.2.1\nhelo_name=mx.example.net\n"
		"sender=joe@example.com\nrecipient=user@mx.test\nx_custom=custom value\n"
		"rbl_dom=prefix\nrbl_domainx=extended\ncontacts=more\nRBL_DOMAIN=upper\n\n");

	request_parse(&req, reqtext, (size_t)n);
	verdict_clear(&v);
	hit(&v, &zen, 0, "192.0.2.1", "Spam source");
	hit(&v, &dbl, SOURCE_SENDER, "example.com", NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expand_both(cases[i].src, &v, with_ids, by_name, sizeof(with_ids));
		is_str(with_ids, cases[i].want, "%s: %s", cases[i].what, cases[i].src);
		is_str(by_name, cases[i].want, "%s, names not resolved: %s", cases[i].what,
		       cases[i].src);
	}

	/* A reason that did not come from DNS is $rbl_reason but not $rbl_txt. */
	verdict_clear(&v);
	hit(&v, &zen, 0, "192.0.2.1", "Spam source");
	v.hits[0].txt = false;
	expand_both("[$rbl_reason|$rbl_txt|${rbl_txt:none}]", &v, with_ids, by_name,
		    sizeof(with_ids));
	is_str(with_ids, "[Spam source||none]", "rbl_txt is empty for a reason not from DNS");
	is_str(by_name, with_ids, "the same, names not resolved");
}

/* reference_duration - reply_duration as it was written with snprintf, to compare with (its
 * rounding up made safe from wrapping, as reply_duration's is). */
static size_t reference_duration(uint32_t s, char *out, size_t size)
{
	static const struct {
		uint32_t seconds;
		const char *name;
	} units[] = { { 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" } };
	unsigned i = 0;

	if (s == 0)
		s = 1;
	while (i < 3 && s % units[i].seconds != 0 && s / units[i].seconds < 2)
		i++;
	uint32_t n = s / units[i].seconds + (s % units[i].seconds != 0);
	int len = snprintf(out, size, "%u %s%s", n, units[i].name, n == 1 ? "" : "s");
	return len < 0 ? 0 : (size_t)len < size ? (size_t)len : size - 1;
}

/*
 * test_numbers - the numbers that replies write by hand (durations, $score, $rbl_code), the
 * list of lists ($rbl_domains) and the text of an empty expansion are what snprintf wrote.
 */
static void test_numbers(void)
{
	static const uint32_t seconds[] = { 0,     1,      2,       59,          60,
					    61,    90,     119,     120,         121,
					    299,   300,    3599,    3600,        3601,
					    5400,  7199,   7200,    86399,       86400,
					    86401, 172800, 1000000, 4000000000u, UINT32_MAX };
	static const long scores[] = { 0, 1, -1, 9, 10, -10, 123456789, LONG_MAX, LONG_MIN };
	static const uint8_t codes[][4] = {
		{ 127, 0, 0, 2 }, { 0, 0, 0, 0 }, { 255, 255, 255, 255 }, { 127, 10, 100, 9 }
	};
	char got[64], want[64], text[REPLY_MAX], domains[2048];
	struct list_config lists[VERDICT_MAX_HITS];
	char names[VERDICT_MAX_HITS][64];
	struct template *old = rules.text;
	struct verdict v;
	bool same = true;
	size_t used = 0;

	for (size_t i = 0; i < sizeof(seconds) / sizeof(seconds[0]); i++) {
		for (size_t size = 1; size <= sizeof(got); size++) {
			size_t g = reply_duration(seconds[i], got, size);
			size_t w = reference_duration(seconds[i], want, size);
			if (g != w || strcmp(got, want) != 0) {
				same = false;
				printf("# %u seconds in %zu bytes: '%s', want '%s'\n", seconds[i],
				       size, got, want);
			}
		}
	}
	ok(same, "reply_duration writes what snprintf wrote, cut to every size");
	reply_duration(90, got, sizeof(got));
	is_str(got, "90 seconds", "90 seconds");
	reply_duration(7200, got, sizeof(got));
	is_str(got, "2 hours", "2 hours");
	reply_duration(0, got, sizeof(got));
	is_str(got, "1 second", "0 seconds: 1 second");
	reply_duration(UINT32_MAX, got, sizeof(got));
	is_str(got, "49711 days", "the longest wait is rounded up without wrapping");

	request("user@mx.test", "joe@example.com");
	rules.text = compile("$score|$rbl_code");
	for (size_t i = 0; i < sizeof(scores) / sizeof(scores[0]); i++) {
		for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
			verdict_clear(&v);
			hit(&v, &zen, 0, "192.0.2.1", NULL);
			memcpy(v.hits[0].code, codes[k], 4);
			v.score = scores[i];
			reply_render(&rules, &req, &v, TIER_REFUSED, 400, text, sizeof(text));
			snprintf(want, sizeof(want), "action=REJECT 5.7.1 %ld|%u.%u.%u.%u\n\n",
				 scores[i], codes[k][0], codes[k][1], codes[k][2], codes[k][3]);
			is_str(text, want, "$score %ld, $rbl_code %u.%u.%u.%u", scores[i],
			       codes[k][0], codes[k][1], codes[k][2], codes[k][3]);
		}
	}
	template_free(rules.text);

	/* Sixteen lists of 50-byte names: more than the 400 bytes $rbl_domains may take. */
	rules.text = compile("$rbl_domains");
	verdict_clear(&v);
	for (int i = 0; i < VERDICT_MAX_HITS; i++) {
		snprintf(names[i], sizeof(names[i]), "list-%02d.%s", i,
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test");
		lists[i] = (struct list_config){ .kind = LIST_DNSBL, .name = names[i] };
		lists[i].name_len = strlen(names[i]);
		lists[i].weight = 1;
		hit(&v, &lists[i], 0, "192.0.2.1", NULL);
	}
	for (unsigned i = 0; i < v.hit_count && used < REPLY_TEXT_MAX; i++) {
		int n = snprintf(domains + used, sizeof(domains) - used, "%s%s", i ? ", " : "",
				 v.hits[i].list->name);
		used += (size_t)n;
	}
	domains[REPLY_TEXT_MAX] = '\0';
	reply_render(&rules, &req, &v, TIER_REFUSED, REPLY_TEXT_MAX, text, sizeof(text));
	text[strcspn(text, "\n")] = '\0';
	is_str(text + strlen("action=REJECT 5.7.1 "), domains,
	       "$rbl_domains: the lists' names, cut at 400 bytes");
	verdict_clear(&v);
	hit(&v, &zen, 0, "192.0.2.1", NULL);
	hit(&v, &dbl, SOURCE_SENDER, "example.com", NULL);
	is_str(render(&v, TIER_REFUSED, 400), "REJECT 5.7.1 zen.test, dbl.test",
	       "$rbl_domains of two lists");
	template_free(rules.text);

	rules.text = compile("${absent}");
	is_str(render(&v, TIER_REFUSED, 400), "REJECT 5.7.1 Refused by policy",
	       "an empty text is never sent");
	template_free(rules.text);
	rules.text = old;
}

int main(void)
{
	rules.threshold = 1;
	rules.allowlist_threshold = -1;
	rules.text = compile(default_text);
	rules.help_url = compile(
		"https://www.example.org/blacklisted.html?ip=$client_address&list=$rbl_domain");
	rules.contact = "postmaster@example.org";
	rules.contact_len = strlen(rules.contact);
	test_words();
	test_budget();
	test_dirty_and_errors();
	test_help_url_drops_request_values();
	test_vouched_values();
	test_macro_ids();
	test_numbers();
	template_free(rules.text);
	template_free(rules.help_url);
	return tap_done();
}
