/*
 * request - the Postfix policy delegation protocol: an incremental scanner that
 * finds where a request ends in bytes that may arrive split anywhere, and a parser
 * that indexes the attributes of a complete request in place.
 *
 * A request is "name=value" lines ended by an empty line, LF only. Limits: a
 * line at most REQUEST_MAX_LINE bytes, a request at most REQUEST_MAX_SIZE
 * bytes and REQUEST_MAX_ATTRS attributes; a NUL byte or a line
 * without '=' is a violation. The input is untrusted client data.
 *
 * Memory: nothing is allocated. struct request points into the caller's buffer
 * and is valid only while that buffer holds the request unchanged.
 */
#ifndef POLICYD_REQUEST_H
#define POLICYD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQUEST_MAX_LINE 8192
#define REQUEST_MAX_SIZE 65536
#define REQUEST_MAX_ATTRS 256

/* Where the scan of the current request stands; zero it to start a request. */
struct request_scanner {
	size_t pos;        /* bytes of the request already scanned */
	size_t line_start; /* offset of the line being scanned */
	unsigned attrs;    /* complete attribute lines seen */
};

enum request_scan {
	REQUEST_INCOMPLETE, /* need more bytes */
	REQUEST_COMPLETE,   /* a whole request of *request_len bytes, terminator included */
	REQUEST_INVALID,    /* a violation: *err says which; close the connection */
};

/*
 * request_scan - continue scanning untrusted bytes buf[0..len), where buf starts at
 * the first byte of the request and len only grows between calls. On
 * REQUEST_INVALID, *err is a static message and *err_offset where it was found.
 */
enum request_scan request_scan(struct request_scanner *s, const char *buf, size_t len,
			       size_t *request_len, const char **err, size_t *err_offset);

/* The attributes that policyd itself looks at. */
enum request_key {
	REQ_REQUEST,
	REQ_PROTOCOL_STATE,
	REQ_CLIENT_ADDRESS,
	REQ_CLIENT_NAME,
	REQ_REVERSE_CLIENT_NAME,
	REQ_HELO_NAME,
	REQ_SENDER,
	REQ_RECIPIENT,
	REQ_QUEUE_ID,
	REQ_SASL_USERNAME,
	REQ_KEY_COUNT,
};

struct request_attr {
	const char *name;
	const char *value;
	uint16_t name_len;
	uint16_t value_len;
};

struct request {
	unsigned count;
	int16_t known[REQ_KEY_COUNT]; /* index into attr, -1 when absent; the last one wins */
	struct request_attr attr[REQUEST_MAX_ATTRS];
};

/*
 * request_parse - index the attributes of a complete request (as found by
 * request_scan, request_len bytes at buf). Cannot fail on scanned input.
 */
void request_parse(struct request *r, const char *buf, size_t request_len);

/*
 * request_parse_whole - scan and index in one pass when buf (untrusted) starts
 * with a whole, valid request: true with *request_len set. False means "use
 * request_scan": the request is incomplete or breaks a rule. Never reports a
 * request that request_scan would refuse.
 */
bool request_parse_whole(struct request *r, const char *buf, size_t len, size_t *request_len);

/*
 * request_get - value of a known attribute ("" when absent); *len gets its length.
 * Inline: a request's decision, reply and log line ask for about twenty values.
 */
static inline const char *request_get(const struct request *r, enum request_key key, size_t *len)
{
	int i = r->known[key];

	if (i < 0) {
		*len = 0;
		return "";
	}
	*len = r->attr[i].value_len;
	return r->attr[i].value;
}

/* request_find - value of any attribute by name, the last occurrence; NULL when absent. */
const char *request_find(const struct request *r, const char *name, size_t name_len, size_t *len);

/*
 * request_compact - what a request that must wait keeps of itself: the attributes
 * policyd reads (enum request_key) and those named in names (what reply
 * templates show), each value cut at value_max bytes, as a new request text that
 * request_parse() can index. Returns the bytes needed, written only when they fit
 * in size (call with size 0 to measure).
 */
size_t request_compact(const struct request *r, char *const *names, size_t count, size_t value_max,
		       char *out, size_t size);

/* request_key_name - the attribute name of a known key. */
const char *request_key_name(enum request_key key);

#endif
