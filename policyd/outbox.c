/*
 * outbox - the replies of one loop turn written with one system call (see outbox.h).
 *
 * Members wait on a list in the order they joined. The flush (a check handle: libuv
 * runs it after the turn's I/O callbacks) takes them OUTBOX_BATCH at a time, puts
 * one send per member in the ring and enters the kernel once. MSG_DONTWAIT makes
 * each send finish inside that call, whether the socket took all, part or nothing,
 * so no buffer is still in the kernel's hands when the members hear their results.
 * A member that joins while the flush calls back (a callback answered more
 * requests) waits for the next turn, and an idle handle keeps that turn from
 * blocking; so does a member that joins before the turn's poll (a timer answered).
 *
 * The flush waits for the results it is owed, which are already there; if that
 * wait ever failed, buffers would be unaccounted for, and the daemon aborts. A
 * ring that fails otherwise (a kernel short of memory refuses the batch, or does
 * not know a send's operation or flag) turns the outbox off for good: a send the
 * kernel did not take stays in the ring, and entering it again would send stale
 * bytes. Members then hear -EAGAIN and their owners write by themselves.
 *
 * Members may register their descriptors with the ring (outbox_attach; Linux 6.4 and
 * later): slot fd of a sparse table as large as the process may have descriptors (at
 * most FIXED_MAX), so that no slot is shared and none needs to be found. A send to a
 * registered descriptor does not look it up in the process's table, which takes and
 * drops a reference on the file (in the mix's profile 0.06 us of 7.5 per request).
 * The registration costs a system call when a connection opens and one when it
 * leaves (outbox_remove), and a connection sends many replies.
 *
 * Memory: struct outbox (calloc) owns the ring (io_uring_queue_exit in outbox_free)
 * and the two handles; members belong to their owners. The ring holds a reference on
 * each registered descriptor's file until outbox_detach (or the ring's end).
 */
#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include "hot.h"
#include "log.h"
#include "outbox.h"

/* Sends per entry into the kernel; more members take more rounds of the same flush. */
#define OUTBOX_BATCH 256

/* The most descriptor slots registered: the kernel keeps 8 to 16 bytes for each (a
 * descriptor beyond them is named as before). */
#define FIXED_MAX 16384u

struct outbox {
	struct io_uring ring;
	uv_check_t check; /* the flush */
	uv_idle_t idle;   /* active while members wait: the loop must not block in its poll */
	const struct outbox_calls *calls;
	TAILQ_HEAD(, outbox_entry) members; /* the next flush, in the order of joining */
	size_t count;                       /* members on that list */
	bool broken;                        /* the ring failed: owners write by themselves */
	unsigned slots;                     /* registered descriptor slots: fds below this */
	struct outbox_entry *batch[OUTBOX_BATCH];
	int result[OUTBOX_BATCH];
};

/* idle_turn - nothing to do: an active idle handle only makes the loop's poll return at once. */
static void idle_turn(uv_idle_t *h)
{
	(void)h;
}

/* unlink_entry - take e off the list. */
static void unlink_entry(struct outbox *o, struct outbox_entry *e)
{
	TAILQ_REMOVE(&o->members, e, link);
	e->queued = false;
	o->count--;
}

/*
 * unable - a send's result that blames the ring, not the socket (an operation or a
 * flag this kernel's io_uring does not know): the member writes by other means,
 * and so does everyone from now on.
 */
static bool unable(struct outbox *o, int res)
{
	if (res != -EINVAL && res != -EOPNOTSUPP && res != -ENOSYS)
		return false;
	if (!o->broken)
		log_warn(
			"io_uring cannot send here (%s); replies are written one by one from now on",
			strerror(-res));
	o->broken = true;
	return true;
}

/*
 * send_batch - send batch[0..n) with one entry into the kernel and wait for the n
 * results (already there: the sends do not wait). A send that never reached the
 * kernel reports -EAGAIN, so that its owner writes it by other means.
 */
HOT static void send_batch(struct outbox *o, unsigned n)
{
	unsigned submitted = 0, reaped = 0;
	int rc;

	for (unsigned i = 0; i < n; i++)
		o->result[i] = -EAGAIN;
	if (o->broken || n == 0)
		return;
	do
		rc = io_uring_submit(&o->ring);
	while (rc == -EINTR);
	if (rc > 0)
		submitted = (unsigned)rc;
	if (submitted < n) {
		/* Only a kernel short of memory refuses sends it was given; the rest stays
		 * in the ring, never entered again. */
		log_warn(
			"io_uring took %u of %u sends (%s); replies are written one by one from now on",
			submitted, n, rc < 0 ? strerror(-rc) : "no error");
		o->broken = true;
	}
	while (reaped < submitted) {
		struct io_uring_cqe *cqe;
		rc = io_uring_wait_cqe(&o->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			/* Cannot happen with at most OUTBOX_BATCH sends in a ring of that size.
			 * Going on would free or reuse buffers the kernel may still read, and
			 * send their new contents: stop here, and let the supervisor restart. */
			log_error("io_uring: waiting for %u sends failed (%s); aborting",
				  submitted - reaped, strerror(-rc));
			abort();
		}
		if (cqe->user_data < n)
			o->result[cqe->user_data] = unable(o, cqe->res) ? -EAGAIN : cqe->res;
		io_uring_cqe_seen(&o->ring, cqe);
		reaped++;
	}
}

/* flush - send what the members hold, OUTBOX_BATCH at a time, and tell each the result. */
HOT static void flush(uv_check_t *h)
{
	struct outbox *o = h->data;
	/* Only those on the list now: who joins during the callbacks waits for the next turn. */
	size_t budget = o->count;

	while (budget > 0 && !TAILQ_EMPTY(&o->members)) {
		unsigned n = 0;
		while (n < OUTBOX_BATCH && budget > 0 && !TAILQ_EMPTY(&o->members)) {
			struct outbox_entry *e = TAILQ_FIRST(&o->members);
			const char *buf;
			size_t len;
			int fd;

			unlink_entry(o, e);
			budget--;
			if (!o->calls->take(e, &fd, &buf, &len))
				continue;
			if (!o->broken) {
				/* Never NULL: the ring has OUTBOX_BATCH entries, all free here. */
				struct io_uring_sqe *sqe = io_uring_get_sqe(&o->ring);
				io_uring_prep_send(sqe, fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
				io_uring_sqe_set_data(sqe, (void *)(uintptr_t)n);
				if (e->fixed)
					sqe->flags |= IOSQE_FIXED_FILE; /* fd is its slot */
			}
			o->batch[n++] = e;
		}
		send_batch(o, n);
		for (unsigned i = 0; i < n; i++)
			o->calls->sent(o->batch[i], o->result[i]);
	}
	if (TAILQ_EMPTY(&o->members))
		uv_idle_stop(&o->idle);
}

/*
 * lets_go_at_once - whether this kernel releases the file of an emptied slot at once.
 * Before Linux 6.4 it was put by a work item scheduled a second later (rsrc_put_work,
 * delay HZ): a connection the daemon closes would reach its peer up to a second late,
 * and Debian 12's kernel (6.1) is among those.
 */
static bool lets_go_at_once(void)
{
	struct utsname u;
	unsigned major, minor;

	if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 4);
}

/*
 * register_slots - an empty table of descriptor slots in the ring, one for each
 * descriptor the process may open (FIXED_MAX at most), or 0: where the kernel cannot
 * register an empty table (before 5.19) or lets go of a slot's file late (before 6.4).
 */
static unsigned register_slots(struct io_uring *ring)
{
	struct rlimit limit;
	unsigned slots;

	if (!lets_go_at_once() || getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == 0)
		return 0;
	slots = limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > FIXED_MAX
			? FIXED_MAX
			: (unsigned)limit.rlim_cur;
	return io_uring_register_files_sparse(ring, slots) == 0 ? slots : 0;
}

/* outbox_new - set up the ring; NULL with *err when io_uring is not to be had. */
struct outbox *outbox_new(uv_loop_t *loop, const struct outbox_calls *calls, int *err)
{
	struct outbox *o = calloc(1, sizeof(*o));
	int rc;

	if (o == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	rc = io_uring_queue_init(OUTBOX_BATCH, &o->ring, 0);
	if (rc < 0) {
		*err = rc;
		free(o);
		return NULL;
	}
	/* Kernels 5.1 to 5.5 set up a ring but cannot send through it; they have no
	 * probe either (5.6 brought both). */
	struct io_uring_probe *probe = io_uring_get_probe_ring(&o->ring);
	bool sends = probe != NULL && io_uring_opcode_supported(probe, IORING_OP_SEND);
	io_uring_free_probe(probe);
	if (!sends) {
		*err = -EOPNOTSUPP;
		io_uring_queue_exit(&o->ring);
		free(o);
		return NULL;
	}
	o->calls = calls;
	o->slots = register_slots(&o->ring);
	TAILQ_INIT(&o->members);
	uv_check_init(loop, &o->check);
	uv_idle_init(loop, &o->idle);
	o->check.data = o;
	o->idle.data = o;
	/* The check handle runs every turn but keeps no loop alive by itself. */
	uv_check_start(&o->check, flush);
	uv_unref((uv_handle_t *)&o->check);
	uv_unref((uv_handle_t *)&o->idle);
	return o;
}

/* outbox_add - join the next flush; the loop's poll must not block before it. */
HOT bool outbox_add(struct outbox *o, struct outbox_entry *e)
{
	if (o->broken)
		return false;
	if (e->queued)
		return true;
	e->queued = true;
	TAILQ_INSERT_TAIL(&o->members, e, link);
	if (o->count++ == 0)
		uv_idle_start(&o->idle, idle_turn);
	return true;
}

/* outbox_attach - see outbox.h: slot fd takes fd, if there is such a slot. */
void outbox_attach(struct outbox *o, struct outbox_entry *e, int fd)
{
	if (o->broken || e->fixed || fd < 0 || (unsigned)fd >= o->slots)
		return;
	e->fixed = io_uring_register_files_update(&o->ring, (unsigned)fd, &fd, 1) == 1;
	e->slot = fd;
}

/* outbox_remove - see outbox.h: off the list, and e's slot emptied. */
void outbox_remove(struct outbox *o, struct outbox_entry *e)
{
	int none = -1, rc;

	if (e->queued)
		unlink_entry(o, e);
	if (!e->fixed)
		return;
	e->fixed = false;
	rc = io_uring_register_files_update(&o->ring, (unsigned)e->slot, &none, 1);
	if (rc != 1)
		log_warn(
			"io_uring: descriptor %d could not be unregistered (%s); its socket stays open until its slot is taken again or the daemon stops",
			e->slot, rc < 0 ? strerror(-rc) : "nothing updated");
}

/* outbox_free - the ring and the memory; the handles are closed already. */
void outbox_free(struct outbox *o)
{
	if (o == NULL)
		return;
	io_uring_queue_exit(&o->ring);
	free(o);
}
