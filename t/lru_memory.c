/*
 * lru_memory - a probe, run by hand, of the verdict cache's resident memory (the goal:
 * 1,000,000 cached verdicts in under 128 MiB). Not a test: it prints figures.
 *
 *   lru_memory N              capacity N, insert N distinct 5-byte keys (kind byte and an
 *                             IPv4 address), each with a 24-byte malloc'd value, then print
 *                             VmRSS and the bytes per entry it grew by
 *   lru_memory N --flood M    capacity N, insert M distinct keys, print VmRSS after each
 *                             tenth of them: it must stay flat once the map is full
 *   --no-values               (after either form) store NULL values: the map's own share
 *
 * The map owns the values and frees them with free(); everything is freed at the end.
 */
#include "lru.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rss_kib - this process's resident set size from /proc/self/status, in KiB (-1 if unknown). */
static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/* put_key - insert the i-th IPv4 key (10.0.0.0 + i) with a fresh 24-byte value, or NULL. */
static void put_key(struct lru *m, uint32_t i, bool values)
{
	uint32_t ip = 0x0a000000u + i;
	uint8_t key[5] = {'4', (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
			  (uint8_t)ip};
	void *v = NULL;

	if (values) {
		/* Written, as the daemon writes its verdicts, so the block is really resident. */
		v = malloc(24);
		if (!v) {
			fprintf(stderr, "lru_memory: out of memory\n");
			exit(1);
		}
		memset(v, (int)(i & 0xff), 24);
	}
	if (!lru_put(m, key, sizeof(key), v, UINT32_MAX)) {
		fprintf(stderr, "lru_memory: lru_put failed\n");
		exit(1);
	}
}

/* fill - capacity n, n keys: the resident cost per entry. */
static void fill(struct lru *m, uint32_t n, bool values, long base)
{
	long rss;

	for (uint32_t i = 0; i < n; i++)
		put_key(m, i, values);
	rss = rss_kib();
	printf("entries %zu, capacity %zu, values %s\n", lru_count(m), lru_capacity(m),
	       values ? "24-byte malloc each" : "none");
	printf("VmRSS %ld KiB (%.1f MiB); %ld KiB before the map\n", rss, rss / 1024.0, base);
	printf("bytes per entry: %.1f (whole process), %.1f (growth)\n",
	       rss * 1024.0 / n, (rss - base) * 1024.0 / n);
}

/* flood - capacity n, m distinct keys: the resident size after each tenth. */
static void flood(struct lru *map, uint32_t n, uint32_t m, bool values, long base)
{
	uint32_t step = m / 10 ? m / 10 : 1;

	printf("capacity %u, flood of %u distinct keys; VmRSS %ld KiB before the map\n", n, m,
	       base);
	for (uint32_t i = 0; i < m; i++) {
		put_key(map, i, values);
		if ((i + 1) % step == 0 || i + 1 == m)
			printf("after %10u puts: VmRSS %7ld KiB, entries %zu, evictions %llu\n",
			       i + 1, rss_kib(), lru_count(map),
			       (unsigned long long)lru_get_stats(map)->evictions);
	}
}

/* number - a positive decimal argument up to 4,000,000,000, or exit with the usage. */
static uint32_t number(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v == 0 || v > 4000000000ull) {
		fprintf(stderr, "usage: lru_memory N [--flood M] [--no-values]\n");
		exit(2);
	}
	return (uint32_t)v;
}

int main(int argc, char **argv)
{
	static const uint8_t seed[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	bool values = true;
	uint32_t n, m = 0;
	struct lru *map;
	long base;

	if (argc > 1 && strcmp(argv[argc - 1], "--no-values") == 0) {
		values = false;
		argc--;
	}
	if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--flood") == 0))
		number("");
	n = number(argv[1]);
	if (argc == 4)
		m = number(argv[3]);
	base = rss_kib();
	map = lru_new(n, seed, free);
	if (!map) {
		fprintf(stderr, "lru_memory: lru_new(%u) failed\n", n);
		return 1;
	}
	if (m)
		flood(map, n, m, values, base);
	else
		fill(map, n, values, base);
	lru_free(map);
	return 0;
}
