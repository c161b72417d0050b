/*
 * config_zone - the zone a DNS list queries (policyd.ini(5), `zone` and
 * `key_file`). The section's name is the list's public name; `zone` is what is
 * queried, and may hold `$key`, replaced at load by the one line of `key_file`:
 * the per-customer key of services such as Spamhaus DQS and Abusix. The key is a
 * secret of the site: it goes into list_config.zone, which only query names use,
 * and into no message (errors name the file, never its content). The key file
 * must be a regular file that others cannot read. Also how the list's health is
 * checked: `health`, its own test points (`test_listed`, `test_unlisted`) and
 * whether IPv6 clients are asked (`ipv6`). Strings stored here belong to the
 * config being loaded.
 */
#include "config_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "domain.h"
#include "keys.h"
#include "parse.h"

/* The placeholder for the key in `zone =`. */
static const char key_macro[] = "$key";

/* value_zone - `zone =`: kept as written; checked once the section is complete. */
bool value_zone(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;

	if (*value == '\0') {
		*err = "empty value";
		return false;
	}
	if (strlen(value) > DOMAIN_MAX) {
		*err = "too long for a DNS zone (at most 253 bytes)";
		return false;
	}
	l->zone_line = ld->line;
	return config_copy(&l->zone, value, err);
}

/* value_key_file - `key_file =`: the path, read once the section is complete. */
bool value_key_file(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;

	if (*value == '\0') {
		*err = "empty value";
		return false;
	}
	l->key_file_line = ld->line;
	return config_copy(&l->key_file, value, err);
}

/* is_label - a DNS label: letters, digits and '-', 1 to 63 bytes. */
static bool is_label(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

/*
 * loader_read_secret - see config_internal.h. Errors go to the caller's
 * "what PATH: why" at line; the content is never reported.
 */
bool loader_read_secret(struct loader *ld, unsigned line, const char *what, const char *path,
			const char *noun, char *out, size_t size)
{
	char buf[SECRET_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		loader_error(ld, line, "%s %s: cannot read: %s", what, path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		loader_error(ld, line, "%s %s: not a regular file", what, path);
		return false;
	}
	/* Others, not the group: root:policyd 0640 is the usual way to hand a daemon a
	 * secret it must read after dropping privileges. */
	if ((st.st_mode & 007) != 0) {
		close(fd);
		loader_error(
			ld, line,
			"%s %s: others may read it (mode %04o): chmod o-rwx it (owner root, group policyd, mode 0640; or owner policyd, mode 0600)",
			what, path, (unsigned)(st.st_mode & 07777));
		return false;
	}
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		loader_error(ld, line, "%s %s: cannot read: %s", what, path, strerror(errno));
		return false;
	}
	size_t len = (size_t)n;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len == 0) {
		loader_error(ld, line, "%s %s: empty: expected %s on one line", what, path, noun);
		return false;
	}
	/* Too long: what the caller checks (a key must be a DNS label) decides the message. */
	if (len >= size)
		len = size - 1;
	memcpy(out, buf, len);
	out[len] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return true;
}

/*
 * read_key - the key of list l into key (size > 63): the file's one line, which
 * must be a DNS label. False with the error reported.
 */
static bool read_key(struct loader *ld, const struct list_config *l, char *key, size_t size)
{
	char what[DOMAIN_SIZE + 32];

	snprintf(what, sizeof(what), "[%s %s]: key_file", list_kind_name(l->kind), l->name);
	char raw[SECRET_FILE_MAX + 1];

	if (!loader_read_secret(ld, l->key_file_line, what, l->key_file, "the key", raw,
				sizeof(raw)))
		return false;
	size_t len = strlen(raw);
	bool fits = is_label(raw, len) && len < size;
	if (fits)
		memcpy(key, raw, len + 1);
	explicit_bzero(raw, sizeof(raw));
	if (!fits) {
		explicit_bzero(key, size);
		loader_error(
			ld, l->key_file_line,
			"%s %s: the key is not a DNS label (one line of letters, digits and '-', at most 63)",
			what, l->key_file);
		return false;
	}
	return true;
}

/* substitute - source with every "$key" replaced by key into out; false when too long. */
static bool substitute(const char *source, const char *key, char *out, size_t size)
{
	size_t used = 0, klen = strlen(key);
	const char *p = source, *m;

	while ((m = strstr(p, key_macro)) != NULL) {
		size_t before = (size_t)(m - p);
		if (used + before + klen >= size)
			return false;
		memcpy(out + used, p, before);
		memcpy(out + used + before, key, klen);
		used += before + klen;
		p = m + sizeof(key_macro) - 1;
	}
	if (used + strlen(p) >= size)
		return false;
	strcpy(out + used, p);
	return true;
}

/* shown_copy - the zone as written, lower case, without a final dot: what may be shown. */
static char *shown_copy(const char *source)
{
	char *s = strdup(source);
	size_t len;

	if (s == NULL)
		return NULL;
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + ('a' - 'A'));
	len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		s[len - 1] = '\0';
	return s;
}

/*
 * loader_finish_zone - a DNS list's zone: the name unless `zone =` was given, its
 * `$key` replaced by the key file's line, checked as a DNS zone name. Errors at
 * the line of the key that is wrong, naming the zone as written.
 */
void loader_finish_zone(struct loader *ld, struct list_config *l)
{
	const char *source = l->zone != NULL ? l->zone : l->name;
	unsigned zone_line = l->zone_line ? l->zone_line : l->line;
	bool keyed = strstr(source, key_macro) != NULL;
	char key[64] = "", full[2 * DOMAIN_SIZE], clean[DOMAIN_SIZE];
	char *zone, *shown;

	if (keyed && l->key_file == NULL) {
		loader_error(ld, zone_line, "[%s %s]: zone uses $key: set key_file = FILE",
			     list_kind_name(l->kind), l->name);
		return;
	}
	if (!keyed && l->key_file != NULL) {
		loader_error(ld, l->key_file_line,
			     "[%s %s]: key_file is given, but zone has no $key to put the key in",
			     list_kind_name(l->kind), l->name);
		return;
	}
	if (keyed) {
		loader_resolve_relative(ld, &l->key_file);
		if (!read_key(ld, l, key, sizeof(key)))
			return;
	}
	bool fits = substitute(source, key, full, sizeof(full));
	size_t len = fits ? domain_clean(full, strlen(full), clean, sizeof(clean)) : 0;
	explicit_bzero(full, sizeof(full));
	explicit_bzero(key, sizeof(key));
	if (len == 0) {
		loader_error(
			ld, zone_line,
			"[%s %s]: zone %.100s: not a DNS zone name (letters, digits, '-' and '_' in two or more labels of 1 to 63 bytes, 253 bytes in all)",
			list_kind_name(l->kind), l->name, source);
		explicit_bzero(clean, sizeof(clean));
		return;
	}
	zone = strdup(clean);
	shown = keyed ? shown_copy(source) : strdup(clean);
	explicit_bzero(clean, sizeof(clean));
	if (zone == NULL || shown == NULL) {
		free(zone);
		free(shown);
		loader_error(ld, zone_line, "out of memory");
		return;
	}
	free(l->zone);
	l->zone = zone;
	l->zone_shown = shown;
}

/* value_health - `health = rfc5782 | off`. */
bool value_health(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;

	(void)ld;
	if (strcmp(value, "rfc5782") == 0)
		l->health_off = false;
	else if (strcmp(value, "off") == 0)
		l->health_off = true;
	else {
		*err = "expected rfc5782 or off";
		return false;
	}
	return true;
}

/* value_ipv6 - `ipv6 = auto | yes | no` (and the other boolean words). */
bool value_ipv6(struct loader *ld, void *base, const char *value, const char **err)
{
	struct list_config *l = base;
	bool yes;

	(void)ld;
	if (strcmp(value, "auto") == 0) {
		l->ipv6 = LIST_IPV6_AUTO;
		return true;
	}
	if (!parse_bool(value, &yes, err)) {
		*err = "expected auto, yes or no";
		return false;
	}
	l->ipv6 = yes ? LIST_IPV6_YES : LIST_IPV6_NO;
	return true;
}

/*
 * test_point - a test point into its query label: an IPv4 address reversed for a
 * DNSBL or DNSWL, a domain (one label or more) for an RHSBL; for a hashed list an
 * address, kept lower case and hashed when asked (`hash` may come later).
 */
static bool test_point(struct list_config *l, int which, const char *value, const char **err)
{
	char label[DOMAIN_SIZE];

	if (l->kind == LIST_HASHBL) {
		if (keys_clean_address(value, strlen(value), label, sizeof(label)) == 0) {
			*err = "expected an address, such as test@example.com (printable ASCII, with an '@')";
			return false;
		}
	} else if (l->kind == LIST_RHSBL) {
		size_t len = strlen(value), start = 0;
		if (len == 0 || len > 200) {
			*err = "expected a domain (such as test or invalid) of at most 200 bytes";
			return false;
		}
		for (size_t i = 0; i <= len; i++) {
			char c = value[i];
			if (c == '.' || c == '\0') {
				if (i == start || i - start > 63) {
					*err = "expected a domain: labels of 1 to 63 bytes";
					return false;
				}
				start = i + 1;
			} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				     (c >= '0' && c <= '9') || c == '-' || c == '_')) {
				*err = "expected a domain: letters, digits, '-' and '_'";
				return false;
			}
			label[i] = c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
		}
	} else {
		struct addr a;
		if (!addr_parse(&a, value, strlen(value)) || a.family != ADDR_V4) {
			*err = "expected an IPv4 address, such as 127.0.0.2";
			return false;
		}
		addr_reverse_name(&a, label, sizeof(label));
	}
	return config_copy(&l->test_point[which], label, err);
}

/* value_test_listed / value_test_unlisted - the list's own test points. */
bool value_test_listed(struct loader *ld, void *base, const char *value, const char **err)
{
	(void)ld;
	return test_point(base, 0, value, err);
}

bool value_test_unlisted(struct loader *ld, void *base, const char *value, const char **err)
{
	(void)ld;
	return test_point(base, 1, value, err);
}
