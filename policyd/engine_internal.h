/*
 * engine_internal - the engine's state, shared by engine.c (deciding, waiting,
 * reloading) and engine_view.c (what it lets others see). Not used outside the
 * engine.
 */
#ifndef POLICYD_ENGINE_INTERNAL_H
#define POLICYD_ENGINE_INTERNAL_H

#include "engine.h"
#include "greystore.h"
#include "keyjob.h"
#include "lru.h"
#include "probe.h"
#include "resolver.h"
#include "watch.h"

struct engine {
	uv_loop_t *loop;
	struct config *cfg;
	struct list_health **health; /* per list of cfg; NULL for local lists */
	struct breaker_params breaker;
	struct resolver *resolver; /* NULL while no DNS list is configured */
	struct reasons *reasons;
	struct lru *cache;
	struct keyjob_table *jobs;
	struct probe *probe;
	struct watch *watch;    /* re-reads local list files that change */
	struct greystore *grey; /* soft_action = greylist: where triplets are remembered */
	bool offline;           /* --check: no greylist store */
	uint8_t seed[16];
	struct request scratch; /* a waiting request's copy, parsed when it finishes */
	size_t waiting;
	uint64_t last_saturated_log;
};

#endif
