/*
 * slowsave - an LD_PRELOAD shim for the greylist test: the first write() of a thread
 * other than the main one into a file whose name ends in ".tmp" writes half of its
 * bytes, creates the file named by POLICYD_SLOWSAVE_MARK, and then waits (at most
 * POLICYD_SLOWSAVE_HOLD_MS, default 2000) until the file named by
 * POLICYD_SLOWSAVE_GATE exists: a disk that stalls in the middle of the state file's
 * save on the thread pool, while the test makes policyd save again on its loop.
 * Nothing is allocated.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t write_fn(int, const void *, size_t);

/* real_write - libc's write. POSIX's way of turning dlsym's object pointer into a
 * function pointer: copy the bytes. */
static write_fn *real_write(void)
{
	static write_fn *fn;
	void *p;

	if (fn == NULL) {
		p = dlsym(RTLD_NEXT, "write");
		memcpy(&fn, &p, sizeof(fn));
	}
	return fn;
}

/* writing_tmp - whether fd is a file whose name ends in ".tmp". */
static int writing_tmp(int fd)
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	return n > 4 && memcmp(path + n - 4, ".tmp", 4) == 0;
}

/* hold - wait for the gate file, a bounded time, in steps of 10 ms. */
static void hold(void)
{
	const char *gate = getenv("POLICYD_SLOWSAVE_GATE");
	const char *ms = getenv("POLICYD_SLOWSAVE_HOLD_MS");
	long steps = (ms != NULL ? atol(ms) : 2000) / 10;
	struct timespec step = { 0, 10 * 1000 * 1000 };

	for (long i = 0; i < steps && (gate == NULL || access(gate, F_OK) != 0); i++)
		nanosleep(&step, NULL);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static int stalled; /* once per process: the first save on the thread pool */
	const char *mark = getenv("POLICYD_SLOWSAVE_MARK");

	if (!stalled && n > 1 && gettid() != getpid() && writing_tmp(fd)) {
		stalled = 1;
		ssize_t done = real_write()(fd, buf, n / 2);
		if (mark != NULL)
			close(open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
		hold();
		return done;
	}
	return real_write()(fd, buf, n);
}
