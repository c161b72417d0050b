/*
 * codes - the answer filter of a DNS list, in Postfix's syntax, and the
 * classification of DNSBL answers.
 *
 * A filter is a list of patterns separated by commas or blanks, for example
 * "127.0.0.[2..11]", "127.0.[0..255].[1..3]", "127.0.0.2, 127.0.0.4", or
 * "127.0.0.[2;4;6..8]" (Postfix's [a;b..c] lists inside brackets). Each of the
 * four octets is a number, a range [a..b], or a ';'-separated list of numbers and
 * ranges in brackets. A pattern may carry its own weight as in Postfix's
 * postscreen_dnsbl_sites: "127.0.0.[2..3]*3, 127.0.0.[10..11]*1". Each weighted
 * pattern that matches one of a list's answers adds its weight once; the patterns
 * without a weight together add the list's own weight once. An octet may also be a
 * bit mask "&N" (N 1..255): it matches a value with any bit of N set, as URIBL's and
 * SURBL's "multi" zones encode several lists in the last octet ("127.0.0.&2*3,
 * 127.0.0.&4*1": an answer 127.0.0.6 scores 4). The configuration text is untrusted only in the sense that
 * it may be wrong: every error has a message. struct codes is a plain value with
 * a fixed size; nothing is allocated.
 *
 * A filter also holds the list's refusal answers: the answers by which an operator
 * says that it refuses our queries (127.255.255.252, .254 and .255 for every list,
 * built in; 127.0.0.255 for dnswl.org's lists and any list's refused_codes, added by
 * the loader). A refusal is never a listing nor an allowlisting.
 */
#ifndef POLICYD_CODES_H
#define POLICYD_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODES_MAX_PATTERNS 16

/* One pattern: for each octet a 256-bit set of allowed values, and its weight. */
struct codes_pattern {
	uint64_t octet[4][4];
	long weight;   /* used when weighted */
	bool weighted; /* written with "*N" */
};

/* The most a weight may be, either way (as the configuration's weights). */
#define CODES_MAX_WEIGHT 1000000

/* The most refusal answers a list may add to the built-in ones. */
#define CODES_MAX_REFUSED 8

struct codes {
	unsigned count;
	struct codes_pattern pattern[CODES_MAX_PATTERNS];
	unsigned refused_count;                /* the list's own refusal answers */
	uint8_t refused[CODES_MAX_REFUSED][4]; /* in network byte order */
};

/*
 * codes_parse - parse a filter (without refusal answers of its own); on failure returns
 * false with *err a static message.
 */
bool codes_parse(struct codes *out, const char *s, size_t len, const char **err);

/*
 * codes_parse_refused - add the refusal answers of refused_codes ("127.0.0.1, ..."):
 * addresses inside 127.0.0.0/8. On failure returns false with *err a static message
 * and *out unchanged.
 */
bool codes_parse_refused(struct codes *out, const char *s, size_t len, const char **err);

/* codes_add_refused - add one refusal answer (a built-in one); false when full. */
bool codes_add_refused(struct codes *out, const uint8_t answer[4]);

/* codes_refused - whether an answer is a refusal: built in (127.255.255.252/254/255) or the list's. */
bool codes_refused(const struct codes *c, const uint8_t answer[4]);

/* codes_default - the default filter: 127.0.0.[2..255], no refusal answers of its own. */
void codes_default(struct codes *out);

/* codes_match - whether the IPv4 answer (network byte order, 4 bytes) is in the filter. */
bool codes_match(const struct codes *c, const uint8_t answer[4]);

/*
 * codes_match_mask - which patterns the answer matches: bit i for pattern i. The
 * verdict cache keeps this mask, so that a list's weight is computed when it is read.
 */
uint32_t codes_match_mask(const struct codes *c, const uint8_t answer[4]);

/*
 * codes_weight - the score of a list whose answers matched the patterns in mask:
 * each weighted pattern its own weight, the unweighted ones list_weight once.
 */
long codes_weight(const struct codes *c, uint32_t mask, long list_weight);

/* codes_equal - the same patterns, in any order, repeated or not; weights ignored. */
bool codes_equal(const struct codes *a, const struct codes *b);

/*
 * codes_same_layout - the same patterns in the same order (weights ignored) and the
 * same refusal answers: then a cached match mask means the same patterns, and a
 * reload may keep the cache.
 */
bool codes_same_layout(const struct codes *a, const struct codes *b);

/*
 * How an A answer of a DNS list is to be taken, before the filter applies.
 * Answers outside 127.0.0.0/8 and inside 127.255.255.0/24 are errors, never
 * listings; Spamhaus's .252 (typo in the zone), .254 (query through a public
 * resolver) and .255 (over quota) are refusals: the operator refuses us.
 */
enum codes_answer {
	CODES_ANSWER_LISTING, /* inside 127/8, not an error code */
	CODES_ANSWER_OUTSIDE, /* not in 127.0.0.0/8 */
	CODES_ANSWER_REFUSED, /* 127.255.255.252, .254, .255: the operator refuses our queries */
	CODES_ANSWER_ERROR,   /* the rest of 127.255.255.0/24: an error code */
};
enum codes_answer codes_classify(const uint8_t answer[4]);

/* What a list's whole A answer says, once classified and filtered. */
enum codes_verdict {
	CODES_NOT_LISTED, /* no answer inside the filter */
	CODES_LISTED,     /* some answer inside: *code the first, *mask every pattern matched */
	CODES_ERROR,      /* an error code among the answers: the whole answer is untrustworthy */
	CODES_REFUSED,    /* a refusal among the answers: the operator refuses our queries */
};

/*
 * codes_take - the verdict of an untrusted A answer (count addresses of 4 bytes):
 * a refusal anywhere (codes_refused) makes it CODES_REFUSED, else an error code
 * anywhere CODES_ERROR (*error is that answer in both cases), else the answers
 * inside the filter make it CODES_LISTED. The daemon and the fuzzer both read
 * answers through this one function.
 */
enum codes_verdict codes_take(const struct codes *c, const uint8_t (*answers)[4], size_t count,
			      uint8_t code[4], uint32_t *mask, const uint8_t **error);

#endif
