/*
 * policy - the decision for one request: skip authenticated clients, consult the
 * lists, score, and render the reply (spec sections 3 to 5).
 *
 * A decision is made at once when no DNS lookup is needed (local lists only, an
 * authenticated client); otherwise lookups start and the answer comes later
 * through the slot's callback. Rules: policy_decide() returning POLICY_PENDING
 * means done(slot) will be called exactly once, no later than request_timeout;
 * POLICY_ANSWERED means it will not be called. The slot belongs to the caller;
 * the policy only writes its reply into it. The request is untrusted and only
 * valid during the call: what lookups need later is copied.
 */
#ifndef POLICYD_POLICY_H
#define POLICYD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "addr.h"
#include "config.h"
#include "request.h"
#include "verdict.h"

/* The longest reply: "action=" + action + 400 bytes of text + "\n\n", with room to spare. */
#define POLICY_REPLY_MAX 512

/* One reply, written now or later, kept in a connection's queue until it can be sent. */
struct reply_slot {
	struct reply_slot *next;
	void *owner;  /* the connection; NULL once it has gone (the slot is then freed on done) */
	bool ready;
	size_t len;
	char text[POLICY_REPLY_MAX];
};

typedef void policy_done_fn(struct reply_slot *slot);

enum policy_outcome { POLICY_ANSWERED, POLICY_PENDING };

struct policy;

/* policy_new - the engine for cfg (holds a reference); NULL on error, logged. */
struct policy *policy_new(uv_loop_t *loop, struct config *cfg);

/* policy_set_config - a reload: lookups in flight finish with the config they began with. */
void policy_set_config(struct policy *p, struct config *cfg);

/* policy_decide - answer req into slot now, or start lookups and call done(slot) later. */
enum policy_outcome policy_decide(struct policy *p, const struct request *req,
				  struct reply_slot *slot, policy_done_fn *done);

/* policy_free - fail what is in flight (requests get their answers), release the engine. */
void policy_free(struct policy *p);

/* policy_log_stats - log the cache's counters. */
void policy_log_stats(const struct policy *p);

/*
 * policy_evaluate_local - fill v from the lists that answer at once. Returns false
 * when the request is not checked at all (authenticated client, no usable client
 * address); then v is empty and the reply is DUNNO. *client gets the parsed
 * client address when the request is checked.
 */
bool policy_evaluate_local(const struct config *cfg, const struct request *req, struct verdict *v,
			   struct addr *client);

/* policy_log_decision - one Postfix-style line per decision (passes only at debug level). */
void policy_log_decision(const struct config *cfg, const struct request *req,
			 const struct verdict *v, bool checked, bool cached);

#endif
