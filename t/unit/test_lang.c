/*
 * test_lang - unit tests of common/lang.c: language codes, and the language that an
 * Accept-Language header prefers among the page's (quality values, subtags, "*",
 * q=0, malformed ranges skipped, the bound on ranges read).
 */
#include "lang.h"
#include "tap.h"

#include <string.h>

static const char *const CODES[] = { "en", "de", "fr", "es", "it", "nl", "pt", "pl" };
#define N (sizeof(CODES) / sizeof(CODES[0]))

static int pick(const char *h)
{
	return lang_pick(h, strlen(h), CODES, N);
}

int main(void)
{
	ok(lang_code_ok("de", 2) && lang_code_ok("FIL", 3), "two or three letters are a code");
	ok(!lang_code_ok("d", 1) && !lang_code_ok("deut", 4) && !lang_code_ok("d1", 2) &&
		   !lang_code_ok("pt-BR", 5),
	   "other lengths, digits and subtags are not");
	is_int(lang_find("PL", 2, CODES, N), 7, "lang_find in any case");
	is_int(lang_find("xx", 2, CODES, N), -1, "lang_find of a code the page lacks");

	is_int(pick("de"), 1, "one language");
	is_int(pick("de-DE,de;q=0.9,en;q=0.8"), 1, "a browser's German header");
	is_int(pick("en-US,en;q=0.9,pl;q=0.8"), 0, "English first");
	is_int(pick("fr;q=0.5, nl;q=0.7"), 5, "the highest quality wins, not the first");
	is_int(pick("pt-BR;q=0.9, es;q=0.9"), 6, "between equals the first");
	is_int(pick("ja, zh-CN;q=0.9"), -1, "none of the page's languages: the default");
	is_int(pick("ja, it;q=0.1"), 4, "the only one the page has, however low");
	is_int(pick("de;q=0, fr;q=0.2"), 2, "q=0 refuses a language");
	is_int(pick("*"), -1, "\"*\": the default");
	is_int(pick("*;q=0.5, pl;q=0.8"), 7, "a named language above \"*\"");
	is_int(pick("pl;q=0.4, *"), -1, "\"*\" above a named language: the default");
	is_int(pick("de;q=2, fr;q=0.9"), 2, "q=2 is malformed: that range is skipped");
	is_int(pick("de;q=0.1234, fr;q=0.001"), 2, "four decimals are malformed");
	is_int(pick("d@e, es"), 3, "a malformed tag is skipped");
	is_int(pick("  nl  ;  q=0.8 ,it;q=0.7"), 5, "blanks around a range and its weight");
	is_int(pick("DE-at"), 1, "tags in any case");
	is_int(pick("de;level=1"), -1, "another parameter than q: skipped");
	is_int(pick(""), -1, "an empty header");
	is_int(pick(",,,"), -1, "only commas");
	is_int(pick("verylongtag-x, de"), 1, "a first subtag longer than 8 letters is skipped");

	char many[LANG_RANGES_MAX * 4 + 16] = "";
	for (int i = 0; i < LANG_RANGES_MAX; i++)
		strcat(many, "xx, ");
	strcat(many, "de");
	is_int(pick(many), -1, "ranges past the first %d are not read", LANG_RANGES_MAX);
	return tap_done();
}
