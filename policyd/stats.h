/*
 * stats - counters of what the daemon did, logged periodically and on SIGUSR1.
 * One global instance owned by the process; plain integers, no locking (one thread).
 */
#ifndef POLICYD_STATS_H
#define POLICYD_STATS_H

#include <stdint.h>

struct stats {
	uint64_t connections;          /* accepted and served */
	uint64_t connections_refused;  /* outside allow, or over max_connections */
	uint64_t protocol_errors;      /* connections closed for a protocol violation */
	uint64_t idle_timeouts;
	uint64_t requests;
	uint64_t replies_dunno;
	uint64_t replies_refused;      /* reject, defer, warn or prepend */
	uint64_t replies_on_error;     /* answered with on_error after a timeout or failure */
	uint64_t replies_exempt;       /* DUNNO because the recipient is exempt (counted in dunno) */
	uint64_t dns_queries;
	uint64_t dns_failures;         /* SERVFAIL, timeouts and unusable answers */
	uint64_t list_errors;          /* error answers such as 127.255.255.254 */
	uint64_t lookups_timed_out;    /* requests answered at request_timeout */
	/* Requests that waited for DNS: how long, from parsing to the reply. Cache hits
	 * are answered in the same loop iteration and are not timed. */
	uint64_t waited;
	uint64_t waited_us_total;
	uint64_t waited_us_max;
	uint64_t waited_over_100ms;
	uint64_t waited_over_1s;
};

/* stats_waited - account one request that waited microseconds for its lookups. */
void stats_waited(uint64_t us);

extern struct stats stats;

/* stats_log - one info line with every counter and the open connection count. */
void stats_log(unsigned long open_connections);

#endif
