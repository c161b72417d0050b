/*
 * log - syslog or stderr logging (see log.h). State is the chosen target and level;
 * messages are formatted into a stack buffer and written in one call, so that
 * lines from one process never interleave on stderr.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

static enum log_target log_target = LOG_TO_STDERR;
static enum log_level log_level = LOG_LEVEL_INFO;

/* log_open - switch target; syslog is opened at once so that a later chroot-free
 * privilege drop still reaches /dev/log. */
void log_open(enum log_target target, enum log_level level)
{
	if (log_target == LOG_TO_SYSLOG && target != LOG_TO_SYSLOG)
		closelog();
	if (target == LOG_TO_SYSLOG && log_target != LOG_TO_SYSLOG)
		openlog("policyd", LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_target = target;
	log_level = level;
}

/* log_close - release syslog. */
void log_close(void)
{
	if (log_target == LOG_TO_SYSLOG)
		closelog();
	log_target = LOG_TO_STDERR;
}

/* log_enabled - whether a message of this level would be written. */
bool log_enabled(enum log_level level)
{
	return level <= log_level;
}

/* log_write - format one line and write it to the target. */
__attribute__((format(printf, 2, 0))) static void log_write(enum log_level level, const char *fmt,
							    va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	static const int priority[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];

	if (!log_enabled(level))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_target == LOG_TO_SYSLOG) {
		syslog(priority[level], "%s%s", prefix[level], line);
		return;
	}
	fprintf(stderr, "policyd[%ld]: %s%s\n", (long)getpid(), prefix[level], line);
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
	if (log_level < LOG_LEVEL_ERROR)
		log_level = LOG_LEVEL_ERROR;
	log_write(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
