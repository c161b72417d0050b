/*
 * policy - the decision for one request: skip authenticated clients, consult the
 * lists, score, and render the reply (spec sections 3 to 5).
 *
 * Today the decision is made at once from the local [list] files; DNS lists are
 * not consulted yet (a warning at start says so). The request is untrusted; the
 * reply is written into the caller's buffer; nothing is allocated.
 */
#ifndef POLICYD_POLICY_H
#define POLICYD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "request.h"
#include "verdict.h"

/* The longest reply: "action=" + action + 400 bytes of text + "\n\n", with room to spare. */
#define POLICY_REPLY_MAX 512

/*
 * policy_evaluate - fill v for req from the lists that answer at once. Returns
 * false when the request is not checked at all (authenticated client, no usable
 * client address); then v is empty and the reply is DUNNO.
 */
bool policy_evaluate(const struct config *cfg, const struct request *req, struct verdict *v);

/* policy_answer - decide req and write the complete reply ("action=...\n\n") into out. */
size_t policy_answer(const struct config *cfg, const struct request *req, char *out, size_t size);

/* policy_warn_unsupported - log once at start which configured lists are not consulted yet. */
void policy_warn_unsupported(const struct config *cfg);

#endif
