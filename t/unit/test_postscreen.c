/*
 * test_postscreen - postscreen_dnsbl_sites turned into list sections
 * (common/postscreen.c): weights, filters, the default filter, allowlisting with
 * negative weights, several patterns of one domain, and refused input. The scoring
 * of the result is checked against rbldnsd by the postscreen integration test.
 * Links postscreen.c, codes.c, domain.c, addr.c.
 */
#include <string.h>

#include "postscreen.h"
#include "tap.h"

static char out[4096];

static const char *convert(const char *sites)
{
	const char *err = NULL, *bad = NULL;

	if (!postscreen_convert(sites, out, sizeof(out), &err, &bad))
		return err;
	return out;
}

/* The key of the keyed zones below: no output and no error may show it. */
#define KEY "secretkey0123456789abcdefgh"

/* test_keyed - keyed zones become sections named after the public list. */
static void test_keyed(void)
{
	const char *err = NULL, *bad = NULL;

	is_str(convert(KEY ".zen.dq.spamhaus.net=127.0.0.[2..11]*3 " KEY
			  ".ZEN.dq.spamhaus.net=127.0.0.[10..11]*-1 " KEY ".dbl.dq.spamhaus.net*2"),
	       "; zen.spamhaus.org through Spamhaus DQS, a keyed zone: put your key alone on one line in\n"
	       "; /etc/policyd/dqs.key, owner root, group policyd, mode 0640 (policyd -t refuses\n"
	       "; a key file that others can read). The key is never shown.\n"
	       "[dnsbl zen.spamhaus.org]\nzone = $key.zen.dq.spamhaus.net\n"
	       "key_file = /etc/policyd/dqs.key\nipv6 = yes\ncodes = 127.0.0.[2..11]*3\n\n"
	       "; zen.spamhaus.org through Spamhaus DQS, a keyed zone: put your key alone on one line in\n"
	       "; /etc/policyd/dqs.key, owner root, group policyd, mode 0640 (policyd -t refuses\n"
	       "; a key file that others can read). The key is never shown.\n"
	       "[dnswl zen.spamhaus.org]\nzone = $key.zen.dq.spamhaus.net\n"
	       "key_file = /etc/policyd/dqs.key\nipv6 = yes\ncodes = 127.0.0.[10..11]*-1\n\n"
	       "; dbl.spamhaus.org through Spamhaus DQS, a keyed zone: put your key alone on one line in\n"
	       "; /etc/policyd/dqs.key, owner root, group policyd, mode 0640 (policyd -t refuses\n"
	       "; a key file that others can read). The key is never shown.\n"
	       "[dnsbl dbl.spamhaus.org]\nzone = $key.dbl.dq.spamhaus.net\n"
	       "key_file = /etc/policyd/dqs.key\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*2\n\n",
	       "Spamhaus DQS: named after the public list, zone with $key, a key file");
	ok(strstr(out, KEY) == NULL, "... and the key is nowhere in the output");
	ok(convert(KEY ".zrd.dq.spamhaus.net " KEY ".authbl.dq.spamhaus.net") == out &&
		   strstr(out, "[dnsbl zrd.spamhaus.org]\nzone = $key.zrd.dq.spamhaus.net\n") &&
		   strstr(out, "[dnsbl authbl.spamhaus.org]\nzone = $key.authbl.dq.spamhaus.net\n") &&
		   strstr(out, KEY) == NULL,
	   "ZRD and AuthBL through DQS: their public names, no key");
	ok(convert(KEY ".combined.mail.abusix.zone*2") == out &&
		   strstr(out, "[dnsbl combined.mail.abusix.zone]\nzone = "
			       "$key.combined.mail.abusix.zone\nkey_file = /etc/policyd/abusix.key\n") &&
		   strstr(out, KEY) == NULL,
	   "Abusix: the zone without the key, its own key file");
	is_str(convert("zen.dq.spamhaus.net"),
	       "[dnsbl zen.dq.spamhaus.net]\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*1\n\n",
	       "a DQS name without a key label is an ordinary zone");
	ok(!postscreen_convert(KEY ".zen.dq.spamhaus.net=127.0.0", out, sizeof(out), &err, &bad) &&
		   strstr(bad, KEY) == NULL &&
		   strcmp(bad, "zen.dq.spamhaus.net=127.0.0") == 0,
	   "a bad pattern of a keyed zone: what the error shows starts after the key");
}

int main(void)
{
	is_str(convert("zen.spamhaus.org*2 \t  bl.spamcop.net*1 b.barracudacentral.org*1"),
	       "[dnsbl zen.spamhaus.org]\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*2\n\n"
	       "[dnsbl bl.spamcop.net]\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*1\n\n"
	       "[dnsbl b.barracudacentral.org]\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*1\n\n",
	       "POSTSCREEN_README's example: one section per site, weights kept");
	is_str(convert("example.com*2, example.net, example.org"),
	       "[dnsbl example.com]\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*2\n\n"
	       "[dnsbl example.net]\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*1\n\n"
	       "[dnsbl example.org]\nipv6 = yes\ncodes = 127.[0..255].[0..255].[0..255]*1\n\n",
	       "commas; no weight means 1");
	is_str(convert("example.com=127.0.0.4"),
	       "[dnsbl example.com]\nipv6 = yes\ncodes = 127.0.0.4*1\n\n", "a filter");
	is_str(convert("zen.spamhaus.org=127.0.0.[2..3]*3 zen.spamhaus.org=127.0.0.[10;11]*1 "
		       "list.dnswl.org=127.0.[0..255].[1..3]*-2 LIST.dnswl.org.=127.0.[0..255].0*-1"),
	       "[dnsbl zen.spamhaus.org]\nipv6 = yes\ncodes = 127.0.0.[2..3]*3, 127.0.0.[10;11]*1\n\n"
	       "[dnswl list.dnswl.org]\nipv6 = yes\ncodes = 127.0.[0..255].[1..3]*-2, "
	       "127.0.[0..255].0*-1\n\n",
	       "patterns of one domain in one section; negative weights make an allowlist");
	is_str(convert("example.com*x"), "the weight after '*' is not an integer of at most 1000000",
	       "a bad weight is refused");
	is_str(convert("example.com=127.0.0"), "expected four octets separated by '.'",
	       "a bad filter is refused");
	is_str(convert("<b>.com"), "not a DNS zone", "markup is not a zone");
	is_str(convert("  "), "no pattern: postscreen_dnsbl_sites is empty", "empty input");
	is_str(convert("a.example\n[server]\nlisten = inet:0.0.0.0:25"),
	       "a control character (a line feed?): expected the one line of postconf -h postscreen_dnsbl_sites",
	       "a line feed is refused: it would start an INI line of its own");
	is_str(convert("a.example\rb.example"),
	       "a control character (a line feed?): expected the one line of postconf -h postscreen_dnsbl_sites",
	       "a carriage return is refused");
	test_keyed();
	return tap_done();
}
