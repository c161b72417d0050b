/*
 * template - reply templates with Postfix's macro syntax, expanded into one clean
 * line of bounded length.
 *
 * Syntax (as in Postfix's reject_rbl_client templates): "$name", "${name}",
 * "${name?text}" (text when name is non-empty), "${name:text}" (text when name is
 * empty), "$$" for a literal dollar. The text of a conditional may itself hold
 * macros. Names are letters, digits and '_'. A name that the lookup does not know
 * expands to the empty string (so any request attribute may be used).
 *
 * Expansion is made for a human who reads a bounce: the result is printable ASCII
 * (every other byte of a value becomes a space, runs of such spaces are kept as
 * is; a value that its lookup vouches for as clean is copied without that check),
 * at most `max` bytes. When the text is too long it is cut in this order:
 * first the values of macros of class TEMPLATE_CUT_FIRST (the list's reason), then
 * values of class TEMPLATE_CUT_LATER (request data such as helo_name, sender),
 * and never values of class TEMPLATE_KEEP (help_url, contact) nor the template's
 * own literal text unless nothing else is left to cut. A cut value ends in "...".
 *
 * A caller whose lookup knows a fixed set of names may resolve each name to an id once,
 * when the template is compiled (template_compile_ids): every lookup is then handed the
 * id with the name, so that it can switch on a number instead of comparing names on
 * each expansion. What the ids mean is the caller's business; this module only keeps
 * them.
 *
 * Memory: template_compile() returns a heap object owned by the caller, freed with
 * template_free(); it keeps no pointer to its source. template_expand() allocates
 * nothing and writes into the caller's buffer.
 */
#ifndef POLICYD_TEMPLATE_H
#define POLICYD_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

struct template;

enum template_cut {
	TEMPLATE_KEEP,      /* never cut */
	TEMPLATE_CUT_FIRST, /* cut first */
	TEMPLATE_CUT_LATER, /* cut when cutting TEMPLATE_CUT_FIRST values was not enough */
};

/* What a lookup gives for one macro. */
struct template_value {
	const char *s; /* untrusted bytes, any content (unless clean); NULL is the empty value */
	size_t len;
	enum template_cut cut; /* TEMPLATE_CUT_LATER unless the lookup says otherwise */
	/* false unless the lookup says otherwise. True vouches that every byte is printable
	 * ASCII already (text of the caller's own making, or another expansion's result): the
	 * bytes are then copied without being cleaned again. Never true for untrusted bytes. */
	bool clean;
};

/* The id of every name of a template compiled without a resolver. */
#define TEMPLATE_NO_ID 0u

/*
 * template_lookup_fn - give the value of macro `name` (namelen bytes, not terminated)
 * into *value. id is what the resolver said of that name at compile time
 * (TEMPLATE_NO_ID when the template had none). Return false when the name is unknown
 * (it expands to ""). The value must stay valid until template_expand returns.
 */
typedef bool template_lookup_fn(void *ctx, unsigned id, const char *name, size_t namelen,
				struct template_value *value);

/*
 * template_resolve_fn - the id of macro `name` (namelen bytes, not terminated), called
 * once per macro and conditional when a template is compiled. Any value may be
 * returned; TEMPLATE_NO_ID is best kept for "not resolved", so that a lookup can tell.
 */
typedef unsigned template_resolve_fn(const char *name, size_t namelen);

/*
 * template_compile - check the syntax of src (len bytes) and build the template.
 * On error returns NULL and sets *err to a static message ("unterminated ${",
 * "missing macro name after $", ...) and *err_offset to the byte offset in src.
 * Every name gets the id TEMPLATE_NO_ID.
 */
struct template *template_compile(const char *src, size_t len, const char **err,
				  size_t *err_offset);

/*
 * template_compile_ids - template_compile, each name given the id that resolve (not
 * NULL) returns for it.
 */
struct template *template_compile_ids(const char *src, size_t len, template_resolve_fn *resolve,
				      const char **err, size_t *err_offset);

void template_free(struct template *t);

/*
 * template_expand - expand t into out (outsize bytes, > max), at most max bytes of
 * text plus a terminating NUL. Returns the length written.
 */
size_t template_expand(const struct template *t, template_lookup_fn *lookup, void *ctx, char *out,
		       size_t outsize, size_t max);

/*
 * template_expand_fit - template_expand, except that when the text no cut may remove (its
 * literal text and the values of class TEMPLATE_KEEP) is longer than max, max grows to that
 * length, at most to ceiling (< outsize). One pass of lookups serves both the measure and
 * the text.
 */
size_t template_expand_fit(const struct template *t, template_lookup_fn *lookup, void *ctx,
			   char *out, size_t outsize, size_t max, size_t ceiling);

/* template_uses - whether the template refers to macro `name` anywhere (e.g. "rbl_reason"). */
bool template_uses(const struct template *t, const char *name);

/* template_each_name - call fn once per macro or conditional of t, with its name (not terminated). */
void template_each_name(const struct template *t,
			void (*fn)(void *ctx, const char *name, size_t len), void *ctx);

/* template_literal_len - the bytes of literal text in t (conditional texts included). */
size_t template_literal_len(const struct template *t);

#endif
