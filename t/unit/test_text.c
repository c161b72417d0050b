/*
 * test_text - unit tests of common/text.c: text_clean (replacement of bytes outside
 * printable ASCII, cutting with "...", tiny destination buffers, no write beyond
 * dstsize, no read beyond len) and text_clean_inplace. Every buffer belongs to
 * the test that uses it (on its stack, or malloc'd and freed there).
 */
#include "tap.h"
#include "text.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The byte written into unused space, to see whether text_clean wrote past dstsize. */
#define GUARD 'Z'

/*
 * clean - run text_clean on src[0..len) into a guarded buffer of dstsize bytes and
 * copy the result to out (size >= 64). Returns the length text_clean reported;
 * *guard_ok tells whether every byte after dstsize kept its guard value.
 */
static size_t clean(char *out, size_t dstsize, const char *src, size_t len, bool *guard_ok)
{
	char buf[128];
	size_t n;

	memset(buf, GUARD, sizeof(buf));
	n = text_clean(buf, dstsize, src, len);
	*guard_ok = true;
	for (size_t i = dstsize; i < sizeof(buf); i++)
		if (buf[i] != GUARD)
			*guard_ok = false;
	memcpy(out, buf, dstsize);
	out[dstsize < 64 ? dstsize : 63] = '\0';
	return n;
}

/* test_clean_char - the boundaries of printable ASCII. */
static void test_clean_char(void)
{
	ok(!text_is_clean_char(0x00), "NUL is not clean");
	ok(!text_is_clean_char(0x1f), "0x1f is not clean");
	ok(text_is_clean_char(0x20), "space (0x20) is clean");
	ok(text_is_clean_char('A'), "a letter is clean");
	ok(text_is_clean_char(0x7e), "'~' (0x7e) is clean");
	ok(!text_is_clean_char(0x7f), "DEL (0x7f) is not clean");
	ok(!text_is_clean_char(0x80), "0x80 is not clean");
	ok(!text_is_clean_char(0xff), "0xff is not clean");
}

/* test_clean_plain - text that fits is copied unchanged. */
static void test_clean_plain(void)
{
	char out[64];
	bool guard;
	size_t n;

	n = clean(out, 32, "hello world", 11, &guard);
	is_int(n, 11, "plain text: length returned");
	is_str(out, "hello world", "plain text copied unchanged");
	ok(guard, "plain text: nothing written past dstsize");

	n = clean(out, 32, "", 0, &guard);
	is_int(n, 0, "empty input: length 0");
	is_str(out, "", "empty input: empty string");

	n = clean(out, 12, "hello world", 11, &guard);
	is_int(n, 11, "exact fit (len == dstsize - 1): not cut");
	is_str(out, "hello world", "exact fit: no ellipsis");
	ok(guard, "exact fit: nothing written past dstsize");

	/* Only len bytes are read: the rest of src is not part of the text. */
	n = clean(out, 32, "abcdef", 3, &guard);
	is_int(n, 3, "len shorter than the string: only len bytes taken");
	is_str(out, "abc", "len shorter than the string: text stops at len");

	clean(out, 32, "a!\"#~ }{", 8, &guard);
	is_str(out, "a!\"#~ }{", "punctuation and blanks are kept");
}

/* test_clean_bytes - control bytes, NUL, DEL and 0x80+ become '?'. */
static void test_clean_bytes(void)
{
	char out[64];
	bool guard;
	size_t n;

	n = clean(out, 32, "a\tb\r\nc\x1b", 7, &guard);
	is_int(n, 7, "control bytes: one output byte per input byte");
	is_str(out, "a?b??c?", "tab, CR, LF and ESC become '?'");

	n = clean(out, 32, "a\0b", 3, &guard);
	is_int(n, 3, "NUL inside the text: length counts it");
	is_str(out, "a?b", "NUL becomes '?' and does not end the text");

	n = clean(out, 32, "\x7f\x80\xc3\xa9\xff", 5, &guard);
	is_int(n, 5, "DEL and 0x80+: one output byte per input byte (no UTF-8 decoding)");
	is_str(out, "?????", "DEL, 0x80, UTF-8 bytes and 0xff become '?'");

	clean(out, 32, "\x01\x02", 2, &guard);
	is_str(out, "??", "text made only of control bytes");
}

/* test_clean_cut - text that does not fit is cut and ends in "...". */
static void test_clean_cut(void)
{
	char out[64];
	bool guard;
	size_t n;

	n = clean(out, 8, "abcdefghij", 10, &guard);
	is_int(n, 7, "cut: result fills dstsize - 1 bytes");
	is_str(out, "abcd...", "cut: kept bytes then \"...\"");
	ok(guard, "cut: nothing written past dstsize");

	n = clean(out, 11, "abcdefghijk", 11, &guard);
	is_int(n, 10, "one byte too long: cut");
	is_str(out, "abcdefg...", "one byte too long: the ellipsis replaces the last three bytes");
	ok(guard, "one byte too long: nothing written past dstsize");

	clean(out, 8,
	      "ab\ncd\xff"
	      "efgh",
	      10, &guard);
	is_str(out, "ab?c...", "cut text is cleaned too");

	clean(out, 8,
	      "abcd\x01"
	      "fghij",
	      10, &guard);
	is_str(out, "abcd...", "a bad byte in the dropped part does not show");
}

/* test_clean_tiny - destination buffers of 1 to 5 bytes. */
static void test_clean_tiny(void)
{
	char out[64];
	bool guard;
	size_t n;

	n = clean(out, 1, "abcdef", 6, &guard);
	is_int(n, 0, "dstsize 1: nothing but the terminator");
	is_str(out, "", "dstsize 1: empty string");
	ok(guard, "dstsize 1: nothing written past the buffer");

	n = clean(out, 1, "", 0, &guard);
	is_int(n, 0, "dstsize 1, empty input: length 0");

	n = clean(out, 2, "abcdef", 6, &guard);
	is_int(n, 1, "dstsize 2: one byte");
	is_str(out, "a", "dstsize 2: no room for \"...\", plain cut");
	ok(guard, "dstsize 2: nothing written past the buffer");

	clean(out, 2,
	      "\x01"
	      "bcdef",
	      6, &guard);
	is_str(out, "?", "dstsize 2: the kept byte is cleaned");

	n = clean(out, 3, "abcdef", 6, &guard);
	is_int(n, 2, "dstsize 3: two bytes");
	is_str(out, "ab", "dstsize 3: no room for \"...\", plain cut");
	ok(guard, "dstsize 3: nothing written past the buffer");

	n = clean(out, 4, "abcdef", 6, &guard);
	is_int(n, 3, "dstsize 4: three bytes");
	is_str(out, "abc", "dstsize 4: \"...\" alone would hide all text, so plain cut");
	ok(guard, "dstsize 4: nothing written past the buffer");

	clean(out, 4, "abc", 3, &guard);
	is_str(out, "abc", "dstsize 4, text of 3: fits exactly");

	n = clean(out, 5, "abcdef", 6, &guard);
	is_int(n, 4, "dstsize 5: four bytes");
	is_str(out, "a...", "dstsize 5: one byte and \"...\"");
	ok(guard, "dstsize 5: nothing written past the buffer");

	clean(out, 5, "abcd", 4, &guard);
	is_str(out, "abcd", "dstsize 5, text of 4: fits, no ellipsis");
}

/* test_clean_inplace - blanks instead of '?', only within len. */
static void test_clean_inplace(void)
{
	char s[32];

	memcpy(s, "a\tb\0c\x7f\x80\xffz", 10);
	s[10] = 'Q';
	text_clean_inplace(s, 9);
	ok(memcmp(s, "a b c   z", 9) == 0, "in place: control, NUL, DEL, 0x80+ become spaces");
	ok(s[9] == '\0' && s[10] == 'Q', "in place: the bytes after len are untouched");

	memcpy(s, "\n\n", 3);
	text_clean_inplace(s, 1);
	ok(s[0] == ' ' && s[1] == '\n', "in place: only the first len bytes change");

	strcpy(s, "clean text ~");
	text_clean_inplace(s, strlen(s));
	is_str(s, "clean text ~", "in place: printable text unchanged");

	strcpy(s, "\x01");
	text_clean_inplace(s, 0);
	ok(s[0] == '\x01', "in place: len 0 changes nothing");
}

/*
 * test_copy_clean - the word-at-a-time and sixteen-byte paths against the byte rule: every
 * byte value at every offset of strings of 1 to 56 bytes (short ones, whole words and
 * blocks, and tails that overlap the last of them), in place and not, and nothing written
 * past n. The source is a heap buffer of exactly len bytes, so that ASan sees a read past it.
 */
static void test_copy_clean(void)
{
	unsigned wrong = 0, overrun = 0, inplace_wrong = 0;

	for (unsigned len = 1; len <= 56; len++) {
		char *src = malloc(len), *same = malloc(len);
		for (unsigned pos = 0; pos < len; pos++) {
			for (unsigned b = 0; b < 256; b++) {
				char out[57];

				memset(src, 'a' + (char)(pos % 26), len);
				src[pos] = (char)b;
				memset(out, GUARD, sizeof(out));
				text_copy_clean(out, src, len, '#');
				memcpy(same, src, len);
				text_copy_clean(same, same, len, '#');
				for (unsigned i = 0; i < len; i++) {
					unsigned char c = (unsigned char)src[i];
					char want = text_is_clean_char(c) ? (char)c : '#';
					wrong += out[i] != want;
					inplace_wrong += same[i] != want;
				}
				overrun += out[len] != GUARD;
			}
		}
		free(src);
		free(same);
	}
	is_int(wrong, 0, "text_copy_clean: every byte value at every offset follows the rule");
	is_int(inplace_wrong, 0, "text_copy_clean in place: the same");
	is_int(overrun, 0, "text_copy_clean: nothing written past n");
}

/* test_decimal - text_decimal against snprintf's %lld: the extremes, every power of ten
 * and its neighbours, and a spread of values of both signs. */
static void test_decimal(void)
{
	long long values[200];
	size_t count = 0;
	unsigned wrong = 0;

	values[count++] = 0;
	values[count++] = LLONG_MIN;
	values[count++] = LLONG_MAX;
	values[count++] = LLONG_MIN + 1;
	for (long long p = 1; p <= LLONG_MAX / 10; p *= 10) {
		values[count++] = p - 1;
		values[count++] = p;
		values[count++] = -p;
		values[count++] = -p + 1;
	}
	/* Unsigned, so that the sequence wraps instead of overflowing; halved to fit. */
	for (unsigned long long v = 7; count < sizeof(values) / sizeof(values[0]); v = v * 31 + 17) {
		long long x = (long long)(v >> 1);
		values[count] = count % 2 ? x : -x;
		count++;
	}
	for (size_t i = 0; i < count; i++) {
		char want[32], got[TEXT_DECIMAL_MAX + 1];
		int n = snprintf(want, sizeof(want), "%lld", values[i]);
		size_t m = text_decimal(got, values[i]);
		got[m < sizeof(got) ? m : sizeof(got) - 1] = '\0';
		if ((size_t)n != m || strcmp(want, got) != 0) {
			if (wrong++ < 5)
				printf("# %s written as %s\n", want, got);
		}
	}
	is_int(wrong, 0, "text_decimal writes what %%lld does, %zu values", count);
}

int main(void)
{
	test_decimal();
	test_copy_clean();
	test_clean_char();
	test_clean_plain();
	test_clean_bytes();
	test_clean_cut();
	test_clean_tiny();
	test_clean_inplace();
	return tap_done();
}
