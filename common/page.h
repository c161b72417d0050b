/*
 * page - the help page's template language: a template text and a tree of values
 * rendered into HTML, every value escaped on the way in.
 *
 * Syntax:
 *   {{name}}               the value, HTML-escaped (a URL value: only if it is an
 *                          http or https URL, see page_url_ok)
 *   {{#name}}...{{/name}}  the block once per item of a list value, each item's
 *                          names looked up first, then the enclosing scopes'
 *   {{?name}}...{{/name}}  the block when name is true: a flag that is on, a text
 *                          that is not empty, a URL that page_url_ok accepts, a
 *                          list with items
 *   {{^name}}...{{/name}}  the block when name is not true
 *   {{!comment}}           nothing
 * Names are 1 to 32 bytes of a-z, 0-9 and '_'. Anything else between "{{" and
 * "}}", an unclosed block, a close that does not match, nesting deeper than
 * PAGE_DEPTH_MAX, or a name outside the caller's vocabulary is an error with the
 * line where it happens.
 *
 * Safety: a value never reaches the output as markup. Text is HTML-escaped
 * (& < > " ' become entities), control bytes, invalid UTF-8, C1 controls and
 * bidirectional overrides become '?'. An insertion that starts the value of an
 * href or src attribute (the template text before it ends in href=" or src=")
 * takes only a URL value that page_url_ok accepts, and is left empty otherwise,
 * so that only http and https links ever come from values.
 *
 * Memory: page_compile() returns a heap object that holds its own copy of the
 * source, freed with page_free(). Values belong to the caller and are read only
 * during page_render(). The output buffer is the caller's, grown with realloc and
 * released with page_buf_free().
 */
#ifndef POLICYD_PAGE_H
#define POLICYD_PAGE_H

#include <stdbool.h>
#include <stddef.h>

/* The deepest nesting of blocks a template may have. */
#define PAGE_DEPTH_MAX 8
/* The longest name. */
#define PAGE_NAME_MAX 32

enum page_kind { PAGE_TEXT, PAGE_URL, PAGE_FLAG, PAGE_LIST };

struct page_scope;

/* One named value. Text and URL bytes are untrusted; they need no terminator. */
struct page_field {
	const char *name;
	enum page_kind kind;
	const char *text; /* PAGE_TEXT, PAGE_URL; NULL is empty */
	size_t len;
	bool on;                        /* PAGE_FLAG */
	const struct page_scope *items; /* PAGE_LIST: count scopes */
	size_t count;
};

/* The values of one scope: the page itself, or one item of a list. */
struct page_scope {
	const struct page_field *fields;
	size_t count;
};

/*
 * A growable output buffer. max bounds its length: an append past it fails, as
 * does running out of memory; `failed` then stays set and the text is incomplete.
 */
struct page_buf {
	char *data; /* NUL-terminated while not failed */
	size_t len, cap, max;
	bool failed;
};

bool page_buf_append(struct page_buf *b, const void *bytes, size_t len);
/* page_buf_escape - append untrusted bytes HTML-escaped (the rules above). */
bool page_buf_escape(struct page_buf *b, const char *bytes, size_t len);
void page_buf_free(struct page_buf *b);

/* Why a template was refused: the line (from 1) and a message. */
struct page_error {
	unsigned line;
	char message[160];
};

struct page_template;

/*
 * page_compile - check src (len bytes) and build the template. names, when not
 * NULL, is the NULL-terminated vocabulary: any other name is an error. On error
 * returns NULL and fills *err.
 */
struct page_template *page_compile(const char *src, size_t len, const char *const *names,
				   struct page_error *err);
void page_free(struct page_template *t);

/*
 * page_render - append the page for the values of root to out. False when out
 * failed (too long, or out of memory).
 */
bool page_render(const struct page_template *t, const struct page_scope *root,
		 struct page_buf *out);

/*
 * page_url_ok - whether s is a URL that may be a link: "http://" or "https://"
 * (either case) and a host, then only printable ASCII without blanks, quotes,
 * '<', '>', '`' or '\'.
 */
bool page_url_ok(const char *s, size_t len);

#endif
