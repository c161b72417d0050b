/*
 * check - the --check mode (see check.h). It builds the request text Postfix would
 * send, runs it through the same parser and policy as the daemon, and prints the
 * reply. Everything lives on the stack.
 */
#include "check.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "policy.h"
#include "request.h"

/* print_lists - one line per configured list: what it said about the address. */
static void print_lists(const struct config *cfg, const struct addr *a)
{
	for (size_t i = 0; i < cfg->list_count; i++) {
		const struct list_config *l = &cfg->lists[i];
		if (l->kind == LIST_LOCAL) {
			bool hit = cidr_set_contains(l->set, a);
			printf("list %s: %s weight=%ld file=%s cached=no\n", l->name,
			       hit ? "listed" : "not listed", l->weight, l->file);
		} else {
			printf("%s %s: not consulted (DNS lookups are not implemented yet)\n",
			       list_kind_name(l->kind), l->name);
		}
	}
}

/* check_run - one request through the real request path, the reply on stdout. */
int check_run(const struct config *cfg, const struct check_request *req, bool debug)
{
	static struct request parsed;
	char text[4096];
	char reply[POLICY_REPLY_MAX];
	struct addr a;
	int n;

	log_open(LOG_TO_STDERR, debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	if (!addr_parse(&a, req->address, strlen(req->address))) {
		fprintf(stderr, "policyd: --check: '%s' is not an IPv4 or IPv6 address\n",
			req->address);
		return 2;
	}
	n = snprintf(text, sizeof(text),
		     "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
		     "client_address=%s\nclient_name=%s\nreverse_client_name=%s\nhelo_name=%s\n"
		     "sender=%s\nrecipient=postmaster@localhost\n\n",
		     req->address, req->client_name ? req->client_name : "unknown",
		     req->client_name ? req->client_name : "unknown", req->helo ? req->helo : "",
		     req->sender ? req->sender : "");
	if (n < 0 || (size_t)n >= sizeof(text) || strchr(text, '\r') != NULL) {
		fprintf(stderr, "policyd: --check: arguments too long\n");
		return 2;
	}
	request_parse(&parsed, text, (size_t)n);
	size_t len = policy_answer(cfg, &parsed, reply, sizeof(reply));
	/* Print the reply line without the protocol's empty line. */
	while (len > 0 && reply[len - 1] == '\n')
		len--;
	printf("%.*s\n", (int)len, reply);
	print_lists(cfg, &a);
	return strncmp(reply, "action=DUNNO", 12) == 0 ? 0 : 1;
}
