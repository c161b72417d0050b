/*
 * test_config - unit tests of policyd/config.c and config_keys.c through
 * config_load_text(): a full valid configuration (policyd.ini(5)) and the values it
 * yields, the defaults, and every kind of error with its exact "NAME:LINE: message".
 * Error lines are collected through the callback into a static buffer. Local list
 * files are temporary files made with mkstemp and removed at the end. Each config
 * loaded is freed by the test that loaded it.
 */
#include "addr.h"
#include "codes.h"
#include "config.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The errors of the last load: one per line, and how many. */
static char errors[16384];
static size_t errors_len;
static unsigned error_count;

/* The warnings of the last load, apart: they do not fail a load. */
static char warnings[4096];
static size_t warnings_len;

/* collect - the config_error_fn: append one message and a newline; warnings apart. */
static void collect(void *ctx, const char *message)
{
	size_t room = sizeof(errors) - errors_len;
	int n;

	(void)ctx;
	if (strstr(message, ": warning: ") != NULL) {
		n = snprintf(warnings + warnings_len, sizeof(warnings) - warnings_len, "%s\n", message);
		if (n > 0 && (size_t)n < sizeof(warnings) - warnings_len)
			warnings_len += (size_t)n;
		return;
	}
	error_count++;
	n = snprintf(errors + errors_len, room, "%s\n", message);
	if (n > 0)
		errors_len += (size_t)n < room ? (size_t)n : room - 1;
}

/* load - load text as "t.ini", collecting its errors. */
static struct config *load(const char *text)
{
	errors[0] = '\0';
	errors_len = 0;
	error_count = 0;
	warnings[0] = '\0';
	warnings_len = 0;
	return config_load_text("t.ini", text, strlen(text), collect, NULL);
}

/* A minimal valid configuration: five lines, so an appended section starts at line 6. */
#define BASE                                                                                      \
	"[server]\n"                                                                              \
	"listen = unix:/tmp/x.sock\n"                                                             \
	"[policy]\n"                                                                              \
	"help_url = https://www.example.org/help\n"                                               \
	"contact = postmaster@example.org\n"

/* Temporary list files, removed at exit. */
static char good_list[64], bad_list[64];

/* temp_file - write text into a new temporary file; its name goes into path (size 64). */
static void temp_file(char *path, const char *text)
{
	int fd;

	snprintf(path, 64, "/tmp/policyd-test-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) {
		printf("Bail out! cannot write a temporary file\n");
		exit(1);
	}
}

/* expect_error - text fails to load with exactly one error, want. */
static void expect_error(const char *what, const char *text, const char *want)
{
	struct config *cfg = load(text);
	char line[1200];

	snprintf(line, sizeof(line), "%s\n", want);
	ok(cfg == NULL, "%s: the configuration is refused", what);
	if (!is_str(errors, line, "%s: one error, \"%s\"", what, want))
		printf("#   %u error(s)\n", error_count);
	config_unref(cfg);
}

/* expect_ok - text loads without errors; the caller frees the config. */
static struct config *expect_ok(const char *what, const char *text)
{
	struct config *cfg = load(text);

	if (!ok(cfg != NULL && error_count == 0, "%s: loads without errors", what))
		printf("#   errors:\n%s", errors);
	return cfg;
}

/* addr_of - an address from text, for membership tests; bails out on a typo. */
static struct addr addr_of(const char *s)
{
	struct addr a;

	if (!addr_parse(&a, s, strlen(s))) {
		printf("Bail out! bad test address %s\n", s);
		exit(1);
	}
	return a;
}

/* contains - whether the set holds the address. */
static bool contains(const struct cidr_set *set, const char *s)
{
	struct addr a = addr_of(s);

	return set != NULL && cidr_set_contains(set, &a);
}

/* is_inet - whether sa is AF_INET address:port. */
static bool is_inet(const struct sockaddr_storage *sa, const char *address, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	struct in_addr want;

	return sa->ss_family == AF_INET && inet_pton(AF_INET, address, &want) == 1 &&
	       sin->sin_addr.s_addr == want.s_addr && ntohs(sin->sin_port) == port;
}

/* is_inet6 - whether sa is AF_INET6 address:port. */
static bool is_inet6(const struct sockaddr_storage *sa, const char *address, unsigned port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	struct in6_addr want;

	return sa->ss_family == AF_INET6 && inet_pton(AF_INET6, address, &want) == 1 &&
	       memcmp(&sin6->sin6_addr, &want, sizeof(want)) == 0 && ntohs(sin6->sin6_port) == port;
}

/* code_matches - whether a list's codes accept the answer a.b.c.d. */
static bool code_matches(const struct list_config *l, int a, int b, int c, int d)
{
	const uint8_t answer[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d };

	return codes_match(l->codes, answer);
}

static const char default_text[] =
	"Your host [$client_address] is blacklisted by $rbl_domain${rbl_reason?: $rbl_reason}. "
	"See $help_url or send your questions to $contact";

/* test_full - a full configuration, every section and comment form (values not the defaults). */
static void test_full(void)
{
	char text[8192];
	struct config *cfg;

	snprintf(text, sizeof(text),
		 "; policyd test configuration\n"
		 "[server]\n"
		 "listen = unix:/tmp/x.sock  ; repeatable\n"
		 "listen = inet:127.0.0.1:10040                     ; inet:[::1]:10040 for IPv6\n"
		 "listen = inet:[::1]:10041\n"
		 "socket_mode = 0640          ; unix sockets\n"
		 "allow = 127.0.0.0/8, ::1, 192.0.2.0/24    ; TCP clients allowed to connect\n"
		 "max_connections = 500\n"
		 "idle_timeout = 10m           ; Postfix's own is 300s\n"
		 "request_timeout = 2500ms\n"
		 "log = stderr                ; syslog (facility mail) | stderr\n"
		 "log_level = debug            ; error | warning | info | debug\n"
		 "\n"
		 "[dns]\n"
		 "nameserver = 127.0.0.1      ; repeatable\n"
		 "nameserver = [::1]:5353\n"
		 "nameserver = 192.0.2.53:5300\n"
		 "timeout = 1500ms\n"
		 "tries = 3\n"
		 "\n"
		 "# a comment with '#'\n"
		 "[cache]\n"
		 "size = 5000\n"
		 "min_ttl = 30s\n"
		 "max_ttl = 2h\n"
		 "negative_ttl = 4m\n"
		 "error_ttl = 15\n"
		 "\n"
		 "[policy]\n"
		 "threshold = 3               ; score at or above which the client is refused\n"
		 "allowlist_threshold = -2\n"
		 "action = defer              ; reject | defer | warn | prepend\n"
		 "text = %s\n"
		 "help_url = https://www.example.org/blacklisted.html?ip=$client_address\n"
		 "contact = postmaster@example.org\n"
		 "on_error = defer\n"
		 "skip_authenticated = no\n"
		 "\n"
		 "[dnsbl zen.spamhaus.org]    ; client IP blocklist\n"
		 "codes = 127.0.0.[2..11]\n"
		 "weight = 2\n"
		 "ipv6 = yes\n"
		 "help_url = https://check.spamhaus.org/results/?query=$client_address  ; own\n"
		 "\n"
		 "[dnswl list.dnswl.org]      ; client IP allowlist\n"
		 "codes = 127.0.[0..255].[1..3]\n"
		 "weight = -2\n"
		 "\n"
		 "[dnswl swl.example.org]\n"
		 "\n"
		 "[rhsbl dbl.spamhaus.org]    ; domain blocklist\n"
		 "check = sender, helo\n"
		 "codes = 127.0.1.[2..99]\n"
		 "\n"
		 "[rhsbl rhs.example.org]\n"
		 "\n"
		 "[dnsbl bl.example.org]\n"
		 "\n"
		 "[list local]\n"
		 "file = %s\n"
		 "weight = 10\n"
		 "reason = Listed by the local policy of example.org\n",
		 default_text, good_list);
	cfg = expect_ok("full configuration", text);
	if (cfg == NULL)
		return;

	/* [server] */
	is_int(cfg->listen_count, 3, "three listen lines accumulate");
	ok(cfg->listen[0].kind == LISTEN_UNIX, "listen 1 is a unix socket");
	is_str(cfg->listen[0].path, "/tmp/x.sock", "listen 1: path");
	is_str(cfg->listen[0].text, "unix:/tmp/x.sock",
	       "listen 1: text as written, comment stripped");
	is_int(cfg->listen[0].line, 3, "listen 1: its line number");
	ok(cfg->listen[1].kind == LISTEN_TCP, "listen 2 is TCP");
	ok(is_inet(&cfg->listen[1].addr, "127.0.0.1", 10040), "listen 2: 127.0.0.1 port 10040");
	is_int(cfg->listen[1].line, 4, "listen 2: its line number");
	ok(cfg->listen[2].kind == LISTEN_TCP && is_inet6(&cfg->listen[2].addr, "::1", 10041),
	   "listen 3: [::1] port 10041");
	ok(cfg->socket_mode == 0640, "socket_mode 0640");
	ok(cfg->socket_group == NULL && cfg->user == NULL, "no socket_group, no user");
	ok(contains(cfg->allow, "127.0.0.1") && contains(cfg->allow, "127.255.0.9") &&
		   contains(cfg->allow, "::1") && contains(cfg->allow, "192.0.2.77"),
	   "allow holds 127.0.0.0/8, ::1 and 192.0.2.0/24");
	ok(!contains(cfg->allow, "10.0.0.1") && !contains(cfg->allow, "::2"),
	   "allow holds nothing else");
	is_int(cfg->max_connections, 500, "max_connections");
	is_int(cfg->idle_timeout_ms, 600000, "idle_timeout 10m = 600000 ms");
	is_int(cfg->request_timeout_ms, 2500, "request_timeout 2500ms");
	is_int(cfg->log, LOG_TO_STDERR, "log = stderr");
	is_int(cfg->log_level, LOG_LEVEL_DEBUG, "log_level = debug");

	/* [dns] */
	is_int(cfg->nameserver_count, 3, "three nameservers accumulate");
	ok(is_inet(&cfg->nameserver[0], "127.0.0.1", 53), "nameserver 1: 127.0.0.1, port 53");
	ok(is_inet6(&cfg->nameserver[1], "::1", 5353), "nameserver 2: [::1]:5353");
	ok(is_inet(&cfg->nameserver[2], "192.0.2.53", 5300), "nameserver 3: 192.0.2.53:5300");
	is_int(cfg->dns_timeout_ms, 1500, "dns timeout 1500ms");
	is_int(cfg->dns_tries, 3, "dns tries");

	/* [cache] */
	is_int(cfg->cache_size, 5000, "cache size");
	is_int(cfg->min_ttl_ms, 30000, "min_ttl 30s");
	is_int(cfg->max_ttl_ms, 7200000, "max_ttl 2h");
	is_int(cfg->negative_ttl_ms, 240000, "negative_ttl 4m");
	is_int(cfg->error_ttl_ms, 15000, "error_ttl 15 (seconds without a unit)");

	/* [policy] */
	is_int(cfg->rules.threshold, 3, "threshold");
	is_int(cfg->rules.allowlist_threshold, -2, "allowlist_threshold");
	is_int(cfg->rules.action, ACTION_DEFER, "action = defer");
	is_str(cfg->rules.text_source, default_text, "text: the whole template, longer than 128 bytes");
	ok(cfg->rules.text != NULL, "text compiled");
	is_str(cfg->rules.help_url_source, "https://www.example.org/blacklisted.html?ip=$client_address",
	       "help_url");
	is_str(cfg->rules.contact, "postmaster@example.org", "contact");
	is_int(cfg->rules.contact_len, strlen("postmaster@example.org"),
	       "contact: its length kept for the replies");
	is_int(cfg->rules.on_error, ON_ERROR_DEFER, "on_error = defer");
	ok(!cfg->rules.skip_authenticated, "skip_authenticated = no");

	/* Lists, in file order. */
	is_int(cfg->rules.list_count, 7, "seven list sections");
	if (cfg->rules.list_count == 7) {
		const struct list_config *zen = &cfg->rules.lists[0], *wl = &cfg->rules.lists[1];
		const struct list_config *swl = &cfg->rules.lists[2], *dbl = &cfg->rules.lists[3];
		const struct list_config *rhs = &cfg->rules.lists[4], *bl = &cfg->rules.lists[5];
		const struct list_config *local = &cfg->rules.lists[6];
		struct codes def;

		ok(zen->kind == LIST_DNSBL, "zen is a dnsbl");
		is_str(zen->name, "zen.spamhaus.org", "zen: name");
		ok(zen->name_len == strlen("zen.spamhaus.org") &&
			   dbl->name_len == strlen(dbl->name) &&
			   local->name_len == strlen(local->name),
		   "each list's name length is kept for the replies");
		is_int(zen->line, 39, "zen: line of its header");
		is_int(zen->weight, 2, "zen: weight 2");
		ok(zen->ipv6, "zen: ipv6 = yes");
		ok(code_matches(zen, 127, 0, 0, 2) && code_matches(zen, 127, 0, 0, 11),
		   "zen: codes accept 127.0.0.2 and 127.0.0.11");
		ok(!code_matches(zen, 127, 0, 0, 12) && !code_matches(zen, 127, 0, 0, 1),
		   "zen: codes refuse 127.0.0.1 and 127.0.0.12");
		is_str(zen->help_url_source,
		       "https://check.spamhaus.org/results/?query=$client_address",
		       "zen: its own help_url, comment stripped");
		ok(zen->help_url != NULL, "zen: help_url compiled");

		ok(wl->kind == LIST_DNSWL && strcmp(wl->name, "list.dnswl.org") == 0,
		   "list.dnswl.org is a dnswl");
		is_int(wl->weight, -2, "list.dnswl.org: weight -2");
		ok(!wl->ipv6, "list.dnswl.org: ipv6 off by default");
		ok(code_matches(wl, 127, 0, 200, 3) && !code_matches(wl, 127, 0, 200, 4),
		   "list.dnswl.org: codes 127.0.[0..255].[1..3]");
		ok(wl->help_url == NULL, "list.dnswl.org: no help_url of its own");

		ok(swl->kind == LIST_DNSWL, "swl.example.org is a dnswl");
		is_int(swl->weight, -1, "dnswl default weight is -1");
		codes_default(&def);
		ok(codes_equal(swl->codes, &def), "dnswl without codes: the default filter");

		ok(dbl->kind == LIST_RHSBL, "dbl.spamhaus.org is an rhsbl");
		is_int(dbl->checks, SOURCE_SENDER | SOURCE_HELO, "dbl: check = sender, helo");
		is_int(dbl->weight, 1, "rhsbl default weight is 1");
		ok(code_matches(dbl, 127, 0, 1, 99) && !code_matches(dbl, 127, 0, 1, 100),
		   "dbl: codes 127.0.1.[2..99]");

		ok(rhs->kind == LIST_RHSBL, "rhs.example.org is an rhsbl");
		is_int(rhs->checks, SOURCE_SENDER, "rhsbl default check is sender");

		ok(bl->kind == LIST_DNSBL, "bl.example.org is a dnsbl");
		is_int(bl->weight, 1, "dnsbl default weight is 1");
		ok(!bl->ipv6, "dnsbl: ipv6 off by default");
		ok(codes_equal(bl->codes, &def) && code_matches(bl, 127, 0, 0, 2) &&
			   code_matches(bl, 127, 0, 0, 255) && !code_matches(bl, 127, 0, 0, 1),
		   "dnsbl default codes 127.0.0.[2..255]");

		ok(local->kind == LIST_LOCAL, "local is a local list");
		is_str(local->name, "local", "local: name");
		is_str(local->file, good_list, "local: file");
		is_int(local->weight, 10, "local: weight 10");
		is_str(local->reason, "Listed by the local policy of example.org", "local: reason");
		ok(contains(local->set, "192.0.2.55") && contains(local->set, "2001:db8::1") &&
			   contains(local->set, "10.1.2.3"),
		   "local: the file's ranges are loaded");
		ok(!contains(local->set, "10.1.2.4") && !contains(local->set, "198.51.100.1"),
		   "local: nothing else");
		is_str(list_kind_name(local->kind), "list", "list_kind_name(LIST_LOCAL)");
		is_str(list_kind_name(zen->kind), "dnsbl", "list_kind_name(LIST_DNSBL)");
	}
	ok(config_lists_equal(cfg, cfg) && config_listen_equal(cfg, cfg),
	   "a configuration equals itself");
	config_unref(cfg);
}

/* test_defaults - what applies when keys are absent. */
static void test_defaults(void)
{
	struct config *cfg = expect_ok("minimal configuration", BASE);
	struct codes def;

	if (cfg == NULL)
		return;
	is_int(cfg->listen_count, 1, "defaults: one listen");
	ok(cfg->socket_mode == 0660,
	   "defaults: socket_mode 0660");
	ok(contains(cfg->allow, "127.0.0.1") && contains(cfg->allow, "127.1.2.3") &&
		   contains(cfg->allow, "::1") && !contains(cfg->allow, "10.0.0.1") &&
		   !contains(cfg->allow, "::2"),
	   "defaults: allow is 127.0.0.0/8 and ::1");
	is_int(cfg->max_connections, 4096, "defaults: max_connections 4096");
	is_int(cfg->idle_timeout_ms, 300000, "defaults: idle_timeout 5m");
	is_int(cfg->request_timeout_ms, 3000, "defaults: request_timeout 3s");
	is_int(cfg->log, LOG_TO_SYSLOG, "defaults: log = syslog");
	is_int(cfg->log_level, LOG_LEVEL_INFO, "defaults: log_level = info");
	is_str(cfg->rules.recipient_delimiter, "+", "defaults: recipient_delimiter = +");
	is_int(cfg->nameserver_count, 0, "defaults: no nameserver (resolv.conf)");
	is_int(cfg->dns_timeout_ms, 2000, "defaults: dns timeout 2s");
	is_int(cfg->dns_tries, 2, "defaults: dns tries 2");
	is_int(cfg->cache_size, 100000, "defaults: cache size 100000");
	is_int(cfg->min_ttl_ms, 60000, "defaults: min_ttl 1m");
	is_int(cfg->max_ttl_ms, 3600000, "defaults: max_ttl 1h");
	is_int(cfg->negative_ttl_ms, 300000, "defaults: negative_ttl 5m");
	is_int(cfg->error_ttl_ms, 10000, "defaults: error_ttl 10s");
	is_int(cfg->rules.threshold, 1, "defaults: threshold 1");
	is_int(cfg->rules.allowlist_threshold, -1, "defaults: allowlist_threshold -1");
	is_int(cfg->rules.action, ACTION_REJECT, "defaults: action reject");
	is_int(cfg->rules.on_error, ON_ERROR_DUNNO, "defaults: on_error dunno");
	ok(cfg->rules.skip_authenticated, "defaults: skip_authenticated yes");
	ok(cfg->rules.text_source == NULL && cfg->rules.text != NULL && cfg->rules.local_text != NULL,
	   "defaults: the built-in texts, for DNS lists and for local lists");
	is_int(cfg->rules.list_count, 0, "defaults: no lists");
	config_unref(cfg);

	cfg = expect_ok("list sections with no keys",
			BASE "[dnsbl a.example]\n[dnswl b.example]\n[rhsbl c.example]\n");
	if (cfg != NULL && cfg->rules.list_count == 3) {
		codes_default(&def);
		ok(cfg->rules.lists[0].weight == 1 && cfg->rules.lists[1].weight == -1 &&
			   cfg->rules.lists[2].weight == 1,
		   "default weights: dnsbl 1, dnswl -1, rhsbl 1");
		ok(codes_equal(cfg->rules.lists[0].codes, &def) &&
			   codes_equal(cfg->rules.lists[2].codes, &def),
		   "default codes for dnsbl and rhsbl");
		is_int(cfg->rules.lists[2].checks, SOURCE_SENDER, "rhsbl default check: sender");
		is_int(cfg->rules.lists[0].line, 6, "a list's line is its header's");
	} else {
		ok(0, "three lists expected");
	}
	config_unref(cfg);

	cfg = expect_ok("empty recipient_delimiter", BASE "recipient_delimiter =\n");
	ok(cfg != NULL && cfg->rules.recipient_delimiter[0] == '\0',
	   "recipient_delimiter empty: no address extensions");
	config_unref(cfg);

	cfg = expect_ok("text without $contact needs no contact",
			"[server]\nlisten = unix:/tmp/x.sock\n[policy]\n"
			"text = Refused by $rbl_domain\n");
	ok(cfg != NULL && cfg->rules.contact == NULL && cfg->rules.help_url == NULL,
	   "no contact and no help_url when the text uses neither");
	config_unref(cfg);
}

/* test_value_errors - bad values of every type, each with its exact message. */
static void test_value_errors(void)
{
	char text[1024];

	expect_error("unknown section", BASE "[bogus]\nkey = 1\n",
		     "t.ini:6: unknown section [bogus]");
	expect_error("unknown key", BASE "[server]\nbogus = 1\n", "t.ini:7: unknown key 'bogus'");
	expect_error("key outside a section", "foo = 1\n" BASE,
		     "t.ini:1: key 'foo' outside of any section");
	expect_error("bad duration", BASE "[server]\nidle_timeout = 5x\n",
		     "t.ini:7: idle_timeout: not a duration (use e.g. 30s, 5m, 1h, 2d)");
	expect_error("negative duration", BASE "[cache]\nerror_ttl = -5s\n",
		     "t.ini:7: error_ttl: not a duration (use e.g. 30s, 5m, 1h, 2d)");
	expect_error("duration over its bound", BASE "[server]\nrequest_timeout = 11m\n",
		     "t.ini:7: request_timeout: duration out of range");
	expect_error("bad number", BASE "[server]\nmax_connections = many\n",
		     "t.ini:7: max_connections: not a number");
	expect_error("number out of range (low)", BASE "[server]\nmax_connections = 0\n",
		     "t.ini:7: max_connections: number out of range");
	expect_error("number out of range (high)", BASE "[dns]\ntries = 11\n",
		     "t.ini:7: tries: number out of range");
	expect_error("bad boolean", BASE "[policy]\nskip_authenticated = maybe\n",
		     "t.ini:7: skip_authenticated: expected yes or no");
	expect_error("bad choice", BASE "[policy]\naction = bounce\n",
		     "t.ini:7: action: expected one of: reject defer warn prepend");
	expect_error("bad socket_mode", BASE "[server]\nsocket_mode = 0668\n",
		     "t.ini:7: socket_mode: not an octal mode");
	expect_error("an '@' in recipient_delimiter", BASE "[policy]\nrecipient_delimiter = +@\n",
		     "t.ini:7: recipient_delimiter: '@' cannot start an address extension: "
		     "expected characters such as + or -");
	expect_error("recipient_delimiter too long",
		     BASE "[policy]\nrecipient_delimiter = +-+-+-+-+-+-+-+-+\n",
		     "t.ini:7: recipient_delimiter: 17 characters; at most 16");
	snprintf(text, sizeof(text), BASE "[list l]\nfile = %s\nreason =\n", good_list);
	expect_error("empty string value", text,
		     "t.ini:8: reason: empty value");
}

/* test_listen_errors - listen lines that cannot work. */
static void test_listen_errors(void)
{
	char text[1024], path[200];
	struct config *cfg;

	expect_error("listen: relative unix path", BASE "[server]\nlisten = unix:tmp/x.sock\n",
		     "t.ini:7: listen: unix socket path must be absolute");
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[108] = '\0';
	snprintf(text, sizeof(text), BASE "[server]\nlisten = unix:%s\n", path);
	expect_error("listen: unix path of 108 bytes", text,
		     "t.ini:7: listen: unix socket path too long (108 bytes, at most 107)");
	path[107] = '\0';
	snprintf(text, sizeof(text), BASE "[server]\nlisten = unix:%s\n", path);
	cfg = expect_ok("listen: unix path of 107 bytes", text);
	ok(cfg != NULL && cfg->listen_count == 2 && strlen(cfg->listen[1].path) == 107,
	   "a unix path of 107 bytes is kept whole");
	config_unref(cfg);
	expect_error("listen: inet without port", BASE "[server]\nlisten = inet:127.0.0.1\n",
		     "t.ini:7: listen: a port is required");
	expect_error("listen: inet IPv6 without port", BASE "[server]\nlisten = inet:[::1]\n",
		     "t.ini:7: listen: a port is required");
	expect_error("listen: hostname instead of address",
		     BASE "[server]\nlisten = inet:localhost:10040\n",
		     "t.ini:7: listen: not a numeric IPv4 or IPv6 address");
	expect_error("listen: port -1", BASE "[server]\nlisten = inet:127.0.0.1:-1\n",
		     "t.ini:7: listen: number out of range");
	expect_error("listen: port 65536", BASE "[server]\nlisten = inet:127.0.0.1:65536\n",
		     "t.ini:7: listen: number out of range");
	expect_error("listen: unknown scheme", BASE "[server]\nlisten = tcp:127.0.0.1:10040\n",
		     "t.ini:7: listen: expected unix:/path or inet:address:port");
	expect_error("no listen at all", "[policy]\nhelp_url = h\ncontact = c@d\n",
		     "t.ini:1: [server] needs at least one listen = ...");
	expect_error("no listen in [server]",
		     "[policy]\nhelp_url = h\ncontact = c@d\n[server]\nmax_connections = 5\n",
		     "t.ini:4: [server] needs at least one listen = ...");
}

/* test_structure_errors - sections, lists, templates, codes and whole-file checks. */
/* test_hardening_errors - harmful values (a threshold of 0, ...) refused with their line. */
static void test_hardening_errors(void)
{
	char text[1024], url[400];
	struct config *cfg;

	expect_error("threshold 0 would refuse everyone", BASE "[policy]\nthreshold = 0\n",
		     "t.ini:7: threshold: number out of range");
	expect_error("a negative threshold", BASE "[policy]\nthreshold = -3\n",
		     "t.ini:7: threshold: number out of range");
	expect_error("request_timeout 0 would fail every lookup",
		     BASE "[server]\nrequest_timeout = 0\n", "t.ini:7: request_timeout: at least 100 ms");
	expect_error("[dnsbl a..b]", BASE "[dnsbl a..b]\n",
		     "t.ini:6: [dnsbl a..b]: not a DNS zone name (letters, digits, '-' and '_' in two or "
		     "more labels of 1 to 63 bytes, 253 bytes in all)");
	expect_error("[dnsbl .]", BASE "[dnsbl .]\n",
		     "t.ini:6: [dnsbl .]: not a DNS zone name (letters, digits, '-' and '_' in two or "
		     "more labels of 1 to 63 bytes, 253 bytes in all)");
	expect_error("markup in a zone", BASE "[rhsbl <b>x</b>.example]\n",
		     "t.ini:6: [rhsbl <b>x</b>.example]: not a DNS zone name (letters, digits, '-' and "
		     "'_' in two or more labels of 1 to 63 bytes, 253 bytes in all)");
	expect_error("markup in a local list name", BASE "[list <script>]\nfile = x\n",
		     "t.ini:6: [list <script>]: a list name is letters, digits, '.', '-' and '_' (at "
		     "most 63)");
	expect_error("the same zone in other case and with a final dot",
		     BASE "[dnsbl zen.spamhaus.org]\n[dnsbl ZEN.SPAMHAUS.ORG.]\n",
		     "t.ini:7: [dnsbl zen.spamhaus.org] already defined at line 6");
	cfg = expect_ok("a zone in capitals with a final dot", BASE "[dnsbl ZEN.Spamhaus.ORG.]\n");
	if (cfg != NULL)
		is_str(cfg->rules.lists[0].name, "zen.spamhaus.org", "... is kept lower case, without the dot");
	config_unref(cfg);
	memset(url, 'u', 240);
	url[240] = '\0';
	snprintf(text, sizeof(text),
		 "[server]\nlisten = unix:/tmp/x.sock\n[policy]\nhelp_url = https://h.test/%s?ip=$client_address\n"
		 "contact = postmaster@example.org\n",
		 url);
	expect_error("a help_url that cannot fit whole", text,
		     "t.ini:4: help_url: the URL can be 298 bytes long with its macros expanded; at most "
		     "250 fit, and a URL is never cut (shorten it)");
	memset(url, 'c', 120);
	url[120] = '\0';
	snprintf(text, sizeof(text),
		 "[server]\nlisten = unix:/tmp/x.sock\n[policy]\nhelp_url = https://h.test/\n"
		 "contact = %s@example.org\n",
		 url);
	expect_error("a contact that cannot fit whole", text,
		     "t.ini:5: contact: 132 bytes; at most 100 fit, and the contact is never cut");
}

static void test_structure_errors(void)
{
	char text[1024];
	struct config *cfg;

	expect_error("bad allow CIDR", BASE "[server]\nallow = 127.0.0.0/8, 10.0.0.0/33\n",
		     "t.ini:7: allow: prefix length out of range: '10.0.0.0/33'");
	expect_error("bad allow address", BASE "[server]\nallow = 127.0.0.1, bogus\n",
		     "t.ini:7: allow: invalid address: 'bogus'");
	expect_error("bad codes", BASE "[dnsbl a.example]\ncodes = 127.0.0.256\n",
		     "t.ini:7: codes: number out of range (0..255)");
	expect_error("bad codes range", BASE "[dnsbl a.example]\ncodes = 127.0.0.[9..2]\n",
		     "t.ini:7: codes: range start above its end");
	expect_error("bad template \"${\"", BASE "[policy]\ntext = Refused ${\n",
		     "t.ini:7: text: unterminated ${ at column 9 of the value");
	expect_error("bad list help_url", BASE "[dnsbl a.example]\nhelp_url = http://x/$\n",
		     "t.ini:7: help_url: missing macro name after $ at column 10 of the value");
	expect_error("duplicate key", BASE "[server]\nmax_connections = 5\nmax_connections = 6\n",
		     "t.ini:8: max_connections: given twice in this section");
	expect_error("duplicate key in a reopened section", BASE "[policy]\ncontact = x@y\n",
		     "t.ini:7: contact: given twice in this section");
	expect_error("duplicate key in a list", BASE "[dnsbl a.example]\nweight = 1\nweight = 2\n",
		     "t.ini:8: weight: given twice in this section");

	cfg = expect_ok("repeated listen", BASE "[server]\nlisten = inet:127.0.0.1:10040\n"
					      "listen = inet:[::1]:10040\n");
	ok(cfg != NULL && cfg->listen_count == 3 && cfg->listen[0].kind == LISTEN_UNIX &&
		   cfg->listen[1].kind == LISTEN_TCP && cfg->listen[2].kind == LISTEN_TCP,
	   "repeated listen accumulates, in order");
	config_unref(cfg);

	expect_error("duplicate list section", BASE "[dnsbl a.example]\n[dnsbl a.example]\n",
		     "t.ini:7: [dnsbl a.example] already defined at line 6");
	cfg = expect_ok("same name, different kinds",
			BASE "[dnsbl a.example]\n[dnswl a.example]\n");
	config_unref(cfg);
	expect_error("[dnsbl] without a name", BASE "[dnsbl]\nweight = 2\n",
		     "t.ini:6: [dnsbl] needs one name: [dnsbl NAME]");
	expect_error("[rhsbl] with two names", BASE "[rhsbl a.example b.example]\n",
		     "t.ini:6: [rhsbl] needs one name: [rhsbl NAME]");
	expect_error("key of another list kind", BASE "[dnsbl a.example]\ncheck = sender\n",
		     "t.ini:7: unknown key 'check'");
	snprintf(text, sizeof(text), BASE "[list l]\nfile = %s\ncodes = 127.0.0.2\n", good_list);
	expect_error("codes in a local list", text,
		     "t.ini:8: unknown key 'codes'");
	expect_error("bad rhsbl check", BASE "[rhsbl a.example]\ncheck = sender, body\n",
		     "t.ini:7: check: expected one of: "
		     "sender helo client_name reverse_client_name");
	expect_error("missing file for [list]", BASE "[list local]\nweight = 5\n",
		     "t.ini:6: [list local] needs file = PATH");
	expect_error("unreadable file for [list]",
		     BASE "[list local]\nfile = /nonexistent/policyd-test.cidr\n",
		     "t.ini:6: [list local] cannot read /nonexistent/policyd-test.cidr: "
		     "No such file or directory");

	snprintf(text, sizeof(text), BASE "[list local]\nfile = %s\n", bad_list);
	cfg = load(text);
	ok(cfg == NULL, "bad lines in a local list file: the configuration is refused");
	char want[512];
	snprintf(want, sizeof(want), "%s:2: invalid address\n%s:4: prefix length out of range\n",
		 bad_list, bad_list);
	is_str(errors, want, "bad lines in a local list file: reported as that file's NAME:LINE");
	config_unref(cfg);

	expect_error("min_ttl above max_ttl", BASE "[cache]\nmin_ttl = 2h\n",
		     "t.ini:7: min_ttl is larger than max_ttl");
	expect_error("allowlist_threshold not below threshold",
		     BASE "[policy]\nthreshold = 2\nallowlist_threshold = 2\n",
		     "t.ini:8: allowlist_threshold must be below threshold");
	expect_error("contact missing when the text uses $contact",
		     "[server]\nlisten = unix:/tmp/x.sock\n[policy]\nhelp_url = https://h/\n",
		     "t.ini:3: the reply text uses $contact: set contact = ADDRESS");
	expect_error("help_url missing when the text uses $help_url",
		     "[server]\nlisten = unix:/tmp/x.sock\n\n[policy]\ncontact = a@b\n",
		     "t.ini:4: the reply text uses $help_url: set help_url = URL");
}

/* A key as Spamhaus DQS hands them out, and the key files of test_keyed_zones. */
#define KEY "secretkey0123456789abcdefgh"

/* key_file_with - a temporary key file holding text, with mode; its name into path. */
static void key_file_with(char *path, const char *text, mode_t mode)
{
	temp_file(path, text);
	if (chmod(path, mode) != 0) {
		printf("Bail out! cannot chmod %s\n", path);
		exit(1);
	}
}

/* no_key - neither the errors nor the warnings of the last load show the key. */
static void no_key(const char *what)
{
	ok(strstr(errors, KEY) == NULL && strstr(warnings, KEY) == NULL,
	   "%s: no message shows the key", what);
}

/* with_file - text with every @FILE@ replaced by file, into out. */
static void with_file(char *out, size_t size, const char *text, const char *file)
{
	size_t used = 0;
	const char *m;

	while ((m = strstr(text, "@FILE@")) != NULL && used < size) {
		used += (size_t)snprintf(out + used, size - used, "%.*s%s", (int)(m - text), text,
					 file);
		text = m + 6;
	}
	if (used < size)
		snprintf(out + used, size - used, "%s", text);
}

/* expect_key_error - text fails with want (@FILE@ in both: the key file), showing no key. */
static void expect_key_error(const char *what, const char *file, const char *text,
			     const char *want)
{
	char conf[1024], line[1024];

	with_file(conf, sizeof(conf), text, file);
	with_file(line, sizeof(line), want, file);
	expect_error(what, conf, line);
	no_key(what);
}

/*
 * test_keyed_zones - the section's name is public, `zone` is what is queried, and
 * its $key comes from key_file: a key file group or others can read, a $key
 * without key_file, a key_file without $key, an unreadable, empty or malformed key
 * file are FILE:LINE errors that never show the key; the zone after substitution
 * must be a DNS zone name.
 */
static void test_keyed_zones(void)
{
	char key[64], open_key[64], empty_key[64], two_lines[64], bad_key[64], conf[1024];
	struct config *cfg;

	key_file_with(key, KEY "\n", 0600);
	key_file_with(open_key, KEY "\n", 0644);
	key_file_with(empty_key, "\n", 0600);
	key_file_with(two_lines, KEY "\nmore\n", 0600);
	key_file_with(bad_key, "secret.key\n", 0600);

	cfg = expect_ok("a list without zone", BASE "[dnsbl ZEN.example.]\n");
	ok(cfg != NULL && strcmp(cfg->rules.lists[0].zone, "zen.example") == 0 &&
		   strcmp(cfg->rules.lists[0].zone_shown, "zen.example") == 0,
	   "without zone =, the zone is the section's name");
	config_unref(cfg);

	cfg = expect_ok("a zone apart from the name",
			BASE "[dnsbl zen.example]\nzone = ZEN.Mirror.example.\n");
	ok(cfg != NULL && strcmp(cfg->rules.lists[0].name, "zen.example") == 0 &&
		   strcmp(cfg->rules.lists[0].zone, "zen.mirror.example") == 0 &&
		   strcmp(cfg->rules.lists[0].zone_shown, "zen.mirror.example") == 0,
	   "zone = is queried (lower case, no final dot), the name stays the section's");
	config_unref(cfg);

	snprintf(conf, sizeof(conf),
		 BASE "[dnsbl zen.example]\nzone = $key.zen.dq.example\nkey_file = %s\n"
		      "[rhsbl dbl.example]\nzone = $key.DBL.dq.example\nkey_file = %s\n",
		 key, key);
	cfg = expect_ok("keyed zones", conf);
	no_key("keyed zones");
	ok(cfg != NULL && strcmp(cfg->rules.lists[0].name, "zen.example") == 0 &&
		   strcmp(cfg->rules.lists[0].zone, KEY ".zen.dq.example") == 0 &&
		   strcmp(cfg->rules.lists[0].zone_shown, "$key.zen.dq.example") == 0,
	   "$key is replaced by the key file's line in the zone only; the shown zone keeps $key");
	ok(cfg != NULL && strcmp(cfg->rules.lists[1].zone, KEY ".dbl.dq.example") == 0 &&
		   strcmp(cfg->rules.lists[1].zone_shown, "$key.dbl.dq.example") == 0,
	   "an RHSBL takes a keyed zone too, lower-cased");
	config_unref(cfg);

	struct config *a = load(BASE "[dnsbl zen.example]\nzone = zen.one.example\n");
	struct config *b = load(BASE "[dnsbl zen.example]\nzone = zen.two.example\n");
	ok(a != NULL && b != NULL && !config_lists_equal(a, b) && config_lists_equal(a, a),
	   "a list whose zone changed is another list for the cache (a new key may see other data)");
	config_unref(a);
	config_unref(b);

	expect_key_error("a key file that others can read", open_key,
			 BASE "[dnsbl zen.example]\nzone = $key.zen.dq.example\nkey_file = @FILE@\n",
			 "t.ini:8: [dnsbl zen.example]: key_file @FILE@: others may read it (mode 0644): chmod o-rwx it (owner root, group policyd, mode 0640; or owner policyd, mode 0600)");
	expect_key_error("$key without key_file", key,
			 BASE "[dnsbl zen.example]\nweight = 2\nzone = $key.zen.dq.example\n",
			 "t.ini:8: [dnsbl zen.example]: zone uses $key: set key_file = FILE");
	expect_key_error("key_file without $key", key,
			 BASE "[dnsbl zen.example]\nzone = zen.dq.example\nkey_file = @FILE@\n",
			 "t.ini:8: [dnsbl zen.example]: key_file is given, but zone has no $key to put the key in");
	expect_key_error("an unreadable key file", "/nonexistent/policyd-test.key",
			 BASE "[dnsbl zen.example]\nzone = $key.zen.dq.example\nkey_file = @FILE@\n",
			 "t.ini:8: [dnsbl zen.example]: key_file @FILE@: cannot read: No such file or directory");
	expect_key_error("an empty key file", empty_key,
			 BASE "[dnsbl zen.example]\nzone = $key.zen.dq.example\nkey_file = @FILE@\n",
			 "t.ini:8: [dnsbl zen.example]: key_file @FILE@: empty: expected the key on one line");
	expect_key_error("a key file of two lines", two_lines,
			 BASE "[dnsbl zen.example]\nzone = $key.zen.dq.example\nkey_file = @FILE@\n",
			 "t.ini:8: [dnsbl zen.example]: key_file @FILE@: the key is not a DNS label (one line of letters, digits and '-', at most 63)");
	expect_key_error("a key that is not a label", bad_key,
			 BASE "[dnsbl zen.example]\nzone = $key.zen.dq.example\nkey_file = @FILE@\n",
			 "t.ini:8: [dnsbl zen.example]: key_file @FILE@: the key is not a DNS label (one line of letters, digits and '-', at most 63)");
	expect_key_error("a zone that is no DNS name once the key is in", key,
			 BASE "[dnsbl zen.example]\nzone = $key..dq.example\nkey_file = @FILE@\n",
			 "t.ini:7: [dnsbl zen.example]: zone $key..dq.example: not a DNS zone name (letters, digits, '-' and '_' in two or more labels of 1 to 63 bytes, 253 bytes in all)");
	expect_key_error("zone in a local list", good_list,
			 BASE "[list l]\nfile = @FILE@\nzone = x.example\n",
			 "t.ini:8: unknown key 'zone'");

	unlink(key);
	unlink(open_key);
	unlink(empty_key);
	unlink(two_lines);
	unlink(bad_key);
}

/* test_syntax - lines, comments, indentation, long values, several errors at once. */
static void test_syntax(void)
{
	char text[4096], allow[2048];
	size_t used = 0;
	struct config *cfg;

	expect_error("line without '='", BASE "[server]\nmax_connections 5\n",
		     "t.ini:7: expected 'key = value'");
	expect_error("section header without ']'", BASE "[server\nbogus = 1\n",
		     "t.ini:6: section header without ']'");
	expect_error("'=' only inside an inline comment", BASE "[server]\nmax_connections ; = 5\n",
		     "t.ini:7: expected 'key = value'");

	/* Both bad lines are reported, also when the '=' hides in a comment. */
	cfg = load(BASE "[server]\nfoo ; a = b\nmax_connections = lots\n");
	ok(cfg == NULL, "'=' in a comment beside another error: refused");
	is_str(errors,
	       "t.ini:7: expected 'key = value'\n"
	       "t.ini:8: max_connections: not a number\n",
	       "'=' in a comment beside another error: both lines reported");
	config_unref(cfg);

	/* Like inih, accept a UTF-8 byte order mark at the start of the file. */
	cfg = expect_ok("UTF-8 byte order mark before [server]", "\xef\xbb\xbf" BASE);
	ok(cfg != NULL && cfg->listen_count == 1, "byte order mark: [server] seen");
	config_unref(cfg);
	{
		static const char nul[] = BASE "[server]\nmax_connections = 5\0\n";
		errors[0] = '\0';
		errors_len = 0;
		error_count = 0;
		cfg = config_load_text("t.ini", nul, sizeof(nul) - 1, collect, NULL);
		ok(cfg == NULL, "NUL byte in a line: the configuration is refused");
		is_str(errors, "t.ini:7: NUL byte in line\n", "NUL byte in a line: one error");
		config_unref(cfg);
	}

	/* Several errors in one file are all reported, in line order. */
	cfg = load("[server]\n"
		   "listen = unix:relative\n"
		   "max_connections = lots\n"
		   "[dns]\n"
		   "tries = 0\n"
		   "no equals sign here\n"
		   "[nosuch]\n"
		   "ignored = 1\n"
		   "[policy]\n"
		   "skip_authenticated = perhaps\n"
		   "help_url = https://h/\n"
		   "contact = a@b\n"
		   "[dnsbl]\n"
		   "[cache]\n"
		   "min_ttl = 2h\n");
	ok(cfg == NULL, "several errors: refused");
	is_int(error_count, 9, "several errors: all nine reported");
	is_str(errors,
	       "t.ini:2: listen: unix socket path must be absolute\n"
	       "t.ini:3: max_connections: not a number\n"
	       "t.ini:5: tries: number out of range\n"
	       "t.ini:6: expected 'key = value'\n"
	       "t.ini:7: unknown section [nosuch]\n"
	       "t.ini:10: skip_authenticated: expected yes or no\n"
	       "t.ini:13: [dnsbl] needs one name: [dnsbl NAME]\n"
	       "t.ini:1: [server] needs at least one listen = ...\n"
	       "t.ini:15: min_ttl is larger than max_ttl\n",
	       "several errors: each with its own line");
	config_unref(cfg);

	/* A value of over 1000 characters survives whole: the last item of a long list counts. */
	for (int i = 0; i < 80; i++)
		used += (size_t)snprintf(allow + used, sizeof(allow) - used, "10.%d.%d.0/24, ", i,
					 i * 3 % 256);
	used += (size_t)snprintf(allow + used, sizeof(allow) - used, "198.51.100.0/24");
	ok(used > 1000, "the allow list is %zu characters long", used);
	snprintf(text, sizeof(text), BASE "[server]\nallow = %s\n", allow);
	cfg = expect_ok("1000-character allow list", text);
	ok(cfg != NULL && contains(cfg->allow, "198.51.100.200"),
	   "1000-character value: its last item is in the set");
	ok(cfg != NULL && contains(cfg->allow, "10.0.0.1") && contains(cfg->allow, "10.79.237.5"),
	   "1000-character value: its first and 80th items are in the set");
	ok(cfg != NULL && !contains(cfg->allow, "127.0.0.1"),
	   "1000-character value: it replaces the default");
	config_unref(cfg);

	snprintf(text, sizeof(text), BASE "[server]\nallow = %s, bogus/99\n", allow);
	cfg = load(text);
	ok(cfg == NULL && error_count == 1 && strstr(errors, "t.ini:7: allow: ") == errors &&
		   strstr(errors, "'bogus/99'") != NULL,
	   "1000-character value: a bad last item is found and named");
	config_unref(cfg);

	/* Indented lines are ordinary keys, not continuations of the previous value. */
	cfg = expect_ok("indented keys", "[server]\n"
					 "    listen = unix:/tmp/x.sock\n"
					 "\tmax_connections = 77\n"
					 "  [policy]\n"
					 "  help_url = https://h/\n"
					 "     contact = a@b\n");
	ok(cfg != NULL && cfg->listen_count == 1 && strcmp(cfg->listen[0].path, "/tmp/x.sock") == 0,
	   "indented listen: the value is not joined with the next line");
	ok(cfg != NULL && cfg->max_connections == 77, "indented max_connections is a key");
	ok(cfg != NULL && cfg->rules.contact != NULL && strcmp(cfg->rules.contact, "a@b") == 0,
	   "indented section header and keys");
	config_unref(cfg);

	/* Comments: "; comment" after a blank is stripped, ';' inside a value is kept. */
	cfg = expect_ok("inline comments", "; leading comment\n"
					   "# hash comment\n"
					   "[server] ; section comment\n"
					   "listen = unix:/tmp/x.sock ; the socket\n"
					   "max_connections = 50\t; tab before the comment\n"
					   "[policy]\n"
					   "help_url = https://h/?a=1;b=2\n"
					   "contact = pm@example.org ;; two\n");
	ok(cfg != NULL && cfg->max_connections == 50, "\"50 ; comment\" is 50");
	ok(cfg != NULL && strcmp(cfg->listen[0].path, "/tmp/x.sock") == 0,
	   "comment stripped from listen");
	ok(cfg != NULL && strcmp(cfg->rules.help_url_source, "https://h/?a=1;b=2") == 0,
	   "';' without a blank before it stays in the value");
	ok(cfg != NULL && strcmp(cfg->rules.contact, "pm@example.org") == 0,
	   "\";; two\" is a comment too");
	config_unref(cfg);

	/* CRLF files: the '\r' is white space at the end of a line. */
	cfg = expect_ok("CRLF lines", "[server]\r\nlisten = unix:/tmp/x.sock\r\n"
				      "max_connections = 9\r\n[policy]\r\n"
				      "help_url = https://h/\r\ncontact = a@b\r\n");
	ok(cfg != NULL && cfg->max_connections == 9 && strcmp(cfg->rules.contact, "a@b") == 0,
	   "CRLF lines: values without '\\r'");
	config_unref(cfg);

	/* A template longer than inih's default 200-byte line. */
	used = (size_t)snprintf(text, sizeof(text), BASE "[policy]\ntext = Refused.");
	for (int i = 0; i < 60; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, " word%02d", i);
	snprintf(text + used, sizeof(text) - used, " $contact END\n");
	cfg = expect_ok("a 400-byte template line", text);
	ok(cfg != NULL && strstr(cfg->rules.text_source, "word59 $contact END") != NULL &&
		   strncmp(cfg->rules.text_source, "Refused. word00", 15) == 0,
	   "a 400-byte template keeps both ends");
	config_unref(cfg);
}

/* test_config_load - reading from a file. */
static void test_config_load(void)
{
	char path[64], want[200];
	struct config *cfg;

	temp_file(path, BASE);
	errors[0] = '\0';
	errors_len = 0;
	error_count = 0;
	warnings[0] = '\0';
	warnings_len = 0;
	cfg = config_load(path, collect, NULL);
	ok(cfg != NULL && error_count == 0, "config_load reads a file");
	ok(cfg != NULL && strcmp(cfg->path, path) == 0, "config_load: path kept");
	config_unref(cfg);
	unlink(path);

	cfg = config_load("/nonexistent/policyd.ini", collect, NULL);
	snprintf(want, sizeof(want),
		 "/nonexistent/policyd.ini:0: cannot read: No such file or directory\n");
	ok(cfg == NULL, "config_load of a missing file: NULL");
	is_str(errors, want, "config_load of a missing file: NAME:0: cannot read");
	config_unref(NULL);
	ok(1, "config_unref(NULL) is harmless");
}

/* test_refused_codes - the built-in refusals, refused_codes, and codes given after it. */
static void test_refused_codes(void)
{
	static const uint8_t dnswl[4] = { 127, 0, 0, 255 }, one[4] = { 127, 0, 0, 1 },
			     two[4] = { 127, 0, 0, 2 };
	struct config *cfg = expect_ok("refused_codes", BASE "[dnswl wl.example]\n"
							     "[dnsbl bl.example]\n"
							     "refused_codes = 127.0.0.1\n"
							     "codes = 127.0.0.[1..2]\n"
							     "[dnsbl other.example]\n");

	if (cfg == NULL || cfg->rules.list_count != 3) {
		ok(false, "refused_codes: three lists");
		config_unref(cfg);
		return;
	}
	const struct list_config *wl = &cfg->rules.lists[0], *bl = &cfg->rules.lists[1],
				 *other = &cfg->rules.lists[2];
	ok(codes_refused(wl->codes, dnswl), "a dnswl refuses 127.0.0.255 (built in)");
	ok(!codes_refused(other->codes, dnswl), "a dnsbl does not (127.0.0.255 is its listing)");
	ok(codes_refused(bl->codes, one) && !codes_refused(bl->codes, two),
	   "refused_codes = 127.0.0.1, kept when codes comes after it");
	ok(code_matches(bl, 127, 0, 0, 2), "... and codes is in force");
	ok(codes_refused(other->codes, (const uint8_t[4]){ 127, 255, 255, 254 }),
	   "127.255.255.254 is a refusal for every list");
	config_unref(cfg);
}

int main(void)
{
	/* Socket activation would make listen optional (config_keys.c). */
	unsetenv("LISTEN_FDS");
	temp_file(good_list, "# local list\n"
			     "192.0.2.0/24\n"
			     "\n"
			     "2001:db8::/32   # a comment\n"
			     "  10.1.2.3  \n");
	temp_file(bad_list, "192.0.2.0/24\n"
			    "bogus\n"
			    "# fine\n"
			    "10.0.0.0/33\n");

	test_full();
	test_defaults();
	test_value_errors();
	test_listen_errors();
	test_structure_errors();
	test_keyed_zones();
	test_hardening_errors();
	test_syntax();
	test_config_load();
	test_refused_codes();

	unlink(good_list);
	unlink(bad_list);
	return tap_done();
}
