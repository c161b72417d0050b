/*
 * main - the policyd program: command line (policyd(8)), start-up (load the
 * configuration, bind, drop privileges), signals (SIGHUP reload, SIGTERM/SIGINT
 * graceful exit, SIGUSR1 statistics) and the one-shot --check and --help-page modes.
 *
 * Memory: main owns a reference to the current struct config; a reload loads a
 * new one, hands it to the engine and the server, and drops the old reference
 * (requests in flight keep their own until they are answered).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "build_config.h"
#include "hot.h"
#include "config.h"
#include "engine.h"
#include "explain.h"
#include "help.h"
#include "http.h"
#include "postscreen.h"
#include "log.h"
#include "reload.h"
#include "metrics.h"
#include "server.h"
#include "stats.h"

/* Statistics are logged this often besides on SIGUSR1. */
#define STATS_INTERVAL_MS (10 * 60 * 1000)

struct daemon {
	uv_loop_t *loop;
	const char *config_path;
	struct config *cfg;
	struct engine *engine;
	struct server *srv;
	struct http *http; /* NULL without [http] listen */
	bool debug;
	uv_signal_t sig_hup, sig_term, sig_int, sig_usr1;
	uv_timer_t stats_timer;
	uv_prepare_t flush_log;
	uv_timer_t log_timer;
	uv_timer_t exit_timer;
	struct reload *reload; /* the SIGHUP reload on the thread pool, or NULL */
	bool reload_again;     /* a SIGHUP came while it ran: load once more after it */
	int exit_code;
};

/* Warnings of the configuration loaded at start, logged again once logging is set up. */
#define START_WARNINGS_MAX 16
static char *start_warnings[START_WARNINGS_MAX];
static size_t start_warning_count;

/* print_error - config errors and warnings go to stderr as they are (-t, start-up). */
static void print_error(void *ctx, const char *message)
{
	(void)ctx;
	fprintf(stderr, "%s\n", message);
	if (strstr(message, ": warning: ") != NULL && start_warning_count < START_WARNINGS_MAX)
		start_warnings[start_warning_count++] = strdup(message);
}

/* log_start_warnings - the loader's warnings into the configured log (when shown), then freed. */
static void log_start_warnings(bool show)
{
	for (size_t i = 0; i < start_warning_count; i++) {
		if (start_warnings[i] != NULL && show)
			log_warn("%s", start_warnings[i]);
		free(start_warnings[i]);
		start_warnings[i] = NULL;
	}
	start_warning_count = 0;
}

/* apply_logging - the configured target and level; -d forces debug on stderr. */
static void apply_logging(const struct daemon *d)
{
	if (d->debug)
		log_open(LOG_TO_STDERR, LOG_LEVEL_DEBUG);
	else
		log_open(d->cfg->log, d->cfg->log_level);
}

static void reload(struct daemon *d);

/*
 * reloaded - the configuration loaded on the thread pool (reload.c) is put in force
 * here, on the loop thread; a broken new file was reported and the old one stays.
 */
static void reloaded(void *arg, struct config *next)
{
	struct daemon *d = arg;

	d->reload = NULL;
	if (d->reload_again) {
		/* The files changed again while they were read: what was read may be old. */
		d->reload_again = false;
		config_unref(next);
		reload(d);
		return;
	}
	if (next == NULL) {
		log_error("reload failed: keeping the previous configuration");
		return;
	}
	if (!engine_set_config(d->engine, next)) {
		log_error("reload failed: keeping the previous configuration");
		config_unref(next);
		return;
	}
	if (!config_listen_equal(d->cfg, next))
		log_warn("reload: listen addresses changed; they take effect after a restart");
	if (!http_listen_equal(d->cfg, next))
		log_warn(
			"reload: [http] listen addresses changed; they take effect after a restart");
	if (d->http != NULL)
		http_reload(d->http, next);
	server_set_config(d->srv, next);
	config_unref(d->cfg);
	d->cfg = next;
	apply_logging(d);
	log_info("configuration reloaded from %s", d->config_path);
}

/*
 * reload - SIGHUP: load the configuration on the thread pool, so that reading large
 * list files does not hold the replies; one load at a time, and a SIGHUP that comes
 * meanwhile makes one more load once it is done.
 */
static void reload(struct daemon *d)
{
	if (d->reload != NULL) {
		d->reload_again = true;
		return;
	}
	d->reload = reload_start(d->loop, d->config_path, reloaded, d);
	if (d->reload == NULL)
		log_error("reload failed: out of memory; keeping the previous configuration");
}

/* closed_all - the last connection is gone: leave the loop. */
static void closed_all(void *arg)
{
	struct daemon *d = arg;

	log_info("stopped");
	uv_stop(d->loop);
}

/* exit_deadline - in-flight requests did not finish in time: stop anyway. */
static void exit_deadline(uv_timer_t *t)
{
	struct daemon *d = t->data;

	log_warn("shutdown: giving up on connections still open");
	/* Close them through the server, so that each connection is closed once, by its
	 * owner, whatever its writes were doing. */
	server_abort(d->srv);
	uv_stop(d->loop);
}

/* begin_shutdown - stop accepting, answer what is in flight, exit 0. */
static void begin_shutdown(struct daemon *d, int signum)
{
	if (uv_is_active((uv_handle_t *)&d->exit_timer))
		return;
	log_info("signal %d: shutting down", signum);
	/* A configuration still being loaded is not put in force any more. */
	reload_cancel(d->reload);
	d->reload = NULL;
	uv_timer_start(&d->exit_timer, exit_deadline, d->cfg->request_timeout_ms + 1000, 0);
	uv_timer_stop(&d->stats_timer);
	http_shutdown(d->http);
	server_shutdown(d->srv, closed_all, d);
}

/* on_signal - dispatch the signals we watch. */
static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	switch (signum) {
	case SIGHUP: reload(d); break;
	case SIGUSR1:
		stats_log(server_connection_count(d->srv));
		engine_log_stats(d->engine);
		break;
	default: begin_shutdown(d, signum); break;
	}
}

/* on_stats_timer - periodic statistics. */
static void on_stats_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	stats_log(server_connection_count(d->srv));
	engine_log_stats(d->engine);
}

/* serve_metrics - GET /metrics on the HTTP listener: metrics.c's text. */
static void serve_metrics(void *arg, struct page_buf *out)
{
	struct daemon *d = arg;
	size_t len;
	char *text = metrics_render(d->engine, server_connection_count(d->srv), &len);

	if (text == NULL) {
		out->failed = true;
		return;
	}
	page_buf_append(out, text, len);
	free(text);
}

/* drop_privileges - after binding: become [server] user when started as root. */
static bool drop_privileges(const struct config *cfg)
{
	if (cfg->user == NULL) {
		if (geteuid() == 0)
			log_warn(
				"running as root: set [server] user = policyd (a system user) so that a flaw in policyd cannot become root");
		return true;
	}
	if (geteuid() != 0) {
		log_debug("not running as root: user = %s needs no change", cfg->user);
		return true;
	}
	if (setgroups(1, &cfg->gid) != 0 || setgid(cfg->gid) != 0 || setuid(cfg->uid) != 0) {
		log_error("cannot become user %s: %s", cfg->user, strerror(errno));
		return false;
	}
	if (cfg->uid != 0 && setuid(0) == 0) {
		log_error("privileges could be regained after dropping them");
		return false;
	}
	log_info("running as user %s", cfg->user);
	return true;
}

/*
 * raise_fd_limit - every connection is a descriptor: take the hard limit, and warn
 * when max_connections cannot be reached with it.
 */
static void raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)cfg->max_connections + 64)
		log_warn(
			"the descriptor limit (%llu) is below max_connections (%ld) plus room for listeners and DNS; raise LimitNOFILE or ulimit -n",
			(unsigned long long)rl.rlim_cur, cfg->max_connections);
}

/* log_due - the held log lines have waited long enough (the loop was idle meanwhile). */
static void log_due(uv_timer_t *t)
{
	(void)t;
	log_flush();
}

/*
 * flush_log - once per loop turn, before it waits: the held log lines go out when they are
 * many or old enough (log_turn); otherwise a timer makes sure they do in time.
 */
HOT static void flush_log(uv_prepare_t *h)
{
	struct daemon *d = h->data;
	uint64_t wait = log_turn(uv_now(h->loop));

	if (wait == 0) {
		if (uv_is_active((uv_handle_t *)&d->log_timer))
			uv_timer_stop(&d->log_timer);
	} else if (!uv_is_active((uv_handle_t *)&d->log_timer)) {
		uv_timer_start(&d->log_timer, log_due, wait, 0);
	}
}

/* watch - start one signal watcher. */
static void watch(struct daemon *d, uv_signal_t *h, int signum)
{
	uv_signal_init(d->loop, h);
	h->data = d;
	uv_signal_start(h, on_signal, signum);
	uv_unref((uv_handle_t *)h);
}

/* close_handle - close a handle if it is not closing yet (used at exit). */
static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* run_daemon - bind, drop privileges, serve until a signal ends it. */
static int run_daemon(struct daemon *d)
{
	d->loop = uv_default_loop();
	apply_logging(d);
	log_start_warnings(!d->debug && d->cfg->log == LOG_TO_SYSLOG);
	raise_fd_limit(d->cfg);
	d->engine = engine_new(d->loop, d->cfg);
	if (d->engine == NULL)
		d->srv = NULL;
	else
		d->srv = server_new(d->loop, d->cfg, d->engine);
	/* Worked out while /proc/self/exe can be read: a reload may ask after the drop. */
	(void)help_default_dir();
	/* The HTTP listener binds now too, while binding to a low port is still allowed. */
	bool http_ok = d->srv == NULL || d->cfg->http_listen_count == 0 ||
		       (d->http = http_new(d->loop, d->cfg, d->engine)) != NULL;
	if (d->srv == NULL || !http_ok || !drop_privileges(d->cfg) || server_start(d->srv) != 0) {
		log_error("start-up failed");
		/* Released like at exit, so that a failed start leaves no socket file behind
		 * and LeakSanitizer nothing to report. */
		if (d->srv != NULL)
			server_shutdown(d->srv, NULL, NULL);
		d->exit_code = 1;
		goto out;
	}
	if (d->http != NULL)
		http_set_metrics(d->http, serve_metrics, d);
	watch(d, &d->sig_hup, SIGHUP);
	watch(d, &d->sig_term, SIGTERM);
	watch(d, &d->sig_int, SIGINT);
	watch(d, &d->sig_usr1, SIGUSR1);
	uv_timer_init(d->loop, &d->stats_timer);
	uv_timer_init(d->loop, &d->exit_timer);
	d->stats_timer.data = d->exit_timer.data = d;
	uv_timer_start(&d->stats_timer, on_stats_timer, STATS_INTERVAL_MS, STATS_INTERVAL_MS);
	uv_unref((uv_handle_t *)&d->stats_timer);
	uv_timer_init(d->loop, &d->log_timer);
	uv_unref((uv_handle_t *)&d->log_timer);
	uv_prepare_init(d->loop, &d->flush_log);
	d->flush_log.data = d;
	uv_prepare_start(&d->flush_log, flush_log);
	uv_unref((uv_handle_t *)&d->flush_log);
	log_batch(true);
	log_info("policyd %s started with %s", POLICYD_VERSION, d->config_path);
	uv_run(d->loop, UV_RUN_DEFAULT);
out:
	reload_cancel(d->reload);
	d->reload = NULL;
	engine_free(d->engine);
	/* uv_stop only leaves uv_run: run again so close callbacks fire (HACKING.md, traps). */
	uv_walk(d->loop, close_handle, NULL);
	uv_run(d->loop, UV_RUN_DEFAULT);
	http_free(d->http);
	log_batch(false);
	uv_loop_close(d->loop);
	server_free(d->srv);
	return d->exit_code;
}

/* from_postscreen - print the list sections for postscreen_dnsbl_sites; 0, or 2 on bad input. */
static int from_postscreen(const char *sites)
{
	static char out[65536];
	const char *err = NULL, *bad = sites;

	if (!postscreen_convert(sites, out, sizeof(out), &err, &bad)) {
		fprintf(stderr, "policyd: --from-postscreen: %s near '%.40s'\n", err, bad);
		return 2;
	}
	/* The sites are not echoed: a keyed zone's key is in them. */
	printf("; The list sections for postscreen_dnsbl_sites.\n"
	       "; postscreen_dnsbl_threshold becomes [policy] threshold.\n\n%s",
	       out);
	return 0;
}

/* usage - the synopsis of policyd(8). */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: policyd [-c FILE] [-t] [-d] [-V]\n"
		"       policyd [-c FILE] --check ADDRESS [--sender ADDR] [--helo NAME] [--client-name NAME] [--recipient ADDR] [--sasl-username NAME]\n"
		"       policyd [-c FILE] --help-page [--ip ADDRESS] [--list NAME] [--domain DOMAIN] [--greylisted] [--lang LANG]\n"
		"  -c FILE   configuration (default %s)\n"
		"  -t        check the configuration and exit\n"
		"  -d        debug logging to stderr\n"
		"  -V        print the version and exit\n"
		"       policyd --from-postscreen \"$(postconf -h postscreen_dnsbl_sites)\"\n"
		"  --check   answer one request for ADDRESS and explain the verdict\n"
		"  --from-postscreen SITES  print the list sections for postscreen_dnsbl_sites\n"
		"  --help-page  print the help page for refused senders (HTML)\n",
		POLICYD_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
	enum {
		OPT_CHECK = 256,
		OPT_SENDER,
		OPT_HELO,
		OPT_CLIENT_NAME,
		OPT_RECIPIENT,
		OPT_SASL_USERNAME,
		OPT_FROM_POSTSCREEN,
		OPT_HELP_PAGE,
		OPT_IP,
		OPT_LIST,
		OPT_DOMAIN,
		OPT_GREYLISTED,
		OPT_LANG
	};
	static const struct option options[] = {
		{ "check", required_argument, NULL, OPT_CHECK },
		{ "sender", required_argument, NULL, OPT_SENDER },
		{ "helo", required_argument, NULL, OPT_HELO },
		{ "client-name", required_argument, NULL, OPT_CLIENT_NAME },
		{ "recipient", required_argument, NULL, OPT_RECIPIENT },
		{ "sasl-username", required_argument, NULL, OPT_SASL_USERNAME },
		{ "from-postscreen", required_argument, NULL, OPT_FROM_POSTSCREEN },
		{ "help-page", no_argument, NULL, OPT_HELP_PAGE },
		{ "ip", required_argument, NULL, OPT_IP },
		{ "list", required_argument, NULL, OPT_LIST },
		{ "domain", required_argument, NULL, OPT_DOMAIN },
		{ "greylisted", no_argument, NULL, OPT_GREYLISTED },
		{ "lang", required_argument, NULL, OPT_LANG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .config_path = POLICYD_DEFAULT_CONFIG };
	struct explain_request check = { 0 };
	struct help_query page = { 0 };
	bool test_only = false, help_page = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tdVh", options, NULL)) != -1) {
		switch (opt) {
		case 'c': d.config_path = optarg; break;
		case 't': test_only = true; break;
		case 'd': d.debug = true; break;
		case 'V': printf("policyd %s\n", POLICYD_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case OPT_CHECK: check.address = optarg; break;
		case OPT_SENDER: check.sender = optarg; break;
		case OPT_HELO: check.helo = optarg; break;
		case OPT_CLIENT_NAME: check.client_name = optarg; break;
		case OPT_RECIPIENT: check.recipient = optarg; break;
		case OPT_SASL_USERNAME: check.sasl_username = optarg; break;
		case OPT_FROM_POSTSCREEN: return from_postscreen(optarg);
		case OPT_HELP_PAGE: help_page = true; break;
		case OPT_IP: page.ip = optarg; break;
		case OPT_LIST: page.list = optarg; break;
		case OPT_DOMAIN: page.domain = optarg; break;
		case OPT_GREYLISTED: page.greylisted = true; break;
		case OPT_LANG: page.lang = optarg; break;
		default: usage(stderr); return check.address ? 2 : 1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	d.cfg = config_load(d.config_path, print_error, NULL);
	if (d.cfg == NULL)
		return check.address ? 2 : 1;
	if (test_only || check.address != NULL || help_page)
		log_start_warnings(false);
	if (test_only) {
		/* With a listener the daemon needs its help page: check it too. */
		int rc = d.cfg->http_listen_count > 0 ? help_print(d.cfg, NULL) : 0;
		if (rc == 0)
			printf("policyd: configuration OK\n");
		config_unref(d.cfg);
		return rc;
	}
	if (help_page) {
		int rc = help_print(d.cfg, &page);
		config_unref(d.cfg);
		return rc;
	}
	if (check.address != NULL) {
		int rc = explain_run(d.cfg, &check, d.debug);
		config_unref(d.cfg);
		return rc;
	}
	int rc = run_daemon(&d);
	config_unref(d.cfg);
	log_close();
	return rc;
}
