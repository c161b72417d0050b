/*
 * domain - cleaning of untrusted domain names, address parsing for the sender's
 * domain, IDN conversion (see domain.h). Nothing is kept between calls.
 */
#include "domain.h"
#include "hot.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

/*
 * label_byte - each byte as it appears in a clean name: letters in lower case; digits, '-',
 * '_' (used by some list operators' zones) and '.' as they are; 0 for every other byte. One
 * load per byte instead of a chain of range tests: this runs on every domain of every
 * request.
 */
/* clang-format off */
static const unsigned char label_byte[256] = {
	  0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0, /* 0x00 */
	  0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0, /* 0x10 */
	  0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0, '-', '.',   0, /* 0x20 */
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9',   0,   0,   0,   0,   0,   0, /* 0x30 */
	  0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', /* 0x40 */
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',   0,   0,   0,   0, '_', /* 0x50 */
	  0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', /* 0x60 */
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',   0,   0,   0,   0,   0, /* 0x70 */
	/* 0x80 to 0xff: 0 */
};
/* clang-format on */

/* all_digits - whether s[0..len) is digits only. */
static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * clean_ascii - the checks of domain.h on an ASCII name, lower-cased into out. An
 * IPv4 address passes the label rules; it is told apart by its last label, which
 * is all digits (no top-level domain is); IPv6 addresses hold ':', never in a label.
 */
HOT static size_t clean_ascii(const char *s, size_t len, char *out, size_t size)
{
	size_t label = 0, labels = 1; /* label: where the current label starts */

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_MAX || len >= size || s[0] == '[' ||
	    (len == 7 && memcmp(s, "unknown", 7) == 0))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = label_byte[(unsigned char)s[i]];
		if (c == 0)
			return 0;
		if (c == '.') {
			if (i == label || i - label > 63)
				return 0;
			labels++;
			label = i + 1;
		}
		out[i] = (char)c;
	}
	if (len == label || len - label > 63 || labels < 2 || all_digits(out + label, len - label))
		return 0;
	out[len] = '\0';
	return len;
}

/* ascii - whether s[0..len) has no byte above 0x7f. */
static bool ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * domain_clean - names are checked as ASCII first, the common case; only a name that fails
 * and holds bytes above 0x7f goes through libidn2, whatever its length in UTF-8.
 */
HOT size_t domain_clean(const char *s, size_t len, char *out, size_t size)
{
	char input[DOMAIN_MAX * 4 + 1];
	char *converted = NULL;
	size_t n = clean_ascii(s, len, out, size);

	if (n > 0 || ascii(s, len))
		return n;
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
HOT bool domain_of_address(const char *addr, size_t len, const char **domain, size_t *domain_len)
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
