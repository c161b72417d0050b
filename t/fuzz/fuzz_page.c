/*
 * fuzz_page - the help page's templates (common/page.h): compile untrusted-looking
 * template text, render it with untrusted values of every kind, check the output.
 *
 * Input: bytes 0-1 give the length of the template source that follows; the rest
 * is a table of fields, each a kind byte (bits 0-1: text, URL, flag, list; bit 2: a
 * flag's value), a name byte (an index into NAMES), a two-byte length (modulo
 * 512) and that many bytes. A list has (length % 4) items, each of which is the
 * whole table again, so that nested blocks see every name.
 *
 * Invariants: a failed compile has a message and a line inside the source; a
 * render stays within the buffer's max and is NUL-terminated; and no '<' or '"'
 * of a value ever reaches the output unescaped. The last is checked by rendering a
 * second time with every '<', '>', '"' and '\'' of the values replaced by a control
 * byte (which escaping turns into '?', and which a URL may not hold either) and
 * every '&' by '+' (both allowed in a URL), so that every condition decides the
 * same: both outputs must hold the same number of '<' and of '"', since the
 * second one's can only come from the template's own text.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "page.h"

#define MAX_FIELDS 24

/* The vocabulary of odd-sized inputs (NULL-terminated), and the names of fields. */
static const char *const NAMES[] = { "a", "b", "name", "url", "list", "on", "site", "x", NULL };
#define NAME_COUNT (sizeof(NAMES) / sizeof(NAMES[0]) - 1)

/* count - how often c occurs in s[0..len). */
static size_t count(const char *s, size_t len, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/* render - into a fresh buffer with a limit; checks the buffer's own invariants. */
static struct page_buf render(const struct page_template *t, const struct page_scope *root,
			      size_t max)
{
	struct page_buf out = { .max = max };
	bool ok = page_render(t, root, &out);

	FUZZ_CHECK(ok == !out.failed);
	FUZZ_CHECK(out.len <= max);
	if (ok)
		FUZZ_CHECK(out.data != NULL && out.data[out.len] == '\0');
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct page_field fields[MAX_FIELDS], defused[MAX_FIELDS];
	static char copies[MAX_FIELDS][512];
	/* The items of every list: up to three, each the whole table again. */
	static struct page_scope items[3], items2[3];
	struct page_scope root = { fields, 0 }, root2 = { defused, 0 };
	struct page_error err;
	size_t pos, src_len;

	if (size < 2)
		return 0;
	src_len = ((size_t)data[0] | (size_t)data[1] << 8) % (size - 2 + 1);

	/* The source in its own exact-size block, so that a read past it is caught. */
	char *src = malloc(src_len ? src_len : 1);
	FUZZ_CHECK(src != NULL);
	memcpy(src, data + 2, src_len);
	struct page_template *t = page_compile(src, src_len, size & 1 ? NAMES : NULL, &err);
	if (t == NULL) {
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(err.line >= 1 && err.line <= 1 + count(src, src_len, '\n'));
		free(src);
		return 0;
	}
	free(src);

	pos = 2 + src_len;
	while (root.count < MAX_FIELDS && pos + 4 <= size) {
		struct page_field *f = &fields[root.count], *g = &defused[root.count];
		size_t len = ((size_t)data[pos + 2] | (size_t)data[pos + 3] << 8) % 512;
		char *copy = copies[root.count];

		f->kind = (enum page_kind)(data[pos] & 3);
		f->on = data[pos] & 4;
		f->name = NAMES[data[pos + 1] % NAME_COUNT];
		pos += 4;
		if (len > size - pos)
			len = size - pos;
		f->text = (const char *)data + pos;
		f->len = len;
		f->items = f->kind == PAGE_LIST ? items : NULL;
		f->count = f->kind == PAGE_LIST ? len % 4 : 0;
		for (size_t i = 0; i < len; i++) {
			char c = (char)data[pos + i];
			copy[i] = c == '&' ? '+' : c != '\0' && strchr("<>\"'", c) ? '\x01' : c;
		}
		*g = *f;
		g->text = copy;
		g->items = f->kind == PAGE_LIST ? items2 : NULL;
		pos += len;
		root.count++;
		root2.count++;
	}
	for (size_t i = 0; i < 3; i++)
		items[i] = root, items2[i] = root2;

	/* Large enough for every template of the corpus; a longer page must fail cleanly. */
	size_t max = 1 << 20;
	struct page_buf out = render(t, &root, max), safe = render(t, &root2, max);
	if (!out.failed && !safe.failed) {
		FUZZ_CHECK(count(out.data, out.len, '<') == count(safe.data, safe.len, '<'));
		FUZZ_CHECK(count(out.data, out.len, '"') == count(safe.data, safe.len, '"'));
	}
	page_buf_free(&out);
	page_buf_free(&safe);
	/* A small limit: the render stops at it without writing past. */
	out = render(t, &root, data[0]);
	page_buf_free(&out);
	page_free(t);
	return 0;
}
