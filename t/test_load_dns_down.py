#!/usr/bin/env python3
"""Integration, load: the DNS server (rbldnsd) killed and started again while four
connections keep asking a DNS list.

Before the kill fresh listed addresses are refused; while DNS is down fresh
addresses get DUNNO within request_timeout + 0.5 s, cached ones at once, and the
circuit breaker opens and says so once; once rbldnsd is back and the list is
tried again, every fresh listed address is refused again. No clean address is
ever refused, and every request gets exactly one reply, in order (lib/load.py's
streams and their sentinel). The load runs for a number of answered requests,
not for seconds. Every loop is bounded in count and in time; rbldnsd is ended
and started by its PID.
"""

import random
import time

from lib.daemon import Policyd, Tap
from lib.dnslib import Rbldnsd
from lib.load import (DUNNO, SENTINEL_DNS, ZONE, Fresh, Stream, await_records, dns_daemon, dns_want,
                      finish_streams, log_lines, mismatches, mixed_picker, ms, new_stop, records_of, run_scenario,
                      run_streams, start_with_dns, warm_cache, zone_data)
from lib.wait import poll_until

t = Tap()
OPENED = r"lookups in a row failed; skipping the list"


def fresh(label="fresh", after=None):
    """A record of a fresh address (of `label`), sent after `after`."""
    return lambda rec: rec[1].startswith(label) and (after is None or rec[2] > after)


def test_dns_restart():
    zones = {ZONE: zone_data(["10.1.0.0/16"])}
    with Rbldnsd(zones) as r, Policyd(start=False) as d:
        # The list is tried again 5 s after the breaker opened (the default 30 s,
        # which test_dns_faults.py measures, would only make this test wait).
        start_with_dns(d, dns_daemon(d, r, "request_timeout = 1s\n", "min_ttl = 5m\n", dns="breaker_backoff = 5s\n"))
        since = d.mark()
        t.eq(warm_cache(d), [], "warm-up: the cached addresses get their verdicts")
        addresses = Fresh()
        stop = new_stop()
        streams = [
            Stream(d, kind, mixed_picker(addresses, random.Random(30 + i)), stop, pipeline=pipe, pause=0.01, seconds=90, timeout=5)
            for i, (kind, pipe) in enumerate((("tcp", 1), ("unix", 1), ("tcp", 3), ("unix", 1)))
        ]
        run_streams(streams)
        await_records(streams, 200, 20, "200 fresh listed addresses answered while DNS is up", fresh("fresh-listed"))
        t_kill0 = time.monotonic()
        r.kill()
        t_kill1 = time.monotonic()
        # DNS stays down until the breaker has opened and 100 fresh addresses were
        # answered while it skips the list.
        d.wait_log(OPENED, timeout=20, since=since)
        await_records(streams, 100, 20, "100 fresh addresses answered while the list is skipped", fresh(after=time.monotonic()))
        t_restart0 = time.monotonic()
        r.restart()
        t_restart1 = time.monotonic()

        # Listed addresses are refused again once the circuit breaker lets a query through.
        def back():
            sent = [rec[2] for s in streams for rec in list(s.records[-200:])
                    if rec[1] == "fresh-listed" and rec[2] > t_restart1 and rec[4].startswith("action=REJECT")]
            return min(sent, default=None)

        t_back = poll_until(back, 40, interval=0.1, gone=lambda: any(s.failure for s in streams))
        if t_back is not None:
            await_records(streams, 100, 20, "100 fresh listed addresses answered after the list is back",
                          fresh("fresh-listed", after=t_back + 0.1))
        records = finish_streams(t, streams, stop, "DNS killed and restarted", (SENTINEL_DNS, dns_want(SENTINEL_DNS)))

        clean_rejected = [r_ for r_ in records if r_[1].endswith("clean") and r_[4] != DUNNO]
        t.ok(not clean_rejected, "no clean address was ever refused", "\n".join(map(str, clean_rejected[:10])))
        # The circuit breaker stops queries to the list; a verdict cached within its
        # TTL (min_ttl = 5m here) needs no query and still holds.
        cached = records_of(records, "cached-listed")
        bad = mismatches(cached, lambda a, l, s: dns_want(a), t_kill1, "kill")
        wrong = [r_[2] - t_kill1 for r_ in cached if r_[4] != dns_want(r_[0])]
        t.ok(
            not bad,
            f"cached listed addresses are refused throughout, also while the circuit breaker skips the list ({len(cached)} requests)",
            f"{len(wrong)} of {len(cached)} answered otherwise, sent from kill{min(wrong, default=0):+.2f}s to kill{max(wrong, default=0):+.2f}s"
            f" (rbldnsd restarted at kill{t_restart1 - t_kill1:+.2f}s)\n"
            + "\n".join(log_lines(d, r"skipping the list|breaker closed", since)[:4] + bad[:6]),
        )

        up = records_of(records, "fresh-listed", before=t_kill0 - 0.3)
        bad = mismatches(up, lambda a, l, s: dns_want(a))
        t.ok(up and not bad, f"before the kill fresh listed addresses are refused ({len(up)} requests)", "\n".join(bad[:10]))

        down = [r_ for r_ in records_of(records, after=t_kill1, before=t_restart0) if r_[1].startswith("fresh")]
        slow = [r_ for r_ in down if r_[4] != DUNNO or r_[3] - r_[2] > 1.5]
        worst = max((r_[3] - r_[2] for r_ in down), default=0)
        t.ok(
            len(down) > 10 and not slow,
            f"DNS down: fresh addresses get DUNNO within request_timeout + 0.5 s ({len(down)} requests, slowest {ms(worst)})",
            "\n".join(f"{a} {l} took {ms(e - s_)}: {rep!r}" for a, l, s_, e, rep in slow[:10]),
        )
        single = {id(s) for s in streams if s.pipeline == 1}
        cached_down = [
            rec for s in streams if id(s) in single for rec in s.records
            if rec[1].startswith("cached") and t_kill1 <= rec[2] < t_restart0
        ]
        worst_cached = max((rec[3] - rec[2] for rec in cached_down), default=0)
        t.ok(cached_down and worst_cached < 0.5, f"DNS down: cached addresses are answered at once ({len(cached_down)} requests, slowest {ms(worst_cached)})")

        t.ok(t_back is not None, f"after the restart listed addresses are refused again ({(t_back - t_restart1) if t_back else -1:.1f} s after rbldnsd answered)",
             "\n".join(log_lines(d, r"breaker|skipping|dnsbl", since)[:10]))
        if t_back is not None:
            later = records_of(records, "fresh-listed", after=t_back + 0.1)
            bad = mismatches(later, lambda a, l, s: dns_want(a))
            t.ok(later and not bad, f"and from then on every fresh listed address is refused ({len(later)} requests)", "\n".join(bad[:10]))
        opened = len(log_lines(d, OPENED, since))
        t.ok(1 <= opened <= 2, f"the circuit breaker opened and said so once, not on every request ({opened} log lines, {len(down)} requests while down)",
             "\n".join(log_lines(d, r"skipping the list", since)[:10]))
        t.ok(d.proc.poll() is None, "the daemon is alive")
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


run_scenario(t, test_dns_restart)
