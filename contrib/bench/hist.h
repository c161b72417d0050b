/*
 * hist - a log-linear latency histogram for the benchmark clients: 1 us buckets below 16 ms,
 * then 256 buckets per power of two, so percentiles are exact where replies usually fall and
 * within 0.4 % above.  The caller owns the struct (it is about 200 KiB: keep it static or
 * inside a static struct, not on the stack); nothing here allocates.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_LINEAR 16384u		/* 1 us buckets below this many microseconds */
#define HIST_LINEAR_BITS 14u
#define HIST_SUB_BITS 8u		/* then 256 buckets per power of two */
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_TOP_BITS 40u		/* longer latencies land in the last bucket */
#define HIST_BUCKETS (HIST_LINEAR + (HIST_TOP_BITS - HIST_LINEAR_BITS) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;		/* microseconds */
	uint64_t max;		/* microseconds, exact */
	uint64_t bucket[HIST_BUCKETS];
};

void hist_record(struct hist *h, uint64_t us);
uint64_t hist_percentile(const struct hist *h, uint64_t per100k);

#endif
