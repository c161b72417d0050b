/*
 * simd - whether the 16-bytes-at-a-time paths are built, and the load they share.
 *
 * The request parser (request.c), text cleaning (text.c) and domain cleaning (domain.c)
 * read 16 bytes at a time with SSE2 where the target has it (every x86-64), and keep a
 * portable form for other targets. POLICYD_PORTABLE builds the portable forms on any
 * target, so that the tests run both (t/meson.build, portable_tests). Nothing here holds
 * memory.
 */
#ifndef POLICYD_SIMD_H
#define POLICYD_SIMD_H

#if defined(__SSE2__) && !defined(POLICYD_PORTABLE)
#define SIMD_SSE2 1
#include <emmintrin.h>

/* simd_load16 - the 16 bytes at p, all of them readable, at any alignment. */
static inline __attribute__((always_inline)) __m128i simd_load16(const char *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}
#else
#define SIMD_SSE2 0
#endif

#endif
