/*
 * help - the help page (see help.h): loading help_dir (the template, the catalogs of
 * po/, the assets), picking a request's language, and `--help-page`. The page's
 * values and the render are help_view.c's.
 *
 * Memory: struct help (help_internal.h) owns its templates, language names and asset
 * bytes. Loading reads each file into a heap block freed before help_load returns.
 */
#include "help_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "build_config.h"
#include "domain.h"
#include "lang.h"
#include "po.h"

/* The largest template, catalog or asset read from help_dir. */
#define HELP_FILE_MAX ((size_t)256 << 10)

/* read_in - a file of dir into *out; false with a message in err. */
static bool read_in(const char *dir, const char *name, char **out, size_t *len, char *err,
		    size_t errsize)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*out = config_read_file(path, HELP_FILE_MAX, len);
	if (*out == NULL) {
		snprintf(err, errsize, "%s: cannot read: %s", path,
			 errno == EINVAL  ? "not a regular file"
			 : errno == EFBIG ? "larger than 256 KiB"
					  : strerror(errno));
		return false;
	}
	return true;
}

/* catalog_name - whether a file of po/ is a catalog, LANG.po with LANG 2 or 3 letters. */
static bool catalog_name(const char *name)
{
	size_t len = strlen(name);

	return len >= 5 && len <= 6 && strcmp(name + len - 3, ".po") == 0 &&
	       lang_code_ok(name, len - 3) && name[0] >= 'a' && name[1] >= 'a' &&
	       (len == 5 || name[2] >= 'a');
}

/* name_cmp - catalog names in byte order, so that languages come in a stable order. */
static int name_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/*
 * catalogs - the catalog names of dir/po, sorted (a directory that is missing has none);
 * the number found, or -1 with a message when there are more than a help can hold.
 */
static int catalogs(const char *dir, char names[][8], char *err, size_t errsize)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, HELP_PO_DIR);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!catalog_name(de->d_name))
			continue;
		if (n == HELP_LANGS_MAX - 1) {
			snprintf(err, errsize, "%s: more than %d catalogs", path,
				 HELP_LANGS_MAX - 1);
			closedir(d);
			return -1;
		}
		snprintf(names[n++], 8, "%s", de->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
	return n;
}

/*
 * add_lang - compile src (the template) with catalog c (NULL: none) as language code.
 * The English page keeps the template's lines, so its errors name them; a translated
 * one is checked as a whole and its error names the catalog.
 */
static bool add_lang(struct help *h, const char *code, const char *src, size_t len,
		     const struct po_catalog *c, const char *po_path, char *err, size_t errsize)
{
	struct help_lang *l = &h->langs[h->lang_count];
	struct po_result r;
	struct po_error perr;
	struct page_error pgerr;
	size_t native_len = 0;
	const char *native = c ? po_header(c, "X-Language-Name", &native_len) : NULL;

	if (!po_translate(src, len, c, &r, &perr)) {
		if (perr.in_catalog)
			snprintf(err, errsize, "%s:%u: %s", po_path, perr.line, perr.message);
		else
			snprintf(err, errsize, "%s/%s:%u: %s", h->dir, HELP_TEMPLATE, perr.line,
				 perr.message);
		return false;
	}
	l->page = page_compile(r.text, r.len, HELP_NAMES, &pgerr);
	free(r.text);
	if (l->page == NULL) {
		if (c == NULL || strcmp(code, "en") == 0)
			snprintf(err, errsize, "%s/%s:%u: %s", h->dir, HELP_TEMPLATE, pgerr.line,
				 pgerr.message);
		else
			snprintf(err, errsize, "%s: the page translated with it: %s", po_path,
				 pgerr.message);
		return false;
	}
	snprintf(l->code, sizeof(l->code), "%s", code);
	if (native == NULL || native_len == 0)
		native = strcmp(code, "en") == 0 ? "English" : code, native_len = strlen(native);
	l->native = strndup(native, native_len);
	if (l->native == NULL) {
		page_free(l->page);
		snprintf(err, errsize, "out of memory");
		return false;
	}
	h->codes[h->lang_count++] = l->code;
	if (r.missing > 0 && c != NULL) {
		size_t used = strlen(h->warning);
		snprintf(
			h->warning + used, sizeof(h->warning) - used,
			"%s%s: %zu of %zu messages not translated (shown in English), the first \"%.40s\"",
			used ? "; " : "", po_path, r.missing, r.messages, r.first_missing);
	}
	return true;
}

/* load_catalog - po/NAME: parsed, or NULL with a message. */
static struct po_catalog *load_catalog(const char *dir, const char *name, char *path,
				       size_t path_size, char *err, size_t errsize)
{
	char rel[32], *text;
	size_t len;
	struct po_error perr;
	struct po_catalog *c;

	snprintf(rel, sizeof(rel), "%s/%s", HELP_PO_DIR, name);
	snprintf(path, path_size, "%s/%s", dir, rel);
	if (!read_in(dir, rel, &text, &len, err, errsize))
		return NULL;
	c = po_parse(text, len, &perr);
	free(text);
	if (c == NULL)
		snprintf(err, errsize, "%s:%u: %s", path, perr.line, perr.message);
	return c;
}

/* load_langs - English (with po/en.po when there is one), then each catalog's language. */
static bool load_langs(struct help *h, const char *src, size_t len, char *err, size_t errsize)
{
	char names[HELP_LANGS_MAX][8], path[4200];
	int n = catalogs(h->dir, names, err, errsize);
	struct po_catalog *en = NULL;
	bool ok;

	if (n < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], "en.po") == 0 &&
		    (en = load_catalog(h->dir, names[i], path, sizeof(path), err, errsize)) == NULL)
			return false;
	ok = add_lang(h, "en", src, len, en, path, err, errsize);
	po_free(en);
	for (int i = 0; ok && i < n; i++) {
		char code[4];
		struct po_catalog *c;
		if (strcmp(names[i], "en.po") == 0)
			continue;
		snprintf(code, sizeof(code), "%.*s", (int)(strlen(names[i]) - 3), names[i]);
		c = load_catalog(h->dir, names[i], path, sizeof(path), err, errsize);
		ok = c != NULL && add_lang(h, code, src, len, c, path, err, errsize);
		po_free(c);
	}
	return ok;
}

struct help *help_load(const char *dir, char *err, size_t errsize)
{
	struct help *h = calloc(1, sizeof(*h));
	char *text = NULL;
	size_t len;

	if (h == NULL || (h->dir = strdup(dir)) == NULL) {
		snprintf(err, errsize, "out of memory");
		help_free(h);
		return NULL;
	}
	if (!read_in(dir, HELP_TEMPLATE, &text, &len, err, errsize) ||
	    !read_in(dir, HELP_STYLE, &h->style, &h->style_len, err, errsize) ||
	    !read_in(dir, HELP_LOGO, &h->logo, &h->logo_len, err, errsize) ||
	    !load_langs(h, text, len, err, errsize)) {
		free(text);
		help_free(h);
		return NULL;
	}
	free(text);
	return h;
}

void help_free(struct help *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->lang_count; i++) {
		page_free(h->langs[i].page);
		free(h->langs[i].native);
	}
	free(h->style);
	free(h->logo);
	free(h->dir);
	free(h);
}

const char *help_dir(const struct help *h)
{
	return h->dir;
}

const char *help_warning(const struct help *h)
{
	return h->warning[0] ? h->warning : NULL;
}

size_t help_lang_count(const struct help *h)
{
	return h->lang_count;
}

const char *help_lang_code(const struct help *h, size_t i)
{
	return i < h->lang_count ? h->langs[i].code : NULL;
}

const char *help_lang_pick(const struct help *h, const char *param, const char *accept)
{
	int i = param != NULL ? lang_find(param, strlen(param), h->codes, h->lang_count) : -1;

	if (i < 0 && accept != NULL)
		i = lang_pick(accept, strlen(accept), h->codes, h->lang_count);
	return h->langs[i < 0 ? 0 : i].code;
}

const char *help_asset(const struct help *h, const char *name, size_t *len, const char **type)
{
	if (strcmp(name, HELP_STYLE) == 0) {
		*len = h->style_len, *type = "text/css; charset=utf-8";
		return h->style;
	}
	if (strcmp(name, HELP_LOGO) == 0) {
		*len = h->logo_len, *type = "image/svg+xml";
		return h->logo;
	}
	return NULL;
}

const char *help_default_dir(void)
{
	static char dir[PATH_MAX];
	static bool known;
	char exe[PATH_MAX];
	ssize_t n;

	if (known)
		return dir;
	known = true;
	snprintf(dir, sizeof(dir), "%s", POLICYD_HELP_DIR);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return dir;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return dir;
	*slash = '\0';
	/* BUILD/policyd/policyd: BUILD/contrib/help, the link to the sources' copy. */
	char built[PATH_MAX + 64];
	snprintf(built, sizeof(built), "%s/../contrib/help", exe);
	char template[PATH_MAX + 80];
	snprintf(template, sizeof(template), "%s/template.html", built);
	if (strlen(built) < sizeof(dir) && access(template, R_OK) == 0)
		snprintf(dir, sizeof(dir), "%s", built);
	return dir;
}

/* check_query - the values an administrator typed for --help-page; false (said) when one is bad. */
static bool check_query(const struct help *h, const struct config *cfg, const struct help_query *q)
{
	char domain[DOMAIN_SIZE];
	struct addr a;
	bool ok = true;

	if (q->ip != NULL && !addr_parse(&a, q->ip, strlen(q->ip))) {
		fprintf(stderr, "policyd: --ip: not an IPv4 or IPv6 address\n");
		ok = false;
	}
	if (q->list != NULL && help_find_list(&cfg->rules, q->list) < 0) {
		fprintf(stderr, "policyd: --list: no such list in %s\n", cfg->path);
		ok = false;
	}
	if (q->domain != NULL &&
	    domain_clean(q->domain, strlen(q->domain), domain, sizeof(domain)) == 0) {
		fprintf(stderr, "policyd: --domain: not a domain name\n");
		ok = false;
	}
	if (q->lang != NULL && lang_find(q->lang, strlen(q->lang), h->codes, h->lang_count) < 0) {
		fprintf(stderr, "policyd: --lang: no catalog %s/%s/%s.po (languages:", h->dir,
			HELP_PO_DIR, q->lang);
		for (size_t i = 0; i < h->lang_count; i++)
			fprintf(stderr, " %s", h->codes[i]);
		fprintf(stderr, ")\n");
		ok = false;
	}
	return ok;
}

int help_print(const struct config *cfg, const struct help_query *q)
{
	const char *dir = cfg->http_help_dir ? cfg->http_help_dir : help_default_dir();
	struct page_buf out = { .max = HELP_PAGE_MAX };
	char err[600];
	struct help *h = help_load(dir, err, sizeof(err));
	int rc = 0;

	if (h == NULL) {
		fprintf(stderr, "policyd: help page: %s\n", err);
		return 1;
	}
	if (help_warning(h) != NULL)
		fprintf(stderr, "policyd: warning: help page: %s\n", help_warning(h));
	if (q == NULL) {
		help_free(h);
		return 0;
	}
	struct help_query known = *q;
	if (!check_query(h, cfg, q))
		rc = 1;
	else
		known.lang = help_lang_pick(h, q->lang, NULL);
	if (rc == 0 && !help_render(h, cfg, NULL, 0, &known, &out)) {
		fprintf(stderr, "policyd: help page: out of memory or too long\n");
		rc = 1;
	}
	if (rc == 0 && (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)) {
		fprintf(stderr, "policyd: writing the help page: %s\n", strerror(errno));
		rc = 1;
	}
	page_buf_free(&out);
	help_free(h);
	return rc;
}
