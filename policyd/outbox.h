/*
 * outbox - the replies of one loop turn written with one system call.
 *
 * A connection that has replies to send joins the outbox instead of writing at
 * once; when libuv has run every I/O callback of the turn (a check handle), the
 * outbox sends what each member holds with one io_uring_enter, and tells each
 * member what was written. Where io_uring is missing or cannot send (a kernel
 * before 5.6, a seccomp filter, kernel.io_uring_disabled) there is no outbox and
 * connections write one by one, as before.
 *
 * Why: on a host where a system call costs a microsecond or more (page-table
 * isolation, a hypervisor), the write per reply was half of a cache hit's kernel
 * time. A busy turn answers many connections: their writes now share one entry
 * into the kernel.
 *
 * Memory: the outbox owns its ring and its two handles, which the loop's owner
 * closes with the loop's other handles (the exit's uv_walk) before outbox_free.
 * Its members (struct outbox_entry, embedded in their owner) are owned by their
 * owners, who must leave with outbox_remove before they are freed. A buffer
 * handed to the outbox is read by the kernel only inside outbox's flush, before
 * any member hears its result, so owners may change their buffers in their
 * callbacks. While a member waits, its owner owes those bytes: it must not count
 * as idle or drained.
 */
#ifndef POLICYD_OUTBOX_H
#define POLICYD_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <uv.h>

struct outbox;

/* A member: embedded in its owner, zeroed before its first outbox_add or outbox_attach. */
struct outbox_entry {
	TAILQ_ENTRY(outbox_entry) link; /* on the list of the next flush, while queued */
	bool queued;
	bool fixed; /* its descriptor is registered with the ring (outbox_attach) */
	int slot;   /* that descriptor, while fixed: its slot has the same number */
};

struct outbox_calls {
	/* take - what the member has to send now: false for nothing (it closed, or it is
	 * writing by other means meanwhile). The buffer must stay until sent is called. */
	bool (*take)(struct outbox_entry *e, int *fd, const char **buf, size_t *len);
	/* sent - the result of that send: the bytes written from the buffer's start, or
	 * a negative errno (-EAGAIN: the socket took nothing now). Every taken member
	 * hears its result, in the order they joined. */
	void (*sent)(struct outbox_entry *e, int result);
};

/*
 * outbox_new - an outbox on loop, or NULL with *err (a negative errno) when the
 * kernel does not give io_uring to this process, or gives one that cannot send
 * (-EOPNOTSUPP). calls must outlive the outbox.
 */
struct outbox *outbox_new(uv_loop_t *loop, const struct outbox_calls *calls, int *err);

/*
 * outbox_add - e joins the next flush (once, however often it is added). False when
 * the outbox no longer works (its ring failed): the caller writes by itself.
 */
bool outbox_add(struct outbox *o, struct outbox_entry *e);

/*
 * outbox_remove - e leaves for good, before its owner closes the descriptor: off the
 * next flush if it was on it, and its descriptor let go if the ring held it.
 */
void outbox_remove(struct outbox *o, struct outbox_entry *e);

/*
 * outbox_attach - register e's descriptor fd with the ring, so that its sends skip
 * the kernel's lookup of the descriptor (a reference taken and dropped on the file
 * for every send). Nothing happens where the kernel cannot register it, or would let
 * go of it a second late (before Linux 6.4), or fd is beyond the ring's table: e's
 * sends then name fd as before. A registered descriptor holds its socket open, so
 * the owner must call outbox_remove before it closes fd; every take of e must give
 * the same fd.
 */
void outbox_attach(struct outbox *o, struct outbox_entry *e, int fd);

/* outbox_free - the ring and the outbox; its handles must have closed by now. */
void outbox_free(struct outbox *o);

#endif
