/*
 * test_log - unit tests of policyd/log.c's batching: lines held while batching is on
 * are written by log_turn once 64 KiB of them wait (16 KiB when stderr is a pipe) or
 * the oldest has waited 50 ms, an error line writes everything at once, and log_flush
 * starts the wait again. stderr is pointed at a temporary file whose size tells what
 * has been written (the real stderr comes back before the end, and the file stays if
 * the test dies, so that a sanitizer's report is not lost), and for a while at a pipe
 * whose unread bytes tell the same; the loop's clock is passed in, so no test waits.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "log.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int out_fd;

/* written - how many bytes have reached the file so far. */
static long written(void)
{
	struct stat st;

	return fstat(out_fd, &st) == 0 ? (long)st.st_size : -1;
}

/* contents - the file's last 64 KiB of text so far (static buffer). */
static const char *contents(void)
{
	static char text[65536];
	long size = written();
	long from = size > (long)sizeof(text) - 1 ? size - ((long)sizeof(text) - 1) : 0;
	ssize_t n = pread(out_fd, text, sizeof(text) - 1, from);

	text[n < 0 ? 0 : n] = '\0';
	return text;
}

/* test_hold_time - one line waits for its 50 ms, counted from the turn that saw it. */
static void test_hold_time(void)
{
	long before = written();

	log_info("first held line");
	is_int(written(), before, "a line logged while batching is not written at once");
	is_int(log_turn(1000), 50, "the turn that sees it holds it for 50 ms");
	is_int(log_turn(1030), 20, "a later turn: 20 ms left");
	log_info("second held line");
	is_int(log_turn(1049), 1, "a second line does not restart the wait");
	is_int(written(), before, "nothing written before the oldest line is due");
	is_int(log_turn(1050), 0, "at 50 ms the lines are due: nothing is held any more");
	ok(strstr(contents(), "first held line\npolicyd[") != NULL &&
		   strstr(contents(), "second held line\n") != NULL,
	   "both lines written, in order");
	is_int(log_turn(5000), 0, "nothing held: no timer is needed");
}

/*
 * hold_bytes - lines of about 1 KiB until KiB - 1 of them wait (held), then two more
 * (written at the turn's end, all at once); sink says how many bytes have arrived.
 */
static void hold_bytes(int kib, long (*sink)(void), uint64_t now, const char *what)
{
	char text[1001];
	long before = sink();

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int lines = 0; lines < kib - 1; lines++)
		log_info("%s", text);
	is_int(log_turn(now), 50, "%s: %d KiB waiting: still held", what, kib - 1);
	is_int(sink(), before, "%s: and not written", what);
	log_info("%s", text);
	log_info("%s", text);
	is_int(log_turn(now + 1), 0, "%s: %d KiB waiting: written at the turn's end", what, kib + 1);
	ok(sink() - before > kib * 1024, "%s: all of it (%ld bytes)", what, sink() - before);
}

/* test_hold_bytes - 64 KiB of waiting lines are written to a file at once. */
static void test_hold_bytes(void)
{
	hold_bytes(64, written, 2000, "a file");
}

static int pipe_out;

/* in_pipe - how many bytes wait in the pipe. */
static long in_pipe(void)
{
	int n = -1;

	return ioctl(pipe_out, FIONREAD, &n) == 0 ? n : -1;
}

/*
 * stderr_to_pipe - stderr becomes a new pipe of 64 KiB (its write end not blocking, if
 * asked), whose read end in_pipe looks at; batching starts again, since the logger
 * looks at what stderr is then.
 */
static bool stderr_to_pipe(int ends[2], bool nonblocking)
{
	if (pipe(ends) != 0 || fcntl(ends[1], F_SETPIPE_SZ, 64 * 1024) < 0 ||
	    (nonblocking && fcntl(ends[1], F_SETFL, O_NONBLOCK) != 0) ||
	    dup2(ends[1], STDERR_FILENO) < 0) {
		ok(false, "a pipe of 64 KiB for stderr");
		return false;
	}
	pipe_out = ends[0];
	log_batch(true);
	return true;
}

/* stderr_back - what the pipe's batch holds is written to it, and stderr is the file again. */
static void stderr_back(int ends[2])
{
	log_batch(false);
	dup2(out_fd, STDERR_FILENO);
	log_batch(true);
	close(ends[0]);
	close(ends[1]);
}

/*
 * test_hold_bytes_pipe - to a pipe (the journal's socket is alike) only 16 KiB are
 * held: more at once could fill its buffer and block the loop. The pipe has room for
 * what the test writes (64 KiB by default), so nothing here blocks.
 */
static void test_hold_bytes_pipe(void)
{
	int ends[2];

	if (!stderr_to_pipe(ends, false))
		return;
	hold_bytes(16, in_pipe, 2500, "a pipe");
	stderr_back(ends);
}

/*
 * test_pipe_write_max - a busy turn's lines (no log_turn between them) reach a pipe
 * in writes that an empty pipe of 64 KiB takes whole: a larger one would block the
 * loop until the reader runs. Here the write end does not block, so what the pipe
 * did not take would be lost mid-line, and show.
 */
static void test_pipe_write_max(void)
{
	static char got[128 * 1024];
	char text[251];
	int ends[2];
	long n = 0;

	if (!stderr_to_pipe(ends, true))
		return;
	memset(text, 'y', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int lines = 0; lines < 300; lines++)
		log_info("%s", text);
	long waiting = in_pipe();
	while (n < waiting && n < (long)sizeof(got)) {
		ssize_t r = read(ends[0], got + n, sizeof(got) - (size_t)n);
		if (r <= 0)
			break;
		n += r;
	}
	ok(n > 0 && n <= 64 * 1024, "300 lines of a turn: a write while they come, of at most 64 KiB (%ld bytes)", n);
	ok(n > 0 && got[n - 1] == '\n', "of whole lines");
	stderr_back(ends);
}

/* test_error_flushes - an error writes at once, with every line held before it. */
static void test_error_flushes(void)
{
	long before = written();
	const char *text;

	log_info("held before the error");
	log_error("the error itself");
	ok(written() > before, "an error line is written at once");
	text = contents();
	ok(strstr(text, "held before the error\npolicyd[") != NULL &&
		   strstr(text, "error: the error itself\n") != NULL,
	   "after the line held before it");
	is_int(log_turn(3000), 0, "nothing is held after it");
}

/* test_flush_restarts - a flush (a full batch, an error, a timer) starts the wait again. */
static void test_flush_restarts(void)
{
	long before;

	log_info("waits");
	is_int(log_turn(4000), 50, "held");
	log_flush();
	before = written();
	log_info("arrives after the flush");
	is_int(log_turn(4049), 50, "a line after a flush waits its own 50 ms");
	is_int(written(), before, "not written yet");
	log_batch(false);
	ok(written() > before && strstr(contents(), "arrives after the flush\n") != NULL,
	   "turning batching off writes what is held");
}

int main(void)
{
	char path[] = "/tmp/policyd-test-log-XXXXXX";
	int saved = dup(STDERR_FILENO);

	out_fd = mkstemp(path);
	if (saved < 0 || out_fd < 0 || dup2(out_fd, STDERR_FILENO) < 0) {
		perror("test_log");
		return 1;
	}
	printf("# the logger writes to %s until the end\n", path);
	log_open(LOG_TO_STDERR, LOG_LEVEL_INFO);
	log_batch(true);
	test_hold_time();
	test_hold_bytes();
	test_hold_bytes_pipe();
	test_pipe_write_max();
	test_error_flushes();
	test_flush_restarts();
	log_close();
	dup2(saved, STDERR_FILENO);
	unlink(path);
	return tap_done();
}
