/*
 * check - the administrator's one-shot "--check ADDRESS" mode (spec section 2):
 * answer one request as Postfix would get it and explain the verdict.
 * The strings in struct check_request belong to the caller (argv).
 */
#ifndef POLICYD_CHECK_H
#define POLICYD_CHECK_H

#include <stdbool.h>

#include "config.h"

struct check_request {
	const char *address;
	const char *sender;
	const char *helo;
	const char *client_name;
};

/* check_run - print the reply line and what led to it; returns 0 pass, 1 refused, 2 error. */
int check_run(struct config *cfg, const struct check_request *req, bool debug);

#endif
