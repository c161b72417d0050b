/*
 * test_parse - unit tests of common/parse.c: durations with and without units, their
 * bounds and overflow; integers with bounds, signs and junk; boolean spellings; octal
 * modes; and the splitting of comma/blank separated lists. Nothing is allocated.
 */
#include "parse.h"
#include "tap.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static const char bad_duration[] = "not a duration (use e.g. 30s, 5m, 1h, 2d)";
static const char duration_range[] = "duration out of range";

/* A generous bound for durations: one day. */
#define DAY_MS 86400000UL

/* duration - parse s with bound max; the value, or -1 when it fails (message in *err). */
static long long duration(const char *s, unsigned long max, const char **err)
{
	unsigned long v = 12345;

	*err = NULL;
	if (!parse_duration_ms(s, max, &v, err))
		return -1;
	return (long long)v;
}

/* duration_error - the message for a bad duration, or "(accepted)". */
static const char *duration_error(const char *s, unsigned long max)
{
	const char *err = NULL;

	if (duration(s, max, &err) >= 0)
		return "(accepted)";
	return err ? err : "(no message)";
}

/* test_duration_units - the units and what is not a unit. */
static void test_duration_units(void)
{
	const char *err;

	is_int(duration("300", DAY_MS, &err), 300000, "\"300\" is 300 seconds");
	is_int(duration("5m", DAY_MS, &err), 300000, "\"5m\" is 300000 ms");
	is_int(duration("3s", DAY_MS, &err), 3000, "\"3s\" is 3000 ms");
	is_int(duration("1h", DAY_MS, &err), 3600000, "\"1h\" is 3600000 ms");
	is_int(duration("250ms", DAY_MS, &err), 250, "\"250ms\" is 250 ms");
	is_int(duration("0", DAY_MS, &err), 0, "\"0\" is zero");
	is_int(duration("0ms", DAY_MS, &err), 0, "\"0ms\" is zero");
	is_int(duration("24h", DAY_MS, &err), 86400000, "\"24h\" is one day");
	is_int(duration("007s", DAY_MS, &err), 7000, "leading zeros are decimal");

	/* Units are exact and lower case; nothing may surround the number. */
	is_str(duration_error("5x", DAY_MS), bad_duration, "unknown unit x is refused");
	is_str(duration_error("5M", DAY_MS), bad_duration, "upper-case unit M is refused");
	is_str(duration_error("5S", DAY_MS), bad_duration, "upper-case unit S is refused");
	is_str(duration_error("5sec", DAY_MS), bad_duration, "\"sec\" is refused");
	is_str(duration_error("5min", DAY_MS), bad_duration, "\"min\" is refused");
	is_int(duration("1d", DAY_MS, &err), 86400000, "\"1d\" is one day");
	is_str(duration_error("2d", DAY_MS), "duration out of range", "\"2d\" is more than a day");
	is_str(duration_error("5D", DAY_MS), bad_duration, "upper-case unit D is refused");
	is_str(duration_error("5mm", DAY_MS), bad_duration, "doubled unit is refused");
	is_str(duration_error("5 m", DAY_MS), bad_duration, "blank before the unit is refused");
	is_str(duration_error("5s ", DAY_MS), bad_duration, "trailing blank is refused");
	is_str(duration_error(" 5s", DAY_MS), bad_duration, "leading blank is refused");
	is_str(duration_error("1.5s", DAY_MS), bad_duration, "fractions are refused");
	is_str(duration_error("s", DAY_MS), bad_duration, "unit without a number is refused");
	is_str(duration_error("ms", DAY_MS), bad_duration, "\"ms\" alone is refused");
	is_str(duration_error("", DAY_MS), bad_duration, "empty string is refused");
	is_str(duration_error("-5", DAY_MS), bad_duration, "negative duration is refused");
	is_str(duration_error("-0", DAY_MS), bad_duration, "\"-0\" is refused");
	is_str(duration_error("+5", DAY_MS), bad_duration, "explicit plus sign is refused");
	is_str(duration_error("0x10", DAY_MS), bad_duration, "hexadecimal is refused");
	is_str(duration_error("5s5", DAY_MS), bad_duration, "text after the unit is refused");
}

/* test_duration_bounds - max is in milliseconds and inclusive; no wrap-around. */
static void test_duration_bounds(void)
{
	const char *err;
	unsigned long v = 7;

	is_int(duration("600", 600000, &err), 600000, "max 600000: \"600\" is at the bound");
	is_str(duration_error("601", 600000), duration_range, "max 600000: \"601\" is over");
	is_int(duration("10m", 600000, &err), 600000, "max 600000: \"10m\" is at the bound");
	is_str(duration_error("11m", 600000), duration_range, "max 600000: \"11m\" is over");
	is_int(duration("600000ms", 600000, &err), 600000,
	       "max 600000: \"600000ms\" is at the bound");
	is_str(duration_error("600001ms", 600000), duration_range,
	       "max 600000: \"600001ms\" is over");
	is_str(duration_error("1h", 600000), duration_range, "max 600000: \"1h\" is over");
	is_int(duration("1500ms", 1500, &err), 1500, "max 1500: \"1500ms\" fits");
	is_int(duration("1s", 1500, &err), 1000, "max 1500: \"1s\" fits");
	is_str(duration_error("2s", 1500), duration_range, "max 1500: \"2s\" is over");
	is_int(duration("0", 0, &err), 0, "max 0: zero fits");
	is_str(duration_error("1ms", 0), duration_range, "max 0: \"1ms\" is over");

	/* Overflow: strtoul's ERANGE, and a product that would wrap around. */
	is_str(duration_error("99999999999999999999999999", ULONG_MAX), duration_range,
	       "a number beyond unsigned long is out of range");
	is_str(duration_error("99999999999999999999999999ms", ULONG_MAX), duration_range,
	       "a number beyond unsigned long with a unit is out of range");
	is_str(duration_error("18446744073709551615h", ULONG_MAX), duration_range,
	       "ULONG_MAX hours do not wrap around");
#if ULONG_MAX == 18446744073709551615UL
	/* ULONG_MAX / 3600000 = 5124095576030: one more hour would wrap. */
	ok(parse_duration_ms("5124095576030h", ULONG_MAX, &v, &err) &&
		   v == 18446744073708000000UL,
	   "the largest number of hours that fits in unsigned long");
	is_str(duration_error("5124095576031h", ULONG_MAX), duration_range,
	       "one more hour than fits: out of range, no wrap-around");
#endif

	v = 7;
	ok(!parse_duration_ms("5x", DAY_MS, &v, &err) && v == 7,
	   "a refused duration leaves *out alone");
}

/* number - parse_long into a value, or the error message through *err. */
static bool number(const char *s, long min, long max, long *v, const char **err)
{
	*err = NULL;
	*v = -12345;
	return parse_long(s, min, max, v, err);
}

/* number_error - the message for a bad number, or "(accepted)". */
static const char *number_error(const char *s, long min, long max)
{
	const char *err;
	long v;

	if (number(s, min, max, &v, &err))
		return "(accepted)";
	return err ? err : "(no message)";
}

/* test_long - parse_long bounds, signs and junk. */
static void test_long(void)
{
	const char *err;
	long v;

	ok(number("0", -10, 10, &v, &err) && v == 0, "\"0\"");
	ok(number("42", 0, 100, &v, &err) && v == 42, "\"42\"");
	ok(number("-42", -100, 100, &v, &err) && v == -42, "\"-42\"");
	ok(number("+7", 0, 10, &v, &err) && v == 7, "\"+7\" (explicit plus sign)");
	ok(number("010", 0, 100, &v, &err) && v == 10, "\"010\" is decimal ten, not octal");
	ok(number("1", 1, 65535, &v, &err) && v == 1, "the lower bound itself is accepted");
	ok(number("65535", 1, 65535, &v, &err) && v == 65535, "the upper bound itself is accepted");
	is_str(number_error("0", 1, 65535), "number out of range", "one below the lower bound");
	is_str(number_error("65536", 1, 65535), "number out of range", "one above the upper bound");
	is_str(number_error("-1", 0, 10), "number out of range", "negative below a zero bound");
	ok(number("9223372036854775807", LONG_MIN, LONG_MAX, &v, &err) && v == LONG_MAX,
	   "LONG_MAX is accepted with LONG_MAX bound");
	ok(number("-9223372036854775808", LONG_MIN, LONG_MAX, &v, &err) && v == LONG_MIN,
	   "LONG_MIN is accepted with LONG_MIN bound");
	is_str(number_error("9223372036854775808", LONG_MIN, LONG_MAX), "number out of range",
	       "LONG_MAX + 1 overflows: out of range");
	is_str(number_error("-9223372036854775809", LONG_MIN, LONG_MAX), "number out of range",
	       "LONG_MIN - 1 overflows: out of range");
	is_str(number_error("99999999999999999999999999", 0, 10), "number out of range",
	       "a huge number is out of range, not clamped");

	is_str(number_error("", 0, 10), "not a number", "empty string");
	is_str(number_error(" 1", 0, 10), "not a number", "leading blank");
	is_str(number_error("1 ", 0, 10), "not a number", "trailing blank");
	is_str(number_error("1a", 0, 10), "not a number", "trailing letter");
	is_str(number_error("abc", 0, 10), "not a number", "letters");
	is_str(number_error("0x10", 0, 100), "not a number", "hexadecimal");
	is_str(number_error("1.0", 0, 10), "not a number", "decimal point");
	is_str(number_error("1e3", 0, 10000), "not a number", "exponent");
	is_str(number_error("-", 0, 10), "not a number", "a lone minus sign");
	is_str(number_error("+", 0, 10), "not a number", "a lone plus sign");
	is_str(number_error("--1", -10, 10), "not a number", "two signs");
	is_str(number_error("+-1", -10, 10), "not a number", "plus then minus");
	is_str(number_error("- 1", -10, 10), "not a number", "blank after the sign");
	is_str(number_error("1,000", 0, 10000), "not a number", "thousands separator");

	ok(!number("1a", 0, 10, &v, &err) && v == -12345, "a refused number leaves *out alone");
	ok(!number("11", 0, 10, &v, &err) && v == -12345,
	   "an out-of-range number leaves *out alone");
}

/* boolean - parse_bool result: 1 yes, 0 no, -1 refused with the expected message. */
static int boolean(const char *s)
{
	const char *err = NULL;
	bool v = false;

	if (!parse_bool(s, &v, &err))
		return err != NULL && strcmp(err, "expected yes or no") == 0 ? -1 : -2;
	return v ? 1 : 0;
}

/* test_bool - every accepted spelling, case-insensitive, and refusals. */
static void test_bool(void)
{
	static const char *const yes[] = {
		"yes", "true", "on", "1", "YES", "Yes", "TRUE", "tRuE", "ON", "On",
	};
	static const char *const no[] = {
		"no", "false", "off", "0", "NO", "No", "FALSE", "False", "OFF", "oFf",
	};
	static const char *const bad[] = {
		"", "y", "n", "2", "-1", "yes ", " yes", "enable", "yess", "nope", "t", "f", "00",
		"o", "yes;",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		is_int(boolean(yes[i]), 1, "\"%s\" is yes", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		is_int(boolean(no[i]), 0, "\"%s\" is no", no[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(boolean(bad[i]), -1, "\"%s\" is refused: \"expected yes or no\"", bad[i]);
}

/* mode - parse_mode result, or -1 when refused with the expected message. */
static long mode(const char *s)
{
	const char *err = NULL;
	unsigned v = 0;

	if (!parse_mode(s, &v, &err))
		return err != NULL && strcmp(err, "not an octal mode") == 0 ? -1 : -2;
	return (long)v;
}

/* test_mode - octal modes with and without the leading zero, bounds and junk. */
static void test_mode(void)
{
	is_int(mode("0660"), 0660, "\"0660\"");
	is_int(mode("660"), 0660, "\"660\" means the same as \"0660\"");
	is_int(mode("0600"), 0600, "\"0600\"");
	is_int(mode("0"), 0, "\"0\"");
	is_int(mode("7777"), 07777, "\"7777\" is the largest mode");
	is_int(mode("07777"), 07777, "\"07777\" is the largest mode");
	is_int(mode("0000660"), 0660, "extra leading zeros");
	is_int(mode("17777"), -1, "\"17777\" is above 07777");
	is_int(mode("10000"), -1, "\"10000\" is above 07777");
	is_int(mode("0668"), -1, "digit 8 is not octal");
	is_int(mode("9"), -1, "digit 9 is not octal");
	is_int(mode(""), -1, "empty string");
	is_int(mode("-1"), -1, "negative");
	is_int(mode("+660"), -1, "plus sign");
	is_int(mode(" 660"), -1, "leading blank");
	is_int(mode("660 "), -1, "trailing blank");
	is_int(mode("0x1ff"), -1, "hexadecimal");
	is_int(mode("rw-rw----"), -1, "symbolic mode");
	is_int(mode("99999999999999999999999999"), -1, "a huge number");
	is_int(mode("77777777777777777777777777"), -1, "a huge octal number (ERANGE)");
}

/*
 * split - join the items of parse_list_next with '|' into out; returns the item count,
 * -1 when an item is empty or outside s, -2 when the iterator did not end at the NUL.
 */
static int split(const char *s, char *out, size_t size)
{
	const char *pos = s, *item;
	size_t len, used = 0;
	int count = 0;

	out[0] = '\0';
	while (parse_list_next(&pos, &item, &len)) {
		if (item < s || item + len > s + strlen(s) || len == 0)
			return -1;
		used += (size_t)snprintf(out + used, size - used, "%s%.*s", count ? "|" : "",
					 (int)len, item);
		if (used >= size)
			return -1;
		count++;
	}
	if (*pos != '\0')
		return -2;
	return count;
}

/* test_list - separators, empty items, blanks and the iterator's end state. */
static void test_list(void)
{
	char out[256];
	const char *s, *pos, *item;
	size_t len;

	is_int(split("a, b c", out, sizeof(out)), 3, "\"a, b c\": three items");
	is_str(out, "a|b|c", "\"a, b c\": items in order");
	is_int(split("127.0.0.0/8,::1", out, sizeof(out)), 2, "comma without blank");
	is_str(out, "127.0.0.0/8|::1", "comma without blank: items");
	is_int(split("a,,b", out, sizeof(out)), 2, "empty item between commas is skipped");
	is_str(out, "a|b", "empty item between commas: items");
	is_int(split("a, ,b", out, sizeof(out)), 2, "blank item between commas is skipped");
	is_int(split(",a,", out, sizeof(out)), 1, "leading and trailing commas");
	is_str(out, "a", "leading and trailing commas: item");
	is_int(split("  a  ", out, sizeof(out)), 1, "surrounding blanks");
	is_str(out, "a", "surrounding blanks are not part of the item");
	is_int(split("a\tb \t, c", out, sizeof(out)), 3, "tabs are separators");
	is_str(out, "a|b|c", "tabs: items");
	is_int(split("", out, sizeof(out)), 0, "empty string: no items");
	is_int(split(" , ,, \t", out, sizeof(out)), 0, "only separators: no items");
	is_int(split("single", out, sizeof(out)), 1, "one item");
	is_str(out, "single", "one item: the whole string");
	is_int(split("a;b:c", out, sizeof(out)), 1, "';' and ':' are not separators");
	is_str(out, "a;b:c", "';' and ':' stay inside the item");

	s = "x, y";
	pos = s;
	ok(parse_list_next(&pos, &item, &len) && item == s && len == 1,
	   "first item points into the string");
	ok(pos == s + 1, "pos stops right after the first item");
	ok(parse_list_next(&pos, &item, &len) && item == s + 3 && len == 1,
	   "second item points into the string");
	ok(!parse_list_next(&pos, &item, &len), "no third item");
	ok(pos == s + 4 && *pos == '\0', "pos at the end of the string when done");
	ok(!parse_list_next(&pos, &item, &len), "calling again after the end still answers false");
}

int main(void)
{
	test_duration_units();
	test_duration_bounds();
	test_long();
	test_bool();
	test_mode();
	test_list();
	return tap_done();
}
