/*
 * help_internal - the loaded help page, shared by help.c (loading it: the template,
 * its languages, the assets) and help_view.c (rendering it: the page's values).
 * Not used outside the help page.
 */
#ifndef POLICYD_HELP_INTERNAL_H
#define POLICYD_HELP_INTERNAL_H

#include "help.h"

/* One language: its code, its own name, and the template compiled with its catalog. */
struct help_lang {
	char code[4];
	char *native; /* "Deutsch", from the catalog's X-Language-Name; the code without one */
	struct page_template *page;
};

struct help {
	char *dir;
	struct help_lang langs[HELP_LANGS_MAX]; /* [0]: English */
	const char *codes[HELP_LANGS_MAX];      /* langs[i].code, for lang.h */
	size_t lang_count;
	char *style, *logo;
	size_t style_len, logo_len;
	char warning[400]; /* the catalogs' untranslated messages; empty: none */
};

/* The names a template may use (help_view.c), for page_compile. */
extern const char *const HELP_NAMES[];

/* help_find_list - the configured list named s (any case, a final dot allowed), or -1. */
int help_find_list(const struct rules *r, const char *s);

#endif
