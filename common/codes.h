/*
 * codes - the answer filter of a DNS list, in Postfix's syntax, and the
 * classification of DNSBL answers.
 *
 * A filter is a list of patterns separated by commas or blanks, for example
 * "127.0.0.[2..11]", "127.0.[0..255].[1..3]", "127.0.0.2, 127.0.0.4", or
 * "127.0.0.[2;4;6..8]" (Postfix's [a;b..c] lists inside brackets). Each of the
 * four octets is a number, a range [a..b], or a ';'-separated list of numbers and
 * ranges in brackets. The configuration text is untrusted only in the sense that
 * it may be wrong: every error has a message. struct codes is a plain value with
 * a fixed size; nothing is allocated.
 */
#ifndef POLICYD_CODES_H
#define POLICYD_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODES_MAX_PATTERNS 16

/* One pattern: for each octet a 256-bit set of allowed values. */
struct codes_pattern {
	uint64_t octet[4][4];
};

struct codes {
	unsigned count;
	struct codes_pattern pattern[CODES_MAX_PATTERNS];
};

/* codes_parse - parse a filter; on failure returns false with *err a static message. */
bool codes_parse(struct codes *out, const char *s, size_t len, const char **err);

/* codes_default - the default filter of spec section 3: 127.0.0.[2..255]. */
void codes_default(struct codes *out);

/* codes_match - whether the IPv4 answer (network byte order, 4 bytes) is in the filter. */
bool codes_match(const struct codes *c, const uint8_t answer[4]);

/* codes_equal - same patterns (used to decide whether a reload must empty the cache). */
bool codes_equal(const struct codes *a, const struct codes *b);

/*
 * How an A answer of a DNS list is to be taken, before the filter applies.
 * Answers outside 127.0.0.0/8 and inside 127.255.255.0/24 (Spamhaus's error
 * answers: .252 typo, .254 public resolver, .255 rate limited) are errors,
 * never listings.
 */
enum codes_answer {
	CODES_ANSWER_LISTING,   /* inside 127/8, not an error code */
	CODES_ANSWER_OUTSIDE,   /* not in 127.0.0.0/8 */
	CODES_ANSWER_REFUSED,   /* 127.255.255.0/24: the operator refused or rate-limited us */
};
enum codes_answer codes_classify(const uint8_t answer[4]);

#endif
