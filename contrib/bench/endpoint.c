/*
 * endpoint - "inet:HOST:PORT" and "unix:PATH" addresses for the benchmark tools (see
 * endpoint.h).  The caller owns every struct passed in; nothing here allocates memory that
 * outlives a call.
 */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* endpoint_port_ok - whether text is a decimal port number from 0 to 65535 */
static int endpoint_port_ok(const char *text)
{
	unsigned long port = 0;
	const char *p;

	if (*text == '\0' || strlen(text) > 5)
		return 0;
	for (p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port <= 65535;
}

/* endpoint_parse_inet - resolve "HOST:PORT" or "[V6]:PORT" into ep->addr */
static int endpoint_parse_inet(struct endpoint *ep, const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	const char *start = hostport;
	struct addrinfo hints, *res = NULL;
	char host[ENDPOINT_TEXT_MAX];
	size_t len;

	if (colon == NULL || !endpoint_port_ok(colon + 1))
		return UV_EINVAL;
	len = (size_t)(colon - hostport);
	if (len >= 2 && hostport[0] == '[' && hostport[len - 1] == ']') {
		start++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(host))
		return UV_EINVAL;
	memcpy(host, start, len);
	host[len] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
		return UV_EINVAL;
	if (res->ai_addrlen > sizeof(ep->addr)) {
		freeaddrinfo(res);
		return UV_EINVAL;
	}
	memcpy(&ep->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* endpoint_parse - parse "inet:HOST:PORT" or "unix:PATH" (HOST may be a name) */
int endpoint_parse(struct endpoint *ep, const char *spec)
{
	size_t len = strlen(spec);

	memset(ep, 0, sizeof(*ep));
	if (len >= sizeof(ep->text))
		return UV_ENAMETOOLONG;
	memcpy(ep->text, spec, len + 1);
	if (strncmp(spec, "unix:", 5) == 0) {
		/* Longer paths would be cut silently by libuv (HACKING.md, traps). */
		len -= 5;
		if (len == 0)
			return UV_EINVAL;
		if (len >= sizeof(ep->path))
			return UV_ENAMETOOLONG;
		memcpy(ep->path, spec + 5, len + 1);
		ep->is_unix = 1;
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0)
		return endpoint_parse_inet(ep, spec + 5);
	return UV_EINVAL;
}

/* endpoint_handle_init - initialise a TCP or pipe handle to suit the endpoint */
int endpoint_handle_init(uv_loop_t *loop, const struct endpoint *ep, union endpoint_handle *h)
{
	if (ep->is_unix)
		return uv_pipe_init(loop, &h->pipe, 0);
	return uv_tcp_init(loop, &h->tcp);
}

/* endpoint_listen - bind and listen; a stale unix socket file is removed first */
int endpoint_listen(const struct endpoint *ep, union endpoint_handle *h, int backlog,
	uv_connection_cb cb)
{
	struct stat st;
	int rc;

	if (ep->is_unix) {
		/* uv_pipe_bind does not remove an old socket file (HACKING.md, traps). */
		if (lstat(ep->path, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(ep->path);
		rc = uv_pipe_bind(&h->pipe, ep->path);
	} else {
		rc = uv_tcp_bind(&h->tcp, (const struct sockaddr *)&ep->addr, 0);
	}
	if (rc == 0)
		rc = uv_listen(&h->stream, backlog, cb);
	return rc;
}

/* endpoint_connect - start connecting; cb is called only if this returns 0 */
int endpoint_connect(const struct endpoint *ep, union endpoint_handle *h, uv_connect_t *req,
	uv_connect_cb cb)
{
	if (ep->is_unix) {
		uv_pipe_connect(req, &h->pipe, ep->path, cb);
		return 0;
	}
	return uv_tcp_connect(req, &h->tcp, (const struct sockaddr *)&ep->addr, cb);
}

/* endpoint_tune - set options on a connected stream (TCP_NODELAY for TCP) */
void endpoint_tune(const struct endpoint *ep, union endpoint_handle *h)
{
	if (!ep->is_unix)
		(void)uv_tcp_nodelay(&h->tcp, 1);
}

/* endpoint_name - format the address a listening handle is bound to, port 0 resolved */
int endpoint_name(const struct endpoint *ep, union endpoint_handle *h, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	int rc;

	if (ep->is_unix) {
		snprintf(buf, size, "unix:%s", ep->path);
		return 0;
	}
	rc = uv_tcp_getsockname(&h->tcp, (struct sockaddr *)&ss, &len);
	if (rc < 0)
		return rc;
	return endpoint_format_inet(&ss, buf, size);
}

/* endpoint_format_inet - "inet:ADDR:PORT" ("inet:[ADDR]:PORT" for IPv6) of a socket address */
int endpoint_format_inet(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char ip[64];
	int rc, port;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		rc = uv_ip6_name(sin6, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
		if (rc == 0)
			snprintf(buf, size, "inet:[%s]:%d", ip, port);
	} else {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		rc = uv_ip4_name(sin, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
		if (rc == 0)
			snprintf(buf, size, "inet:%s:%d", ip, port);
	}
	return rc;
}
