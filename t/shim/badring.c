/*
 * badring - an LD_PRELOAD shim for the outbox test: liburing misbehaves the way a
 * kernel can, chosen by POLICYD_BADRING:
 *   noprobe  io_uring_get_probe_ring finds nothing, as on kernels 5.1 to 5.5,
 *            which set up a ring but have no probe and no IORING_OP_SEND;
 *   badop    every entry submitted carries an operation the kernel does not know,
 *            so each send completes with -EINVAL, as IORING_OP_SEND does there;
 *   eagain   io_uring_submit takes nothing and fails with -EAGAIN, as a kernel
 *            short of memory does.
 * It lets the test show that policyd then writes its replies by other means
 * instead of closing connections. Nothing is allocated.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

/* An operation number far above any the kernel knows. */
#define UNKNOWN_OP 0xf0

/* mode - whether POLICYD_BADRING names this misbehaviour. */
static int mode(const char *name)
{
	const char *set = getenv("POLICYD_BADRING");

	return set != NULL && strcmp(set, name) == 0;
}

/* next - liburing's own function of that name. POSIX's way of turning dlsym's
 * object pointer into a function pointer: copy the bytes. */
static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* io_uring_get_probe_ring - nothing found under noprobe; liburing's answer otherwise. */
struct io_uring_probe *io_uring_get_probe_ring(struct io_uring *ring)
{
	struct io_uring_probe *(*real)(struct io_uring *);
	void *found = next("io_uring_get_probe_ring");

	memcpy(&real, &found, sizeof(real));
	return mode("noprobe") ? NULL : real(ring);
}

/* io_uring_submit - refused under eagain; under badop, the entries waiting to be
 * submitted (liburing's sqe_head to sqe_tail) get an unknown operation first. */
int io_uring_submit(struct io_uring *ring)
{
	int (*real)(struct io_uring *);
	void *found = next("io_uring_submit");

	memcpy(&real, &found, sizeof(real));
	if (mode("eagain"))
		return -EAGAIN;
	if (mode("badop"))
		for (unsigned i = ring->sq.sqe_head; i != ring->sq.sqe_tail; i++)
			ring->sq.sqes[i & *ring->sq.kring_mask].opcode = UNKNOWN_OP;
	return real(ring);
}
