/*
 * domain - cleaning of untrusted domain names, address parsing for the sender's
 * domain, IDN conversion (see domain.h). Nothing is kept between calls.
 */
#include "domain.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

/* ascii_lower - an ASCII letter in lower case, other bytes unchanged. */
static char ascii_lower(unsigned char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* label_char - letters, digits, '-' and '_' (used by some list operators' zones). */
static bool label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * clean_ascii - the checks of domain.h on an ASCII name, lower-cased into out. An
 * IPv4 address passes the label rules; it is told apart by its last label, which
 * is all digits (no top-level domain is); IPv6 addresses hold ':', never in a label.
 */
static size_t clean_ascii(const char *s, size_t len, char *out, size_t size)
{
	size_t label = 0, labels = 1;
	bool digits = true; /* the current label is digits only */

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_MAX || len >= size || s[0] == '[' ||
	    (len == 7 && memcmp(s, "unknown", 7) == 0))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = ascii_lower((unsigned char)s[i]);
		if (c == '.') {
			if (label == 0)
				return 0;
			labels++;
			label = 0;
			digits = true;
		} else if (!label_char((unsigned char)c) || ++label > 63) {
			return 0;
		} else {
			digits = digits && c >= '0' && c <= '9';
		}
		out[i] = c;
	}
	if (label == 0 || labels < 2 || digits)
		return 0;
	out[len] = '\0';
	return len;
}

/* domain_clean - ASCII names are checked as they are; others go through libidn2 first. */
size_t domain_clean(const char *s, size_t len, char *out, size_t size)
{
	bool ascii = true;
	char input[DOMAIN_MAX * 4 + 1];
	char *converted = NULL;
	size_t n;

	for (size_t i = 0; i < len && ascii; i++)
		ascii = (unsigned char)s[i] < 0x80 && s[i] != '\0';
	if (ascii)
		return clean_ascii(s, len, out, size);
	/* A UTF-8 name of 253 characters takes at most four bytes each. */
	if (len >= sizeof(input) || memchr(s, '\0', len) != NULL)
		return 0;
	memcpy(input, s, len);
	input[len] = '\0';
	if (idn2_to_ascii_8z(input, &converted, IDN2_NONTRANSITIONAL) != IDN2_OK)
		return 0;
	n = clean_ascii(converted, strlen(converted), out, size);
	idn2_free(converted);
	return n;
}

/* domain_of_address - the quoted local part is skipped as a unit, escapes included. */
bool domain_of_address(const char *addr, size_t len, const char **domain, size_t *domain_len)
{
	const char *at = NULL;

	if (len > 0 && addr[0] == '"') {
		size_t i = 1;
		while (i < len && addr[i] != '"')
			i += addr[i] == '\\' ? 2 : 1;
		if (i + 1 >= len || addr[i + 1] != '@')
			return false;
		at = addr + i + 1;
	}
	/* The last '@' either way: a source route (@a,@b:user@example.org) and
	 * "x@y@example.org" both end in the domain that delivers the mail. */
	for (size_t i = len; i > 0 && (at == NULL || addr + i - 1 > at); i--) {
		if (addr[i - 1] == '@') {
			at = addr + i - 1;
			break;
		}
	}
	if (at == NULL || at + 1 >= addr + len)
		return false;
	*domain = at + 1;
	*domain_len = len - (size_t)(at + 1 - addr);
	return true;
}

/* domain_within - suffix match on a label boundary. */
bool domain_within(const char *d, size_t len, const char *parent, size_t parent_len,
		   bool subdomains)
{
	if (!subdomains)
		return len == parent_len && memcmp(d, parent, len) == 0;
	return len > parent_len && d[len - parent_len - 1] == '.' &&
	       memcmp(d + len - parent_len, parent, parent_len) == 0;
}
