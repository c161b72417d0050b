/*
 * siphash - SipHash-2-4 and SipHash-1-3 of a byte string under a 16-byte secret key
 * (see siphash.c).
 */
#ifndef POLICYD_SIPHASH_H
#define POLICYD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* siphash24 - the 64-bit hash of len bytes at data (NULL is fine when len is 0). */
uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);

/* siphash13 - the same with one round per word and three to finish: the tables' hash. */
uint64_t siphash13(const uint8_t key[16], const void *data, size_t len);

#endif
