/*
 * reply - the answer Postfix gets for one request: "action=DUNNO", or for a
 * refusal the configured action and one line of text for the human who reads
 * the bounce.
 *
 * The text comes from a template (the hitting list's own `text`, else [policy]
 * text, or for the site's own lists the built-in local text) with Postfix's macro
 * syntax. It is one line of printable ASCII of at most REPLY_TEXT_MAX bytes, and
 * short enough for this request that Postfix's own prefix ("554 5.7.1
 * <recipient>: Recipient address rejected: ", or the client, sender or helo form)
 * plus the text fit the 510 characters of an SMTP reply line (RFC 5321). When
 * text must be cut, the list's reason goes first, then request data; the help URL
 * and the contact are never cut, even if that makes the line longer than 510
 * (only an absurdly long recipient can).
 *
 * Request attributes and TXT records are untrusted: they are cleaned (control and
 * non-ASCII bytes become spaces) and cut here. Memory: rendering allocates
 * nothing, every buffer is on the stack or the caller's; reply_template_compile
 * returns a template that the caller owns and frees with template_free.
 */
#ifndef POLICYD_REPLY_H
#define POLICYD_REPLY_H

#include <stddef.h>

#include "rules.h"
#include "score.h"

struct request;

#define REPLY_TEXT_MAX 400     /* the text after the action word */
#define REPLY_LINE_MAX 510     /* an SMTP reply line without its CRLF */
#define REPLY_MAX 512          /* a whole reply: "action=", word, text, "\n\n" */
#define REPLY_HELP_URL_MAX 250 /* an expanded help URL */
#define REPLY_CONTACT_MAX 100  /* the contact address */

struct template;

/*
 * reply_template_compile - a reply template (a text, a help URL): template_compile with
 * each macro name resolved once to the value it stands for, so that rendering a reply
 * does not compare names. A template from plain template_compile renders the same,
 * comparing its names at each reply. Errors as template_compile's.
 */
struct template *reply_template_compile(const char *src, size_t len, const char **err,
					size_t *err_offset);

/*
 * reply_budget - the most text this request's refusal may carry: REPLY_TEXT_MAX,
 * or less when Postfix's longest prefix for it (built from the recipient, the
 * sender, the helo name and the client's name and address) leaves less room in
 * 510 characters. Computed on the whole request, before anything is dropped.
 */
size_t reply_budget(const struct request *req);

/*
 * reply_render - the complete reply ("action=...\n\n") for req and v in tier t,
 * into out (size at least REPLY_MAX); budget from reply_budget. Returns its length.
 */
size_t reply_render(const struct rules *r, const struct request *req, const struct verdict *v,
		    enum tier t, size_t budget, char *out, size_t size);

/*
 * reply_greylist - a greylisting delay for req and v: "DEFER_IF_PERMIT 4.7.1" and the
 * greylisting text, in which $greylist_retry says when a retry passes (retry_s) and
 * the help URL carries "greylisted=1" so that the help page explains the delay.
 */
size_t reply_greylist(const struct rules *r, const struct request *req, const struct verdict *v,
		      uint32_t retry_s, size_t budget, char *out, size_t size);

/* reply_duration - a wait in words ("5 minutes", "90 seconds"); returns the length. */
size_t reply_duration(uint32_t seconds, char *out, size_t size);

/* reply_word - "action=WORD\n\n" for a fixed word such as "DUNNO". */
size_t reply_word(const char *word, char *out, size_t size);

/* reply_on_error - when lookups did not finish in time: DUNNO, or DEFER if on_error says so. */
size_t reply_on_error(const struct rules *r, char *out, size_t size);

/* reply_class - Postfix's $rbl_class for a hit's source ("Client host", "Sender address", ...). */
const char *reply_class(unsigned source);

/*
 * reply_help_url - the help URL for the top hit of v (its list's own, else [policy]
 * help_url) expanded for req, at most REPLY_HELP_URL_MAX bytes; for logs and tests.
 */
size_t reply_help_url(const struct rules *r, const struct request *req, const struct verdict *v,
		      char *out, size_t size);

#endif
