/*
 * verdict - what the lists said about one request, and the reply it makes.
 *
 * A verdict holds the hits (list, answer code, reason) and the score; rendering
 * turns it into the Postfix reply line with the [policy] template. The same
 * verdict always renders to the same text, whether it was computed now or taken
 * from the cache. Memory: a verdict is a plain value; reasons point into memory
 * the caller keeps alive (the list configuration or a cache entry) while the
 * verdict is rendered.
 */
#ifndef POLICYD_VERDICT_H
#define POLICYD_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "request.h"

#define VERDICT_MAX_HITS 32

/*
 * A list's reason (TXT, untrusted bytes, or the configured reason): head, then the
 * key's own text (the client address or the domain) when the cache cut it out of
 * the TXT so that one stored pattern serves every address of a list, then tail.
 */
struct reason {
	const char *head, *middle, *tail;
	size_t head_len, middle_len, tail_len;
};

struct verdict_hit {
	const struct list_config *list;
	uint8_t code[4];      /* the A answer; zero for local lists */
	struct reason reason; /* all parts empty when the list gave none */
};

struct verdict {
	long score;
	unsigned hit_count;
	struct verdict_hit hits[VERDICT_MAX_HITS];
	bool allowlisted; /* score <= allowlist_threshold: accepted, other lists ignored */
};

/* verdict_add - record a hit and add its weight to the score. */
void verdict_add(struct verdict *v, const struct list_config *list, const uint8_t code[4],
		 const struct reason *reason);

/* reason_plain - a reason of one piece (a local list's reason, a fresh TXT). */
struct reason reason_plain(const char *text, size_t len);

/* reason_join - the parts of r copied into buf (bytes as they are, NUL included), cut at size. */
size_t reason_join(const struct reason *r, char *buf, size_t size);

/* verdict_refused - whether the client is refused under cfg's thresholds. */
bool verdict_refused(const struct config *cfg, const struct verdict *v);

/*
 * verdict_render - the complete reply ("action=...\n\n") for req (untrusted) and v,
 * at most size bytes (POLICY_REPLY_MAX). Returns its length.
 */
size_t verdict_render(const struct config *cfg, const struct request *req, const struct verdict *v,
		      char *out, size_t size);

/* verdict_render_word - the reply for a fixed action word such as "DUNNO". */
size_t verdict_render_word(const char *word, char *out, size_t size);

/* verdict_render_on_error - the reply when lookups did not finish in time ([policy] on_error). */
size_t verdict_render_on_error(const struct config *cfg, char *out, size_t size);

#endif
