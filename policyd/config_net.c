/*
 * config_net - the values of the configuration that are about the network and the
 * system: listeners ([server] and [http] listen), nameservers, socket mode and
 * group, the user to become, and the CIDR lists of allowed peers. Each setter
 * parses one untrusted value and stores a copy the config owns; a bad value is
 * refused with a message that names the bad part.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "parse.h"

/*
 * parse_host_port - "1.2.3.4", "1.2.3.4:53", "[::1]:53" or "::1" into a sockaddr.
 * default_port 0 means a port is required; min_port 0 lets ":0" ask the kernel
 * for any free port (listeners log the port they got).
 */
static bool parse_host_port(const char *s, unsigned default_port, long min_port,
			    struct sockaddr_storage *out, const char **err)
{
	char host[64];
	const char *port_text = NULL;
	struct addr a;
	long port = default_port;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || (size_t)(close - s - 1) >= sizeof(host)) {
			*err = "bad [IPv6] address";
			return false;
		}
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0') {
			*err = "junk after ]";
			return false;
		}
	} else {
		const char *colon = strrchr(s, ':');
		/* More than one colon without brackets is a bare IPv6 address. */
		if (colon != NULL && strchr(s, ':') == colon) {
			port_text = colon + 1;
		} else {
			colon = NULL;
		}
		size_t n = colon ? (size_t)(colon - s) : strlen(s);
		if (n >= sizeof(host)) {
			*err = "address too long";
			return false;
		}
		memcpy(host, s, n);
		host[n] = '\0';
	}
	if (!addr_parse(&a, host, strlen(host))) {
		*err = "not a numeric IPv4 or IPv6 address";
		return false;
	}
	if (port_text != NULL && !parse_long(port_text, min_port, 65535, &port, err))
		return false;
	if (port_text == NULL && port == 0) {
		*err = "a port is required";
		return false;
	}
	memset(out, 0, sizeof(*out));
	if (a.family == ADDR_V4 && *s != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a.bytes, 4);
		sin->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*err = "not a numeric IPv6 address";
			return false;
		}
		sin6->sin6_port = htons((uint16_t)port);
	}
	return true;
}

/* parse_listen - "unix:/path" (when unix_ok) or "inet:host:port" into spec. */
static bool parse_listen(const char *value, bool unix_ok, struct listen_spec *out, const char **err)
{
	struct listen_spec spec = { .line = out->line };

	if (strlen(value) >= sizeof(spec.text)) {
		*err = "value too long";
		return false;
	}
	memcpy(spec.text, value, strlen(value) + 1);
	if (unix_ok && strncmp(value, "unix:", 5) == 0) {
		const char *path = value + 5;
		spec.kind = LISTEN_UNIX;
		if (path[0] != '/') {
			*err = "unix socket path must be absolute";
			return false;
		}
		if (strlen(path) >= sizeof(spec.path)) {
			*err = config_message("unix socket path too long (%zu bytes, at most %zu)",
					      strlen(path), sizeof(spec.path) - 1);
			return false;
		}
		snprintf(spec.path, sizeof(spec.path), "%s", path);
	} else if (strncmp(value, "inet:", 5) == 0) {
		spec.kind = LISTEN_TCP;
		if (!parse_host_port(value + 5, 0, 0, &spec.addr, err))
			return false;
	} else {
		*err = unix_ok ? "expected unix:/path or inet:address:port"
			       : "expected inet:address:port";
		return false;
	}
	*out = spec;
	return true;
}

/* add_listen - one more listener in a growing array. */
static bool add_listen(struct loader *ld, struct listen_spec **list, size_t *count, bool unix_ok,
		       const char *value, const char **err)
{
	struct listen_spec spec = { .line = ld->line };

	if (!parse_listen(value, unix_ok, &spec, err))
		return false;
	struct listen_spec *grown = realloc(*list, (*count + 1) * sizeof(*grown));
	if (grown == NULL) {
		*err = "out of memory";
		return false;
	}
	*list = grown;
	(*list)[(*count)++] = spec;
	return true;
}

/* value_listen - [server] listen: unix or TCP; repeatable. */
bool value_listen(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	return add_listen(ld, &cfg->listen, &cfg->listen_count, true, value, err);
}

/* value_http_listen - [http] listen: TCP; repeatable. */
bool value_http_listen(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	return add_listen(ld, &cfg->http_listen, &cfg->http_listen_count, false, value, err);
}

/* value_nameserver - an address with an optional port; repeatable. */
bool value_nameserver(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct sockaddr_storage sa;

	if (!parse_host_port(value, 53, 1, &sa, err))
		return false;
	struct sockaddr_storage *grown =
		realloc(cfg->nameserver, (cfg->nameserver_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		*err = "out of memory";
		return false;
	}
	cfg->nameserver = grown;
	cfg->nameserver[cfg->nameserver_count++] = sa;
	return true;
}

/* value_socket_mode - octal permissions for unix sockets. */
bool value_socket_mode(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;

	return parse_mode(value, &cfg->socket_mode, err);
}

/* value_socket_group - a group that must exist now. */
bool value_socket_group(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct group *gr = getgrnam(value);

	if (gr == NULL) {
		*err = "no such group";
		return false;
	}
	cfg->socket_gid = gr->gr_gid;
	return config_copy(&cfg->socket_group, value, err);
}

/* value_user - a user that must exist now; its primary group is used too. */
bool value_user(struct loader *ld, void *base, const char *value, const char **err)
{
	struct config *cfg = base;
	struct passwd *pw = getpwnam(value);

	if (pw == NULL) {
		*err = "no such user";
		return false;
	}
	cfg->uid = pw->pw_uid;
	cfg->gid = pw->pw_gid;
	return config_copy(&cfg->user, value, err);
}

/* parse_cidrs - a CIDR list such as "127.0.0.0/8, ::1" into *slot (replacing it). */
static bool parse_cidrs(struct cidr_set **slot, const char *value, const char **err)
{
	struct cidr_set *set = cidr_set_new();
	const char *bad = NULL;
	size_t bad_len = 0;

	if (set == NULL) {
		*err = "out of memory";
		return false;
	}
	if (!cidr_set_parse_list(set, value, strlen(value), err, &bad, &bad_len)) {
		*err = config_message("%s: '%.*s'", *err, (int)(bad_len > 60 ? 60 : bad_len),
				      bad ? bad : "");
		cidr_set_free(set);
		return false;
	}
	cidr_set_finish(set);
	cidr_set_free(*slot);
	*slot = set;
	return true;
}

/* value_allow - [server] allow: it replaces the default (loopback only). */
bool value_allow(struct loader *ld, void *base, const char *value, const char **err)
{
	return parse_cidrs(&((struct config *)base)->allow, value, err);
}

/* value_metrics_allow - [http] metrics_allow: who may read /metrics (default loopback). */
bool value_metrics_allow(struct loader *ld, void *base, const char *value, const char **err)
{
	return parse_cidrs(&((struct config *)base)->metrics_allow, value, err);
}
