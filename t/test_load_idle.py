#!/usr/bin/env python3
"""Integration, load: 10,000 idle connections (unix and TCP, 500 opened at a time)
while 20 active ones keep asking a local list.

The active connections are answered all along, each request exactly once and in
order (lib/load.py's streams and their sentinel); the daemon holds a descriptor
for every idle connection and little memory (under 16 KiB each); no idle
connection is closed or sent anything; a sample of 100 of them, spread over all,
is still served; once all are closed the descriptor count is back to its
baseline. Every loop is bounded in count and in time; every process is ended by
its PID.
"""

import errno
import os
import random
import selectors
import socket
import time

from lib.daemon import Policyd, Tap, request
from lib.load import (CLEAN_NET, LISTED_NET, SANITIZED, SENTINEL_LOCAL, Conn, Stream, await_records, config_text,
                      fd_count_settles, finish_streams, local_list_section, local_want, log_lines, mismatches, ms,
                      new_stop, pct, raise_nofile, run_scenario, run_streams)

t = Tap()
N_IDLE = 10000


def open_idle(d, n, deadline, batch=500):
    """n connected non-blocking sockets, alternately unix and TCP, opened `batch` at a time."""
    sel = selectors.DefaultSelector()
    socks = []
    errors = []
    try:
        for _ in range(n // batch + 10):  # a batch a turn; the deadline ends a stuck run
            if len(socks) >= n or time.monotonic() > deadline:
                break
            todo = min(batch, n - len(socks))
            unix_retry = []
            in_progress = 0
            for i in range(todo):
                kind = "unix" if i % 2 == 0 else "tcp"
                if kind == "unix":
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.setblocking(False)
                    rc = s.connect_ex(d.unix)
                    if rc == 0:
                        socks.append(s)
                    elif rc in (errno.EAGAIN, errno.EWOULDBLOCK):
                        s.close()
                        unix_retry.append(1)
                    else:
                        s.close()
                        errors.append(f"unix connect: {os.strerror(rc)}")
                else:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    rc = s.connect_ex(("127.0.0.1", d.port))
                    if rc == 0:
                        socks.append(s)
                    elif rc == errno.EINPROGRESS:
                        sel.register(s, selectors.EVENT_WRITE)
                        in_progress += 1
                    else:
                        s.close()
                        errors.append(f"tcp connect: {os.strerror(rc)}")
            batch_deadline = min(deadline, time.monotonic() + 15)
            for _ in range(int(15 / 0.05) + 1):  # select() waits up to 0.05 s a turn
                if not (in_progress or unix_retry) or time.monotonic() > batch_deadline:
                    break
                for key, _ in sel.select(timeout=0.05):
                    s = key.fileobj
                    sel.unregister(s)
                    in_progress -= 1
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        s.close()
                        errors.append(f"tcp connect: {os.strerror(err)}")
                    else:
                        socks.append(s)
                for _ in range(len(unix_retry)):  # the listen backlog was full: try again
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.setblocking(False)
                    rc = s.connect_ex(d.unix)
                    if rc == 0:
                        socks.append(s)
                        unix_retry.pop()
                    else:
                        s.close()
            if errors:
                break
        for key in list(sel.get_map().values()):
            key.fileobj.close()
    finally:
        sel.close()
    return socks, errors


def test_many_idle():
    limit = raise_nofile(N_IDLE + 2000)
    n_idle = min(N_IDLE, limit - 1000)
    t.ok(n_idle == N_IDLE, f"our descriptor limit allows {N_IDLE} client sockets (soft limit {limit})")
    listed = [f"{LISTED_NET}.{i}" for i in range(1, 40)]
    clean = [f"{CLEAN_NET}.{i}" for i in range(1, 40)]
    with Policyd(start=False) as d:
        # All the TCP connections come from 127.0.0.1: one peer, allowed them all.
        server = ("max_connections = 20000\nmax_peer_connections = 20000\nidle_timeout = 5m\n"
                  "allow = 127.0.0.1/32\n")
        d.write_config(text=config_text(d, server, local_list_section(d, [LISTED_NET + ".0/24"])))
        d.start()
        since = d.mark()
        fds_empty = d.fd_count()
        t.eq(d.ask(request(listed[0])), local_want(listed[0]), "sanity: a listed address is refused with the local list's text")
        fd_count_settles(d, fds_empty, 5)

        stop = new_stop()
        streams = []
        for i in range(20):
            rng = random.Random(i)
            pick = (lambda rng=rng: (lambda a: (a, "local"))(rng.choice(listed if rng.random() < 0.5 else clean)))
            streams.append(Stream(d, "unix" if i % 2 else "tcp", pick, stop, pipeline=1 if i % 4 < 2 else 8, pause=0.005, seconds=120))
        run_streams(streams)
        await_records(streams, 2000, 20, "2000 requests of the active streams (they warm up the allocator)")
        fds_active = d.fd_count()
        rss0 = d.rss_kib()

        started = time.monotonic()
        idle, errors = open_idle(d, n_idle, time.monotonic() + 60)
        opened_in = time.monotonic() - started
        t.ok(len(idle) == n_idle and not errors, f"{len(idle)} idle connections opened in {opened_in:.1f} s (unix and TCP, 500 at a time)", "\n".join(errors[:10]))
        fds_full = fd_count_settles(d, fds_active + len(idle), 30)
        t.eq(fds_full - fds_active, len(idle), "the daemon holds a descriptor for every idle connection")
        rss1 = d.rss_kib()
        per_conn = (rss1 - rss0) / max(1, len(idle))
        refused = log_lines(d, r"connection refused", since)
        t.ok(not refused, "no connection refused (max_connections = 20000)", "\n".join(refused[:5]))
        if SANITIZED:
            t.skip("resident memory per idle connection", f"under sanitizers ({per_conn:.2f} KiB measured)")
        else:
            t.ok(per_conn < 16, f"resident memory per idle connection: {per_conn:.2f} KiB ({rss0} KiB -> {rss1} KiB for {len(idle)})")

        # The active connections were answered all along, and still are.
        await_records(streams, 1000, 20, "1000 more requests of the active streams")
        records = finish_streams(t, streams, stop, "20 active connections beside the idle ones", (SENTINEL_LOCAL, local_want(SENTINEL_LOCAL)))
        bad = mismatches(records, lambda a, l, s: local_want(a))
        t.ok(not bad and len(records) > 1000, f"every active request answered with the right action ({len(records)} requests)", "\n".join(bad[:10]))
        during = [r[3] - r[2] for r in records if started <= r[2] <= started + opened_in]
        if during:
            print(f"# active requests while idle connections were opened: {len(during)}, p50 {ms(pct(during, 50))}, p99 {ms(pct(during, 99))}, max {ms(max(during))}")

        # No idle connection was closed or got anything.
        sel = selectors.DefaultSelector()
        for s in idle:
            sel.register(s, selectors.EVENT_READ)
        readable = sel.select(timeout=0.2)
        sel.close()
        t.eq(len(readable), 0, f"none of the {len(idle)} idle connections was closed or sent anything")

        # A sample of 100 idle connections, spread over all of them, is still served (half unix, half TCP).
        unix_idle = [s for s in idle if s.family == socket.AF_UNIX]
        tcp_idle = [s for s in idle if s.family != socket.AF_UNIX]
        sample = unix_idle[:: max(1, len(unix_idle) // 50)][:50] + tcp_idle[:: max(1, len(tcp_idle) // 50)][:50]
        problems = []
        for i, s in enumerate(sample):
            addr = listed[i % len(listed)] if i % 4 < 2 else clean[i % len(clean)]
            c = Conn(s, f"idle {i}")
            try:
                s.setblocking(True)
                c.send(request(addr), 1)
                got = c.read(1, 5)[0]
                if got != local_want(addr):
                    problems.append(f"idle {i} {addr}: {got!r}")
                else:
                    extra = c.sentinel(SENTINEL_LOCAL, local_want(SENTINEL_LOCAL))
                    if extra:
                        problems.append(f"idle {i} {addr}: after its reply, {extra}")
            except Exception as e:  # noqa: BLE001
                problems.append(f"idle {i} {addr}: {type(e).__name__}: {e}")
        t.ok(len(sample) == 100 and not problems, f"a sample of {len(sample)} idle connections ({len(unix_idle)} unix, {len(tcp_idle)} TCP in all) is answered, once each", "\n".join(problems[:10]))

        for s in idle:
            s.close()
        for s in streams:
            s.conn.close()
        started = time.monotonic()
        fds_end = fd_count_settles(d, fds_empty, 30)
        t.eq(fds_end, fds_empty, f"all closed: the daemon's descriptor count is back to its baseline ({fds_full} -> {fds_end} in {time.monotonic() - started:.1f} s)")
        t.ok(d.proc.poll() is None, "the daemon is alive")
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


run_scenario(t, test_many_idle)
