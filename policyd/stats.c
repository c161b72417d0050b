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
}
