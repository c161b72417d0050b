/*
 * greylist - the pure half of greylisting the soft tier: the triplet a request is
 * remembered by, and what a store does with what it remembers.
 *
 * The triplet is the client's network (its address with the host bits cleared at
 * network_v4 or network_v6), the sender normalised as postgrey does (lower case,
 * a BATV "prvs=" tag, an SRS wrapper, an address extension and numeric VERP parts
 * removed, so that each message of a mailing list is the same sender) and the
 * recipient, lower case. Stores keep its SHA-1, never the addresses: a store
 * shared by several hosts (Redis) holds nothing a reader could mail.
 *
 * The rules, the same in every store (the Redis script says them again in Lua):
 * - a client network auto-allowed (auto_allow proven retries) passes; its entry
 *   lives on for pass_ttl after its last pass;
 * - a triplet that passed before passes, and is remembered pass_ttl more;
 * - a triplet first seen more than `delay` ago (and less than max_wait, after which
 *   it is forgotten) passes: a proven retry, which counts towards auto_allow at
 *   most once an hour per network, as postgrey counts;
 * - anything else is deferred: a new triplet is remembered for max_wait.
 *
 * The memory store keeps each entry in 32 bits (so that it fits a pointer on every
 * architecture): a triplet's first-seen time in seconds, or GREYLIST_PASSED; a
 * network's count and the hour of its last count. Times are seconds of the Unix
 * epoch, so that a state file outlives the process. Memory: nothing is allocated;
 * all functions are pure.
 */
#ifndef POLICYD_GREYLIST_H
#define POLICYD_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "digest.h"

/* The longest normalised sender or recipient kept (a mail address is at most 254). */
#define GREYLIST_ADDRESS_MAX 256
/* "2001:db8:1:2::/64" and its NUL. */
#define GREYLIST_NETWORK_MAX (ADDR_TEXT_MAX + 4)

/* [greylist]: how long, how many, and how wide a client's network is. */
struct greylist_rules {
	uint32_t delay_s;    /* a retry at least this late passes */
	uint32_t max_wait_s; /* ... when it comes before this; then the triplet is forgotten */
	uint32_t pass_ttl_s; /* a triplet that passed, or an allowed network, is kept this long */
	unsigned auto_allow; /* proven retries after which a network passes; 0: never */
	unsigned network_v4; /* prefix lengths of the client's network */
	unsigned network_v6;
};

/* What a store answered for one request. The first two defer; the rest pass. */
enum greylist_answer {
	GREYLIST_NEW,         /* deferred: first seen now */
	GREYLIST_EARLY,       /* deferred: seen before, less than `delay` ago */
	GREYLIST_RETRIED,     /* passed: a retry after `delay` (counts towards auto_allow) */
	GREYLIST_KNOWN,       /* passed: this triplet passed before */
	GREYLIST_ALLOWED,     /* passed: the client's network is auto-allowed */
	GREYLIST_UNAVAILABLE, /* passed: the store did not answer in time, or is down */
};

/* greylist_defers - whether an answer is a deferral. */
static inline bool greylist_defers(enum greylist_answer a)
{
	return a == GREYLIST_NEW || a == GREYLIST_EARLY;
}

/* greylist_answer_name - "new", "early", "retried", "known", "allowed", "unavailable". */
const char *greylist_answer_name(enum greylist_answer a);

/* What a request is remembered by. */
struct greylist_key {
	uint8_t triplet[DIGEST_SHA1_LEN];   /* SHA-1 of "network sender recipient" */
	char network[GREYLIST_NETWORK_MAX]; /* "192.0.2.0/24": also the network's key */
	size_t network_len;
};

/*
 * greylist_sender - the sender normalised into out (size GREYLIST_ADDRESS_MAX):
 * lower case; "prvs=TAG=user@d" or "prvs=user=TAG@d" (BATV) becomes "user@d";
 * "SRS0=hash=tt=orig.example=user@fwd" (and SRS1's last hop) becomes
 * "user@orig.example"; "user+ext" becomes "user"; a run of digits standing alone
 * between punctuation in the local part becomes "#". The null sender stays empty.
 * Returns the length (cut at GREYLIST_ADDRESS_MAX - 1).
 */
size_t greylist_sender(const char *sender, size_t len, char *out);

/*
 * greylist_make_key - the key of (client, sender, recipient) under rules: false
 * when there is no recipient (greylisting needs one: check_policy_service in
 * smtpd_recipient_restrictions).
 */
bool greylist_make_key(const struct greylist_rules *g, const struct addr *client,
		       const char *sender, size_t sender_len, const char *recipient,
		       size_t recipient_len, struct greylist_key *out);

/* A triplet's 32-bit value in the memory store: its first-seen time, or this. */
#define GREYLIST_PASSED 1u

/* What a store does with one entry: the answer, and what to keep. */
struct greylist_step {
	enum greylist_answer answer;
	uint32_t retry_s; /* for a deferral: seconds until a retry passes */
	bool keep;        /* store value until expires (else leave the entry as it is) */
	uint32_t value;
	uint32_t expires;
};

/*
 * greylist_triplet_step - a request's triplet, whose stored value is `value`
 * (0: none, or expired) at `now`: what to answer and keep.
 */
struct greylist_step greylist_triplet_step(const struct greylist_rules *g, uint32_t value,
					   uint32_t now);

/* greylist_network_allowed - whether a network whose stored value is `value` passes. */
bool greylist_network_allowed(const struct greylist_rules *g, uint32_t value);

/*
 * greylist_network_step - a network's value after a request answered `answer`
 * (RETRIED counts once an hour; an allowed network's pass keeps it alive): keep
 * says whether to store value until expires.
 */
struct greylist_step greylist_network_step(const struct greylist_rules *g, uint32_t value,
					   enum greylist_answer answer, uint32_t now);

#endif
