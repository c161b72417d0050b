/*
 * redis - the greylist store that several policyd share (see redis.h for the
 * contract): Redis or Valkey through hiredis's asynchronous API, on the libuv loop.
 *
 * The rules of greylist.h run inside Redis, as one Lua script (SCRIPT LOAD when a
 * connection opens, then EVALSHA per ask), so that reading and updating a triplet
 * and its network is atomic, and "now" is the store's clock, the same for every
 * host that shares it. The script's SHA-1 is computed here (common/digest.c), and
 * SCRIPT LOAD's answer must match it. Redis Cluster is not supported: an ask's
 * two keys lie in different hash slots, which a cluster refuses (CROSSSLOT).
 *
 * A connection goes through three states: connecting (the handshake AUTH, SELECT
 * and SCRIPT LOAD is queued at once and must be answered within
 * REDIS_HANDSHAKE_ROUNDS command deadlines), up (asks are sent), and down (a
 * timer runs until the next attempt: 100 ms, doubling to 10 s with each failure,
 * and back to 100 ms only once an ask is answered, so that a server that accepts
 * and then drops every connection is not asked ten times a second, nor logged
 * about as often). Redis answers in the order it was asked, so the asks in flight
 * are a FIFO, and one timer watches the oldest one's deadline: when it passes,
 * every ask behind it is late too. A retry time the store answers is cut to the
 * delay; one that is no uint32 fails the store.
 *
 * hiredis (0.14 on Debian 12, 1.2 on Debian 13; only API of both is used):
 * - Its async context connects, writes, and frees; replies are ours. hiredis's
 *   reply handling (redisAsyncHandleRead, redisProcessCallbacks) assert()s when a
 *   reply comes that no callback waits for and is no error, and Debian's hiredis
 *   keeps its asserts: one extra reply from a broken or hostile server aborted
 *   policyd, on every connection again. So no command is given a reply callback:
 *   each is appended with redisAppendCommandArgv and the socket watched for
 *   writing (what redisAsyncCommand does besides); the socket's write events go to
 *   redisAsyncHandleWrite (connect completion, flushing), its read events to
 *   redis_read, which reads (redisBufferRead) and takes the replies out of the
 *   reader (redisGetReplyFromReader) itself. Our FIFO says what each answers: the
 *   handshake's steps, then the asks. A reply that nothing waits for, one of the
 *   wrong type or shape, or bytes that are no RESP fail the store (below).
 * - hiredis's own list of reply callbacks is therefore always empty, and freeing
 *   runs none (redisAsyncFree, and its free after a failed write or connect, in
 *   both versions; a clean redisAsyncDisconnect asserts that list empty, which it
 *   is, but we never call it). What is in flight is answered from our FIFO.
 * - We free a context ourselves only outside hiredis's callbacks, after clearing
 *   its data pointer; the connect and disconnect callbacks return at once when
 *   they find it clear. Inside them (a failed connect, a failed write) 0.14 frees
 *   the context at once when they return and goes on using it, so we never free
 *   there: hiredis itself is tearing the context down, and we only let go of it.
 * - The libuv glue is our own, through the event hooks of redisAsyncContext.ev
 *   (public in both versions), not hiredis's adapters/libuv.h: 0.14's adapter
 *   returns from its poll callback when libuv reports an error, and libuv reports
 *   a refused connection or a reset one exactly so (POLLERR becomes status
 *   UV_EBADF, and the poll is stopped); hiredis then never learns of it, and an
 *   attempt to reach a dead server lasts until the handshake's deadline. 1.2's
 *   adapter hands such an event to hiredis; ours does the same on both.
 *
 * Memory: the store owns its copy of the target (the password too, wiped when
 * freed), one struct redis_ask per ask in flight, and the hiredis context while a
 * connection is open. Each connection's glue (struct redis_conn, which embeds the
 * uv_poll of its socket) is freed in that poll's close callback, and the store in
 * its timer's: after redis_store_free the loop must run once more (main's uv_run
 * after its uv_walk at exit) so that both close callbacks come, and until they
 * have, uv_loop_close fails with UV_EBUSY. The store must be freed before such a
 * walk, which would close both handles without their callbacks (a leak, then an
 * abort when we close them again). Neither close callback touches the other's
 * memory.
 */
#include "redis.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "digest.h"
#include "log.h"
#include "stats.h"
#include "text.h"

#define REDIS_PORT_DEFAULT 6379
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 10000
/* Connecting, AUTH, SELECT and SCRIPT LOAD: at most four round trips. */
#define REDIS_HANDSHAKE_ROUNDS 4
#define REDIS_KEY_TRIPLET "policyd:greylist:t:"
#define REDIS_KEY_NETWORK "policyd:greylist:n:"
/* A reason for a log line: hiredis's errstr is 128 bytes, and a prefix. */
#define REDIS_REASON_MAX 192
/*
 * The most elements of an array reply, and the most bytes of a reply not yet
 * whole. Ours are {code, retry_s}, a SHA-1, +OK or an error's line; a hostile
 * server's "*2147483647" made hiredis's reader allocate 16 GiB of pointers (lazily)
 * and its free walk them, holding the loop for seconds, and a bulk string that
 * never ends grew its buffer until the deadline.
 */
#define REDIS_ELEMENTS_MAX 16
#define REDIS_PENDING_MAX 65536
/* Replies of one read held on the stack (one more than are expected is room for
 * the extra reply that fails the store); more go to the heap. */
#define REDIS_READ_HELD 32

/*
 * The rules of greylist.h in Lua. KEYS[1]: the triplet, a string ("P": it passed;
 * else its first-seen time); KEYS[2]: the network, a hash (c: proven retries, l:
 * when the last was counted). ARGV: delay, max_wait, pass_ttl, auto_allow. The
 * answer is {code, retry_s}, codes as in redis_codes below. Effects replication
 * (redis.replicate_commands, the default from Redis 5) lets a script that read
 * TIME write. Whole seconds, as in greylist.c (the memory store, the reference):
 * a retry passes when more than `delay` seconds have gone by, a first sighting
 * "in the future" (the store's clock stepped back) starts again, and a proven
 * retry counts towards auto_allow when none has in the same clock hour; every
 * proven retry and an allowed network's pass keep the network pass_ttl longer.
 * Every expiry is a whole second (EXPIREAT now + N, not EXPIRE N, which Redis
 * counts from the millisecond): the memory store forgets an entry once its expiry
 * is <= now in whole seconds, and so does Redis then, in the same second.
 */
static const char redis_script[] =
	"if redis.replicate_commands then redis.replicate_commands() end\n"
	"local now = tonumber(redis.call('TIME')[1])\n"
	"local delay, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
	"local pass_ttl, auto = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
	"local net = redis.call('HMGET', KEYS[2], 'c', 'l')\n"
	"local c, l = tonumber(net[1]), tonumber(net[2]) or 0\n"
	"if auto > 0 and c and c >= auto then\n"
	"  redis.call('EXPIREAT', KEYS[2], now + pass_ttl)\n"
	"  return {4, 0}\n"
	"end\n"
	"local t = redis.call('GET', KEYS[1])\n"
	"if t == 'P' then\n"
	"  redis.call('EXPIREAT', KEYS[1], now + pass_ttl)\n"
	"  return {3, 0}\n"
	"end\n"
	"local first = tonumber(t)\n"
	"if first and first <= now then\n"
	"  local age = now - first\n"
	"  if age <= delay then return {1, math.max(delay - age, 1)} end\n"
	"  redis.call('SET', KEYS[1], 'P')\n"
	"  redis.call('EXPIREAT', KEYS[1], now + pass_ttl)\n"
	"  if auto > 0 then\n"
	"    if not c or math.floor(now / 3600) > math.floor(l / 3600) then\n"
	"      redis.call('HSET', KEYS[2], 'c', (c or 0) + 1, 'l', now)\n"
	"    end\n"
	"    redis.call('EXPIREAT', KEYS[2], now + pass_ttl)\n"
	"  end\n"
	"  return {2, 0}\n"
	"end\n"
	"redis.call('SET', KEYS[1], now)\n"
	"redis.call('EXPIREAT', KEYS[1], now + max_wait)\n"
	"return {0, delay}\n";

/* The script's answer codes, in order. */
static const enum greylist_answer redis_codes[] = {
	GREYLIST_NEW, GREYLIST_EARLY, GREYLIST_RETRIED, GREYLIST_KNOWN, GREYLIST_ALLOWED,
};

/* The handshake's commands, which the first replies of a connection answer. */
enum redis_step { REDIS_STEP_AUTH = 1, REDIS_STEP_SELECT, REDIS_STEP_LOAD };
#define REDIS_STEPS_MAX 3

/* How a connection failed: who frees it, and whether the server closed it. */
enum redis_fail {
	FAIL_BROKEN,  /* we drop it: a deadline, a reply that makes no sense, bytes no RESP */
	FAIL_CLOSED,  /* the server closed it, or the socket failed; we free it */
	FAIL_HIREDIS, /* the same, seen in hiredis's connect or disconnect callback: it frees */
};

enum redis_state {
	REDIS_DOWN,       /* no connection; the timer starts the next attempt */
	REDIS_CONNECTING, /* the handshake is queued; the timer is its deadline */
	REDIS_UP,         /* asks go out; the timer is the oldest one's deadline */
	REDIS_CLOSED,     /* redis_store_free was called */
};

/* One ask in flight. */
struct redis_ask {
	TAILQ_ENTRY(redis_ask) link; /* on the store's asks, in send order */
	redis_done_fn *done;
	void *arg;
	uint64_t deadline_ms; /* loop time */
	uint64_t start_ns;    /* uv_hrtime(), for the latency histogram */
};

/* The libuv side of one connection: hiredis's event hooks watch its socket here. */
struct redis_conn {
	uv_poll_t poll;
	redisAsyncContext *ac; /* NULL once hiredis has let go (its cleanup hook) */
	int events;            /* UV_READABLE | UV_WRITABLE, as hiredis asked */
	bool closing;
};

struct redis_store {
	uv_loop_t *loop;
	struct redis_target target; /* password: our copy, or NULL */
	struct greylist_rules rules;
	char name[sizeof("redis+unix:?db=") + 108 + 24]; /* the target for logs, no password */
	enum redis_state state;
	redisAsyncContext *ac; /* while connecting or up; its data points here */
	/* What the replies answer, in order: the handshake's steps not yet answered
	 * (steps[step_next..steps_sent)), then the asks. */
	enum redis_step steps[REDIS_STEPS_MAX];
	unsigned steps_sent, step_next;
	TAILQ_HEAD(redis_asks, redis_ask) asks;
	size_t asks_len;
	uint64_t epoch; /* counts the connections let go of: a read stops when it changes */
	uv_timer_t timer;
	uint64_t backoff_ms;       /* the wait before the next attempt after a failure */
	bool outage;               /* the store is down, and the warning was logged */
	uint64_t outage_since_ms;  /* loop time, for the line that says it answers again */
	bool connected_once;       /* for that line's wording */
	bool too_long;             /* the reader met an array of more than REDIS_ELEMENTS_MAX */
	char sha[DIGEST_HEX_SIZE]; /* the script's SHA-1 */
};

static void redis_on_timer(uv_timer_t *t);
static void redis_connect(struct redis_store *s);
static void redis_read(redisAsyncContext *ac);

/* ---------------------------------------------------------------- the libuv glue */

/* conn_on_close - libuv: the connection's poll handle is closed; its glue goes. */
static void conn_on_close(uv_handle_t *h)
{
	free(h->data);
}

/*
 * conn_on_poll - libuv: the socket is ready. An error (status < 0: libuv saw
 * POLLERR, a refused connection or a reset, and stopped the poll) is handled as
 * the events we wait for: the read or the write finds the error and ends the
 * connection. Reading is ours (redis_read), never hiredis's redisAsyncHandleRead;
 * writing (and noticing that the socket connected) is redisAsyncHandleWrite's.
 * Either may let go of the context, and then c->ac is NULL.
 */
static void conn_on_poll(uv_poll_t *h, int status, int events)
{
	struct redis_conn *c = h->data;

	if (status < 0)
		events = c->events;
	if (c->ac && (events & UV_READABLE))
		redis_read(c->ac);
	if (c->ac && (events & UV_WRITABLE))
		redisAsyncHandleWrite(c->ac);
}

/* conn_watch - poll for c->events (after libuv stopped the poll on an error, too). */
static void conn_watch(struct redis_conn *c)
{
	if (c->closing)
		return;
	if (c->events)
		uv_poll_start(&c->poll, c->events, conn_on_poll);
	else
		uv_poll_stop(&c->poll);
}

static void conn_add_read(void *data)
{
	struct redis_conn *c = data;

	c->events |= UV_READABLE;
	conn_watch(c);
}

static void conn_del_read(void *data)
{
	struct redis_conn *c = data;

	c->events &= ~UV_READABLE;
	conn_watch(c);
}

static void conn_add_write(void *data)
{
	struct redis_conn *c = data;

	c->events |= UV_WRITABLE;
	conn_watch(c);
}

static void conn_del_write(void *data)
{
	struct redis_conn *c = data;

	c->events &= ~UV_WRITABLE;
	conn_watch(c);
}

/* conn_cleanup - hiredis lets go of the context (once in 0.14; 1.2 may call twice). */
static void conn_cleanup(void *data)
{
	struct redis_conn *c = data;

	c->ac = NULL;
	if (c->closing)
		return;
	c->closing = true;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, conn_on_close);
}

/* conn_attach - watch ac's socket on loop; false (ac untouched) when libuv refuses. */
static bool conn_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct redis_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return false;
	if (uv_poll_init(loop, &c->poll, ac->c.fd) != 0) {
		free(c);
		return false;
	}
	c->poll.data = c;
	c->ac = ac;
	ac->ev.data = c;
	ac->ev.addRead = conn_add_read;
	ac->ev.delRead = conn_del_read;
	ac->ev.addWrite = conn_add_write;
	ac->ev.delWrite = conn_del_write;
	ac->ev.cleanup = conn_cleanup;
	return true;
}

/*
 * The reader's reply builders: hiredis's own (copied from the first reader), but
 * an array of more than REDIS_ELEMENTS_MAX elements is refused (NULL: the reader
 * fails, "Out of memory"), and the store told through the reader's privdata. The
 * type of an array's length changed from int to size_t in hiredis 1.0.
 */
#if HIREDIS_MAJOR >= 1
typedef size_t redis_elements;
#else
typedef int redis_elements;
#endif
static redisReplyObjectFunctions reply_builders;
static void *(*hiredis_create_array)(const redisReadTask *task, redis_elements n);

static void *create_array(const redisReadTask *task, redis_elements n)
{
	struct redis_store *s = task->privdata;

	if (n > REDIS_ELEMENTS_MAX) {
		if (s)
			s->too_long = true;
		return NULL;
	}
	return hiredis_create_array(task, n);
}

/* reader_limit - ac's reader builds replies with create_array, for s. */
static void reader_limit(redisAsyncContext *ac, struct redis_store *s)
{
	redisReader *r = ac->c.reader;

	if (!r || !r->fn || !r->fn->createArray)
		return;
	if (!hiredis_create_array) {
		reply_builders = *r->fn;
		hiredis_create_array = reply_builders.createArray;
		reply_builders.createArray = create_array;
	}
	r->fn = &reply_builders;
	r->privdata = s;
	s->too_long = false;
}

/* ------------------------------------------------------------------ the target */

/* parse_number - a decimal in [lo, hi] made of all of s[0..len). */
static bool parse_number(const char *s, size_t len, long lo, long hi, long *out)
{
	long v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* parse_unix - "redis+unix:" is gone: "/PATH" or "///PATH", then "?db=N" or nothing. */
static bool parse_unix(const char *p, struct redis_target *out, const char **err)
{
	const char *q = strchr(p, '?');
	size_t len = q ? (size_t)(q - p) : strlen(p);

	if (strncmp(p, "///", 3) == 0) {
		p += 2;
		len -= 2;
	}
	if (len < 2 || p[0] != '/') {
		*err = "a redis+unix: socket path must be absolute";
		return false;
	}
	if (len >= sizeof(out->path)) {
		*err = "the redis+unix: socket path is too long";
		return false;
	}
	if (q && (strncmp(q, "?db=", 4) != 0 ||
		  !parse_number(q + 4, strlen(q + 4), 0, INT32_MAX, &out->db))) {
		*err = "after a redis+unix: socket path only ?db=N may follow";
		return false;
	}
	memcpy(out->path, p, len);
	out->path[len] = '\0';
	out->unix_socket = true;
	return true;
}

/* resolve - host (a name or an address) as a numeric address in out->host. */
static bool resolve(const char *host, struct redis_target *out, const char **err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;

	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		*err = "the redis host name does not resolve";
		return false;
	}
	int rc = getnameinfo(res->ai_addr, res->ai_addrlen, out->host, sizeof(out->host), NULL, 0,
			     NI_NUMERICHOST);
	freeaddrinfo(res);
	if (rc != 0) {
		*err = "the redis host's address cannot be written";
		return false;
	}
	return true;
}

/* parse_tcp - "redis://" is gone: HOST[:PORT][/DB], HOST a name, an IPv4 or an [IPv6]. */
static bool parse_tcp(const char *p, struct redis_target *out, const char **err)
{
	char host[256];
	const char *end, *slash;
	long port = REDIS_PORT_DEFAULT;

	if (strchr(p, '@')) {
		*err = "a redis:// URL carries no user or password (password_file does)";
		return false;
	}
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end == p + 1) {
			*err = "a redis:// IPv6 address needs its closing ]";
			return false;
		}
		p++;
	} else {
		end = p + strcspn(p, ":/");
	}
	if (end == p || (size_t)(end - p) >= sizeof(host)) {
		*err = "a redis:// URL needs a host";
		return false;
	}
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	if (*end == ']')
		end++;
	slash = strchr(end, '/');
	if (*end == ':') {
		size_t len = slash ? (size_t)(slash - end - 1) : strlen(end + 1);
		if (!parse_number(end + 1, len, 1, 65535, &port)) {
			*err = "a redis:// port is a number from 1 to 65535";
			return false;
		}
	} else if (*end != '/' && *end != '\0') {
		*err = "a redis:// host is followed by :PORT or /DB";
		return false;
	}
	if (slash && slash[1] != '\0' &&
	    !parse_number(slash + 1, strlen(slash + 1), 0, INT32_MAX, &out->db)) {
		*err = "a redis:// database is a number";
		return false;
	}
	out->port = (int)port;
	return resolve(host, out, err);
}

/* redis_target_parse - see redis.h. The password and timeout_ms are left 0. */
bool redis_target_parse(const char *url, struct redis_target *out, const char **err)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(url, "redis+unix:", 11) == 0)
		return parse_unix(url + 11, out, err);
	if (strncmp(url, "redis://", 8) == 0)
		return parse_tcp(url + 8, out, err);
	*err = "a store is redis://HOST[:PORT][/DB] or redis+unix:/PATH[?db=N]";
	return false;
}

/* target_same - whether a and b name the same server and login (not the timeout). */
static bool target_same(const struct redis_target *a, const struct redis_target *b)
{
	if (a->unix_socket != b->unix_socket || a->db != b->db)
		return false;
	if ((a->password == NULL) != (b->password == NULL) ||
	    (a->password && strcmp(a->password, b->password) != 0))
		return false;
	if (a->unix_socket)
		return strcmp(a->path, b->path) == 0;
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* target_forget - wipe and free the password of our copy. */
static void target_forget(struct redis_target *t)
{
	if (t->password) {
		explicit_bzero(t->password, strlen(t->password));
		free(t->password);
		t->password = NULL;
	}
}

/* target_copy - t into s (the password duplicated); false when out of memory. */
static bool target_copy(struct redis_store *s, const struct redis_target *t)
{
	char *password = NULL;

	if (t->password && !(password = strdup(t->password)))
		return false;
	target_forget(&s->target);
	s->target = *t;
	s->target.password = password;
	if (t->unix_socket)
		snprintf(s->name, sizeof(s->name), "redis+unix:%s?db=%ld", t->path, t->db);
	else if (strchr(t->host, ':'))
		snprintf(s->name, sizeof(s->name), "redis://[%s]:%d/%ld", t->host, t->port, t->db);
	else
		snprintf(s->name, sizeof(s->name), "redis://%s:%d/%ld", t->host, t->port, t->db);
	return true;
}

/* ------------------------------------------------------------------ failures */

/* timeout_ms - the deadline of one command (at least 1 ms). */
static uint64_t timeout_ms(const struct redis_store *s)
{
	return s->target.timeout_ms ? s->target.timeout_ms : 1;
}

/*
 * detach - let go of the connection. hiredis_frees: hiredis is tearing it down
 * itself (we are inside its connect or disconnect callback); else we free it here,
 * at once (we are never inside a reply callback of hiredis: we give it none, and
 * so its list of them is empty, and freeing runs none). Its connect and disconnect
 * callbacks find data NULL from now on. The handshake's steps still expected go
 * with it; the caller answers the asks.
 */
static void detach(struct redis_store *s, bool hiredis_frees)
{
	redisAsyncContext *ac = s->ac;

	s->steps_sent = s->step_next = 0;
	if (!ac)
		return;
	s->ac = NULL;
	s->epoch++;
	ac->data = NULL;
	if (!hiredis_frees)
		redisAsyncFree(ac);
}

/*
 * answer_all - every ask in flight answered GREYLIST_UNAVAILABLE, oldest first;
 * failed: they count as store errors. The head is taken each time, since a done
 * callback may free the store (which answers the rest) or ask again (refused: the
 * store is no longer up).
 */
static void answer_all(struct redis_store *s, bool failed)
{
	struct redis_ask *a;

	while ((a = TAILQ_FIRST(&s->asks)) != NULL) {
		redis_done_fn *done = a->done;
		void *arg = a->arg;

		TAILQ_REMOVE(&s->asks, a, link);
		s->asks_len--;
		free(a);
		if (failed)
			stats.greylist_store_errors++;
		done(arg, GREYLIST_UNAVAILABLE, 0);
	}
}

/*
 * store_fail - the connection failed for reason (how: see enum redis_fail): drop
 * it, answer the asks in flight, and try again after the back-off. An outage is
 * logged when it begins; a server that closes a connection with nothing in flight
 * (its `timeout`, a restart) only makes us connect again, and the outage begins if
 * that fails. A reply that makes no sense is an outage even with nothing in flight.
 */
static void store_fail(struct redis_store *s, const char *reason, enum redis_fail how)
{
	bool idle = s->state == REDIS_UP && how != FAIL_BROKEN && TAILQ_EMPTY(&s->asks);
	uint64_t wait = s->backoff_ms;

	if (s->state != REDIS_CONNECTING && s->state != REDIS_UP)
		return;
	detach(s, how == FAIL_HIREDIS);
	s->state = REDIS_DOWN;
	stats.greylist_store_up = 0;
	s->backoff_ms = wait * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : wait * 2;
	uv_timer_start(&s->timer, redis_on_timer, wait, 0);
	if (!s->outage && !idle) {
		s->outage = true;
		s->outage_since_ms = uv_now(s->loop);
		stats.greylist_store_outages++;
		log_warn(
			"redis: greylist store %s unavailable (%s): requests pass without greylisting until it answers",
			s->name, reason);
	}
	log_debug("redis: greylist store %s: %s; next attempt in %" PRIu64 " ms", s->name, reason,
		  wait);
	answer_all(s, true);
}

/* reason_from - "what: " and a reply's or hiredis's text, cleaned, into buf. */
static const char *reason_from(char *buf, const char *what, const char *text, size_t len)
{
	int n = snprintf(buf, REDIS_REASON_MAX, "%s%s", what, *what ? ": " : "");

	if (n < 0 || n >= REDIS_REASON_MAX)
		return what;
	text_clean(buf + n, REDIS_REASON_MAX - (size_t)n, text, len);
	return buf;
}

/* context_reason - why hiredis ended a connection. */
static const char *context_reason(char *buf, const redisAsyncContext *ac)
{
	if (ac->c.err == 0)
		return "the connection was closed";
	return reason_from(buf, "", ac->c.errstr, strnlen(ac->c.errstr, sizeof(ac->c.errstr)));
}

/* reply_reason - why a reply makes no sense to us (an error's own text, else its type). */
static const char *reply_reason(char *buf, const char *what, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR && r->str)
		return reason_from(buf, what, r->str, r->len);
	snprintf(buf, REDIS_REASON_MAX, "%s: an unexpected reply (type %d)", what, r->type);
	return buf;
}

/* --------------------------------------------------- hiredis callbacks, replies */

/* store_of - the store of a context that is still ours, else NULL. */
static struct redis_store *store_of(const redisAsyncContext *ac)
{
	struct redis_store *s = ac->data;

	return s && s->ac == ac ? s : NULL;
}

/* redis_on_connect - hiredis: the socket connected, or failed (then hiredis frees ac). */
static void redis_on_connect(const redisAsyncContext *ac, int status)
{
	struct redis_store *s = store_of(ac);
	char buf[REDIS_REASON_MAX];

	if (s && status != REDIS_OK)
		store_fail(s, context_reason(buf, ac), FAIL_HIREDIS);
}

/*
 * redis_on_disconnect - hiredis: a connection that was open ended (a write failed:
 * reads are ours); hiredis frees ac.
 */
static void redis_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis_store *s = store_of(ac);
	char buf[REDIS_REASON_MAX];

	if (s)
		store_fail(s, context_reason(buf, ac), FAIL_HIREDIS);
}

/* store_up - the handshake is done: asks may go. */
static void store_up(struct redis_store *s)
{
	uv_timer_stop(&s->timer);
	s->state = REDIS_UP;
	stats.greylist_store_up = 1;
	if (s->outage) {
		s->outage = false;
		log_info("redis: greylist store %s answers again after %.1f s", s->name,
			 (double)(uv_now(s->loop) - s->outage_since_ms) / 1000);
	} else {
		log_debug("redis: greylist store %s: %s", s->name,
			  s->connected_once ? "connected again" : "connected");
	}
	s->connected_once = true;
}

/* on_handshake - the reply r to AUTH, SELECT or SCRIPT LOAD. */
static void on_handshake(struct redis_store *s, enum redis_step step, const redisReply *r)
{
	const char *what = step == REDIS_STEP_AUTH     ? "AUTH"
			   : step == REDIS_STEP_SELECT ? "SELECT"
						       : "SCRIPT LOAD";
	char buf[REDIS_REASON_MAX];

	if (step == REDIS_STEP_LOAD) {
		if (r->type == REDIS_REPLY_STRING && r->len == DIGEST_HEX_MAX &&
		    memcmp(r->str, s->sha, DIGEST_HEX_MAX) == 0)
			store_up(s);
		else
			store_fail(s, reply_reason(buf, what, r), FAIL_BROKEN);
		return;
	}
	if (r->type != REDIS_REPLY_STATUS || r->len != 2 || memcmp(r->str, "OK", 2) != 0)
		store_fail(s, reply_reason(buf, what, r), FAIL_BROKEN);
}

/* arm - the timer for the oldest ask's deadline, or none. */
static void arm(struct redis_store *s)
{
	struct redis_ask *a = TAILQ_FIRST(&s->asks);
	uint64_t now = uv_now(s->loop);

	if (!a)
		uv_timer_stop(&s->timer);
	else
		uv_timer_start(&s->timer, redis_on_timer,
			       a->deadline_ms > now ? a->deadline_ms - now : 0, 0);
}

/*
 * parse_answer - the script's {code, retry_s}; false when it is anything else (a
 * code we do not know, a retry_s out of 0..2^32-1). A retry_s longer than the
 * delay (at least 1 s, as greylist.c answers with a delay of 0) is cut to it: our
 * script never answers more, except across a reload that shortened the delay
 * (the ask carried the old one), and a broken or hostile store must not have
 * mail told to come back in 49710 days.
 */
static bool parse_answer(const struct redis_store *s, const redisReply *r,
			 enum greylist_answer *answer, uint32_t *retry_s)
{
	uint32_t most = s->rules.delay_s ? s->rules.delay_s : 1;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER)
		return false;
	long long code = r->element[0]->integer, retry = r->element[1]->integer;
	if (code < 0 || code >= (long long)(sizeof(redis_codes) / sizeof(redis_codes[0])) ||
	    retry < 0 || retry > UINT32_MAX)
		return false;
	*answer = redis_codes[code];
	*retry_s = retry > most ? most : (uint32_t)retry;
	return true;
}

/* on_answer - the reply r to the oldest ask in flight. */
static void on_answer(struct redis_store *s, const redisReply *r)
{
	struct redis_ask *a = TAILQ_FIRST(&s->asks);
	enum greylist_answer answer;
	uint32_t retry_s;
	char buf[REDIS_REASON_MAX];

	if (!parse_answer(s, r, &answer, &retry_s)) {
		/* This ask failed like the rest: store_fail answers it with them. */
		store_fail(s, reply_reason(buf, "EVALSHA", r), FAIL_BROKEN);
		return;
	}
	TAILQ_REMOVE(&s->asks, a, link);
	s->asks_len--;
	s->backoff_ms = REDIS_BACKOFF_MIN_MS;
	stats_store_latency((uv_hrtime() - a->start_ns) / 1000);
	arm(s);
	redis_done_fn *done = a->done;
	void *arg = a->arg;
	free(a);
	done(arg, answer, retry_s);
}

/*
 * on_reply - hand r to what its command expects: the next handshake step, else
 * the oldest ask. A reply that nothing expects (one more than was asked for) is a
 * failure: hiredis's own reply handling would abort the process on it.
 */
static void on_reply(struct redis_store *s, const redisReply *r)
{
	char buf[REDIS_REASON_MAX];

	if (s->step_next < s->steps_sent)
		on_handshake(s, s->steps[s->step_next++], r);
	else if (s->state == REDIS_UP && !TAILQ_EMPTY(&s->asks))
		on_answer(s, r);
	else
		store_fail(s, reply_reason(buf, "a reply to no command", r), FAIL_BROKEN);
}

/* reader_reason - why hiredis's reader failed: an array too long, or no RESP. */
static const char *reader_reason(char *buf, const struct redis_store *s,
				 const redisAsyncContext *ac)
{
	if (s->too_long)
		return "an array reply of too many elements";
	return reason_from(buf, "not RESP", ac->c.errstr,
			   strnlen(ac->c.errstr, sizeof(ac->c.errstr)));
}

/* free_replies - the first n of got, and got unless it is the caller's stack array held. */
static void free_replies(void **got, void **held, size_t n)
{
	for (size_t i = 0; i < n; i++)
		freeReplyObject(got[i]);
	if (got != held)
		free(got);
}

/*
 * redis_read - the socket is readable: read what came, take every whole reply out
 * of hiredis's reader, then hand each to on_reply. End of file or a failed read is
 * the server closing. Bytes that are no RESP (or a reply too large: see
 * REDIS_ELEMENTS_MAX), or more replies than commands in flight, are a failure,
 * and then no reply of this read is trusted (an extra one may be any of them:
 * which answers which ask is lost), so the asks are answered unavailable. A done
 * callback may free the store or drop the connection (a reload): the epoch says
 * so, and the rest of the replies are only freed (the store's memory lasts until
 * its timer's close callback, a later turn of the loop). The replies of one read
 * are held on the stack when they are few, as they almost always are: the heap
 * only for more than REDIS_READ_HELD.
 */
static void redis_read(redisAsyncContext *ac)
{
	struct redis_store *s = store_of(ac);
	char buf[REDIS_REASON_MAX];
	const char *reason = NULL;
	size_t expected, n = 0;
	uint64_t epoch;
	void *held[REDIS_READ_HELD], **got = held;

	/* Not connected yet: only a write event ends connecting, and hiredis's
	 * write handler notices how (a refused connection, say). */
	if (!(ac->c.flags & REDIS_CONNECTED)) {
		redisAsyncHandleWrite(ac);
		return;
	}
	if (!s)
		return;
	if (redisBufferRead(&ac->c) != REDIS_OK) {
		bool closed = ac->c.err == REDIS_ERR_EOF || ac->c.err == REDIS_ERR_IO;
		store_fail(s, context_reason(buf, ac), closed ? FAIL_CLOSED : FAIL_BROKEN);
		return;
	}
	expected = (size_t)(s->steps_sent - s->step_next) + s->asks_len;
	if (expected + 1 > REDIS_READ_HELD && !(got = malloc((expected + 1) * sizeof(*got)))) {
		store_fail(s, "out of memory", FAIL_BROKEN);
		return;
	}
	while (!reason) {
		void *reply = NULL;

		if (redisGetReplyFromReader(&ac->c, &reply) != REDIS_OK)
			reason = reader_reason(buf, s, ac);
		else if (!reply && ac->c.reader->len - ac->c.reader->pos > REDIS_PENDING_MAX)
			reason = "a reply longer than 64 KiB";
		else if (!reply)
			break;
		else if (n == expected)
			reason = reply_reason(buf, "a reply to no command", reply);
		if (reply)
			got[n++] = reply;
	}
	if (reason) {
		free_replies(got, held, n);
		store_fail(s, reason, FAIL_BROKEN);
		return;
	}
	epoch = s->epoch;
	for (size_t i = 0; i < n && s->epoch == epoch; i++)
		on_reply(s, got[i]);
	free_replies(got, held, n);
}

/*
 * send_command - append a command to the connection's output, and have the socket watched
 * for writing (what hiredis's redisAsyncCommand does, without its reply callback).
 */
static bool send_command(struct redis_store *s, int argc, const char **argv, const size_t *lens)
{
	redisAsyncContext *ac = s->ac;

	if (redisAppendCommandArgv(&ac->c, argc, argv, lens) != REDIS_OK)
		return false;
	if (ac->ev.addWrite)
		ac->ev.addWrite(ac->ev.data);
	return true;
}

/* send_step - send a handshake step, and expect its reply. */
static bool send_step(struct redis_store *s, enum redis_step step, int argc, const char **argv,
		      const size_t *lens)
{
	if (s->steps_sent >= REDIS_STEPS_MAX || !send_command(s, argc, argv, lens))
		return false;
	s->steps[s->steps_sent++] = step;
	return true;
}

/* send_handshake - queue AUTH (with a password), SELECT (db other than 0), SCRIPT LOAD. */
static bool send_handshake(struct redis_store *s)
{
	const char *argv[3];
	size_t lens[3];
	char db[24];
	bool ok = true;

	if (s->target.password) {
		argv[0] = "AUTH";
		argv[1] = s->target.password;
		lens[0] = 4;
		lens[1] = strlen(s->target.password);
		ok = send_step(s, REDIS_STEP_AUTH, 2, argv, lens);
	}
	if (ok && s->target.db != 0) {
		argv[0] = "SELECT";
		argv[1] = db;
		lens[0] = 6;
		lens[1] = (size_t)snprintf(db, sizeof(db), "%ld", s->target.db);
		ok = send_step(s, REDIS_STEP_SELECT, 2, argv, lens);
	}
	if (ok) {
		argv[0] = "SCRIPT";
		argv[1] = "LOAD";
		argv[2] = redis_script;
		lens[0] = 6;
		lens[1] = 4;
		lens[2] = sizeof(redis_script) - 1;
		ok = send_step(s, REDIS_STEP_LOAD, 3, argv, lens);
	}
	return ok;
}

/*
 * redis_connect - open a connection and queue its handshake. hiredis connects
 * without blocking (the address is numeric); a failure it sees at once (a unix
 * socket that is missing, say) fails the attempt here.
 */
static void redis_connect(struct redis_store *s)
{
	const struct redis_target *t = &s->target;
	redisAsyncContext *ac;
	char buf[REDIS_REASON_MAX];

	s->state = REDIS_CONNECTING;
	ac = t->unix_socket ? redisAsyncConnectUnix(t->path) : redisAsyncConnect(t->host, t->port);
	if (!ac) {
		store_fail(s, "out of memory", FAIL_BROKEN);
		return;
	}
	if (ac->err) {
		store_fail(s, context_reason(buf, ac), FAIL_BROKEN);
		redisAsyncFree(ac);
		return;
	}
	if (!conn_attach(ac, s->loop)) {
		redisAsyncFree(ac);
		store_fail(s, "cannot watch the socket", FAIL_BROKEN);
		return;
	}
	s->ac = ac;
	ac->data = s;
	reader_limit(ac, s);
	/* The connect callback's hook asks for the socket's first write event. */
	redisAsyncSetConnectCallback(ac, redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
	if (!send_handshake(s)) {
		store_fail(s, "cannot queue the handshake", FAIL_BROKEN);
		return;
	}
	uv_timer_start(&s->timer, redis_on_timer, REDIS_HANDSHAKE_ROUNDS * timeout_ms(s), 0);
}

/* redis_on_timer - libuv: the next attempt, or a deadline that passed. */
static void redis_on_timer(uv_timer_t *t)
{
	struct redis_store *s = t->data;
	char buf[REDIS_REASON_MAX];
	struct redis_ask *a;

	switch (s->state) {
	case REDIS_DOWN: redis_connect(s); break;
	case REDIS_CONNECTING:
		snprintf(buf, sizeof(buf), "no answer to the handshake within %" PRIu64 " ms",
			 REDIS_HANDSHAKE_ROUNDS * timeout_ms(s));
		store_fail(s, buf, FAIL_BROKEN);
		break;
	case REDIS_UP:
		a = TAILQ_FIRST(&s->asks);
		if (a && a->deadline_ms <= uv_now(s->loop)) {
			snprintf(buf, sizeof(buf), "no answer within %" PRIu64 " ms",
				 timeout_ms(s));
			store_fail(s, buf, FAIL_BROKEN);
		} else {
			arm(s);
		}
		break;
	case REDIS_CLOSED: break;
	}
}

/* ------------------------------------------------------------------ the API */

/* redis_store_new - see redis.h. */
struct redis_store *redis_store_new(uv_loop_t *loop, const struct redis_target *t,
				    const struct greylist_rules *g)
{
	struct redis_store *s = calloc(1, sizeof(*s));

	if (!s || !target_copy(s, t)) {
		free(s);
		log_error("redis: out of memory");
		return NULL;
	}
	s->loop = loop;
	s->rules = *g;
	s->backoff_ms = REDIS_BACKOFF_MIN_MS;
	TAILQ_INIT(&s->asks);
	digest_hex(DIGEST_SHA1, redis_script, sizeof(redis_script) - 1, s->sha, sizeof(s->sha));
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	redis_connect(s);
	return s;
}

/*
 * shorten - a new command deadline; the asks in flight keep theirs, but none ends
 * later than the new one allows. Deadlines then still grow in send order, as the
 * one timer for the oldest ask needs.
 */
static void shorten(struct redis_store *s, unsigned long timeout)
{
	struct redis_ask *a;
	uint64_t latest;

	s->target.timeout_ms = timeout;
	latest = uv_now(s->loop) + timeout_ms(s);
	TAILQ_FOREACH(a, &s->asks, link) {
		if (a->deadline_ms > latest)
			a->deadline_ms = latest;
	}
	if (s->state == REDIS_UP)
		arm(s);
}

/* redis_store_set - see redis.h. Asks dropped with the old target are no store errors. */
void redis_store_set(struct redis_store *s, const struct redis_target *t,
		     const struct greylist_rules *g)
{
	if (s->state == REDIS_CLOSED)
		return;
	s->rules = *g;
	if (target_same(&s->target, t)) {
		shorten(s, t->timeout_ms);
		return;
	}
	if (!target_copy(s, t)) {
		log_error("redis: out of memory: the greylist store stays %s", s->name);
		return;
	}
	log_info("redis: greylist store now %s", s->name);
	detach(s, false);
	uv_timer_stop(&s->timer);
	s->state = REDIS_DOWN;
	stats.greylist_store_up = 0;
	s->outage = false;
	s->backoff_ms = REDIS_BACKOFF_MIN_MS;
	answer_all(s, false);
	/* A done callback may have freed the store, or set another target. */
	if (s->state == REDIS_DOWN && !uv_is_active((uv_handle_t *)&s->timer))
		redis_connect(s);
}

/* redis_store_ask - see redis.h. */
bool redis_store_ask(struct redis_store *s, const struct greylist_key *k, redis_done_fn *done,
		     void *arg)
{
	char tkey[sizeof(REDIS_KEY_TRIPLET) + 2 * DIGEST_SHA1_LEN];
	char nkey[sizeof(REDIS_KEY_NETWORK) + GREYLIST_NETWORK_MAX];
	char num[4][16];
	const char *argv[9];
	size_t lens[9];
	struct redis_ask *a;
	size_t nlen = k->network_len < GREYLIST_NETWORK_MAX ? k->network_len : 0;
	const struct greylist_rules *g = &s->rules;

	if (s->state != REDIS_UP || !done)
		return false;
	a = malloc(sizeof(*a));
	if (!a)
		return false;
	memcpy(tkey, REDIS_KEY_TRIPLET, sizeof(REDIS_KEY_TRIPLET) - 1);
	for (size_t i = 0; i < DIGEST_SHA1_LEN; i++) {
		static const char hex[] = "0123456789abcdef";
		tkey[sizeof(REDIS_KEY_TRIPLET) - 1 + 2 * i] = hex[k->triplet[i] >> 4];
		tkey[sizeof(REDIS_KEY_TRIPLET) - 1 + 2 * i + 1] = hex[k->triplet[i] & 15];
	}
	memcpy(nkey, REDIS_KEY_NETWORK, sizeof(REDIS_KEY_NETWORK) - 1);
	memcpy(nkey + sizeof(REDIS_KEY_NETWORK) - 1, k->network, nlen);
	/* EXPIREAT now + 0 would forget the entry at once: at least 1 s. */
	uint32_t values[4] = { g->delay_s, g->max_wait_s ? g->max_wait_s : 1,
			       g->pass_ttl_s ? g->pass_ttl_s : 1, g->auto_allow };
	argv[0] = "EVALSHA";
	argv[1] = s->sha;
	argv[2] = "2";
	argv[3] = tkey;
	argv[4] = nkey;
	lens[0] = 7;
	lens[1] = DIGEST_HEX_MAX;
	lens[2] = 1;
	lens[3] = sizeof(tkey) - 1;
	lens[4] = sizeof(REDIS_KEY_NETWORK) - 1 + nlen;
	for (int i = 0; i < 4; i++) {
		argv[5 + i] = num[i];
		lens[5 + i] = (size_t)snprintf(num[i], sizeof(num[i]), "%" PRIu32, values[i]);
	}
	if (!send_command(s, 9, argv, lens)) {
		free(a);
		return false;
	}
	*a = (struct redis_ask){ .done = done,
				 .arg = arg,
				 .deadline_ms = uv_now(s->loop) + timeout_ms(s),
				 .start_ns = uv_hrtime() };
	TAILQ_INSERT_TAIL(&s->asks, a, link);
	s->asks_len++;
	if (TAILQ_FIRST(&s->asks) == a)
		arm(s);
	return true;
}

/* redis_store_up - see redis.h. */
bool redis_store_up(const struct redis_store *s)
{
	return s->state == REDIS_UP;
}

/* redis_on_close - libuv: the timer is closed, the store goes. */
static void redis_on_close(uv_handle_t *h)
{
	free(h->data);
}

/*
 * redis_store_free - see redis.h. The asks in flight are answered here (no store
 * errors: nothing failed); the store's memory goes in its timer's close callback,
 * the connection's glue in its poll's.
 */
void redis_store_free(struct redis_store *s)
{
	if (!s || s->state == REDIS_CLOSED)
		return;
	s->state = REDIS_CLOSED;
	stats.greylist_store_up = 0;
	detach(s, false);
	uv_timer_stop(&s->timer);
	answer_all(s, false);
	target_forget(&s->target);
	uv_close((uv_handle_t *)&s->timer, redis_on_close);
}
