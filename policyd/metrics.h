/*
 * metrics - Prometheus's text format of the daemon's counters, for GET /metrics
 * (see metrics.c for what is served).
 */
#ifndef POLICYD_METRICS_H
#define POLICYD_METRICS_H

#include <stddef.h>

#include "engine.h"

/*
 * metrics_render - the whole text in a heap buffer the caller frees; *len its
 * length. NULL when memory runs out.
 */
char *metrics_render(const struct engine *e, unsigned long open_connections, size_t *len);

#endif
