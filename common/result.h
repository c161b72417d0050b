/*
 * result - what every list said about one cache key, packed into one small
 * immutable block that the verdict cache keeps and requests read without copying;
 * and the reasons table that stores each list's TXT text once.
 *
 * Lists put the client's own address (or the domain) into their TXT records, so a
 * result keeps its TXT with that text cut out, as a pattern interned in the
 * reasons table: one copy per list and wording instead of one per address, which
 * keeps a million cached verdicts in well under 128 MiB. Reading a result gives
 * the reason as three parts (head, the key's own text, tail) so that nothing is
 * joined on the hot path.
 *
 * Memory: a result is reference-counted (result_ref/result_unref); all-clean
 * results share one static block. Each result holds one reference per pattern it
 * uses; patterns belong to their reasons table, which must outlive every result
 * built with it. Nothing here is thread-safe (one loop).
 */
#ifndef POLICYD_RESULT_H
#define POLICYD_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct key;

/* What one list said about one key (or why it was not asked). */
enum outcome {
	OUTCOME_NOT_APPLICABLE, /* local list, other key kind, IPv6 client on an IPv4 list */
	OUTCOME_UNHEALTHY,      /* disabled by the RFC 5782 health check (or not checked yet) */
	OUTCOME_BREAKER,        /* skipped: it kept failing */
	OUTCOME_PENDING,        /* asked; no answer yet */
	OUTCOME_NOT_LISTED,
	OUTCOME_LISTED,
	OUTCOME_ERROR_CODE, /* answered 127.255.255.x or outside 127/8: never a listing */
	OUTCOME_FAILED,     /* SERVFAIL, udns timeout, unusable answer */
	OUTCOME_TIMEOUT,    /* still outstanding at the request's deadline */
};

/* outcome_name - a word for logs, --check and the help page. */
const char *outcome_name(enum outcome o);

/*
 * A reason (TXT bytes, untrusted, or a configured text): head, then the key's own
 * text when the result cut it out (middle, filled in by the reader), then tail.
 */
struct reason {
	const char *head, *middle, *tail;
	size_t head_len, middle_len, tail_len;
};

/* reason_plain - a reason of one piece. */
struct reason reason_plain(const char *text, size_t len);

/* reason_join - the parts copied into buf (bytes as they are), cut at size; returns the length. */
size_t reason_join(const struct reason *r, char *buf, size_t size);

/* reason_len - the length of the parts together. */
static inline size_t reason_len(const struct reason *r)
{
	return r->head_len + r->middle_len + r->tail_len;
}

/* The most of a TXT record kept: a reply shows at most 400 bytes of text. */
#define RESULT_REASON_MAX 512

struct reasons;

/* reasons_new - an empty table whose hash uses the secret seed; NULL without memory. */
struct reasons *reasons_new(const uint8_t seed[16]);
/* reasons_free - release the table; every result built with it must be gone. */
void reasons_free(struct reasons *t);
/* reasons_count - distinct patterns stored (for statistics and tests). */
size_t reasons_count(const struct reasons *t);
/* reasons_buckets - the table's current size: it grows with the patterns. */
size_t reasons_buckets(const struct reasons *t);

/* What a lookup learnt from one list, to be packed. */
struct list_answer {
	enum outcome outcome;
	uint8_t code[4]; /* the first answer inside the list's codes (LISTED; in 127/8) */
	uint16_t mask;   /* the codes patterns some answer matched (LISTED) */
	uint32_t ttl;    /* of the A answer (LISTED) */
	const char *txt; /* the TXT record, untrusted bytes; NULL: none */
	size_t txt_len;
};

/* What a result says about one list. */
struct answer {
	enum outcome outcome;
	uint8_t code[4];
	uint16_t mask;
	uint32_t ttl;
	struct reason reason; /* empty when the list gave none; middle left for the reader */
	bool key_text;        /* the key's own text belongs between head and tail */
};

struct result;

/*
 * result_build - pack n answers (one per list of the configuration, in order)
 * about key. Not-listed everywhere gives the shared static result. NULL when
 * memory runs out.
 */
struct result *result_build(struct reasons *t, const struct key *key,
			    const struct list_answer *answers, size_t n);

/* result_get - list i's answer; lists beyond the result's own are not applicable. */
void result_get(const struct result *res, size_t i, struct answer *out);

/* result_outcome - list i's outcome alone (cheap). */
enum outcome result_outcome(const struct result *res, size_t i);

struct result *result_ref(struct result *res);
void result_unref(struct result *res);

#endif
