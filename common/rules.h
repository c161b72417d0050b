/*
 * rules - what the configuration says about deciding: the lists (DNSBL, DNSWL,
 * RHSBL and the site's own lists) and the [policy] section, as plain data.
 *
 * The configuration loader (policyd/config) fills these structures; the pure
 * modules of common/ (keys, score, reply) and the engine read them. Nothing here
 * has code: it is the vocabulary shared by both floors. Memory: every pointer is
 * owned by the configuration that holds the rules; a struct rules is immutable
 * once loaded, except the contents of local list files, whose sets are swapped
 * whole when a file changes.
 */
#ifndef POLICYD_RULES_H
#define POLICYD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codes.h"
#include "digest.h"
#include "greylist.h"

struct cidr_set;
struct name_set;
struct template;

/* The most list sections a configuration may have (per-request state is sized by it). */
#define RULES_MAX_LISTS 64

/* LIST_HASHBL: hashed lookups (HASH.ZONE) of the whole sender address (Spamhaus HBL). */
enum list_kind { LIST_DNSBL, LIST_DNSWL, LIST_RHSBL, LIST_LOCAL, LIST_HASHBL };

/*
 * Where a name that a list is asked about comes from. An RHSBL's `check` is a set
 * of these bits; a hit records the one that matched (0: the client address).
 */
enum {
	SOURCE_SENDER = 1,              /* the domain after the sender's last '@' */
	SOURCE_HELO = 2,                /* helo_name */
	SOURCE_CLIENT_NAME = 4,         /* client_name */
	SOURCE_REVERSE_CLIENT_NAME = 8, /* reverse_client_name */
	SOURCE_RECIPIENT = 16,          /* recipient: local lists only */
	SOURCE_SENDER_ADDRESS = 32,     /* the whole sender address, lowercased: hashed lists */
};

/* What a local list holds, one entry a line (policyd.ini(5), [list NAME] type). */
enum local_type {
	LOCAL_ADDRESS,       /* addresses and CIDR ranges of the client */
	LOCAL_SENDER_DOMAIN, /* domains: "example.com" that domain, ".example.com" its subdomains */
	LOCAL_HELO,          /* domains, matched against helo_name */
	LOCAL_CLIENT_NAME,   /* domains, matched against client_name */
	LOCAL_RECIPIENT,     /* addresses, "user@" local parts and domains of the recipient */
};

/* Whether a DNSBL or DNSWL is asked about IPv6 clients (policyd.ini(5), `ipv6`). */
enum list_ipv6 {
	LIST_IPV6_AUTO, /* when its health check finds RFC 5782's IPv6 test points as they must be */
	LIST_IPV6_YES,
	LIST_IPV6_NO,
};

/*
 * Which requests a list checks, by their SASL login (`clients =`): bits, so that
 * CLIENTS_ALL is both. 0 while loading means "not given": the default follows
 * [policy] skip_authenticated (yes: unauthenticated, no: all).
 */
enum {
	CLIENTS_UNAUTHENTICATED = 1, /* requests without sasl_username (the default) */
	CLIENTS_AUTHENTICATED = 2,   /* requests with one: AuthBL-style lists */
	CLIENTS_ALL = 3,
};

/* One [dnsbl|dnswl|rhsbl|hashbl|list NAME] section. */
struct list_config {
	enum list_kind kind;
	enum local_type type; /* local lists */
	/* The list's public name, from the section header: a DNS list's is a domain (lower case,
	 * no final dot). Replies, the help page, logs, metrics and every command show it. */
	char *name;
	size_t name_len; /* strlen(name), kept for the replies that show it */
	unsigned line;   /* line of the section header */
	/* DNS lists: the zone queried (lower case, no final dot; the name unless `zone =` is
	 * given). A keyed zone holds the site's key: only query names may use it. */
	char *zone;
	/* DNS lists: the zone as it may be shown (debug log lines, --check's query=): as written,
	 * with "$key" where the key goes; the zone itself when it has no key. */
	char *zone_shown;
	char *key_file;     /* DNS lists: the file whose one line is $key, absolute */
	unsigned zone_line; /* lines of `zone =` and `key_file =`, 0 when not given */
	unsigned key_file_line;
	/* DNS lists: which answers count, with per-pattern weights. Owned; never NULL in a
	 * loaded configuration. Kept apart (2.3 KiB, read only when an answer arrives or a
	 * listing is weighed) so that the lists' own fields, which every request reads, share
	 * a page instead of each taking one. */
	struct codes *codes;
	long weight;         /* what a hit adds (patterns without "*N" for DNS lists) */
	enum list_ipv6 ipv6; /* DNSBL/DNSWL: whether IPv6 clients are asked */
	bool health_off;     /* DNS lists: `health = off`, never checked nor disabled by a check */
	/* DNS lists: the query labels of the listed [0] and unlisted [1] test points (a reversed
	 * IPv4 address, or a domain for an RHSBL), NULL for RFC 5782's. A hashed list's are
	 * addresses (lower case), hashed when asked; it has no default. */
	char *test_point[2];
	/* DNS lists, `mode = observe`: looked up, counted and logged (observed=), never scored
	 * nor named in a reply. */
	bool observe;
	unsigned clients;      /* CLIENTS_* bits: the requests it checks */
	unsigned checks;       /* RHSBL: SOURCE_* bits; a hashed list: SOURCE_SENDER_ADDRESS */
	enum digest_kind hash; /* hashed lists: how the address is hashed (default sha1) */
	char *help_url_source;
	struct template *help_url; /* NULL: [policy] help_url */
	char *text_source;
	struct template *text; /* NULL: [policy] text */
	char *delist_url; /* the operator's own lookup or removal page, shown on the help page */
	char *reason;     /* local lists (and DNS lists without TXT): the reason shown */
	char *file;       /* local lists: the file, absolute */
	struct cidr_set *set;   /* LOCAL_ADDRESS: the file's ranges */
	struct name_set *names; /* other local types: the file's entries */
	unsigned seen;          /* keys given in the section, to reject duplicates */
};

/* ACTION_GREYLIST (soft_action only): DEFER_IF_PERMIT for a triplet the store has not
 * seen retried (greylist.h). */
enum action { ACTION_REJECT, ACTION_DEFER, ACTION_WARN, ACTION_PREPEND, ACTION_GREYLIST };
enum on_error_action { ON_ERROR_DUNNO, ON_ERROR_DEFER };

/* The most characters recipient_delimiter may list. */
#define RULES_DELIMITERS_MAX 16

/* One exempt recipient: a whole address, or a local part ("postmaster@"), lower case. */
struct exempt {
	char *text;
	size_t len;
	bool local_part; /* written as "local@": any domain */
};

/* The [policy] section and the lists. */
struct rules {
	long threshold;           /* at or above: refused with action */
	long allowlist_threshold; /* at or below: accepted at once, other lists ignored */
	long soft_threshold;      /* 0: off; at or above (below threshold): soft_action */
	enum action action;
	enum action soft_action;        /* defer, warn, prepend or greylist */
	struct greylist_rules greylist; /* [greylist] */
	char *greylist_text_source;
	struct template *greylist_text; /* the reply of a greylisting delay */
	char *text_source;
	struct template *text;       /* the reply for DNS lists */
	struct template *local_text; /* the reply for the site's own lists (built in, or text) */
	char *help_url_source;
	struct template *help_url;
	char *contact;
	size_t contact_len; /* strlen(contact), kept for the replies that show it */
	char *site;         /* the site's name on the help page (default: the contact's domain) */
	struct exempt *exempt; /* never refused: exempt_recipients and the contact */
	size_t exempt_count;
	/* The characters that start an address extension (user+ext@domain), as Postfix's
	 * recipient_delimiter: recipient lists and exemptions also match the address
	 * without it, since Postfix delivers it to user. Empty: no extensions. */
	char recipient_delimiter[RULES_DELIMITERS_MAX + 1];
	enum on_error_action on_error;
	/* The default of the lists' `clients`: yes, unauthenticated; no, all. */
	bool skip_authenticated;
	/* The lists (bit i: lists[i]) that check a request without [0] and with [1] a
	 * sasl_username, from their `clients`. */
	uint64_t client_lists[2];
	uint64_t dns_lists; /* the DNS lists (bit i: lists[i]), local lists aside */

	struct list_config *lists; /* in file order */
	size_t list_count;
	long dns_floor; /* the most the DNS lists together can take off a score (<= 0) */

	/* The request attributes that some reply template may show: what a request
	 * waiting for DNS keeps of itself (everything else is dropped at once). */
	char **reply_attrs;
	size_t reply_attr_count;
};

/* list_kind_name - the section keyword of a list kind ("dnsbl", ..., "list"). */
static inline const char *list_kind_name(enum list_kind kind)
{
	static const char *const names[] = { "dnsbl", "dnswl", "rhsbl", "list", "hashbl" };
	return names[kind];
}

/* list_is_address - a DNSBL or DNSWL: asked about the client address (and IPv6 clients). */
static inline bool list_is_address(enum list_kind kind)
{
	return kind == LIST_DNSBL || kind == LIST_DNSWL;
}

#endif
