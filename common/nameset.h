/*
 * nameset - the entries of a local list of names: domains (for the sender's
 * domain, helo_name or client_name) or recipients, read from a list file.
 *
 * Domain entries follow Postfix's convention: "example.com" is that domain only,
 * ".example.com" any of its subdomains (list both for both). Recipient entries
 * are a whole address ("user@example.com"), a local part in any domain
 * ("postmaster@"), or a domain as above. Entries and queries are compared in
 * lower case, local parts unquoted ("user"@ is user@), domains as clean A-labels
 * (domain.h). A recipient is looked up as Postfix's access maps look up an address
 * (access(5), EMAIL ADDRESS PATTERNS): user+ext@domain, then user@domain without
 * the address extension, then user+ext@ and user@, then the domain. A lookup is a
 * few binary searches and allocates nothing.
 *
 * Memory: a name_set owns one text block with every entry and a sorted index into
 * it; name_set_free releases both. Files are untrusted only in the sense that they
 * may be wrong: every bad line is reported with its number.
 */
#ifndef POLICYD_NAMESET_H
#define POLICYD_NAMESET_H

#include <stdbool.h>
#include <stddef.h>

/* The longest local part an entry may have (RFC 5321). */
#define RECIPIENT_LOCAL_MAX 64

struct name_set;

/*
 * A recipient address taken apart once for the lookups of every list and of the
 * exempt recipients. The local part is in Postfix's internal form, which is what
 * Postfix sends (a quoted "user+ext" arrives unquoted; quotes a client still sends
 * are taken off the same way), and in lower case. Its address extension starts at
 * the first of the delimiter characters, as Postfix's split_addr() decides: not
 * when the local part starts with one (the user part would be empty), and never
 * in postmaster, mailer-daemon and double-bounce, nor, when '-' is a delimiter,
 * in owner-* and *-request, which Postfix does not split either.
 */
struct recipient {
	char local[RECIPIENT_LOCAL_MAX + 1]; /* "user+ext", NUL-terminated */
	size_t local_len;                    /* 0: no local part that an entry could match */
	size_t user_len;    /* the local part without its extension ("user"); local_len if none */
	const char *domain; /* what follows the domain's '@', untrusted and as sent; NULL: none */
	size_t domain_len;
};

enum name_kind { NAMES_DOMAINS, NAMES_RECIPIENTS };

typedef void name_error_fn(void *ctx, unsigned line, const char *message);

/*
 * name_set_load - the entries of a list file held in memory: one a line, '#' starts
 * a comment, blank lines ignored. Each bad line is reported through on_error and
 * skipped. NULL when memory runs out.
 */
struct name_set *name_set_load(enum name_kind kind, const char *text, size_t len,
			       name_error_fn *on_error, void *ctx);
void name_set_free(struct name_set *s);
size_t name_set_size(const struct name_set *s);

/* name_set_has_domain - whether clean domain d (lower case) is listed, itself or by a parent. */
bool name_set_has_domain(const struct name_set *s, const char *d, size_t len);

/*
 * recipient_parse - an untrusted recipient address (a bare local part such as
 * "postmaster" included, which RFC 5321 lets a client send) into r. delimiters are
 * the characters that start an extension ("+", "+-"; "" for none). The domain is
 * what follows the last '@' (domain_of_address).
 */
void recipient_parse(struct recipient *r, const char *addr, size_t len, const char *delimiters);

/*
 * name_set_has_recipient - whether a parsed recipient is listed: the address with
 * and without its extension, its local part with and without it, or its domain.
 */
bool name_set_has_recipient(const struct name_set *s, const struct recipient *r);

#endif
