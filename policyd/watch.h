/*
 * watch - local list files re-read when they change, without a SIGHUP.
 *
 * Every WATCH_INTERVAL_MS the files of the current configuration's [list]
 * sections are looked at (stat). A file that changed is read again only once it
 * has stopped changing (the same size, modification time and inode at two looks
 * in a row, the last change at least WATCH_SETTLE_MS ago), so that an editor
 * caught in the middle of writing does not make policyd read half a file; and a
 * file with errors never replaces a good one (config_load_list reads all or
 * nothing). A change is picked up within about 1.5 s. The new set replaces the
 * old one in the configuration at once: a request reads a local list only during
 * its own decision, so nothing keeps the old set.
 *
 * Memory: the watch owns its timer and its record of each file; the sets belong
 * to the configuration. The engine owns the watch.
 */
#ifndef POLICYD_WATCH_H
#define POLICYD_WATCH_H

#include <uv.h>

#include "config.h"

#define WATCH_INTERVAL_MS 500
#define WATCH_SETTLE_MS 500

struct watch;

struct watch *watch_new(uv_loop_t *loop);

/* watch_set - watch the local lists of cfg from now on (their files as loaded now). */
void watch_set(struct watch *w, struct config *cfg);

void watch_free(struct watch *w);

#endif
