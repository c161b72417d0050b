/*
 * page - the help page's template language (see page.h): a compiler that turns the
 * template text into a flat array of nodes, and a renderer that walks them with a
 * stack of scopes and escapes every value it inserts.
 *
 * Memory: a struct page_template owns its copy of the source and its node array;
 * literal text and names are ranges of that copy. Rendering allocates only by
 * growing the caller's page_buf.
 */
#include "page.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum node_type { NODE_TEXT, NODE_VALUE, NODE_EACH, NODE_IF, NODE_UNLESS };

/* One piece of the template: literal text, a value, or the start of a block. */
struct node {
	enum node_type type;
	size_t start, len; /* NODE_TEXT: the literal bytes; others: the name (offsets in src) */
	size_t end;        /* blocks: the index of the first node after the block */
};

struct page_template {
	char *src;
	size_t src_len;
	struct node *nodes;
	size_t count, cap;
};

/* The output buffer grows in steps of at least this much. */
#define BUF_STEP 4096

bool page_buf_append(struct page_buf *b, const void *bytes, size_t len)
{
	if (b->failed)
		return false;
	if (len > b->max || b->len > b->max - len) {
		b->failed = true;
		return false;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : BUF_STEP;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (grown == NULL) {
			b->failed = true;
			return false;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, bytes, len);
	b->len += len;
	b->data[b->len] = '\0';
	return true;
}

void page_buf_free(struct page_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/*
 * utf8_length - the length of the valid UTF-8 sequence at s (at most len bytes), 0
 * when it is not one (overlong, surrogate, past U+10FFFF, cut short); *cp gets its
 * code point.
 */
static size_t utf8_length(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1fu, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0fu, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/*
 * shown_as_is - whether a code point may be shown: not a C1 control, and not one
 * of the bidirectional controls that would let a list's reason reorder the text
 * around it (a trick for making a link look like another).
 */
static bool shown_as_is(uint32_t cp)
{
	if (cp >= 0x80 && cp <= 0x9f)
		return false;
	if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
	    cp == 0x200f || cp == 0x061c)
		return false;
	return true;
}

bool page_buf_escape(struct page_buf *b, const char *bytes, size_t len)
{
	const unsigned char *s = (const unsigned char *)bytes;
	size_t run = 0; /* bytes before i that are copied as they are */

	for (size_t i = 0; i < len;) {
		const char *entity = NULL;
		size_t step = 1;
		uint32_t cp;

		switch (s[i]) {
		case '&': entity = "&amp;"; break;
		case '<': entity = "&lt;"; break;
		case '>': entity = "&gt;"; break;
		case '"': entity = "&quot;"; break;
		case '\'': entity = "&#39;"; break;
		default:
			if (s[i] < 0x20 || s[i] == 0x7f)
				entity = "?";
			else if (s[i] >= 0x80) {
				step = utf8_length(s + i, len - i, &cp);
				if (step == 0 || !shown_as_is(cp))
					entity = "?", step = step ? step : 1;
			}
			break;
		}
		if (entity == NULL) {
			i += step;
			continue;
		}
		if (!page_buf_append(b, s + run, i - run) ||
		    !page_buf_append(b, entity, strlen(entity)))
			return false;
		i += step;
		run = i;
	}
	return page_buf_append(b, s + run, len - run);
}

bool page_url_ok(const char *s, size_t len)
{
	size_t skip;

	if (s == NULL)
		return false;
	if (len > 8 && strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else if (len > 7 && strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	if (s[skip] == '/')
		return false; /* "http:///x" has no host */
	for (size_t i = skip; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"'<>`\\", c) != NULL)
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- compiling */

/* fail - fill in the error (the message is cut to fit) and return false. */
__attribute__((format(printf, 3, 4))) static bool fail(struct page_error *err, unsigned line,
						       const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return false;
}

/* add_node - append one node; false when out of memory. */
static bool add_node(struct page_template *t, enum node_type type, size_t start, size_t len)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct node *grown = realloc(t->nodes, cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		t->nodes = grown;
		t->cap = cap;
	}
	t->nodes[t->count++] = (struct node){ .type = type, .start = start, .len = len };
	return true;
}

/* lines_in - the newlines in s[0..len). */
static unsigned lines_in(const char *s, size_t len)
{
	unsigned n = 0;

	for (const char *p = s; (p = memchr(p, '\n', len - (size_t)(p - s))) != NULL; p++)
		n++;
	return n;
}

/* find_pair - the first "{{" or "}}" (c twice) in s[0..len), or NULL. */
static const char *find_pair(const char *s, size_t len, char c)
{
	for (const char *p = s; len >= 2 && (p = memchr(p, c, len - 1 - (size_t)(p - s))) != NULL;
	     p++)
		if (p[1] == c)
			return p;
	return NULL;
}

/* name_known - whether name is in the vocabulary (NULL: any name is). */
static bool name_known(const char *const *names, const char *name, size_t len)
{
	if (names == NULL)
		return true;
	for (size_t i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return true;
	return false;
}

/* valid_name - 1 to PAGE_NAME_MAX bytes of a-z, 0-9 and '_'. */
static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > PAGE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* An open block while compiling: its node and the line it opened on. */
struct open_block {
	size_t node;
	unsigned line;
};

/*
 * compile_tag - one "{{...}}" whose inside is s[start..start+len) on line `line`:
 * add its node, open or close a block. False with *err filled in on error.
 */
static bool compile_tag(struct page_template *t, size_t start, size_t len, unsigned line,
			const char *const *names, struct open_block *open, size_t *depth,
			struct page_error *err)
{
	const char *s = t->src + start;
	char sigil = len > 0 ? s[0] : '\0';
	size_t name_start = start, name_len = len;
	enum node_type type = NODE_VALUE;

	if (sigil == '!')
		return true;
	if (sigil == '#' || sigil == '?' || sigil == '^' || sigil == '/')
		name_start++, name_len--;
	const char *name = t->src + name_start;
	if (!valid_name(name, name_len))
		return fail(
			err, line,
			"expected {{name}}, {{#name}}, {{?name}}, {{^name}}, {{/name}} or {{!comment}}; a name is 1 to %d of a-z, 0-9, _",
			PAGE_NAME_MAX);
	if (sigil == '/') {
		if (*depth == 0)
			return fail(err, line, "{{/%.*s}} closes no block", (int)name_len, name);
		const struct node *o = &t->nodes[open[*depth - 1].node];
		if (o->len != name_len || memcmp(t->src + o->start, name, name_len) != 0)
			return fail(err, line,
				    "{{/%.*s}} closes the block {{%.*s}} opened on line %u",
				    (int)name_len, name, (int)o->len, t->src + o->start,
				    open[*depth - 1].line);
		t->nodes[open[--*depth].node].end = t->count;
		return true;
	}
	if (!name_known(names, name, name_len))
		return fail(err, line, "unknown name '%.*s'", (int)name_len, name);
	if (sigil == '#' || sigil == '?' || sigil == '^') {
		if (*depth == PAGE_DEPTH_MAX)
			return fail(err, line, "blocks nested deeper than %d", PAGE_DEPTH_MAX);
		type = sigil == '#' ? NODE_EACH : sigil == '?' ? NODE_IF : NODE_UNLESS;
		open[(*depth)++] = (struct open_block){ .node = t->count, .line = line };
	}
	if (!add_node(t, type, name_start, name_len))
		return fail(err, line, "out of memory");
	return true;
}

struct page_template *page_compile(const char *src, size_t len, const char *const *names,
				   struct page_error *err)
{
	struct page_template *t = calloc(1, sizeof(*t));
	struct open_block open[PAGE_DEPTH_MAX];
	size_t depth = 0, pos = 0;
	unsigned line = 1;

	memset(err, 0, sizeof(*err));
	if (t == NULL || (t->src = malloc(len + 1)) == NULL) {
		page_free(t);
		fail(err, 1, "out of memory");
		return NULL;
	}
	memcpy(t->src, src, len);
	t->src[len] = '\0';
	t->src_len = len;
	while (pos < len) {
		const char *at = find_pair(t->src + pos, len - pos, '{');
		size_t text_end = at ? (size_t)(at - t->src) : len;

		if (text_end > pos) {
			if (!add_node(t, NODE_TEXT, pos, text_end - pos))
				goto oom;
			line += lines_in(t->src + pos, text_end - pos);
		}
		if (at == NULL)
			break;
		/* A value written as an unquoted attribute could bring its own attributes. */
		if (text_end > 0 && t->src[text_end - 1] == '=') {
			fail(err, line,
			     "a value inside a tag needs quotes: write attr=\"{{...}}\"");
			goto error;
		}
		size_t inner = text_end + 2;
		const char *close = find_pair(t->src + inner, len - inner, '}');
		if (close == NULL) {
			fail(err, line, "unterminated {{");
			goto error;
		}
		size_t inner_len = (size_t)(close - t->src) - inner;
		if (!compile_tag(t, inner, inner_len, line, names, open, &depth, err))
			goto error;
		line += lines_in(t->src + inner, inner_len);
		pos = inner + inner_len + 2;
	}
	if (depth > 0) {
		const struct node *o = &t->nodes[open[depth - 1].node];
		fail(err, line, "the block {{%.*s}} opened on line %u is not closed", (int)o->len,
		     t->src + o->start, open[depth - 1].line);
		goto error;
	}
	return t;
oom:
	fail(err, line, "out of memory");
error:
	page_free(t);
	return NULL;
}

void page_free(struct page_template *t)
{
	if (t == NULL)
		return;
	free(t->src);
	free(t->nodes);
	free(t);
}

/* ---------------------------------------------------------------- rendering */

/* lookup - the innermost field of that name, or NULL. */
static const struct page_field *lookup(const struct page_scope *const *scopes, size_t depth,
				       const char *name, size_t len)
{
	for (size_t d = depth; d-- > 0;) {
		const struct page_scope *sc = scopes[d];
		for (size_t i = 0; i < sc->count; i++) {
			const char *fn = sc->fields[i].name;
			if (fn != NULL && strncmp(fn, name, len) == 0 && fn[len] == '\0')
				return &sc->fields[i];
		}
	}
	return NULL;
}

/* truthy - the condition of {{?name}} (see page.h). */
static bool truthy(const struct page_field *f)
{
	if (f == NULL)
		return false;
	switch (f->kind) {
	case PAGE_TEXT: return f->text != NULL && f->len > 0;
	case PAGE_URL: return page_url_ok(f->text, f->len);
	case PAGE_FLAG: return f->on;
	case PAGE_LIST: return f->items != NULL && f->count > 0;
	}
	return false;
}

/*
 * at_link_start - whether the output so far ends in the opening quote of an
 * attribute that browsers follow or load (href, src, action, formaction).
 */
static bool at_link_start(const struct page_buf *out)
{
	static const char *const attrs[] = { "href=", "src=", "action=", "formaction=" };
	size_t len = out->len;

	if (len < 2 || (out->data[len - 1] != '"' && out->data[len - 1] != '\''))
		return false;
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		size_t n = strlen(attrs[i]);
		if (len - 1 >= n && strncasecmp(out->data + len - 1 - n, attrs[i], n) == 0 &&
		    (len - 1 == n || strchr(" \t\n\r", out->data[len - 2 - n]) != NULL))
			return true;
	}
	return false;
}

/* insert - one {{name}}: escaped text, or a checked URL where a link begins. */
static void insert(const struct page_field *f, struct page_buf *out)
{
	if (f == NULL || (f->kind != PAGE_TEXT && f->kind != PAGE_URL) || f->text == NULL)
		return;
	if (at_link_start(out) && (f->kind != PAGE_URL || !page_url_ok(f->text, f->len)))
		return;
	page_buf_escape(out, f->text, f->len);
}

/* render_range - nodes [from, to) with scopes[0..depth) in reach. */
static void render_range(const struct page_template *t, size_t from, size_t to,
			 const struct page_scope **scopes, size_t depth, struct page_buf *out)
{
	for (size_t i = from; i < to && !out->failed; i++) {
		const struct node *n = &t->nodes[i];
		const struct page_field *f = NULL;

		if (n->type != NODE_TEXT)
			f = lookup(scopes, depth, t->src + n->start, n->len);
		switch (n->type) {
		case NODE_TEXT: page_buf_append(out, t->src + n->start, n->len); break;
		case NODE_VALUE: insert(f, out); break;
		case NODE_EACH:
			if (f != NULL && f->kind == PAGE_LIST) {
				for (size_t k = 0; k < f->count && f->items != NULL; k++) {
					scopes[depth] = &f->items[k];
					render_range(t, i + 1, n->end, scopes, depth + 1, out);
				}
			} else if (truthy(f)) {
				render_range(t, i + 1, n->end, scopes, depth, out);
			}
			i = n->end - 1;
			break;
		case NODE_IF:
		case NODE_UNLESS:
			if (truthy(f) == (n->type == NODE_IF))
				render_range(t, i + 1, n->end, scopes, depth, out);
			i = n->end - 1;
			break;
		}
	}
}

bool page_render(const struct page_template *t, const struct page_scope *root, struct page_buf *out)
{
	const struct page_scope *scopes[PAGE_DEPTH_MAX + 1] = { root };

	render_range(t, 0, t->count, scopes, root != NULL ? 1 : 0, out);
	if (!out->failed && out->data == NULL)
		page_buf_append(out, "", 0);
	return !out->failed;
}
