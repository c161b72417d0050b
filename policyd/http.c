/*
 * http - the HTTP listener (see http.h): sockets bound before privileges are
 * dropped, one libmicrohttpd daemon per socket driven by the libuv loop, and the
 * routes: the help page, its assets, /metrics.
 *
 * Why libmicrohttpd: it is maintained, packaged by Debian (libmicrohttpd-dev),
 * parses HTTP/1.1 strictly with its own limits (header memory per connection,
 * connections in all and per address, idle timeouts), and can run with no thread
 * of its own: in "external epoll" mode it exposes one epoll descriptor for all its
 * sockets, which fits a uv_poll, and tells when it next needs to run, which fits
 * a uv_timer. Everything then happens on the daemon's one thread, between policy
 * requests, and a request is answered in one call, from memory.
 *
 * Memory: struct http owns the endpoints array, the MHD daemons, their listen
 * sockets and the loaded help page; uv handles are embedded in the endpoints and
 * closed by main's uv_walk at exit, before http_free stops the MHD daemons.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "build_config.h"
#include "engine.h"
#include "help.h"
#include "log.h"

/* Per connection: the request line and headers must fit in half of this. */
#define HTTP_CONNECTION_MEMORY (16 * 1024)
#define HTTP_BACKLOG 1024

/* The same policy as the page's meta tag, plus what only a header can say. */
static const char CSP[] =
	"default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct http;

/* One [http] listen address: its socket and the MHD daemon that serves it. */
struct endpoint {
	struct http *http;
	char name[128];
	int fd;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	bool handles; /* poll and timer initialised */
};

struct http {
	uv_loop_t *loop;
	struct engine *engine;
	struct help *help;
	struct endpoint *endpoints;
	size_t endpoint_count;
	http_metrics_fn *metrics;
	void *metrics_arg;
};

/* ---------------------------------------------------------------- the loop */

static void drive(struct endpoint *ep);

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status, (void)events;
	drive(p->data);
}

/* http_on_timer - the wait MHD asked for has passed (0: it has buffered work). */
static void http_on_timer(uv_timer_t *t)
{
	drive(t->data);
}

/*
 * drive - let MHD accept, read, answer and time out what is ready, then wake up
 * again when it says it must: a timeout of 0 means it has buffered work left
 * (its epoll is edge-triggered inside), which runs on the next loop iteration,
 * after the policy sockets have had their turn.
 */
static void drive(struct endpoint *ep)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (ep->mhd == NULL)
		return;
	MHD_run(ep->mhd);
	if (MHD_get_timeout(ep->mhd, &ms) == MHD_YES)
		uv_timer_start(&ep->timer, http_on_timer, ms, 0);
	else
		uv_timer_stop(&ep->timer);
}

/* ---------------------------------------------------------------- responses */

/* respond - queue body (copied, or owned when `owned`) with the headers every answer has. */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
			       void *body, size_t len, bool owned, const char *cache)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, CSP);
	MHD_add_response_header(r, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, MHD_HTTP_HEADER_X_FRAME_OPTIONS, "DENY");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* respond_text - a short plain-text answer (errors). */
static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return respond(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text), false,
		       "no-store");
}

/* peer_allowed - whether the connection's peer is in metrics_allow. */
static bool peer_allowed(struct MHD_Connection *c, const struct config *cfg)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct addr a;

	return info != NULL && info->client_addr != NULL && cfg->metrics_allow != NULL &&
	       addr_from_sockaddr(&a, info->client_addr) &&
	       cidr_set_contains(cfg->metrics_allow, &a);
}

/* default_metrics - what /metrics says until main sets its callback (http_set_metrics). */
static void default_metrics(void *arg, struct page_buf *out)
{
	static const char text[] = "# HELP policyd_up Whether policyd is running.\n"
				   "# TYPE policyd_up gauge\n"
				   "policyd_up 1\n";
	(void)arg;
	page_buf_append(out, text, sizeof(text) - 1);
}

/* serve_page - the help page for this request's query, from the live configuration. */
static enum MHD_Result serve_page(struct http *h, struct MHD_Connection *c)
{
	struct help_query q = {
		.ip = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ip"),
		.list = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "list"),
		.domain = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "domain"),
	};
	const char *greylisted =
		MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "greylisted");

	q.greylisted = greylisted != NULL && strcmp(greylisted, "1") == 0;
	struct page_buf out = { .max = HELP_PAGE_MAX };
	const struct config *cfg = engine_config(h->engine);

	if (!help_render(h->help, cfg, h->engine, uv_now(h->loop), &q, &out)) {
		page_buf_free(&out);
		log_error("http: the help page could not be rendered (out of memory or too long)");
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
	}
	/* A page about an address changes as the cache does: it is not kept anywhere. */
	return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", out.data, out.len, true,
		       q.ip != NULL ? "no-store" : "no-cache");
}

/* serve_metrics - /metrics for the peers of metrics_allow. */
static enum MHD_Result serve_metrics(struct http *h, struct MHD_Connection *c)
{
	struct page_buf out = { .max = HELP_PAGE_MAX };

	if (!peer_allowed(c, engine_config(h->engine)))
		return respond_text(c, MHD_HTTP_FORBIDDEN, "forbidden\n");
	h->metrics(h->metrics_arg, &out);
	if (out.failed || out.data == NULL) {
		page_buf_free(&out);
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
	}
	return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", out.data,
		       out.len, true, "no-store");
}

/* on_request - MHD's access handler: route one request, answered at once. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct http *h = cls;
	const char *asset, *type;
	size_t len;

	(void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (strcmp(url, "/") == 0 || strcmp(url, "/blacklisted.html") == 0 ||
	    strcmp(url, "/index.html") == 0)
		return serve_page(h, c);
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(h, c);
	if (url[0] == '/' && (asset = help_asset(h->help, url + 1, &len, &type)) != NULL)
		return respond(c, MHD_HTTP_OK, type, (void *)asset, len, false,
			       "public, max-age=3600");
	return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* on_mhd_log - MHD's complaints (mostly about peers) at debug level: a peer cannot flood the log. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;

	(void)cls;
	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	log_debug("http: %s", line);
}

/* ---------------------------------------------------------------- listeners */

/* bind_socket - a listening TCP socket for spec; an IPv6 address listens on IPv6 only. */
static int bind_socket(const struct listen_spec *spec, char *name, size_t name_size)
{
	int family = spec->addr.ss_family, one = 1, fd;
	socklen_t len =
		family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct sockaddr_storage ss;
	char host[ADDR_TEXT_MAX];
	struct addr a;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("[http] %s: socket: %s", spec->text, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&spec->addr, len) != 0 ||
	    listen(fd, HTTP_BACKLOG) != 0) {
		log_error("[http] %s: bind: %s", spec->text, strerror(errno));
		close(fd);
		return -1;
	}
	/* "inet:127.0.0.1:0" takes a free port: the log says which. */
	len = sizeof(ss);
	snprintf(name, name_size, "%s", spec->text);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    addr_from_sockaddr(&a, (struct sockaddr *)&ss)) {
		unsigned port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
		addr_format(&a, host, sizeof(host));
		snprintf(name, name_size, family == AF_INET6 ? "inet:[%s]:%u" : "inet:%s:%u", host,
			 port);
	}
	return fd;
}

unsigned long http_connection_limit(const struct config *cfg)
{
	struct rlimit rl;
	unsigned long want = (unsigned long)cfg->http_max_connections, share;

	if (cfg->http_listen_count == 0)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return want;
	share = (unsigned long)rl.rlim_cur / 4 / cfg->http_listen_count;
	if (share == 0)
		share = 1; /* a listener that may accept nothing is no listener */
	return want < share ? want : share;
}

/* start_daemon - an MHD daemon on ep->fd with the limits of cfg, driven from outside. */
static bool start_daemon(struct http *h, struct endpoint *ep, const struct config *cfg)
{
	unsigned long limit = http_connection_limit(cfg);

	if (limit < (unsigned long)cfg->http_max_connections)
		log_warn(
			"[http] %s: max_connections %lu lowered to %lu: the descriptor limit keeps three quarters for policy connections",
			ep->name, (unsigned long)cfg->http_max_connections, limit);
	/* MHD counts whole seconds; a timeout of 1.5 s becomes 2. */
	unsigned timeout_s = (unsigned)((cfg->http_timeout_ms + 999) / 1000);

	ep->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
		(MHD_socket)ep->fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->http_per_ip_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
	if (ep->mhd == NULL) {
		log_error("[http] %s: libmicrohttpd could not start", ep->name);
		return false;
	}
	return true;
}

/* load_help - the help page of cfg's help_dir; NULL on error, logged. */
static struct help *load_help(const struct config *cfg)
{
	const char *dir = cfg->http_help_dir ? cfg->http_help_dir : help_default_dir();
	char err[600];
	struct help *help = help_load(dir, err, sizeof(err));

	if (help == NULL)
		log_error("[http] help page: %s", err);
	return help;
}

struct http *http_new(uv_loop_t *loop, const struct config *cfg, struct engine *engine)
{
	struct http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->loop = loop;
	h->engine = engine;
	h->metrics = default_metrics;
	h->endpoints =
		calloc(cfg->http_listen_count ? cfg->http_listen_count : 1, sizeof(*h->endpoints));
	if (h->endpoints == NULL || (h->help = load_help(cfg)) == NULL) {
		http_free(h);
		return NULL;
	}
	for (size_t i = 0; i < cfg->http_listen_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		ep->http = h;
		ep->fd = bind_socket(&cfg->http_listen[i], ep->name, sizeof(ep->name));
		if (ep->fd < 0) {
			http_free(h);
			return NULL;
		}
		h->endpoint_count = i + 1;
		if (!start_daemon(h, ep, cfg)) {
			http_free(h);
			return NULL;
		}
	}
	/* Only now the loop learns of them: a failure above leaves no handle to close. */
	for (size_t i = 0; i < h->endpoint_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(ep->mhd, MHD_DAEMON_INFO_EPOLL_FD);
		uv_timer_init(loop, &ep->timer);
		uv_poll_init(loop, &ep->poll, info->epoll_fd);
		ep->poll.data = ep->timer.data = ep;
		ep->handles = true;
		uv_poll_start(&ep->poll, UV_READABLE, on_poll);
		drive(ep);
		log_info("http: listening on %s (help page from %s)", ep->name, help_dir(h->help));
	}
	return h;
}

void http_set_metrics(struct http *h, http_metrics_fn *fn, void *arg)
{
	h->metrics = fn ? fn : default_metrics;
	h->metrics_arg = arg;
}

void http_reload(struct http *h, const struct config *next)
{
	struct help *help = load_help(next);

	if (help == NULL) {
		log_error("reload: keeping the previous help page");
		return;
	}
	help_free(h->help);
	h->help = help;
}

bool http_listen_equal(const struct config *a, const struct config *b)
{
	if (a->http_listen_count != b->http_listen_count)
		return false;
	for (size_t i = 0; i < a->http_listen_count; i++)
		if (strcmp(a->http_listen[i].text, b->http_listen[i].text) != 0)
			return false;
	return true;
}

void http_shutdown(struct http *h)
{
	for (size_t i = 0; h != NULL && i < h->endpoint_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		MHD_socket fd = ep->mhd ? MHD_quiesce_daemon(ep->mhd) : MHD_INVALID_SOCKET;
		if (fd != MHD_INVALID_SOCKET) {
			close(fd);
			ep->fd = -1;
		}
	}
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->endpoint_count; i++) {
		struct endpoint *ep = &h->endpoints[i];
		/* MHD_stop_daemon closes the listen socket unless it was quiesced. */
		if (ep->mhd != NULL)
			MHD_stop_daemon(ep->mhd);
		else if (ep->fd >= 0)
			close(ep->fd);
	}
	help_free(h->help);
	free(h->endpoints);
	free(h);
}
