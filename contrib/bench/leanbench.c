/*
 * leanbench - the measuring client of the policyd benchmark, built to spend as little CPU per
 * request as a client can, so that on a small machine it never caps the server it measures.
 *
 * Usage: policyd-leanbench [options] inet:HOST:PORT | unix:PATH   (--help lists the options)
 *
 * One thread, plain level-triggered epoll, no event library.  Every request is built before
 * the run, into one block of memory, from a list of (client address, sender, HELO name,
 * expected action) lines or from a generated set of client addresses; connections take the
 * next request of the list in turn, cycling.  With --unique-recipients TAG every request
 * sent carries a recipient never sent before in the run (TAG-000000000001@mx.test, ...):
 * its digits are written into the prebuilt request just before it is sent, which is safe
 * because write() and the unsent-bytes buffer copy a request before the next send can
 * change it.  That is how a greylisting server is shown a new triplet with each request.  Each connection keeps DEPTH requests in flight
 * (1: a closed loop, as Postfix's smtpd does) and sends the next ones in one write as soon as
 * replies come back.  Every reply is checked: it must be one complete "action=...\n\n" and
 * arrive for a request that was sent; with --expect its action word must be the one the list
 * expects.  Anything else is counted as an error and makes the exit status 1.
 *
 * With --pid NAME=PID (repeatable) the CPU time that process spent over the measured window
 * (all its threads, in nanoseconds, from the kernel's per-process CPU clock; /proc/PID/stat's
 * clock ticks as a cross-check) is divided by the replies counted in the window, and so is
 * the client's own CPU time.  That figure does not depend on which side of the loopback
 * connection was the bottleneck, which requests/s does.
 *
 * Memory: struct lean (static in main) owns the request block, the connection array, each
 * connection's unsent-bytes buffer and the histogram; all of it lives until exit.  Untrusted
 * input: every byte read from the server.  Every wait is bounded: each request by the reply
 * timeout, the whole run by its duration or by --limit.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "args.h"
#include "endpoint.h"
#include "hist.h"

#define LEAN_MAX_CONNS 10000
#define LEAN_MAX_DEPTH 64		/* requests in flight on one connection */
#define LEAN_MAX_REQUESTS 10000000	/* requests in the list */
#define LEAN_REQUEST_MAX 2048		/* bytes of one request */
#define LEAN_REPLY_MAX 4096		/* bytes of replies buffered on one connection */
#define LEAN_FIELD_MAX 512		/* bytes of one field of a list line */
#define LEAN_MAX_PIDS 4
#define LEAN_LOG_MAX 10			/* error messages printed; later ones only counted */
#define LEAN_EVENTS 256			/* events taken from one epoll_wait */
#define LEAN_TICK_MS 100		/* longest sleep in epoll_wait: timeouts are checked */
#define LEAN_TAG_MAX 32			/* bytes of a --unique-recipients tag */
#define LEAN_SEQ_DIGITS 12		/* digits of a unique recipient's number */

enum lean_phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };
enum lean_conn_state { CONN_CONNECTING, CONN_OPEN, CONN_CLOSED };
enum lean_action {
	ACT_DUNNO, ACT_OK, ACT_REJECT, ACT_DEFER, ACT_DEFER_IF_PERMIT, ACT_PREPEND, ACT_WARN,
	ACT_OTHER, ACT_COUNT,
	ACT_ANY = ACT_COUNT	/* a list line without an expected action */
};
enum lean_error {
	ERR_CONNECT, ERR_CLOSED, ERR_MALFORMED, ERR_TIMEOUT, ERR_WRITE, ERR_UNEXPECTED, ERR_COUNT
};

static const char *const lean_action_names[ACT_COUNT] = {
	"DUNNO", "OK", "REJECT", "DEFER", "DEFER_IF_PERMIT", "PREPEND", "WARN", "other",
};
static const char *const lean_error_names[ERR_COUNT] = {
	"connect", "closed", "malformed", "timeout", "write", "unexpected",
};

/*
 * The rcpt-ipv4 fixture from Postfix 3.7.11 (as in bench.c), cut where the client address,
 * the HELO name and the sender go, so that the server parses requests of the real size.
 */
static const char lean_part_client[] =
	"request=smtpd_access_policy\n"
	"protocol_state=RCPT\n"
	"protocol_name=ESMTP\n"
	"client_address=";
static const char lean_part_helo[] =
	"\nclient_name=unknown\n"
	"client_port=49618\n"
	"reverse_client_name=unknown\n"
	"server_address=127.0.0.1\n"
	"server_port=2525\n"
	"helo_name=";
static const char lean_part_sender[] = "\nsender=";
static const char lean_part_recipient[] = "\nrecipient=";
static const char lean_part_domain[] = "@mx.test";
static const char lean_part_end[] =
	"\nrecipient_count=0\n"
	"queue_id=\n"
	"instance=3445.6b09feaf.d9274.0\n"
	"size=0\n"
	"etrn_domain=\n"
	"stress=\n"
	"sasl_method=\n"
	"sasl_username=\n"
	"sasl_sender=\n"
	"ccert_subject=\n"
	"ccert_issuer=\n"
	"ccert_fingerprint=\n"
	"ccert_pubkey_fingerprint=\n"
	"encryption_protocol=\n"
	"encryption_cipher=\n"
	"encryption_keysize=0\n"
	"policy_context=\n"
	"\n";

/* The prebuilt requests: request i is text[offset[i]] up to text[offset[i + 1]]. */
struct lean_requests {
	char *text;
	size_t *offset;
	unsigned char *expect;		/* enum lean_action, ACT_ANY when not given */
	size_t *rcpt_digits;		/* --unique-recipients: where each request's number goes */
	const char *unique_tag;		/* NULL: every recipient is root@mx.test */
	uint64_t next_rcpt;		/* the number the next request sent carries */
	size_t count;
	size_t text_len, text_cap;
	int has_expectations;
	char source[256];		/* where they came from, for the report */
};

/* One process whose CPU time is measured over the window. */
struct lean_pid {
	char name[32];
	pid_t pid;
	clockid_t clock;		/* the process's CPU clock, all threads */
	int has_clock;
	uint64_t ns_start, ns_end;
	uint64_t ticks_start, ticks_end;	/* utime + stime from /proc/PID/stat */
	uint64_t sys_start, sys_end;		/* stime alone: the kernel's share */
	long threads;
	int failed;			/* a reading failed: no figure */
};

struct lean_options {
	struct endpoint ep;
	unsigned int conns;
	unsigned int depth;
	uint64_t warmup_ms;
	uint64_t duration_ms;		/* 0: run until count replies are in */
	uint64_t count;			/* 0: run for duration_ms */
	uint64_t timeout_ms;
	uint64_t limit_ms;		/* the whole run, whatever else happens */
	const char *requests_file;
	uint32_t hit_set;
	uint32_t hit_base;
	const char *unique_tag;
	int expect;
	struct lean_pid pids[LEAN_MAX_PIDS];
	unsigned int npids;
};

struct lean_conn {
	int fd;
	unsigned int id;
	enum lean_conn_state state;
	unsigned int in_flight;		/* requests sent whose replies have not come */
	unsigned int head;		/* ring slot of the oldest request in flight */
	uint64_t connect_ns;
	uint64_t sent_ns[LEAN_MAX_DEPTH];	/* ring: when each request in flight was sent */
	uint32_t sent_index[LEAN_MAX_DEPTH];	/* ring: which request of the list it was */
	unsigned char counted[LEAN_MAX_DEPTH];	/* ring: sent while measuring */
	char *unsent;			/* bytes a short write left (malloc'd, LEAN_MAX_DEPTH
					 * requests), NULL until first needed */
	size_t unsent_len, unsent_off;
	size_t reply_len;
	char reply[LEAN_REPLY_MAX];
};

struct lean {
	struct lean_options opt;
	struct lean_requests req;
	struct lean_conn *conns;	/* opt.conns of them */
	int epfd;
	unsigned int open;		/* connections not closed */
	enum lean_phase phase;
	uint64_t t_begin, t_start, t_end;	/* run start, measured window, ns */
	uint64_t client_ns_start, client_ns_end;
	size_t next_request;
	uint64_t sent;			/* requests sent while measuring */
	uint64_t replies;		/* replies to those, all checked */
	uint64_t actions[ACT_COUNT];
	uint64_t errors[ERR_COUNT];
	uint64_t logged;
	int interrupted;
	int timed_out;			/* --limit ended the run */
	struct hist hist;
};

static volatile sig_atomic_t lean_signalled;

/* lean_on_signal - SIGINT or SIGTERM: end the run at the next loop turn and report */
static void lean_on_signal(int signum)
{
	(void)signum;
	lean_signalled = 1;
}

/* lean_now - monotonic time in nanoseconds */
static uint64_t lean_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* lean_clock_ns - read a CPU clock in nanoseconds; 0 on success */
static int lean_clock_ns(clockid_t clock, uint64_t *ns)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) != 0)
		return -1;
	*ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return 0;
}

/*
 * lean_proc_ticks - utime + stime (clock ticks, all threads) and the thread count from
 * /proc/PID/stat; 0 on success.  The command name in parentheses may hold blanks and
 * parentheses, so fields are counted from the last ')'.
 */
static int lean_proc_ticks(pid_t pid, uint64_t *ticks, uint64_t *sys, long *threads)
{
	char path[64], buf[1024];
	unsigned long long utime, stime;
	long nthreads;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* After ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice num_threads. */
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
			" %*d %*d %*d %*d %ld", &utime, &stime, &nthreads) != 3)
		return -1;
	*ticks = utime + stime;
	*sys = stime;
	*threads = nthreads;
	return 0;
}

/* lean_pid_read - one reading of a measured process, into the start or the end fields */
static void lean_pid_read(struct lean_pid *p, int at_end)
{
	uint64_t ns = 0, ticks = 0, sys = 0;

	if (p->failed)
		return;
	if (!p->has_clock || lean_clock_ns(p->clock, &ns) != 0
	    || lean_proc_ticks(p->pid, &ticks, &sys, &p->threads) != 0) {
		p->failed = 1;
		return;
	}
	if (at_end) {
		p->ns_end = ns;
		p->ticks_end = ticks;
		p->sys_end = sys;
	} else {
		p->ns_start = ns;
		p->ticks_start = ticks;
		p->sys_start = sys;
	}
}

/* lean_cpu_snapshot - read every measured process and the client itself */
static void lean_cpu_snapshot(struct lean *b, int at_end)
{
	uint64_t ns = 0;
	unsigned int i;

	for (i = 0; i < b->opt.npids; i++)
		lean_pid_read(&b->opt.pids[i], at_end);
	(void)lean_clock_ns(CLOCK_PROCESS_CPUTIME_ID, &ns);
	if (at_end)
		b->client_ns_end = ns;
	else
		b->client_ns_start = ns;
}

/* lean_classify - the action of an untrusted reply "action=VALUE\n\n"; -1 if malformed */
static int lean_classify(const char *reply, size_t len)
{
	const char *v = reply + 7;
	size_t vlen, w = 0;

	/* One line only: the first newline is the one that ends the reply. */
	if (len < 10 || memcmp(reply, "action=", 7) != 0
	    || memchr(reply, '\n', len - 2) != NULL)
		return -1;
	vlen = len - 9;
	while (w < vlen && v[w] != ' ' && v[w] != '\t')
		w++;
	if (w == 0)
		return -1;
	if (w == 5 && strncasecmp(v, "DUNNO", 5) == 0)
		return ACT_DUNNO;
	if (w == 2 && strncasecmp(v, "OK", 2) == 0)
		return ACT_OK;
	if ((w == 6 && strncasecmp(v, "REJECT", 6) == 0) || (w == 3 && v[0] == '5'))
		return ACT_REJECT;
	if ((w == 5 && strncasecmp(v, "DEFER", 5) == 0) || (w == 3 && v[0] == '4'))
		return ACT_DEFER;
	/* A greylisting delay: Postfix defers only once the other restrictions permit. */
	if (w == 15 && strncasecmp(v, "DEFER_IF_PERMIT", 15) == 0)
		return ACT_DEFER_IF_PERMIT;
	if (w == 7 && strncasecmp(v, "PREPEND", 7) == 0)
		return ACT_PREPEND;
	if (w == 4 && strncasecmp(v, "WARN", 4) == 0)
		return ACT_WARN;
	return ACT_OTHER;
}

/* lean_action_by_name - the action a list line expects; "-" for any; -1 if unknown */
static int lean_action_by_name(const char *name)
{
	int i;

	if (strcmp(name, "-") == 0)
		return ACT_ANY;
	for (i = 0; i < ACT_OTHER; i++)
		if (strcasecmp(name, lean_action_names[i]) == 0)
			return i;
	return -1;
}

/* lean_append - append bytes to the request block, growing it; 0 on success */
static int lean_append(struct lean_requests *r, const char *data, size_t len)
{
	if (r->text_len + len > r->text_cap) {
		size_t cap = r->text_cap ? r->text_cap : 65536;
		char *grown;

		while (cap < r->text_len + len)
			cap *= 2;
		grown = realloc(r->text, cap);
		if (grown == NULL)
			return -1;
		r->text = grown;
		r->text_cap = cap;
	}
	memcpy(r->text + r->text_len, data, len);
	r->text_len += len;
	return 0;
}

/* lean_add_request - build one request at the end of the block; 0 on success */
static int lean_add_request(struct lean_requests *r, size_t capacity, const char *client,
	const char *helo, const char *sender, int expect)
{
	size_t start = r->text_len;

	if (r->count >= capacity)
		return -1;
	if (lean_append(r, lean_part_client, sizeof(lean_part_client) - 1) != 0
	    || lean_append(r, client, strlen(client)) != 0
	    || lean_append(r, lean_part_helo, sizeof(lean_part_helo) - 1) != 0
	    || lean_append(r, helo, strlen(helo)) != 0
	    || lean_append(r, lean_part_sender, sizeof(lean_part_sender) - 1) != 0
	    || lean_append(r, sender, strlen(sender)) != 0
	    || lean_append(r, lean_part_recipient, sizeof(lean_part_recipient) - 1) != 0)
		return -1;
	if (r->unique_tag == NULL) {
		if (lean_append(r, "root", 4) != 0)
			return -1;
	} else {
		/* TAG-NNNNNNNNNNNN: the digits are filled in at each send (lean_number). */
		if (lean_append(r, r->unique_tag, strlen(r->unique_tag)) != 0
		    || lean_append(r, "-", 1) != 0)
			return -1;
		r->rcpt_digits[r->count] = r->text_len;
		if (lean_append(r, "000000000000", LEAN_SEQ_DIGITS) != 0)
			return -1;
	}
	if (lean_append(r, lean_part_domain, sizeof(lean_part_domain) - 1) != 0
	    || lean_append(r, lean_part_end, sizeof(lean_part_end) - 1) != 0)
		return -1;
	if (r->text_len - start > LEAN_REQUEST_MAX)
		return -1;
	r->expect[r->count] = (unsigned char)expect;
	if (expect != ACT_ANY)
		r->has_expectations = 1;
	r->count++;
	r->offset[r->count] = r->text_len;
	return 0;
}

/* lean_alloc_requests - room for capacity requests; 0 on success */
static int lean_alloc_requests(struct lean_requests *r, size_t capacity)
{
	r->offset = calloc(capacity + 1, sizeof(*r->offset));
	r->expect = calloc(capacity > 0 ? capacity : 1, 1);
	if (r->unique_tag != NULL)
		r->rcpt_digits = calloc(capacity > 0 ? capacity : 1, sizeof(*r->rcpt_digits));
	return r->offset != NULL && r->expect != NULL
		&& (r->unique_tag == NULL || r->rcpt_digits != NULL) ? 0 : -1;
}

/* lean_generate - K requests from consecutive client addresses, no expected action */
static int lean_generate(struct lean_requests *r, uint32_t base, uint32_t k)
{
	char client[INET_ADDRSTRLEN];
	struct in_addr in;
	uint32_t i;

	if (lean_alloc_requests(r, k) != 0)
		return -1;
	for (i = 0; i < k; i++) {
		in.s_addr = htonl(base + i);
		if (inet_ntop(AF_INET, &in, client, sizeof(client)) == NULL
		    || lean_add_request(r, k, client, "vm", "root@vm", ACT_ANY) != 0)
			return -1;
	}
	in.s_addr = htonl(base);
	snprintf(r->source, sizeof(r->source), "%u generated addresses from %s", (unsigned int)k,
		inet_ntop(AF_INET, &in, client, sizeof(client)) ? client : "?");
	return 0;
}

/* lean_field_ok - whether a list field may go into a request: printable, no '=' trouble */
static int lean_field_ok(const char *field)
{
	const unsigned char *p;

	for (p = (const unsigned char *)field; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

/*
 * lean_load - read the list file: "CLIENT_ADDRESS SENDER HELO_NAME [EXPECTED_ACTION]" per
 * line, blank-separated; "-" stands for an empty sender (the null sender) and for "any
 * action"; '#' starts a comment line.  0 on success, else a message was printed.
 */
static int lean_load(struct lean_requests *r, const char *path)
{
	char line[4 * LEAN_FIELD_MAX], client[LEAN_FIELD_MAX], sender[LEAN_FIELD_MAX];
	char helo[LEAN_FIELD_MAX], expect[LEAN_FIELD_MAX];
	size_t lines = 0, capacity = 0, lineno = 0;
	FILE *f = fopen(path, "r");
	int n, action;

	if (f == NULL) {
		fprintf(stderr, "policyd-leanbench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* Count first, so that the offsets are allocated once. */
	while (fgets(line, sizeof(line), f) != NULL && lines <= LEAN_MAX_REQUESTS)
		lines++;
	capacity = lines;
	if (capacity > LEAN_MAX_REQUESTS || lean_alloc_requests(r, capacity) != 0) {
		fprintf(stderr, "policyd-leanbench: %s: too many lines or out of memory\n", path);
		fclose(f);
		return -1;
	}
	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL && lineno < capacity) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "policyd-leanbench: %s:%zu: line too long\n", path, lineno);
			fclose(f);
			return -1;
		}
		expect[0] = '\0';
		n = sscanf(line, "%511s %511s %511s %511s", client, sender, helo, expect);
		if (n <= 0 || client[0] == '#')
			continue;
		action = n == 4 ? lean_action_by_name(expect) : ACT_ANY;
		if (strcmp(sender, "-") == 0)
			sender[0] = '\0';
		if (n < 3 || action < 0 || !lean_field_ok(client) || !lean_field_ok(helo)
		    || (sender[0] != '\0' && !lean_field_ok(sender))
		    || lean_add_request(r, capacity, client, helo, sender, action) != 0) {
			fprintf(stderr, "policyd-leanbench: %s:%zu: want CLIENT_ADDRESS SENDER"
				" HELO_NAME [DUNNO|OK|REJECT|DEFER|DEFER_IF_PERMIT|PREPEND|WARN|-]\n",
				path, lineno);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	if (r->count == 0) {
		fprintf(stderr, "policyd-leanbench: %s: no requests\n", path);
		return -1;
	}
	snprintf(r->source, sizeof(r->source), "%zu from %s", r->count, path);
	return 0;
}

/* lean_count_error - count an error on a connection and report the first few */
static void lean_count_error(struct lean *b, const struct lean_conn *conn,
	enum lean_error kind, const char *why)
{
	b->errors[kind]++;
	if (b->logged++ < LEAN_LOG_MAX)
		fprintf(stderr, "policyd-leanbench: connection %u: %s: %s\n", conn->id,
			lean_error_names[kind], why);
}

/* lean_fail - count an error and close the connection: nothing more is read from it */
static void lean_fail(struct lean *b, struct lean_conn *conn, enum lean_error kind,
	const char *why)
{
	lean_count_error(b, conn, kind, why);
	if (conn->state == CONN_CLOSED)
		return;
	close(conn->fd);	/* also removes it from the epoll set */
	conn->fd = -1;
	conn->state = CONN_CLOSED;
	b->open--;
}

/* lean_fail_reply - count a malformed reply, quoting its start cleaned of control bytes */
static void lean_fail_reply(struct lean *b, struct lean_conn *conn, const char *why,
	const char *reply, size_t len)
{
	char msg[160];
	size_t n = (size_t)snprintf(msg, sizeof(msg), "%s: \"", why), i;

	for (i = 0; i < len && i < 60 && n < sizeof(msg) - 8; i++) {
		unsigned char c = (unsigned char)reply[i];

		if (c == '\n') {
			msg[n++] = '\\';
			msg[n++] = 'n';
		} else {
			msg[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	snprintf(msg + n, sizeof(msg) - n, "\"%s", len > i ? "..." : "");
	lean_fail(b, conn, ERR_MALFORMED, msg);
}

/* lean_begin_measure - the warm-up is over: start the window and the CPU readings */
static void lean_begin_measure(struct lean *b, uint64_t now)
{
	b->phase = PHASE_MEASURE;
	b->t_start = now;
	lean_cpu_snapshot(b, 0);
}

/* lean_end - end the run: close the window (if it was opened) and every connection */
static void lean_end(struct lean *b, uint64_t now)
{
	unsigned int i;

	if (b->phase == PHASE_DONE)
		return;
	if (b->phase == PHASE_WARMUP)
		lean_begin_measure(b, now);
	b->t_end = now;
	lean_cpu_snapshot(b, 1);
	b->phase = PHASE_DONE;
	for (i = 0; i < b->opt.conns; i++) {
		struct lean_conn *conn = &b->conns[i];

		if (conn->state != CONN_CLOSED) {
			close(conn->fd);
			conn->fd = -1;
			conn->state = CONN_CLOSED;
			b->open--;
		}
	}
}

/* lean_watch - set the events epoll reports for a connection: output only while needed */
static int lean_watch(struct lean *b, struct lean_conn *conn, int op, int want_out)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
	ev.data.u32 = conn->id;
	return epoll_ctl(b->epfd, op, conn->fd, &ev);
}

static void lean_send(struct lean *b, struct lean_conn *conn, uint64_t now);

/*
 * lean_flush - write what a short write left; 0 when all is out (then the pipeline slots
 * that replies freed meanwhile are filled) or when the rest waits for EPOLLOUT
 */
static int lean_flush(struct lean *b, struct lean_conn *conn)
{
	ssize_t n;

	while (conn->unsent_off < conn->unsent_len) {
		n = write(conn->fd, conn->unsent + conn->unsent_off,
			conn->unsent_len - conn->unsent_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			lean_fail(b, conn, ERR_WRITE, n < 0 ? strerror(errno) : "wrote nothing");
			return -1;
		}
		conn->unsent_off += (size_t)n;
	}
	conn->unsent_len = conn->unsent_off = 0;
	if (lean_watch(b, conn, EPOLL_CTL_MOD, 0) != 0) {
		lean_fail(b, conn, ERR_WRITE, strerror(errno));
		return -1;
	}
	lean_send(b, conn, lean_now());
	return conn->state == CONN_OPEN ? 0 : -1;
}

/* lean_keep_unsent - keep the bytes of a batch that one write did not take; 0 on success */
static int lean_keep_unsent(struct lean *b, struct lean_conn *conn, const struct iovec *iov,
	unsigned int niov, size_t written)
{
	unsigned int i;

	if (conn->unsent == NULL)
		conn->unsent = malloc((size_t)LEAN_MAX_DEPTH * LEAN_REQUEST_MAX);
	if (conn->unsent == NULL) {
		lean_fail(b, conn, ERR_WRITE, "out of memory");
		return -1;
	}
	conn->unsent_len = conn->unsent_off = 0;
	for (i = 0; i < niov; i++) {
		size_t skip = written < iov[i].iov_len ? written : iov[i].iov_len;

		written -= skip;
		memcpy(conn->unsent + conn->unsent_len, (const char *)iov[i].iov_base + skip,
			iov[i].iov_len - skip);
		conn->unsent_len += iov[i].iov_len - skip;
	}
	if (lean_watch(b, conn, EPOLL_CTL_MOD, 1) != 0) {
		lean_fail(b, conn, ERR_WRITE, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * lean_number - with --unique-recipients, write the next number into request i's recipient
 * (right-aligned decimal, zero-padded): no recipient is sent twice in a run of fewer than
 * 10^12 requests
 */
static void lean_number(struct lean_requests *r, size_t i)
{
	char *d;
	uint64_t n;
	int k;

	if (r->unique_tag == NULL)
		return;
	d = r->text + r->rcpt_digits[i];
	n = ++r->next_rcpt;
	for (k = LEAN_SEQ_DIGITS - 1; k >= 0; k--) {
		d[k] = (char)('0' + n % 10);
		n /= 10;
	}
}

/* lean_may_send - whether the run wants another request sent now */
static int lean_may_send(const struct lean *b)
{
	if (b->phase == PHASE_DONE)
		return 0;
	return b->phase != PHASE_MEASURE || b->opt.count == 0 || b->sent < b->opt.count;
}

/* lean_send - fill the connection's free pipeline slots with the next requests, one write */
static void lean_send(struct lean *b, struct lean_conn *conn, uint64_t now)
{
	struct iovec iov[LEAN_MAX_DEPTH];
	unsigned int niov = 0;
	size_t total = 0;
	ssize_t n;

	if (conn->unsent_len > 0)
		return;		/* the rest goes out on EPOLLOUT; replies refill later */
	while (conn->in_flight < b->opt.depth && lean_may_send(b)) {
		size_t i = b->next_request;
		unsigned int slot = (conn->head + conn->in_flight) % LEAN_MAX_DEPTH;

		if (++b->next_request == b->req.count)
			b->next_request = 0;
		lean_number(&b->req, i);
		iov[niov].iov_base = b->req.text + b->req.offset[i];
		iov[niov].iov_len = b->req.offset[i + 1] - b->req.offset[i];
		total += iov[niov].iov_len;
		niov++;
		conn->sent_ns[slot] = now;
		conn->sent_index[slot] = (uint32_t)i;
		conn->counted[slot] = b->phase == PHASE_MEASURE;
		if (b->phase == PHASE_MEASURE)
			b->sent++;
		conn->in_flight++;
	}
	if (niov == 0)
		return;
	do
		n = niov == 1 ? write(conn->fd, iov[0].iov_base, iov[0].iov_len)
			: writev(conn->fd, iov, (int)niov);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (size_t)n == total)
		return;
	if (n < 0 && errno != EAGAIN) {
		lean_fail(b, conn, ERR_WRITE, strerror(errno));
		return;
	}
	(void)lean_keep_unsent(b, conn, iov, niov, n < 0 ? 0 : (size_t)n);
}

/* lean_take_reply - check and count one complete untrusted reply (it ends in "\n\n") */
static void lean_take_reply(struct lean *b, struct lean_conn *conn, const char *reply,
	size_t len, uint64_t now)
{
	unsigned int slot = conn->head;
	int action;

	if (conn->in_flight == 0) {
		lean_fail_reply(b, conn, "reply without a request", reply, len);
		return;
	}
	action = lean_classify(reply, len);
	if (action < 0) {
		lean_fail_reply(b, conn, "not one action line", reply, len);
		return;
	}
	conn->head = (conn->head + 1) % LEAN_MAX_DEPTH;
	conn->in_flight--;
	if (b->opt.expect) {
		int want = b->req.expect[conn->sent_index[slot]];

		if (want != ACT_ANY && want != action) {
			char why[160];
			const char *req = b->req.text + b->req.offset[conn->sent_index[slot]];
			const char *client = req + sizeof(lean_part_client) - 1;

			snprintf(why, sizeof(why), "client_address=%.*s: %s, expected %s",
				(int)strcspn(client, "\n"), client, lean_action_names[action],
				lean_action_names[want]);
			lean_count_error(b, conn, ERR_UNEXPECTED, why);
		}
	}
	if (!conn->counted[slot])
		return;
	hist_record(&b->hist, (now - conn->sent_ns[slot]) / 1000);
	b->actions[action]++;
	b->replies++;
}

/* lean_on_readable - read untrusted reply bytes, check each reply, send the next requests */
static void lean_on_readable(struct lean *b, struct lean_conn *conn)
{
	size_t start = 0, scan;
	uint64_t now;
	ssize_t n;
	char *nl;

	do
		n = read(conn->fd, conn->reply + conn->reply_len,
			sizeof(conn->reply) - conn->reply_len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		lean_fail(b, conn, ERR_CLOSED, n == 0 ? "connection closed by the server"
			: strerror(errno));
		return;
	}
	now = lean_now();
	/* The last read may have ended with the first "\n" of a reply's "\n\n". */
	scan = conn->reply_len > 0 ? conn->reply_len - 1 : 0;
	conn->reply_len += (size_t)n;
	/* A reply ends at the first "\n\n" after the end of the previous one. */
	while (conn->state == CONN_OPEN && scan + 1 < conn->reply_len
	       && (nl = memchr(conn->reply + scan, '\n', conn->reply_len - 1 - scan)) != NULL) {
		size_t at = (size_t)(nl - conn->reply);

		if (nl[1] != '\n') {
			scan = at + 1;
			continue;
		}
		lean_take_reply(b, conn, conn->reply + start, at + 2 - start, now);
		start = scan = at + 2;
	}
	if (conn->state != CONN_OPEN)
		return;
	if (start > 0) {
		conn->reply_len -= start;
		memmove(conn->reply, conn->reply + start, conn->reply_len);
	} else if (conn->reply_len == sizeof(conn->reply)) {
		lean_fail_reply(b, conn, "reply too long", conn->reply, conn->reply_len);
		return;
	}
	if (b->opt.count > 0 && b->phase == PHASE_MEASURE && b->replies >= b->opt.count) {
		lean_end(b, now);
		return;
	}
	lean_send(b, conn, now);
}

/* lean_on_connected - a non-blocking connect ended: check it, then start sending */
static void lean_on_connected(struct lean *b, struct lean_conn *conn)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		lean_fail(b, conn, ERR_CONNECT, strerror(err));
		return;
	}
	if (!b->opt.ep.is_unix) {
		int one = 1;

		(void)setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	conn->state = CONN_OPEN;
	if (lean_watch(b, conn, EPOLL_CTL_MOD, 0) != 0) {
		lean_fail(b, conn, ERR_CONNECT, strerror(errno));
		return;
	}
	lean_send(b, conn, lean_now());
}

/* lean_connect - open one connection, non-blocking; failures are counted on it */
static void lean_connect(struct lean *b, struct lean_conn *conn)
{
	const struct endpoint *ep = &b->opt.ep;
	struct sockaddr_un sun;
	const struct sockaddr *sa;
	socklen_t salen;
	int family, rc;

	if (ep->is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, ep->path, strlen(ep->path) + 1);
		sa = (const struct sockaddr *)&sun;
		salen = sizeof(sun);
		family = AF_UNIX;
	} else {
		sa = (const struct sockaddr *)&ep->addr;
		family = ep->addr.ss_family;
		salen = family == AF_INET6 ? sizeof(struct sockaddr_in6)
			: sizeof(struct sockaddr_in);
	}
	conn->connect_ns = lean_now();
	conn->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conn->fd < 0) {
		conn->state = CONN_CLOSED;
		b->errors[ERR_CONNECT]++;
		if (b->logged++ < LEAN_LOG_MAX)
			fprintf(stderr, "policyd-leanbench: socket: %s\n", strerror(errno));
		return;
	}
	conn->state = CONN_CONNECTING;
	b->open++;
	rc = connect(conn->fd, sa, salen);
	if (rc != 0 && errno != EINPROGRESS && errno != EAGAIN) {
		lean_fail(b, conn, ERR_CONNECT, strerror(errno));
		return;
	}
	/* Completion, even an immediate one, is reported as EPOLLOUT. */
	if (lean_watch(b, conn, EPOLL_CTL_ADD, 1) != 0)
		lean_fail(b, conn, ERR_CONNECT, strerror(errno));
}

/*
 * lean_all_answered - with -n, whether every request to be measured was sent and nothing
 * is left to wait for: a connection that failed with measured requests in flight would
 * otherwise keep the run waiting for replies that cannot come
 */
static int lean_all_answered(const struct lean *b)
{
	unsigned int i;

	if (b->opt.count == 0 || b->phase != PHASE_MEASURE || b->sent < b->opt.count)
		return 0;
	for (i = 0; i < b->opt.conns; i++)
		if (b->conns[i].state == CONN_OPEN && b->conns[i].in_flight > 0)
			return 0;
	return 1;
}

/* lean_check_timeouts - fail connections whose connect or oldest reply is overdue */
static void lean_check_timeouts(struct lean *b, uint64_t now)
{
	uint64_t limit = b->opt.timeout_ms * 1000000u;
	unsigned int i;

	for (i = 0; i < b->opt.conns; i++) {
		struct lean_conn *conn = &b->conns[i];

		if (conn->state == CONN_CONNECTING && now - conn->connect_ns > limit)
			lean_fail(b, conn, ERR_CONNECT, "no connection within the timeout");
		else if (conn->state == CONN_OPEN && conn->in_flight > 0
			 && now - conn->sent_ns[conn->head] > limit)
			lean_fail(b, conn, ERR_TIMEOUT, "no reply within the timeout");
	}
}

/* lean_run - connect everything and serve events until the run ends */
static int lean_run(struct lean *b)
{
	struct epoll_event events[LEAN_EVENTS];
	uint64_t now, next_check, limit_at, warmup_end, measure_end = 0;
	unsigned int i;
	int n;

	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		fprintf(stderr, "policyd-leanbench: epoll_create1: %s\n", strerror(errno));
		return -1;
	}
	b->t_begin = now = lean_now();
	limit_at = now + b->opt.limit_ms * 1000000u;
	warmup_end = now + b->opt.warmup_ms * 1000000u;
	next_check = now + LEAN_TICK_MS * 1000000u;
	if (b->opt.warmup_ms == 0)
		lean_begin_measure(b, now);
	else
		b->phase = PHASE_WARMUP;
	if (b->phase == PHASE_MEASURE && b->opt.duration_ms > 0)
		measure_end = now + b->opt.duration_ms * 1000000u;
	for (i = 0; i < b->opt.conns; i++) {
		b->conns[i].id = i;
		lean_connect(b, &b->conns[i]);
	}
	/* Bounded by limit_at: every turn reads the clock and ends the run past it. */
	while (b->phase != PHASE_DONE) {
		if (b->open == 0) {
			lean_end(b, lean_now());
			break;
		}
		n = epoll_wait(b->epfd, events, LEAN_EVENTS, LEAN_TICK_MS);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "policyd-leanbench: epoll_wait: %s\n", strerror(errno));
			lean_end(b, lean_now());
			break;
		}
		for (i = 0; i < (unsigned int)(n > 0 ? n : 0) && b->phase != PHASE_DONE; i++) {
			struct lean_conn *conn = &b->conns[events[i].data.u32];

			if (conn->state == CONN_CLOSED)
				continue;
			if (conn->state == CONN_CONNECTING) {
				lean_on_connected(b, conn);
				continue;
			}
			if ((events[i].events & EPOLLOUT) && conn->unsent_len > 0
			    && lean_flush(b, conn) != 0)
				continue;
			if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				lean_on_readable(b, conn);
		}
		now = lean_now();
		if (lean_signalled) {
			b->interrupted = 1;
			lean_end(b, now);
		} else if (now >= limit_at) {
			b->timed_out = 1;
			lean_end(b, now);
		} else if (b->phase == PHASE_WARMUP && now >= warmup_end) {
			lean_begin_measure(b, now);
			if (b->opt.duration_ms > 0)
				measure_end = now + b->opt.duration_ms * 1000000u;
		} else if (b->phase == PHASE_MEASURE && measure_end > 0 && now >= measure_end) {
			lean_end(b, now);
		} else if (lean_all_answered(b)) {
			lean_end(b, now);
		}
		if (b->phase != PHASE_DONE && now >= next_check) {
			lean_check_timeouts(b, now);
			next_check = now + LEAN_TICK_MS * 1000000u;
		}
	}
	close(b->epfd);
	return 0;
}

/* lean_usage - print how to call the program; return the usage exit status */
static int lean_usage(void)
{
	fprintf(stderr,
		"usage: policyd-leanbench [options] inet:HOST:PORT | unix:PATH\n"
		"  -c, --connections N   concurrent connections (32)\n"
		"  -p, --depth N         requests in flight per connection (1, at most 64)\n"
		"  -d, --duration SECS   measured time (10; none with -n alone)\n"
		"  -w, --warmup SECS     time not counted before measuring (2; 0 with -n alone)\n"
		"  -n, --requests N      measure N replies instead of a duration\n"
		"  -t, --timeout SECS    longest wait for a connect or a reply (10)\n"
		"  -l, --limit SECS      longest run, whatever else happens (warm-up + duration\n"
		"                        + timeout; 900 with -n)\n"
		"  -f, --requests-file F requests from F: CLIENT_ADDRESS SENDER HELO_NAME [ACTION]\n"
		"                        per line (- for the null sender or any action)\n"
		"      --hit-set K       without -f: K generated client addresses (100)\n"
		"      --hit-base ADDR   the first of them (198.18.0.1)\n"
		"  -e, --expect          count a reply whose action differs from the file's as an\n"
		"                        error\n"
		"      --unique-recipients TAG  each request sent has a recipient of its own,\n"
		"                        TAG-000000000001@mx.test and on (root@mx.test without)\n"
		"      --pid NAME=PID    report that process's CPU time per reply (repeatable, %d)\n",
		LEAN_MAX_PIDS);
	return 2;
}

/* lean_parse_pid - "NAME=PID": a process to measure; 0 on success */
static int lean_parse_pid(struct lean_options *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct lean_pid *p;
	uint64_t v;
	size_t i;

	if (o->npids == LEAN_MAX_PIDS || eq == NULL || eq == arg
	    || (size_t)(eq - arg) >= sizeof(p->name)
	    || args_parse_num(eq + 1, 1, INT32_MAX, &v) != 0)
		return -1;
	p = &o->pids[o->npids++];
	memcpy(p->name, arg, (size_t)(eq - arg));
	p->name[eq - arg] = '\0';
	for (i = 0; p->name[i] != '\0'; i++)
		if (!isalnum((unsigned char)p->name[i]) && p->name[i] != '_')
			return -1;	/* the name becomes part of a RESULT key */
	p->pid = (pid_t)v;
	p->has_clock = clock_getcpuclockid(p->pid, &p->clock) == 0;
	return 0;
}

/* lean_option - apply one command-line option; 0 on success */
static int lean_option(struct lean_options *o, int opt, const char *arg, int *have_d,
	int *have_w, int *have_l)
{
	uint64_t v = 0;
	struct in_addr in;
	int rc = 0;

	switch (opt) {
	case 'c':
		rc = args_parse_num(arg, 1, LEAN_MAX_CONNS, &v);
		o->conns = (unsigned int)v;
		break;
	case 'p':
		rc = args_parse_num(arg, 1, LEAN_MAX_DEPTH, &v);
		o->depth = (unsigned int)v;
		break;
	case 'd':
		rc = args_parse_ms(arg, &o->duration_ms);
		*have_d = 1;
		break;
	case 'w':
		rc = args_parse_ms(arg, &o->warmup_ms);
		*have_w = 1;
		break;
	case 'n':
		rc = args_parse_num(arg, 1, UINT64_MAX / 100000, &o->count);
		break;
	case 't':
		rc = args_parse_ms(arg, &o->timeout_ms);
		break;
	case 'l':
		rc = args_parse_ms(arg, &o->limit_ms);
		*have_l = 1;
		break;
	case 'f':
		o->requests_file = arg;
		break;
	case 'H':
		rc = args_parse_num(arg, 1, 1u << 24, &v);
		o->hit_set = (uint32_t)v;
		break;
	case 'B':
		rc = inet_pton(AF_INET, arg, &in) == 1 ? 0 : -1;
		o->hit_base = ntohl(in.s_addr);
		break;
	case 'e':
		o->expect = 1;
		break;
	case 'U':
		/* The tag becomes part of a mail address's local part: letters, digits, '_'. */
		o->unique_tag = arg;
		rc = arg[0] != '\0' && strlen(arg) <= LEAN_TAG_MAX
			&& strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				"0123456789_") == strlen(arg) ? 0 : -1;
		break;
	case 'P':
		rc = lean_parse_pid(o, arg);
		break;
	default:
		rc = -1;
		break;
	}
	return rc;
}

/* lean_parse_options - fill in the options from the command line; 0 on success */
static int lean_parse_options(struct lean_options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "requests", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' },
		{ "requests-file", required_argument, NULL, 'f' },
		{ "hit-set", required_argument, NULL, 'H' },
		{ "hit-base", required_argument, NULL, 'B' },
		{ "expect", no_argument, NULL, 'e' },
		{ "unique-recipients", required_argument, NULL, 'U' },
		{ "pid", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, have_d = 0, have_w = 0, have_l = 0, rc;

	o->conns = 32;
	o->depth = 1;
	o->duration_ms = 10000;
	o->warmup_ms = 2000;
	o->timeout_ms = 10000;
	o->hit_set = 100;
	o->hit_base = 0xc6120001u;	/* 198.18.0.1, RFC 2544 benchmarking */
	while ((opt = getopt_long(argc, argv, "c:p:d:w:n:t:l:f:eh", longopts, NULL)) != -1)
		if (opt == 'h' || lean_option(o, opt, optarg, &have_d, &have_w, &have_l) != 0)
			return -1;
	if (optind != argc - 1 || o->timeout_ms == 0)
		return -1;
	if (o->count > 0 && !have_d)
		o->duration_ms = 0;
	if (o->count > 0 && !have_w)
		o->warmup_ms = 0;
	if (o->count == 0 && o->duration_ms == 0)
		return -1;
	if (!have_l)
		o->limit_ms = o->duration_ms > 0 && o->count == 0
			? o->warmup_ms + o->duration_ms + o->timeout_ms : 900000;
	if (o->limit_ms == 0)
		return -1;
	rc = endpoint_parse(&o->ep, argv[optind]);
	if (rc != 0)
		fprintf(stderr, "policyd-leanbench: %s: %s\n", argv[optind], uv_strerror(rc));
	return rc;
}

/* lean_report - print the results, human-readable, then the RESULT line */
static void lean_report(const struct lean *b)
{
	const struct hist *h = &b->hist;
	double secs = (double)(b->t_end - b->t_start) / 1e9;
	double rps = secs > 0 ? (double)b->replies / secs : 0;
	double per = b->replies > 0 ? 1.0 / (double)b->replies : 0;
	double client_us = (double)(b->client_ns_end - b->client_ns_start) / 1e3 * per;
	long tck = sysconf(_SC_CLK_TCK);
	unsigned long long errors = 0;
	unsigned int i;

	for (i = 0; i < ERR_COUNT; i++)
		errors += b->errors[i];
	printf("target       %s\n", b->opt.ep.text);
	printf("connections  %u, %u request%s in flight on each\n", b->opt.conns, b->opt.depth,
		b->opt.depth == 1 ? "" : "s");
	printf("requests     %s, cycled%s%s%s%s\n", b->req.source,
		b->opt.expect && b->req.has_expectations ? "; actions checked" : "",
		b->req.unique_tag ? "; recipients " : "", b->req.unique_tag ? b->req.unique_tag : "",
		b->req.unique_tag ? "-N@mx.test, each sent once" : "");
	printf("measured     %llu replies in %.3f s after %.3f s warm-up%s%s\n",
		(unsigned long long)b->replies, secs, (double)(b->t_start - b->t_begin) / 1e9,
		b->interrupted ? " (interrupted)" : "", b->timed_out ? " (run limit hit)" : "");
	printf("requests/s   %.0f\n", rps);
	printf("latency_us   p50=%llu p90=%llu p99=%llu p99.9=%llu max=%llu mean=%.1f\n",
		(unsigned long long)hist_percentile(h, 50000),
		(unsigned long long)hist_percentile(h, 90000),
		(unsigned long long)hist_percentile(h, 99000),
		(unsigned long long)hist_percentile(h, 99900), (unsigned long long)h->max,
		h->count > 0 ? (double)h->sum / (double)h->count : 0.0);
	printf("replies     ");
	for (i = 0; i < ACT_COUNT; i++)
		printf(" %s=%llu", lean_action_names[i], (unsigned long long)b->actions[i]);
	printf("\nerrors       %llu (", errors);
	for (i = 0; i < ERR_COUNT; i++)
		printf("%s%s=%llu", i > 0 ? " " : "", lean_error_names[i],
			(unsigned long long)b->errors[i]);
	printf(")\n");
	for (i = 0; i < b->opt.npids; i++) {
		const struct lean_pid *p = &b->opt.pids[i];

		if (p->failed) {
			printf("cpu          %s (pid %ld): could not be read\n", p->name,
				(long)p->pid);
			continue;
		}
		printf("cpu          %s (pid %ld, %ld thread%s): %.2f us/request"
			" (/proc ticks: %.1f, of which kernel %.2f)\n", p->name, (long)p->pid,
			p->threads, p->threads == 1 ? "" : "s",
			(double)(p->ns_end - p->ns_start) / 1e3 * per,
			tck > 0 ? (double)(p->ticks_end - p->ticks_start) * 1e6 / (double)tck * per
			: 0.0,
			tck > 0 ? (double)(p->sys_end - p->sys_start) * 1e6 / (double)tck * per : 0.0);
	}
	printf("cpu          client: %.2f us/request\n", client_us);
	printf("RESULT rps=%.0f p50_us=%llu p99_us=%llu errors=%llu replies=%llu", rps,
		(unsigned long long)hist_percentile(h, 50000),
		(unsigned long long)hist_percentile(h, 99000), errors,
		(unsigned long long)b->replies);
	for (i = 0; i < b->opt.npids; i++) {
		const struct lean_pid *p = &b->opt.pids[i];

		if (p->failed)
			continue;
		printf(" cpu_us_%s=%.3f", p->name, (double)(p->ns_end - p->ns_start) / 1e3 * per);
		/* The kernel's share, from clock ticks: coarse (10 ms), fine over seconds. */
		if (tck > 0)
			printf(" sys_us_%s=%.3f", p->name,
				(double)(p->sys_end - p->sys_start) * 1e6 / (double)tck * per);
	}
	printf(" cpu_us_client=%.3f\n", client_us);
	fflush(stdout);
}

/* main - parse options, build the requests, run, report */
int main(int argc, char **argv)
{
	static struct lean b;
	struct sigaction sa;
	unsigned int i;
	int rc, failed = 0;

	if (lean_parse_options(&b.opt, argc, argv) != 0)
		return lean_usage();
	b.req.unique_tag = b.opt.unique_tag;
	rc = b.opt.requests_file != NULL ? lean_load(&b.req, b.opt.requests_file)
		: lean_generate(&b.req, b.opt.hit_base, b.opt.hit_set);
	if (rc != 0) {
		if (b.opt.requests_file == NULL)
			fprintf(stderr, "policyd-leanbench: out of memory\n");
		return 2;
	}
	/* One batch of a connection takes consecutive requests of the list; numbering a
	 * request in place needs them distinct within a batch. */
	if (b.opt.unique_tag != NULL && b.req.count < b.opt.depth) {
		fprintf(stderr, "policyd-leanbench: --unique-recipients needs at least as many"
			" requests as --depth (%u)\n", b.opt.depth);
		return 2;
	}
	b.conns = calloc(b.opt.conns, sizeof(*b.conns));
	if (b.conns == NULL) {
		fprintf(stderr, "policyd-leanbench: out of memory\n");
		return 2;
	}
	for (i = 0; i < b.opt.conns; i++)
		b.conns[i].state = CONN_CLOSED;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lean_on_signal;	/* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = lean_run(&b);
	lean_report(&b);
	for (i = 0; i < ERR_COUNT; i++)
		failed |= b.errors[i] > 0;
	for (i = 0; i < b.opt.conns; i++)
		free(b.conns[i].unsent);
	free(b.conns);
	free(b.req.text);
	free(b.req.offset);
	free(b.req.expect);
	free(b.req.rcpt_digits);
	return rc != 0 || failed || b.timed_out ? 1 : 0;
}
