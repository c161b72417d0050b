/*
 * nameset - sorted sets of domains and recipients (see nameset.h).
 *
 * Entries are normalised when loaded (lower case; domains through domain_clean,
 * with the leading '.' of a subdomain entry kept), written one after the other
 * into a text block, and indexed by an array sorted with memcmp order, so that a
 * lookup is a binary search per candidate: the name itself, then each parent
 * domain as ".parent".
 */
#include "nameset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

/* An address entry: a local part of 64 bytes, '@' and a domain. */
#define ENTRY_MAX (64 + 1 + DOMAIN_MAX)

struct entry {
	uint32_t off;
	uint16_t len;
};

struct name_set {
	enum name_kind kind;
	char *text;
	size_t text_len, text_cap;
	struct entry *entries;
	size_t count, cap;
};

/* lower - ASCII lower case of one byte. */
static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* add - append one normalised entry; false when memory runs out. */
static bool add(struct name_set *s, const char *name, size_t len)
{
	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct entry *e = realloc(s->entries, cap * sizeof(*e));
		if (e == NULL)
			return false;
		s->entries = e, s->cap = cap;
	}
	if (s->text_len + len > s->text_cap) {
		size_t cap = s->text_cap ? s->text_cap : 4096;
		while (cap < s->text_len + len)
			cap *= 2;
		char *t = realloc(s->text, cap);
		if (t == NULL)
			return false;
		s->text = t, s->text_cap = cap;
	}
	memcpy(s->text + s->text_len, name, len);
	s->entries[s->count++] = (struct entry){ (uint32_t)s->text_len, (uint16_t)len };
	s->text_len += len;
	return true;
}

/*
 * normalise - one entry as it is stored: a domain ("example.com", ".example.com"),
 * a local part ("user@") or an address ("user@example.com"). Returns its length,
 * 0 with *err set when the entry is not valid for the set's kind.
 */
static size_t normalise(enum name_kind kind, const char *s, size_t len, char *out, const char **err)
{
	const char *at = memchr(s, '@', len);
	bool dot = len > 0 && s[0] == '.';
	size_t n;

	if (at == NULL) {
		n = domain_clean(s + dot, len - dot, out + dot, DOMAIN_SIZE);
		if (n == 0) {
			*err = "not a domain name";
			return 0;
		}
		if (dot)
			out[0] = '.';
		return n + dot;
	}
	if (kind == NAMES_DOMAINS) {
		*err = "an address in a list of domains";
		return 0;
	}
	size_t local = (size_t)(at - s);
	if (local == 0 || local > 64 || memchr(at + 1, '@', len - local - 1) != NULL) {
		*err = "not an address or a local part";
		return 0;
	}
	for (size_t i = 0; i < local; i++) {
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) {
			*err = "not an address or a local part";
			return 0;
		}
		out[i] = lower(s[i]);
	}
	out[local] = '@';
	if (local + 1 == len)
		return local + 1;
	n = domain_clean(at + 1, len - local - 1, out + local + 1, DOMAIN_SIZE);
	if (n == 0) {
		*err = "not a domain name after '@'";
		return 0;
	}
	return local + 1 + n;
}

/* compare_bytes - memcmp order, shorter first on a common prefix. */
static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c != 0 ? c : (alen > blen) - (alen < blen);
}

/*
 * The set being sorted, for qsort's comparison. One per thread: sets are loaded on
 * the thread pool while the loop thread may load a configuration of its own.
 */
static _Thread_local const struct name_set *sorting;

static int compare_entries(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	return compare_bytes(sorting->text + a->off, a->len, sorting->text + b->off, b->len);
}

/* trim - blanks at both ends, and a comment from '#'. */
static const char *trim(const char *s, size_t *len)
{
	const char *hash = memchr(s, '#', *len);

	if (hash)
		*len = (size_t)(hash - s);
	while (*len > 0 && (*s == ' ' || *s == '\t'))
		s++, (*len)--;
	while (*len > 0 && strchr(" \t\r", s[*len - 1]) != NULL)
		(*len)--;
	return s;
}

/* name_set_load - parse every line, then sort once. */
struct name_set *name_set_load(enum name_kind kind, const char *text, size_t len,
			       name_error_fn *on_error, void *ctx)
{
	struct name_set *s = calloc(1, sizeof(*s));
	unsigned line = 0;

	if (s == NULL)
		return NULL;
	s->kind = kind;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const char *item = trim(text + pos, &n);
		char norm[ENTRY_MAX + 2];
		const char *err = NULL;

		line++;
		pos = nl ? (size_t)(nl - text) + 1 : len;
		if (n == 0)
			continue;
		size_t m = n > ENTRY_MAX ? 0 : normalise(kind, item, n, norm, &err);
		if (m == 0) {
			on_error(ctx, line, err ? err : "entry too long");
			continue;
		}
		if (!add(s, norm, m)) {
			name_set_free(s);
			return NULL;
		}
	}
	if (s->count > 1) {
		sorting = s;
		qsort(s->entries, s->count, sizeof(*s->entries), compare_entries);
		sorting = NULL;
	}
	return s;
}

void name_set_free(struct name_set *s)
{
	if (s == NULL)
		return;
	free(s->text);
	free(s->entries);
	free(s);
}

size_t name_set_size(const struct name_set *s)
{
	return s ? s->count : 0;
}

/* has - binary search for one exact entry. */
static bool has(const struct name_set *s, const char *name, size_t len)
{
	size_t lo = 0, hi = s->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct entry *e = &s->entries[mid];
		int c = compare_bytes(s->text + e->off, e->len, name, len);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* name_set_has_domain - the domain, then ".parent" for each parent (".example.com", ".com"). */
bool name_set_has_domain(const struct name_set *s, const char *d, size_t len)
{
	if (s == NULL || s->count == 0 || len == 0)
		return false;
	if (has(s, d, len))
		return true;
	for (size_t i = 0; i < len; i++)
		if (d[i] == '.' && has(s, d + i, len - i))
			return true;
	return false;
}

/* name_set_has_recipient - address, local part, then domain. */
bool name_set_has_recipient(const struct name_set *s, const char *addr, size_t len)
{
	char norm[ENTRY_MAX + 2];
	const char *err;
	size_t n, local;

	if (s == NULL || s->count == 0 || len == 0 || len > ENTRY_MAX ||
	    memchr(addr, '@', len) == NULL)
		return false;
	n = normalise(NAMES_RECIPIENTS, addr, len, norm, &err);
	if (n == 0)
		return false;
	if (has(s, norm, n))
		return true;
	local = (size_t)((char *)memchr(norm, '@', n) - norm);
	if (has(s, norm, local + 1))
		return true;
	return name_set_has_domain(s, norm + local + 1, n - local - 1);
}
