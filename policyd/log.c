/*
 * log - syslog or stderr logging (see log.h), written in batches.
 *
 * A refusal is logged at info, so at a busy site a log line is as frequent as a
 * reply: one write(2) or one syslog datagram per line would cost more than the
 * decision itself. While batching is on (the daemon's loop turns it on and calls
 * log_turn() once per turn, before it waits for events), lines are formatted
 * into a buffer and written together: stderr in one write, syslog as one
 * sendmmsg(2) of datagrams to /dev/log, each a complete RFC 3164 message as
 * syslog(3) would send. They are held until HOLD_BYTES (FILE_HOLD_BYTES when stderr
 * is a regular file; for syslog, HOLD_DATAGRAMS lines) wait or the oldest has waited
 * HOLD_MS: a busy loop turn answers only a handful of requests, and a write per turn
 * was a tenth of a system call per request, each costing as much as a decision where
 * every system call empties the TLB. A full buffer is flushed at once, so nothing
 * is dropped and memory is bounded; errors, and every line while batching is off
 * (start-up, -t, --check), are written at once.
 * Without /dev/log, syslog lines go through syslog(3), which knows its fallbacks.
 *
 * State: the target, the level, the buffer and the syslog socket, all owned here.
 * The logger keeps no pointers to caller memory.
 */
/* sendmmsg(2) is a GNU extension. */
#define _GNU_SOURCE
#include "log.h"
#include "hot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048
#define HEAD_MAX 96 /* a line's prefix: "<22>Dec  2 04:12:06 policyd[PID]: warning: " */
#define BATCH_BYTES (128 * 1024)
/* The most bytes one write carries to a pipe or a socket: an empty pipe's default
 * capacity, so that a write into a pipe whose reader keeps up does not block. A
 * regular file takes the whole batch. */
#define STREAM_WRITE_MAX (64 * 1024)
/* The most syslog datagrams one sendmmsg carries. */
#define BATCH_LINES 256
/* Held lines are written once this many bytes wait (about 50 refusals), or once the
 * oldest has waited HOLD_MS, whichever comes first: a person reading the log sees a line
 * about that late, and at a busy site a write carries a hundred requests' lines. A crash
 * (SIGKILL, a fault) loses what is held, at most that much. */
#define HOLD_BYTES (16 * 1024)
#define HOLD_MS 50
/*
 * When stderr is a regular file, four times as many bytes are held. A file's kernel
 * cost is mostly the page cache it grows by, and a filesystem with large folios (ext4
 * since Linux 6.16, XFS) allocates them by the size of the write: appending 265-byte
 * lines, a 16 KiB write cost 2.0 us of kernel time per 4 KiB page written and a 64 KiB
 * write 1.1 us (a 128 KiB write 1.0). A pipe or a socket (the journal's, under systemd)
 * keeps HOLD_BYTES: more at once could fill its buffer and block the loop.
 */
#define FILE_HOLD_BYTES (64 * 1024)
/* For syslog, at most this many datagrams are held: the kernel's default queue of a
 * datagram socket is 10 (net.unix.max_dgram_qlen; systemd raises it to 512), and a
 * larger burst would block the loop in sendmmsg until the syslog daemon reads. */
#define HOLD_DATAGRAMS 8

/* What follows the program's name in a line at each level. */
static const char *const level_words[] = { "error: ", "warning: ", "", "debug: " };

/* A line's prefix at one level, formatted again only when what it holds changes. */
struct prefix {
	char text[HEAD_MAX];
	size_t len;
	time_t time;
	long pid;
	enum log_target target;
};

/*
 * Everything a logged line reads or writes, apart from its text, in one page-aligned
 * block: the daemon logs a line per refusal, and where every system call empties the
 * TLB, each page a line touches is a page walk (as separate statics the linker spread
 * these over three pages around the buffers). The waiting lines' starts come last: a
 * batch of HOLD_BYTES uses only the first few dozen.
 */
static struct {
	enum log_target target;
	enum log_level level;
	bool batching;
	/* For the target as it is (choose_hold): the bytes held until the turn's end writes
	 * them, and the most one write carries, which a busy turn's lines never pass. */
	size_t hold_bytes;
	size_t write_max;
	long pid;      /* ours, looked up once: a system call per line would cost more */
	int syslog_fd; /* connected to /dev/log; -1 when there is none */
	size_t batch_len;
	size_t line_count;
	/* The loop time (ms) at which log_turn first saw the oldest waiting line; valid
	 * while held. */
	uint64_t held_since;
	bool held;
	/* The line log_begin handed out: where its text starts, how long it may be, its
	 * level, and whether it goes through syslog(3). */
	size_t open_head;
	size_t open_room;
	enum log_level open_level;
	bool open_fallback;
	struct prefix head[4];
	size_t line_start[BATCH_LINES + 1]; /* syslog: where each waiting line starts in batch */
} _Alignas(4096) lg = { .target = LOG_TO_STDERR,
			.level = LOG_LEVEL_INFO,
			.syslog_fd = -1,
			.hold_bytes = HOLD_BYTES,
			.write_max = STREAM_WRITE_MAX };

/* The lines waiting to be written, one after the other. */
static char batch[BATCH_BYTES];

/* open_syslog_socket - a datagram socket connected to /dev/log, as syslog(3) uses. */
static void open_syslog_socket(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };

	lg.syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (lg.syslog_fd >= 0 && connect(lg.syslog_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(lg.syslog_fd);
		lg.syslog_fd = -1;
	}
}

/* choose_hold - how many bytes of lines log_turn holds, for the target as it is now. */
static void choose_hold(void)
{
	struct stat st;

	lg.hold_bytes = HOLD_BYTES;
	lg.write_max = STREAM_WRITE_MAX;
	if (lg.target == LOG_TO_STDERR && fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
		lg.hold_bytes = FILE_HOLD_BYTES;
		lg.write_max = sizeof(batch);
	}
}

/* log_open - switch target; syslog is reached at once so that a privilege drop does not matter. */
void log_open(enum log_target target, enum log_level level)
{
	log_flush();
	lg.pid = (long)getpid();
	if (lg.target == LOG_TO_SYSLOG && target != LOG_TO_SYSLOG) {
		if (lg.syslog_fd >= 0)
			close(lg.syslog_fd);
		lg.syslog_fd = -1;
		closelog();
	}
	if (target == LOG_TO_SYSLOG && lg.target != LOG_TO_SYSLOG) {
		openlog("policyd", LOG_PID | LOG_NDELAY, LOG_MAIL);
		open_syslog_socket();
	}
	lg.target = target;
	lg.level = level;
	choose_hold();
}

/* log_close - write what is waiting and release syslog. */
void log_close(void)
{
	log_flush();
	lg.batching = false;
	if (lg.target == LOG_TO_SYSLOG) {
		if (lg.syslog_fd >= 0)
			close(lg.syslog_fd);
		lg.syslog_fd = -1;
		closelog();
	}
	lg.target = LOG_TO_STDERR;
}

/* log_batch - while on, lines wait for log_turn() or log_flush(); turning it off flushes. */
void log_batch(bool on)
{
	if (!on)
		log_flush();
	lg.batching = on;
	choose_hold();
}

/* log_limit_pass - see log.h. */
bool log_limit_pass(struct log_limit *l, uint64_t now_ms, unsigned long *held)
{
	if (!l->started) {
		l->started = true;
		l->credit = LOG_LIMIT_BURST;
		l->refilled_ms = now_ms;
	}
	if (now_ms - l->refilled_ms >= 1000) {
		uint64_t seconds = (now_ms - l->refilled_ms) / 1000;
		uint64_t credit = l->credit + seconds;
		l->credit = credit > LOG_LIMIT_BURST ? LOG_LIMIT_BURST : (unsigned)credit;
		l->refilled_ms += seconds * 1000;
	}
	if (l->credit == 0) {
		l->held++;
		return false;
	}
	l->credit--;
	*held = l->held;
	l->held = 0;
	return true;
}

/* log_held_text - see log.h. */
const char *log_held_text(char *buf, size_t size, unsigned long held)
{
	if (held == 0)
		return "";
	snprintf(buf, size, " (%lu more since the last such line)", held);
	return buf;
}

/* log_enabled - whether a message of this level would be written. */
bool log_enabled(enum log_level level)
{
	return level <= lg.level;
}

/* write_all - the whole buffer to fd, going on after partial writes and signals. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to log to: nothing better to do */
		p += w;
		n -= (size_t)w;
	}
}

/* flush_syslog - every waiting line as its own datagram, in as few calls as the kernel takes. */
static void flush_syslog(void)
{
	struct mmsghdr msgs[BATCH_LINES];
	struct iovec iov[BATCH_LINES];
	size_t sent = 0;

	for (size_t i = 0; i < lg.line_count; i++) {
		iov[i].iov_base = batch + lg.line_start[i];
		iov[i].iov_len = lg.line_start[i + 1] - lg.line_start[i];
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < lg.line_count) {
		int n = sendmmsg(lg.syslog_fd, msgs + sent, (unsigned)(lg.line_count - sent), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the syslog daemon is gone or full: those lines are lost, as with syslog(3) */
		sent += (size_t)n;
	}
}

/* log_flush - write the waiting lines: one write, or one sendmmsg. */
void log_flush(void)
{
	if (lg.line_count == 0)
		return;
	if (lg.target == LOG_TO_SYSLOG && lg.syslog_fd >= 0)
		flush_syslog();
	else
		write_all(STDERR_FILENO, batch, lg.batch_len);
	lg.batch_len = 0;
	lg.line_count = 0;
	lg.held = false;
}

/* log_turn - see log.h: write the held lines once they are many or old enough. */
HOT uint64_t log_turn(uint64_t now_ms)
{
	if (lg.line_count == 0)
		return 0;
	if (!lg.held) {
		lg.held = true;
		lg.held_since = now_ms;
	}
	if (lg.batch_len >= lg.hold_bytes || now_ms - lg.held_since >= HOLD_MS ||
	    (lg.target == LOG_TO_SYSLOG && lg.line_count >= HOLD_DATAGRAMS)) {
		log_flush();
		return 0;
	}
	return lg.held_since + HOLD_MS - now_ms;
}

/* syslog_stamp - the RFC 3164 timestamp of now ("Dec  2 04:12:06 "). */
static void syslog_stamp(time_t now, char *out, size_t size)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	localtime_r(&now, &tm);
	snprintf(out, size, "%s %2d %02d:%02d:%02d ", months[tm.tm_mon % 12], tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* syslog_priority - the syslog priority of a level. */
static int syslog_priority(enum log_level level)
{
	static const int priority[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	return priority[level];
}

/*
 * line_head - a line's prefix at level: "policyd[PID]: warning: " on stderr, with
 * "<PRI>" and the timestamp before it for syslog. Each level's is formatted again only
 * when the target, the PID or (for syslog) the second changes; otherwise copied.
 */
static size_t line_head(enum log_level level, char *out)
{
	struct prefix *h = &lg.head[level];
	time_t now = lg.target == LOG_TO_SYSLOG ? time(NULL) : 0;

	/* A first call differs in lg.pid (0 in the table, never ours). */
	if (h->time != now || h->pid != lg.pid || h->target != lg.target) {
		char stamp[32] = "";
		int n;

		if (lg.target == LOG_TO_SYSLOG) {
			syslog_stamp(now, stamp, sizeof(stamp));
			n = snprintf(h->text, HEAD_MAX, "<%d>%spolicyd[%ld]: %s",
				     LOG_MAIL | syslog_priority(level), stamp, lg.pid,
				     level_words[level]);
		} else {
			n = snprintf(h->text, HEAD_MAX, "policyd[%ld]: %s", lg.pid,
				     level_words[level]);
		}
		h->len = n < 0 ? 0 : (size_t)n < HEAD_MAX ? (size_t)n : HEAD_MAX - 1;
		h->time = now;
		h->pid = lg.pid;
		h->target = lg.target;
	}
	memcpy(out, h->text, h->len);
	return h->len;
}

static char fallback_line[LINE_MAX_BYTES];

/*
 * log_begin - room for one line's text, the prefix already in place: in the batch
 * itself, so that a line formatted there is never copied again before its write.
 */
HOT char *log_begin(enum log_level level, size_t *room)
{
	char *line;
	size_t head;

	if (!log_enabled(level))
		return NULL;
	if (lg.pid == 0)
		lg.pid = (long)getpid();
	lg.open_level = level;
	lg.open_fallback = lg.target == LOG_TO_SYSLOG && lg.syslog_fd < 0;
	if (lg.open_fallback) {
		/* syslog(3) adds its own prefix; the level's word goes first in the text. */
		head = strlen(level_words[level]);
		memcpy(fallback_line, level_words[level], head);
		lg.open_head = head;
		*room = lg.open_room = sizeof(fallback_line) - head - 1;
		return fallback_line + head;
	}
	if ((lg.target == LOG_TO_SYSLOG && lg.line_count == BATCH_LINES) ||
	    lg.batch_len + LINE_MAX_BYTES > lg.write_max)
		log_flush();
	line = batch + lg.batch_len;
	head = line_head(level, line);
	lg.open_head = head;
	/* One byte stays free for the newline of a stderr line. */
	*room = lg.open_room = LINE_MAX_BYTES - head - 1;
	return line + head;
}

/* log_end - the line log_begin opened is len bytes long (cut to its room): queue it. */
HOT void log_end(size_t len)
{
	if (len > lg.open_room)
		len = lg.open_room;
	if (lg.open_fallback) {
		fallback_line[lg.open_head + len] = '\0';
		syslog(syslog_priority(lg.open_level), "%s", fallback_line);
		return;
	}
	len += lg.open_head;
	/* stderr lines end in a newline; a syslog datagram is one message without one. */
	if (lg.target != LOG_TO_SYSLOG)
		batch[lg.batch_len + len++] = '\n';
	if (lg.target == LOG_TO_SYSLOG) {
		lg.line_start[lg.line_count] = lg.batch_len;
		lg.line_start[lg.line_count + 1] = lg.batch_len + len;
	}
	lg.batch_len += len;
	lg.line_count++;
	if (!lg.batching || lg.open_level == LOG_LEVEL_ERROR)
		log_flush();
}

/* log_text - a line already formatted (and cleaned), cut to a line's length. */
HOT void log_text(enum log_level level, const char *text, size_t len)
{
	size_t room;
	char *out = log_begin(level, &room);

	if (out == NULL)
		return;
	if (len > room)
		len = room;
	memcpy(out, text, len);
	log_end(len);
}

/* log_write - format one line into the batch (or write it now). */
__attribute__((format(printf, 2, 0))) static void log_write(enum log_level level, const char *fmt,
							    va_list ap)
{
	size_t room;
	char *out = log_begin(level, &room);
	int n;

	if (out == NULL)
		return;
	/* room + 1: the terminating NUL may take the byte kept for the newline. */
	n = vsnprintf(out, room + 1, fmt, ap);
	log_end(n < 0 ? 0 : (size_t)n);
}

#define LOG_FUNCTION(name, level)                                                                  \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_write(level, fmt, ap);                                                         \
		va_end(ap);                                                                        \
	}

LOG_FUNCTION(log_error, LOG_LEVEL_ERROR)
LOG_FUNCTION(log_warn, LOG_LEVEL_WARNING)
LOG_FUNCTION(log_info, LOG_LEVEL_INFO)
LOG_FUNCTION(log_debug, LOG_LEVEL_DEBUG)

/* fatal - report and exit; the level check is bypassed so the reason is always seen. */
void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (lg.level < LOG_LEVEL_ERROR)
		lg.level = LOG_LEVEL_ERROR;
	log_write(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}
