/*
 * domain - domain names taken from untrusted request attributes (sender, helo_name,
 * client_name) made fit for a DNS query or a list lookup.
 *
 * A clean domain is lower case, has no final dot, at least two labels, labels of
 * letters, digits, '-' and '_' (1 to 63 bytes), at most 253 bytes in all, and is
 * not an address literal or Postfix's "unknown". Internationalised names are
 * converted to their A-labels (IDNA2008 with the UTS #46 mapping, libidn2), so
 * that "bücher.example" is asked as "xn--bcher-kva.example", as list operators
 * publish it. Memory: the caller owns every buffer; a conversion of a non-ASCII
 * name allocates inside libidn2 and frees before returning.
 */
#ifndef POLICYD_DOMAIN_H
#define POLICYD_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

/* The longest clean domain, plus its terminator. */
#define DOMAIN_MAX 253
#define DOMAIN_SIZE (DOMAIN_MAX + 1)

/*
 * domain_clean - s[0..len) (untrusted) as a clean domain into out (size at least
 * DOMAIN_SIZE), NUL-terminated; returns its length, or 0 when s is not a usable
 * domain.
 */
size_t domain_clean(const char *s, size_t len, char *out, size_t size);

/*
 * domain_of_address - the domain part of an untrusted mail address: what follows the
 * last '@', or for a quoted local part ("x@y"@example.org) what follows the closing
 * quote's '@'. False when there is no domain part (no '@', "<>", "postmaster").
 */
bool domain_of_address(const char *addr, size_t len, const char **domain, size_t *domain_len);

/*
 * domain_within - whether clean domain d equals parent, or (subdomains) ends in
 * "." + parent. Both lower case.
 */
bool domain_within(const char *d, size_t len, const char *parent, size_t parent_len,
		   bool subdomains);

#endif
