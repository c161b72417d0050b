/*
 * floor_ring - the floor on io_uring alone: what a trivial policy server costs when its
 * reads, as well as its writes, go through the ring and no system call is made per request.
 *
 * Usage: policyd-floor-ring inet:HOST:PORT   (a numeric IPv4 or IPv6 address; port 0: any)
 *
 * It answers like policyd-floor ("action=DUNNO\n\n" for every empty line that ends a
 * request, across reads too), but one loop turn is one io_uring_enter: a multishot accept,
 * a multishot receive per connection into buffers the ring picks from a provided-buffer
 * ring, and the turn's sends queued behind them. Where the kernel lacks any of that (multishot
 * receive and buffer rings: Linux 6.0) it says so on stderr and exits 2, so that the
 * benchmark leaves it out. Its purpose is one figure: how much moving a server's input path
 * into the ring could save on this host, measured in the same rounds as the floor (the
 * mix's BENCH_RING_FLOOR). Prints "LISTEN <address>" and "READY" like the floor; exits 0 on
 * SIGTERM or SIGINT.
 *
 * Memory: everything is allocated once at the start and lives until exit: the ring, the
 * receive buffers (RECV_BUFS of RECV_SIZE, lent to the kernel and handed back after each
 * completion is read), and the per-descriptor connection table. A reply is sent from a
 * static block of repeated replies; a connection only counts the bytes it still owes, so
 * a client that sends without reading costs a counter, not memory. Untrusted input: every
 * byte received.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ends.h"

#define REPLY "action=DUNNO\n\n"
#define REPLY_LEN (sizeof(REPLY) - 1)
#define BLOCK_REPLIES 1024 /* replies in the static block: one send carries at most these */
#define RECV_BUFS 256      /* receive buffers in the provided-buffer ring (a power of two) */
#define RECV_SIZE 4096
#define BUF_GROUP 1
#define CONNS_MAX 65536 /* descriptors at or above this are refused */
#define RING_ENTRIES 1024

/* What a completion is for: the kind in the high half of user_data, the descriptor below. */
enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND };

struct ring_conn {
	uint64_t owed;      /* reply bytes not yet sent */
	uint64_t sent;      /* reply bytes sent, for the phase of the next send in the block */
	bool at_line_start; /* the last byte received ended a line, or none came yet (ends.h) */
	bool receiving;     /* its multishot receive is armed */
	bool sending;       /* one send at a time, so that replies leave in order */
	bool failed;        /* a send failed: nothing more is sent */
};

static char block[BLOCK_REPLIES * REPLY_LEN];
static struct ring_conn conns[CONNS_MAX];
static struct io_uring ring;
static struct io_uring_buf_ring *buf_ring;
static char *recv_bufs;
static volatile sig_atomic_t stopping;

/* on_signal - SIGTERM or SIGINT: the loop ends after its current wait. */
static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* tag - the user_data of an operation on fd. */
static uint64_t tag(enum op op, int fd)
{
	return (uint64_t)op << 32 | (uint32_t)fd;
}

/* sqe - a free submission entry, submitting what is queued when the ring is full. */
static struct io_uring_sqe *sqe(void)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);

	if (s == NULL) {
		io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
	}
	return s;
}

/* arm_recv - receive on fd until it ends, into buffers the ring picks. */
static void arm_recv(int fd)
{
	struct io_uring_sqe *s = sqe();

	io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BUF_GROUP;
	io_uring_sqe_set_data64(s, tag(OP_RECV, fd));
}

/* give_back - receive buffer id may be used again; counted and published by the loop. */
static void give_back(int id, unsigned *returned)
{
	io_uring_buf_ring_add(buf_ring, recv_bufs + (size_t)id * RECV_SIZE, RECV_SIZE, (unsigned short)id,
			      io_uring_buf_ring_mask(RECV_BUFS), (int)(*returned)++);
}

/* send_owed - send what c owes, from the block at the phase where its last send ended. */
static void send_owed(int fd)
{
	struct ring_conn *c = &conns[fd];
	size_t phase = (size_t)(c->sent % REPLY_LEN);
	size_t len = sizeof(block) - phase;

	if (c->sending || c->owed == 0 || c->failed)
		return;
	if (len > c->owed)
		len = (size_t)c->owed;
	struct io_uring_sqe *s = sqe();
	io_uring_prep_send(s, fd, block + phase, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(s, tag(OP_SEND, fd));
	c->sending = true;
}

/*
 * finish - close fd once nothing of the ring refers to it any more: its receive has ended
 * and no send is in flight, so that no completion can name a descriptor number that a
 * later accept was given. What it still owed after the client stopped sending goes first.
 */
static void finish(int fd)
{
	struct ring_conn *c = &conns[fd];

	if (!c->receiving && !c->sending && (c->owed == 0 || c->failed))
		close(fd);
}

/* accepted - a new connection (or an error, which ends the multishot accept: re-armed). */
static void accepted(int lfd, const struct io_uring_cqe *cqe)
{
	int one = 1, fd = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		struct io_uring_sqe *s = sqe();
		io_uring_prep_multishot_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
		io_uring_sqe_set_data64(s, tag(OP_ACCEPT, lfd));
	}
	if (fd < 0)
		return;
	if (fd >= CONNS_MAX) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conns[fd] = (struct ring_conn){ .at_line_start = true, .receiving = true };
	arm_recv(fd);
}

/* received - bytes (or the end) of one connection; the buffer goes back to the ring. */
static void received(int fd, const struct io_uring_cqe *cqe, unsigned *returned)
{
	struct ring_conn *c = &conns[fd];

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		int id = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (cqe->res > 0 && !c->failed) {
			c->owed += request_ends(&c->at_line_start, recv_bufs + (size_t)id * RECV_SIZE, (size_t)cqe->res) *
				   REPLY_LEN;
			send_owed(fd);
		}
		give_back(id, returned);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	/* The kernel ended the multishot receive: with data or for want of buffers the
	 * connection goes on; at its end or on an error it is over. */
	if ((cqe->res > 0 || cqe->res == -ENOBUFS) && !c->failed) {
		arm_recv(fd);
		return;
	}
	c->receiving = false;
	finish(fd);
}

/* sent - one send finished: what it wrote is no longer owed; the rest goes next. A failed
 * send ends the connection: shutting it down ends its receive too. */
static void sent(int fd, const struct io_uring_cqe *cqe)
{
	struct ring_conn *c = &conns[fd];

	c->sending = false;
	if (cqe->res < 0) {
		c->failed = true;
		shutdown(fd, SHUT_RDWR);
	} else {
		c->owed -= (uint64_t)cqe->res;
		c->sent += (uint64_t)cqe->res;
		send_owed(fd);
	}
	finish(fd);
}

/* listen_on - a listening socket on "inet:HOST:PORT" (numeric host), its address printed. */
static int listen_on(const char *spec)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	char host[64], name[80];
	const char *colon = strrchr(spec, ':');
	int one = 1, port;

	if (strncmp(spec, "inet:", 5) != 0 || colon == NULL || colon - spec - 5 >= (long)sizeof(host))
		return -1;
	memcpy(host, spec + 5, (size_t)(colon - spec - 5));
	host[colon - spec - 5] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	port = atoi(colon + 1);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
	} else {
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 511) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &v4->sin_addr, name, sizeof(name));
		printf("LISTEN inet:%s:%u\n", name, ntohs(v4->sin_port));
	} else {
		inet_ntop(AF_INET6, &v6->sin6_addr, name, sizeof(name));
		printf("LISTEN inet:[%s]:%u\n", name, ntohs(v6->sin6_port));
	}
	return fd;
}

/* start_ring - the ring, with the cheapest way of running completions the kernel offers. */
static int start_ring(void)
{
	static const unsigned flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, /* Linux 6.1 */
		IORING_SETUP_COOP_TASKRUN,                              /* Linux 5.19 */
	};
	int rc = -EINVAL;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct io_uring_params p = { .flags = flags[i] };
		if ((rc = io_uring_queue_init_params(RING_ENTRIES, &ring, &p)) == 0)
			break;
	}
	if (rc != 0)
		return rc;
	buf_ring = mmap(NULL, RECV_BUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	recv_bufs = malloc((size_t)RECV_BUFS * RECV_SIZE);
	if (buf_ring == MAP_FAILED || recv_bufs == NULL)
		return -ENOMEM;
	struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)buf_ring, .ring_entries = RECV_BUFS,
					.bgid = BUF_GROUP };
	if ((rc = io_uring_register_buf_ring(&ring, &reg, 0)) != 0)
		return rc;
	io_uring_buf_ring_init(buf_ring);
	unsigned returned = 0;
	for (int id = 0; id < RECV_BUFS; id++)
		give_back(id, &returned);
	io_uring_buf_ring_advance(buf_ring, (int)returned);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int lfd, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: policyd-floor-ring inet:HOST:PORT\n");
		return 2;
	}
	if ((lfd = listen_on(argv[1])) < 0) {
		fprintf(stderr, "policyd-floor-ring: cannot listen on %s\n", argv[1]);
		return 2;
	}
	if ((rc = start_ring()) != 0) {
		fprintf(stderr, "policyd-floor-ring: io_uring not supported here: %s\n", strerror(-rc));
		return 2;
	}
	for (size_t i = 0; i < BLOCK_REPLIES; i++)
		memcpy(block + i * REPLY_LEN, REPLY, REPLY_LEN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct io_uring_sqe *s = sqe();
	io_uring_prep_multishot_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(s, tag(OP_ACCEPT, lfd));
	/* A kernel without multishot receive refuses the first receive, not the setup: the
	 * loop then exits 2, and the benchmark's first request finds it gone. */
	printf("READY\n");
	fflush(stdout);
	while (!stopping) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, returned = 0;

		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "policyd-floor-ring: io_uring_enter: %s\n", strerror(-rc));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			int fd = (int)(uint32_t)cqe->user_data;
			seen++;
			switch ((enum op)(cqe->user_data >> 32)) {
			case OP_ACCEPT: accepted(lfd, cqe); break;
			case OP_RECV: received(fd, cqe, &returned); break;
			case OP_SEND: sent(fd, cqe); break;
			}
			if (cqe->res == -EINVAL && (cqe->user_data >> 32) != OP_SEND) {
				fprintf(stderr, "policyd-floor-ring: io_uring not supported here: %s\n",
					strerror(EINVAL));
				return 2;
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (returned > 0)
			io_uring_buf_ring_advance(buf_ring, (int)returned);
	}
	return 0;
}
