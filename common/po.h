/*
 * po - the help page's translations: gettext PO catalogs read without libintl (no
 * locale is ever switched), and the messages that a template marks for translation.
 *
 * A catalog is the text of one PO file, as translators' tools write it: entries of
 * msgid and msgstr, each a string in double quotes that may go on over several
 * lines, with the escapes \\ \" \n \t \r \a \b \f \v; comments (#), of which the
 * flags line (#,) may say "fuzzy": a fuzzy entry, or one whose msgstr is empty, is
 * no translation. The header (msgid "") holds "Field: value" lines; a Content-Type
 * whose charset is not UTF-8 is refused, as are invalid UTF-8, contexts (msgctxt),
 * plural forms, a repeated msgid, and anything else gettext would not read.
 *
 * In a template, a message to translate is written between {{_}} and {{/_}}. It may
 * hold markup, HTML tags and the template's own {{...}} tags, which its translation
 * must keep: the same tags, in any order. The message is the text between the
 * marks with each run of blanks (spaces, tabs, line ends) made one space and none at
 * either end, so that the template can be wrapped again without a new catalog.
 *
 * A catalog is trusted configuration (help_dir is the administrator's); its bytes
 * are still checked, since a translation becomes template text.
 *
 * Memory: po_parse returns a heap object that owns copies of every string, freed
 * with po_free. po_translate returns the translated text in a heap block that the
 * caller frees with free().
 */
#ifndef POLICYD_PO_H
#define POLICYD_PO_H

#include <stdbool.h>
#include <stddef.h>

#define PO_MARK_OPEN "{{_}}"
#define PO_MARK_CLOSE "{{/_}}"

/* Why a catalog or a template was refused: the line (from 1) and a message. */
struct po_error {
	unsigned line;
	bool in_catalog; /* po_translate: the line is the catalog's, not the template's */
	char message[200];
};

struct po_catalog;

/* po_parse - read the PO text (len bytes). NULL with *err filled in on error. */
struct po_catalog *po_parse(const char *text, size_t len, struct po_error *err);
void po_free(struct po_catalog *c);

/* po_count - the translations the catalog holds (the header, fuzzy and empty ones left out). */
size_t po_count(const struct po_catalog *c);

/*
 * po_lookup - the translation of msgid (len bytes, no terminator needed), with its
 * length and the line of its msgid; NULL when the catalog has none.
 */
const char *po_lookup(const struct po_catalog *c, const char *msgid, size_t len, size_t *out_len,
		      unsigned *line);

/* po_header - the value of a header field (any case), NULL when absent; not terminated. */
const char *po_header(const struct po_catalog *c, const char *field, size_t *len);

/* po_same_markup - whether a and b hold the same {{...}} and <...> tags, in any order. */
bool po_same_markup(const char *a, size_t a_len, const char *b, size_t b_len);

/* What po_translate did. */
struct po_result {
	char *text; /* the template with every mark replaced; NUL-terminated; free() it */
	size_t len;
	size_t messages; /* marked messages */
	size_t missing;  /* of them, without a translation in the catalog (left as they are) */
	char first_missing[64]; /* the start of the first one, for a warning */
};

/*
 * po_translate - the template src (len bytes) with each marked message replaced by its
 * translation from c, or left as written (blanks and line ends kept, so that the lines
 * of the result are the template's) where c has none (c NULL: English).
 * False with *err filled in when a mark is not closed, nested or stray, a message is
 * empty, a translation does not keep its message's markup, or memory runs out.
 */
bool po_translate(const char *src, size_t len, const struct po_catalog *c, struct po_result *out,
		  struct po_error *err);

#endif
