/*
 * endpoint - "inet:HOST:PORT" and "unix:PATH" addresses for the benchmark tools, and the
 * libuv stream handles that listen on or connect to them.
 *
 * Memory: a struct endpoint belongs to the caller and holds copies of all it needs.  A union
 * endpoint_handle is embedded by the caller in its own struct, which it may free only in the
 * handle's close callback.  Functions return 0 or a negative libuv error code.
 */
#ifndef BENCH_ENDPOINT_H
#define BENCH_ENDPOINT_H

#include <sys/socket.h>
#include <uv.h>

#define ENDPOINT_TEXT_MAX 256	/* longest address text, with its NUL */
#define ENDPOINT_PATH_MAX 108	/* sizeof sun_path on Linux, with its NUL */

struct endpoint {
	int is_unix;
	struct sockaddr_storage addr;	/* inet: the resolved address and port */
	char path[ENDPOINT_PATH_MAX];	/* unix: the socket path */
	char text[ENDPOINT_TEXT_MAX];	/* the address as given, for messages */
};

union endpoint_handle {
	uv_handle_t handle;
	uv_stream_t stream;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
};

int endpoint_parse(struct endpoint *ep, const char *spec);
int endpoint_handle_init(uv_loop_t *loop, const struct endpoint *ep, union endpoint_handle *h);
int endpoint_listen(const struct endpoint *ep, union endpoint_handle *h, int backlog,
	uv_connection_cb cb);
int endpoint_connect(const struct endpoint *ep, union endpoint_handle *h, uv_connect_t *req,
	uv_connect_cb cb);
void endpoint_tune(const struct endpoint *ep, union endpoint_handle *h);
int endpoint_name(const struct endpoint *ep, union endpoint_handle *h, char *buf, size_t size);
int endpoint_format_inet(const struct sockaddr_storage *ss, char *buf, size_t size);

#endif
