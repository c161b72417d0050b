/*
 * stats - the process's counters (see stats.h) and their log line.
 */
#include "stats.h"

#include <inttypes.h>

#include "log.h"

struct stats stats;

/* stats_log - print all counters in one line, key=value, for grep and for humans. */
void stats_log(unsigned long open_connections)
{
	log_info("statistics: connections=%" PRIu64 " open=%lu refused_connections=%" PRIu64
		 " protocol_errors=%" PRIu64 " idle_timeouts=%" PRIu64 " requests=%" PRIu64
		 " dunno=%" PRIu64 " refused=%" PRIu64 " on_error=%" PRIu64 " dns_queries=%" PRIu64
		 " dns_failures=%" PRIu64 " list_errors=%" PRIu64 " lookups_timed_out=%" PRIu64,
		 stats.connections, open_connections, stats.connections_refused,
		 stats.protocol_errors, stats.idle_timeouts, stats.requests, stats.replies_dunno,
		 stats.replies_refused, stats.replies_on_error, stats.dns_queries, stats.dns_failures,
		 stats.list_errors, stats.lookups_timed_out);
	log_info("statistics: waited_for_dns=%" PRIu64 " avg_ms=%.1f max_ms=%.1f over_100ms=%" PRIu64
		 " over_1s=%" PRIu64,
		 stats.waited, stats.waited ? stats.waited_us_total / 1000.0 / (double)stats.waited : 0.0,
		 stats.waited_us_max / 1000.0, stats.waited_over_100ms, stats.waited_over_1s);
}

/* stats_waited - one more timed request. */
void stats_waited(uint64_t us)
{
	stats.waited++;
	stats.waited_us_total += us;
	if (us > stats.waited_us_max)
		stats.waited_us_max = us;
	stats.waited_over_100ms += us > 100000;
	stats.waited_over_1s += us > 1000000;
}
