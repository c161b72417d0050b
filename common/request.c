/*
 * request - incremental scanning and in-place parsing of policy requests (see
 * request.h). All input is untrusted; limits are checked before anything is
 * indexed. Nothing is allocated; struct request points into the caller's buffer.
 */
#include "request.h"
#include "hot.h"

#include <string.h>

/* The one-pass parser reads 64 bytes at a time with SSE2 (simd.h); its portable form
 * uses memchr. */
#include "simd.h"

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
 * load32, load64 - the bytes at p as one integer, for comparing names a word at a
 * time. memcpy makes the unaligned load well defined; compilers turn it into one
 * instruction, and with a string literal for p into a constant.
 */
static inline uint32_t load32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t load64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * same_name - whether name holds the len bytes of known (4 <= len <= 24). Two or
 * three overlapping word loads from each side, all inside the len bytes, replace
 * a call to memcmp: len is a constant in every caller, so this inlines to a few
 * compares against immediates.
 */
static inline __attribute__((always_inline)) bool same_name(const char *name, const char *known,
							    size_t len)
{
	if (len < 8)
		return load32(name) == load32(known) &&
		       load32(name + len - 4) == load32(known + len - 4);
	if (len <= 16)
		return load64(name) == load64(known) &&
		       load64(name + len - 8) == load64(known + len - 8);
	return load64(name) == load64(known) && load64(name + 8) == load64(known + 8) &&
	       load64(name + len - 8) == load64(known + len - 8);
}

/* match - k if name (len bytes, the length of k's name) is k's name, else REQ_KEY_COUNT. */
static inline __attribute__((always_inline)) enum request_key match(const char *name, size_t len,
								    enum request_key k)
{
	return same_name(name, key_names[k], len) ? k : REQ_KEY_COUNT;
}

/*
 * lookup_key - which known attribute a name is, or REQ_KEY_COUNT for none. The
 * length picks the one candidate (two share 9 and 14 bytes, told apart by their
 * first byte), so each attribute costs one inline comparison at most; this runs
 * for every line of every request.
 */
static inline __attribute__((always_inline)) enum request_key lookup_key(const char *name,
									 size_t len)
{
	switch (len) {
	case 6: return match(name, 6, REQ_SENDER);
	case 7: return match(name, 7, REQ_REQUEST);
	case 8: return match(name, 8, REQ_QUEUE_ID);
	case 9:
		return name[0] == 'h' ? match(name, 9, REQ_HELO_NAME)
				      : match(name, 9, REQ_RECIPIENT);
	case 11: return match(name, 11, REQ_CLIENT_NAME);
	case 13: return match(name, 13, REQ_SASL_USERNAME);
	case 14:
		return name[0] == 'c' ? match(name, 14, REQ_CLIENT_ADDRESS)
				      : match(name, 14, REQ_PROTOCOL_STATE);
	case 19: return match(name, 19, REQ_REVERSE_CLIENT_NAME);
	default: return REQ_KEY_COUNT;
	}
}

/* add_attr - index line n: the name from line up to the '=' at eq, the value up to end. */
static inline __attribute__((always_inline)) void
add_attr(struct request *r, unsigned n, const char *line, const char *eq, const char *end)
{
	struct request_attr *a = &r->attr[n];
	size_t name_len = (size_t)(eq - line);

	a->name = line;
	a->value = eq + 1;
	a->name_len = (uint16_t)name_len;
	a->value_len = (uint16_t)(end - eq - 1);
	enum request_key k = lookup_key(line, name_len);
	if (k != REQ_KEY_COUNT)
		r->known[k] = (int16_t)n;
}

/* reset - an empty request index. */
static void reset(struct request *r)
{
	r->count = 0;
	for (int k = 0; k < REQ_KEY_COUNT; k++)
		r->known[k] = -1;
}

#if SIMD_SSE2
/* bit_index - the position of the lowest set bit of x, which is not 0. */
static inline __attribute__((always_inline)) size_t bit_index(uint64_t x)
{
	return (unsigned)__builtin_ctzll(x);
}

/* mask16 - one bit for each of the 16 bytes of v that equal those of c. */
static inline __attribute__((always_inline)) uint64_t mask16(__m128i v, __m128i c)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, c));
}

/*
 * block_masks - one bit per byte of the 64 bytes at p (all of them readable): in
 * *nl the LFs, in *eq the '='s; the return value has a bit for each NUL. The NUL
 * test takes the bytewise minimum of the four vectors first, so a block without
 * NUL (nearly all of them) costs one comparison for it, not four. Written out,
 * not as a loop: GCC at -O2 keeps a loop and spills the vectors to the stack.
 */
static inline __attribute__((always_inline)) uint64_t block_masks(const char *p, uint64_t *nl,
								  uint64_t *eq)
{
	const __m128i lf = _mm_set1_epi8('\n'), is = _mm_set1_epi8('='), zero = _mm_setzero_si128();
	__m128i a = simd_load16(p), b = simd_load16(p + 16);
	__m128i c = simd_load16(p + 32), d = simd_load16(p + 48);

	*nl = mask16(a, lf) | mask16(b, lf) << 16 | mask16(c, lf) << 32 | mask16(d, lf) << 48;
	*eq = mask16(a, is) | mask16(b, is) << 16 | mask16(c, is) << 32 | mask16(d, is) << 48;
	if (mask16(_mm_min_epu8(_mm_min_epu8(a, b), _mm_min_epu8(c, d)), zero) == 0)
		return 0;
	return mask16(a, zero) | mask16(b, zero) << 16 | mask16(c, zero) << 32 |
	       mask16(d, zero) << 48;
}

/*
 * request_parse_whole - the common case in one pass: a whole, valid request at
 * the start of buf is found and indexed at once. Anything else (incomplete, or
 * any violation) returns false and leaves the verdict to request_scan, which
 * knows every rule and every error offset.
 *
 * The bytes are read 64 at a time with SSE2 into bit masks of LFs (L) and '='s
 * (E), and the rules are checked on whole blocks with a few operations on those
 * masks, so that a line costs only what indexing it needs:
 *  - T, the line starts: after each LF, and at bit 0 when a line starts there.
 *  - F, the first marker (LF or '=') of each line: subtracting a start bit from
 *    M = E | L borrows through the zeros up to the first marker above it and
 *    clears that bit, so F = M & ~(M - S). S is T, plus bit 0 when the line
 *    carried over from the previous block has not had its '=' yet.
 *  - the request ends at the first empty line, an LF at a start (L & T); before
 *    it, no line may have an LF as its first marker unless it is empty (a line
 *    without '='), nor a '=' at its start (an empty name).
 * Then each line takes the next bit of L for its end and of F for its '='.
 * Nothing is read at or past min(len, REQUEST_MAX_SIZE): the last, partial block
 * is the 64 bytes that end there with the bits already seen shifted out, and a
 * buffer shorter than 64 bytes is copied into one that is not.
 */
HOT bool request_parse_whole(struct request *r, const char *buf, size_t len, size_t *request_len)
{
	size_t limit = len < REQUEST_MAX_SIZE ? len : REQUEST_MAX_SIZE;
	size_t base = 0;
	const char *line = buf, *eq = NULL; /* the line being read, its '=' once seen */
	unsigned n = 0;

	reset(r);
	while (base < limit) {
		const char *at = buf + base;
		uint64_t nl, eqs, nul;
		if (limit - base >= 64) {
			nul = block_masks(at, &nl, &eqs);
		} else if (limit >= 64) {
			unsigned seen = (unsigned)(64 - (limit - base));
			nul = block_masks(buf + limit - 64, &nl, &eqs) >> seen;
			nl >>= seen;
			eqs >>= seen;
		} else {
			/* The bytes past limit are neither LF nor '=' nor NUL. */
			char small[64];
			memset(small, ' ', sizeof(small));
			memcpy(small, buf, limit);
			nul = block_masks(small, &nl, &eqs);
		}
		/* Only the LFs before a NUL may end a line, and this block is the last. */
		if (nul != 0) {
			nl &= (nul & -nul) - 1;
			limit = 0;
		}
		uint64_t starts = nl << 1 | (line == at);
		uint64_t marks = eqs | nl;
		uint64_t first = marks & ~(marks - (nl << 1 | (eq == NULL)));
		uint64_t stop = nl & starts;
		uint64_t bad = (first & nl & ~starts) | (eqs & starts);
		if (stop != 0) {
			/* The lines up to the empty one that ends the request. */
			uint64_t before = (stop & -stop) - 1;
			bad &= before;
			nl &= before;
		}
		if (bad != 0)
			return false;
		/* Each LF left in nl ends an attribute line: a block adds at most 64, so
		 * only a request near the limit needs them counted (rare: no popcnt). */
		if (n > REQUEST_MAX_ATTRS - 64 &&
		    n + (unsigned)__builtin_popcountll(nl) > REQUEST_MAX_ATTRS)
			return false;
		if (nl != 0) {
			/* The first LF ends the line that may have begun in an earlier block:
			 * it alone can be long, and its '=' may be known already. */
			const char *end = at + bit_index(nl);
			nl &= nl - 1;
			if (eq == NULL) {
				eq = at + bit_index(first);
				first &= first - 1;
			}
			if (end - line > REQUEST_MAX_LINE)
				return false;
			add_attr(r, n++, line, eq, end);
			line = end + 1;
			while (nl != 0) {
				end = at + bit_index(nl);
				nl &= nl - 1;
				eq = at + bit_index(first);
				first &= first - 1;
				add_attr(r, n++, line, eq, end);
				line = end + 1;
			}
			eq = NULL;
		}
		if (stop != 0) {
			r->count = n;
			*request_len = (size_t)(line - buf) + 1;
			return n > 0;
		}
		/* The '=' of the line that goes on into the next block, if it came. */
		if (eq == NULL && first != 0)
			eq = at + bit_index(first);
		base += 64;
	}
	return false;
}
#else
/*
 * whole_line - the fast path met the LF at nl that ends the line from start, its
 * first '=' at eq (nl or beyond when it has none), with *n lines indexed so far:
 * index it, or say why the fast path gives up (the scanner then finds the exact
 * violation). Returns 1 for a line, 2 for the request's end (r->count and
 * *request_len set), 0 to give up. The count stays in the caller's register until
 * the end: with -fno-strict-aliasing, r->count would be reloaded after every store.
 */
static inline __attribute__((always_inline)) int whole_line(struct request *r, unsigned *n,
							    const char *buf, size_t start,
							    size_t nl, size_t eq,
							    size_t *request_len)
{
	size_t line_len = nl - start;

	/* One unsigned comparison for the empty line and the long one. */
	if (line_len - 1 >= REQUEST_MAX_LINE) {
		if (line_len != 0 || *n == 0)
			return 0;
		r->count = *n;
		*request_len = nl + 1;
		return 2;
	}
	/* And one for a missing '=' (eq >= nl) and an empty name (eq == start wraps). */
	if (*n == REQUEST_MAX_ATTRS || eq - start - 1 >= line_len - 1)
		return 0;
	add_attr(r, *n, buf + start, buf + eq, buf + nl);
	++*n;
	return 1;
}

/*
 * request_parse_whole - the common case in one pass: a whole, valid request at
 * the start of buf is found and indexed at once. Anything else (incomplete, or
 * any violation) returns false and leaves the verdict to request_scan, which
 * knows every rule and every error offset. This is the portable version: memchr
 * finds each LF and each line's '=', one more the NULs of the whole request.
 */
HOT bool request_parse_whole(struct request *r, const char *buf, size_t len, size_t *request_len)
{
	size_t limit = len < REQUEST_MAX_SIZE ? len : REQUEST_MAX_SIZE;
	size_t pos = 0;
	unsigned n = 0;

	reset(r);
	while (pos < limit) {
		const char *nl = memchr(buf + pos, '\n', limit - pos);
		if (nl == NULL)
			return false;
		size_t end = (size_t)(nl - buf);
		const char *eq = memchr(buf + pos, '=', end - pos);
		int rc = whole_line(r, &n, buf, pos, end, eq ? (size_t)(eq - buf) : SIZE_MAX,
				    request_len);
		if (rc != 1)
			return rc == 2 && memchr(buf, '\0', end) == NULL;
		pos = end + 1;
	}
	return false;
}
#endif

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
		add_attr(r, r->count++, line, memchr(line, '=', line_len), nl);
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
