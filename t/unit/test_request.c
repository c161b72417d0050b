/*
 * test_request - unit tests of common/request.c: the incremental scanner fed real
 * Postfix 3.7.11 requests (t/fixtures/postfix-3.7.11, embedded below) split in
 * every possible way, pipelined requests, each limit at and one over its bound,
 * protocol violations and their offsets; then request_parse, request_get and
 * request_find. Large buffers are heap-allocated by the test that needs them and
 * freed there; struct request is static because it is large.
 */
#include "request.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* t/fixtures/postfix-3.7.11/rcpt-ipv4.txt, byte for byte. */
static const char rcpt_ipv4[] =
	"request=smtpd_access_policy\n"
	"protocol_state=RCPT\n"
	"protocol_name=ESMTP\n"
	"client_address=192.0.2.10\n"
	"client_name=unknown\n"
	"client_port=49618\n"
	"reverse_client_name=unknown\n"
	"server_address=127.0.0.1\n"
	"server_port=2525\n"
	"helo_name=vm\n"
	"sender=root@vm\n"
	"recipient=root@mx.test\n"
	"recipient_count=0\n"
	"queue_id=\n"
	"instance=3445.6b09feaf.d9274.0\n"
	"size=0\n"
	"etrn_domain=\n"
	"stress=\n"
	"sasl_method=\n"
	"sasl_username=\n"
	"sasl_sender=\n"
	"ccert_subject=\n"
	"ccert_issuer=\n"
	"ccert_fingerprint=\n"
	"ccert_pubkey_fingerprint=\n"
	"encryption_protocol=\n"
	"encryption_cipher=\n"
	"encryption_keysize=0\n"
	"policy_context=\n"
	"\n";

/* t/fixtures/postfix-3.7.11/end-of-message-ipv6.txt, byte for byte. */
static const char eom_ipv6[] =
	"request=smtpd_access_policy\n"
	"protocol_state=END-OF-MESSAGE\n"
	"protocol_name=ESMTP\n"
	"client_address=2001:db8::25\n"
	"client_name=mail.example.org\n"
	"client_port=49628\n"
	"reverse_client_name=mail.example.org\n"
	"server_address=127.0.0.1\n"
	"server_port=2525\n"
	"helo_name=vm\n"
	"sender=alice@example.org\n"
	"recipient=root@mx.test\n"
	"recipient_count=1\n"
	"queue_id=8ED2210A15C\n"
	"instance=3445.6b09feb2.8e8bd.0\n"
	"size=257\n"
	"etrn_domain=\n"
	"stress=\n"
	"sasl_method=\n"
	"sasl_username=\n"
	"sasl_sender=\n"
	"ccert_subject=\n"
	"ccert_issuer=\n"
	"ccert_fingerprint=\n"
	"ccert_pubkey_fingerprint=\n"
	"encryption_protocol=\n"
	"encryption_cipher=\n"
	"encryption_keysize=0\n"
	"policy_context=\n"
	"\n";

#define FIXTURE_ATTRS 29

/* What one scan reported. */
struct result {
	enum request_scan state;
	size_t request_len; /* COMPLETE only */
	const char *err;    /* INVALID only */
	size_t offset;      /* INVALID only */
	size_t at;          /* bytes given when the verdict came */
};

static struct request req; /* large: kept out of the stack */

/* scan_once - a fresh scanner given all len bytes in one call. */
static struct result scan_once(const char *buf, size_t len)
{
	struct request_scanner s = { 0 };
	struct result r = { 0 };

	r.state = request_scan(&s, buf, len, &r.request_len, &r.err, &r.offset);
	r.at = len;
	return r;
}

/*
 * scan_steps - a fresh scanner given buf[0..len) growing by step bytes a call (the
 * last call gets all len bytes); the first verdict other than INCOMPLETE, or
 * INCOMPLETE after the last call.
 */
static struct result scan_steps(const char *buf, size_t len, size_t step)
{
	struct request_scanner s = { 0 };
	struct result r = { 0 };

	for (size_t have = step < len ? step : len;; have = have + step < len ? have + step : len) {
		r.state = request_scan(&s, buf, have, &r.request_len, &r.err, &r.offset);
		r.at = have;
		if (r.state != REQUEST_INCOMPLETE || have == len)
			return r;
	}
}

/* scan_split - a fresh scanner given buf[0..cut), then all len bytes. */
static struct result scan_split(const char *buf, size_t len, size_t cut)
{
	struct request_scanner s = { 0 };
	struct result r = { 0 };

	r.state = request_scan(&s, buf, cut, &r.request_len, &r.err, &r.offset);
	r.at = cut;
	if (r.state != REQUEST_INCOMPLETE)
		return r;
	r.state = request_scan(&s, buf, len, &r.request_len, &r.err, &r.offset);
	r.at = len;
	return r;
}

/* same_result - the same verdict, length, message and offset. */
static bool same_result(const struct result *a, const struct result *b)
{
	if (a->state != b->state)
		return false;
	if (a->state == REQUEST_COMPLETE)
		return a->request_len == b->request_len;
	if (a->state == REQUEST_INVALID)
		return a->offset == b->offset && a->err != NULL && b->err != NULL &&
		       strcmp(a->err, b->err) == 0;
	return true;
}

/* state_name - for messages. */
static const char *state_name(enum request_scan st)
{
	if (st == REQUEST_COMPLETE)
		return "COMPLETE";
	return st == REQUEST_INVALID ? "INVALID" : "INCOMPLETE";
}

/*
 * every_split - scan buf byte by byte and in every two-part split (every cut_step-th
 * cut, for the large inputs), and check that each gives the verdict of one scan of
 * the whole buffer. A COMPLETE request must be reported only once all its bytes are
 * there: byte by byte, at exactly request_len bytes.
 */
static void every_split(const char *what, const char *buf, size_t len, size_t cut_step)
{
	struct result whole = scan_once(buf, len);
	struct result r = scan_steps(buf, len, 1);
	unsigned bad = 0;
	size_t first_bad = 0;

	if (whole.state == REQUEST_INVALID)
		ok(same_result(&r, &whole),
		   "%s: byte by byte gives the same verdict (INVALID at %zu)", what, whole.offset);
	else
		ok(same_result(&r, &whole),
		   "%s: byte by byte gives the same verdict (%s, %zu bytes)", what,
		   state_name(whole.state), whole.request_len);
	if (whole.state == REQUEST_COMPLETE)
		is_int(r.at, whole.request_len,
		       "%s: byte by byte, COMPLETE comes with the request's last byte", what);
	for (size_t cut = 0; cut <= len; cut += cut_step) {
		r = scan_split(buf, len, cut);
		if (!same_result(&r, &whole) ||
		    (whole.state == REQUEST_COMPLETE && r.at == cut && cut < whole.request_len)) {
			if (bad++ == 0)
				first_bad = cut;
		}
	}
	if (!is_int(bad, 0, "%s: every two-part split gives the same verdict", what))
		printf("#   first bad cut: %zu\n", first_bad);
}

/* fill_line - write "a=xxx...x\n", line_len bytes before the LF, into buf; returns bytes. */
static size_t fill_line(char *buf, size_t line_len)
{
	buf[0] = 'a';
	buf[1] = '=';
	memset(buf + 2, 'x', line_len - 2);
	buf[line_len] = '\n';
	return line_len + 1;
}

/* xmalloc - memory for the large tests; bail out when there is none. */
static char *xmalloc(size_t n)
{
	char *p = malloc(n);

	if (p == NULL) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	return p;
}

/* test_fixtures - real requests, whole and in every split. */
static void test_fixtures(void)
{
	struct result r;

	r = scan_once(rcpt_ipv4, strlen(rcpt_ipv4));
	is_int(r.state, REQUEST_COMPLETE, "rcpt-ipv4 fixture: COMPLETE in one call");
	is_int(r.request_len, strlen(rcpt_ipv4),
	       "rcpt-ipv4 fixture: request_len is the whole text");
	r = scan_once(eom_ipv6, strlen(eom_ipv6));
	is_int(r.state, REQUEST_COMPLETE, "end-of-message-ipv6 fixture: COMPLETE in one call");
	is_int(r.request_len, strlen(eom_ipv6),
	       "end-of-message-ipv6 fixture: request_len is the whole text");

	every_split("rcpt-ipv4 fixture", rcpt_ipv4, strlen(rcpt_ipv4), 1);
	every_split("end-of-message-ipv6 fixture", eom_ipv6, strlen(eom_ipv6), 1);

	for (size_t step = 2; step <= 64; step *= 2) {
		r = scan_steps(rcpt_ipv4, strlen(rcpt_ipv4), step);
		ok(r.state == REQUEST_COMPLETE && r.request_len == strlen(rcpt_ipv4),
		   "rcpt-ipv4 fixture fed %zu bytes at a time: COMPLETE", step);
	}
}

/* test_incomplete - no proper prefix of a request is ever COMPLETE. */
static void test_incomplete(void)
{
	static const char *const requests[] = {
		rcpt_ipv4, eom_ipv6, "a=\n\n", "a=b\n\n", "a=b\nc=\n\n", "request=x\n==\n\n",
	};
	unsigned bad = 0, checked = 0;

	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		size_t len = strlen(requests[i]);
		for (size_t n = 0; n < len; n++) {
			struct result r = scan_once(requests[i], n);
			checked++;
			if (r.state == REQUEST_COMPLETE)
				bad++;
		}
	}
	is_int(bad, 0, "no proper prefix (%u of them) is reported COMPLETE", checked);

	/* The prefixes of a valid request are INCOMPLETE, not INVALID either. */
	bad = 0;
	for (size_t n = 0; n < strlen(rcpt_ipv4); n++)
		if (scan_once(rcpt_ipv4, n).state != REQUEST_INCOMPLETE)
			bad++;
	is_int(bad, 0, "every proper prefix of the fixture is INCOMPLETE");

	is_int(scan_once("", 0).state, REQUEST_INCOMPLETE, "no bytes: INCOMPLETE");
	is_int(scan_once("a=b\n", 4).state, REQUEST_INCOMPLETE,
	       "attribute lines without the empty line: INCOMPLETE");
	is_int(scan_once("a=b", 3).state, REQUEST_INCOMPLETE, "a line without its LF: INCOMPLETE");
	is_int(scan_once("abc", 3).state, REQUEST_INCOMPLETE,
	       "a line without '=' is judged only when its LF comes");
	is_int(scan_once("a=b\n\r", 5).state, REQUEST_INCOMPLETE, "\"\\r\" is not an empty line");
}

/* test_pipelined - several requests in one buffer, as conn.c scans them. */
static void test_pipelined(void)
{
	static const char third[] = "request=smtpd_access_policy\nclient_address=10.0.0.1\n\n";
	static const char partial[] = "request=smtpd_access_policy\nclient_addr";
	static const char *const want_addr[] = { "192.0.2.10", "2001:db8::25", "10.0.0.1" };
	size_t l1 = strlen(rcpt_ipv4), l2 = strlen(eom_ipv6), l3 = strlen(third);
	size_t total = l1 + l2 + l3 + strlen(partial);
	const size_t want[] = { l1, l2, l3 };
	char *buf = xmalloc(total);
	size_t off = 0, vlen;
	struct result r;

	memcpy(buf, rcpt_ipv4, l1);
	memcpy(buf + l1, eom_ipv6, l2);
	memcpy(buf + l1 + l2, third, l3);
	memcpy(buf + l1 + l2 + l3, partial, strlen(partial));

	for (int i = 0; i < 3; i++) {
		r = scan_once(buf + off, total - off);
		is_int(r.state, REQUEST_COMPLETE, "pipelined request %d: COMPLETE", i + 1);
		is_int(r.request_len, want[i], "pipelined request %d: stops at its own empty line",
		       i + 1);
		request_parse(&req, buf + off, r.request_len);
		const char *v = request_get(&req, REQ_CLIENT_ADDRESS, &vlen);
		ok(vlen == strlen(want_addr[i]) && memcmp(v, want_addr[i], vlen) == 0,
		   "pipelined request %d: its own client_address %s", i + 1, want_addr[i]);
		off += r.request_len;
	}
	is_int(scan_once(buf + off, total - off).state, REQUEST_INCOMPLETE,
	       "pipelined: the partial fourth request is INCOMPLETE");

	/* Bytes arriving in reads of several sizes, the scanner reset after each request. */
	for (size_t step = 1; step <= 4096; step *= 8) {
		struct request_scanner s = { 0 };
		size_t consumed = 0, have = 0, n = 0;
		bool right = true;
		while (right && have < total) {
			have = have + step < total ? have + step : total;
			for (;;) {
				size_t rl = 0, eo = 0;
				const char *err = NULL;
				enum request_scan st;
				st = request_scan(&s, buf + consumed, have - consumed, &rl, &err,
						  &eo);
				if (st == REQUEST_INCOMPLETE)
					break;
				if (st == REQUEST_INVALID || n >= 3 || rl != want[n]) {
					right = false;
					break;
				}
				consumed += rl;
				n++;
				memset(&s, 0, sizeof(s));
			}
		}
		ok(right && n == 3 && consumed == l1 + l2 + l3,
		   "pipelined, %zu byte(s) a read: three requests of the right lengths", step);
	}

	every_split("request followed by the next ones", buf, total, 1);
	free(buf);
}

/* test_line_limit - a line of REQUEST_MAX_LINE bytes (LF excluded) is fine, one more is not. */
static void test_line_limit(void)
{
	static const char first[] = "request=smtpd_access_policy\n";
	size_t flen = strlen(first);
	char *buf = xmalloc(flen + 2 * REQUEST_MAX_LINE + 16);
	size_t len;
	struct result r;

	memcpy(buf, first, flen);
	len = flen + fill_line(buf + flen, REQUEST_MAX_LINE);
	buf[len++] = '\n';
	r = scan_once(buf, len);
	is_int(r.state, REQUEST_COMPLETE, "a line of exactly 8192 bytes before its LF: COMPLETE");
	is_int(r.request_len, len, "a line of 8192 bytes: the whole request");
	request_parse(&req, buf, r.request_len);
	is_int(req.attr[1].value_len, REQUEST_MAX_LINE - 2,
	       "a line of 8192 bytes: value of 8190 bytes");
	every_split("a line of 8192 bytes", buf, len, 1);

	/* Not yet terminated: a partial line of 8192 bytes may still end well. */
	r = scan_once(buf, flen + REQUEST_MAX_LINE);
	is_int(r.state, REQUEST_INCOMPLETE, "8192 bytes of an open line: INCOMPLETE");

	len = flen + fill_line(buf + flen, REQUEST_MAX_LINE + 1);
	buf[len++] = '\n';
	r = scan_once(buf, len);
	is_int(r.state, REQUEST_INVALID, "a line of 8193 bytes: INVALID");
	is_str(r.err, "line too long", "a line of 8193 bytes: \"line too long\"");
	is_int(r.offset, flen, "a line of 8193 bytes: offset is the start of that line");
	every_split("a line of 8193 bytes", buf, len, 1);

	/* The limit holds before the LF arrives: no unbounded buffering of one line. */
	r = scan_once(buf, flen + REQUEST_MAX_LINE + 1);
	is_int(r.state, REQUEST_INVALID, "8193 bytes of an open line, no LF yet: INVALID at once");
	is_int(r.offset, flen, "open line of 8193 bytes: offset is the start of that line");
	r = scan_split(buf, flen + REQUEST_MAX_LINE + 1, flen + 4000);
	ok(r.state == REQUEST_INVALID && r.at == flen + REQUEST_MAX_LINE + 1,
	   "open line fed in two parts: INVALID when its 8193rd byte arrives");

	/* The limit is per line, not per request. */
	len = fill_line(buf, REQUEST_MAX_LINE);
	len += fill_line(buf + len, REQUEST_MAX_LINE);
	buf[len++] = '\n';
	r = scan_once(buf, len);
	ok(r.state == REQUEST_COMPLETE && r.request_len == len,
	   "two lines of 8192 bytes each: COMPLETE");
	free(buf);
}

/*
 * build_size - a request of exactly size bytes (terminator included) made of lines
 * of at most 8192 bytes; returns its length.
 */
static size_t build_size(char *buf, size_t size)
{
	size_t len = 0;

	/* Lines of 8192 bytes with their LF, then one shorter line, then the empty line. */
	while (size - len - 1 > REQUEST_MAX_LINE + 1)
		len += fill_line(buf + len, REQUEST_MAX_LINE - 1);
	len += fill_line(buf + len, size - len - 2);
	buf[len++] = '\n';
	return len;
}

/* test_size_limit - a request of REQUEST_MAX_SIZE bytes is fine, one more byte is not. */
static void test_size_limit(void)
{
	char *buf = xmalloc(REQUEST_MAX_SIZE + 64);
	size_t len;
	struct result r;

	len = build_size(buf, REQUEST_MAX_SIZE);
	is_int(len, REQUEST_MAX_SIZE, "test request built with 65536 bytes");
	r = scan_once(buf, len);
	is_int(r.state, REQUEST_COMPLETE, "a request of exactly 65536 bytes: COMPLETE");
	is_int(r.request_len, REQUEST_MAX_SIZE, "a request of 65536 bytes: request_len 65536");
	every_split("a request of 65536 bytes", buf, len, 257);
	request_parse(&req, buf, r.request_len);
	is_int(req.count, 8, "a request of 65536 bytes: 8 attributes");

	memcpy(buf + len, "next=1\n", 7);
	r = scan_once(buf, len + 7);
	ok(r.state == REQUEST_COMPLETE && r.request_len == REQUEST_MAX_SIZE,
	   "65536 bytes followed by the next request's bytes: COMPLETE at 65536");

	len = build_size(buf, REQUEST_MAX_SIZE + 1);
	is_int(len, REQUEST_MAX_SIZE + 1, "test request built with 65537 bytes");
	r = scan_once(buf, len);
	is_int(r.state, REQUEST_INVALID, "a request of 65537 bytes: INVALID");
	is_str(r.err, "request too large", "a request of 65537 bytes: \"request too large\"");
	is_int(r.offset, REQUEST_MAX_SIZE, "a request of 65537 bytes: offset of its 65537th byte");
	every_split("a request of 65537 bytes", buf, len, 257);
	r = scan_once(buf, len - 1);
	is_int(r.state, REQUEST_INCOMPLETE,
	       "its first 65536 bytes (no empty line yet): INCOMPLETE");

	/* A request that is still open at 65536 bytes cannot end within the limit. */
	len = 0;
	for (int i = 0; i < 8; i++)
		len += fill_line(buf + len, REQUEST_MAX_LINE - 1);
	is_int(len, REQUEST_MAX_SIZE, "eight lines of 8192 bytes with their LF fill 65536 bytes");
	r = scan_once(buf, len);
	is_int(r.state, REQUEST_INCOMPLETE, "65536 bytes of complete lines: INCOMPLETE");
	buf[len] = 'b';
	r = scan_once(buf, len + 1);
	is_int(r.state, REQUEST_INVALID, "one more byte of an open line: INVALID before its LF");
	is_str(r.err, "request too large", "one more byte of an open line: \"request too large\"");
	r = scan_split(buf, len + 1, len);
	ok(r.state == REQUEST_INVALID && r.offset == REQUEST_MAX_SIZE,
	   "fed in two parts: INVALID at offset 65536 when the 65537th byte arrives");
	free(buf);
}

/* test_attr_limit - REQUEST_MAX_ATTRS attributes are fine, one more is not. */
static void test_attr_limit(void)
{
	char buf[(REQUEST_MAX_ATTRS + 2) * 8];
	size_t len = 0;
	struct result r;

	for (int i = 0; i < REQUEST_MAX_ATTRS; i++) {
		memcpy(buf + len, "a=\n", 3);
		len += 3;
	}
	buf[len] = '\n';
	r = scan_once(buf, len + 1);
	is_int(r.state, REQUEST_COMPLETE, "256 attributes: COMPLETE");
	is_int(r.request_len, len + 1, "256 attributes: the whole request");
	every_split("256 attributes", buf, len + 1, 1);
	request_parse(&req, buf, r.request_len);
	is_int(req.count, REQUEST_MAX_ATTRS, "256 attributes: all indexed");
	ok(req.attr[255].name == buf + 255 * 3 && req.attr[255].name_len == 1 &&
		   req.attr[255].value_len == 0,
	   "256 attributes: the last one indexed in place");

	memcpy(buf + len, "b=\n\n", 4);
	r = scan_once(buf, len + 4);
	is_int(r.state, REQUEST_INVALID, "257 attributes: INVALID");
	is_str(r.err, "too many attributes", "257 attributes: \"too many attributes\"");
	is_int(r.offset, len, "257 attributes: offset is the start of the 257th line");
	every_split("257 attributes", buf, len + 4, 1);
	is_int(scan_once(buf, len + 2).state, REQUEST_INCOMPLETE,
	       "257th line not yet ended: INCOMPLETE (judged at its LF)");
}

/* expect_invalid - one scan of text: INVALID with message msg at offset, in every split. */
static void expect_invalid(const char *what, const char *text, size_t len, const char *msg,
			   size_t offset)
{
	struct result r = scan_once(text, len);

	ok(r.state == REQUEST_INVALID && r.err != NULL && strcmp(r.err, msg) == 0 &&
		   r.offset == offset,
	   "%s: INVALID \"%s\" at offset %zu", what, msg, offset);
	if (r.state != REQUEST_INVALID || r.offset != offset)
		printf("#   got %s \"%s\" at %zu\n", state_name(r.state), r.err ? r.err : "",
		       r.offset);
	every_split(what, text, len, 1);
}

/* test_violations - NUL, missing '=', empty names, empty requests, CRLF. */
static void test_violations(void)
{
	struct result r;

	expect_invalid("NUL byte in a value", "a=b\0c\n\n", 7, "NUL byte", 3);
	expect_invalid("NUL byte in a later line", "request=x\nsender=\0\n\n", 20, "NUL byte", 17);
	expect_invalid("NUL byte as the first byte", "\0", 1, "NUL byte", 0);
	expect_invalid("NUL byte where the empty line should be", "a=b\n\0", 5, "NUL byte", 4);
	r = scan_once("a=b\0", 4);
	is_int(r.state, REQUEST_INVALID, "NUL byte in an open line: INVALID before its LF");
	r = scan_once("a=b\n\n\0", 6);
	ok(r.state == REQUEST_COMPLETE && r.request_len == 5,
	   "NUL byte after the empty line belongs to the next request: this one is COMPLETE");

	expect_invalid("line without '='", "request=x\nfoo\n\n", 15, "line without '='", 10);
	expect_invalid("first line without '='", "foo\n\n", 5, "line without '='", 0);
	expect_invalid("line of one blank", "a=b\n \n\n", 7, "line without '='", 4);
	expect_invalid("\"=value\" (empty name)", "request=x\n=value\n\n", 18,
		       "attribute without a name", 10);
	expect_invalid("\"=\" alone (empty name)", "=\n\n", 3, "attribute without a name", 0);
	expect_invalid("empty request (first line empty)", "\n", 1, "empty request", 0);
	expect_invalid("empty request followed by attributes", "\na=b\n\n", 6, "empty request", 0);

	/* LF only: with CRLF the '\r' is part of the value, and "\r\n" is not an empty line. */
	r = scan_once("a=b\r\n\n", 6);
	ok(r.state == REQUEST_COMPLETE && r.request_len == 6,
	   "CRLF attribute line ended by a bare LF: COMPLETE ('\\r' stays part of the value)");
	request_parse(&req, "a=b\r\n\n", 6);
	ok(req.count == 1 && req.attr[0].value_len == 2 && memcmp(req.attr[0].value, "b\r", 2) == 0,
	   "CRLF line: the value is \"b\\r\", the '\\r' is not stripped");
	expect_invalid("CRLF request: \"\\r\\n\" is a line without '=', not the empty line",
		       "a=b\r\n\r\n", 7, "line without '='", 5);
	expect_invalid("CRLF request with a real Postfix first line",
		       "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\n\r\n", 52,
		       "line without '='", 50);
}

/* value_is - whether (v, len) holds exactly want. */
static bool value_is(const char *v, size_t len, const char *want)
{
	return v != NULL && len == strlen(want) && memcmp(v, want, len) == 0;
}

/* get_is - whether request_get gives exactly want for key in req. */
static bool get_is(enum request_key key, const char *want)
{
	size_t len = 99;
	const char *v = request_get(&req, key, &len);

	return value_is(v, len, want);
}

/* find_is - whether request_find gives exactly want for name in req. */
static bool find_is(const char *name, const char *want)
{
	size_t len = 99;
	const char *v = request_find(&req, name, strlen(name), &len);

	return value_is(v, len, want);
}

/* parse_text - scan text (which must be one complete request) and index it into req. */
static bool parse_text(const char *text)
{
	struct result r = scan_once(text, strlen(text));

	if (r.state != REQUEST_COMPLETE)
		return false;
	request_parse(&req, text, r.request_len);
	return true;
}

/* test_parse_fixture - every known attribute of a real request. */
static void test_parse_fixture(void)
{
	size_t len = 99;
	const char *v;

	ok(parse_text(rcpt_ipv4), "rcpt-ipv4 fixture parses");
	is_int(req.count, FIXTURE_ATTRS, "rcpt-ipv4 fixture: 29 attributes");
	ok(get_is(REQ_REQUEST, "smtpd_access_policy"), "request");
	ok(get_is(REQ_PROTOCOL_STATE, "RCPT"), "protocol_state");
	ok(get_is(REQ_CLIENT_ADDRESS, "192.0.2.10"), "client_address");
	ok(get_is(REQ_CLIENT_NAME, "unknown"), "client_name");
	ok(get_is(REQ_REVERSE_CLIENT_NAME, "unknown"), "reverse_client_name");
	ok(get_is(REQ_HELO_NAME, "vm"), "helo_name");
	ok(get_is(REQ_SENDER, "root@vm"), "sender");
	ok(get_is(REQ_RECIPIENT, "root@mx.test"), "recipient");
	ok(get_is(REQ_QUEUE_ID, ""), "queue_id present and empty");
	ok(req.known[REQ_QUEUE_ID] >= 0, "queue_id (empty) is indexed as present");
	ok(get_is(REQ_SASL_USERNAME, ""), "sasl_username empty");
	v = request_get(&req, REQ_CLIENT_ADDRESS, &len);
	ok(v > rcpt_ipv4 && v < rcpt_ipv4 + sizeof(rcpt_ipv4),
	   "values point into the caller's buffer");

	/* Attributes policyd does not use are kept and found by name. */
	ok(find_is("instance", "3445.6b09feaf.d9274.0"),
	   "unknown attribute instance found by name");
	ok(find_is("protocol_name", "ESMTP"), "unknown attribute protocol_name found by name");
	ok(find_is("policy_context", ""), "last attribute policy_context found (empty)");
	ok(find_is("client_address", "192.0.2.10"), "request_find also finds known attributes");
	ok(request_find(&req, "nosuch", 6, &len) == NULL, "absent attribute: NULL");
	ok(request_find(&req, "client", 6, &len) == NULL, "a prefix of a name does not match");
	ok(request_find(&req, "client_address_x", 16, &len) == NULL,
	   "a longer name does not match");
	ok(request_find(&req, "CLIENT_ADDRESS", 14, &len) == NULL, "names are case-sensitive");

	ok(parse_text(eom_ipv6), "end-of-message-ipv6 fixture parses");
	ok(get_is(REQ_CLIENT_ADDRESS, "2001:db8::25"), "IPv6 client_address is a bare address");
	ok(get_is(REQ_PROTOCOL_STATE, "END-OF-MESSAGE"), "END-OF-MESSAGE protocol_state");
	ok(get_is(REQ_QUEUE_ID, "8ED2210A15C"), "queue_id");
}

/* test_parse_rules - last one wins, '=' in values, absent vs empty, exact names. */
static void test_parse_rules(void)
{
	size_t len = 99;
	const char *v;

	ok(parse_text("client_address=192.0.2.1\nfoo=1\n"
		      "client_address=192.0.2.2\nfoo=2\nfoo=3\n\n"),
	   "repeated attributes parse");
	is_int(req.count, 5, "repeated attributes: every line indexed");
	ok(get_is(REQ_CLIENT_ADDRESS, "192.0.2.2"), "repeated known attribute: the last one wins");
	ok(find_is("foo", "3"), "repeated unknown attribute: the last one wins");
	is_int(req.known[REQ_CLIENT_ADDRESS], 2, "known index is the last occurrence");

	ok(parse_text("sender=a=b\nx==y\nhelo_name=h=\n\n"), "values holding '=' parse");
	ok(get_is(REQ_SENDER, "a=b"), "value with '=': the name ends at the first '='");
	ok(find_is("x", "=y"), "\"x==y\": value \"=y\"");
	ok(get_is(REQ_HELO_NAME, "h="), "value ending in '='");

	ok(parse_text("request=smtpd_access_policy\nsender=\n\n"), "empty value parses");
	v = request_get(&req, REQ_SENDER, &len);
	ok(v != NULL && len == 0, "present empty sender: length 0");
	ok(req.known[REQ_SENDER] >= 0, "present empty sender: indexed");
	ok(request_find(&req, "sender", 6, &len) != NULL && len == 0,
	   "request_find: present and empty is not NULL");
	len = 99;
	v = request_get(&req, REQ_RECIPIENT, &len);
	ok(v != NULL && len == 0 && strcmp(v, "") == 0, "absent recipient: \"\" and length 0");
	ok(req.known[REQ_RECIPIENT] == -1, "absent recipient: index -1");
	ok(request_find(&req, "recipient", 9, &len) == NULL, "request_find: absent is NULL");

	ok(parse_text("sender_x=1\nsende=2\nSender=3\nhelo=4\nclient_address_v6=5\n\n"),
	   "names near known names parse");
	ok(req.known[REQ_SENDER] == -1 && req.known[REQ_HELO_NAME] == -1 &&
		   req.known[REQ_CLIENT_ADDRESS] == -1,
	   "only exact, case-sensitive names are known attributes");
	is_int(req.count, 5, "near names kept as unknown attributes");

	ok(parse_text("a=1\n\nb=2\n\n"), "a request followed by another");
	ok(req.count == 1 && request_find(&req, "b", 1, &len) == NULL,
	   "request_parse stops at the request's own empty line");
}

/* test_key_names - every known key: its name, and that a request with it finds it. */
static void test_key_names(void)
{
	static const char *const names[REQ_KEY_COUNT] = {
		"request", "protocol_state", "client_address", "client_name", "reverse_client_name",
		"helo_name", "sender", "recipient", "queue_id", "sasl_username",
	};
	char text[128], want[32];

	for (int k = 0; k < REQ_KEY_COUNT; k++) {
		is_str(request_key_name((enum request_key)k), names[k], "request_key_name(%d)", k);
		snprintf(text, sizeof(text), "x=1\n%s=value-%d\ny=2\n\n", names[k], k);
		snprintf(want, sizeof(want), "value-%d", k);
		ok(parse_text(text) && get_is((enum request_key)k, want),
		   "%s is found by request_get", names[k]);
	}
}

int main(void)
{
	test_fixtures();
	test_incomplete();
	test_pipelined();
	test_line_limit();
	test_size_limit();
	test_attr_limit();
	test_violations();
	test_parse_fixture();
	test_parse_rules();
	test_key_names();
	return tap_done();
}
