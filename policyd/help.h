/*
 * help - the help page for refused senders: the template of [http] help_dir
 * (template.html, with style.css and logo.svg beside it, and the translations
 * of its marked messages in po/LANG.po) rendered from the configuration and,
 * when the HTTP listener asks, from what the verdict cache knows about an
 * address right now. Used by the HTTP listener and by `policyd --help-page`.
 * Never sends a DNS query.
 *
 * Languages: English, the template's own, and one more for each catalog
 * po/LANG.po (LANG 2 or 3 letters; an en.po rewords the English page). Each is
 * compiled at load into a template of its own, so a render only picks one.
 *
 * Query values (ip, list, domain) are untrusted: each is validated (an IPv4 or
 * IPv6 address, the name of a configured list, a clean domain) and an invalid
 * one is dropped, never shown. From the listener, the page claims no more than
 * the cache shows (the security review of issue 22): a refusal by a list, the
 * address as refused and postmaster@DOMAIN only where the cache (or a local
 * blocklist) lists that address or domain now; per-address status only for
 * blocklist listings, never allowlists, negative results or times.
 *
 * Memory: struct help owns the compiled templates, the language names and the
 * bytes of the assets; help_render() appends to the caller's page_buf and keeps
 * nothing.
 */
#ifndef POLICYD_HELP_H
#define POLICYD_HELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "page.h"

struct engine;
struct help;

/* The file names inside help_dir. */
#define HELP_TEMPLATE "template.html"
#define HELP_STYLE "style.css"
#define HELP_LOGO "logo.svg"

#define HELP_PO_DIR "po"

/* The longest page: far above what any configuration renders (64 lists). */
#define HELP_PAGE_MAX ((size_t)1 << 20)

/* The most languages, English included. */
#define HELP_LANGS_MAX 24

/* What a POST /recheck did, for the page that answers it. */
enum help_recheck {
	HELP_RECHECK_NONE,    /* a GET: no recheck asked */
	HELP_RECHECK_DONE,    /* the cached verdicts were forgotten */
	HELP_RECHECK_NOTHING, /* the cache held no listing to forget */
	HELP_RECHECK_LIMITED, /* asked too often (429) */
};

/* What the page was asked about: untrusted bytes, NULL when not given. */
struct help_query {
	const char *ip, *list, *domain;
	bool greylisted;  /* greylisted=1: the link of a greylisting delay */
	const char *lang; /* a language code of the help (help_lang_code); NULL: English */
	enum help_recheck recheck;
};

/*
 * help_load - read and compile the files of dir. NULL on error, with a message
 * such as "DIR/template.html:12: unknown name 'stie'" or "DIR/po/de.po:40: ..."
 * in err. A catalog that leaves messages untranslated (shown in English) is no
 * error: help_warning says so.
 */
struct help *help_load(const char *dir, char *err, size_t errsize);

/* help_warning - the catalogs' untranslated messages in one line, or NULL. */
const char *help_warning(const struct help *h);

/* help_lang_count, help_lang_code - the languages: [0] is "en", the others by code. */
size_t help_lang_count(const struct help *h);
const char *help_lang_code(const struct help *h, size_t i);

/*
 * help_lang_pick - the language of a request: ?lang= when the help has it, else the
 * one Accept-Language prefers, else English. Both untrusted, NULL when absent.
 * Returns the help's own code.
 */
const char *help_lang_pick(const struct help *h, const char *param, const char *accept);

/*
 * help_recheck - POST /recheck for address a and the sender's domain (clean, NULL when
 * not given): when the cache holds a DNS blocklist's listing of a, or of domain, forget
 * the cached verdicts of both (engine_forget), so that the next delivery attempt is
 * looked up afresh. Never sends a query. Returns how many verdicts were forgotten; 0
 * when the cache held no such listing, and nothing changed.
 */
size_t help_recheck(struct engine *e, const struct addr *a, const char *domain);

void help_free(struct help *h);

/*
 * help_default_dir - where the help page is when [http] help_dir is not set: the
 * sources' contrib/help for a binary run from its build tree (the build links
 * BUILD/contrib/help to it), else where `meson install` put it. Worked out at the
 * first call, which main makes before dropping privileges (/proc/self/exe cannot
 * be read after), and the same for the process's life.
 */
const char *help_default_dir(void);

/* help_dir - the directory a help was loaded from. */
const char *help_dir(const struct help *h);

/*
 * help_render - append the page for q to out, in q's language. With an engine (the
 * listener), the page says what the cache shows about q's address and domain at loop
 * time now_ms, and claims a refusal only where it shows one; without one
 * (--help-page) nothing is known and q's values, an administrator's, are shown as
 * given. False when out failed.
 */
bool help_render(const struct help *h, const struct config *cfg, struct engine *e, uint64_t now_ms,
		 const struct help_query *q, struct page_buf *out);

/*
 * help_print - `policyd --help-page`: the page for q (nothing known about the
 * address: there is no cache) on stdout. A value of q that the page would ignore
 * is an error here, since an administrator typed it, and so is a language without
 * a catalog. With q NULL, only loads the help page (policyd -t). Errors go to
 * stderr, and so does help_warning's line; returns the exit status, 0 or 1.
 */
int help_print(const struct config *cfg, const struct help_query *q);

/* help_asset - style.css or logo.svg with its media type; NULL for any other name. */
const char *help_asset(const struct help *h, const char *name, size_t *len, const char **type);

#endif
