/*
 * help - the help page for refused senders: the template of [http] help_dir
 * (template.html, with style.css and logo.svg beside it) rendered from the
 * configuration and, when the HTTP listener asks, from what the verdict cache
 * knows about an address right now. Used by the HTTP listener and by
 * `policyd --help-page`. Never sends a DNS query.
 *
 * Query values (ip, list, domain) are untrusted: each is validated (an IPv4 or
 * IPv6 address, the name of a configured list, a clean domain) and an invalid
 * one is dropped, never shown.
 *
 * Memory: struct help owns the compiled template and the bytes of the assets;
 * help_render() appends to the caller's page_buf and keeps nothing.
 */
#ifndef POLICYD_HELP_H
#define POLICYD_HELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "page.h"

struct engine;
struct help;

/* The file names inside help_dir. */
#define HELP_TEMPLATE "template.html"
#define HELP_STYLE "style.css"
#define HELP_LOGO "logo.svg"

/* The longest page: far above what any configuration renders (64 lists). */
#define HELP_PAGE_MAX ((size_t)1 << 20)

/* What the page was asked about: untrusted bytes, NULL when not given. */
struct help_query {
	const char *ip, *list, *domain;
	bool greylisted; /* greylisted=1: the link of a greylisting delay */
};

/*
 * help_load - read and compile the files of dir. NULL on error, with a message
 * such as "DIR/template.html:12: unknown name 'stie'" in err.
 */
struct help *help_load(const char *dir, char *err, size_t errsize);
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
 * help_render - append the page for q to out. With an engine (the listener), each
 * address list says what the cache knows about q's address at loop time now_ms;
 * without one (--help-page) nothing is known. False when out failed.
 */
bool help_render(const struct help *h, const struct config *cfg, struct engine *e, uint64_t now_ms,
		 const struct help_query *q, struct page_buf *out);

/*
 * help_print - `policyd --help-page`: the page for q (nothing known about the
 * address: there is no cache) on stdout. A value of q that the page would ignore
 * is an error here, since an administrator typed it. With q NULL, only loads the
 * help page (policyd -t). Errors go to stderr; returns the exit status, 0 or 1.
 */
int help_print(const struct config *cfg, const struct help_query *q);

/* help_asset - style.css or logo.svg with its media type; NULL for any other name. */
const char *help_asset(const struct help *h, const char *name, size_t *len, const char **type);

#endif
