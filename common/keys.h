/*
 * keys - which cache keys a request needs: the client address (every DNSBL and
 * DNSWL is asked about it) and each distinct domain that some RHSBL checks
 * (the sender's domain, helo_name, client_name, reverse_client_name), and the
 * whole sender address when some hashed list checks it.
 *
 * A key is a kind byte and the bytes that identify it: '4' or '6' and the
 * address in network order, 'D' and a clean domain (see domain.h), or 'M' and a
 * clean sender address (keys_clean_address): a hashed list's query name is the
 * address's hash, which each list computes with its own `hash`. The same
 * key serves every list of its kind, and is the verdict cache's key. Request
 * attributes are untrusted; they are cleaned before they become keys. Memory:
 * everything is a plain value in the caller's storage.
 */
#ifndef POLICYD_KEYS_H
#define POLICYD_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "digest.h"
#include "domain.h"

struct request;

/* One address key, up to four domains and the sender address. */
#define KEYS_MAX 6
/* The longest query name: a 253-byte domain under a 253-byte zone, with room. */
#define KEYS_QUERY_MAX 512

struct key {
	uint8_t len;
	uint8_t bytes[1 + DOMAIN_MAX];
};

struct keyset {
	unsigned count;
	struct key key[KEYS_MAX];
	unsigned sources[KEYS_MAX]; /* SOURCE_* bits of a domain key; 0 for the address */
};

/* key_for_address / key_for_domain - build a key ("4"/"6" + bytes, "D" + clean domain). */
void key_for_address(struct key *k, const struct addr *a);
void key_for_domain(struct key *k, const char *domain, size_t len);

/* What a key identifies, read from its kind byte. */
enum key_family { KEY_V4, KEY_V6, KEY_DOMAIN, KEY_MAILBOX };

/* key_family - KEY_V4 ('4'), KEY_V6 ('6'), KEY_DOMAIN ('D') or KEY_MAILBOX ('M'). */
static inline enum key_family key_family(const struct key *k)
{
	return k->bytes[0] == 'D'   ? KEY_DOMAIN
	       : k->bytes[0] == 'M' ? KEY_MAILBOX
	       : k->bytes[0] == '6' ? KEY_V6
				    : KEY_V4;
}

static inline bool key_is_domain(const struct key *k)
{
	return key_family(k) == KEY_DOMAIN;
}

/* key_is_name - a domain or a sender address: a key whose text is what is listed. */
static inline bool key_is_name(const struct key *k)
{
	return k->bytes[0] == 'D' || k->bytes[0] == 'M';
}

/*
 * keys_clean_address - the sender address made a hashed list's key, untrusted
 * input: ASCII letters lowercased, the rest as it is; refused (0) when empty, longer
 * than DOMAIN_MAX, without '@', or holding a byte outside printable ASCII. Returns
 * the length written to out (size at least DOMAIN_SIZE).
 */
size_t keys_clean_address(const char *s, size_t len, char *out, size_t size);

/* key_address - the address of an address key. */
void key_address(const struct key *k, struct addr *out);

/* key_text - the key as lists write it in TXT records: the address, or the domain. */
size_t key_text(const struct key *k, char *buf, size_t size);

/*
 * key_query - the DNS name of key k under zone: reversed address, domain, or the hex
 * of a sender address's hash (hash), dot, zone; 0 when it does not fit size.
 */
size_t key_query(const struct key *k, enum digest_kind hash, const char *zone, char *buf,
		 size_t size);

/*
 * keys_derive - the keys req needs: the address key when client is not NULL, then
 * one key per distinct clean domain among the attributes named by sources
 * (SOURCE_* bits), then the sender address when sources has SOURCE_SENDER_ADDRESS
 * (the empty sender <> has none). A domain taken from several attributes is one key
 * with their bits together.
 */
void keys_derive(const struct request *req, const struct addr *client, unsigned sources,
		 struct keyset *out);

/* keys_find - the index of the key that matches k, or -1. */
int keys_find(const struct keyset *set, const struct key *k);

#endif
