/*
 * nameset - the entries of a local list of names: domains (for the sender's
 * domain, helo_name or client_name) or recipients, read from a list file.
 *
 * Domain entries follow Postfix's convention: "example.com" is that domain only,
 * ".example.com" any of its subdomains (list both for both). Recipient entries
 * are a whole address ("user@example.com"), a local part in any domain
 * ("postmaster@"), or a domain as above. Entries and queries are compared in
 * lower case, domains as clean A-labels (domain.h). A lookup is a few binary
 * searches and allocates nothing.
 *
 * Memory: a name_set owns one text block with every entry and a sorted index into
 * it; name_set_free releases both. Files are untrusted only in the sense that they
 * may be wrong: every bad line is reported with its number.
 */
#ifndef POLICYD_NAMESET_H
#define POLICYD_NAMESET_H

#include <stdbool.h>
#include <stddef.h>

struct name_set;

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
 * name_set_has_recipient - whether an untrusted recipient address is listed: the
 * address, its local part, or its domain.
 */
bool name_set_has_recipient(const struct name_set *s, const char *addr, size_t len);

#endif
