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

int main(void)
{
	is_str(convert("zen.spamhaus.org*2\n    bl.spamcop.net*1 b.barracudacentral.org*1"),
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
	return tap_done();
}
