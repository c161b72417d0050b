/*
 * explain - the administrator's "--check ADDRESS" (policyd(8)): build the request
 * Postfix would send, let the engine decide it exactly as the daemon does (same
 * lists, health checks, cache rules and reply text), and print the reply line and
 * one line per list: the name queried, the answer, its TTL, its weight, the
 * reason, or why the list was not asked. The strings of struct explain_request
 * belong to the caller (argv) and are untrusted: a line feed in one would inject
 * attributes, so they are refused.
 */
#ifndef POLICYD_EXPLAIN_H
#define POLICYD_EXPLAIN_H

#include <stdbool.h>

#include "config.h"

struct explain_request {
	const char *address;
	const char *sender;
	const char *helo;
	const char *client_name;
	const char *recipient;
	const char *sasl_username; /* NULL: an unauthenticated client */
};

/*
 * explain_run - print the reply and what led to it; returns 0 pass, 1 refused, 2
 * error (bad arguments, no usable list, lookups that did not finish).
 */
int explain_run(struct config *cfg, const struct explain_request *req, bool debug);

#endif
