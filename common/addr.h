/*
 * addr - IPv4 and IPv6 addresses, CIDR ranges, sets of ranges, and DNSBL query names.
 *
 * Used for the [server] allow list, local [list] files and DNSBL lookups. All input
 * strings are untrusted (they come from clients, configuration or list files) and
 * are given with an explicit length; nothing here logs. Memory: struct addr and
 * struct cidr are plain values; a cidr_set owns its arrays and is freed by
 * cidr_set_free(). No function keeps a pointer to its input.
 */
#ifndef POLICYD_ADDR_H
#define POLICYD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

enum { ADDR_V4 = 4, ADDR_V6 = 6 };

/* An address in network byte order: IPv4 uses bytes[0..3], the rest is zero. */
struct addr {
	uint8_t family; /* ADDR_V4 or ADDR_V6 */
	uint8_t bytes[16];
};

/* Longest text form of an address plus terminator (INET6_ADDRSTRLEN). */
#define ADDR_TEXT_MAX 46
/* Longest DNSBL query name for an address, without the zone: 32 nibbles and dots. */
#define ADDR_REVERSE_MAX 64

/*
 * addr_parse - parse a bare IPv4 ("192.0.2.1") or IPv6 ("2001:db8::25") address.
 * No brackets, no port, no prefix. An IPv4-mapped IPv6 address (::ffff:192.0.2.1)
 * is returned as the IPv4 address, so that lists see the real client.
 * Returns false for anything else.
 */
bool addr_parse(struct addr *out, const char *s, size_t len);

/*
 * addr_parse_text - addr_parse, and the address's canonical text (as addr_format writes
 * it) into text (size >= ADDR_TEXT_MAX). Returns the text's length, 0 when s is not an
 * address.
 */
size_t addr_parse_text(struct addr *out, const char *s, size_t len, char *text, size_t size);

/* addr_from_sockaddr - convert an AF_INET/AF_INET6 sockaddr; mapped IPv4 as above. */
bool addr_from_sockaddr(struct addr *out, const struct sockaddr *sa);

/* addr_format - write the canonical text form into buf (size >= ADDR_TEXT_MAX). */
size_t addr_format(const struct addr *a, char *buf, size_t size);

/*
 * addr_reverse_name - the DNSBL query prefix of RFC 5782: "1.2.0.192" for 192.0.2.1,
 * 32 reversed nibbles separated by dots for IPv6. buf size >= ADDR_REVERSE_MAX.
 * Returns the length written.
 */
size_t addr_reverse_name(const struct addr *a, char *buf, size_t size);

/* addr_equal - same family and same bytes. */
bool addr_equal(const struct addr *a, const struct addr *b);

/* A CIDR range: the base address with host bits cleared, and the prefix length. */
struct cidr {
	struct addr base;
	uint8_t prefix; /* 0..32 for IPv4, 0..128 for IPv6 */
};

/*
 * cidr_parse - parse "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or
 * /128). An address with bits set after the prefix ("192.0.2.1/24") is refused, as
 * Postfix's cidr tables refuse it: it is a typo or a line cut short, never a range
 * to guess. On failure returns false and sets *err to a static message such as
 * "invalid address", "prefix length out of range" or "host bits set after the
 * prefix length".
 */
bool cidr_parse(struct cidr *out, const char *s, size_t len, const char **err);

/* cidr_contains - whether address a lies inside range c (families must match). */
bool cidr_contains(const struct cidr *c, const struct addr *a);

/*
 * cidr_set - a set of ranges with fast membership tests. Build it with cidr_set_add
 * (any order, overlaps allowed), then cidr_set_finish() sorts and merges; after that
 * cidr_set_contains() is O(log n) and allocation-free. Adding after finish is an error.
 */
struct cidr_set;

struct cidr_set *cidr_set_new(void);
void cidr_set_free(struct cidr_set *set);
/* cidr_set_add - returns false only when memory runs out. */
bool cidr_set_add(struct cidr_set *set, const struct cidr *c);
void cidr_set_finish(struct cidr_set *set);
bool cidr_set_contains(const struct cidr_set *set, const struct addr *a);
/* cidr_set_size - number of ranges after merging (after finish), or added so far. */
size_t cidr_set_size(const struct cidr_set *set);

/*
 * cidr_set_parse_list - add every range of a configuration list such as
 * "127.0.0.0/8, ::1" (separated by commas and/or blanks). On a bad item returns
 * false, sets *err to a static message and *bad and *badlen to the offending item.
 */
bool cidr_set_parse_list(struct cidr_set *set, const char *s, size_t len, const char **err,
			 const char **bad, size_t *badlen);

/*
 * cidr_set_load_text - add every range of a list file held in memory: one address or
 * CIDR a line, '#' starts a comment (whole line or after the range), blank lines
 * ignored, surrounding blanks ignored. For each bad line calls
 * on_error(ctx, line_number, message) and goes on; returns the number of bad lines
 * (0 on success), or -1 when memory runs out.
 */
typedef void cidr_error_fn(void *ctx, unsigned line, const char *message);
int cidr_set_load_text(struct cidr_set *set, const char *text, size_t len, cidr_error_fn *on_error,
		       void *ctx);

#endif
