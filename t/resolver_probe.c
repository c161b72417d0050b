/*
 * resolver_probe - drives policyd/resolver.c for t/test_resolver.py.
 *
 *   resolver-probe [--server ADDR:PORT]... [--timeout S] [--tries N] [--cancel]
 *                  [--deadline MS] [--linger MS] [--free-in-callback] [--limit MS]
 *                  [--verbose] TYPE NAME [TYPE NAME]...
 *
 * All queries (TYPE is A or TXT) are submitted at once on one loop. One line is
 * printed per callback, in arrival order:
 *   A <name> <status> <ttl> <ip,ip|->      TXT <name> <status> <ttl> <hex|->
 * A query the resolver refuses to submit prints "<type> <name> NOSUBMIT 0 -".
 * Lines starting with '#' are comments; "# BAD ..." marks a broken promise.
 *
 * --cancel            cancel every second query (2nd, 4th...) right after submitting
 * --deadline MS       after MS ms, free the resolver with queries still pending: each
 *                     must get exactly one ERROR callback, during resolver_free
 * --linger MS         once every answer is in, keep the loop (and the resolver)
 *                     running MS ms more, so late or cancelled replies are processed
 * --free-in-callback  call resolver_free from inside the first callback
 * --limit MS          safety net (default 30000): give up, exit 3
 * Without --server the resolver uses /etc/resolv.conf (or udns's NAMESERVERS,
 * RES_OPTIONS environment variables).
 *
 * Exit 0 when every promise of resolver.h held: exactly one callback for each
 * query not cancelled, none for cancelled ones, resolver_pending() consistent,
 * every handle closed. 1 otherwise, 2 on usage errors, 3 when --limit hit.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "resolver.h"

#define MAX_SERVERS 16

struct item {
	bool txt;
	const char *name;
	struct resolver_query *q;
	bool submitted;
	bool cancelled;
	int calls;
};

static struct {
	uv_loop_t loop;
	struct resolver *r;
	uv_timer_t deadline, finish, limit;
	struct item *items;
	size_t count;
	size_t outstanding; /* submitted, not cancelled, no callback yet */
	unsigned long linger_ms;
	bool free_in_callback;
	bool freed;   /* resolver_free was called */
	bool closing; /* our timers are being closed */
	bool bad;
	bool limit_hit;
} P;

static void on_finish(uv_timer_t *t);

static void bad(const char *what, const struct item *it)
{
	printf("# BAD %s%s%s%s\n", what, it ? " " : "", it ? (it->txt ? "TXT " : "A ") : "",
	       it ? it->name : "");
	P.bad = true;
}

static const char *status_name(enum resolver_status s)
{
	switch (s) {
	case RESOLVER_OK:
		return "OK";
	case RESOLVER_NXDOMAIN:
		return "NXDOMAIN";
	case RESOLVER_NODATA:
		return "NODATA";
	case RESOLVER_TEMPFAIL:
		return "TEMPFAIL";
	case RESOLVER_ERROR:
		return "ERROR";
	}
	return "UNKNOWN";
}

static void close_timers(void)
{
	if (P.closing)
		return;
	P.closing = true;
	uv_close((uv_handle_t *)&P.deadline, NULL);
	uv_close((uv_handle_t *)&P.finish, NULL);
	uv_close((uv_handle_t *)&P.limit, NULL);
}

/* free_resolver - resolver_free, checking that every pending query is failed at once. */
static void free_resolver(const char *why)
{
	size_t pending;

	if (P.freed)
		return;
	pending = resolver_pending(P.r);
	if (pending != P.outstanding)
		bad("resolver_pending disagrees before resolver_free", NULL);
	printf("# %s: resolver_free with %zu pending\n", why, pending);
	P.freed = true;
	resolver_free(P.r);
	if (P.outstanding != 0)
		bad("resolver_free left queries without a callback", NULL);
}

/* answered - bookkeeping common to both callbacks; false when the call is illegal. */
static bool answered(struct item *it)
{
	it->calls++;
	if (it->cancelled) {
		bad("callback after cancel", it);
		return false;
	}
	if (it->calls > 1) {
		bad("second callback", it);
		return false;
	}
	P.outstanding--;
	return true;
}

/* after_answer - start the end once everything is in; maybe free from inside. */
static void after_answer(void)
{
	if (P.free_in_callback && !P.freed)
		free_resolver("free-in-callback");
	if (P.outstanding == 0 && !P.closing)
		uv_timer_start(&P.finish, on_finish, P.linger_ms, 0);
}

static void on_a(void *arg, enum resolver_status status, const uint8_t (*addrs)[4], size_t count,
		 uint32_t ttl)
{
	struct item *it = arg;

	if (!answered(it))
		return;
	printf("A %s %s %lu ", it->name, status_name(status), (unsigned long)ttl);
	if (status == RESOLVER_OK && count == 0)
		bad("OK without addresses", it);
	if (status != RESOLVER_OK && (count != 0 || addrs != NULL))
		bad("addresses with a failure", it);
	for (size_t i = 0; i < count; i++)
		printf("%s%u.%u.%u.%u", i ? "," : "", addrs[i][0], addrs[i][1], addrs[i][2],
		       addrs[i][3]);
	printf("%s\n", count ? "" : "-");
	after_answer();
}

static void on_txt(void *arg, enum resolver_status status, const char *txt, size_t len,
		   uint32_t ttl)
{
	struct item *it = arg;

	if (!answered(it))
		return;
	printf("TXT %s %s %lu ", it->name, status_name(status), (unsigned long)ttl);
	if (status != RESOLVER_OK && (len != 0 || txt != NULL))
		bad("text with a failure", it);
	for (size_t i = 0; i < len; i++)
		printf("%02x", (unsigned char)txt[i]);
	printf("%s\n", len ? "" : "-");
	after_answer();
}

static void on_finish(uv_timer_t *t)
{
	if (!P.freed && resolver_pending(P.r) != 0)
		bad("resolver_pending not 0 after every answer", NULL);
	free_resolver("finished");
	close_timers();
}

static void on_deadline(uv_timer_t *t)
{
	free_resolver("deadline");
	close_timers();
}

static void on_limit(uv_timer_t *t)
{
	printf("# limit reached, %zu outstanding\n", P.outstanding);
	P.limit_hit = true;
	free_resolver("limit");
	close_timers();
}

static bool parse_server(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hlen;
	long port;
	char *end;

	if (!colon)
		return false;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		h = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return false;
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
		return true;
	return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: resolver-probe [--server ADDR:PORT]... [--timeout S] [--tries N] "
			"[--cancel] [--deadline MS] [--linger MS] [--free-in-callback] "
			"[--limit MS] [--verbose] TYPE NAME...\n");
	return 2;
}

/* number - a non-negative decimal argument. */
static bool number(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

static int finish(void)
{
	int rc = uv_loop_close(&P.loop);

	if (rc != 0) {
		printf("# BAD uv_loop_close: %s\n", uv_strerror(rc));
		P.bad = true;
	}
	for (size_t i = 0; i < P.count; i++) {
		struct item *it = &P.items[i];
		if (it->submitted && !it->cancelled && it->calls != 1)
			bad(it->calls ? "several callbacks" : "no callback", it);
	}
	free(P.items);
	printf("# %s\n", P.bad ? "FAILED" : "done");
	if (P.limit_hit)
		return 3;
	return P.bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct sockaddr_storage servers[MAX_SERVERS];
	struct config cfg;
	double timeout = 2, tries = 2, deadline = -1, limit = 30000, linger = 0;
	bool cancel = false, verbose = false;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.nameserver = servers;
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;
		if (strcmp(opt, "--cancel") == 0) {
			cancel = true;
			continue;
		}
		if (strcmp(opt, "--free-in-callback") == 0) {
			P.free_in_callback = true;
			continue;
		}
		if (strcmp(opt, "--verbose") == 0) {
			verbose = true;
			continue;
		}
		if (!val)
			return usage();
		i++;
		if (strcmp(opt, "--server") == 0)
			ok = cfg.nameserver_count < MAX_SERVERS &&
			     parse_server(val, &servers[cfg.nameserver_count++]);
		else if (strcmp(opt, "--timeout") == 0)
			ok = number(val, &timeout);
		else if (strcmp(opt, "--tries") == 0)
			ok = number(val, &tries);
		else if (strcmp(opt, "--deadline") == 0)
			ok = number(val, &deadline);
		else if (strcmp(opt, "--linger") == 0)
			ok = number(val, &linger);
		else if (strcmp(opt, "--limit") == 0)
			ok = number(val, &limit);
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "resolver-probe: bad %s %s\n", opt, val);
			return usage();
		}
	}
	if (i >= argc || (argc - i) % 2 != 0)
		return usage();
	log_open(LOG_TO_STDERR, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	cfg.dns_timeout_ms = (unsigned long)(timeout * 1000);
	cfg.dns_tries = (long)tries;
	P.linger_ms = (unsigned long)linger;

	P.count = (size_t)(argc - i) / 2;
	P.items = calloc(P.count, sizeof(*P.items));
	if (!P.items)
		return 2;
	for (size_t k = 0; k < P.count; k++) {
		const char *type = argv[i + 2 * k];
		if (strcmp(type, "A") != 0 && strcmp(type, "TXT") != 0) {
			fprintf(stderr, "resolver-probe: unknown type %s\n", type);
			free(P.items);
			return usage();
		}
		P.items[k].txt = strcmp(type, "TXT") == 0;
		P.items[k].name = argv[i + 2 * k + 1];
	}

	uv_loop_init(&P.loop);
	P.r = resolver_new(&P.loop, &cfg);
	if (!P.r) {
		printf("# resolver_new failed\n");
		uv_run(&P.loop, UV_RUN_DEFAULT); /* close callbacks of the failed resolver */
		uv_loop_close(&P.loop);
		free(P.items);
		return 1;
	}
	uv_timer_init(&P.loop, &P.deadline);
	uv_timer_init(&P.loop, &P.finish);
	uv_timer_init(&P.loop, &P.limit);

	for (size_t k = 0; k < P.count; k++) {
		struct item *it = &P.items[k];
		it->q = it->txt ? resolver_query_txt(P.r, it->name, NULL, on_txt, it)
				: resolver_query_a(P.r, it->name, NULL, on_a, it);
		if (!it->q) {
			printf("%s %s NOSUBMIT 0 -\n", it->txt ? "TXT" : "A", it->name);
			continue;
		}
		it->submitted = true;
		P.outstanding++;
	}
	if (cancel) {
		for (size_t k = 1; k < P.count; k += 2) {
			struct item *it = &P.items[k];
			if (!it->submitted)
				continue;
			resolver_cancel(it->q);
			resolver_cancel(it->q); /* twice: must be harmless */
			it->cancelled = true;
			P.outstanding--;
			printf("# cancelled %s %s\n", it->txt ? "TXT" : "A", it->name);
		}
	}
	if (resolver_pending(P.r) != P.outstanding)
		bad("resolver_pending disagrees after submitting", NULL);
	printf("# submitted, %zu pending\n", P.outstanding);

	if (deadline >= 0)
		uv_timer_start(&P.deadline, on_deadline, (uint64_t)deadline, 0);
	uv_timer_start(&P.limit, on_limit, (uint64_t)limit, 0);
	if (P.outstanding == 0)
		uv_timer_start(&P.finish, on_finish, P.linger_ms, 0);
	uv_run(&P.loop, UV_RUN_DEFAULT);
	return finish();
}
