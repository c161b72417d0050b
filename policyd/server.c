/*
 * server - the listeners: unix sockets (stale file removal, mode, group), TCP on
 * IPv4 and IPv6, sockets passed in by systemd (LISTEN_FDS); accepting, with the
 * checks a connection must pass ([server] allow, max_connections, the descriptors
 * left); the scheduling of connections (those stalled at CONN_WAITING_MAX, those
 * with requests left after a slice); and the graceful shutdown of every
 * connection (see server.h).
 *
 * Memory: struct server owns the listener array, the outbox (outbox.h: NULL
 * without io_uring) and one struct client per connection, which embeds the
 * connection (conn.h) and its places in the server's three queues: all open
 * connections, the stalled and the ready. Only this file touches the queues. A
 * client leaves every queue when its connection closes (conn_calls.closed) and is
 * freed when its handles have closed (conn_calls.freed). Listener handles are
 * closed at shutdown, the outbox's by the exit's uv_walk; the array and the
 * outbox are freed by server_free() after the loop has run their close callbacks.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "http.h"
#include "hot.h"
#include "log.h"
#include "server.h"
#include "stats.h"

#define LISTEN_BACKLOG 4096

struct listener {
	union conn_stream h;
	struct server *srv;
	bool is_tcp;
	char name[128]; /* for logs */
};

/* One connection as the server holds it: the connection and its places in the queues. */
struct client {
	struct conn conn;
	struct server *srv;
	TAILQ_ENTRY(client) all;     /* srv->clients: every open connection */
	TAILQ_ENTRY(client) stalled; /* srv->stalled, while on it */
	TAILQ_ENTRY(client) ready;   /* srv->ready, while on it */
	bool open;                   /* on srv->clients */
	bool is_tcp;
	struct addr peer;    /* TCP: the peer's address, for max_peer_connections */
	bool is_stalled;     /* on srv->stalled */
	bool is_ready;       /* on srv->ready */
	uint64_t stalled_at; /* srv->pass when it joined the stalled queue */
	uint64_t ready_at;   /* srv->pass when it joined the ready queue */
};

TAILQ_HEAD(clients, client);

struct server {
	/* First: every request is parsed here. The struct is page-aligned so that the
	 * used part of the request (the first thousand bytes or so) shares one page
	 * with the fields after it. */
	struct request scratch;
	struct conn_host host;
	struct listener *listeners;
	size_t listener_count;
	struct clients clients; /* open connections */
	unsigned long conn_count;
	unsigned long tcp_count; /* of those, TCP connections */
	unsigned long tcp_most;  /* max_tcp_connections, or its default for these listeners */
	struct clients stalled;  /* waiting for CONN_WAITING_MAX to leave room, in order */
	struct clients ready;    /* with complete requests left over after a slice */
	uint64_t pass;           /* counts passes over those queues: who joins during one waits */
	uv_idle_t
		ready_idle; /* active while the ready queue is not empty: the loop does not block */
	bool ready_idle_init;
	bool shutting_down;
	void (*on_done)(void *arg);
	void *done_arg;
	struct log_limit refused_log; /* connections refused: outside allow, or over a limit */
	struct log_limit accept_log;  /* accept errors (descriptors exhausted) */
	unsigned long fd_room;        /* connections the descriptor limit leaves room for */
};

static const struct conn_calls client_calls;

/* client_of - the client that holds a connection. */
static struct client *client_of(struct conn *c)
{
	return (struct client *)(void *)((char *)c - offsetof(struct client, conn));
}

/* accept_failed - say so, at most once a second, with how many failed meanwhile. */
static void accept_failed(struct server *srv, const char *listener, int rc, const char *what)
{
	unsigned long held;
	char more[64];

	if (!log_limit_pass(&srv->accept_log, uv_now(srv->host.loop), &held))
		return;
	log_warn("%s: %s: %s%s%s", listener, what, uv_strerror(rc),
		 log_held_text(more, sizeof(more), held),
		 rc == UV_EMFILE || rc == UV_ENFILE
			 ? "; out of file descriptors: raise LimitNOFILE or lower max_connections"
			 : "");
}

/*
 * describe_peer - "[address]:port" for TCP, "unix" for unix sockets; for logs and for
 * [server] allow. False when a TCP peer's address cannot be had: it is then refused,
 * never served unchecked.
 */
static bool describe_peer(struct conn *c, bool is_tcp, struct addr *a, char *peer, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char text[ADDR_TEXT_MAX];
	int rc;

	snprintf(peer, size, "%s", is_tcp ? "[unknown peer]" : "unix");
	if (!is_tcp)
		return true;
	rc = uv_tcp_getpeername((uv_tcp_t *)conn_stream(c), (struct sockaddr *)&ss, &len);
	if (rc != 0 || !addr_from_sockaddr(a, (struct sockaddr *)&ss)) {
		log_warn("connection refused: the peer's address is unknown (%s)",
			 rc != 0 ? uv_strerror(rc) : "not an IP address");
		return false;
	}
	addr_format(a, text, sizeof(text));
	unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	snprintf(peer, size, "[%s]:%u", text, port);
	return true;
}

/* peer_connections - the TCP connections open now from address a. */
static unsigned long peer_connections(const struct server *srv, const struct addr *a)
{
	const struct client *cl;
	unsigned long n = 0;

	TAILQ_FOREACH(cl, &srv->clients, all)
		n += cl->is_tcp && addr_equal(&cl->peer, a);
	return n;
}

/*
 * refusal - why a connection may not be served now, or NULL. Beside a unix socket,
 * TCP clients may hold only max_tcp_connections (by default three quarters of
 * max_connections): a local user who opens every TCP connection it can must not
 * lock Postfix out of its unix socket. One TCP peer may hold max_peer_connections.
 */
static const char *refusal(const struct server *srv, bool is_tcp, const struct addr *a, char *why,
			   size_t size)
{
	const struct config *cfg = srv->host.cfg;
	unsigned long most = (unsigned long)cfg->max_connections;

	if (is_tcp && !cidr_set_contains(cfg->allow, a))
		return "address not in [server] allow";
	/* The descriptor limit binds before max_connections when it is lower: refuse
	 * here, with a log line, rather than let accept fail later without one. */
	if (srv->fd_room < most && srv->conn_count >= srv->fd_room) {
		snprintf(
			why, size,
			"%lu connections use the descriptors the limit leaves (out of file descriptors: raise LimitNOFILE or lower max_connections)",
			srv->conn_count);
		return why;
	}
	if (srv->conn_count >= most) {
		snprintf(why, size, "max_connections (%lu) reached", most);
		return why;
	}
	if (is_tcp && srv->tcp_count >= srv->tcp_most) {
		snprintf(why, size,
			 "max_tcp_connections (%lu) reached; the rest is kept for unix sockets",
			 srv->tcp_most);
		return why;
	}
	if (is_tcp && peer_connections(srv, a) >= (unsigned long)cfg->max_peer_connections) {
		snprintf(why, size, "max_peer_connections (%ld) reached for this address",
			 cfg->max_peer_connections);
		return why;
	}
	return NULL;
}

/* may_connect - the checks of refusal(), logged at most once a second with a count. */
static bool may_connect(struct server *srv, bool is_tcp, const struct addr *a, const char *peer)
{
	char why[200], more[64];
	unsigned long held;
	const char *reason = refusal(srv, is_tcp, a, why, sizeof(why));

	if (reason == NULL)
		return true;
	if (log_limit_pass(&srv->refused_log, uv_now(srv->host.loop), &held))
		log_warn("%s: connection refused: %s%s", peer, reason,
			 log_held_text(more, sizeof(more), held));
	return false;
}

/* accept_client - take one pending connection from a listener, or refuse it. */
static void accept_client(struct listener *l)
{
	struct server *srv = l->srv;
	struct client *cl = calloc(1, sizeof(*cl));
	struct addr a = { 0 };
	char peer[64];
	int rc;

	if (cl == NULL) {
		log_error("out of memory accepting a connection");
		return;
	}
	cl->srv = srv;
	conn_init(&cl->conn, &srv->host, l->is_tcp);
	rc = uv_accept(&l->h.stream, conn_stream(&cl->conn));
	if (rc != 0) {
		accept_failed(srv, l->name, rc, "accept failed");
		stats.connections_refused++;
		conn_refuse(&cl->conn);
		return;
	}
	if (!describe_peer(&cl->conn, l->is_tcp, &a, peer, sizeof(peer)) ||
	    !may_connect(srv, l->is_tcp, &a, peer)) {
		stats.connections_refused++;
		conn_refuse(&cl->conn);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->clients, cl, all);
	cl->open = true;
	cl->is_tcp = l->is_tcp;
	cl->peer = a;
	srv->conn_count++;
	srv->tcp_count += l->is_tcp;
	stats.connections++;
	log_debug("%s: connected on %s", peer, l->name);
	conn_start(&cl->conn, peer);
}

/* on_connection - libuv: a listener has a connection to accept. */
static void on_connection(uv_stream_t *s, int status)
{
	struct listener *l = s->data;

	if (status < 0) {
		/* EMFILE and friends: libuv has already dropped the connection it could
		 * not take; say so, at most once a second. */
		accept_failed(l->srv, l->name, status, "connections dropped");
		return;
	}
	if (l->srv->shutting_down)
		return;
	accept_client(l);
}

/*
 * remove_stale_socket - a socket file left by a dead process is removed, but only
 * if it is a socket and nobody answers on it: we must neither delete another
 * file nor steal the socket of a running policyd.
 */
static bool remove_stale_socket(const char *path)
{
	struct stat st;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT || (log_error("%s: %s", path, strerror(errno)), false);
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket; not removing it", path);
		return false;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return log_error("socket: %s", strerror(errno)), false;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	int err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN) {
		log_error("%s: another process is listening on this socket", path);
		return false;
	}
	if (err != ECONNREFUSED) {
		log_error("%s: cannot tell whether the socket is in use: %s", path, strerror(err));
		return false;
	}
	log_info("%s: removing stale socket", path);
	if (unlink(path) != 0 && errno != ENOENT) {
		log_error("%s: cannot remove stale socket: %s", path, strerror(errno));
		return false;
	}
	return true;
}

/*
 * bind_unix - bind a unix socket that is born with the configured mode and group.
 *
 * The socket's directory may be writable by others (Postfix's private/ belongs to
 * the postfix user), who could swap the path for a symlink between a bind and a
 * chmod or chown by path, and have root change a file of their choice. So nothing
 * is done by path after the bind: the umask gives the mode, and the effective
 * group at bind time gives the group. Then the node is checked with lstat; one that
 * came out otherwise (a setgid directory imposes its group) is an error, not
 * something to fix by path.
 */
static int bind_unix(struct server *srv, struct listener *l, const struct listen_spec *spec)
{
	const struct config *cfg = srv->host.cfg;
	gid_t egid = getegid();
	bool switch_group = cfg->socket_group != NULL && cfg->socket_gid != egid;
	mode_t old_mask;
	struct stat st;
	int rc;

	if (!remove_stale_socket(spec->path))
		return -1;
	uv_pipe_init(srv->host.loop, &l->h.pipe, 0);
	if (switch_group && setegid(cfg->socket_gid) != 0) {
		log_error("%s: cannot create the socket with group %s: %s", spec->path,
			  cfg->socket_group, strerror(errno));
		return -1;
	}
	old_mask = umask((mode_t)(~cfg->socket_mode & 0777));
	rc = uv_pipe_bind(&l->h.pipe, spec->path);
	umask(old_mask);
	if (switch_group && setegid(egid) != 0) {
		log_error("cannot return to group %u: %s", (unsigned)egid, strerror(errno));
		return -1;
	}
	if (rc < 0) {
		log_error("%s: bind: %s", spec->text, uv_strerror(rc));
		return -1;
	}
	if (lstat(spec->path, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    (st.st_mode & 0777) != (cfg->socket_mode & 0777) ||
	    (cfg->socket_group != NULL && st.st_gid != cfg->socket_gid)) {
		log_error(
			"%s: the socket did not come out with mode %04o%s%s (a setgid directory, or the path was changed); not touching it",
			spec->path, cfg->socket_mode & 0777, cfg->socket_group ? " and group " : "",
			cfg->socket_group ? cfg->socket_group : "");
		return -1;
	}
	return 0;
}

/* bind_tcp - bind a TCP socket; an IPv6 address listens on IPv6 only. */
static int bind_tcp(struct server *srv, struct listener *l, const struct listen_spec *spec)
{
	unsigned flags = spec->addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	int rc;

	l->is_tcp = true;
	uv_tcp_init(srv->host.loop, &l->h.tcp);
	rc = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)&spec->addr, flags);
	if (rc < 0) {
		log_error("%s: bind: %s", spec->text, uv_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * take_activated - systemd socket activation: LISTEN_PID names us and LISTEN_FDS
 * counts the sockets from fd 3. Returns the number taken, 0 when not activated,
 * -1 on error.
 */
static int take_activated(struct server *srv)
{
	const char *pid_text = getenv("LISTEN_PID");
	const char *fds_text = getenv("LISTEN_FDS");
	long n;

	if (pid_text == NULL || fds_text == NULL || atol(pid_text) != (long)getpid())
		return 0;
	n = atol(fds_text);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n <= 0 || n > 64)
		return 0;
	srv->listeners = calloc((size_t)n, sizeof(*srv->listeners));
	if (srv->listeners == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		int fd = 3 + i;
		struct listener *l = &srv->listeners[srv->listener_count];
		uv_handle_type type = uv_guess_handle(fd);
		int rc;

		l->srv = srv;
		snprintf(l->name, sizeof(l->name), "systemd socket fd %d", fd);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (type == UV_TCP) {
			l->is_tcp = true;
			uv_tcp_init(srv->host.loop, &l->h.tcp);
			rc = uv_tcp_open(&l->h.tcp, fd);
		} else if (type == UV_NAMED_PIPE) {
			uv_pipe_init(srv->host.loop, &l->h.pipe, 0);
			rc = uv_pipe_open(&l->h.pipe, fd);
		} else {
			log_error("%s: not a stream socket", l->name);
			return -1;
		}
		if (rc < 0) {
			log_error("%s: %s", l->name, uv_strerror(rc));
			return -1;
		}
		l->h.handle.data = l;
		srv->listener_count++;
	}
	log_info("using %ld socket(s) passed by systemd", n);
	return (int)n;
}

/* bind_configured - bind every listen line of the configuration. */
static bool bind_configured(struct server *srv)
{
	const struct config *cfg = srv->host.cfg;

	srv->listeners = calloc(cfg->listen_count ? cfg->listen_count : 1, sizeof(*srv->listeners));
	if (srv->listeners == NULL)
		return false;
	for (size_t i = 0; i < cfg->listen_count; i++) {
		const struct listen_spec *spec = &cfg->listen[i];
		struct listener *l = &srv->listeners[i];
		int rc;

		l->srv = srv;
		snprintf(l->name, sizeof(l->name), "%s", spec->text);
		rc = spec->kind == LISTEN_UNIX ? bind_unix(srv, l, spec) : bind_tcp(srv, l, spec);
		/* A handle that was initialised must be closed even when binding failed. */
		if (uv_is_active(&l->h.handle) || l->h.handle.loop != NULL)
			srv->listener_count = i + 1;
		l->h.handle.data = l;
		if (rc < 0)
			return false;
	}
	return true;
}

/*
 * fd_room - the connections the descriptor limit leaves room for: the limit, less
 * the descriptors open now (listeners, DNS, logs, the loop's own) and a margin for
 * those the daemon opens later (a health check, a list file, a syslog reconnect:
 * FD_MARGIN plus a sixteenth of the limit), and the HTTP listeners' connections.
 */
#define FD_MARGIN 16
static unsigned long fd_room(const struct config *cfg)
{
	struct rlimit rl;
	unsigned long limit, open_now = 0, margin;
	DIR *dir;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return ULONG_MAX;
	limit = (unsigned long)rl.rlim_cur;
	if ((dir = opendir("/proc/self/fd")) != NULL) {
		for (struct dirent *de; (de = readdir(dir)) != NULL;)
			open_now += de->d_name[0] != '.';
		closedir(dir);
	}
	margin = FD_MARGIN + limit / 16 + cfg->http_listen_count * http_connection_limit(cfg);
	return limit > open_now + margin ? limit - open_now - margin : 0;
}

/* server_new - create the listeners without accepting yet. */
struct server *server_new(uv_loop_t *loop, const struct config *cfg, struct engine *engine)
{
	/* Page-aligned: every request is parsed into srv->scratch, whose used part (the
	 * first thousand bytes or so) then shares one page with the fields beside it. From
	 * calloc it straddled two, and where each system call empties the TLB a page is a
	 * page walk per request. */
	size_t size = (sizeof(struct server) + 4095) & ~(size_t)4095;
	struct server *srv = aligned_alloc(4096, size);
	int activated;

	if (srv == NULL)
		return NULL;
	memset(srv, 0, size);
	srv->host = (struct conn_host){
		.loop = loop,
		.cfg = cfg,
		.engine = engine,
		.scratch = &srv->scratch,
		.calls = &client_calls,
	};
	TAILQ_INIT(&srv->clients);
	TAILQ_INIT(&srv->stalled);
	TAILQ_INIT(&srv->ready);
	srv->fd_room = fd_room(cfg);
	activated = take_activated(srv);
	if (activated < 0 || (activated == 0 && !bind_configured(srv))) {
		server_shutdown(srv, NULL, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
		server_free(srv);
		return NULL;
	}
	return srv;
}

/*
 * name_bound_port - "inet:127.0.0.1:0" asks the kernel for a free port: name the
 * listener after the address it really has, so that the log says where to connect.
 */
static void name_bound_port(struct listener *l)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[64];

	if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		uv_ip4_name(sin, host, sizeof(host));
		snprintf(l->name, sizeof(l->name), "inet:%s:%u", host, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
		uv_ip6_name(sin6, host, sizeof(host));
		snprintf(l->name, sizeof(l->name), "inet:[%s]:%u", host, ntohs(sin6->sin6_port));
	}
}

/* tcp_limit - max_tcp_connections, or three quarters of max_connections beside a unix socket. */
static unsigned long tcp_limit(const struct server *srv)
{
	const struct config *cfg = srv->host.cfg;
	unsigned long most = (unsigned long)cfg->max_connections;

	if (cfg->max_tcp_connections > 0)
		return (unsigned long)cfg->max_tcp_connections;
	for (size_t i = 0; i < srv->listener_count; i++)
		if (!srv->listeners[i].is_tcp)
			return most - most / 4;
	return most;
}

/* server_start - listen on every socket; errors such as EADDRINUSE surface here. */
int server_start(struct server *srv)
{
	for (size_t i = 0; i < srv->listener_count; i++) {
		struct listener *l = &srv->listeners[i];
		int rc = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection);
		if (rc < 0) {
			log_error("%s: listen: %s", l->name, uv_strerror(rc));
			return rc;
		}
		if (l->is_tcp)
			name_bound_port(l);
		log_info("listening on %s", l->name);
	}
	srv->tcp_most = tcp_limit(srv);
	int err;
	srv->host.outbox = outbox_new(srv->host.loop, &conn_outbox_calls, &err);
	if (srv->host.outbox == NULL)
		log_info(
			"io_uring is not available (%s): each reply is written by a system call of its own",
			strerror(-err));
	return 0;
}

/* server_set_config - the reloaded configuration applies to new work and to idle timers. */
void server_set_config(struct server *srv, const struct config *cfg)
{
	bool idle_changed = srv->host.cfg->idle_timeout_ms != cfg->idle_timeout_ms;
	struct client *cl;

	srv->host.cfg = cfg;
	srv->tcp_most = tcp_limit(srv);
	if (!idle_changed)
		return;
	TAILQ_FOREACH(cl, &srv->clients, all)
		conn_idle_changed(&cl->conn);
}

/* unstall - take cl off the stalled queue, if it is on it. */
static void unstall(struct client *cl)
{
	if (!cl->is_stalled)
		return;
	TAILQ_REMOVE(&cl->srv->stalled, cl, stalled);
	cl->is_stalled = false;
}

/* unready - take cl off the ready queue, if it is on it. */
static void unready(struct client *cl)
{
	if (!cl->is_ready)
		return;
	TAILQ_REMOVE(&cl->srv->ready, cl, ready);
	cl->is_ready = false;
}

/* client_stall - conn_calls.stall: join the stalled queue once, at its end. */
static void client_stall(struct conn *c)
{
	struct client *cl = client_of(c);

	if (cl->is_stalled || !cl->open)
		return;
	cl->is_stalled = true;
	cl->stalled_at = cl->srv->pass;
	TAILQ_INSERT_TAIL(&cl->srv->stalled, cl, stalled);
}

/*
 * client_room - conn_calls.room: a request left the engine, so connections that
 * waited for room take theirs, in the order they stalled, as long as there is
 * room. Each is taken off the queue before it is resumed, and one that stalls
 * again during this pass waits for the next: a pass ends.
 */
static void client_room(struct conn_host *host)
{
	struct server *srv =
		(struct server *)(void *)((char *)host - offsetof(struct server, host));
	uint64_t pass = ++srv->pass;
	struct client *cl;

	while ((cl = TAILQ_FIRST(&srv->stalled)) != NULL && cl->stalled_at < pass &&
	       engine_waiting(host->engine) < CONN_WAITING_MAX) {
		unstall(cl);
		conn_resume(&cl->conn);
	}
}

/*
 * on_ready_turn - a new loop turn: each connection with requests left over takes a
 * slice, in the order they asked; those that ask again during this pass wait for
 * the next turn.
 */
HOT static void on_ready_turn(uv_idle_t *h)
{
	struct server *srv = h->data;
	uint64_t pass = ++srv->pass;
	struct client *cl;

	while ((cl = TAILQ_FIRST(&srv->ready)) != NULL && cl->ready_at < pass) {
		unready(cl);
		conn_turn(&cl->conn);
	}
	if (TAILQ_EMPTY(&srv->ready))
		uv_idle_stop(h);
}

/* client_ready - conn_calls.ready: a slice later, on the next loop turn. */
static void client_ready(struct conn *c)
{
	struct client *cl = client_of(c);
	struct server *srv = cl->srv;

	if (cl->is_ready || !cl->open)
		return;
	cl->is_ready = true;
	cl->ready_at = srv->pass;
	TAILQ_INSERT_TAIL(&srv->ready, cl, ready);
	if (!srv->ready_idle_init) {
		uv_idle_init(srv->host.loop, &srv->ready_idle);
		srv->ready_idle.data = srv;
		srv->ready_idle_init = true;
	}
	uv_idle_start(&srv->ready_idle, on_ready_turn);
}

/* maybe_done - report completion once the last connection has closed. */
static void maybe_done(struct server *srv)
{
	if (srv->shutting_down && srv->conn_count == 0 && srv->on_done != NULL) {
		void (*done)(void *) = srv->on_done;
		srv->on_done = NULL;
		done(srv->done_arg);
	}
}

/* client_closed - conn_calls.closed: the connection leaves every queue. */
static void client_closed(struct conn *c)
{
	struct client *cl = client_of(c);
	struct server *srv = cl->srv;

	unstall(cl);
	unready(cl);
	if (cl->open) {
		TAILQ_REMOVE(&srv->clients, cl, all);
		cl->open = false;
		srv->conn_count--;
		srv->tcp_count -= cl->is_tcp;
	}
	maybe_done(srv);
}

/* client_freed - conn_calls.freed: the handles have closed; on no queue, it goes. */
static void client_freed(struct conn *c)
{
	struct client *cl = client_of(c);

	/* A client freed while linked is the use-after-free this structure prevents. */
	assert(!cl->open && !cl->is_stalled && !cl->is_ready);
	free(cl);
}

static const struct conn_calls client_calls = {
	.stall = client_stall,
	.ready = client_ready,
	.room = client_room,
	.closed = client_closed,
	.freed = client_freed,
};

/* server_abort - the exit deadline passed: close every connection now, replies or not. */
void server_abort(struct server *srv)
{
	struct client *cl;

	while ((cl = TAILQ_FIRST(&srv->clients)) != NULL)
		conn_close(&cl->conn);
}

/* server_shutdown - close listeners, then every connection once its replies are out. */
void server_shutdown(struct server *srv, void (*done)(void *arg), void *arg)
{
	struct client *cl, *next;

	srv->shutting_down = true;
	srv->on_done = done;
	srv->done_arg = arg;
	for (size_t i = 0; i < srv->listener_count; i++)
		if (!uv_is_closing(&srv->listeners[i].h.handle))
			uv_close(&srv->listeners[i].h.handle, NULL);
	/* A stalled connection takes no more requests: it finishes what it has. */
	for (cl = TAILQ_FIRST(&srv->clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, all);
		unstall(cl);
		conn_shutdown(&cl->conn);
	}
	maybe_done(srv);
}

/* server_free - the listener array and the server; handles must be closed by now. */
void server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	outbox_free(srv->host.outbox);
	free(srv->listeners);
	free(srv);
}

/* server_connection_count - open connections, for statistics. */
unsigned long server_connection_count(const struct server *srv)
{
	return srv->conn_count;
}
