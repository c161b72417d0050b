#!/usr/bin/env python3
"""Integration, load: 100 SIGHUPs while four connections keep asking a DNS list,
alternating two valid configurations whose answer codes differ.

Each SIGHUP is a reload, logged, and each switch of the codes empties the
verdict cache; none fails; every request gets its right action and exactly one
reply, in order (lib/load.py's streams and their sentinel); afterwards the
daemon's descriptors and resident memory are back near their baseline. Every
loop is bounded in count and in time.
"""

import random
import signal
import time

from lib.daemon import Policyd, Tap
from lib.dnslib import Rbldnsd
from lib.files import write_atomic
from lib.load import (DUNNO, SANITIZED, SENTINEL_DNS, ZONE, Fresh, Stream, dns_daemon, dns_want, drained,
                      fd_count_settles, finish_streams, log_lines, mismatches, mixed_picker, new_stop, records_of,
                      run_scenario, run_streams, start_with_dns, warm_cache, zone_data)

t = Tap()

N_HUP = 100


def test_sighup_storm():
    with Rbldnsd({ZONE: zone_data(["10.1.0.0/16"])}) as r, Policyd(start=False) as d:
        server = "idle_timeout = 5m\n"
        config_a = dns_daemon(d, r, server, "min_ttl = 5m\n")
        # Other codes (same verdicts for 127.0.0.2): the cache is emptied on every switch.
        config_b = dns_daemon(d, r, server, "min_ttl = 5m\n", "codes = 127.0.0.[2..3]\n")
        start_with_dns(d, config_a)
        since = seen = d.mark()
        t.eq(warm_cache(d), [], "warm-up: the cached addresses get their verdicts")
        fresh = Fresh()
        stop = new_stop()
        streams = [
            Stream(d, kind, mixed_picker(fresh, random.Random(50 + i)), stop, pipeline=pipe, pause=0.003, seconds=90)
            for i, (kind, pipe) in enumerate((("tcp", 1), ("unix", 1), ("tcp", 5), ("unix", 3)))
        ]
        run_streams(streams)

        def hup(text):
            """Switch to `text` and wait for the reload's log line (the next after the last one)."""
            nonlocal seen
            write_atomic(d.config, text)
            d.signal(signal.SIGHUP)
            seen = d.wait_log(r"configuration reloaded from", timeout=10, since=seen).end()

        for i in range(4):  # warm up: the allocator sees a few reloads before the baseline
            hup(config_b if i % 2 == 0 else config_a)
        drained(streams)  # what was in flight during the warm-up reloads is over
        fds0, rss0 = d.fd_count(), d.rss_kib()
        flushed0 = len(log_lines(d, r"the verdict cache is emptied", since))
        started = time.monotonic()
        done = 0
        try:
            for i in range(N_HUP):
                if time.monotonic() - started > 90 or any(s.failure for s in streams):
                    break
                hup(config_b if i % 2 == 0 else config_a)
                done += 1
                time.sleep(0.02)  # pacing: the streams ask between reloads
        except AssertionError as e:
            t.ok(False, f"reload {done + 1} of {N_HUP} was not logged", str(e))
        took = time.monotonic() - started
        t.eq(done, N_HUP, f"{N_HUP} SIGHUPs, each one reloaded (logged) under load, in {took:.1f} s")
        flushed = len(log_lines(d, r"the verdict cache is emptied", since)) - flushed0
        t.eq(flushed, N_HUP, "each switch of the codes emptied the cache")
        t.eq(log_lines(d, r"reload failed", since), [], "no reload failed")
        drained(streams)  # what was in flight during the last reloads is over
        records = finish_streams(t, streams, stop, f"{N_HUP} SIGHUPs under load", (SENTINEL_DNS, dns_want(SENTINEL_DNS)))
        bad = mismatches(records, lambda a, l, s: dns_want(a) if "listed" in l else DUNNO)
        during = records_of(records, after=started, before=started + took)
        t.ok(not bad and len(during) > 200, f"every request got the right action ({len(records)} requests, {len(during)} during the reloads)", "\n".join(bad[:10]))
        t.ok(d.proc.poll() is None, "the daemon is alive")
        fds1 = fd_count_settles(d, fds0, 5)
        t.ok(abs(fds1 - fds0) <= 2, f"the descriptor count is back near its baseline ({fds0} -> {fds1})")
        rss1 = d.rss_kib()
        if SANITIZED:
            t.skip(f"resident memory is back near its baseline after {N_HUP} reloads", f"under sanitizers ({rss0} KiB -> {rss1} KiB)")
        else:
            t.ok(rss1 - rss0 < 2048, f"resident memory is back near its baseline after {N_HUP} reloads ({rss0} KiB -> {rss1} KiB)")
        for s in streams:
            s.conn.close()
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


run_scenario(t, test_sighup_storm)
