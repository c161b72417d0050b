/*
 * redis_probe - drives policyd/redis.c for t/test_redis_store.py.
 *
 *   redis-probe [--verbose] [--timeout MS] [--password P] [--delay S] [--max-wait S]
 *               [--pass-ttl S] [--auto-allow N] URL
 *   redis-probe --parse URL...
 *
 * The first form opens a store on URL and reads commands on stdin, one a line;
 * what it prints (stdout, a line each, flushed at once):
 *   ask NETWORK SENDER RECIPIENT   "asked ID", or "refused" when redis_store_ask
 *                                  returns false; later "answer ID NAME RETRY_S MS"
 *                                  (MS: the milliseconds from the ask to the answer)
 *   up                             "up 0" or "up 1"
 *   stats                          "stats errors=E outages=O up=U answers=A"
 *   rules DELAY MAX_WAIT PASS_TTL AUTO_ALLOW
 *                                  redis_store_set with the same target: "ok"
 *   target URL                     redis_store_set with another one: "ok" or "error TEXT"
 *   timeout MS                     redis_store_set with another command deadline: "ok"
 *   free                           redis_store_free: "freed", and the probe ends
 * End of input frees the store too. The key of an ask is the SHA-1 of "NETWORK
 * SENDER RECIPIENT" (what greylist.h says a triplet is) and NETWORK itself.
 *
 * The second form prints, for each URL, "target tcp HOST PORT DB",
 * "target unix PATH DB" or "error TEXT" (redis_target_parse).
 *
 * Lines starting with '#' are comments; "# BAD ..." marks a broken promise of
 * redis.h: an answer to an ask that was refused, a second answer, an ask left
 * unanswered by redis_store_free, or a loop that still holds handles after it.
 * The log (level info, debug with --verbose) goes to stderr. Exit 0 when every
 * promise held, 1 otherwise, 2 on usage errors.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "digest.h"
#include "log.h"
#include "redis.h"
#include "stats.h"

#define MAX_ASKS 100000

struct ask {
	unsigned long id;
	uint64_t start_ns;
	int answers;
	bool refused; /* redis_store_ask returned false: no answer may come */
};

static struct {
	uv_loop_t loop;
	uv_pipe_t in;
	struct redis_store *store;
	struct redis_target target;
	struct greylist_rules rules;
	char *password;
	char line[4096];
	size_t len;
	struct ask *asks;
	unsigned long count;
	bool freed;
	bool bad;
} P;

static void bad(const char *what, unsigned long id)
{
	printf("# BAD %s %lu\n", what, id);
	P.bad = true;
}

static const char *answer_name(enum greylist_answer a)
{
	switch (a) {
	case GREYLIST_NEW: return "new";
	case GREYLIST_EARLY: return "early";
	case GREYLIST_RETRIED: return "retried";
	case GREYLIST_KNOWN: return "known";
	case GREYLIST_ALLOWED: return "allowed";
	case GREYLIST_UNAVAILABLE: return "unavailable";
	}
	return "?";
}

static void on_done(void *arg, enum greylist_answer answer, uint32_t retry_s)
{
	struct ask *a = arg;

	if (a->refused) {
		bad("an answer to the refused ask", a->id);
		return;
	}
	if (++a->answers > 1) {
		bad("second answer to", a->id);
		return;
	}
	printf("answer %lu %s %lu %lu\n", a->id, answer_name(answer), (unsigned long)retry_s,
	       (unsigned long)((uv_hrtime() - a->start_ns) / 1000000));
}

/* do_ask - "ask NETWORK SENDER RECIPIENT". */
static void do_ask(char *args)
{
	char *net = strtok(args, " "), *sender = strtok(NULL, " "), *rcpt = strtok(NULL, " ");
	struct greylist_key k;
	char triplet[3 * GREYLIST_ADDRESS_MAX];
	struct ask *a;

	if (!net || !sender || !rcpt || strlen(net) >= sizeof(k.network) || P.count == MAX_ASKS) {
		printf("error usage: ask NETWORK SENDER RECIPIENT\n");
		return;
	}
	memset(&k, 0, sizeof(k));
	int n = snprintf(triplet, sizeof(triplet), "%s %s %s", net, sender, rcpt);
	digest_sha1(triplet, (size_t)n, k.triplet);
	k.network_len = strlen(net);
	memcpy(k.network, net, k.network_len + 1);
	a = &P.asks[P.count];
	*a = (struct ask){ .id = P.count, .start_ns = uv_hrtime() };
	if (!redis_store_ask(P.store, &k, on_done, a)) {
		a->refused = true;
		printf("refused\n");
	} else {
		printf("asked %lu\n", a->id);
	}
	P.count++;
}

/* set_password - P.target takes the probe's own copy of the password. */
static void set_password(void)
{
	P.target.password = P.password;
	P.target.timeout_ms = P.target.timeout_ms ? P.target.timeout_ms : 500;
}

/* end - redis_store_free, then nothing more of ours keeps the loop. */
static void end(void)
{
	if (P.freed)
		return;
	P.freed = true;
	redis_store_free(P.store);
	for (unsigned long i = 0; i < P.count; i++)
		if (!P.asks[i].refused && P.asks[i].answers == 0)
			bad("redis_store_free left unanswered", i);
	printf("freed\n");
	uv_close((uv_handle_t *)&P.in, NULL);
}

static void command(char *line)
{
	char *sp = strchr(line, ' ');
	char *args = sp ? sp + 1 : line + strlen(line);

	if (sp)
		*sp = '\0';
	if (strcmp(line, "ask") == 0) {
		do_ask(args);
	} else if (strcmp(line, "up") == 0) {
		printf("up %d\n", redis_store_up(P.store) ? 1 : 0);
	} else if (strcmp(line, "stats") == 0) {
		printf("stats errors=%llu outages=%llu up=%llu answers=%llu\n",
		       (unsigned long long)stats.greylist_store_errors,
		       (unsigned long long)stats.greylist_store_outages,
		       (unsigned long long)stats.greylist_store_up,
		       (unsigned long long)stats.greylist_store_answers);
	} else if (strcmp(line, "rules") == 0) {
		unsigned d, m, p, a;
		if (sscanf(args, "%u %u %u %u", &d, &m, &p, &a) != 4) {
			printf("error usage: rules DELAY MAX_WAIT PASS_TTL AUTO_ALLOW\n");
			return;
		}
		P.rules = (struct greylist_rules){ .delay_s = d,
						   .max_wait_s = m,
						   .pass_ttl_s = p,
						   .auto_allow = a,
						   .network_v4 = 24,
						   .network_v6 = 64 };
		redis_store_set(P.store, &P.target, &P.rules);
		printf("ok\n");
	} else if (strcmp(line, "target") == 0) {
		const char *err = NULL;
		unsigned long timeout = P.target.timeout_ms;
		struct redis_target t;
		if (!redis_target_parse(args, &t, &err)) {
			printf("error %s\n", err);
			return;
		}
		P.target = t;
		P.target.timeout_ms = timeout;
		set_password();
		redis_store_set(P.store, &P.target, &P.rules);
		printf("ok\n");
	} else if (strcmp(line, "timeout") == 0) {
		P.target.timeout_ms = strtoul(args, NULL, 10);
		redis_store_set(P.store, &P.target, &P.rules);
		printf("ok\n");
	} else if (strcmp(line, "free") == 0) {
		end();
	} else {
		printf("error unknown command %s\n", line);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char mem[4096];

	buf->base = mem;
	buf->len = sizeof(mem);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0) {
		end();
		return;
	}
	for (ssize_t i = 0; i < n && !P.freed; i++) {
		char c = buf->base[i];
		if (c != '\n') {
			if (P.len < sizeof(P.line) - 1)
				P.line[P.len++] = c;
			continue;
		}
		P.line[P.len] = '\0';
		P.len = 0;
		command(P.line);
	}
}

static int parse_only(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		struct redis_target t;
		const char *err = NULL;
		if (!redis_target_parse(argv[i], &t, &err))
			printf("error %s\n", err);
		else if (t.unix_socket)
			printf("target unix %s %ld\n", t.path, t.db);
		else
			printf("target tcp %s %d %ld\n", t.host, t.port, t.db);
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: redis-probe [--verbose] [--timeout MS] [--password P] [--delay S] "
			"[--max-wait S] [--pass-ttl S] [--auto-allow N] URL\n"
			"       redis-probe --parse URL...\n");
	return 2;
}

int main(int argc, char **argv)
{
	bool verbose = false;
	unsigned long timeout = 500;
	const char *err = NULL;
	int i, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "--parse") == 0)
		return parse_only(argc - 2, argv + 2);
	P.rules = (struct greylist_rules){ .delay_s = 300,
					   .max_wait_s = 86400,
					   .pass_ttl_s = 3000000,
					   .auto_allow = 0,
					   .network_v4 = 24,
					   .network_v6 = 64 };
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *opt = argv[i];
		if (strcmp(opt, "--verbose") == 0) {
			verbose = true;
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		const char *val = argv[++i];
		unsigned long v = strtoul(val, NULL, 10);
		if (strcmp(opt, "--timeout") == 0)
			timeout = v;
		else if (strcmp(opt, "--password") == 0)
			P.password = strdup(val);
		else if (strcmp(opt, "--delay") == 0)
			P.rules.delay_s = (uint32_t)v;
		else if (strcmp(opt, "--max-wait") == 0)
			P.rules.max_wait_s = (uint32_t)v;
		else if (strcmp(opt, "--pass-ttl") == 0)
			P.rules.pass_ttl_s = (uint32_t)v;
		else if (strcmp(opt, "--auto-allow") == 0)
			P.rules.auto_allow = (unsigned)v;
		else
			return usage();
	}
	if (i + 1 != argc)
		return usage();
	if (!redis_target_parse(argv[i], &P.target, &err)) {
		fprintf(stderr, "redis-probe: %s: %s\n", argv[i], err);
		return 2;
	}
	P.target.timeout_ms = timeout;
	set_password();
	log_open(LOG_TO_STDERR, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	P.asks = calloc(MAX_ASKS, sizeof(*P.asks));
	if (!P.asks)
		return 2;

	uv_loop_init(&P.loop);
	uv_pipe_init(&P.loop, &P.in, 0);
	uv_pipe_open(&P.in, 0);
	P.store = redis_store_new(&P.loop, &P.target, &P.rules);
	if (!P.store)
		return 1;
	uv_read_start((uv_stream_t *)&P.in, on_alloc, on_read);
	uv_run(&P.loop, UV_RUN_DEFAULT);

	rc = uv_loop_close(&P.loop);
	if (rc != 0) {
		printf("# BAD uv_loop_close: %s\n", uv_strerror(rc));
		P.bad = true;
	}
	free(P.asks);
	free(P.password);
	log_close();
	printf("# %s\n", P.bad ? "FAILED" : "done");
	return P.bad ? 1 : 0;
}
