/*
 * fuzz_config - the configuration loader (policyd/config.h) on arbitrary INI text.
 *
 * The input is loaded with config_load_text() as "fuzz.ini". Every error message
 * must read "FILE:LINE: message", FILE being fuzz.ini or a local list file the
 * loader opened, and LINE a line of fuzz.ini (or 0 for "out of memory"). A config
 * that loads is compared with itself, rendered into a reply for a fixed request
 * with every list hitting (the reply must be one clean line, see check_reply), and
 * released; LeakSanitizer checks that config_unref frees everything.
 *
 * Hermetic: LISTEN_FDS is set, so that a missing listen line is not the only
 * error. The loader reads local [list] files named in the input: this target is
 * linked with -Wl,--wrap=open64 (see meson.build), and the wrapper below lets it
 * open only regular files of at most 1 MiB outside /proc, /sys and /dev, never
 * for writing, and records each path so that messages about list files can be
 * checked. (The loader itself refuses FIFOs and devices; the wrapper keeps the
 * fuzzer off the machine's files all the same.) Users and groups named in the
 * input are looked up in /etc/passwd and /etc/group, read only.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdarg.h>

#include "config.h"
#include "decision.h"
#include "reply.h"
#include "request.h"

#define CONFIG_NAME "fuzz.ini"
#define MAX_OPENED 16

int __real_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);

/* Paths the loader opened during this input, for the message check. */
static char opened[MAX_OPENED][4096];
static size_t opened_count;

/* __wrap_open64 - the loader's open: read-only, regular files, at most 1 MiB. */
int __wrap_open64(const char *path, int flags, ...)
{
	struct stat st;

	FUZZ_CHECK((flags & O_ACCMODE) == O_RDONLY && !(flags & O_CREAT));
	if (opened_count < MAX_OPENED)
		snprintf(opened[opened_count], sizeof(opened[0]), "%s", path);
	opened_count++;
	char *real = realpath(path, NULL);
	bool allowed = real != NULL && stat(real, &st) == 0 && S_ISREG(st.st_mode) &&
		       st.st_size <= (1 << 20) && strncmp(real, "/proc/", 6) != 0 &&
		       strncmp(real, "/sys/", 5) != 0 && strncmp(real, "/dev/", 5) != 0;

	free(real);
	if (!allowed) {
		errno = EACCES;
		return -1;
	}
	return __real_open64(path, flags);
}

static size_t input_lines;

/* has_line_prefix - message starts with prefix, ':', a line number and ": "; the number. */
static bool has_line_prefix(const char *message, const char *prefix, unsigned long *line)
{
	size_t n = strlen(prefix);
	const char *p;
	char *end;

	if (strncmp(message, prefix, n) != 0 || message[n] != ':')
		return false;
	p = message + n + 1;
	if (*p < '0' || *p > '9')
		return false;
	*line = strtoul(p, &end, 10);
	return end[0] == ':' && end[1] == ' ' && end[2] != '\0';
}

/* on_error - the config_error_fn: check the shape of the message, then drop it. */
static void on_error(void *ctx, const char *message)
{
	unsigned long line;

	(void)ctx;
	FUZZ_CHECK(strchr(message, '\n') == NULL);
	if (has_line_prefix(message, CONFIG_NAME, &line)) {
		FUZZ_CHECK(line <= (input_lines > 0 ? input_lines : 1));
		FUZZ_CHECK(line > 0 || strstr(message, "out of memory") != NULL);
		return;
	}
	for (size_t i = 0; i < opened_count && i < MAX_OPENED; i++)
		if (has_line_prefix(message, opened[i], &line) && line > 0)
			return;
	/* More list files than remembered: at least a ":LINE: " after some name. */
	if (opened_count > MAX_OPENED && strstr(message, ": ") != NULL)
		return;
	fprintf(stderr, "unexpected message: %s\n", message);
	FUZZ_CHECK(!"message without FILE:LINE: prefix");
}

/* A request as Postfix sends it (postfix-3.7.11 fixture, shortened). */
static const char fixture[] = "request=smtpd_access_policy\n"
			      "protocol_state=RCPT\n"
			      "client_address=192.0.2.10\n"
			      "client_name=unknown\n"
			      "helo_name=vm\n"
			      "sender=root@vm\n"
			      "recipient=root@mx.test\n"
			      "queue_id=\n"
			      "\n";

static struct request req;
static struct decision decision;

/* check_reply - "action=" + one line of printable ASCII + "\n\n", never an empty action. */
static void check_reply(const char *out, size_t n)
{
	FUZZ_CHECK(n > 9 && n < 1024);
	FUZZ_CHECK(strlen(out) == n);
	FUZZ_CHECK(strncmp(out, "action=", 7) == 0);
	FUZZ_CHECK(out[n - 1] == '\n' && out[n - 2] == '\n');
	for (size_t i = 7; i < n - 2; i++)
		FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f);
	FUZZ_CHECK(strspn(out + 7, "0123456789") < n - 9);
}

/* exercise - use a config that loaded as the daemon would: every list hits. */
static void exercise(struct config *cfg)
{
	static const uint8_t code[4] = { 127, 0, 0, 2 };
	static const char text[] = "Listed \x01 by \xff the fuzzer";
	const struct rules *r = &cfg->rules;
	char out[REPLY_MAX], line[1024];

	FUZZ_CHECK(r->text != NULL && cfg->allow != NULL);
	FUZZ_CHECK(r->allowlist_threshold < r->threshold && r->threshold >= 1);
	FUZZ_CHECK(cfg->min_ttl_ms <= cfg->max_ttl_ms);
	FUZZ_CHECK(config_lists_equal(cfg, cfg));
	FUZZ_CHECK(config_listen_equal(cfg, cfg));
	decision_begin(&decision, r, &req);
	for (size_t i = 0; i < r->list_count; i++) {
		const struct list_config *l = &r->lists[i];
		FUZZ_CHECK(l->name != NULL && l->name[0] != '\0');
		FUZZ_CHECK(l->kind != LIST_LOCAL || l->set != NULL || l->names != NULL);
		if (l->weight > 0 && l->kind != LIST_LOCAL) {
			struct hit h = { .list = l, .weight = l->weight, .what = "192.0.2.10",
					 .what_len = 10, .txt = true };
			memcpy(h.code, code, 4);
			h.reason = reason_plain(text, sizeof(text) - 1);
			verdict_add(&decision.verdict, &h);
		}
	}
	decision.tier = score_tier(r, decision.verdict.score);
	if (tier_refuses(decision.tier))
		check_reply(out, reply_render(r, &req, &decision.verdict, decision.tier,
					      reply_budget(&req), out, sizeof(out)));
	size_t n = decision_describe(&decision, &req, "reject", false, NULL, line, sizeof(line));
	FUZZ_CHECK(n == strlen(line) && strchr(line, '\n') == NULL);
	struct config *again = config_ref(cfg);
	FUZZ_CHECK(again == cfg && cfg->refs == 2);
	config_unref(again);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("LISTEN_FDS", "1", 1);
	request_parse(&req, fixture, sizeof(fixture) - 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct config *cfg;

	opened_count = 0;
	input_lines = 0;
	for (size_t i = 0; i < size; i++)
		input_lines += text[i] == '\n';
	if (size > 0 && text[size - 1] != '\n')
		input_lines++;
	cfg = config_load_text(CONFIG_NAME, text, size, on_error, NULL);
	if (cfg != NULL) {
		FUZZ_CHECK(cfg->refs == 1);
		exercise(cfg);
		config_unref(cfg);
	}
	return 0;
}
