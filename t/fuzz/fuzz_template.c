/*
 * fuzz_template - reply templates (common/template.h): compile untrusted-looking
 * template text, expand it with untrusted values of every cut class, check the
 * result.
 *
 * Input: bytes 0-1 choose max (1..400) and bytes 2-3 the length of the template
 * source that follows; the rest is a table of values, each a class byte (cut
 * class, "unknown" and "NULL value" flags), a two-byte length (modulo 1024) and
 * that many bytes. Each macro name is mapped to a value by a hash of the name.
 *
 * Invariants: a failed compile gives a message and an offset inside the source;
 * an expansion is NUL-terminated, at most max bytes, printable ASCII only, the
 * same as the uncut expansion whenever that fits, and never writes past outsize
 * (buffers are exact-size heap blocks); lookups ask only for names that
 * template_uses() reports.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "template.h"

#define MAX_VALUES 32
#define VALUE_UNKNOWN 0x04 /* the lookup answers false */
#define VALUE_NULL 0x08    /* the lookup answers true with a NULL value */

struct value {
	const char *s;
	size_t len;
	unsigned char flags;
};

struct table {
	struct value v[MAX_VALUES];
	size_t count;
	const struct template *t;
	unsigned long calls;
};

/* hash - FNV-1a of a macro name, to map it to a value of the table. */
static uint32_t hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h;
}

/* lookup - the template_lookup_fn: a value of the table, or unknown. */
static bool lookup(void *ctx, unsigned id, const char *name, size_t namelen,
		   struct template_value *value)
{
	struct table *tb = ctx;
	char *z = malloc(namelen + 1);

	tb->calls++;
	FUZZ_CHECK(z != NULL && namelen > 0 && id == TEMPLATE_NO_ID);
	memcpy(z, name, namelen);
	z[namelen] = '\0';
	FUZZ_CHECK(strlen(z) == namelen && template_uses(tb->t, z));
	free(z);
	if (tb->count == 0)
		return false;
	const struct value *v = &tb->v[hash(name, namelen) % tb->count];
	if (v->flags & VALUE_UNKNOWN)
		return false;
	value->s = v->flags & VALUE_NULL ? NULL : v->s;
	value->len = v->len;
	/* Class 3 is out of range on purpose: the template must treat it as CUT_LATER. */
	value->cut = (enum template_cut)(v->flags & 3);
	return true;
}

/* expand - expand into an exact-size block and check the result; returns a copy. */
static char *expand(const struct template *t, struct table *tb, size_t outsize, size_t max,
		    size_t *len)
{
	char *out = malloc(outsize);
	size_t n;

	FUZZ_CHECK(out != NULL);
	n = template_expand(t, lookup, tb, out, outsize, max);
	FUZZ_CHECK(n < outsize && n <= max);
	FUZZ_CHECK(out[n] == '\0');
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f);
	*len = n;
	return out;
}

static struct table tb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	size_t err_offset = SIZE_MAX, pos, src_len;
	struct template *t;

	if (size < 4)
		return 0;
	size_t max = 1 + ((size_t)data[0] | (size_t)data[1] << 8) % 400;
	src_len = ((size_t)data[2] | (size_t)data[3] << 8) % (size - 4 + 1);

	/* The source in its own exact-size block, so that a read past it is caught. */
	char *src = malloc(src_len ? src_len : 1);
	FUZZ_CHECK(src != NULL);
	memcpy(src, data + 4, src_len);
	t = template_compile(src, src_len, &err, &err_offset);
	free(src);
	if (t == NULL) {
		FUZZ_CHECK(err != NULL && *err != '\0');
		FUZZ_CHECK(err_offset <= src_len);
		return 0;
	}

	memset(&tb, 0, sizeof(tb));
	tb.t = t;
	pos = 4 + src_len;
	while (tb.count < MAX_VALUES && pos + 3 <= size) {
		struct value *v = &tb.v[tb.count++];
		size_t len = ((size_t)data[pos + 1] | (size_t)data[pos + 2] << 8) % 1024;
		v->flags = data[pos];
		pos += 3;
		if (len > size - pos)
			len = size - pos;
		v->s = (const char *)data + pos;
		v->len = len;
		pos += len;
	}

	/* Without a limit that matters: the whole text (64 macros of < 1024 bytes at most). */
	size_t full_size = src_len + 64 * 1024 + 1, full_len, len;
	char *full = expand(t, &tb, full_size, full_size - 1, &full_len);
	char *cut = expand(t, &tb, max + 1, max, &len);
	if (full_len <= max)
		FUZZ_CHECK(len == full_len && memcmp(cut, full, len) == 0);
	free(cut);
	/* A buffer smaller than max + 1: max is taken as outsize - 1. */
	size_t small = 1 + data[0] % (max + 1);
	cut = expand(t, &tb, small, max, &len);
	FUZZ_CHECK(len < small);
	if (full_len < small)
		FUZZ_CHECK(len == full_len && memcmp(cut, full, len) == 0);
	free(cut);
	free(full);

	/* template_uses on the names policyd asks about; must not crash or read past. */
	static const char *const names[] = { "rbl_reason", "client_address", "help_url", "contact",
					     "" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		(void)template_uses(t, names[i]);
	template_free(t);
	return 0;
}
