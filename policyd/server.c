/*
 * server - the listeners: unix sockets (stale file removal, mode, group), TCP on
 * IPv4 and IPv6, sockets passed in by systemd (LISTEN_FDS), accepting, and the
 * graceful shutdown of every connection (see server.h).
 *
 * Memory: struct server owns the listener array, the outbox (outbox.h: NULL
 * without io_uring) and, through conn.c, every open connection. Listener handles
 * are closed at shutdown, the outbox's by the exit's uv_walk; the array and the
 * outbox are freed by server_free() after the loop has run their close callbacks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "hot.h"
#include "log.h"
#include "server_internal.h"

#define LISTEN_BACKLOG 4096

/* on_connection - libuv: a listener has a connection to accept. */
static void on_connection(uv_stream_t *s, int status)
{
	struct listener *l = s->data;

	if (status < 0) {
		/* EMFILE and friends: libuv has already dropped the connection it could
		 * not take; say so, at most once a second. */
		uint64_t now = uv_now(l->srv->loop);
		l->srv->accept_errors++;
		if (l->srv->last_accept_log == 0 || now - l->srv->last_accept_log >= 1000) {
			l->srv->last_accept_log = now ? now : 1;
			log_warn("%s: connections dropped: %s (%lu in the last second)%s", l->name,
				 uv_strerror(status), l->srv->accept_errors,
				 status == UV_EMFILE || status == UV_ENFILE
					 ? "; out of file descriptors: raise LimitNOFILE or lower "
					   "max_connections"
					 : "");
			l->srv->accept_errors = 0;
		}
		return;
	}
	if (l->srv->shutting_down)
		return;
	conn_accept(l);
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
	const struct config *cfg = srv->cfg;
	gid_t egid = getegid();
	bool switch_group = cfg->socket_group != NULL && cfg->socket_gid != egid;
	mode_t old_mask;
	struct stat st;
	int rc;

	if (!remove_stale_socket(spec->path))
		return -1;
	uv_pipe_init(srv->loop, &l->h.pipe, 0);
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
		log_error("%s: the socket did not come out with mode %04o%s%s (a setgid directory, "
			  "or the path was changed); not touching it",
			  spec->path, cfg->socket_mode & 0777,
			  cfg->socket_group ? " and group " : "",
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
	uv_tcp_init(srv->loop, &l->h.tcp);
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
			uv_tcp_init(srv->loop, &l->h.tcp);
			rc = uv_tcp_open(&l->h.tcp, fd);
		} else if (type == UV_NAMED_PIPE) {
			uv_pipe_init(srv->loop, &l->h.pipe, 0);
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
	const struct config *cfg = srv->cfg;

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
	srv->loop = loop;
	srv->cfg = cfg;
	srv->engine = engine;
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
	int err;
	srv->outbox = outbox_new(srv->loop, &conn_outbox_calls, &err);
	if (srv->outbox == NULL)
		log_info("io_uring is not available (%s): each reply is written by a system "
			 "call of its own",
			 strerror(-err));
	return 0;
}

/* server_set_config - the reloaded configuration applies to new work and to idle timers. */
void server_set_config(struct server *srv, const struct config *cfg)
{
	bool idle_changed = srv->cfg->idle_timeout_ms != cfg->idle_timeout_ms;

	srv->cfg = cfg;
	if (!idle_changed)
		return;
	for (struct conn *c = srv->conns; c != NULL; c = c->next)
		conn_idle_changed(c);
}

/*
 * server_resume_stalled - requests left the engine: connections that waited for
 * room take theirs, in the order they stalled, as long as there is room. Each
 * connection is looked at once per call, so a call ends.
 */
void server_resume_stalled(struct server *srv)
{
	struct conn *last = srv->stalled_tail;

	while (srv->stalled_head != NULL && srv->waiting < SERVER_WAITING_MAX) {
		struct conn *c = srv->stalled_head;
		srv->stalled_head = c->stalled_next;
		if (srv->stalled_head == NULL)
			srv->stalled_tail = NULL;
		conn_resume(c);
		if (c == last)
			break;
	}
}

/* on_ready_turn - a new loop turn: each connection with requests left over takes a slice. */
HOT static void on_ready_turn(uv_idle_t *h)
{
	struct server *srv = h->data;
	struct conn *c = srv->ready_head, *next;

	/* Take the list as it is: connections that queue themselves again wait for the next turn. */
	srv->ready_head = srv->ready_tail = NULL;
	for (; c != NULL; c = next) {
		next = c->ready_next;
		c->ready = false;
		c->ready_next = NULL;
		conn_resume(c);
	}
	if (srv->ready_head == NULL)
		uv_idle_stop(h);
}

/* server_add_ready - a connection has complete requests left after its slice. */
void server_add_ready(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->ready)
		return;
	c->ready = true;
	c->ready_next = NULL;
	if (srv->ready_tail)
		srv->ready_tail->ready_next = c;
	else
		srv->ready_head = c;
	srv->ready_tail = c;
	if (!srv->ready_idle_init) {
		uv_idle_init(srv->loop, &srv->ready_idle);
		srv->ready_idle.data = srv;
		srv->ready_idle_init = true;
	}
	uv_idle_start(&srv->ready_idle, on_ready_turn);
}

/* server_remove_ready - a closing connection leaves the list. */
void server_remove_ready(struct conn *c)
{
	struct server *srv = c->srv;
	struct conn *prev = NULL;

	if (!c->ready)
		return;
	for (struct conn *p = srv->ready_head; p != NULL; prev = p, p = p->ready_next) {
		if (p != c)
			continue;
		if (prev)
			prev->ready_next = c->ready_next;
		else
			srv->ready_head = c->ready_next;
		if (srv->ready_tail == c)
			srv->ready_tail = prev;
		break;
	}
	c->ready = false;
	c->ready_next = NULL;
}

/* server_abort - the exit deadline passed: close every connection now, replies or not. */
void server_abort(struct server *srv)
{
	while (srv->conns != NULL)
		conn_close(srv->conns);
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

/* server_conn_closed - conn.c tells us a connection is gone. */
void server_conn_closed(struct server *srv)
{
	srv->conn_count--;
	maybe_done(srv);
}

/* server_shutdown - close listeners, then every connection once its replies are out. */
void server_shutdown(struct server *srv, void (*done)(void *arg), void *arg)
{
	srv->shutting_down = true;
	srv->on_done = done;
	srv->done_arg = arg;
	for (size_t i = 0; i < srv->listener_count; i++)
		if (!uv_is_closing(&srv->listeners[i].h.handle))
			uv_close(&srv->listeners[i].h.handle, NULL);
	for (struct conn *c = srv->conns, *next; c != NULL; c = next) {
		next = c->next;
		conn_shutdown(c);
	}
	maybe_done(srv);
}

/* server_free - the listener array and the server; handles must be closed by now. */
void server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	outbox_free(srv->outbox);
	free(srv->listeners);
	free(srv);
}

/* server_connection_count - open connections, for statistics. */
unsigned long server_connection_count(const struct server *srv)
{
	return srv->conn_count;
}
