/*
 * redis - placeholder until the Redis store lands: every ask is refused, so that
 * greylisting with a Redis store passes every request (GREYLIST_UNAVAILABLE).
 */
#include "redis.h"

#include <stdlib.h>
#include <string.h>

bool redis_target_parse(const char *url, struct redis_target *out, const char **err)
{
	(void)url;
	memset(out, 0, sizeof(*out));
	*err = "Redis stores are not built yet";
	return false;
}

struct redis_store *redis_store_new(uv_loop_t *loop, const struct redis_target *t,
				    const struct greylist_rules *g)
{
	(void)loop, (void)t, (void)g;
	return NULL;
}

void redis_store_set(struct redis_store *s, const struct redis_target *t,
		     const struct greylist_rules *g)
{
	(void)s, (void)t, (void)g;
}

bool redis_store_ask(struct redis_store *s, const struct greylist_key *k, redis_done_fn *done,
		     void *arg)
{
	(void)s, (void)k, (void)done, (void)arg;
	return false;
}

bool redis_store_up(const struct redis_store *s)
{
	(void)s;
	return false;
}

void redis_store_free(struct redis_store *s)
{
	(void)s;
}
