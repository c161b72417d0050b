/*
 * keys - deriving a request's cache keys (see keys.h). Domains are cleaned with
 * domain_clean, so that keys, query names and cached reasons only ever hold clean
 * lower-case A-labels; a sender address only printable ASCII, letters lowercased.
 */
#include "keys.h"
#include "hot.h"

#include <stdio.h>
#include <string.h>

#include "request.h"
#include "rules.h"

/* key_for_address - '4' or '6' then the address bytes. */
void key_for_address(struct key *k, const struct addr *a)
{
	size_t n = a->family == ADDR_V4 ? 4 : 16;

	k->bytes[0] = a->family == ADDR_V4 ? '4' : '6';
	memcpy(k->bytes + 1, a->bytes, n);
	k->len = (uint8_t)(1 + n);
}

/* key_for_domain - 'D' then the clean domain (at most DOMAIN_MAX bytes). */
void key_for_domain(struct key *k, const char *domain, size_t len)
{
	if (len > DOMAIN_MAX)
		len = DOMAIN_MAX;
	k->bytes[0] = 'D';
	memcpy(k->bytes + 1, domain, len);
	k->len = (uint8_t)(1 + len);
}

/* key_address - the bytes back into a struct addr. */
void key_address(const struct key *k, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = key_family(k) == KEY_V4 ? ADDR_V4 : ADDR_V6;
	memcpy(out->bytes, k->bytes + 1, out->family == ADDR_V4 ? 4 : 16);
}

/* key_text - the domain or sender address as it is, or the address in its canonical form. */
size_t key_text(const struct key *k, char *buf, size_t size)
{
	if (key_is_name(k)) {
		size_t n = k->len - 1u < size - 1 ? k->len - 1u : size - 1;
		memcpy(buf, k->bytes + 1, n);
		buf[n] = '\0';
		return n;
	}
	struct addr a;
	key_address(k, &a);
	return addr_format(&a, buf, size);
}

/*
 * key_query - RFC 5782: reversed octets or nibbles for addresses, the domain as it is;
 * a sender address's hash in lowercase hex.
 */
size_t key_query(const struct key *k, enum digest_kind hash, const char *zone, char *buf,
		 size_t size)
{
	char prefix[DOMAIN_SIZE];
	int n;

	if (key_family(k) == KEY_MAILBOX) {
		if (digest_hex(hash, k->bytes + 1, k->len - 1u, prefix, sizeof(prefix)) == 0)
			return 0;
	} else if (key_is_domain(k)) {
		key_text(k, prefix, sizeof(prefix));
	} else {
		struct addr a;
		key_address(k, &a);
		addr_reverse_name(&a, prefix, sizeof(prefix));
	}
	n = snprintf(buf, size, "%s.%s", prefix, zone);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

/*
 * add_domain - one more domain key, or one more source bit for a key already there. The
 * name is compared with the keys in place and written once into its slot: a struct key
 * is 255 bytes, too many to build aside and copy for every domain of every request.
 */
static void add_domain(struct keyset *out, const char *domain, size_t len, unsigned source)
{
	if (len > DOMAIN_MAX)
		len = DOMAIN_MAX;
	for (unsigned i = 0; i < out->count; i++) {
		const struct key *k = &out->key[i];
		if (k->len == len + 1 && k->bytes[0] == 'D' &&
		    memcmp(k->bytes + 1, domain, len) == 0) {
			out->sources[i] |= source;
			return;
		}
	}
	if (out->count == KEYS_MAX)
		return;
	key_for_domain(&out->key[out->count], domain, len);
	out->sources[out->count++] = source;
}

/* keys_derive - the address first, then the domains in a fixed order. */
HOT void keys_derive(const struct request *req, const struct addr *client, unsigned sources,
		     struct keyset *out)
{
	static const struct {
		unsigned source;
		enum request_key attr;
	} from[] = {
		{ SOURCE_SENDER, REQ_SENDER },
		{ SOURCE_HELO, REQ_HELO_NAME },
		{ SOURCE_CLIENT_NAME, REQ_CLIENT_NAME },
		{ SOURCE_REVERSE_CLIENT_NAME, REQ_REVERSE_CLIENT_NAME },
	};

	out->count = 0;
	if (client != NULL) {
		key_for_address(&out->key[0], client);
		out->sources[0] = 0;
		out->count = 1;
	}
	for (size_t s = 0; s < sizeof(from) / sizeof(from[0]); s++) {
		char domain[DOMAIN_SIZE];
		size_t len, n;
		const char *v;

		if (!(sources & from[s].source))
			continue;
		v = request_get(req, from[s].attr, &len);
		if (from[s].attr == REQ_SENDER && !domain_of_address(v, len, &v, &len))
			continue;
		n = domain_clean(v, len, domain, sizeof(domain));
		if (n > 0)
			add_domain(out, domain, n, from[s].source);
	}
	if ((sources & SOURCE_SENDER_ADDRESS) && out->count < KEYS_MAX) {
		char mailbox[DOMAIN_SIZE];
		size_t len, n;
		const char *v = request_get(req, REQ_SENDER, &len);
		struct key *k = &out->key[out->count];
		if ((n = keys_clean_address(v, len, mailbox, sizeof(mailbox))) > 0) {
			k->bytes[0] = 'M';
			memcpy(k->bytes + 1, mailbox, n);
			k->len = (uint8_t)(1 + n);
			out->sources[out->count++] = SOURCE_SENDER_ADDRESS;
		}
	}
}

/* keys_clean_address - printable ASCII only, letters lowercased, an '@' somewhere. */
size_t keys_clean_address(const char *s, size_t len, char *out, size_t size)
{
	bool at = false;

	if (len == 0 || len > DOMAIN_MAX || len >= size)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f)
			return 0;
		at |= c == '@';
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[len] = '\0';
	return at ? len : 0;
}

/* keys_find - linear: a request has at most KEYS_MAX keys. */
int keys_find(const struct keyset *set, const struct key *k)
{
	for (unsigned i = 0; i < set->count; i++)
		if (set->key[i].len == k->len && memcmp(set->key[i].bytes, k->bytes, k->len) == 0)
			return (int)i;
	return -1;
}
