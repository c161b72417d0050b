/*
 * siphash - SipHash (Aumasson and Bernstein), the keyed hash of every table whose
 * keys come from clients or DNS: the verdict cache, the in-flight lookups and the
 * reasons table. A secret key chosen at start means a client cannot pick addresses
 * or domains that collide. The tables use SipHash-1-3, the variant Python and Rust
 * chose for their hash tables: a flooding attacker must find collisions without
 * seeing a single hash, which the reduced rounds still prevent, and it costs about
 * 40 % less than SipHash-2-4 on the short keys here (every request hashes three).
 * SipHash-2-4 stays, checked against the paper's vectors, since both share one body.
 * Pure functions; nothing is kept.
 */
#include "siphash.h"
#include "hot.h"

#include <string.h>

/* rotl64 - rotate left by b bits (0 < b < 64). */
static inline uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

/* load64_le - 8 bytes as a little-endian integer, whatever the host order and alignment. */
static inline uint64_t load64_le(const uint8_t *p)
{
	uint64_t x;

	/* One load on every host: the compiler turns this memcpy into a move. */
	memcpy(&x, p, sizeof(x));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

/* sip_rounds - n SipRounds: the ARX mixing step of the SipHash paper. */
static inline void sip_rounds(struct sip *s, int n)
{
	for (int r = 0; r < n; r++) {
		s->v0 += s->v1;
		s->v1 = rotl64(s->v1, 13);
		s->v1 ^= s->v0;
		s->v0 = rotl64(s->v0, 32);
		s->v2 += s->v3;
		s->v3 = rotl64(s->v3, 16);
		s->v3 ^= s->v2;
		s->v0 += s->v3;
		s->v3 = rotl64(s->v3, 21);
		s->v3 ^= s->v0;
		s->v2 += s->v1;
		s->v1 = rotl64(s->v1, 17);
		s->v1 ^= s->v2;
		s->v2 = rotl64(s->v2, 32);
	}
}

/* sip_compress - absorb one 64-bit message word with c compression rounds. */
static inline void sip_compress(struct sip *s, uint64_t m, int c)
{
	s->v3 ^= m;
	sip_rounds(s, c);
	s->v0 ^= m;
}

/*
 * siphash - SipHash-c-d of len bytes under a 16-byte key (data may be NULL when len is 0):
 * c rounds per message word, d rounds to finish. Always inlined into its two callers, so
 * that the round counts are constants and the loops unroll. The attribute is on a
 * declaration of its own so that the definition's first line fits in 100 columns: a
 * longer one is laid out differently by clang-format 14 (Debian 12) and 19 (Debian 13).
 */
static inline uint64_t siphash(const uint8_t key[16], const void *data, size_t len, int c, int d)
	__attribute__((always_inline));
static inline uint64_t siphash(const uint8_t key[16], const void *data, size_t len, int c, int d)
{
	const uint8_t *p = data;
	uint64_t k0 = load64_le(key);
	uint64_t k1 = load64_le(key + 8);
	struct sip s = {
		k0 ^ UINT64_C(0x736f6d6570736575),
		k1 ^ UINT64_C(0x646f72616e646f6d),
		k0 ^ UINT64_C(0x6c7967656e657261),
		k1 ^ UINT64_C(0x7465646279746573),
	};
	size_t whole = len - len % 8;
	/* The last word carries the leftover bytes and, in its top byte, the length mod 256. */
	uint64_t last = (uint64_t)(len & 0xff) << 56;

	for (size_t off = 0; off < whole; off += 8)
		sip_compress(&s, load64_le(p + off), c);
	uint8_t tail[8] = { 0 };

	if (len % 8 > 0)
		memcpy(tail, p + whole, len % 8);
	last |= load64_le(tail);
	sip_compress(&s, last, c);
	s.v2 ^= 0xff;
	sip_rounds(&s, d);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* siphash24 - SipHash-2-4, the paper's recommendation. */
uint64_t siphash24(const uint8_t key[16], const void *data, size_t len)
{
	return siphash(key, data, len, 2, 4);
}

/* siphash13 - SipHash-1-3, the tables' hash. */
HOT uint64_t siphash13(const uint8_t key[16], const void *data, size_t len)
{
	return siphash(key, data, len, 1, 3);
}
