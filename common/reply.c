/*
 * reply - rendering a verdict into Postfix's reply (see reply.h).
 *
 * The template's macros are looked up on demand: list data (the top hit's list,
 * reason, code, what was looked up), the help URL (itself a template, expanded
 * once), the contact, and any request attribute. Each name is resolved to a
 * number when the template is compiled (reply_template_compile), so a lookup is a
 * switch rather than a chain of name comparisons. Derived strings are built only
 * when a macro asks for them, into a context on the stack, so that the common
 * case (a few macros) stays cheap. Cut classes say what may be shortened:
 * the reason first, request data and long domains later, and the help URL, the
 * contact, the client address and the list's name never.
 */
#include "reply.h"
#include "hot.h"

#include <string.h>

#include "addr.h"
#include "domain.h"
#include "request.h"
#include "template.h"
#include "text.h"

/* The words of Postfix's smtpd_check.c prefix: "<NAME>: CLASS rejected: ". */
#define PREFIX_FIXED (sizeof("554 5.7.1 <") - 1 + sizeof(">: ") - 1 + sizeof(" rejected: ") - 1)

/* What the template lookup needs, and the derived strings it builds on demand. */
struct render {
	const struct rules *rules;
	const struct request *req;
	const struct verdict *v;
	const struct hit *top;
	bool in_help_url;  /* expanding help_url itself: "$help_url" inside it is empty */
	bool drop_request; /* help_url too long: expand it again without request values */
	bool have_help_url, have_reason, have_listed, have_sender_domain;
	bool greylisting; /* a greylisting delay: $greylist_retry, and the URL says so */
	uint32_t retry_s;
	char help_url[REPLY_HELP_URL_MAX + 1];
	size_t help_url_len;
	char reason[RESULT_REASON_MAX + 64];
	size_t reason_len;
	char listed[DOMAIN_SIZE + 32];
	size_t listed_len;
	char sender_domain[DOMAIN_SIZE];
	size_t sender_domain_len;
	char domains[REPLY_TEXT_MAX + 1];
	char code[ADDR_TEXT_MAX];
	char score[24];
	char retry[32];
};

/* The help page's mark of a greylisting delay, added to the help URL of its reply. */
static const char greylist_mark[] = "greylisted=1";

/* reply_class - Postfix's rbl_class words. */
const char *reply_class(unsigned source)
{
	switch (source) {
	case SOURCE_SENDER:
	case SOURCE_SENDER_ADDRESS: return "Sender address";
	case SOURCE_HELO: return "Helo command";
	case SOURCE_CLIENT_NAME: return "Client host name";
	case SOURCE_REVERSE_CLIENT_NAME: return "Reverse client host";
	case SOURCE_RECIPIENT: return "Recipient address";
	default: return "Client host";
	}
}

/* listed_words - what is listed, for "Your ... is blacklisted": our own plain wording. */
static const char *listed_words(unsigned source)
{
	switch (source) {
	case SOURCE_SENDER: return "sender domain ";
	case SOURCE_SENDER_ADDRESS: return "sender address ";
	case SOURCE_HELO: return "HELO name ";
	case SOURCE_CLIENT_NAME: return "host name ";
	case SOURCE_REVERSE_CLIENT_NAME: return "reverse host name ";
	case SOURCE_RECIPIENT: return "recipient ";
	default: return "host ";
	}
}

/*
 * The names a reply template may use. A template compiled by reply_template_compile
 * carries each name's id, so that a lookup switches on it; a template compiled without
 * them (TEMPLATE_NO_ID) has its names compared at each lookup, with the same values.
 */
enum macro {
	MACRO_UNRESOLVED = TEMPLATE_NO_ID,
	MACRO_ATTRIBUTE, /* none of ours: the request attribute of that name */
	MACRO_RBL_DOMAIN,
	MACRO_RBL_REASON,
	MACRO_RBL_TXT,
	MACRO_RBL_WHAT,
	MACRO_RBL_LISTED,
	MACRO_RBL_CLASS,
	MACRO_RBL_CODE,
	MACRO_RBL_DOMAINS,
	MACRO_HELP_URL,
	MACRO_GREYLIST_RETRY,
	MACRO_CONTACT,
	MACRO_SCORE,
	MACRO_CLIENT_ADDRESS,
	MACRO_SENDER_DOMAIN,
};

static const struct {
	const char *name;
	enum macro id;
} macro_names[] = {
	{ "rbl_domain", MACRO_RBL_DOMAIN },
	{ "rbl_reason", MACRO_RBL_REASON },
	{ "rbl_txt", MACRO_RBL_TXT },
	{ "rbl_what", MACRO_RBL_WHAT },
	{ "rbl_listed", MACRO_RBL_LISTED },
	{ "rbl_class", MACRO_RBL_CLASS },
	{ "rbl_code", MACRO_RBL_CODE },
	{ "rbl_domains", MACRO_RBL_DOMAINS },
	{ "help_url", MACRO_HELP_URL },
	{ "greylist_retry", MACRO_GREYLIST_RETRY },
	{ "contact", MACRO_CONTACT },
	{ "score", MACRO_SCORE },
	{ "client_address", MACRO_CLIENT_ADDRESS },
	{ "sender_domain", MACRO_SENDER_DOMAIN },
};

/* macro_id - the template_resolve_fn of reply templates: one of ours, else an attribute. */
static unsigned macro_id(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(macro_names) / sizeof(macro_names[0]); i++)
		if (strlen(macro_names[i].name) == len &&
		    memcmp(macro_names[i].name, name, len) == 0)
			return macro_names[i].id;
	return MACRO_ATTRIBUTE;
}

/* reply_template_compile - a template whose names are resolved to reply's macros once. */
struct template *reply_template_compile(const char *src, size_t len, const char **err,
					size_t *err_offset)
{
	return template_compile_ids(src, len, macro_id, err, err_offset);
}

/* give - hand a value to the template, to be cleaned there. */
static bool give(struct template_value *out, const char *value, size_t len, enum template_cut cut)
{
	out->s = value;
	out->len = len;
	out->cut = cut;
	return true;
}

/*
 * give_clean - hand a value that is printable ASCII already: our own words and numbers, a
 * list's name (the loader lets only letters, digits, '.', '-' and '_' through) or the help
 * URL (a template's expansion). The template copies it without cleaning it again; request
 * data and TXT records never come here.
 */
static bool give_clean(struct template_value *out, const char *value, size_t len,
		       enum template_cut cut)
{
	out->clean = true;
	return give(out, value, len, cut);
}

static size_t expand_help_url(struct render *c);

/* need_sender_domain - the sender's domain, clean (A-labels, lower case), or empty. */
static void need_sender_domain(struct render *c)
{
	size_t len, dlen;
	const char *v = request_get(c->req, REQ_SENDER, &len), *d;

	if (c->have_sender_domain)
		return;
	c->have_sender_domain = true;
	c->sender_domain_len = 0;
	if (domain_of_address(v, len, &d, &dlen))
		c->sender_domain_len =
			domain_clean(d, dlen, c->sender_domain, sizeof(c->sender_domain));
}

/*
 * The give_* helpers below are OUT_OF_LINE: each runs at most once per reply, or for a macro
 * that few templates use, and kept out of lookup() they leave its common cases (a value at
 * hand) without a stack frame. lookup() reaches them by tail calls.
 */

/* give_reason - the top hit's reason (its parts joined once), when it has one. */
HOT OUT_OF_LINE static bool give_reason(struct render *c, struct template_value *out)
{
	if (!c->have_reason) {
		c->have_reason = true;
		c->reason_len = reason_join(&c->top->reason, c->reason, sizeof(c->reason));
	}
	return c->reason_len > 0 && give(out, c->reason, c->reason_len, TEMPLATE_CUT_FIRST);
}

/* give_listed - what is listed, for "Your ... is blacklisted", built once. */
HOT OUT_OF_LINE static bool give_listed(struct render *c, struct template_value *out)
{
	const struct hit *top = c->top;

	if (!c->have_listed) {
		/* "host [ADDRESS]" or "sender domain DOMAIN": by hand, this is every refusal. */
		const char *words = listed_words(top->source);
		size_t wl = strlen(words), n = top->what_len;
		bool brackets = top->source == 0;
		if (n > sizeof(c->listed) - wl - 3)
			n = sizeof(c->listed) - wl - 3;
		memcpy(c->listed, words, wl);
		c->listed_len = wl;
		if (brackets)
			c->listed[c->listed_len++] = '[';
		memcpy(c->listed + c->listed_len, top->what, n);
		c->listed_len += n;
		if (brackets)
			c->listed[c->listed_len++] = ']';
		c->have_listed = true;
	}
	return give(out, c->listed, c->listed_len,
		    top->source ? TEMPLATE_CUT_LATER : TEMPLATE_KEEP);
}

/* give_class - Postfix's words for what the top hit looked up ("Client host" without one). */
OUT_OF_LINE static bool give_class(struct render *c, struct template_value *out)
{
	const char *w = reply_class(c->top ? c->top->source : 0);

	return give_clean(out, w, strlen(w), TEMPLATE_KEEP);
}

/* give_code - the top hit's answer as "127.0.0.2"; local lists have none. */
OUT_OF_LINE static bool give_code(struct render *c, struct template_value *out)
{
	const struct hit *top = c->top;

	if (top->list->kind == LIST_LOCAL)
		return false;
	/* An A answer is an IPv4 address, written as one. */
	struct addr a = { .family = ADDR_V4 };
	memcpy(a.bytes, top->code, 4);
	size_t n = addr_format(&a, c->code, sizeof(c->code));

	return give_clean(out, c->code, n, TEMPLATE_KEEP);
}

/* give_domains - every hitting list's name, ", " between them, as far as they fit. */
OUT_OF_LINE static bool give_domains(struct render *c, struct template_value *out)
{
	const size_t room = sizeof(c->domains) - 1;
	size_t used = 0;

	for (unsigned i = 0; i < c->v->hit_count && used < room; i++) {
		const struct list_config *l = c->v->hits[i].list;
		size_t n;

		if (i > 0) {
			n = room - used < 2 ? room - used : 2;
			memcpy(c->domains + used, ", ", n);
			used += n;
		}
		n = room - used < l->name_len ? room - used : l->name_len;
		memcpy(c->domains + used, l->name, n);
		used += n;
	}
	return give_clean(out, c->domains, used, TEMPLATE_CUT_LATER);
}

/* give_help_url - the help URL, expanded once; empty inside the help URL itself. */
HOT OUT_OF_LINE static bool give_help_url(struct render *c, struct template_value *out)
{
	if (c->in_help_url)
		return false;
	if (!c->have_help_url)
		c->help_url_len = expand_help_url(c);
	return give_clean(out, c->help_url, c->help_url_len, TEMPLATE_KEEP);
}

/* give_retry - when a retry passes: this delay's, or greylisting's for another reply. */
OUT_OF_LINE static bool give_retry(struct render *c, struct template_value *out)
{
	size_t n = reply_duration(c->greylisting ? c->retry_s : c->rules->greylist.delay_s,
				  c->retry, sizeof(c->retry));

	return give_clean(out, c->retry, n, TEMPLATE_KEEP);
}

/* give_score - the verdict's score. */
OUT_OF_LINE static bool give_score(struct render *c, struct template_value *out)
{
	_Static_assert(sizeof(c->score) >= TEXT_DECIMAL_MAX, "a sign and 19 digits");
	size_t n = text_decimal(c->score, c->v->score);

	return give_clean(out, c->score, n, TEMPLATE_KEEP);
}

/* give_sender_domain - the sender's domain, made clean once. */
OUT_OF_LINE static bool give_sender_domain(struct render *c, struct template_value *out)
{
	need_sender_domain(c);
	return give(out, c->sender_domain, c->sender_domain_len, TEMPLATE_CUT_LATER);
}

/* give_attribute - the request attribute `name`, the last of that name; unknown if absent. */
HOT OUT_OF_LINE static bool give_attribute(struct render *c, const char *name, size_t len,
					   struct template_value *out)
{
	out->s = request_find(c->req, name, len, &out->len);
	out->cut = TEMPLATE_CUT_LATER;
	return out->s != NULL;
}

static bool lookup_by_name(void *arg, const char *name, size_t len, struct template_value *value);

/*
 * lookup - the template's macro values: list data, our own names, then request attributes.
 * The help URL, the contact, the score and the client's address are given even while the
 * URL is expanded again without request values (drop_request); the sender's domain and
 * other attributes are not.
 */
HOT static bool lookup(void *arg, unsigned id, const char *name, size_t len,
		       struct template_value *value)
{
	struct render *c = arg;
	const struct hit *top = c->top;

	switch ((enum macro)id) {
	case MACRO_UNRESOLVED: return lookup_by_name(arg, name, len, value);
	case MACRO_ATTRIBUTE: break;
	case MACRO_RBL_DOMAIN:
		return top != NULL &&
		       give_clean(value, top->list->name, top->list->name_len, TEMPLATE_KEEP);
	case MACRO_RBL_REASON: return top != NULL && give_reason(c, value);
	case MACRO_RBL_TXT: return top != NULL && top->txt && give_reason(c, value);
	case MACRO_RBL_WHAT:
		return top != NULL && give(value, top->what, top->what_len,
					   top->source ? TEMPLATE_CUT_LATER : TEMPLATE_KEEP);
	case MACRO_RBL_LISTED: return top != NULL && give_listed(c, value);
	case MACRO_RBL_CLASS: return give_class(c, value);
	case MACRO_RBL_CODE: return top != NULL && give_code(c, value);
	case MACRO_RBL_DOMAINS: return give_domains(c, value);
	case MACRO_HELP_URL: return give_help_url(c, value);
	case MACRO_GREYLIST_RETRY: return give_retry(c, value);
	case MACRO_CONTACT:
		return c->rules->contact != NULL &&
		       give(value, c->rules->contact, c->rules->contact_len, TEMPLATE_KEEP);
	case MACRO_SCORE: return give_score(c, value);
	case MACRO_CLIENT_ADDRESS:
		value->s = request_get(c->req, REQ_CLIENT_ADDRESS, &value->len);
		value->cut = TEMPLATE_KEEP;
		return true;
	case MACRO_SENDER_DOMAIN: return !c->drop_request && give_sender_domain(c, value);
	}
	return !c->drop_request && give_attribute(c, name, len, value);
}

/* lookup_by_name - lookup() for a template compiled without ids: the name resolved here. */
OUT_OF_LINE static bool lookup_by_name(void *arg, const char *name, size_t len,
				       struct template_value *value)
{
	return lookup(arg, macro_id(name, len), name, len, value);
}

/*
 * expand_help_url - the hitting list's help URL, else [policy] help_url. A URL must
 * not be cut in the middle: when request values (a long sender domain) would make
 * it too long, it is expanded again without them.
 */
static size_t expand_help_url(struct render *c)
{
	const struct template *t =
		c->top && c->top->list->help_url ? c->top->list->help_url : c->rules->help_url;
	size_t n = 0;

	c->have_help_url = true;
	if (t == NULL)
		return 0;
	/* The configuration made sure the URL fits with its own values at their longest
	 * (config_check.c); only request values can make it too long. */
	c->in_help_url = true;
	n = template_expand(t, lookup, c, c->help_url, sizeof(c->help_url), REPLY_HELP_URL_MAX);
	if (n == REPLY_HELP_URL_MAX && memcmp(c->help_url + n - 3, "...", 3) == 0) {
		c->drop_request = true;
		n = template_expand(t, lookup, c, c->help_url, sizeof(c->help_url),
				    REPLY_HELP_URL_MAX);
		c->drop_request = false;
	}
	c->in_help_url = false;
	/* A greylisting delay's page explains the delay: the URL says it is one. The
	 * configuration left room for the mark (config_check.c). */
	if (c->greylisting && n > 0 && n + sizeof(greylist_mark) < sizeof(c->help_url)) {
		char join = memchr(c->help_url, '?', n) ? '&' : '?';
		c->help_url[n++] = join;
		memcpy(c->help_url + n, greylist_mark, sizeof(greylist_mark) - 1);
		n += sizeof(greylist_mark) - 1;
	}
	return n;
}

/* prefix_len - Postfix's "554 5.7.1 <NAME>: CLASS rejected: " for one form. */
static size_t prefix_len(size_t name_len, const char *class)
{
	return PREFIX_FIXED + name_len + strlen(class);
}

/* reply_budget - 510 minus the longest prefix Postfix may put before our text. */
HOT size_t reply_budget(const struct request *req)
{
	size_t rcpt, sender, helo, name, addr, longest, p;

	request_get(req, REQ_RECIPIENT, &rcpt);
	request_get(req, REQ_SENDER, &sender);
	request_get(req, REQ_HELO_NAME, &helo);
	request_get(req, REQ_CLIENT_NAME, &name);
	request_get(req, REQ_CLIENT_ADDRESS, &addr);
	/* check_policy_service in smtpd_client_restrictions names the client as
	 * "name[address]"; the other restriction lists name their own argument. */
	longest = prefix_len(name + addr + 2, "Client host");
	if ((p = prefix_len(rcpt, "Recipient address")) > longest)
		longest = p;
	if ((p = prefix_len(sender, "Sender address")) > longest)
		longest = p;
	if ((p = prefix_len(helo, "Helo command")) > longest)
		longest = p;
	if (longest >= REPLY_LINE_MAX)
		return 0;
	return REPLY_LINE_MAX - longest < REPLY_TEXT_MAX ? REPLY_LINE_MAX - longest
							 : REPLY_TEXT_MAX;
}

/* reply_word - "action=WORD\n\n"; DUNNO is most replies: no printf. */
size_t reply_word(const char *word, char *out, size_t size)
{
	size_t len = strlen(word);

	if (len + 10 > size)
		return 0;
	memcpy(out, "action=", 7);
	memcpy(out + 7, word, len);
	memcpy(out + 7 + len, "\n\n\0", 3);
	return len + 9;
}

/* reply_on_error - never refuse for our own failure, unless told to defer. */
size_t reply_on_error(const struct rules *r, char *out, size_t size)
{
	return reply_word(
		r->on_error == ON_ERROR_DEFER
			? "DEFER 4.7.1 Blocklist lookups did not finish in time; please try again later"
			: "DUNNO",
		out, size);
}

/* text_template - the top hit's list's own text, the local or DNS default. */
static const struct template *text_template(const struct rules *r, const struct hit *top)
{
	if (top && top->list->text)
		return top->list->text;
	if (top && top->list->kind == LIST_LOCAL && r->local_text)
		return r->local_text;
	return r->text;
}

/* The longest action words, the longest text and "\n\n" with its NUL fit one reply. */
_Static_assert(7 + sizeof("DEFER_IF_PERMIT 4.7.1 ") - 1 + REPLY_TEXT_MAX + 3 <= REPLY_MAX,
	       "REPLY_MAX holds every reply");

/*
 * render - the action's words and the text of template tpl; c holds the rules, the
 * request and the verdict.
 */
HOT static size_t render(struct render *c, enum action action, const struct template *tpl,
			 size_t budget, char *out)
{
	/* With their lengths, which every refusal would otherwise count again. */
	static const struct {
		const char *s;
		size_t len;
	} words[] = {
		[ACTION_REJECT] = { "REJECT 5.7.1 ", sizeof("REJECT 5.7.1 ") - 1 },
		[ACTION_DEFER] = { "DEFER 4.7.1 ", sizeof("DEFER 4.7.1 ") - 1 },
		[ACTION_WARN] = { "WARN ", sizeof("WARN ") - 1 },
		[ACTION_PREPEND] = { "PREPEND X-DNSBL: ", sizeof("PREPEND X-DNSBL: ") - 1 },
		[ACTION_GREYLIST] = { "DEFER_IF_PERMIT 4.7.1 ",
				      sizeof("DEFER_IF_PERMIT 4.7.1 ") - 1 },
	};
	/* Postfix reads an empty action text as permit (HACKING.md, traps): never send one. */
	static const char refused[] = "Refused by policy";
	size_t len, word;
	char *text;

	c->top = verdict_top(c->v);
	c->in_help_url = c->drop_request = false;
	c->have_help_url = c->have_reason = c->have_listed = c->have_sender_domain = false;
	/* Warnings and headers are not SMTP replies: only REJECT and DEFER meet Postfix's prefix. */
	if (action == ACTION_WARN || action == ACTION_PREPEND || budget > REPLY_TEXT_MAX)
		budget = REPLY_TEXT_MAX;
	/* The text goes straight after the action's words: REPLY_MAX holds the longest
	 * words, REPLY_TEXT_MAX of text and the final "\n\n" with its NUL. */
	word = words[action].len;
	memcpy(out, "action=", 7);
	memcpy(out + 7, words[action].s, word);
	text = out + 7 + word;
	/* The URL and the contact are never cut: a recipient so long that they do not fit
	 * makes Postfix's line longer instead (up to REPLY_TEXT_MAX). */
	len = template_expand_fit(tpl, lookup, c, text, REPLY_TEXT_MAX + 1, budget, REPLY_TEXT_MAX);
	if (len == 0) {
		len = sizeof(refused) - 1;
		memcpy(text, refused, len);
	}
	memcpy(text + len, "\n\n\0", 3);
	return 7 + word + len + 2;
}

/* reply_render - DUNNO unless the tier refuses; then the action's words and the text. */
HOT size_t reply_render(const struct rules *r, const struct request *req, const struct verdict *v,
			enum tier t, size_t budget, char *out, size_t size)
{
	struct render c;
	enum action action;

	if (size < REPLY_MAX)
		return 0;
	if (!tier_refuses(t))
		return reply_word("DUNNO", out, size);
	action = tier_action(r, t);
	if (action == ACTION_GREYLIST)
		return reply_greylist(r, req, v, r->greylist.delay_s, budget, out, size);
	c.rules = r;
	c.req = req;
	c.v = v;
	c.greylisting = false;
	return render(&c, action, text_template(r, verdict_top(v)), budget, out);
}

/* reply_greylist - a greylisting delay: DEFER_IF_PERMIT and the greylisting text. */
size_t reply_greylist(const struct rules *r, const struct request *req, const struct verdict *v,
		      uint32_t retry_s, size_t budget, char *out, size_t size)
{
	struct render c;

	if (size < REPLY_MAX)
		return 0;
	c.rules = r;
	c.req = req;
	c.v = v;
	c.greylisting = true;
	c.retry_s = retry_s;
	return render(&c, ACTION_GREYLIST, r->greylist_text ? r->greylist_text : r->text, budget,
		      out);
}

/* reply_duration - "5 minutes", "1 hour", "45 seconds": whole units, rounded up. */
size_t reply_duration(uint32_t s, char *out, size_t size)
{
	static const struct {
		uint32_t seconds;
		const char *name;
	} units[] = { { 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" } };
	unsigned i = 0;

	if (s == 0)
		s = 1;
	/* The largest unit that is whole, or (for a long wait) that counts at least 2. */
	while (i < 3 && s % units[i].seconds != 0 && s / units[i].seconds < 2)
		i++;
	/* Rounded up without s + seconds - 1, which wraps for s near UINT32_MAX. */
	uint32_t n = s / units[i].seconds + (s % units[i].seconds != 0);
	/* "4294967295 minutes": 10 digits, a space, the longest unit and an 's'. */
	char text[24];
	size_t len = text_decimal(text, n), unit = strlen(units[i].name);

	text[len++] = ' ';
	memcpy(text + len, units[i].name, unit);
	len += unit;
	if (n != 1)
		text[len++] = 's';
	if (size == 0)
		return 0;
	/* Cut to what fits, as snprintf would. */
	if (len >= size)
		len = size - 1;
	memcpy(out, text, len);
	out[len] = '\0';
	return len;
}

/* reply_help_url - the URL alone, as the text would show it. */
size_t reply_help_url(const struct rules *r, const struct request *req, const struct verdict *v,
		      char *out, size_t size)
{
	struct render c = { .rules = r, .req = req, .v = v, .top = verdict_top(v) };
	size_t n = expand_help_url(&c);

	if (size == 0)
		return 0;
	if (n >= size)
		n = size - 1;
	memcpy(out, c.help_url, n);
	out[n] = '\0';
	return n;
}
