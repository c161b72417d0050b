/*
 * stats - counters of what the daemon did, logged periodically and on SIGUSR1 and
 * served as Prometheus metrics (metrics.h). One global instance owned by the
 * process; plain integers, no locking (one thread).
 */
#ifndef POLICYD_STATS_H
#define POLICYD_STATS_H

#include <stdint.h>

/* What a reply said, as counted: the action word Postfix got. */
enum stats_action {
	STATS_DUNNO,
	STATS_REJECT,
	STATS_DEFER,
	STATS_WARN,
	STATS_PREPEND,
	STATS_GREYLIST, /* DEFER_IF_PERMIT: a greylisting delay */
	STATS_ACTIONS
};

/* The upper bounds (microseconds) of the latency histogram's buckets; the last is +Inf. */
#define STATS_BUCKETS 12
extern const uint64_t stats_bucket_us[STATS_BUCKETS - 1];

struct stats {
	uint64_t connections;         /* accepted and served */
	uint64_t connections_refused; /* outside allow, over max_connections or the descriptors */
	uint64_t protocol_errors;     /* connections closed for a protocol violation */
	uint64_t idle_timeouts;
	uint64_t requests;
	uint64_t replies[STATS_ACTIONS]; /* every reply by its action: they add up to requests */
	uint64_t replies_on_error;       /* of those, answered with on_error (lookups unfinished) */
	uint64_t replies_exempt;         /* of those, DUNNO because the recipient is exempt */
	uint64_t replies_cached;         /* of those, decided from the cache without waiting */
	uint64_t dns_queries;
	uint64_t dns_failures;      /* SERVFAIL, timeouts and unusable answers */
	uint64_t list_errors;       /* error answers such as 127.255.255.254 */
	uint64_t lookups_timed_out; /* requests answered at request_timeout */
	/* The time from a request's parse to its reply: a request answered at once
	 * is counted in the first bucket without being timed (the loop answers it in
	 * the same turn); one that waited for DNS is timed. */
	uint64_t latency[STATS_BUCKETS];
	uint64_t latency_us_total; /* of the requests that waited */
	uint64_t waited;
	uint64_t waited_us_max;
	/* Greylisting: the store's answers (enum greylist_answer), its failures (a
	 * command that failed or missed its deadline: the request passed), the outages
	 * (the store went down: counted once each) and whether it is up now, and the
	 * time each answer took (the same buckets as the replies). */
	uint64_t greylist[6];
	uint64_t greylist_store_errors;
	uint64_t greylist_store_outages;
	uint64_t greylist_store_up;
	uint64_t greylist_store_latency[STATS_BUCKETS];
	uint64_t greylist_store_us_total;
	uint64_t greylist_store_answers;
};

extern struct stats stats;

/* stats_reply - one reply of this kind; waited_us is 0 for one answered at once. */
void stats_reply(enum stats_action kind, uint64_t waited_us);

/* stats_store_latency - one answer of the greylist store, after waited_us. */
void stats_store_latency(uint64_t waited_us);

/* stats_log - info lines with every counter and the open connection count. */
void stats_log(unsigned long open_connections);

#endif
