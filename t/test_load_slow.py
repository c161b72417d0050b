#!/usr/bin/env python3
"""Integration, load: slow readers and slow writers beside a fast client, with a
local list.

Two slow readers (unix and TCP) pipeline 5000 requests each and read the replies
a few bytes at a time, with pauses, so that replies back up into the daemon; two
slow writers send 20 requests each in pieces of 1 to 48 bytes, with a pause of
1.5 s. Each gets all its replies, in order, and nothing more (a sentinel request
after the last); a fast client on another connection is answered right and with
low latency throughout. The pauses of the slow clients are the scenario, not
waits for an event. Every loop is bounded in count and in time.
"""

import random
import threading
import time

from lib.daemon import Policyd, Tap, request
from lib.load import (CLEAN_NET, LISTED_NET, SENTINEL_LOCAL, Conn, config_text, local_list_section, local_want, ms,
                      pct, run_scenario)

t = Tap()


def addr_seq(n, salt=0):
    """Addresses whose replies differ (a REJECT names the address), so that order shows."""
    return [f"{LISTED_NET}.{(i + salt) % 256}" if i % 3 else f"{CLEAN_NET}.{(i + salt) % 256}" for i in range(n)]


def slow_reader(d, kind, n, results, rng):
    """Pipeline n requests (a sender thread) and read the replies a few bytes at a time."""
    conn = Conn(d.connect(kind, timeout=30), f"slow reader {kind}")
    addrs = addr_seq(n, salt=rng.randrange(256))
    res = results.setdefault(kind, {"replies": [], "error": None, "addrs": addrs, "conn": conn})

    def send():
        try:
            for i in range(0, n, 250):
                conn.send(b"".join(request(a) for a in addrs[i : i + 250]), len(addrs[i : i + 250]))
            res["sent_at"] = time.monotonic()
        except Exception as e:  # noqa: BLE001
            res["error"] = f"send: {type(e).__name__}: {e}"

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    time.sleep(1.0)  # read nothing at first: the replies back up into the daemon
    buf = b""
    total = reads = 0
    deadline = time.monotonic() + 60
    try:
        while len(res["replies"]) < n and time.monotonic() < deadline and reads < 200000:
            size = rng.randint(1, 7) if total < 4096 else rng.randint(1, 2048)
            chunk = conn.s.recv(size)
            if not chunk:
                conn.closed = True
                res["error"] = f"closed by the daemon after {len(res['replies'])} replies"
                break
            total += len(chunk)
            reads += 1
            buf += chunk
            while True:
                i = buf.find(b"\n\n")
                if i < 0:
                    break
                res["replies"].append(buf[:i].decode("ascii", "replace"))
                buf = buf[i + 2 :]
            if total < 4096:
                time.sleep(0.002)
            elif reads % 25 == 0:
                time.sleep(0.02)
            if reads in (300, 900):
                time.sleep(0.5)
    except Exception as e:  # noqa: BLE001
        res["error"] = f"read: {type(e).__name__}: {e}"
    sender.join(10)
    conn.buf = buf
    conn.got = len(res["replies"])
    res["extra"] = "" if res["error"] else conn.sentinel(SENTINEL_LOCAL, local_want(SENTINEL_LOCAL))
    res["reads"] = reads


def slow_writer(d, kind, n, results, rng):
    """Send n requests in small pieces with pauses (one of 1.5 s, idle_timeout is 20 s)."""
    conn = Conn(d.connect(kind, timeout=30), f"slow writer {kind}")
    addrs = addr_seq(n, salt=rng.randrange(256))
    res = results.setdefault(kind, {"replies": [], "error": None, "addrs": addrs, "conn": conn})
    data = b"".join(request(a) for a in addrs)
    pieces = []
    i = 0
    while i < len(data):
        k = rng.randint(1, 48)
        pieces.append(data[i : i + k])
        i += k
    try:
        for j, p in enumerate(pieces):
            conn.s.sendall(p)
            time.sleep(1.5 if j == len(pieces) // 2 else rng.uniform(0, 0.01))
        conn.sent = n
        res["replies"] = conn.read(n, 10)
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
    res["extra"] = "" if res["error"] else conn.sentinel(SENTINEL_LOCAL, local_want(SENTINEL_LOCAL))
    res["pieces"] = len(pieces)


def test_slow_clients():
    with Policyd(start=False) as d:
        server = "idle_timeout = 20s\n"
        d.write_config(text=config_text(d, server, local_list_section(d, [LISTED_NET + ".0/24"])))
        d.start()
        readers, writers = {}, {}
        threads = [
            threading.Thread(target=slow_reader, args=(d, k, 5000, readers, random.Random(10 + i)), daemon=True)
            for i, k in enumerate(("tcp", "unix"))
        ] + [
            threading.Thread(target=slow_writer, args=(d, k, 20, writers, random.Random(20 + i)), daemon=True)
            for i, k in enumerate(("tcp", "unix"))
        ]
        fast = Conn(d.connect("tcp"), "fast client")
        for th in threads:
            th.start()
        lat = []
        fast_bad = []
        deadline = time.monotonic() + 90
        i = 0
        while any(th.is_alive() for th in threads) and time.monotonic() < deadline and i < 20000:
            addr = f"{LISTED_NET}.{i % 256}" if i % 2 else f"{CLEAN_NET}.{i % 256}"
            t0 = time.monotonic()
            fast.send(request(addr), 1)
            reply = fast.read(1, 5)[0]
            lat.append(time.monotonic() - t0)
            if reply != local_want(addr):
                fast_bad.append(f"{addr}: {reply!r}")
            i += 1
            time.sleep(0.01)
        for th in threads:
            th.join(5)
        t.ok(not any(th.is_alive() for th in threads), "the slow clients finished within 90 s")

        for kind, res in readers.items():
            want = [local_want(a) for a in res["addrs"]]
            got = res["replies"]
            first_bad = next((j for j, (g, w) in enumerate(zip(got, want)) if g != w), None)
            t.ok(
                res["error"] is None and got == want and not res["extra"],
                f"slow reader ({kind}): 5000 pipelined requests answered completely and in order ({len(got)} replies, {res.get('reads')} reads)",
                f"error: {res['error']}\nsent {res['conn'].sent}, got {len(got)}\n"
                + (f"first difference at {first_bad}: {got[first_bad]!r} want {want[first_bad]!r}\n" if first_bad is not None else "")
                + f"after the last reply: {res['extra']}",
            )
        for kind, res in writers.items():
            want = [local_want(a) for a in res["addrs"]]
            t.ok(
                res["error"] is None and res["replies"] == want and not res["extra"],
                f"slow writer ({kind}): 20 requests sent in {res.get('pieces')} pieces answered completely and in order",
                f"error: {res['error']}\ngot {res['replies']!r}\nafter the last reply: {res['extra']}",
            )
        t.ok(not fast_bad, f"the fast client got the right answers ({len(lat)} requests)", "\n".join(fast_bad[:10]))
        t.eq(fast.sentinel(SENTINEL_LOCAL, local_want(SENTINEL_LOCAL)), "",
             "the fast client got nothing more than its replies (the next request's reply came next)")
        p50, p99, worst = pct(lat, 50), pct(lat, 99), max(lat)
        print(f"# fast client latency beside the slow clients: {len(lat)} requests, p50 {ms(p50)}, p99 {ms(p99)}, max {ms(worst)}")
        t.ok(len(lat) > 50 and p99 < 0.1 and worst < 0.25, f"the fast client is answered with low latency throughout (p99 {ms(p99)} < 100 ms, max {ms(worst)} < 250 ms)")
        fast.close()
        t.ok(d.proc.poll() is None, "the daemon is alive")
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


run_scenario(t, test_slow_clients)
