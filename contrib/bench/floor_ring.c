/*
 * floor_ring - the floor on io_uring alone: what a trivial policy server costs when its
 * reads, as well as its writes, go through the ring and no system call is made per request.
 *
 * Usage: policyd-floor-ring inet:HOST:PORT   (as the other tools take it; port 0: any)
 *
 * It answers like policyd-floor ("action=DUNNO\n\n" for every empty line that ends a
 * request, across reads too), but a loop turn is one io_uring_enter (two only when a turn
 * queues more operations than the ring holds): a multishot accept, a multishot receive per
 * connection into buffers the ring picks from a provided-buffer ring, and the turn's sends
 * queued behind them. Its purpose is one figure: how much moving a server's input path into
 * the ring could save on this host, measured in the same rounds as the floor (the mix's
 * BENCH_RING_FLOOR). Prints "LISTEN <address>" and "READY" like the floor once it serves;
 * exits 0 on SIGTERM or SIGINT, 2 on a usage or listening error, and 3 before printing
 * anything where the kernel does not give it all it needs (io_uring refused, no buffer
 * rings or no multishot receive: before Linux 6.0), so that the benchmark leaves it out.
 *
 * Unlike policyd-floor it has no backpressure: a client that sends without reading is
 * received from for as long as it sends. What it owes is a counter, so memory stays
 * bounded; the benchmark's client reads every reply, so the figures do not depend on it.
 *
 * Memory: everything is allocated once at the start and lives until exit: the ring, the
 * receive buffers (RECV_BUFS of RECV_SIZE, lent to the kernel and handed back after each
 * completion is read), and the per-descriptor connection table. A reply is sent from a
 * static block of repeated replies; a connection only counts the bytes it still owes.
 * Untrusted input: every byte received.
 */
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "endpoint.h"
#include "ends.h"

#define REPLY "action=DUNNO\n\n"
#define REPLY_LEN (sizeof(REPLY) - 1)
/* Replies in the static block: one send carries at most these. */
#define BLOCK_REPLIES 1024
/* Receive buffers in the provided-buffer ring (a power of two, as the kernel wants): far
 * more than the benchmark's connections, each of which has at most one request in flight,
 * so that a receive rarely finds none; when one does, it ends with -ENOBUFS and is armed
 * again. A buffer holds several of the benchmark's 600-byte requests. */
#define RECV_BUFS 256
#define RECV_SIZE 4096
/* The buffer group the receives pick from: any number, the same on both sides. */
#define BUF_GROUP 1
/* Descriptors at or above this are refused: the connection table is indexed by them. */
#define CONNS_MAX 65536
/* Submission entries: a turn queues at most a receive and a send per connection that
 * completed something, and sqe() submits early when they run out. */
#define RING_ENTRIES 1024
/* The exit status where the kernel does not give what this program needs. */
#define EXIT_UNSUPPORTED 3

/* What a completion is for: the kind in the high half of user_data, the descriptor below. */
enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_SIGNAL };

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
static bool stopping;
static int signal_fd = -1;                  /* SIGTERM and SIGINT, read through the ring */
static struct signalfd_siginfo signal_info; /* where that read puts them */
static unsigned open_conns;   /* accepted and not yet closed */
static bool accept_paused;    /* out of descriptors: accepting again when one closes */
static int listen_fd = -1;

/* tag - the user_data of an operation on fd. */
static uint64_t tag(enum op op, int fd)
{
	return (uint64_t)op << 32 | (uint32_t)fd;
}

/*
 * sqe - a free submission entry, submitting what is queued when the ring is full. A ring
 * that then still has none (the kernel refused the submission) is a benchmark that cannot
 * go on: said, and the program ends rather than lose an operation.
 */
static struct io_uring_sqe *sqe(void)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);

	if (s == NULL) {
		int rc = io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
		if (s == NULL) {
			fprintf(stderr, "policyd-floor-ring: the ring is full and took nothing (%s)\n",
				strerror(rc < 0 ? -rc : EBUSY));
			exit(1);
		}
	}
	return s;
}

/* arm_accept - accept connections until the kernel ends it. */
static void arm_accept(void)
{
	struct io_uring_sqe *s = sqe();

	io_uring_prep_multishot_accept(s, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(s, tag(OP_ACCEPT, listen_fd));
}

/*
 * arm_signal - wait for SIGTERM or SIGINT in the ring, like any other event: a signal
 * handler would leave a signal that comes just before the wait in the kernel unseen until
 * the next completion.
 */
static void arm_signal(void)
{
	struct io_uring_sqe *s = sqe();

	io_uring_prep_read(s, signal_fd, &signal_info, sizeof(signal_info), 0);
	io_uring_sqe_set_data64(s, tag(OP_SIGNAL, signal_fd));
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
	io_uring_buf_ring_add(buf_ring, recv_bufs + (size_t)id * RECV_SIZE, RECV_SIZE,
			      (unsigned short)id, io_uring_buf_ring_mask(RECV_BUFS), (int)(*returned)++);
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

	if (c->receiving || c->sending || (c->owed > 0 && !c->failed))
		return;
	close(fd);
	open_conns--;
	if (accept_paused) {
		accept_paused = false;
		arm_accept();
	}
}

/*
 * accepted - a new connection, or an error, which ends the multishot accept. It is armed
 * again at once, except when the process is out of descriptors: then accepting waits for
 * a connection to close (finish), since an accept armed again at once would fail again at
 * once, for as long as a connection waits in the backlog, and spin.
 */
static void accepted(const struct io_uring_cqe *cqe)
{
	int one = 1, fd = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		if ((fd == -EMFILE || fd == -ENFILE) && open_conns > 0)
			accept_paused = true;
		else
			arm_accept();
	}
	if (fd < 0)
		return;
	if (fd >= CONNS_MAX) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conns[fd] = (struct ring_conn){ .at_line_start = true, .receiving = true };
	open_conns++;
	arm_recv(fd);
}

/* received - bytes (or the end) of one connection; the buffer goes back to the ring. */
static void received(int fd, const struct io_uring_cqe *cqe, unsigned *returned)
{
	struct ring_conn *c = &conns[fd];

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		int id = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (cqe->res > 0 && !c->failed) {
			const char *data = recv_bufs + (size_t)id * RECV_SIZE;
			c->owed += request_ends(&c->at_line_start, data, (size_t)cqe->res) * REPLY_LEN;
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

/*
 * listen_on - a listening socket on an "inet:" address (endpoint.c parses it, as for the
 * other tools), its address printed with the port the kernel picked.
 */
static int listen_on(const char *spec)
{
	struct endpoint ep;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char name[ENDPOINT_TEXT_MAX];
	int one = 1, fd;

	if (endpoint_parse(&ep, spec) != 0 || ep.is_unix)
		return -1;
	fd = socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ep.addr, ep.addr.ss_family == AF_INET6
							? sizeof(struct sockaddr_in6)
							: sizeof(struct sockaddr_in)) != 0 ||
	    listen(fd, 511) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    endpoint_format_inet(&ss, name, sizeof(name)) != 0) {
		close(fd);
		return -1;
	}
	printf("LISTEN %s\n", name);
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

/*
 * receives_many - whether this kernel has multishot receive (Linux 6.0), which the ring's
 * setup does not tell: armed on one end of a socket pair, it must bring a byte written to
 * the other end and go on, then end when that end closes. Every completion is read here.
 */
static bool receives_many(void)
{
	struct io_uring_cqe *cqe;
	int pair[2];
	bool more = false;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
		return false;
	arm_recv(pair[0]);
	if (io_uring_submit(&ring) != 1 || write(pair[1], "x", 1) != 1) {
		close(pair[1]);
		close(pair[0]);
		return false;
	}
	for (int i = 0; i < 2; i++) {
		if (io_uring_wait_cqe(&ring, &cqe) != 0)
			break;
		bool last = !(cqe->flags & IORING_CQE_F_MORE);
		if (i == 0)
			more = cqe->res == 1 && !last;
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			unsigned returned = 0;
			give_back((int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT), &returned);
			io_uring_buf_ring_advance(buf_ring, (int)returned);
		}
		io_uring_cqe_seen(&ring, cqe);
		if (last)
			break;
		close(pair[1]); /* the end of the stream ends the receive: its last completion */
		pair[1] = -1;
	}
	if (pair[1] >= 0)
		close(pair[1]);
	close(pair[0]);
	return more;
}

int main(int argc, char **argv)
{
	sigset_t stop_signals;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: policyd-floor-ring inet:HOST:PORT\n");
		return 2;
	}
	if ((rc = start_ring()) != 0) {
		fprintf(stderr, "policyd-floor-ring: io_uring not supported here: %s\n", strerror(-rc));
		return EXIT_UNSUPPORTED;
	}
	if (!receives_many()) {
		fprintf(stderr, "policyd-floor-ring: io_uring without multishot receive here\n");
		return EXIT_UNSUPPORTED;
	}
	if ((listen_fd = listen_on(argv[1])) < 0) {
		fprintf(stderr, "policyd-floor-ring: cannot listen on %s\n", argv[1]);
		return 2;
	}
	for (size_t i = 0; i < BLOCK_REPLIES; i++)
		memcpy(block + i * REPLY_LEN, REPLY, REPLY_LEN);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);
	if ((signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "policyd-floor-ring: signalfd: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	arm_signal();
	arm_accept();
	printf("READY\n");
	fflush(stdout);
	while (!stopping) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, returned = 0;

		rc = io_uring_submit_and_wait(&ring, 1);
		/* -EBUSY and -EAGAIN: the kernel wants the completions read first. */
		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
			fprintf(stderr, "policyd-floor-ring: io_uring_enter: %s\n", strerror(-rc));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			int fd = (int)(uint32_t)cqe->user_data;
			seen++;
			switch ((enum op)(cqe->user_data >> 32)) {
			case OP_ACCEPT: accepted(cqe); break;
			case OP_RECV: received(fd, cqe, &returned); break;
			case OP_SEND: sent(fd, cqe); break;
			case OP_SIGNAL: stopping = true; break;
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (returned > 0)
			io_uring_buf_ring_advance(buf_ring, (int)returned);
	}
	return 0;
}
