/*
 * hist - the log-linear latency histogram of the benchmark clients (see hist.h).  Works only
 * on the struct the caller passes; allocates nothing.
 */
#include "hist.h"

/* hist_index - the bucket of a latency in microseconds */
static size_t hist_index(uint64_t us)
{
	unsigned int k = HIST_LINEAR_BITS;

	if (us < HIST_LINEAR)
		return (size_t)us;
	if (us >> HIST_TOP_BITS)
		us = (UINT64_C(1) << HIST_TOP_BITS) - 1;
	while (us >> (k + 1))
		k++;
	return HIST_LINEAR + (size_t)(k - HIST_LINEAR_BITS) * HIST_SUB
		+ (size_t)((us >> (k - HIST_SUB_BITS)) - HIST_SUB);
}

/* hist_upper - the largest latency in microseconds that falls in a bucket */
static uint64_t hist_upper(size_t i)
{
	size_t octave, sub;
	unsigned int shift;

	if (i < HIST_LINEAR)
		return i;
	octave = (i - HIST_LINEAR) / HIST_SUB;
	sub = (i - HIST_LINEAR) % HIST_SUB;
	shift = (unsigned int)(HIST_LINEAR_BITS + octave - HIST_SUB_BITS);
	return (((uint64_t)(HIST_SUB + sub) + 1) << shift) - 1;
}

/* hist_record - count one latency in microseconds */
void hist_record(struct hist *h, uint64_t us)
{
	h->bucket[hist_index(us)]++;
	h->count++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

/* hist_percentile - the latency below which per100k/100000 of the samples fall */
uint64_t hist_percentile(const struct hist *h, uint64_t per100k)
{
	uint64_t rank = (h->count * per100k + 99999) / 100000, seen = 0;
	size_t i;

	if (h->count == 0)
		return 0;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			return hist_upper(i) < h->max ? hist_upper(i) : h->max;
	}
	return h->max;
}
