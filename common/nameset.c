/*
 * nameset - sorted sets of domains and recipients (see nameset.h).
 *
 * Entries are normalised when loaded (lower case; domains through domain_clean,
 * with the leading '.' of a subdomain entry kept), written one after the other
 * into a text block, and indexed by an array sorted with memcmp order, so that a
 * lookup is a binary search per candidate: the name itself, then each parent
 * domain as ".parent". A recipient is taken apart once (recipient_parse) and then
 * searched in each of its forms.
 */
#include "nameset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "hot.h"

/* An address entry: a local part of 64 bytes, '@' and a domain. */
#define ENTRY_MAX (RECIPIENT_LOCAL_MAX + 1 + DOMAIN_MAX)

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

/*
 * local_clean - a local part (untrusted) as entries and lookups hold it: lower case,
 * and a quoted one ("user+ext") unquoted, escapes resolved, as in Postfix's internal
 * form, so that the quotes a client may add change nothing. Returns its length, or 0
 * when it is empty, longer than RECIPIENT_LOCAL_MAX, has a broken quote, or holds an
 * '@', a blank or a control byte: no entry holds such a local part. UTF-8 bytes pass
 * (RFC 6531 local parts), compared as they are.
 */
static size_t local_clean(const char *s, size_t len, char *out)
{
	bool quoted = len >= 2 && s[0] == '"' && s[len - 1] == '"';
	size_t n = 0;

	if (quoted)
		s++, len -= 2;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (quoted && c == '\\' && i + 1 < len)
			c = (unsigned char)s[++i];
		else if (quoted && c == '"')
			return 0;
		if (c <= ' ' || c == 0x7f || c == '@' || n == RECIPIENT_LOCAL_MAX)
			return 0;
		out[n++] = lower((char)c);
	}
	return n;
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
	size_t local = local_clean(s, (size_t)(at - s), out);
	if (local == 0 || memchr(at + 1, '@', len - (size_t)(at - s) - 1) != NULL) {
		*err = "not an address or a local part";
		return 0;
	}
	out[local] = '@';
	if (at + 1 == s + len)
		return local + 1;
	n = domain_clean(at + 1, len - (size_t)(at + 1 - s), out + local + 1, DOMAIN_SIZE);
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

/* unsplit - whether Postfix keeps this local part whole whatever the delimiters (split_addr). */
static bool unsplit(const char *local, size_t len, const char *delimiters)
{
	static const char *const reserved[] = { "postmaster", "mailer-daemon", "double-bounce" };

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == len && memcmp(local, reserved[i], len) == 0)
			return true;
	/* Postfix's owner_request_special (on by default): mailing list owners and
	 * request addresses keep their '-'. */
	if (strchr(delimiters, '-') == NULL)
		return false;
	return (len >= 6 && memcmp(local, "owner-", 6) == 0) ||
	       (len > 8 && memcmp(local + len - 8, "-request", 8) == 0);
}

/*
 * split_at - where the extension starts: the first delimiter after the first byte
 * (a local part that starts with a delimiter is not split: the user would be
 * empty), or len. Most recipients have none; one delimiter, the usual "+", is a
 * memchr.
 */
static size_t split_at(const char *local, size_t len, const char *delimiters)
{
	if (len < 2 || delimiters[0] == '\0')
		return len;
	if (delimiters[1] == '\0') {
		const char *d = memchr(local + 1, delimiters[0], len - 1);
		return d != NULL ? (size_t)(d - local) : len;
	}
	for (size_t i = 1; i < len; i++)
		if (strchr(delimiters, local[i]) != NULL)
			return i;
	return len;
}

/* recipient_parse - the local part cleaned and split, the domain found. */
HOT void recipient_parse(struct recipient *r, const char *addr, size_t len, const char *delimiters)
{
	size_t local_len = len;

	r->domain = NULL;
	r->domain_len = 0;
	if (domain_of_address(addr, len, &r->domain, &r->domain_len))
		local_len = (size_t)(r->domain - 1 - addr);
	else if (memchr(addr, '@', len) != NULL)
		local_len = 0; /* "user@" or "<>": no domain, and no local part to trust */
	r->local_len = local_clean(addr, local_len, r->local);
	r->local[r->local_len] = '\0';
	r->user_len = r->local_len;
	size_t at = split_at(r->local, r->local_len, delimiters);
	if (at < r->local_len && !unsplit(r->local, r->local_len, delimiters))
		r->user_len = at;
}

/* has_address - whether the entry local@domain is listed (domain clean, or empty for "local@"). */
static bool has_address(const struct name_set *s, const char *local, size_t local_len,
			const char *domain, size_t domain_len)
{
	char key[ENTRY_MAX + 1];

	memcpy(key, local, local_len);
	key[local_len] = '@';
	memcpy(key + local_len + 1, domain, domain_len);
	return has(s, key, local_len + 1 + domain_len);
}

/* name_set_has_recipient - the address, without its extension, the local parts, the domain. */
bool name_set_has_recipient(const struct name_set *s, const struct recipient *r)
{
	char domain[DOMAIN_SIZE];
	size_t n = 0;
	bool extension;

	if (s == NULL || s->count == 0)
		return false;
	if (r->domain != NULL)
		n = domain_clean(r->domain, r->domain_len, domain, sizeof(domain));
	if (r->local_len > 0) {
		extension = r->user_len < r->local_len;
		if (n > 0 && (has_address(s, r->local, r->local_len, domain, n) ||
			      (extension && has_address(s, r->local, r->user_len, domain, n))))
			return true;
		if (has_address(s, r->local, r->local_len, "", 0) ||
		    (extension && has_address(s, r->local, r->user_len, "", 0)))
			return true;
	}
	return n > 0 && name_set_has_domain(s, domain, n);
}
