/*
 * request - incremental scanning and in-place parsing of policy requests (see
 * request.h). All input is untrusted; limits are checked before anything is
 * indexed. Nothing is allocated; struct request points into the caller's buffer.
 */
#include "request.h"

#include <string.h>

static const char *const key_names[REQ_KEY_COUNT] = {
	[REQ_REQUEST] = "request",
	[REQ_PROTOCOL_STATE] = "protocol_state",
	[REQ_CLIENT_ADDRESS] = "client_address",
	[REQ_CLIENT_NAME] = "client_name",
	[REQ_REVERSE_CLIENT_NAME] = "reverse_client_name",
	[REQ_HELO_NAME] = "helo_name",
	[REQ_SENDER] = "sender",
	[REQ_RECIPIENT] = "recipient",
	[REQ_QUEUE_ID] = "queue_id",
	[REQ_SASL_USERNAME] = "sasl_username",
};

/* invalid - record a violation and its offset. */
static enum request_scan invalid(const char **err, size_t *err_offset, const char *msg, size_t at)
{
	*err = msg;
	*err_offset = at;
	return REQUEST_INVALID;
}

/* check_line - a complete attribute line buf[start..end) must hold '=' after a name. */
static const char *check_line(const char *buf, size_t start, size_t end)
{
	const char *eq = memchr(buf + start, '=', end - start);

	if (eq == NULL)
		return "line without '='";
	if (eq == buf + start)
		return "attribute without a name";
	return NULL;
}

/*
 * request_scan - walk line by line from where the last call stopped. Limits are
 * checked on partial lines too, so that a client cannot make us buffer more than
 * REQUEST_MAX_SIZE bytes while it keeps a line open.
 */
enum request_scan request_scan(struct request_scanner *s, const char *buf, size_t len,
			       size_t *request_len, const char **err, size_t *err_offset)
{
	while (s->pos < len) {
		size_t avail = len - s->pos;
		const char *nl = memchr(buf + s->pos, '\n', avail);
		size_t chunk = nl ? (size_t)(nl - (buf + s->pos)) : avail;
		const char *nul = memchr(buf + s->pos, '\0', chunk);

		if (nul != NULL)
			return invalid(err, err_offset, "NUL byte", (size_t)(nul - buf));
		if (s->pos + chunk - s->line_start > REQUEST_MAX_LINE)
			return invalid(err, err_offset, "line too long", s->line_start);
		if (s->pos + chunk + (nl != NULL) > REQUEST_MAX_SIZE)
			return invalid(err, err_offset, "request too large", s->pos);
		if (nl == NULL) {
			s->pos = len;
			return REQUEST_INCOMPLETE;
		}
		size_t end = s->pos + chunk;
		s->pos = end + 1;
		if (end == s->line_start) {
			if (s->attrs == 0)
				return invalid(err, err_offset, "empty request", end);
			*request_len = s->pos;
			return REQUEST_COMPLETE;
		}
		const char *why = check_line(buf, s->line_start, end);
		if (why != NULL)
			return invalid(err, err_offset, why, s->line_start);
		if (++s->attrs > REQUEST_MAX_ATTRS)
			return invalid(err, err_offset, "too many attributes", s->line_start);
		s->line_start = s->pos;
	}
	return REQUEST_INCOMPLETE;
}

/*
 * lookup_key - which known attribute a name is, or REQ_KEY_COUNT for none. The
 * length picks the one candidate (two share 9 and 14 bytes), so each attribute
 * costs one memcmp at most; this runs for every line of every request.
 */
static inline __attribute__((always_inline)) enum request_key lookup_key(const char *name,
									 size_t len)
{
	enum request_key k;

	switch (len) {
	case 6: k = REQ_SENDER; break;
	case 7: k = REQ_REQUEST; break;
	case 8: k = REQ_QUEUE_ID; break;
	case 9: k = name[0] == 'h' ? REQ_HELO_NAME : REQ_RECIPIENT; break;
	case 11: k = REQ_CLIENT_NAME; break;
	case 13: k = REQ_SASL_USERNAME; break;
	case 14: k = name[0] == 'c' ? REQ_CLIENT_ADDRESS : REQ_PROTOCOL_STATE; break;
	case 19: k = REQ_REVERSE_CLIENT_NAME; break;
	default: return REQ_KEY_COUNT;
	}
	/* The last byte tells most same-length names apart (client_port, server_port,
	 * etrn_domain...) before any call. */
	const char *known = key_names[k];
	return known[len - 1] == name[len - 1] && memcmp(name, known, len) == 0 ? k : REQ_KEY_COUNT;
}

/* add_attr - index one line (name before '=' at eq, value after it). */
static inline __attribute__((always_inline)) void add_attr(struct request *r, const char *line,
							   const char *eq, size_t line_len)
{
	struct request_attr *a = &r->attr[r->count];

	a->name = line;
	a->name_len = (uint16_t)(eq - line);
	a->value = eq + 1;
	a->value_len = (uint16_t)(line_len - a->name_len - 1);
	enum request_key k = lookup_key(a->name, a->name_len);
	if (k != REQ_KEY_COUNT)
		r->known[k] = (int16_t)r->count;
	r->count++;
}

/* reset - an empty request index. */
static void reset(struct request *r)
{
	r->count = 0;
	for (int k = 0; k < REQ_KEY_COUNT; k++)
		r->known[k] = -1;
}

/*
 * end_line - a line of the fast path ends at nl: index it, or say why the fast
 * path gives up (the scanner then finds the exact violation). Returns 1 for a
 * line, 2 for the request's end, 0 to give up.
 */
static inline __attribute__((always_inline)) int end_line(struct request *r, const char *buf,
							  size_t line_start, size_t nl,
							  const char *eq, size_t *request_len)
{
	size_t line_len = nl - line_start;

	if (line_len == 0) {
		*request_len = nl + 1;
		return r->count > 0 ? 2 : 0;
	}
	if (line_len > REQUEST_MAX_LINE || r->count == REQUEST_MAX_ATTRS || eq == NULL ||
	    eq == buf + line_start)
		return 0;
	add_attr(r, buf + line_start, eq, line_len);
	return 1;
}

/*
 * request_parse_whole - the common case in one pass: a whole, valid request at
 * the start of buf is found and indexed at once. Anything else (incomplete, or
 * any violation) returns false and leaves the verdict to request_scan, which
 * knows every rule and every error offset. (A 16-bytes-at-a-time SSE2 scan was
 * tried and measured: no fewer instructions, since the per-line bookkeeping, not
 * the search for LF and '=', is what costs.)
 */
bool request_parse_whole(struct request *r, const char *buf, size_t len, size_t *request_len)
{
	size_t limit = len < REQUEST_MAX_SIZE ? len : REQUEST_MAX_SIZE;
	size_t pos = 0;

	reset(r);
	while (pos < limit) {
		const char *nl = memchr(buf + pos, '\n', limit - pos);
		if (nl == NULL)
			return false;
		size_t end = (size_t)(nl - buf);
		int rc = end_line(r, buf, pos, end, memchr(buf + pos, '=', end - pos), request_len);
		if (rc != 1)
			return rc == 2 && memchr(buf, '\0', end) == NULL;
		pos = end + 1;
	}
	return false;
}

/* request_parse - index each line of a scanned request; lengths fit by the scan's limits. */
void request_parse(struct request *r, const char *buf, size_t request_len)
{
	size_t pos = 0;
	size_t end = request_len - 1; /* the terminating empty line's LF */

	reset(r);
	while (pos < end && r->count < REQUEST_MAX_ATTRS) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', end - pos);
		size_t line_len = (size_t)(nl - line);
		add_attr(r, line, memchr(line, '=', line_len), line_len);
		pos += line_len + 1;
	}
}

/* request_find - search from the end, because the last occurrence wins. */
const char *request_find(const struct request *r, const char *name, size_t name_len, size_t *len)
{
	for (unsigned i = r->count; i-- > 0;) {
		const struct request_attr *a = &r->attr[i];
		if (a->name_len == name_len && memcmp(a->name, name, name_len) == 0) {
			*len = a->value_len;
			return a->value;
		}
	}
	return NULL;
}

/* put_attr - one "name=value\n" line, the value cut at value_max; counts what it would need. */
static size_t put_attr(char *out, size_t size, size_t used, const char *name, size_t name_len,
		       const char *value, size_t value_len, size_t value_max)
{
	size_t n;

	if (value_len > value_max)
		value_len = value_max;
	n = name_len + 1 + value_len + 1;
	if (used + n <= size) {
		memcpy(out + used, name, name_len);
		out[used + name_len] = '=';
		memcpy(out + used + name_len + 1, value, value_len);
		out[used + n - 1] = '\n';
	}
	return n;
}

/*
 * request_compact - the known attributes and the named ones (each value cut at
 * value_max bytes), as a new request text ending in its empty line. Returns the
 * bytes it needs; it wrote them only if that is at most size.
 */
size_t request_compact(const struct request *r, char *const *names, size_t count, size_t value_max,
		       char *out, size_t size)
{
	size_t used = 0;

	for (int k = 0; k < REQ_KEY_COUNT; k++) {
		size_t len;
		const char *v = request_get(r, (enum request_key)k, &len);
		if (r->known[k] >= 0)
			used += put_attr(out, size, used, key_names[k], strlen(key_names[k]), v,
					 len, value_max);
	}
	for (size_t i = 0; i < count; i++) {
		size_t name_len = strlen(names[i]), len;
		const char *v = request_find(r, names[i], name_len, &len);
		if (v != NULL && lookup_key(names[i], name_len) == REQ_KEY_COUNT)
			used += put_attr(out, size, used, names[i], name_len, v, len, value_max);
	}
	if (used + 1 <= size)
		out[used] = '\n';
	return used + 1;
}

/* request_key_name - the protocol name of a known attribute. */
const char *request_key_name(enum request_key key)
{
	return key_names[key];
}
