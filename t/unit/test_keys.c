/*
 * test_keys - cache keys and the domains they are made of (common/keys.c,
 * common/domain.c): the sender's domain after the LAST '@' (quoted local parts too),
 * internationalised names as A-labels, cleaning, one key per distinct domain with
 * its sources, query names. Links keys.c, domain.c, addr.c, request.c and libidn2.
 */
#include <string.h>

#include "domain.h"
#include "keys.h"
#include "request.h"
#include "rules.h"
#include "tap.h"

/* clean - domain_clean on a C string; "" when refused. */
static const char *clean(const char *s)
{
	static char out[DOMAIN_SIZE];

	if (domain_clean(s, strlen(s), out, sizeof(out)) == 0)
		return "";
	return out;
}

/* sender_domain - domain_of_address then domain_clean; "" when there is none. */
static const char *sender_domain(const char *s)
{
	const char *d;
	size_t len;

	if (!domain_of_address(s, strlen(s), &d, &len))
		return "";
	static char out[DOMAIN_SIZE];
	if (domain_clean(d, len, out, sizeof(out)) == 0)
		return "";
	return out;
}

static void test_domains(void)
{
	char long_label[80], too_long[300];

	is_str(clean("Example.COM."), "example.com", "lower case, final dot dropped");
	is_str(clean("mail_1.ex-ample.org"), "mail_1.ex-ample.org", "letters, digits, '-' and '_'");
	is_str(clean("localhost"), "", "one label is not a domain");
	is_str(clean("a..b"), "", "an empty label is refused");
	is_str(clean(".example.com"), "", "a leading dot is refused");
	is_str(clean("unknown"), "", "Postfix's 'unknown' is refused");
	is_str(clean("192.0.2.1"), "", "an address is not a domain");
	is_str(clean("[192.0.2.1]"), "", "an address literal is refused");
	is_str(clean("<b>x</b>.com"), "", "markup is refused");
	is_str(clean("bücher.example"), "xn--bcher-kva.example", "IDN: UTF-8 becomes its A-label");
	is_str(clean("BÜCHER.Example"), "xn--bcher-kva.example", "IDN: mapped to lower case");
	is_str(clean("xn--bcher-kva.example"), "xn--bcher-kva.example", "an A-label stays");
	is_str(clean("b\xfc"
		     "cher.example"),
	       "", "invalid UTF-8 is refused");
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".example");
	is_str(clean(long_label), "", "a label of 64 bytes is refused");
	memset(too_long, 'a', 250);
	strcpy(too_long + 250, ".com");
	is_str(clean(too_long), "", "more than 253 bytes is refused");
	/* The boundaries of each rule, first and last label alike. */
	memset(long_label, 'a', 63);
	strcpy(long_label + 63, ".example");
	is_str(clean(long_label), long_label, "a label of 63 bytes is taken");
	strcpy(long_label, "example.");
	memset(long_label + 8, 'b', 63);
	long_label[71] = '\0';
	is_str(clean(long_label), long_label, "a last label of 63 bytes is taken");
	long_label[71] = 'b';
	long_label[72] = '\0';
	is_str(clean(long_label), "", "a last label of 64 bytes is refused");
	memset(too_long, 'a', 249);
	strcpy(too_long + 249, ".com");
	for (size_t i = 60; i < 249; i += 61)
		too_long[i] = '.';
	is_str(clean(too_long), too_long, "253 bytes are taken");
	is_str(clean("123.example"), "123.example", "digits in a label other than the last");
	is_str(clean("example.123"), "", "an all-digit last label is refused");
	is_str(clean("example.com.."), "", "two final dots are refused");
	is_str(clean("a.b"), "a.b", "two labels of one byte");
	is_str(clean("exa mple.com"), "", "a space is refused");
	is_int(domain_clean("exa\0mple.com", 12, long_label, sizeof(long_label)), 0,
	       "a NUL byte is refused");
}

static void test_sender_domain(void)
{
	is_str(sender_domain("joe@example.com"), "example.com", "plain address");
	is_str(sender_domain("x@y@listed.example"), "listed.example",
	       "the LAST '@': x@y@listed.example");
	is_str(sender_domain("\"x@y\"@listed.example"), "listed.example",
	       "a quoted local part with '@'");
	is_str(sender_domain("\"a\\\"@b\"@listed.example"), "listed.example",
	       "a quoted local part with an escaped quote");
	is_str(sender_domain("\"x@listed.example\""), "", "all quoted: no domain part");
	is_str(sender_domain("@a,@b:joe@listed.example"), "listed.example", "a source route");
	is_str(sender_domain("joe@BÜCHER.example"), "xn--bcher-kva.example",
	       "an IDN sender domain");
	is_str(sender_domain(""), "", "the null sender has no domain");
	is_str(sender_domain("postmaster"), "", "no '@': no domain");
	is_str(sender_domain("joe@"), "", "nothing after '@'");
	ok(domain_within("a.b.example.com", 15, "example.com", 11, true), "a subdomain is within");
	ok(!domain_within("badexample.com", 14, "example.com", 11, true),
	   "a suffix without a dot is not");
	ok(!domain_within("example.com", 11, "example.com", 11, true),
	   "the domain is not its own subdomain");
	ok(domain_within("example.com", 11, "example.com", 11, false), "exact match");
}

/* parse - index a request text built from lines. */
static void parse(struct request *r, const char *text)
{
	request_parse(r, text, strlen(text));
}

static void test_derive(void)
{
	static struct request req;
	struct keyset ks;
	struct addr a;
	char buf[KEYS_QUERY_MAX];

	addr_parse(&a, "192.0.2.1", 9);
	parse(&req,
	      "client_address=192.0.2.1\nsender=joe@Mail.Example.com\nhelo_name=mail.example.com\n"
	      "client_name=unknown\n\n");
	keys_derive(&req, &a, SOURCE_SENDER | SOURCE_HELO | SOURCE_CLIENT_NAME, &ks);
	is_int(ks.count, 2, "address key and one domain key (sender and helo are the same domain)");
	ok(!key_is_domain(&ks.key[0]) && ks.key[0].bytes[0] == '4', "key 0: the IPv4 address");
	ok(key_is_domain(&ks.key[1]) && ks.sources[1] == (SOURCE_SENDER | SOURCE_HELO),
	   "key 1: the domain, from the sender and the helo");
	key_text(&ks.key[1], buf, sizeof(buf));
	is_str(buf, "mail.example.com", "the domain key's text");
	key_query(&ks.key[0], DIGEST_SHA1, "zen.test", buf, sizeof(buf));
	is_str(buf, "1.2.0.192.zen.test", "the address key's query name");
	key_query(&ks.key[1], DIGEST_SHA1, "dbl.test", buf, sizeof(buf));
	is_str(buf, "mail.example.com.dbl.test", "the domain key's query name");
	ok(keys_find(&ks, &ks.key[1]) == 1, "keys_find finds a key");

	keys_derive(&req, NULL, SOURCE_HELO, &ks);
	is_int(ks.count, 1, "no address list: only the helo's key");
	keys_derive(&req, &a, 0, &ks);
	is_int(ks.count, 1, "no RHSBL: only the address key");

	addr_parse(&a, "2001:db8::25", 12);
	parse(&req, "client_address=2001:db8::25\nsender=\"x@y\"@bad.example\n\n");
	keys_derive(&req, &a, SOURCE_SENDER, &ks);
	is_int(ks.count, 2, "IPv6 address and a quoted sender's domain");
	key_text(&ks.key[0], buf, sizeof(buf));
	is_str(buf, "2001:db8::25", "the IPv6 key's text");
	key_text(&ks.key[1], buf, sizeof(buf));
	is_str(buf, "bad.example", "the domain after the quoted local part");
}

/* test_mailbox - a hashed list's key: the whole sender address, lowercased, hashed in queries. */
static void test_mailbox(void)
{
	static struct request req;
	struct keyset ks;
	struct addr a;
	char buf[KEYS_QUERY_MAX], clean[DOMAIN_SIZE];

	addr_parse(&a, "192.0.2.1", 9);
	parse(&req, "client_address=192.0.2.1\nsender=Spam@Example.ORG\n\n");
	keys_derive(&req, &a, SOURCE_SENDER | SOURCE_SENDER_ADDRESS, &ks);
	is_int(ks.count, 3, "address, sender domain and sender address keys");
	ok(key_family(&ks.key[2]) == KEY_MAILBOX && ks.sources[2] == SOURCE_SENDER_ADDRESS,
	   "key 2: the sender address, for hashed lists");
	ok(key_is_name(&ks.key[2]) && !key_is_domain(&ks.key[2]), "a mailbox key is a name");
	key_text(&ks.key[2], buf, sizeof(buf));
	is_str(buf, "spam@example.org", "the mailbox key's text: the address lowercased");
	key_query(&ks.key[2], DIGEST_SHA1, "_email.hbl.test", buf, sizeof(buf));
	is_str(buf, "0891428c5283aa59930c88b8497fe7a26b83e1e8._email.hbl.test",
	       "the sha1 hex of the address under the zone");
	key_query(&ks.key[2], DIGEST_MD5, "ebl.test", buf, sizeof(buf));
	is_str(buf, "8be7a964443898bbf7730ce336459182.ebl.test",
	       "the md5 hex of the address under the zone");

	keys_derive(&req, NULL, SOURCE_SENDER_ADDRESS, &ks);
	is_int(ks.count, 1, "only a hashed list: one key, the sender address");
	parse(&req, "client_address=192.0.2.1\nsender=\n\n");
	keys_derive(&req, &a, SOURCE_SENDER_ADDRESS, &ks);
	is_int(ks.count, 1, "the empty sender <> is not looked up");

	is_int(keys_clean_address("a b@example.org", 15, clean, sizeof(clean)), 0,
	       "a space: refused");
	is_int(keys_clean_address("nobody", 6, clean, sizeof(clean)), 0, "no '@': refused");
	is_int(keys_clean_address("j\xc3\xb6@example.org", 15, clean, sizeof(clean)), 0,
	       "a byte outside ASCII: refused");
	is_int(keys_clean_address("\"A B\"@x", 6, clean, sizeof(clean)), 0,
	       "a quoted local part with a space: refused");
	is_int(keys_clean_address("Joe.Q+tag@Example.com", 21, clean, sizeof(clean)), 21,
	       "an address with an extension is kept whole");
	is_str(clean, "joe.q+tag@example.com", "lowercased");
}

int main(void)
{
	test_domains();
	test_sender_domain();
	test_derive();
	test_mailbox();
	return tap_done();
}
