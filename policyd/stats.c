/*
 * stats - the process's counters (see stats.h) and their log lines.
 */
#include "stats.h"
#include "hot.h"

#include <inttypes.h>

#include "log.h"

struct stats stats;

/* 1 ms, 5 ms, 10 ms, 25 ms, 50 ms, 100 ms, 250 ms, 500 ms, 1 s, 2.5 s, 5 s, then +Inf. */
const uint64_t stats_bucket_us[STATS_BUCKETS - 1] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
};

/* stats_reply - count the reply and put its latency in its bucket. */
HOT void stats_reply(enum stats_action kind, uint64_t waited_us)
{
	unsigned b = 0;

	stats.replies[kind]++;
	if (waited_us > 0) {
		stats.waited++;
		stats.latency_us_total += waited_us;
		if (waited_us > stats.waited_us_max)
			stats.waited_us_max = waited_us;
		while (b < STATS_BUCKETS - 1 && waited_us > stats_bucket_us[b])
			b++;
	}
	stats.latency[b]++;
}

/* stats_store_latency - put one store answer's time in its bucket. */
void stats_store_latency(uint64_t waited_us)
{
	unsigned b = 0;

	while (b < STATS_BUCKETS - 1 && waited_us > stats_bucket_us[b])
		b++;
	stats.greylist_store_latency[b]++;
	stats.greylist_store_us_total += waited_us;
	stats.greylist_store_answers++;
}

/* stats_log - the counters, key=value, for grep and for humans. */
void stats_log(unsigned long open_connections)
{
	log_info("statistics: connections=%" PRIu64 " open=%lu refused_connections=%" PRIu64
		 " protocol_errors=%" PRIu64 " idle_timeouts=%" PRIu64 " requests=%" PRIu64
		 " dunno=%" PRIu64 " reject=%" PRIu64 " defer=%" PRIu64 " warn=%" PRIu64
		 " prepend=%" PRIu64 " on_error=%" PRIu64 " exempt=%" PRIu64 " dns_queries=%" PRIu64
		 " dns_failures=%" PRIu64 " list_errors=%" PRIu64 " lookups_timed_out=%" PRIu64,
		 stats.connections, open_connections, stats.connections_refused,
		 stats.protocol_errors, stats.idle_timeouts, stats.requests,
		 stats.replies[STATS_DUNNO], stats.replies[STATS_REJECT],
		 stats.replies[STATS_DEFER], stats.replies[STATS_WARN],
		 stats.replies[STATS_PREPEND], stats.replies_on_error, stats.replies_exempt,
		 stats.dns_queries, stats.dns_failures, stats.list_errors, stats.lookups_timed_out);
	log_info("statistics: waited_for_dns=%" PRIu64 " avg_ms=%.1f max_ms=%.1f", stats.waited,
		 stats.waited ? stats.latency_us_total / 1000.0 / (double)stats.waited : 0.0,
		 stats.waited_us_max / 1000.0);
}
