/*
 * bench - closed-loop benchmark client for policyd (and for the floor server).
 *
 * Usage: policyd-bench [-c CONNS] [-d SECS] [-w SECS] [-n REQUESTS] [-t SECS]
 *        [--hit-set K] [--hit-base ADDR] [--miss] [--mix P] [--miss-base ADDR] TARGET
 *
 * Each of CONNS connections sends one request shaped like Postfix's RCPT request (the
 * rcpt-ipv4 fixture), waits for the whole reply, and sends the next.  Only the client_address
 * changes: it comes from a hit set of K fixed addresses, cycled, or, for P% of requests, from
 * a counter that gives a fresh address every time (only text in requests, never contacted).
 * Requests sent during the warm-up are not counted; latency runs from the write to the end
 * of the reply, on CLOCK_MONOTONIC, into a log-linear histogram (1 us buckets below 16 ms).
 * Every wait is bounded by the timeout.  Exit status: 0 on success, 1 if any connection
 * failed or any reply was malformed, 2 on a usage error.
 *
 * Memory: each connection is one malloc'd struct bench_conn holding its request and reply
 * buffers and its write request, freed only in its close callback; the array of pointers to
 * them belongs to struct bench and outlives the loop.  Untrusted input: replies.
 */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <uv.h>

#include "args.h"
#include "endpoint.h"
#include "hist.h"

#define BENCH_REQ_MAX 1024
#define BENCH_REPLY_MAX 4096
#define BENCH_MAX_CONNS 10000
#define BENCH_LOG_MAX 10		/* error messages printed; later ones only counted */
#define BENCH_WATCHDOG_MS 100

enum bench_phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };
enum conn_state { CONN_CONNECTING, CONN_IDLE, CONN_WAITING, CONN_CLOSED };
enum bench_action { ACT_DUNNO, ACT_REJECT, ACT_DEFER, ACT_OTHER, ACT_COUNT };
enum bench_error { ERR_CONNECT, ERR_CLOSED, ERR_MALFORMED, ERR_TIMEOUT, ERR_WRITE, ERR_COUNT };

static const char *const bench_error_names[ERR_COUNT] = {
	"connect", "closed", "malformed", "timeout", "write",
};

/* The rcpt-ipv4 fixture from Postfix 3.7.11, split around client_address. */
static const char bench_prefix[] =
	"request=smtpd_access_policy\n"
	"protocol_state=RCPT\n"
	"protocol_name=ESMTP\n"
	"client_address=";
static const char bench_suffix[] =
	"\nclient_name=unknown\n"
	"client_port=49618\n"
	"reverse_client_name=unknown\n"
	"server_address=127.0.0.1\n"
	"server_port=2525\n"
	"helo_name=vm\n"
	"sender=root@vm\n"
	"recipient=root@mx.test\n"
	"recipient_count=0\n"
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

struct bench_options {
	struct endpoint ep;
	unsigned int conns;
	uint64_t warmup_ms;
	uint64_t duration_ms;	/* 0: run until count requests are done */
	uint64_t count;		/* 0: run for duration_ms */
	uint64_t timeout_ms;
	uint32_t hit_set;
	uint32_t hit_base;
	uint32_t miss_base;
	unsigned int miss_pct;
};

struct bench {
	struct bench_options opt;
	uv_loop_t *loop;
	uv_timer_t phase_timer;
	uv_timer_t watchdog;
	uv_signal_t sigint;
	uv_signal_t sigterm;
	struct bench_conn **conns;	/* NULL once a connection's memory is freed */
	unsigned int live;		/* connections not closing */
	int starting;			/* still opening connections: do not end yet */
	enum bench_phase phase;
	int interrupted;
	uint64_t t_start, t_end;	/* the measured window, ns */
	uint64_t sent;			/* requests sent while measuring */
	uint32_t hit_next, miss_next;
	unsigned int mix_acc;
	uint64_t hits, misses;
	uint64_t actions[ACT_COUNT];
	uint64_t errors[ERR_COUNT];
	uint64_t logged;
	struct hist hist;
};

struct bench_conn {
	union endpoint_handle h;	/* h.handle.data points back here */
	uv_connect_t connect;
	uv_write_t write;
	struct bench *b;
	unsigned int id;
	enum conn_state state;
	int write_pending;
	int counted;			/* the outstanding request was sent while measuring */
	uint64_t t_sent;		/* ns: request written, or connect started */
	size_t reply_len;
	char req[BENCH_REQ_MAX];
	char reply[BENCH_REPLY_MAX];
};

static void bench_send(struct bench_conn *conn);
static void bench_finish(struct bench *b);

/* bench_now - monotonic time in nanoseconds */
static uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* bench_format_ipv4 - write a dotted quad, return its length (at most 15) */
static size_t bench_format_ipv4(char *out, uint32_t addr)
{
	size_t n = 0;
	int shift;

	for (shift = 24; shift >= 0; shift -= 8) {
		unsigned int octet = (addr >> shift) & 0xff;

		if (octet >= 100)
			out[n++] = (char)('0' + octet / 100);
		if (octet >= 10)
			out[n++] = (char)('0' + octet / 10 % 10);
		out[n++] = (char)('0' + octet % 10);
		if (shift > 0)
			out[n++] = '.';
	}
	return n;
}

/* bench_next_address - pick the next client address: a hit, or P% of the time a miss */
static uint32_t bench_next_address(struct bench *b)
{
	uint32_t addr;

	b->mix_acc += b->opt.miss_pct;
	if (b->mix_acc >= 100) {
		/* Fresh addresses count upwards inside the base's /8. */
		b->mix_acc -= 100;
		addr = (b->opt.miss_base & 0xff000000u)
			| ((b->opt.miss_base + b->miss_next++) & 0x00ffffffu);
		b->misses++;
	} else {
		addr = b->opt.hit_base + b->hit_next;
		if (++b->hit_next >= b->opt.hit_set)
			b->hit_next = 0;
		b->hits++;
	}
	return addr;
}

/* bench_build_request - write the next request after the constant prefix; return its length */
static size_t bench_build_request(struct bench *b, char *req)
{
	size_t n = sizeof(bench_prefix) - 1;

	n += bench_format_ipv4(req + n, bench_next_address(b));
	memcpy(req + n, bench_suffix, sizeof(bench_suffix) - 1);
	return n + sizeof(bench_suffix) - 1;
}

/* bench_conn_on_close - free a connection once libuv is done with its handle */
static void bench_conn_on_close(uv_handle_t *handle)
{
	struct bench_conn *conn = handle->data;

	conn->b->conns[conn->id] = NULL;
	free(conn);
}

/* bench_conn_close - stop using a connection; the run ends when none is left */
static void bench_conn_close(struct bench_conn *conn)
{
	struct bench *b = conn->b;

	if (conn->state == CONN_CLOSED)
		return;
	conn->state = CONN_CLOSED;
	b->live--;
	uv_close(&conn->h.handle, bench_conn_on_close);
	if (b->live == 0 && !b->starting)
		bench_finish(b);
}

/* bench_fail - count an error on a connection, report the first few, close it */
static void bench_fail(struct bench_conn *conn, enum bench_error kind, const char *why)
{
	struct bench *b = conn->b;

	b->errors[kind]++;
	if (b->logged++ < BENCH_LOG_MAX)
		fprintf(stderr, "policyd-bench: connection %u: %s: %s\n", conn->id,
			bench_error_names[kind], why);
	bench_conn_close(conn);
}

/* bench_fail_reply - count a malformed reply, quoting its start cleaned of control bytes */
static void bench_fail_reply(struct bench_conn *conn, const char *why)
{
	char msg[160];
	size_t n = (size_t)snprintf(msg, sizeof(msg), "%s: \"", why), i;

	for (i = 0; i < conn->reply_len && i < 60 && n < sizeof(msg) - 8; i++) {
		unsigned char c = (unsigned char)conn->reply[i];

		if (c == '\n') {
			msg[n++] = '\\';
			msg[n++] = 'n';
		} else {
			msg[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	snprintf(msg + n, sizeof(msg) - n, "\"%s", conn->reply_len > i ? "..." : "");
	bench_fail(conn, ERR_MALFORMED, msg);
}

/* bench_classify - the action of an untrusted reply line "action=VALUE"; -1 if malformed */
static int bench_classify(const char *line, size_t len)
{
	const char *v = line + 7;
	size_t vlen, w = 0;

	if (len <= 7 || memcmp(line, "action=", 7) != 0 || memchr(line, '\n', len) != NULL)
		return -1;
	vlen = len - 7;
	while (w < vlen && v[w] != ' ' && v[w] != '\t')
		w++;
	if (w == 5 && strncasecmp(v, "DUNNO", 5) == 0)
		return ACT_DUNNO;
	if ((w == 6 && strncasecmp(v, "REJECT", 6) == 0) || (w == 3 && v[0] == '5'))
		return ACT_REJECT;
	if ((w == 5 && strncasecmp(v, "DEFER", 5) == 0) || (w == 3 && v[0] == '4'))
		return ACT_DEFER;
	return ACT_OTHER;
}

/* bench_find_end - where the reply's empty line ends, searching from `from`; 0 if not yet */
static size_t bench_find_end(const struct bench_conn *conn, size_t from)
{
	const char *p = conn->reply + from, *end = conn->reply + conn->reply_len, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL && nl + 1 < end) {
		if (nl[1] == '\n')
			return (size_t)(nl + 2 - conn->reply);
		p = nl + 1;
	}
	return 0;
}

/* bench_on_reply - check freshly read untrusted reply bytes; on a whole reply, send on */
static void bench_on_reply(struct bench_conn *conn, size_t fresh)
{
	struct bench *b = conn->b;
	size_t from = conn->reply_len - fresh, end;
	int action;

	end = bench_find_end(conn, from > 0 ? from - 1 : 0);
	if (end == 0) {
		if (conn->reply_len == sizeof(conn->reply))
			bench_fail_reply(conn, "reply too long");
		return;
	}
	if (end != conn->reply_len) {
		bench_fail_reply(conn, "data after the reply");
		return;
	}
	action = bench_classify(conn->reply, end - 2);
	if (action < 0) {
		bench_fail_reply(conn, "not a single action line");
		return;
	}
	if (conn->counted) {
		hist_record(&b->hist, (bench_now() - conn->t_sent) / 1000);
		b->actions[action]++;
	}
	conn->reply_len = 0;
	conn->state = CONN_IDLE;
	if (conn->counted && b->opt.count > 0 && b->hist.count >= b->opt.count)
		bench_finish(b);
	else
		bench_send(conn);
}

/* bench_on_alloc - read into the free end of the connection's reply buffer */
static void bench_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct bench_conn *conn = handle->data;

	(void)suggested;
	buf->base = conn->reply + conn->reply_len;
	buf->len = sizeof(conn->reply) - conn->reply_len;
}

/* bench_on_read - untrusted reply bytes, end of file or a read error */
static void bench_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct bench_conn *conn = stream->data;

	(void)buf;
	if (nread == 0 || conn->state == CONN_CLOSED)
		return;		/* 0 means "try again", not end of file (HACKING.md, traps) */
	if (nread < 0) {
		bench_fail(conn, ERR_CLOSED, nread == UV_EOF ? "connection closed by the server"
			: uv_strerror((int)nread));
		return;
	}
	conn->reply_len += (size_t)nread;
	if (conn->state != CONN_WAITING || conn->write_pending) {
		bench_fail_reply(conn, "reply before the request was sent");
		return;
	}
	bench_on_reply(conn, (size_t)nread);
}

/* bench_on_write - a queued request write ended */
static void bench_on_write(uv_write_t *req, int status)
{
	struct bench_conn *conn = req->data;

	conn->write_pending = 0;
	if (status < 0 && conn->state != CONN_CLOSED)
		bench_fail(conn, ERR_WRITE, uv_strerror(status));
}

/* bench_send - send the connection's next request unless the run is over */
static void bench_send(struct bench_conn *conn)
{
	struct bench *b = conn->b;
	uv_buf_t buf;
	size_t len;
	int rc;

	if (b->phase == PHASE_DONE)
		return;
	if (b->phase == PHASE_MEASURE && b->opt.count > 0 && b->sent >= b->opt.count)
		return;
	if (b->phase == PHASE_MEASURE)
		b->sent++;
	len = bench_build_request(b, conn->req);
	conn->counted = b->phase == PHASE_MEASURE;
	conn->state = CONN_WAITING;
	buf = uv_buf_init(conn->req, (unsigned int)len);
	conn->t_sent = bench_now();
	rc = uv_try_write(&conn->h.stream, &buf, 1);
	if (rc >= 0 && (size_t)rc == len)
		return;
	if (rc < 0 && rc != UV_EAGAIN) {
		bench_fail(conn, ERR_WRITE, uv_strerror(rc));
		return;
	}
	if (rc > 0) {
		buf.base += rc;
		buf.len -= (size_t)rc;
	}
	rc = uv_write(&conn->write, &conn->h.stream, &buf, 1, bench_on_write);
	if (rc != 0)
		bench_fail(conn, ERR_WRITE, uv_strerror(rc));
	else
		conn->write_pending = 1;
}

/* bench_on_connect - a connection is up (or failed): start the closed loop on it */
static void bench_on_connect(uv_connect_t *req, int status)
{
	struct bench_conn *conn = req->data;
	int rc;

	if (conn->state == CONN_CLOSED)
		return;		/* closed meanwhile; status is UV_ECANCELED */
	if (status < 0) {
		bench_fail(conn, ERR_CONNECT, uv_strerror(status));
		return;
	}
	endpoint_tune(&conn->b->opt.ep, &conn->h);
	rc = uv_read_start(&conn->h.stream, bench_on_alloc, bench_on_read);
	if (rc != 0) {
		bench_fail(conn, ERR_CONNECT, uv_strerror(rc));
		return;
	}
	conn->state = CONN_IDLE;
	bench_send(conn);
}

/* bench_conn_open - allocate a connection and start connecting it */
static int bench_conn_open(struct bench *b, unsigned int id)
{
	struct bench_conn *conn = calloc(1, sizeof(*conn));
	int rc;

	if (conn == NULL)
		return UV_ENOMEM;
	rc = endpoint_handle_init(b->loop, &b->opt.ep, &conn->h);
	if (rc != 0) {
		free(conn);	/* never a handle: no close callback will come */
		return rc;
	}
	conn->h.handle.data = conn;
	conn->connect.data = conn;
	conn->write.data = conn;
	conn->b = b;
	conn->id = id;
	conn->state = CONN_CONNECTING;
	memcpy(conn->req, bench_prefix, sizeof(bench_prefix) - 1);
	b->conns[id] = conn;
	b->live++;
	conn->t_sent = bench_now();
	rc = endpoint_connect(&b->opt.ep, &conn->h, &conn->connect, bench_on_connect);
	if (rc != 0)
		bench_fail(conn, ERR_CONNECT, uv_strerror(rc));
	return 0;
}

/* bench_finish - end the run: stop the clock and close every handle so uv_run returns */
static void bench_finish(struct bench *b)
{
	unsigned int i;

	if (b->phase == PHASE_DONE)
		return;
	b->t_end = bench_now();
	if (b->phase == PHASE_WARMUP)
		b->t_start = b->t_end;
	b->phase = PHASE_DONE;
	for (i = 0; i < b->opt.conns; i++)
		if (b->conns[i] != NULL)
			bench_conn_close(b->conns[i]);
	uv_close((uv_handle_t *)&b->phase_timer, NULL);
	uv_close((uv_handle_t *)&b->watchdog, NULL);
	uv_close((uv_handle_t *)&b->sigint, NULL);
	uv_close((uv_handle_t *)&b->sigterm, NULL);
}

static void bench_on_phase(uv_timer_t *timer);

/* bench_measure - the warm-up is over: start counting */
static void bench_measure(struct bench *b)
{
	b->phase = PHASE_MEASURE;
	b->t_start = bench_now();
	if (b->opt.duration_ms > 0)
		uv_timer_start(&b->phase_timer, bench_on_phase, b->opt.duration_ms, 0);
}

/* bench_on_phase - the warm-up or the measured duration is over */
static void bench_on_phase(uv_timer_t *timer)
{
	struct bench *b = timer->data;

	if (b->phase == PHASE_WARMUP)
		bench_measure(b);
	else
		bench_finish(b);
}

/* bench_on_watchdog - fail connections whose connect or reply is overdue */
static void bench_on_watchdog(uv_timer_t *timer)
{
	struct bench *b = timer->data;
	uint64_t now = bench_now(), limit = b->opt.timeout_ms * 1000000u;
	unsigned int i;

	for (i = 0; i < b->opt.conns && b->phase != PHASE_DONE; i++) {
		struct bench_conn *conn = b->conns[i];

		if (conn == NULL || now - conn->t_sent <= limit)
			continue;
		if (conn->state == CONN_CONNECTING)
			bench_fail(conn, ERR_CONNECT, "no connection within the timeout");
		else if (conn->state == CONN_WAITING)
			bench_fail(conn, ERR_TIMEOUT, "no reply within the timeout");
	}
}

/* bench_on_signal - SIGINT or SIGTERM: end early and report what was measured */
static void bench_on_signal(uv_signal_t *sig, int signum)
{
	struct bench *b = sig->data;

	(void)signum;
	b->interrupted = 1;
	bench_finish(b);
}

/* bench_start - start the timers and open every connection */
static int bench_start(struct bench *b)
{
	unsigned int i;
	int rc = 0;

	b->conns = calloc(b->opt.conns, sizeof(*b->conns));
	if (b->conns == NULL)
		return UV_ENOMEM;
	uv_timer_init(b->loop, &b->phase_timer);
	uv_timer_init(b->loop, &b->watchdog);
	uv_signal_init(b->loop, &b->sigint);
	uv_signal_init(b->loop, &b->sigterm);
	b->phase_timer.data = b->watchdog.data = b->sigint.data = b->sigterm.data = b;
	uv_signal_start(&b->sigint, bench_on_signal, SIGINT);
	uv_signal_start(&b->sigterm, bench_on_signal, SIGTERM);
	uv_timer_start(&b->watchdog, bench_on_watchdog, BENCH_WATCHDOG_MS, BENCH_WATCHDOG_MS);
	if (b->opt.warmup_ms > 0) {
		b->phase = PHASE_WARMUP;
		uv_timer_start(&b->phase_timer, bench_on_phase, b->opt.warmup_ms, 0);
	} else {
		bench_measure(b);
	}
	b->starting = 1;
	for (i = 0; i < b->opt.conns && rc == 0; i++)
		rc = bench_conn_open(b, i);
	b->starting = 0;
	if (rc != 0 || b->live == 0)
		bench_finish(b);
	return rc;
}

/* bench_usage - print how to call the program; return the usage exit status */
static int bench_usage(void)
{
	fprintf(stderr,
		"usage: policyd-bench [options] inet:HOST:PORT | unix:PATH\n"
		"  -c, --connections N   concurrent connections (32)\n"
		"  -d, --duration SECS   measured time (10; none with -n alone)\n"
		"  -w, --warmup SECS     time not counted before measuring (2; 0 with -n alone)\n"
		"  -n, --requests N      measure N requests instead of a duration\n"
		"  -t, --timeout SECS    longest wait for a connect or a reply (10)\n"
		"      --hit-set K       cycle through K fixed client addresses (100)\n"
		"      --hit-base ADDR   first hit address (198.18.0.1)\n"
		"      --miss            a fresh client address for every request\n"
		"      --mix P           P%% of requests use a fresh address (0)\n"
		"      --miss-base ADDR  first fresh address, counting inside its /8 (10.0.0.1)\n");
	return 2;
}

/* bench_parse_ipv4 - parse a dotted quad into a host-order address; 0 on success */
static int bench_parse_ipv4(const char *text, uint32_t *addr)
{
	struct in_addr in;

	if (inet_pton(AF_INET, text, &in) != 1)
		return -1;
	*addr = ntohl(in.s_addr);
	return 0;
}

/* bench_option - apply one command-line option; 0 on success */
static int bench_option(struct bench_options *o, int opt, const char *arg, int *have_d,
	int *have_w)
{
	uint64_t v = 0;
	int rc = 0;

	switch (opt) {
	case 'c':
		rc = args_parse_num(arg, 1, BENCH_MAX_CONNS, &v);
		o->conns = (unsigned int)v;
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
	case 'H':
		rc = args_parse_num(arg, 1, 1u << 24, &v);
		o->hit_set = (uint32_t)v;
		break;
	case 'B':
		rc = bench_parse_ipv4(arg, &o->hit_base);
		break;
	case 'M':
		o->miss_pct = 100;
		break;
	case 'P':
		rc = args_parse_num(arg, 0, 100, &v);
		o->miss_pct = (unsigned int)v;
		break;
	case 'b':
		rc = bench_parse_ipv4(arg, &o->miss_base);
		break;
	default:
		rc = -1;
		break;
	}
	return rc;
}

/* bench_parse_options - fill in the options from the command line; 0 on success */
static int bench_parse_options(struct bench_options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "requests", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "hit-set", required_argument, NULL, 'H' },
		{ "hit-base", required_argument, NULL, 'B' },
		{ "miss", no_argument, NULL, 'M' },
		{ "mix", required_argument, NULL, 'P' },
		{ "miss-base", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, have_d = 0, have_w = 0, rc;

	o->conns = 32;
	o->duration_ms = 10000;
	o->warmup_ms = 2000;
	o->timeout_ms = 10000;
	o->hit_set = 100;
	o->hit_base = 0xc6120001u;	/* 198.18.0.1, RFC 2544 benchmarking */
	o->miss_base = 0x0a000001u;	/* 10.0.0.1 */
	while ((opt = getopt_long(argc, argv, "c:d:w:n:t:h", longopts, NULL)) != -1)
		if (opt == 'h' || bench_option(o, opt, optarg, &have_d, &have_w) != 0)
			return -1;
	if (optind != argc - 1 || o->timeout_ms == 0)
		return -1;
	if (o->count > 0 && !have_d)
		o->duration_ms = 0;
	if (o->count > 0 && !have_w)
		o->warmup_ms = 0;
	if (o->count == 0 && o->duration_ms == 0)
		return -1;
	rc = endpoint_parse(&o->ep, argv[optind]);
	if (rc != 0)
		fprintf(stderr, "policyd-bench: %s: %s\n", argv[optind], uv_strerror(rc));
	return rc;
}

/* bench_report - print the results, human-readable, then the RESULT line */
static void bench_report(const struct bench *b)
{
	const struct hist *h = &b->hist;
	double secs = (double)(b->t_end - b->t_start) / 1e9;
	double rps = secs > 0 ? (double)h->count / secs : 0;
	unsigned long long errors = 0;
	char base[16];
	int i;

	for (i = 0; i < ERR_COUNT; i++)
		errors += b->errors[i];
	printf("target       %s\n", b->opt.ep.text);
	printf("connections  %u\n", b->opt.conns);
	base[bench_format_ipv4(base, b->opt.hit_base)] = '\0';
	printf("addresses    hit set %u from %s, %u%% misses (sent %llu hits, %llu misses)\n",
		(unsigned int)b->opt.hit_set, base, b->opt.miss_pct,
		(unsigned long long)b->hits, (unsigned long long)b->misses);
	printf("requests     %llu%s\n", (unsigned long long)h->count,
		b->interrupted ? " (interrupted)" : "");
	printf("duration     %.3f s after %.3f s warm-up\n", secs, (double)b->opt.warmup_ms / 1e3);
	printf("requests/s   %.0f\n", rps);
	printf("latency_us   p50=%llu p90=%llu p99=%llu p99.9=%llu max=%llu mean=%.1f\n",
		(unsigned long long)hist_percentile(h, 50000),
		(unsigned long long)hist_percentile(h, 90000),
		(unsigned long long)hist_percentile(h, 99000),
		(unsigned long long)hist_percentile(h, 99900), (unsigned long long)h->max,
		h->count > 0 ? (double)h->sum / (double)h->count : 0.0);
	printf("replies      DUNNO=%llu REJECT=%llu DEFER=%llu other=%llu\n",
		(unsigned long long)b->actions[ACT_DUNNO],
		(unsigned long long)b->actions[ACT_REJECT],
		(unsigned long long)b->actions[ACT_DEFER],
		(unsigned long long)b->actions[ACT_OTHER]);
	printf("errors       %llu (", errors);
	for (i = 0; i < ERR_COUNT; i++)
		printf("%s%s=%llu", i > 0 ? " " : "", bench_error_names[i],
			(unsigned long long)b->errors[i]);
	printf(")\n");
	printf("RESULT rps=%.0f p50_us=%llu p99_us=%llu errors=%llu\n", rps,
		(unsigned long long)hist_percentile(h, 50000),
		(unsigned long long)hist_percentile(h, 99000), errors);
	fflush(stdout);
}

/* main - parse options, run the loop until the run ends, report */
int main(int argc, char **argv)
{
	static struct bench b;
	int rc, i, failed = 0;

	if (bench_parse_options(&b.opt, argc, argv) != 0)
		return bench_usage();
	signal(SIGPIPE, SIG_IGN);
	b.loop = uv_default_loop();
	rc = bench_start(&b);
	if (rc != 0)
		fprintf(stderr, "policyd-bench: %s\n", uv_strerror(rc));
	uv_run(b.loop, UV_RUN_DEFAULT);
	uv_loop_close(b.loop);
	free(b.conns);
	bench_report(&b);
	for (i = 0; i < ERR_COUNT; i++)
		failed |= b.errors[i] > 0;
	return rc != 0 || failed ? 1 : 0;
}
