/*
 * po - PO catalogs and marked template messages (see po.h): a line reader for the
 * subset of the PO format that translators' tools write, a sorted table of the
 * translations for binary search, and the pass that swaps a template's marked
 * messages for their translations.
 *
 * Memory: a catalog is one struct with an array of entries; each entry's msgid and
 * msgstr are heap strings it owns. Parsing builds the current entry's strings in two
 * growable buffers, moved into the entry when it ends.
 */
#include "po.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The most {{...}} and <...> tags one message may hold (po_same_markup). */
#define PO_TAGS_MAX 96

struct po_entry {
	char *id, *str;
	size_t id_len, str_len;
	unsigned line; /* of its msgid */
};

struct po_catalog {
	struct po_entry *entries; /* sorted by msgid once parsed */
	size_t count, cap;
	char *header;
	size_t header_len;
};

/* A growable string. */
struct str {
	char *data;
	size_t len, cap;
};

/* find - the first pat (n bytes) in s[0..len), or NULL (memmem is a GNU extension). */
static const char *find(const char *s, size_t len, const char *pat, size_t n)
{
	for (const char *p = s; (size_t)(p - s) + n <= len; p++) {
		p = memchr(p, pat[0], len - n + 1 - (size_t)(p - s));
		if (p == NULL)
			return NULL;
		if (memcmp(p, pat, n) == 0)
			return p;
	}
	return NULL;
}

/* fail - fill in the error (cut to fit) and return false. */
__attribute__((format(printf, 3, 4))) static bool fail(struct po_error *err, unsigned line,
						       const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return false;
}

static bool str_add(struct str *s, const char *bytes, size_t len)
{
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < s->len + len + 1)
			cap *= 2;
		char *grown = realloc(s->data, cap);
		if (grown == NULL)
			return false;
		s->data = grown;
		s->cap = cap;
	}
	memcpy(s->data + s->len, bytes, len);
	s->len += len;
	s->data[s->len] = '\0';
	return true;
}

/* utf8_valid - whether s[0..len) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 2, cp = c & 0x1fu, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3, cp = c & 0x0fu, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4, cp = c & 0x07u, min = 0x10000;
		else
			return false;
		if (n > len - i)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/*
 * read_string - the quoted string at s (after blanks) on one line, unescaped onto out.
 * False with a message when it is not one string and nothing after it.
 */
static bool read_string(const char *s, const char *end, struct str *out, unsigned line,
			struct po_error *err)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end || *s != '"')
		return fail(err, line, "expected a string in double quotes");
	for (s++; s < end && *s != '"'; s++) {
		char c = *s;
		if (c == '\\') {
			if (++s == end)
				break;
			switch (*s) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'a': c = '\a'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'v': c = '\v'; break;
			case '\\':
			case '"': c = *s; break;
			default: return fail(err, line, "unknown escape \\%c", *s);
			}
		}
		if (!str_add(out, &c, 1))
			return fail(err, line, "out of memory");
	}
	if (s == end)
		return fail(err, line, "the string is not closed");
	for (s++; s < end; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r')
			return fail(err, line, "text after the string");
	return true;
}

/* The entry being read. */
struct reading {
	struct str id, str;
	struct str *field; /* where a continuation line goes; NULL: none open */
	bool have_id, have_str, fuzzy;
	unsigned id_line;
};

/* entry_end - file the entry read so far (if any) into c; false with a message on error. */
static bool entry_end(struct po_catalog *c, struct reading *r, struct po_error *err)
{
	bool have_id = r->have_id, have_str = r->have_str;

	r->field = NULL;
	r->have_id = r->have_str = false;
	if (!have_id && !have_str) {
		r->fuzzy = false;
		return true;
	}
	if (!have_str)
		return fail(err, r->id_line, "msgid without msgstr");
	if (!utf8_valid(r->id.data ? r->id.data : "", r->id.len) ||
	    !utf8_valid(r->str.data ? r->str.data : "", r->str.len))
		return fail(err, r->id_line, "not UTF-8");
	bool fuzzy = r->fuzzy;
	r->fuzzy = false;
	if (r->id.len == 0) {
		if (c->header != NULL)
			return fail(err, r->id_line, "a second header (msgid \"\")");
		c->header = r->str.data ? r->str.data : strdup("");
		c->header_len = r->str.len;
		r->str = (struct str){ 0 };
		r->id.len = 0;
		return c->header != NULL || fail(err, r->id_line, "out of memory");
	}
	/* A fuzzy or empty translation is none, as for msgfmt; its msgid still counts as seen. */
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct po_entry *grown = realloc(c->entries, cap * sizeof(*grown));
		if (grown == NULL)
			return fail(err, r->id_line, "out of memory");
		c->entries = grown;
		c->cap = cap;
	}
	c->entries[c->count++] = (struct po_entry){
		.id = r->id.data,
		.id_len = r->id.len,
		.str = fuzzy || r->str.len == 0 ? NULL : r->str.data,
		.str_len = fuzzy ? 0 : r->str.len,
		.line = r->id_line,
	};
	if (fuzzy || r->str.len == 0)
		free(r->str.data);
	r->id = (struct str){ 0 };
	r->str = (struct str){ 0 };
	return true;
}

/* keyword - whether the line starts with word followed by a blank or a quote. */
static bool keyword(const char *s, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - s) > n && memcmp(s, word, n) == 0 &&
	       (s[n] == ' ' || s[n] == '\t' || s[n] == '"');
}

/* starts - whether the line s..end begins with word (each compared only where the line
 * is long enough for it). */
static bool starts(const char *s, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - s) >= n && memcmp(s, word, n) == 0;
}

/* read_line - one line of the catalog into r (and c when an entry ends). */
static bool read_line(struct po_catalog *c, struct reading *r, const char *s, const char *end,
		      unsigned line, struct po_error *err)
{
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	if (s == end)
		return entry_end(c, r, err);
	if (*s == '#') {
		/* A comment ends what came before it; "#," flags the next entry. */
		if (r->have_str && !entry_end(c, r, err))
			return false;
		if (end - s >= 2 && s[1] == ',') {
			for (const char *p = s + 2; p + 5 <= end; p++)
				if (memcmp(p, "fuzzy", 5) == 0)
					r->fuzzy = true;
		}
		return true;
	}
	if (*s == '"') {
		if (r->field == NULL)
			return fail(err, line, "a string that continues nothing");
		return read_string(s, end, r->field, line, err);
	}
	if (keyword(s, end, "msgid")) {
		if ((r->have_id || r->have_str) && !entry_end(c, r, err))
			return false;
		r->have_id = true;
		r->id_line = line;
		r->id.len = 0;
		r->field = &r->id;
		return read_string(s + 5, end, &r->id, line, err);
	}
	if (keyword(s, end, "msgstr")) {
		if (!r->have_id || r->have_str)
			return fail(err, line, "msgstr without msgid");
		r->have_str = true;
		r->str.len = 0;
		r->field = &r->str;
		return read_string(s + 6, end, &r->str, line, err);
	}
	if (starts(s, end, "msgctxt") || starts(s, end, "msgid_plural") ||
	    starts(s, end, "msgstr["))
		return fail(err, line, "contexts and plural forms are not used by the help page");
	return fail(err, line, "expected msgid, msgstr, a string or a comment");
}

static int entry_cmp(const void *a, const void *b)
{
	const struct po_entry *x = a, *y = b;
	size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
	int d = memcmp(x->id, y->id, n);

	return d != 0 ? d : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

/* check_charset - a header whose Content-Type names another charset than UTF-8 is refused. */
static bool check_charset(const struct po_catalog *c, struct po_error *err)
{
	size_t len;
	const char *type = po_header(c, "Content-Type", &len);
	const char *cs;

	if (type == NULL)
		return true;
	for (cs = type; cs + 8 <= type + len; cs++)
		if (strncasecmp(cs, "charset=", 8) == 0)
			break;
	if (cs + 8 > type + len)
		return true;
	cs += 8;
	size_t rest = len - (size_t)(cs - type);
	if (rest >= 5 && strncasecmp(cs, "utf-8", 5) == 0 &&
	    (rest == 5 || cs[5] == ';' || cs[5] == ' '))
		return true;
	return fail(err, 1, "the header's charset is not UTF-8");
}

struct po_catalog *po_parse(const char *text, size_t len, struct po_error *err)
{
	struct po_catalog *c = calloc(1, sizeof(*c));
	struct reading r = { 0 };
	const char *s = text, *end = text + len;
	unsigned line = 0;
	bool ok = c != NULL;

	memset(err, 0, sizeof(*err));
	if (c == NULL)
		fail(err, 1, "out of memory");
	/* A byte-order mark, which some editors write, is no part of the first line. */
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (ok && s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		line++;
		if (memchr(s, '\0', (size_t)(eol - s)) != NULL)
			ok = fail(err, line, "a NUL byte");
		else
			ok = read_line(c, &r, s, eol, line, err);
		s = nl ? nl + 1 : end;
	}
	if (ok)
		ok = entry_end(c, &r, err);
	free(r.id.data);
	free(r.str.data);
	if (ok && c->count > 0) {
		qsort(c->entries, c->count, sizeof(*c->entries), entry_cmp);
		for (size_t i = 1; ok && i < c->count; i++)
			if (entry_cmp(&c->entries[i - 1], &c->entries[i]) == 0)
				ok = fail(err,
					  c->entries[i - 1].line > c->entries[i].line
						  ? c->entries[i - 1].line
						  : c->entries[i].line,
					  "this msgid came before");
	}
	if (ok)
		ok = check_charset(c, err);
	if (!ok) {
		po_free(c);
		return NULL;
	}
	return c;
}

void po_free(struct po_catalog *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->count; i++) {
		free(c->entries[i].id);
		free(c->entries[i].str);
	}
	free(c->entries);
	free(c->header);
	free(c);
}

size_t po_count(const struct po_catalog *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->count; i++)
		n += c->entries[i].str != NULL;
	return n;
}

const char *po_lookup(const struct po_catalog *c, const char *msgid, size_t len, size_t *out_len,
		      unsigned *line)
{
	struct po_entry key = { .id = (char *)msgid, .id_len = len };
	const struct po_entry *e =
		c != NULL && c->count > 0
			? bsearch(&key, c->entries, c->count, sizeof(*c->entries), entry_cmp)
			: NULL;

	if (e == NULL || e->str == NULL)
		return NULL;
	*out_len = e->str_len;
	if (line != NULL)
		*line = e->line;
	return e->str;
}

const char *po_header(const struct po_catalog *c, const char *field, size_t *len)
{
	size_t n = strlen(field);

	for (const char *s = c->header, *end = c->header + c->header_len; s != NULL && s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		if ((size_t)(eol - s) > n && strncasecmp(s, field, n) == 0 && s[n] == ':') {
			const char *v = s + n + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*len = (size_t)(eol - v);
			return v;
		}
		s = nl ? nl + 1 : end;
	}
	return NULL;
}

/* A tag of a message: its bytes. */
struct tag {
	const char *s;
	size_t len;
};

static int tag_cmp(const void *a, const void *b)
{
	const struct tag *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int d = memcmp(x->s, y->s, n);

	return d != 0 ? d : (x->len > y->len) - (x->len < y->len);
}

/* tags_of - the {{...}} and <...> of s, sorted; -1 when there are too many or one is open. */
static int tags_of(const char *s, size_t len, struct tag *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		const char *close;
		size_t skip;
		if (s[i] == '{' && i + 1 < len && s[i + 1] == '{')
			close = find(s + i, len - i, "}}", 2), skip = 2;
		else if (s[i] == '<')
			close = memchr(s + i, '>', len - i), skip = 1;
		else
			continue;
		if (close == NULL || n == PO_TAGS_MAX)
			return -1;
		out[n++] = (struct tag){ s + i, (size_t)(close - (s + i)) + skip };
		i = (size_t)(close - s) + skip - 1;
	}
	qsort(out, n, sizeof(*out), tag_cmp);
	return (int)n;
}

bool po_same_markup(const char *a, size_t a_len, const char *b, size_t b_len)
{
	struct tag ta[PO_TAGS_MAX], tb[PO_TAGS_MAX];
	int na = tags_of(a, a_len, ta), nb = tags_of(b, b_len, tb);

	if (na < 0 || nb < 0 || na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (tag_cmp(&ta[i], &tb[i]) != 0)
			return false;
	return true;
}

/* lines_before - the line of offset pos in s (from 1). */
static unsigned lines_before(const char *s, size_t pos)
{
	unsigned n = 1;

	for (const char *p = s; (p = memchr(p, '\n', pos - (size_t)(p - s))) != NULL; p++)
		n++;
	return n;
}

/* normalize - the message between the marks: blank runs made one space, none at the ends. */
static bool normalize(const char *s, size_t len, struct str *out)
{
	bool blank = false;

	out->len = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			blank = out->len > 0;
			continue;
		}
		if ((blank && !str_add(out, " ", 1)) || !str_add(out, &c, 1))
			return false;
		blank = false;
	}
	return out->len == 0 || out->data != NULL;
}

bool po_translate(const char *src, size_t len, const struct po_catalog *c, struct po_result *out,
		  struct po_error *err)
{
	const size_t open_len = sizeof(PO_MARK_OPEN) - 1, close_len = sizeof(PO_MARK_CLOSE) - 1;
	struct str text = { 0 }, msg = { 0 };
	size_t pos = 0;
	bool ok = true;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	while (ok && pos < len) {
		const char *open = find(src + pos, len - pos, PO_MARK_OPEN, open_len);
		const char *stray = find(src + pos, len - pos, PO_MARK_CLOSE, close_len);
		size_t at = open ? (size_t)(open - src) : len;

		if (stray != NULL && (size_t)(stray - src) < at) {
			ok = fail(err, lines_before(src, (size_t)(stray - src)),
				  "%s closes no message", PO_MARK_CLOSE);
			break;
		}
		if (!str_add(&text, src + pos, at - pos)) {
			ok = fail(err, lines_before(src, at), "out of memory");
			break;
		}
		if (open == NULL)
			break;
		size_t start = at + open_len;
		const char *close = find(src + start, len - start, PO_MARK_CLOSE, close_len);
		const char *inner = find(src + start, len - start, PO_MARK_OPEN, open_len);
		if (close == NULL) {
			ok = fail(err, lines_before(src, at),
				  "the message opened here is not closed");
			break;
		}
		if (inner != NULL && inner < close) {
			ok = fail(err, lines_before(src, (size_t)(inner - src)),
				  "a message inside a message");
			break;
		}
		if (!normalize(src + start, (size_t)(close - src) - start, &msg)) {
			ok = fail(err, lines_before(src, at), "out of memory");
			break;
		}
		if (msg.len == 0) {
			ok = fail(err, lines_before(src, at), "an empty message");
			break;
		}
		size_t tr_len = 0;
		unsigned tr_line = 0;
		const char *tr = po_lookup(c, msg.data, msg.len, &tr_len, &tr_line);
		out->messages++;
		if (tr != NULL && !po_same_markup(msg.data, msg.len, tr, tr_len)) {
			ok = fail(
				err, tr_line,
				"the translation does not keep the tags ({{...}} and <...>) of its message \"%.60s\"",
				msg.data);
			err->in_catalog = true;
			break;
		}
		if (tr == NULL && out->missing++ == 0)
			snprintf(out->first_missing, sizeof(out->first_missing), "%s", msg.data);
		/* Without a translation the message stays as written, so that its lines still count. */
		if (!(tr ? str_add(&text, tr, tr_len)
			 : str_add(&text, src + start, (size_t)(close - src) - start))) {
			ok = fail(err, lines_before(src, at), "out of memory");
			break;
		}
		pos = (size_t)(close - src) + close_len;
	}
	free(msg.data);
	if (ok && text.data == NULL && !str_add(&text, "", 0))
		ok = fail(err, 1, "out of memory");
	if (!ok) {
		free(text.data);
		out->text = NULL;
		return false;
	}
	out->text = text.data;
	out->len = text.len;
	return true;
}
