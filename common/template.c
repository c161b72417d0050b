/*
 * template - reply templates in Postfix's macro syntax, compiled once and expanded into one
 * line of printable ASCII of bounded length (see template.h for the syntax and cutting rules).
 *
 * A template is compiled, at configuration time, into a flat array of nodes in source order:
 * literal text, a macro, or a conditional whose children (the nodes of its text) follow it up
 * to its `end` index. Expansion walks that array without recursion or allocation: a first pass
 * looks each reachable macro up once and measures the text per cut class, writing it as it
 * goes for as long as all of it fits. Most replies do fit, and are done then. Otherwise the
 * room each cuttable value gets is computed from those lengths, and a second pass writes
 * over what the first one wrote. Each macro
 * node keeps the id its caller's resolver gave the name (template_compile_ids), handed to
 * every lookup, so that a caller with a fixed set of names compares them once, not per
 * expansion.
 *
 * Several values of one cut class share their room fairly ("water-filling"): values shorter
 * than an equal share stay whole and the longer ones get equal parts of what is left. So a
 * long sender does not wipe out a short helo name, and no value is dropped while another one
 * of its class keeps more than its share.
 *
 * Memory: template_compile() copies what it needs from its source (literal text, already
 * cleaned, and macro names) into heap blocks owned by the struct template; template_free()
 * releases them. template_expand() keeps its state on the stack (bounded by
 * TEMPLATE_MAX_MACROS) and writes only into the caller's buffer.
 */
#include "template.h"
#include "hot.h"

#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep expansion state on the stack; real templates use a handful of macros. */
#define TEMPLATE_MAX_MACROS 64
#define TEMPLATE_MAX_DEPTH 16

#define NO_NODE SIZE_MAX
#define NOT_SHARED SIZE_MAX

static const char ellipsis[] = "...";
#define ELLIPSIS_LEN (sizeof(ellipsis) - 1)

enum node_kind {
	NODE_TEXT,     /* literal text */
	NODE_MACRO,    /* $name, ${name} */
	NODE_IF_SET,   /* ${name?text}: children expanded when the value is non-empty */
	NODE_IF_EMPTY, /* ${name:text}: children expanded when the value is empty or unknown */
};

struct node {
	enum node_kind kind;
	unsigned id; /* macros and conditionals: the resolver's id of the name, or TEMPLATE_NO_ID */
	size_t off;  /* text or macro name: offset in template->buf */
	size_t len;  /* its length */
	size_t slot; /* macros and conditionals: index of the value in struct expansion */
	size_t end;  /* conditionals: index of the first node after the children */
};

struct template
{
	struct node *nodes;
	size_t nnodes;
	size_t nslots; /* macros and conditionals: one looked-up value each */
	char *buf;     /* literal text (cleaned) and macro names, not terminated */
};

/* A conditional whose closing '}' has not been seen yet. */
struct open_cond {
	size_t node;   /* its node */
	size_t dollar; /* offset of its '$' in the source, for the error message */
	size_t braces; /* literal '{' in its text still waiting for their '}' */
};

struct parser {
	const char *src;
	size_t len;
	size_t pos;
	template_resolve_fn *resolve; /* NULL: every name gets TEMPLATE_NO_ID */
	struct template *t;
	size_t cap;    /* nodes allocated */
	size_t buflen; /* bytes used in t->buf */
	size_t text;   /* literal node that more text extends, or NO_NODE */
	size_t depth;
	struct open_cond open[TEMPLATE_MAX_DEPTH];
	const char *err;
	size_t err_offset;
};

/* is_name_char - bytes allowed in a macro name, as in Postfix: letters, digits, '_'. */
static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* fail - record the first error; always returns false so that callers can return it. */
static bool fail(struct parser *p, const char *err, size_t offset)
{
	p->err = err;
	p->err_offset = offset;
	return false;
}

/* new_node - append a node of the given kind; NO_NODE when memory runs out. */
static size_t new_node(struct parser *p, enum node_kind kind)
{
	struct template *t = p->t;

	if (t->nnodes == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		struct node *nodes = realloc(t->nodes, cap * sizeof(*nodes));

		if (!nodes)
			return NO_NODE;
		t->nodes = nodes;
		p->cap = cap;
	}
	t->nodes[t->nnodes] = (struct node){ .kind = kind, .off = p->buflen };
	return t->nnodes++;
}

/*
 * add_text - append literal bytes, merged into the current literal node when there is one so
 * that "a$$b" costs one node. The bytes are cleaned here once instead of at each expansion.
 */
static bool add_text(struct parser *p, const char *s, size_t n)
{
	if (p->text == NO_NODE) {
		p->text = new_node(p, NODE_TEXT);
		if (p->text == NO_NODE)
			return fail(p, "out of memory", p->pos);
	}
	memcpy(p->t->buf + p->buflen, s, n);
	text_clean_inplace(p->t->buf + p->buflen, n);
	p->buflen += n;
	p->t->nodes[p->text].len += n;
	return true;
}

/* add_macro - append a macro or conditional node for the name at src[start..start+n). */
static size_t add_macro(struct parser *p, enum node_kind kind, size_t dollar, size_t start,
			size_t n)
{
	size_t i;

	if (p->t->nslots == TEMPLATE_MAX_MACROS) {
		fail(p, "too many macros in template", dollar);
		return NO_NODE;
	}
	i = new_node(p, kind);
	if (i == NO_NODE) {
		fail(p, "out of memory", dollar);
		return NO_NODE;
	}
	memcpy(p->t->buf + p->buflen, p->src + start, n);
	p->buflen += n;
	p->t->nodes[i].len = n;
	p->t->nodes[i].id = p->resolve ? p->resolve(p->src + start, n) : TEMPLATE_NO_ID;
	p->t->nodes[i].slot = p->t->nslots++;
	p->text = NO_NODE;
	return i;
}

/* name_len - length of the macro name that starts at src[start]. */
static size_t name_len(const struct parser *p, size_t start)
{
	size_t i = start;

	while (i < p->len && is_name_char((unsigned char)p->src[i]))
		i++;
	return i - start;
}

/* parse_braced - parse "${name}", or the head "${name?" or "${name:" of a conditional. */
static bool parse_braced(struct parser *p, size_t dollar)
{
	size_t start = dollar + 2;
	size_t n = name_len(p, start);
	size_t after = start + n;
	enum node_kind kind;
	size_t i;

	if (after >= p->len)
		return fail(p, "unterminated ${", dollar);
	if (n == 0)
		return fail(p, "missing macro name after ${", dollar);
	switch (p->src[after]) {
	case '}': kind = NODE_MACRO; break;
	case '?': kind = NODE_IF_SET; break;
	case ':': kind = NODE_IF_EMPTY; break;
	default: return fail(p, "expected '}', '?' or ':' after macro name", after);
	}
	if (kind != NODE_MACRO && p->depth == TEMPLATE_MAX_DEPTH)
		return fail(p, "conditionals nested too deeply", dollar);
	i = add_macro(p, kind, dollar, start, n);
	if (i == NO_NODE)
		return false;
	if (kind != NODE_MACRO)
		p->open[p->depth++] = (struct open_cond){ .node = i, .dollar = dollar };
	p->pos = after + 1;
	return true;
}

/* parse_dollar - parse what starts at the '$' at src[pos]: "$$", "$name" or "${...". */
static bool parse_dollar(struct parser *p)
{
	size_t dollar = p->pos;
	unsigned char c = dollar + 1 < p->len ? (unsigned char)p->src[dollar + 1] : '\0';
	size_t n;

	if (c == '$') {
		p->pos += 2;
		return add_text(p, "$", 1);
	}
	if (c == '{')
		return parse_braced(p, dollar);
	n = name_len(p, dollar + 1);
	if (n == 0)
		return fail(p, "missing macro name after $", dollar);
	if (add_macro(p, NODE_MACRO, dollar, dollar + 1, n) == NO_NODE)
		return false;
	p->pos = dollar + 1 + n;
	return true;
}

/*
 * parse_brace - a '{' or '}' outside a macro. Inside a conditional's text braces nest, as in
 * Postfix: a '}' closes the conditional only when every literal '{' before it has its '}'.
 */
static bool parse_brace(struct parser *p)
{
	struct open_cond *o = p->depth ? &p->open[p->depth - 1] : NULL;
	char c = p->src[p->pos];

	if (o && c == '}' && o->braces == 0) {
		p->t->nodes[o->node].end = p->t->nnodes;
		p->depth--;
		p->text = NO_NODE;
		p->pos++;
		return true;
	}
	if (o && c == '{')
		o->braces++;
	else if (o)
		o->braces--;
	p->pos++;
	return add_text(p, &c, 1);
}

/* parse_text - append the run of literal bytes at src[pos], up to the next '$', '{' or '}'. */
static bool parse_text(struct parser *p)
{
	size_t start = p->pos;

	/* Not strchr(): a NUL byte in the source is text too, and must not stop the scan. */
	while (p->pos < p->len && p->src[p->pos] != '$' && p->src[p->pos] != '{' &&
	       p->src[p->pos] != '}')
		p->pos++;
	return add_text(p, p->src + start, p->pos - start);
}

/* template_compile - check the syntax of src and build the template (see template.h). */
struct template *template_compile(const char *src, size_t len, const char **err, size_t *err_offset)
{
	return template_compile_ids(src, len, NULL, err, err_offset);
}

/* template_compile_ids - template_compile, each name resolved to its id (see template.h). */
struct template *template_compile_ids(const char *src, size_t len, template_resolve_fn *resolve,
				      const char **err, size_t *err_offset)
{
	struct parser p = { .src = src, .len = len, .resolve = resolve, .text = NO_NODE };
	bool good = true;

	p.t = calloc(1, sizeof(*p.t));
	if (p.t)
		p.t->buf = malloc(len ? len : 1); /* the copy is never longer than the source */
	if (!p.t || !p.t->buf)
		good = fail(&p, "out of memory", 0);
	while (good && p.pos < len) {
		char c = src[p.pos];

		if (c == '$')
			good = parse_dollar(&p);
		else if (c == '{' || c == '}')
			good = parse_brace(&p);
		else
			good = parse_text(&p);
	}
	if (good && p.depth > 0)
		good = fail(&p, "unterminated ${", p.open[p.depth - 1].dollar);
	if (good)
		return p.t;
	template_free(p.t);
	if (err)
		*err = p.err;
	if (err_offset)
		*err_offset = p.err_offset;
	return NULL;
}

/* template_free - release a compiled template; NULL is allowed. */
void template_free(struct template *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t->buf);
	free(t);
}

/* template_uses - whether any macro or conditional of t is named `name`. */
bool template_uses(const struct template *t, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < t->nnodes; i++) {
		const struct node *node = &t->nodes[i];

		if (node->kind != NODE_TEXT && node->len == n &&
		    memcmp(t->buf + node->off, name, n) == 0)
			return true;
	}
	return false;
}

/* template_each_name - every macro name, in template order (repeats included). */
void template_each_name(const struct template *t,
			void (*fn)(void *ctx, const char *name, size_t len), void *ctx)
{
	for (size_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].kind != NODE_TEXT)
			fn(ctx, t->buf + t->nodes[i].off, t->nodes[i].len);
}

/* template_literal_len - the sum of the literal nodes. */
size_t template_literal_len(const struct template *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].kind == NODE_TEXT)
			n += t->nodes[i].len;
	return n;
}

/* One looked-up value during an expansion. */
struct value {
	struct template_value got; /* as the lookup gave it: bytes owned by its caller */
	size_t shown;              /* bytes it takes in the output: got.len, or less when cut */
};

/*
 * The state of one expansion. Only the slots of the macros that measure() reached are set:
 * the others are never read, which spares clearing all of them for each expansion.
 */
struct expansion {
	/* Per enum template_cut, the length of the text shown: TEMPLATE_KEEP's counts the
	 * literal text too, all that no cut may remove. */
	size_t classes[3];
	size_t nshown; /* reachable $name values (a conditional's is only tested) */
	uint8_t shown[TEMPLATE_MAX_MACROS]; /* their slots, in template order */
	struct value v[TEMPLATE_MAX_MACROS];
};
_Static_assert(TEMPLATE_MAX_MACROS <= UINT8_MAX + 1, "a slot fits in uint8_t");

/* look_up - ask the caller for the value of node n's macro; unknown names are empty. */
static void look_up(const struct template *t, const struct node *n, template_lookup_fn *lookup,
		    void *ctx, struct value *v)
{
	/* Class for a lookup that does not say: request data, cut when needed, and cleaned. */
	v->got.cut = TEMPLATE_CUT_LATER;
	v->got.clean = false;
	if (!lookup(ctx, n->id, t->buf + n->off, n->len, &v->got) || !v->got.s) {
		v->got.s = NULL;
		v->got.len = 0;
		v->got.clean = false; /* nothing is vouched for, and a NULL is never copied */
	}
	if (v->got.cut != TEMPLATE_KEEP && v->got.cut != TEMPLATE_CUT_FIRST)
		v->got.cut = TEMPLATE_CUT_LATER;
	v->shown = v->got.len;
}

/*
 * skip_to - the index of the node after conditional n (whose children start at i): past its
 * text when the condition is false.
 */
static size_t skip_to(const struct node *n, size_t i, const struct value *v)
{
	if (n->kind == NODE_IF_SET ? v->got.len == 0 : v->got.len > 0)
		return n->end;
	return i;
}

/* A bounded output buffer: bytes past `limit` are dropped. */
struct writer {
	char *out;
	size_t len;
	size_t limit;
};

/* room_for - how many of n bytes fit before the limit. */
static size_t room_for(const struct writer *w, size_t n)
{
	size_t room = w->limit - w->len;

	return n > room ? room : n;
}

/* put - append untrusted bytes as printable ASCII (others become ' '), within the limit. */
static void put(struct writer *w, const char *s, size_t n)
{
	n = room_for(w, n);
	text_copy_clean(w->out + w->len, s, n, ' ');
	w->len += n;
}

/* put_literal - append clean bytes: the template's own (cleaned when it was compiled), or a
 * value its lookup vouched for. */
HOT static void put_literal(struct writer *w, const char *s, size_t n)
{
	n = room_for(w, n);
	memcpy(w->out + w->len, s, n);
	w->len += n;
}

/*
 * put_value - append a value in the room `shown` it was given. A cut value ends in "..."; one
 * left with less room than that is dropped, since "." or ".." would only puzzle the reader.
 */
static void put_value(struct writer *w, const struct value *v)
{
	size_t n = v->got.len;
	bool cut = v->shown < n;

	if (cut) {
		if (v->shown < ELLIPSIS_LEN)
			return;
		n = v->shown - ELLIPSIS_LEN;
	}
	if (v->got.clean)
		put_literal(w, v->got.s, n);
	else
		put(w, v->got.s, n);
	if (cut)
		put_literal(w, ellipsis, ELLIPSIS_LEN);
}

/*
 * measure - first pass: look every reachable macro up once and add up lengths per cut class.
 * Meanwhile the text is written into w for as long as all of it fits: returns true when it
 * did to the end, the common case, in which nothing is cut and the second pass is not needed.
 */
static bool measure(const struct template *t, template_lookup_fn *lookup, void *ctx,
		    struct expansion *x, struct writer *w)
{
	/* Locals, not x's fields: x escapes into every lookup, so its fields would be stored and
	 * loaded again around each call. */
	size_t classes[3] = { 0, 0, 0 }, nshown = 0, i = 0;
	bool whole = true;

	while (i < t->nnodes) {
		const struct node *n = &t->nodes[i++];
		struct value *v;

		if (n->kind == NODE_TEXT) {
			classes[TEMPLATE_KEEP] += n->len;
			whole = whole && n->len <= w->limit - w->len;
			if (whole)
				put_literal(w, t->buf + n->off, n->len);
			continue;
		}
		v = &x->v[n->slot];
		look_up(t, n, lookup, ctx, v);
		if (n->kind == NODE_MACRO) {
			x->shown[nshown++] = (uint8_t)n->slot;
			classes[v->got.cut] += v->got.len;
			whole = whole && v->got.len <= w->limit - w->len;
			if (whole && v->got.clean)
				put_literal(w, v->got.s, v->got.len);
			else if (whole)
				put(w, v->got.s, v->got.len);
		} else {
			i = skip_to(n, i, v);
		}
	}
	memcpy(x->classes, classes, sizeof(classes));
	x->nshown = nshown;
	return whole;
}

/*
 * share - cut the values of class `cut` to `room` bytes in all, fairly: each value shorter
 * than an equal share keeps its length, and the longer ones share what is left equally (the
 * first ones get the remainder's extra bytes). Called only when the class does not fit.
 */
static void share(struct expansion *x, enum template_cut cut, size_t room)
{
	size_t waiting = 0;
	bool settled = true;

	for (size_t i = 0; i < x->nshown; i++) {
		struct value *v = &x->v[x->shown[i]];

		if (v->got.cut == cut && v->got.len > 0) {
			v->shown = NOT_SHARED;
			waiting++;
		}
	}
	/* Each round settles the values that fit in an equal share; at most one round per value. */
	while (settled && waiting > 0) {
		size_t level = room / waiting;

		settled = false;
		for (size_t i = 0; i < x->nshown; i++) {
			struct value *v = &x->v[x->shown[i]];

			if (v->got.cut == cut && v->shown == NOT_SHARED && v->got.len <= level) {
				v->shown = v->got.len;
				room -= v->got.len;
				waiting--;
				settled = true;
			}
		}
	}
	for (size_t i = 0; i < x->nshown && waiting > 0; i++) {
		struct value *v = &x->v[x->shown[i]];

		if (v->got.cut == cut && v->shown == NOT_SHARED) {
			/* Rounded up, so that the remainder's extra bytes go to the first ones. */
			v->shown = (room + waiting - 1) / waiting;
			room -= v->shown;
			waiting--;
		}
	}
}

/* cut_class - take up to `over` bytes from the values of class `cut`; returns what is left over. */
static size_t cut_class(struct expansion *x, enum template_cut cut, size_t over)
{
	size_t total = x->classes[cut];
	size_t take = over < total ? over : total;

	if (take > 0)
		share(x, cut, total - take);
	return over - take;
}

/* write_all - second pass: write the reachable text and values, as measured and cut. */
static void write_all(const struct template *t, const struct expansion *x, struct writer *w)
{
	size_t i = 0;

	while (i < t->nnodes) {
		const struct node *n = &t->nodes[i++];

		if (n->kind == NODE_TEXT)
			put_literal(w, t->buf + n->off, n->len);
		else if (n->kind == NODE_MACRO)
			put_value(w, &x->v[n->slot]);
		else
			i = skip_to(n, i, &x->v[n->slot]);
	}
}

/* template_expand - expand t into out, at most max bytes (see template.h). */
size_t template_expand(const struct template *t, template_lookup_fn *lookup, void *ctx, char *out,
		       size_t outsize, size_t max)
{
	return template_expand_fit(t, lookup, ctx, out, outsize, max, max);
}

/*
 * template_expand_fit - expand t into out (see template.h). The values that lookup returns
 * are untrusted: they are cleaned and cut here, never expanded again.
 */
HOT size_t template_expand_fit(const struct template *t, template_lookup_fn *lookup, void *ctx,
			       char *out, size_t outsize, size_t max, size_t ceiling)
{
	struct expansion x;
	struct writer w = { .out = out };
	size_t fixed, over;

	if (outsize == 0)
		return 0;
	if (ceiling >= outsize)
		ceiling = outsize - 1;
	if (max > ceiling)
		max = ceiling;
	/* All of it fits (the common case): written as it is, nothing to cut. */
	w.limit = max;
	if (measure(t, lookup, ctx, &x, &w)) {
		out[w.len] = '\0';
		return w.len;
	}
	w.len = 0;
	fixed = x.classes[TEMPLATE_KEEP];
	if (fixed > max)
		max = fixed < ceiling ? fixed : ceiling;

	over = fixed + x.classes[TEMPLATE_CUT_FIRST] + x.classes[TEMPLATE_CUT_LATER];
	over = over > max ? over - max : 0;
	over = cut_class(&x, TEMPLATE_CUT_FIRST, over);
	over = cut_class(&x, TEMPLATE_CUT_LATER, over);

	/* Last resort, when the kept text alone is too long: cut the tail and mark it. */
	w.limit = over > 0 && max >= ELLIPSIS_LEN ? max - ELLIPSIS_LEN : max;
	write_all(t, &x, &w);
	if (over > 0 && max >= ELLIPSIS_LEN) {
		w.limit = max;
		put_literal(&w, ellipsis, ELLIPSIS_LEN);
	}
	out[w.len] = '\0';
	return w.len;
}
