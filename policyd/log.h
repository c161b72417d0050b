/*
 * log - the daemon's logging: syslog (facility mail) or stderr, Postfix style.
 *
 * Lines read "policyd[PID]: warning: text" on stderr; syslog adds its own prefix.
 * While batching is on, lines are held and written together (log_turn), so that
 * a log line per decision costs a copy, not a system call. Callers clean
 * attacker-supplied text (text_clean) before passing it in. The logger keeps no
 * pointers to caller memory.
 */
#ifndef POLICYD_LOG_H
#define POLICYD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

/* log_open - choose the target and the lowest level that is written. */
void log_open(enum log_target target, enum log_level level);
void log_close(void);
bool log_enabled(enum log_level level);

/* log_batch - hold lines until log_turn() or log_flush() (the daemon's loop); off writes
 * each at once. */
void log_batch(bool on);

/* log_flush - write the lines held so far. */
void log_flush(void);

/*
 * log_turn - the loop's turn ends (now_ms: its clock): the held lines are written if
 * 16 KiB of them (64 KiB when stderr is a regular file; for syslog, 8 lines) wait or
 * the oldest has waited 50 ms. Returns the ms until the held lines are due, for a
 * timer that calls log_flush(); 0 when none are held.
 */
uint64_t log_turn(uint64_t now_ms);

/* log_text - one line that is already formatted (and cleaned): no printf on the way. */
void log_text(enum log_level level, const char *text, size_t len);

/*
 * log_begin - where to write one line's text (the prefix is already in place) and
 * *room, the most bytes it may take; NULL when level is not logged. log_end(len)
 * queues it, cut to room. Nothing may be logged between the two: the text is
 * written straight into the batch (the line is never copied), which the next
 * line would take.
 */
char *log_begin(enum log_level level, size_t *room);
void log_end(size_t len);

/*
 * A rate limit for lines that peers can cause (refused connections, protocol
 * errors): a burst of LOG_LIMIT_BURST lines, then one a second, and each line that
 * goes out says how many were held back before it, so that a flood costs the log
 * a line a second, not a line a peer. Zeroed to start.
 */
#define LOG_LIMIT_BURST 20
struct log_limit {
	uint64_t refilled_ms; /* loop time up to which credit has been given */
	unsigned credit;      /* lines that may go now */
	bool started;
	unsigned long held; /* held back since the last line that went */
};

/* log_limit_pass - whether a line may go now (now_ms: the loop's clock); when it
 * may, *held is how many were held back since the last one, and the count restarts. */
bool log_limit_pass(struct log_limit *l, uint64_t now_ms, unsigned long *held);

/* log_held_text - "" for none held back, else " (N more since the last such line)",
 * in buf, for the end of the line that went out. */
const char *log_held_text(char *buf, size_t size, unsigned long held);

__attribute__((format(printf, 1, 2))) void log_error(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_debug(const char *fmt, ...);
/* fatal - log an error and exit 1; only for start-up, never for a peer's fault. */
__attribute__((format(printf, 1, 2), noreturn)) void fatal(const char *fmt, ...);

#endif
