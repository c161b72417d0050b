/*
 * fuzz_request - the policy protocol scanner and parser (common/request.h).
 *
 * Input: byte 0 gives the number of split points (0..8), each the next two bytes
 * (little endian, modulo the stream length); the rest is the byte stream a client
 * sends. The stream arrives in those pieces, as reads from a socket would, and is
 * framed as policyd's connection code frames it: every COMPLETE request is taken
 * off the front and scanning starts again on what follows (pipelining).
 *
 * Invariants: the framing does not depend on how the stream was split (same
 * requests, same final state as one read of the whole stream); a COMPLETE request
 * lies inside the bytes scanned, holds no NUL, ends in "\n\n" and keeps the limits;
 * request_parse indexes every line inside the request (attributes contiguous,
 * names non-empty and free of '=', nothing past request_len: the parser reads a
 * copy of exactly request_len bytes); request_get and request_find agree with a
 * plain reference search; request_compact (what a request waiting for DNS keeps)
 * parses back to the same known attributes, cut at its limit; request_parse_whole, the one-pass fast
 * path that conn.c tries first, agrees with request_scan and request_parse.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "request.h"

#define MAX_SPLITS 8
/* Requests compared between the split and the whole run; more are framed, not compared. */
#define MAX_RECORDED 4096

/* check_compact - the compact copy keeps every known attribute (cut at 64) and a named one. */
static void check_compact(const struct request *req)
{
	static struct request back;
	static char buf[REQUEST_MAX_SIZE];
	char name[64];
	char *names[1] = { name };
	size_t len, need, got;

	snprintf(name, sizeof(name), "%.*s",
		 req->count > 0 ? (int)(req->attr[0].name_len < 63 ? req->attr[0].name_len : 63) : 0,
		 req->count > 0 ? req->attr[0].name : "");
	need = request_compact(req, names, 1, 64, NULL, 0);
	FUZZ_CHECK(need <= sizeof(buf));
	got = request_compact(req, names, 1, 64, buf, need);
	FUZZ_CHECK(got == need && buf[need - 1] == '\n');
	request_parse(&back, buf, need);
	for (int k = 0; k < REQ_KEY_COUNT; k++) {
		size_t blen;
		const char *v = request_get(req, (enum request_key)k, &len);
		const char *b = request_get(&back, (enum request_key)k, &blen);
		FUZZ_CHECK(blen == (len > 64 ? 64 : len) && memcmp(v, b, blen) == 0);
	}
}

/* What framing a stream produced. */
struct outcome {
	size_t lens[MAX_RECORDED];
	size_t count;          /* COMPLETE requests */
	enum request_scan last; /* INCOMPLETE at the end of the stream, or INVALID */
	size_t consumed;       /* bytes taken by complete requests */
};

/* The request struct is large (256 attributes): keep it off the stack. */
static struct request req;

/* ref_find - the value of the last attribute called name, by a plain search. */
static const struct request_attr *ref_find(const struct request *r, const char *name, size_t len)
{
	const struct request_attr *found = NULL;

	for (unsigned i = 0; i < r->count; i++)
		if (r->attr[i].name_len == len && memcmp(r->attr[i].name, name, len) == 0)
			found = &r->attr[i];
	return found;
}

/* check_request - parse a complete request from an exact-size copy and check the index. */
static void check_request(const char *buf, size_t request_len)
{
	char *copy = malloc(request_len);
	size_t lines = 0, len;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, buf, request_len);
	FUZZ_CHECK(request_len >= 4); /* "a=\n\n" is the shortest request */
	FUZZ_CHECK(request_len <= REQUEST_MAX_SIZE);
	FUZZ_CHECK(memchr(copy, '\0', request_len) == NULL);
	FUZZ_CHECK(copy[request_len - 1] == '\n' && copy[request_len - 2] == '\n');
	for (size_t i = 0; i < request_len; i++)
		lines += copy[i] == '\n';

	request_parse(&req, copy, request_len);
	FUZZ_CHECK(req.count == lines - 1);
	FUZZ_CHECK(req.count >= 1 && req.count <= REQUEST_MAX_ATTRS);

	const char *next = copy;
	for (unsigned i = 0; i < req.count; i++) {
		const struct request_attr *a = &req.attr[i];
		FUZZ_CHECK(a->name == next);
		FUZZ_CHECK(a->name_len > 0 && a->name_len <= REQUEST_MAX_LINE);
		FUZZ_CHECK(a->value == a->name + a->name_len + 1);
		FUZZ_CHECK(a->value + a->value_len < copy + request_len);
		FUZZ_CHECK(a->name[a->name_len] == '=');
		FUZZ_CHECK(memchr(a->name, '=', a->name_len) == NULL);
		FUZZ_CHECK(memchr(a->name, '\n', a->name_len) == NULL);
		FUZZ_CHECK(memchr(a->value, '\n', a->value_len) == NULL);
		FUZZ_CHECK(a->value[a->value_len] == '\n');
		FUZZ_CHECK((size_t)(a->name_len + 1 + a->value_len) <= REQUEST_MAX_LINE);
		next = a->value + a->value_len + 1;
	}
	FUZZ_CHECK(next == copy + request_len - 1);

	check_compact(&req);

	for (int k = 0; k < REQ_KEY_COUNT; k++) {
		const char *key = request_key_name((enum request_key)k);
		const struct request_attr *want = ref_find(&req, key, strlen(key));
		const char *v = request_get(&req, (enum request_key)k, &len);
		if (want == NULL) {
			FUZZ_CHECK(req.known[k] == -1 && len == 0 && *v == '\0');
		} else {
			FUZZ_CHECK(v == want->value && len == want->value_len);
		}
	}
	for (unsigned i = 0; i < req.count; i++) {
		const struct request_attr *a = &req.attr[i];
		const struct request_attr *want = ref_find(&req, a->name, a->name_len);
		const char *v = request_find(&req, a->name, a->name_len, &len);
		FUZZ_CHECK(want != NULL && v == want->value && len == want->value_len);
	}
	static const char absent[] = "no_such_attribute_in_fuzz";
	if (ref_find(&req, absent, sizeof(absent) - 1) == NULL)
		FUZZ_CHECK(request_find(&req, absent, sizeof(absent) - 1, &len) == NULL);
	free(copy);
}

static struct request fast;

/*
 * check_whole - conn.c tries request_parse_whole first whenever a request starts
 * at the front of its buffer. It must agree with a fresh request_scan: true
 * exactly when the scan finds a COMPLETE request, with the same length, and the
 * same index as request_parse makes.
 */
static void check_whole(const char *buf, size_t avail)
{
	struct request_scanner fresh = { 0 };
	const char *err = NULL;
	size_t err_offset, scan_len = 0, fast_len = SIZE_MAX;
	bool whole = request_parse_whole(&fast, buf, avail, &fast_len);
	enum request_scan r = request_scan(&fresh, buf, avail, &scan_len, &err, &err_offset);

	FUZZ_CHECK(whole == (r == REQUEST_COMPLETE));
	if (!whole)
		return;
	FUZZ_CHECK(fast_len == scan_len);
	request_parse(&req, buf, scan_len);
	FUZZ_CHECK(fast.count == req.count);
	FUZZ_CHECK(memcmp(fast.known, req.known, sizeof(fast.known)) == 0);
	for (unsigned i = 0; i < req.count; i++) {
		FUZZ_CHECK(fast.attr[i].name == req.attr[i].name);
		FUZZ_CHECK(fast.attr[i].name_len == req.attr[i].name_len);
		FUZZ_CHECK(fast.attr[i].value == req.attr[i].value);
		FUZZ_CHECK(fast.attr[i].value_len == req.attr[i].value_len);
	}
}

/*
 * frame - scan stream[0..size) arriving in pieces that end at cuts[] (sorted, the
 * last one == size). Each arrival is copied into a block of exactly the bytes
 * received so far and not yet consumed, so that a read past them is caught.
 */
static void frame(const char *stream, size_t size, const size_t *cuts, size_t ncuts,
		  struct outcome *o)
{
	struct request_scanner s = { 0 };
	size_t consumed = 0;

	o->count = 0;
	o->consumed = 0;
	o->last = REQUEST_INCOMPLETE;
	for (size_t c = 0; c < ncuts; c++) {
		size_t avail = cuts[c] - consumed;
		size_t off = 0;
		char *buf = malloc(avail ? avail : 1);

		FUZZ_CHECK(buf != NULL);
		memcpy(buf, stream + consumed, avail);
		for (;;) {
			if (s.pos == 0)
				check_whole(buf + off, avail - off);
			const char *err = NULL;
			size_t err_offset = SIZE_MAX, request_len = SIZE_MAX;
			enum request_scan r = request_scan(&s, buf + off, avail - off, &request_len,
							   &err, &err_offset);

			FUZZ_CHECK(s.pos <= avail - off);
			if (r == REQUEST_INCOMPLETE)
				break;
			if (r == REQUEST_INVALID) {
				FUZZ_CHECK(err != NULL && *err != '\0');
				FUZZ_CHECK(err_offset <= avail - off);
				o->last = REQUEST_INVALID;
				free(buf);
				o->consumed = consumed + off;
				return;
			}
			FUZZ_CHECK(r == REQUEST_COMPLETE);
			FUZZ_CHECK(request_len > 0 && request_len <= avail - off);
			check_request(buf + off, request_len);
			if (o->count < MAX_RECORDED)
				o->lens[o->count] = request_len;
			o->count++;
			off += request_len;
			memset(&s, 0, sizeof(s));
		}
		/* Like conn.c: the unconsumed tail moves to the front of the buffer. */
		consumed += off;
		free(buf);
	}
	o->consumed = consumed;
}

static struct outcome split_run, whole_run;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cuts[MAX_SPLITS + 1];
	size_t ncuts = 0, head;

	if (size < 1)
		return 0;
	size_t nsplits = data[0] % (MAX_SPLITS + 1);
	head = 1 + 2 * nsplits;
	if (size < head)
		return 0;
	const char *stream = (const char *)data + head;
	size_t len = size - head;

	for (size_t i = 0; i < nsplits; i++) {
		size_t at = (size_t)data[1 + 2 * i] | (size_t)data[2 + 2 * i] << 8;
		cuts[ncuts++] = len ? at % (len + 1) : 0;
	}
	/* Sort the cut points (at most eight: insertion sort) and end with the whole stream. */
	for (size_t i = 1; i < ncuts; i++)
		for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];
			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	cuts[ncuts++] = len;

	frame(stream, len, cuts, ncuts, &split_run);
	if (ncuts > 1) {
		size_t whole[1] = { len };
		frame(stream, len, whole, 1, &whole_run);
		/* How the bytes arrived must not change the framing. */
		FUZZ_CHECK(split_run.count == whole_run.count);
		FUZZ_CHECK(split_run.last == whole_run.last);
		FUZZ_CHECK(split_run.consumed == whole_run.consumed);
		size_t n = split_run.count < MAX_RECORDED ? split_run.count : MAX_RECORDED;
		FUZZ_CHECK(memcmp(split_run.lens, whole_run.lens, n * sizeof(size_t)) == 0);
	}
	return 0;
}
