/*
 * test_request_fast - request_parse_whole (the one-pass fast path) against the
 * reference, request_scan + request_parse: on random valid and broken inputs; on
 * a request with an LF, a '=', a NUL or a plain byte put at each offset in turn
 * and the buffer cut at each length (so every byte lands on each side of the
 * 64-byte blocks the SSE2 version reads, and at the buffer's end); and at each
 * limit and one over it. Whenever the fast path answers, it must agree exactly;
 * whenever the reference finds a whole request, the fast path must find it too
 * (or the daemon would silently take the slow road). meson builds this test
 * twice, the second time with POLICYD_PORTABLE: the memchr version, which other
 * architectures run, is checked on every build too.
 * Memory: fixed buffers on the stack and in static storage; each buffer checked
 * at a boundary is copied into a heap block of exactly its size, freed at once,
 * so that a read past it shows under valgrind or ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "tap.h"

static struct request fast, slow;
static char buf[REQUEST_MAX_SIZE + 4096];

/* rnd - a small deterministic generator, so that failures repeat. */
static unsigned long long state = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
	state ^= state << 13, state ^= state >> 7, state ^= state << 17;
	return (unsigned)(state % n);
}

/* build - a request of random attributes, then maybe one damage; returns its length. */
static size_t build(void)
{
	static const char *const names[] = { "request",     "client_address", "helo_name",
					     "sender",      "sasl_username",  "x",
					     "client_port", "protocol_state" };
	size_t len = 0;
	unsigned attrs = 1 + rnd(rnd(10) == 0 ? 300 : 30);

	for (unsigned i = 0; i < attrs && len < sizeof(buf) - 9000; i++) {
		unsigned vlen = rnd(rnd(50) == 0 ? 9000 : 40);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s=", names[rnd(8)]);
		for (unsigned k = 0; k < vlen; k++)
			buf[len++] = "ab=c.1:@ "[rnd(9)];
		buf[len++] = '\n';
	}
	buf[len++] = '\n';
	switch (rnd(8)) {
	case 0: buf[rnd((unsigned)len)] = '\0'; break; /* NUL somewhere */
	case 1: buf[rnd((unsigned)len)] = '\n'; break; /* a line split, maybe empty */
	case 2: len = rnd((unsigned)len); break;       /* cut short */
	case 3:
		memmove(buf + 1, buf, len++);
		buf[0] = '\n';
		break; /* empty request first */
	case 4: len += (size_t)snprintf(buf + len, 64, "next=1\n\n"); break; /* pipelined */
	default: break;
	}
	return len;
}

/* same - identical indexes of one buffer. */
static bool same(const struct request *a, const struct request *b)
{
	if (a->count != b->count || memcmp(a->known, b->known, sizeof(a->known)) != 0)
		return false;
	for (unsigned i = 0; i < a->count; i++)
		if (a->attr[i].name != b->attr[i].name || a->attr[i].value != b->attr[i].value ||
		    a->attr[i].name_len != b->attr[i].name_len ||
		    a->attr[i].value_len != b->attr[i].value_len)
			return false;
	return true;
}

/*
 * agrees - whether the fast path and the reference give the same answer on the len
 * bytes at text (copied into a block of exactly that size): the same verdict, and
 * for a whole request the same length and index. *whole says which it was.
 */
static bool agrees(const char *text, size_t len, bool *whole)
{
	char *copy = malloc(len ? len : 1);
	struct request_scanner scan = { 0 };
	size_t fast_len = 0, slow_len = 0, off;
	const char *err;

	if (copy == NULL)
		abort();
	memcpy(copy, text, len);
	bool f = request_parse_whole(&fast, copy, len, &fast_len);
	enum request_scan s = request_scan(&scan, copy, len, &slow_len, &err, &off);
	bool same_answer = f == (s == REQUEST_COMPLETE);
	if (f && same_answer) {
		request_parse(&slow, copy, slow_len);
		same_answer = fast_len == slow_len && same(&fast, &slow);
	}
	free(copy);
	*whole = s == REQUEST_COMPLETE;
	return same_answer;
}

/*
 * A request of 270 bytes: lines of many lengths; a value of 130 bytes, so that the
 * block of bytes 128 to 191 holds no LF at all; a name of 66 bytes whose '=' is in
 * the block after the one it starts in; '=' in values; an empty value. Then a
 * pipelined request.
 */
static const char edges[] =
	"request=smtpd_access_policy\n"
	"a=b\n"
	"client_address=192.0.2.1\n"
	"sender=\n"
	"x=0123456789012345678901234567890123456789012345678901234567890123456789"
	"012345678901234567890123456789012345678901234567890123456789\n"
	"name_of_sixty_six_bytes_that_crosses_a_block_boundary_abcdefghijkl=v=w\n"
	"\n"
	"next=1\n\n";

/*
 * test_edges - each of LF, '=', NUL and 'x' at each offset of edges, the buffer cut
 * at each length; returns the count of disagreements, *checked and *found the
 * cases tried and the whole requests among them.
 */
static unsigned test_edges(unsigned *checked, unsigned *found)
{
	static const char bytes[] = { '\n', '=', '\0', 'x' };
	char text[sizeof(edges)];
	size_t size = sizeof(edges) - 1;
	unsigned bad = 0;
	bool whole;

	for (size_t at = 0; at < size; at++) {
		for (size_t b = 0; b < sizeof(bytes); b++) {
			memcpy(text, edges, size);
			text[at] = bytes[b];
			for (size_t len = 0; len <= size; len++) {
				(*checked)++;
				if (!agrees(text, len, &whole))
					bad++;
				*found += whole;
			}
		}
	}
	return bad;
}

/* limit_case - agreement on buf[0..len), and whether it was a whole request. */
static bool limit_case(size_t len, bool want_whole)
{
	bool whole;

	return agrees(buf, len, &whole) && whole == want_whole;
}

/* line_of - at buf + at, a line "a=..." of exactly line_len bytes and its LF; returns its end. */
static size_t line_of(size_t at, size_t line_len)
{
	memcpy(buf + at, "a=", 2);
	memset(buf + at + 2, 'v', line_len - 2);
	buf[at + line_len] = '\n';
	return at + line_len + 1;
}

/* test_limits - each limit at its bound (whole) and one over it (refused). */
static void test_limits(void)
{
	size_t end;

	for (size_t first = 0; first < 2; first++) {
		/* A line of REQUEST_MAX_LINE bytes, first or after a short one. */
		for (size_t extra = 0; extra < 2; extra++) {
			end = first ? line_of(0, 3) : 0;
			end = line_of(end, REQUEST_MAX_LINE + extra);
			buf[end++] = '\n';
			ok(limit_case(end, extra == 0),
			   "a line of REQUEST_MAX_LINE%s bytes (%s): %s", extra ? " + 1" : "",
			   first ? "second" : "first", extra ? "refused" : "whole");
		}
	}
	for (size_t extra = 0; extra < 2; extra++) {
		end = 0;
		for (size_t i = 0; i < REQUEST_MAX_ATTRS + extra; i++)
			end = line_of(end, 2 + i % 70);
		buf[end++] = '\n';
		ok(limit_case(end, extra == 0), "REQUEST_MAX_ATTRS%s attributes: %s",
		   extra ? " + 1" : "", extra ? "refused" : "whole");
	}
	for (size_t extra = 0; extra < 2; extra++) {
		/* Eight lines of 8190 bytes and one that brings the request to its limit. */
		end = 0;
		for (int i = 0; i < 8; i++)
			end = line_of(end, REQUEST_MAX_LINE - 2);
		end = line_of(end, REQUEST_MAX_SIZE - end - 2 + extra);
		buf[end++] = '\n';
		ok(end == REQUEST_MAX_SIZE + extra, "built a request of %zu bytes", end);
		ok(limit_case(end, extra == 0), "a request of REQUEST_MAX_SIZE%s bytes: %s",
		   extra ? " + 1" : "", extra ? "refused" : "whole");
		memcpy(buf + end, "more=1\n\n", 8);
		ok(limit_case(end + 8, extra == 0), "the same with a request after it: %s",
		   extra ? "refused" : "whole");
	}
}

int main(void)
{
	unsigned agreed = 0, found = 0, disagreed = 0, missed = 0;
	unsigned checked = 0, whole = 0;

	for (int round = 0; round < 20000; round++) {
		size_t len = build(), fast_len = 0, slow_len = 0, off;
		struct request_scanner scan = { 0 };
		const char *err;
		bool f = request_parse_whole(&fast, buf, len, &fast_len);
		enum request_scan s = request_scan(&scan, buf, len, &slow_len, &err, &off);

		if (s == REQUEST_COMPLETE)
			request_parse(&slow, buf, slow_len);
		if (f) {
			found++;
			if (s == REQUEST_COMPLETE && slow_len == fast_len && same(&fast, &slow))
				agreed++;
			else
				disagreed++;
		} else if (s == REQUEST_COMPLETE) {
			missed++;
		}
	}
	ok(found > 5000, "the fast path found %u whole requests in 20,000 random buffers", found);
	is_int(disagreed, 0, "it never disagrees with request_scan + request_parse (%u agreed)",
	       agreed);
	is_int(missed, 0, "it finds every whole request that the scanner finds");
	unsigned edge_failures = test_edges(&checked, &whole);
	is_int(edge_failures, 0,
	       "LF, '=', NUL, 'x' at each offset, each cut: same answers (%u cases, %u whole)",
	       checked, whole);
	ok(whole > 1000, "the edge cases hold whole requests");
	test_limits();
	return tap_done();
}
