/*
 * greylist - the triplet and the rules of greylisting (see greylist.h). Pure
 * functions; nothing is allocated.
 */
#include "greylist.h"

#include <stdio.h>
#include <string.h>

/* An hour: a network's proven retries count at most once an hour, as postgrey's. */
#define COUNT_SPACING_S 3600u

const char *greylist_answer_name(enum greylist_answer a)
{
	static const char *const names[] = {
		[GREYLIST_NEW] = "new",         [GREYLIST_EARLY] = "early",
		[GREYLIST_RETRIED] = "retried", [GREYLIST_KNOWN] = "known",
		[GREYLIST_ALLOWED] = "allowed", [GREYLIST_UNAVAILABLE] = "unavailable",
	};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "unknown";
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* last_at - the last '@' of an address (the local part may quote one), or NULL. */
static char *last_at(char *s, size_t len)
{
	while (len > 0)
		if (s[--len] == '@')
			return s + len;
	return NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A BATV tag: ten or more characters of [0-9a-z] at the start (postgrey's test). */
static bool batv_tag(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && (is_digit(s[n]) || (s[n] >= 'a' && s[n] <= 'z')))
		n++;
	return n >= 10;
}

/*
 * strip_batv - "prvs=TAG=user" or "prvs=user=TAG" (some senders swap them) becomes
 * "user": the tag changes with each message. Works on the lowercased local part.
 */
static size_t strip_batv(char *local, size_t len)
{
	const char *a, *b, *end = local + len;
	const char *keep;
	size_t keep_len;

	if (len < 5 || memcmp(local, "prvs=", 5) != 0)
		return len;
	a = local + 5;
	b = memchr(a, '=', (size_t)(end - a));
	if (b == NULL || memchr(b + 1, '=', (size_t)(end - b - 1)) != NULL)
		return len;
	b++;
	/* Which half is the tag: the one that looks like one, else the standard order. */
	if (batv_tag(b, (size_t)(end - b)) && !batv_tag(a, (size_t)(b - 1 - a))) {
		keep = a;
		keep_len = (size_t)(b - 1 - a);
	} else {
		keep = b;
		keep_len = (size_t)(end - b);
	}
	memmove(local, keep, keep_len);
	return keep_len;
}

/*
 * strip_srs - an SRS address "srs0=HASH=TT=orig.example=user@fwd" (or SRS1's
 * "srs1=HASH=fwd1==HASH=TT=orig.example=user@fwd2") names the original sender
 * "user@orig.example", which stays the same from one message to the next. Writes
 * it over out; returns its length, or 0 when the local part is not SRS.
 */
static size_t strip_srs(char *out, size_t local_len)
{
	char *p = out, *end = out + local_len, *fields[3];
	char *dd;

	if (local_len < 5 || (memcmp(out, "srs0=", 5) != 0 && memcmp(out, "srs1=", 5) != 0))
		return 0;
	/* SRS1: the original's fields follow the "==" that ends the first hop. */
	if (out[3] == '1') {
		for (dd = p + 5; dd + 1 < end && !(dd[0] == '=' && dd[1] == '='); dd++)
			;
		if (dd + 1 >= end)
			return 0;
		p = dd + 2;
	} else {
		p += 5;
	}
	/* HASH=TT=DOMAIN=USER: the user is everything after the third '=' (it may hold '='). */
	for (int i = 0; i < 3; i++) {
		char *eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL)
			return 0;
		fields[i] = eq + 1;
		p = eq + 1;
	}
	char *domain = fields[1];
	size_t domain_len = (size_t)(fields[2] - 1 - domain);
	char *user = fields[2];
	size_t user_len = (size_t)(end - user);
	char tmp[GREYLIST_ADDRESS_MAX];

	if (domain_len == 0 || user_len == 0 || user_len + 1 + domain_len >= sizeof(tmp))
		return 0;
	memcpy(tmp, user, user_len);
	tmp[user_len] = '@';
	memcpy(tmp + user_len + 1, domain, domain_len);
	memcpy(out, tmp, user_len + 1 + domain_len);
	return user_len + 1 + domain_len;
}

/*
 * strip_verp - "user+ext" becomes "user", and a run of digits standing alone (at the
 * start or end, or between characters that are not letters or digits) becomes "#":
 * list software puts a message or subscriber number there.
 */
static size_t strip_verp(char *local, size_t len)
{
	size_t w = 0;
	char *plus = memchr(local, '+', len);

	if (plus != NULL)
		len = (size_t)(plus - local);
	for (size_t r = 0; r < len;) {
		bool start = r == 0 || !(is_digit(local[r - 1]) ||
					 (local[r - 1] >= 'a' && local[r - 1] <= 'z'));
		if (start && is_digit(local[r])) {
			size_t e = r;
			while (e < len && is_digit(local[e]))
				e++;
			bool end = e == len || !(local[e] >= 'a' && local[e] <= 'z');
			if (end) {
				local[w++] = '#';
				r = e;
				continue;
			}
			while (r < e)
				local[w++] = local[r++];
			continue;
		}
		local[w++] = local[r++];
	}
	return w;
}

/* strip_local - BATV and VERP parts out of the local part of a lowercased address. */
static size_t strip_local(char *addr, size_t len)
{
	char *at = last_at(addr, len);
	char domain[GREYLIST_ADDRESS_MAX];
	size_t local_len, domain_len;

	if (at == NULL)
		return len;
	local_len = (size_t)(at - addr);
	domain_len = len - local_len - 1;
	memcpy(domain, at + 1, domain_len);
	local_len = strip_batv(addr, local_len);
	local_len = strip_verp(addr, local_len);
	addr[local_len] = '@';
	memcpy(addr + local_len + 1, domain, domain_len);
	return local_len + 1 + domain_len;
}

/* greylist_sender - lower case, then SRS, BATV and VERP parts out (see greylist.h). */
size_t greylist_sender(const char *sender, size_t len, char *out)
{
	char *at;
	size_t n;

	if (len > GREYLIST_ADDRESS_MAX - 1)
		len = GREYLIST_ADDRESS_MAX - 1;
	for (size_t i = 0; i < len; i++)
		out[i] = lower(sender[i]);
	at = last_at(out, len);
	/* An SRS address stands for the original sender's, which is then stripped as any. */
	if (at != NULL && (n = strip_srs(out, (size_t)(at - out))) != 0)
		len = n;
	len = strip_local(out, len);
	out[len] = '\0';
	return len;
}

/* network - the client's network as "base/prefix" into out. */
static size_t network(const struct greylist_rules *g, const struct addr *client, char *out)
{
	struct addr base = *client;
	unsigned prefix = client->family == ADDR_V4 ? g->network_v4 : g->network_v6;
	unsigned bits = client->family == ADDR_V4 ? 32 : 128;
	size_t n;

	/* The complement in parentheses: clang-format 14 and 19 disagree about a blank
	 * between a cast and ~, and the source must satisfy both. */
	for (unsigned b = prefix; b < bits; b++)
		base.bytes[b / 8] &= (uint8_t)(~(0x80u >> (b % 8)));
	n = addr_format(&base, out, GREYLIST_NETWORK_MAX);
	n += (size_t)snprintf(out + n, GREYLIST_NETWORK_MAX - n, "/%u", prefix);
	return n;
}

/* greylist_make_key - SHA-1 of "network sender recipient", each normalised. */
bool greylist_make_key(const struct greylist_rules *g, const struct addr *client,
		       const char *sender, size_t sender_len, const char *recipient,
		       size_t recipient_len, struct greylist_key *out)
{
	char text[GREYLIST_NETWORK_MAX + 2 * GREYLIST_ADDRESS_MAX + 2];
	size_t n;

	if (recipient == NULL || recipient_len == 0)
		return false;
	out->network_len = network(g, client, out->network);
	memcpy(text, out->network, out->network_len);
	n = out->network_len;
	text[n++] = ' ';
	n += greylist_sender(sender != NULL ? sender : "", sender != NULL ? sender_len : 0,
			     text + n);
	text[n++] = ' ';
	if (recipient_len > GREYLIST_ADDRESS_MAX - 1)
		recipient_len = GREYLIST_ADDRESS_MAX - 1;
	for (size_t i = 0; i < recipient_len; i++)
		text[n++] = lower(recipient[i]);
	digest_sha1(text, n, out->triplet);
	return true;
}

/*
 * greylist_triplet_step - the rules of greylist.h for one triplet. Times are whole
 * seconds: a retry passes only when more than `delay` seconds have gone by on that
 * clock, so that it never passes before `delay` has really passed.
 */
struct greylist_step greylist_triplet_step(const struct greylist_rules *g, uint32_t value,
					   uint32_t now)
{
	struct greylist_step s = { .keep = true };

	if (value == GREYLIST_PASSED) {
		s.answer = GREYLIST_KNOWN;
		s.value = GREYLIST_PASSED;
		s.expires = now + g->pass_ttl_s;
	} else if (value != 0 && value <= now && now - value > g->delay_s) {
		s.answer = GREYLIST_RETRIED;
		s.value = GREYLIST_PASSED;
		s.expires = now + g->pass_ttl_s;
	} else if (value != 0 && value <= now) {
		/* Too early: the first sighting stands, and so does its expiry. */
		s.answer = GREYLIST_EARLY;
		/* What is left of the delay, as the first deferral said it (at least 1). */
		s.retry_s = now - value < g->delay_s ? g->delay_s - (now - value) : 1;
		s.keep = false;
	} else {
		/* New, or first seen "in the future" (a clock set back): start again now. */
		s.answer = GREYLIST_NEW;
		s.retry_s = g->delay_s;
		s.value = now;
		s.expires = now + g->max_wait_s;
	}
	return s;
}

/* A network's value: its count of proven retries (low 8 bits), the hour of the last. */
static unsigned network_count(uint32_t value)
{
	return value & 0xffu;
}

static uint32_t network_hour(uint32_t value)
{
	return value >> 8;
}

/* greylist_network_allowed - auto_allow proven retries seen. */
bool greylist_network_allowed(const struct greylist_rules *g, uint32_t value)
{
	return g->auto_allow > 0 && network_count(value) >= g->auto_allow;
}

/*
 * greylist_network_step - a proven retry counts when none has counted in the same
 * hour (so that one message to ten recipients counts once); an allowed network's
 * pass only keeps it alive.
 */
struct greylist_step greylist_network_step(const struct greylist_rules *g, uint32_t value,
					   enum greylist_answer answer, uint32_t now)
{
	struct greylist_step s = { .answer = answer, .value = value };
	uint32_t hour = now / COUNT_SPACING_S;
	unsigned count = network_count(value);

	if (g->auto_allow == 0 || (answer != GREYLIST_RETRIED && answer != GREYLIST_ALLOWED))
		return s;
	if (answer == GREYLIST_RETRIED && (value == 0 || hour > network_hour(value)) &&
	    count < 0xff)
		s.value = (hour << 8) | (count + 1);
	s.keep = true;
	s.expires = now + g->pass_ttl_s;
	return s;
}
