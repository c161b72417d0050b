/*
 * tap - a minimal Test Anything Protocol producer for the C unit tests.
 *
 * Each check prints "ok N - description" or "not ok N - description" with the
 * file and line of the failure; tap_done() prints the plan and returns the exit
 * status meson expects. Header-only; no memory is allocated.
 */
#ifndef POLICYD_TAP_H
#define POLICYD_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

__attribute__((format(printf, 4, 5)))
static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...);

#include <stdarg.h>

__attribute__((format(printf, 2, 0)))
static inline void tap_vprint(int pass, const char *fmt, va_list ap)
{
	tap_count++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	putchar('\n');
}

__attribute__((format(printf, 4, 5)))
static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vprint(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	return pass;
}

__attribute__((format(printf, 5, 6)))
static inline int tap_is_int(long long got, long long want, const char *file, int line,
			     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vprint(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("#   failed at %s:%d: got %lld, want %lld\n", file, line, got, want);
	return got == want;
}

__attribute__((format(printf, 5, 6)))
static inline int tap_is_str(const char *got, const char *want, const char *file, int line,
			     const char *fmt, ...)
{
	int pass = got && want ? strcmp(got, want) == 0 : got == want;
	va_list ap;
	va_start(ap, fmt);
	tap_vprint(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   failed at %s:%d:\n#     got:  '%s'\n#     want: '%s'\n", file, line,
		       got ? got : "(null)", want ? want : "(null)");
	return pass;
}

/* tap_done - print the plan; the return value is the process exit status. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
