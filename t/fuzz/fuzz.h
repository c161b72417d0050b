/*
 * fuzz - what every libFuzzer target of policyd shares: the entry points that
 * libFuzzer (or replay.c, in ordinary builds) calls, and FUZZ_CHECK, which aborts
 * with the failed invariant so that the fuzzer records the input as a crash.
 *
 * Each target is one file, t/fuzz/fuzz_NAME.c, with a seed corpus in
 * t/fuzz/corpus/NAME/ that replays as the meson test fuzz-replay-NAME.
 */
#ifndef POLICYD_FUZZ_H
#define POLICYD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* LLVMFuzzerTestOneInput - one untrusted input; returns 0 (libFuzzer ignores the value). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerInitialize - optional one-time set-up before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* FUZZ_CHECK - an invariant of the code under test; a violation is a crash. */
#define FUZZ_CHECK(cond)                                                                          \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__,   \
				#cond);                                                           \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

#endif
