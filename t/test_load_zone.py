#!/usr/bin/env python3
"""Integration, load: rbldnsd's zone changed (an address added, another removed)
while three connections keep asking a DNS list.

Before the change the address to be added passes and the one to be removed is
refused; after it, each flips once the verdict cached for it has expired (its
TTL, and less than a second more), and stays flipped on every connection; every
other address gets its right answer throughout, each request exactly one reply,
in order (lib/load.py's streams and their sentinel). The expiry of the cached
verdicts is what takes time here; the rest of the load runs for a number of
answered requests. Every loop is bounded in count and in time.
"""

import random
import time

from lib.daemon import Policyd, Tap
from lib.dnslib import Rbldnsd
from lib.load import (DUNNO, SENTINEL_DNS, ZONE, Fresh, Stream, await_records, dns_daemon, dns_want, finish_streams,
                      mismatches, mixed_picker, new_stop, records_of, run_scenario, run_streams, start_with_dns,
                      warm_cache, zone_data)
from lib.wait import poll_until

t = Tap()


def fixed(rec):
    return rec[1] in ("added", "removed")


def test_zone_reload():
    added, removed = "10.3.0.5", "10.3.0.7"
    with Rbldnsd({ZONE: zone_data(["10.1.0.0/16", removed])}) as r, Policyd(start=False) as d:
        start_with_dns(d, dns_daemon(d, r, "", "negative_ttl = 1s\nmin_ttl = 1s\nmax_ttl = 2s\n"))
        t.eq(warm_cache(d), [], "warm-up: the fixed addresses get their verdicts")
        fresh = Fresh()
        stop = new_stop()
        pairs = ((added, "added"), (removed, "removed"))
        streams = [
            Stream(d, kind, mixed_picker(fresh, random.Random(40 + i), pairs), stop, pipeline=pipe, pause=0.005, seconds=60)
            for i, (kind, pipe) in enumerate((("tcp", 1), ("unix", 4), ("tcp", 1)))
        ]
        run_streams(streams)
        await_records(streams, 100, 20, "100 requests for the two fixed addresses before the change", fixed)
        t_reload0 = time.monotonic()
        r.reload(ZONE, zone_data(["10.1.0.0/16", added]))
        t_reload1 = time.monotonic()
        print(f"# rbldnsd reloaded the zone in {t_reload1 - t_reload0:.2f} s")

        def seen(label, want, after):
            return any(rec[1] == label and rec[2] >= after and rec[4] == want for s in streams for rec in list(s.records[-300:]))

        if poll_until(lambda: seen("added", dns_want(added), t_reload1 + 3.0) and seen("removed", DUNNO, t_reload1 + 4.0),
                      15, interval=0.1):
            await_records(streams, 100, 20, "100 more requests for the two fixed addresses", fixed)
        records = finish_streams(t, streams, stop, "zone reloaded under load", (SENTINEL_DNS, dns_want(SENTINEL_DNS)))

        before = records_of(records, before=t_reload0)
        bad = mismatches(records_of(before, "added"), lambda a, l, s: DUNNO) + mismatches(records_of(before, "removed"), lambda a, l, s: dns_want(a))
        t.ok(records_of(before, "added") and records_of(before, "removed") and not bad,
             "before the reload: the address to be added passes, the one to be removed is refused", "\n".join(bad[:10]))
        # Cached verdicts live their TTL and less than one second more: a negative one
        # (negative_ttl = 1s) is gone 2 s after the reload, a positive one (max_ttl = 2s) 3 s after.
        late_added = records_of(records, "added", after=t_reload1 + 3.0)
        bad = mismatches(late_added, lambda a, l, s: dns_want(a))
        t.ok(late_added and not bad, f"the address added to the zone is refused once its negative verdict expired ({len(late_added)} requests)", "\n".join(bad[:10]))
        first = min((rec[3] for rec in records_of(records, "added") if rec[4] != DUNNO), default=None)
        if first is not None:
            print(f"# the added address was first refused {first - t_reload1:.2f} s after the reload")
            flip = [rec for rec in records_of(records, "added", after=first) if rec[4] != dns_want(added)]
            t.ok(not flip, "once refused, it is refused on every connection after", "\n".join(map(str, flip[:10])))
        late_removed = records_of(records, "removed", after=t_reload1 + 4.0)
        bad = mismatches(late_removed, lambda a, l, s: DUNNO)
        t.ok(late_removed and not bad, f"the address removed from the zone passes once its positive verdict expired ({len(late_removed)} requests)", "\n".join(bad[:10]))
        others = [rec for rec in records if rec[1] not in ("added", "removed")]
        bad = mismatches(others, lambda a, l, s: dns_want(a) if "listed" in l else DUNNO)
        t.ok(not bad, f"every other address got its right answer throughout ({len(others)} requests)", "\n".join(bad[:10]))
        t.ok(d.proc.poll() is None, "the daemon is alive")
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


run_scenario(t, test_zone_reload)
