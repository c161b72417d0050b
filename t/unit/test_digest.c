/*
 * test_digest - SHA-1 and MD5 (common/digest.c) against the standard vectors:
 * FIPS 180 / RFC 3174's "abc", the two-block message and a million 'a's; RFC
 * 1321's test suite. Then every length from 0 to 200 bytes (each padding case:
 * 55, 56, 63, 64 and 119 bytes among them), checked through one SHA-1 of all
 * the hex digests together, whose value Python's hashlib gave. Links digest.c.
 */
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "tap.h"

/* hex - digest_hex of a C string. */
static const char *hex(enum digest_kind kind, const char *s)
{
	static char out[DIGEST_HEX_SIZE];

	if (digest_hex(kind, s, strlen(s), out, sizeof(out)) == 0)
		return "";
	return out;
}

static void test_sha1(void)
{
	static char million[1000001];

	is_str(hex(DIGEST_SHA1, ""), "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1 of nothing");
	is_str(hex(DIGEST_SHA1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1 abc");
	is_str(hex(DIGEST_SHA1, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
	       "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "sha1 of the 448-bit message");
	memset(million, 'a', 1000000);
	is_str(hex(DIGEST_SHA1, million), "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
	       "sha1 of a million a");
}

static void test_md5(void)
{
	static const char *const suite[][2] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "1234567890123456789012345678901234567890123456789012345678901234567890123456789"
		  "0",
		  "57edf4a22be3c955ac49da2e2107b67a" },
	};

	for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++)
		is_str(hex(DIGEST_MD5, suite[i][0]), suite[i][1], "RFC 1321 md5 (\"%.20s\")",
		       suite[i][0]);
}

/* all_lengths - the hex digests of 0..200 bytes ((i * 7 + 3) & 255), joined, then SHA-1. */
static const char *all_lengths(enum digest_kind kind)
{
	static char joined[201 * DIGEST_HEX_MAX + 1];
	static char out[DIGEST_HEX_SIZE];
	uint8_t data[200];
	size_t at = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)((i * 7 + 3) & 255);
	for (size_t n = 0; n <= 200; n++)
		at += digest_hex(kind, data, n, joined + at, sizeof(joined) - at);
	digest_hex(DIGEST_SHA1, joined, at, out, sizeof(out));
	return out;
}

static void test_lengths(void)
{
	char small[40];

	is_str(all_lengths(DIGEST_SHA1), "fd79730aeac91eb4b5c69ad92ffae67091f61970",
	       "sha1 of every length 0..200 agrees with hashlib");
	is_str(all_lengths(DIGEST_MD5), "9abc9d999c679a497d3042d54c5805580d717961",
	       "md5 of every length 0..200 agrees with hashlib");
	is_int(digest_hex(DIGEST_SHA1, "abc", 3, small, sizeof(small)), 0,
	       "a buffer too small for the hex is refused");
	is_int(digest_hex(DIGEST_MD5, "abc", 3, small, 33), 32, "md5 hex fits 33 bytes");
	is_str(digest_name(DIGEST_MD5), "md5", "the name of md5");
	is_str(digest_name(DIGEST_SHA1), "sha1", "the name of sha1");
}

int main(void)
{
	test_sha1();
	test_md5();
	test_lengths();
	return tap_done();
}
