/*
 * test_nameset - local lists of domains and recipients (common/nameset.c): Postfix's
 * convention (example.com the domain, .example.com its subdomains), case and IDN,
 * recipients by address, local part and domain, bad lines reported with their number.
 * Links nameset.c, domain.c, addr.c.
 */
#include <stdio.h>
#include <string.h>

#include "nameset.h"
#include "tap.h"

static char errors[1024];

static void on_error(void *ctx, unsigned line, const char *message)
{
	size_t n = strlen(errors);

	(void)ctx;
	snprintf(errors + n, sizeof(errors) - n, "%u: %s\n", line, message);
}

static bool has(const struct name_set *s, const char *d)
{
	return name_set_has_domain(s, d, strlen(d));
}

static bool rcpt(const struct name_set *s, const char *a)
{
	return name_set_has_recipient(s, a, strlen(a));
}

static void test_domains(void)
{
	static const char text[] = "# senders we refuse\n"
				   "example.com\n"
				   ".example.net   # every subdomain\n"
				   "\n"
				   "  Bücher.Example  \n"
				   "not a domain\n"
				   "user@example.org\n";
	struct name_set *s;

	errors[0] = '\0';
	s = name_set_load(NAMES_DOMAINS, text, sizeof(text) - 1, on_error, NULL);
	ok(s != NULL, "a domain list loads");
	is_int(name_set_size(s), 3, "three good entries");
	is_str(errors, "6: not a domain name\n7: an address in a list of domains\n",
	       "bad lines are reported with their numbers");
	ok(has(s, "example.com"), "example.com: the domain itself");
	ok(!has(s, "mail.example.com"), "example.com does not cover its subdomains");
	ok(has(s, "mail.example.net") && has(s, "a.b.example.net"), ".example.net: its subdomains");
	ok(!has(s, "example.net"), ".example.net does not cover the domain itself");
	ok(!has(s, "badexample.net"), "a suffix that is not a subdomain is not listed");
	ok(has(s, "xn--bcher-kva.example"), "an IDN entry matches its A-label");
	name_set_free(s);
}

static void test_recipients(void)
{
	static const char text[] = "postmaster@\nAlice@Example.com\n.lists.example.org\noptout.example\n";
	struct name_set *s;

	errors[0] = '\0';
	s = name_set_load(NAMES_RECIPIENTS, text, sizeof(text) - 1, on_error, NULL);
	is_int(name_set_size(s), 4, "four recipient entries");
	ok(rcpt(s, "postmaster@anywhere.test"), "a local part in any domain");
	ok(rcpt(s, "ALICE@example.COM"), "a whole address, whatever the case");
	ok(!rcpt(s, "alice@example.net"), "the same local part elsewhere is not listed");
	ok(rcpt(s, "bob@users.lists.example.org"), "a subdomain entry");
	ok(rcpt(s, "anyone@optout.example"), "a domain entry");
	ok(!rcpt(s, "anyone"), "no '@': not an address");
	name_set_free(s);
}

int main(void)
{
	test_domains();
	test_recipients();
	return tap_done();
}
