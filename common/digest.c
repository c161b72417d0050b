/*
 * digest - SHA-1 and MD5 (see digest.h). Both pad the message the same way (a
 * 1 bit, zeros, the length in bits in the last 8 bytes of a 64-byte block) and
 * differ in byte order and rounds: SHA-1 is big-endian with an 80-word schedule,
 * MD5 little-endian with four rounds of sixteen steps.
 */
#include "digest.h"

#include <string.h>

/* rol - rotate a 32-bit word left by n (0 < n < 32). */
static inline uint32_t rol(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

typedef void block_fn(uint32_t *state, const uint8_t *block);

/*
 * run - feed data, the padding and the length through fn, 64 bytes at a time;
 * big: the length's byte order.
 */
static void run(block_fn *fn, uint32_t *state, const uint8_t *data, size_t len, int big)
{
	uint8_t tail[128];
	uint64_t bits = (uint64_t)len * 8;
	size_t rest, n;

	for (; len >= 64; data += 64, len -= 64)
		fn(state, data);
	rest = len;
	memcpy(tail, data, rest);
	tail[rest++] = 0x80;
	n = rest <= 56 ? 64 : 128;
	memset(tail + rest, 0, n - rest);
	for (unsigned i = 0; i < 8; i++)
		tail[big ? n - 1 - i : n - 8 + i] = (uint8_t)(bits >> (8 * i));
	fn(state, tail);
	if (n == 128)
		fn(state, tail + 64);
}

/* sha1_block - FIPS 180-4 6.1.2: one 512-bit block. */
static void sha1_block(uint32_t *h, const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (unsigned t = 0; t < 16; t++)
		w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
		       (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
	for (unsigned t = 16; t < 80; t++)
		w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
	for (unsigned t = 0; t < 80; t++) {
		uint32_t f, k;
		if (t < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (t < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (t < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t tmp = rol(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

/* digest_sha1 - the initial hash value of FIPS 180-4 5.3.1, then the blocks. */
void digest_sha1(const void *data, size_t len, uint8_t out[DIGEST_SHA1_LEN])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };

	run(sha1_block, h, data, len, 1);
	for (unsigned i = 0; i < 20; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* RFC 1321 3.4: T[i] = floor(2^32 * abs(sin(i + 1))), i in radians. */
static const uint32_t md5_t[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
	0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
	0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
	0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
	0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
	0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
	0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
	0xeb86d391,
};

/* The left rotations of each round's four steps (RFC 1321 3.4). */
static const uint8_t md5_s[4][4] = {
	{ 7, 12, 17, 22 }, { 5, 9, 14, 20 }, { 4, 11, 16, 23 }, { 6, 10, 15, 21 }
};

/* md5_block - RFC 1321 3.4: one 512-bit block, rounds F, G, H and I. */
static void md5_block(uint32_t *st, const uint8_t *p)
{
	uint32_t x[16], a = st[0], b = st[1], c = st[2], d = st[3];

	for (unsigned i = 0; i < 16; i++)
		x[i] = p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
		       (uint32_t)p[4 * i + 3] << 24;
	for (unsigned i = 0; i < 64; i++) {
		unsigned round = i / 16, k;
		uint32_t f;
		switch (round) {
		case 0:
			f = (b & c) | (~b & d);
			k = i;
			break;
		case 1:
			f = (b & d) | (c & ~d);
			k = (5 * i + 1) % 16;
			break;
		case 2:
			f = b ^ c ^ d;
			k = (3 * i + 5) % 16;
			break;
		default:
			f = c ^ (b | ~d);
			k = (7 * i) % 16;
			break;
		}
		uint32_t tmp = d;
		d = c;
		c = b;
		b = b + rol(a + f + x[k] + md5_t[i], md5_s[round][i % 4]);
		a = tmp;
	}
	st[0] += a;
	st[1] += b;
	st[2] += c;
	st[3] += d;
}

/* digest_md5 - RFC 1321 3.3's initial buffer, then the blocks. */
void digest_md5(const void *data, size_t len, uint8_t out[DIGEST_MD5_LEN])
{
	uint32_t st[4] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 };

	run(md5_block, st, data, len, 0);
	for (unsigned i = 0; i < 16; i++)
		out[i] = (uint8_t)(st[i / 4] >> (8 * (i % 4)));
}

/* digest_hex - two lowercase hex digits a byte. */
size_t digest_hex(enum digest_kind kind, const void *data, size_t len, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[DIGEST_SHA1_LEN];
	size_t n;

	if (kind == DIGEST_SHA1) {
		n = DIGEST_SHA1_LEN;
		digest_sha1(data, len, raw);
	} else if (kind == DIGEST_MD5) {
		n = DIGEST_MD5_LEN;
		digest_md5(data, len, raw);
	} else {
		return 0;
	}
	if (size < 2 * n + 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[2 * n] = '\0';
	return 2 * n;
}

/* digest_name - the names policyd.ini(5) uses. */
const char *digest_name(enum digest_kind kind)
{
	return kind == DIGEST_MD5 ? "md5" : "sha1";
}
