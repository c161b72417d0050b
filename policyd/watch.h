/*
 * watch - local list files re-read when they change, without a SIGHUP.
 *
 * Every WATCH_INTERVAL_MS the files of the current configuration's [list]
 * sections are looked at (stat). A file that changed is read again only once it
 * has stopped changing (the same size, modification time and inode at two looks
 * in a row, the last change at least WATCH_SETTLE_MS ago), so that an editor
 * caught in the middle of writing does not make policyd read half a file. A file
 * whose last line has no newline is taken for one still being written: it is read
 * again at the next change, and used as it is (with a warning) only once it has
 * stayed unchanged for WATCH_OPEN_SETTLE_MS. A file with errors never replaces a
 * good one (config_load_list reads all or nothing). While a file waits or is
 * refused, the list in use stays, and one log line says why. A change is picked up
 * within about 1.5 s.
 *
 * The file is read and parsed on libuv's thread pool (a 31 MB list took 418 ms, a
 * stall of every reply when it ran on the loop), one file at a time; the new set
 * replaces the old one in the configuration on the loop thread, at once: a request
 * reads a local list only during its own decision, so nothing keeps the old set.
 * A read that finishes after a reload (SIGHUP) or at shutdown is thrown away.
 *
 * Memory: the watch owns its timer, its record of each file and the read in flight
 * (with a reference to the configuration it reads for, and the sets it built until
 * they are swapped in); the sets in use belong to the configuration. The engine
 * owns the watch; watch_free lets go at once, and the memory goes when both the
 * timer has closed and the read in flight has come back (or been cancelled).
 */
#ifndef POLICYD_WATCH_H
#define POLICYD_WATCH_H

#include <uv.h>

#include "config.h"

#define WATCH_INTERVAL_MS 500
#define WATCH_SETTLE_MS 500
/* How long a file whose last line has no newline must stay unchanged to be used. */
#define WATCH_OPEN_SETTLE_MS 2000

struct watch;

struct watch *watch_new(uv_loop_t *loop);

/* watch_set - watch the local lists of cfg from now on (their files as loaded now). */
void watch_set(struct watch *w, struct config *cfg);

void watch_free(struct watch *w);

#endif
