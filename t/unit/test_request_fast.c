/*
 * test_request_fast - request_parse_whole (the one-pass fast path) against the
 * reference, request_scan + request_parse, on random valid and broken inputs.
 * Whenever the fast path answers, it must agree exactly; whenever the reference
 * finds a whole request in a buffer without NUL bytes, the fast path must find
 * it too (or the daemon would silently take the slow road).
 * Memory: fixed buffers on the stack and in static storage.
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
	static const char *const names[] = { "request", "client_address", "helo_name", "sender",
					     "sasl_username", "x", "client_port", "protocol_state" };
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
	case 0: buf[rnd((unsigned)len)] = '\0'; break;            /* NUL somewhere */
	case 1: buf[rnd((unsigned)len)] = '\n'; break;            /* a line split, maybe empty */
	case 2: len = rnd((unsigned)len); break;                  /* cut short */
	case 3: memmove(buf + 1, buf, len++); buf[0] = '\n'; break; /* empty request first */
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

int main(void)
{
	unsigned agreed = 0, found = 0, disagreed = 0, missed = 0;

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
		} else if (s == REQUEST_COMPLETE && memchr(buf, '\0', len) == NULL) {
			missed++;
		}
	}
	ok(found > 5000, "the fast path found %u whole requests in 20,000 random buffers", found);
	is_int(disagreed, 0, "it never disagrees with request_scan + request_parse (%u agreed)", agreed);
	is_int(missed, 0, "it finds every whole request without NUL bytes that the scanner finds");
	return tap_done();
}
