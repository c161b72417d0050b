/*
 * policy - the decision for one request. Today every client passes (DUNNO): the
 * lookups of spec section 5 plug in here. Pure with respect to the request; the
 * reply is written into the caller's buffer.
 */
#ifndef POLICYD_POLICY_H
#define POLICYD_POLICY_H

#include <stddef.h>

#include "config.h"
#include "request.h"

/* The longest reply line: "action=" + action + 400 bytes of text + "\n\n". */
#define POLICY_REPLY_MAX 512

/* policy_answer - write the complete reply ("action=...\n\n") into out; returns its length. */
size_t policy_answer(const struct config *cfg, const struct request *req, char *out, size_t size);

#endif
