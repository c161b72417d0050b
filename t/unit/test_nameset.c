/*
 * test_nameset - local lists of domains and recipients (common/nameset.c): Postfix's
 * convention (example.com the domain, .example.com its subdomains), case and IDN,
 * recipients by address, local part and domain, address extensions (recipient_delimiter)
 * and quoted local parts as Postfix's access maps see them, bad lines reported with their
 * number. Links nameset.c, domain.c, addr.c.
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

/* rcpt_with - whether address a is listed when delimiters start an address extension. */
static bool rcpt_with(const struct name_set *s, const char *a, const char *delimiters)
{
	struct recipient r;

	recipient_parse(&r, a, strlen(a), delimiters);
	return name_set_has_recipient(s, &r);
}

static bool rcpt(const struct name_set *s, const char *a)
{
	return rcpt_with(s, a, "+");
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

/* test_extensions - user+ext@domain is also looked up as user@domain, as Postfix does. */
static void test_extensions(void)
{
	static const char text[] = "trap@example.org\npostmaster@\nfull+tag@example.org\n"
				   "mailer@\nowner@\n\"quoted\"@example.org\n.lists.example.net\n";
	struct name_set *s;

	errors[0] = '\0';
	s = name_set_load(NAMES_RECIPIENTS, text, sizeof(text) - 1, on_error, NULL);
	is_int(name_set_size(s), 7, "seven entries, a quoted local part among them");
	ok(rcpt(s, "trap+x@example.org"), "user+ext@domain: the entry user@domain");
	ok(rcpt(s, "TRAP+X@Example.ORG"), "user+ext@domain in any case");
	ok(rcpt(s, "trap+@example.org") && rcpt(s, "trap+a+b@example.org"),
	   "an empty extension, and an extension holding the delimiter");
	ok(rcpt(s, "postmaster+urgent@anywhere.test"), "user+ext@domain: the entry user@");
	ok(!rcpt(s, "+trap@example.org"), "a local part that starts with the delimiter is whole");
	ok(!rcpt(s, "trap-x@example.org"), "'-' is no delimiter unless listed");
	ok(rcpt_with(s, "trap-x@example.org", "+-") && rcpt_with(s, "trap-x+y@example.org", "+-"),
	   "several delimiters: the extension starts at the first of any");
	ok(!rcpt_with(s, "trap+x@example.org", ""), "no delimiters: no extension");
	ok(rcpt(s, "full+tag@example.org") && !rcpt(s, "full+other@example.org") &&
		   !rcpt(s, "full@example.org"),
	   "an entry with an extension is that address only");
	ok(!rcpt_with(s, "mailer-daemon@example.org", "-") &&
		   !rcpt_with(s, "owner-list@example.org", "+-"),
	   "mailer-daemon and owner-* are never split, as in Postfix");
	ok(rcpt(s, "\"trap+x\"@example.org"), "a quoted local part is unquoted, then split");
	ok(rcpt(s, "\"tr\\ap\"@example.org"), "escapes in a quoted local part");
	ok(!rcpt(s, "\"+trap\"@example.org"), "a quoted local part that starts with the delimiter");
	ok(!rcpt(s, "\"trap\"x@example.org"), "a broken quote matches no local part");
	ok(rcpt(s, "quoted@example.org"), "a quoted entry is its unquoted address");
	ok(rcpt(s, "\"a b\"@x.lists.example.net") &&
		   rcpt(s, "\"trap@example.org\"@x.lists.example.net"),
	   "a local part no entry can hold still leaves the domain to match");
	ok(rcpt(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "@x.lists.example.net"),
	   "so does a local part longer than 64 bytes");
	ok(rcpt(s, "postmaster"), "a bare local part (RCPT TO:<postmaster>)");
	name_set_free(s);
}

int main(void)
{
	test_domains();
	test_recipients();
	test_extensions();
	return tap_done();
}
