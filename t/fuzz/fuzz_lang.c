/*
 * fuzz_lang - the help page's language code: Accept-Language negotiation
 * (common/lang.h), and the PO catalogs and marked messages of common/po.h.
 *
 * Input: byte 0 chooses; with its low bit clear, the rest is an Accept-Language
 * value picked against eight codes; with it set, the rest is split at the first
 * NUL into a PO catalog and a template, which is translated with it.
 *
 * Invariants: lang_pick returns -1 or an index of a code; a refused catalog or
 * template has a message and a line within its text; a translation is
 * NUL-terminated, and holds exactly the template's marks' count of messages.
 */
#include "fuzz.h"

#include <string.h>

#include "lang.h"
#include "po.h"

static const char *const CODES[] = { "en", "de", "fr", "es", "it", "nl", "pt", "pl" };

/* lines - the lines of s[0..len) (a last one without a line end counts). */
static unsigned lines(const char *s, size_t len)
{
	unsigned n = 1;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *rest = (const char *)data + 1;
	size_t len = size - 1;

	if ((data[0] & 1) == 0) {
		/* A copy of its exact size, so that a read past it is caught. */
		char *h = malloc(len ? len : 1);
		FUZZ_CHECK(h != NULL);
		memcpy(h, rest, len);
		int i = lang_pick(h, len, CODES, 8);
		FUZZ_CHECK(i >= -1 && i < 8);
		(void)lang_code_ok(h, len < 4 ? len : 4);
		free(h);
		return 0;
	}
	const char *nul = memchr(rest, '\0', len);
	size_t po_len = nul ? (size_t)(nul - rest) : len;
	const char *tpl = nul ? nul + 1 : "";
	size_t tpl_len = nul ? len - po_len - 1 : 0;
	struct po_error err;
	struct po_catalog *c = po_parse(rest, po_len, &err);

	if (c == NULL) {
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(err.line >= 1 && err.line <= lines(rest, po_len));
	}
	struct po_result r;
	if (po_translate(tpl, tpl_len, c, &r, &err)) {
		FUZZ_CHECK(r.text != NULL && r.text[r.len] == '\0');
		FUZZ_CHECK(r.missing <= r.messages);
		free(r.text);
	} else {
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(err.in_catalog || err.line <= lines(tpl, tpl_len));
	}
	po_free(c);
	return 0;
}
