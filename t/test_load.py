#!/usr/bin/env python3
"""Integration: load and faults (spec sections 4 to 7 and 9).

1. 10,000 idle connections (unix and TCP) while 20 active ones keep asking.
2. Slow readers and slow writers, while a fast client is answered throughout.
3. The DNS server killed and restarted under load (rbldnsd, by its PID).
4. The rbldnsd zone changed under load.
5. 100 SIGHUPs under load, alternating two valid configurations.

Every request must get exactly one reply, in order: each client connection
counts the requests it sent against the replies it read, and after the last
reply one more request, a sentinel for an address no other request uses, must
get the very next reply on the connection: a reply sent twice, or stray bytes,
would come before it. Every loop is bounded in count and in time; every process
is ended by its PID.
"""

import errno
import itertools
import os
import random
import re
import resource
import selectors
import signal
import socket
import threading
import time

from lib.daemon import Policyd, Tap, request
from lib.dnslib import Rbldnsd

t = Tap()
SANITIZED = bool(os.environ.get("POLICYD_SANITIZED"))
HELP = "https://www.example.org/blacklisted.html?ip="
CONTACT = "postmaster@example.org"
ZONE = "bl.test"
DNS_REASON = "Listed for a load test"
LOCAL_REASON = "Listed by the local policy of example.org"
DUNNO = "action=DUNNO"
# Sentinels: listed, and asked by no stream (tests 1 and 2 list SENTINEL_LOCAL in
# their local list; 10.1.0.0/16 is listed in the DNS zone of tests 3 to 5).
SENTINEL_LOCAL = "198.51.100.254"
SENTINEL_DNS = "10.1.255.200"


def reject(addr, zone, reason):
    """The default reply; the site's own list (zone "local") is named "this site"."""
    by = "this site" if zone == "local" else zone
    return (
        f"action=REJECT 5.7.1 Your host [{addr}] is blacklisted by {by}: {reason}. "
        f"See {HELP}{addr} or send your questions to {CONTACT}"
    )


def pct(values, p):
    """The p-th percentile (nearest rank) of a non-empty list."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v))) - 1))]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


# ------------------------------------------------------------------ helpers --


def write_atomic(path, text):
    """The daemon may read the file at any moment (SIGHUP): never show it half written."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def config_text(d, server="", extra=""):
    """daemon.py's configuration at log level info: the passing decisions (debug)
    of a load test would make a log of many megabytes."""
    return d.config_text(server, extra).replace("log_level = debug", "log_level = info")


def local_list_section(d, lines, reason=LOCAL_REASON):
    """The [list local] section of tests 1 and 2: `lines`, and the sentinel address."""
    lines = list(lines) + [SENTINEL_LOCAL]
    path = os.path.join(d.dir, "local.cidr")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return f"[list local]\nfile = {path}\nweight = 10\nreason = {reason}\n"


class LogTail:
    """Reads only what the daemon logged after it was made (the logs of a load
    test are large: daemon.py's wait_log rereads the whole file each time)."""

    def __init__(self, d):
        self.d = d
        self.pos = os.path.getsize(d.log_path)
        self.text = ""
        self.scan = 0

    def _more(self):
        with open(self.d.log_path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        cut = data.rfind(b"\n") + 1  # whole lines only
        self.pos += cut
        self.text += data[:cut].decode("utf-8", "replace")

    def wait(self, pattern, timeout=5):
        """The next line matching pattern after the previous match; AssertionError if none in time."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.01) + 2):
            self._more()
            m = rx.search(self.text, self.scan)
            if m:
                self.scan = m.end()
                return m
            if self.d.proc.poll() is not None:
                raise AssertionError(f"policyd exited ({self.d.proc.returncode}) waiting for /{pattern}/")
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        raise AssertionError(f"no log line /{pattern}/ within {timeout}s:\n{self.text[-1500:]}")

    def count(self, pattern):
        self._more()
        return len(re.findall(pattern, self.text))

    def excerpt(self, pattern, n=5):
        self._more()
        return [l for l in self.text.splitlines() if re.search(pattern, l)][:n]


class Conn:
    """A client connection that counts requests sent and replies received."""

    def __init__(self, sock, name):
        self.s = sock
        self.name = name
        self.buf = b""
        self.sent = 0
        self.got = 0
        self.closed = False

    def send(self, data, n):
        self.s.sendall(data)
        self.sent += n

    def read(self, n, timeout=5):
        """Exactly n replies (their action lines), or ConnectionError/TimeoutError."""
        out = []
        deadline = time.monotonic() + timeout
        for _ in range(1000000):  # one recv a turn: the deadline ends it long before
            while len(out) < n:
                i = self.buf.find(b"\n\n")
                if i < 0:
                    break
                out.append(self.buf[:i].decode("ascii", "replace"))
                self.buf = self.buf[i + 2 :]
            if len(out) == n:
                self.got += n
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                self.got += len(out)
                raise TimeoutError(f"{self.name}: {len(out)} of {n} replies within {timeout}s")
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                self.got += len(out)
                raise ConnectionError(f"{self.name}: closed by the daemon after {self.got} replies ({self.sent} sent)")
            self.buf += chunk
        raise TimeoutError(f"{self.name}: {len(out)} of {n} replies in a million reads")

    def sentinel(self, addr, want, timeout=5):
        """After the last expected reply: one more request, for `addr` (asked by no one
        else on this connection), whose reply `want` must come next and alone. Returns
        "" when it does, else what came instead (a reply sent twice, or junk)."""
        try:
            self.send(request(addr), 1)
            got = self.read(1, timeout)[0]
        except (OSError, TimeoutError, ConnectionError) as e:
            return f"sentinel {addr}: {type(e).__name__}: {e}; buffer {self.buf[:200]!r}"
        if got != want or self.buf:
            return f"sentinel {addr}: next reply {got[:200]!r}, then {self.buf[:200]!r}"
        return ""

    def close(self):
        self.s.close()


class Stream(threading.Thread):
    """One connection that keeps asking: `pipeline` requests at a time, then their
    replies; every request recorded as (addr, label, sent at, answered at, reply).
    Bounded by stop, max_requests and seconds."""

    def __init__(self, d, kind, pick, stop, pipeline=1, pause=0.0, max_requests=200000, seconds=90, timeout=5):
        super().__init__(daemon=True)
        self.conn = Conn(d.connect(kind), f"{kind} stream")
        self.kind = kind
        self.pick = pick
        self.stop_event = stop
        self.pipeline = pipeline
        self.pause = pause
        self.max_requests = max_requests
        self.seconds = seconds
        self.timeout = timeout
        self.records = []
        self.failure = None

    def run(self):
        deadline = time.monotonic() + self.seconds
        try:
            while not self.stop_event.is_set() and self.conn.sent < self.max_requests and time.monotonic() < deadline:
                batch = [self.pick() for _ in range(self.pipeline)]
                sent_at = time.monotonic()
                self.conn.send(b"".join(request(a) for a, _ in batch), len(batch))
                for addr, label in batch:
                    reply = self.conn.read(1, self.timeout)[0]
                    self.records.append((addr, label, sent_at, time.monotonic(), reply))
                if self.pause:
                    time.sleep(self.pause)
        except Exception as e:  # noqa: BLE001 - reported by check_streams
            self.failure = f"{type(e).__name__}: {e}"


STOPS = []


def new_stop():
    """A stop event for streams; main() sets them all after each test, so that a
    test that failed with an exception leaves no client thread running."""
    e = threading.Event()
    STOPS.append(e)
    return e


def run_streams(streams):
    for s in streams:
        s.start()


def finish_streams(streams, stop, what, sentinel):
    """Stop, join (bounded), and check: all answered exactly once, none closed, nothing
    extra (sentinel: (address, its reply) for Conn.sentinel)."""
    stop.set()
    for s in streams:
        s.join(15)
    problems = []
    sent = got = 0
    for i, s in enumerate(streams):
        if s.is_alive():
            problems.append(f"stream {i} ({s.kind}) still running after 15 s")
            continue
        sent += s.conn.sent
        got += s.conn.got
        if s.failure:
            problems.append(f"stream {i} ({s.kind}): {s.failure}")
        if s.conn.got != s.conn.sent or len(s.records) != s.conn.sent:
            problems.append(f"stream {i} ({s.kind}): sent {s.conn.sent}, got {s.conn.got} replies")
        if s.conn.closed:
            problems.append(f"stream {i} ({s.kind}): closed by the daemon")
        elif not s.failure:
            extra = s.conn.sentinel(*sentinel)
            if extra:
                problems.append(f"stream {i} ({s.kind}): after the last reply, {extra}")
    t.ok(
        not problems and sent > 0,
        f"{what}: every request answered exactly once, no connection closed ({sent} sent, {got} replies on {len(streams)} connections)",
        "\n".join(problems),
    )
    return [r for s in streams for r in s.records]


def records_of(records, label=None, after=None, before=None):
    return [
        r for r in records
        if (label is None or r[1] == label) and (after is None or r[2] >= after) and (before is None or r[2] < before)
    ]


def mismatches(records, want, ref=None, ref_name="start"):
    """Records whose reply differs from want(addr, label, sent_at), described with
    their time relative to ref (default: the start of this script)."""
    ref = T0 if ref is None else ref
    bad = []
    for addr, label, sent_at, done_at, reply in records:
        w = want(addr, label, sent_at)
        if w is not None and reply != w:
            bad.append(f"{label} {addr} sent at {ref_name}{sent_at - ref:+.2f}s: got {reply!r}, want {w!r}")
    return bad


T0 = time.monotonic()


def wait_fds(d, want, timeout):
    """Poll the daemon's descriptor count until it is `want` (or the deadline); return the last count."""
    deadline = time.monotonic() + timeout
    n = d.fd_count()
    for _ in range(int(timeout / 0.1) + 1):
        if n == want or time.monotonic() > deadline:
            break
        time.sleep(0.1)
        n = d.fd_count()
    return n


def raise_nofile(want):
    """Our own descriptor limit up to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ------------------------------------------------- 1. many idle connections --

N_IDLE = 10000
LISTED_NET = "192.0.2"   # in the local list of tests 1 and 2
CLEAN_NET = "203.0.113"


def local_want(addr):
    return reject(addr, "local", LOCAL_REASON) if addr.startswith(LISTED_NET + ".") or addr == SENTINEL_LOCAL else DUNNO


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
        server = "max_connections = 20000\nidle_timeout = 5m\nallow = 127.0.0.1/32\n"
        d.write_config(text=config_text(d, server, local_list_section(d, [LISTED_NET + ".0/24"])))
        d.start()
        tail = LogTail(d)
        fds_empty = d.fd_count()
        t.eq(d.ask(request(listed[0])), local_want(listed[0]), "sanity: a listed address is refused with the local list's text")
        wait_fds(d, fds_empty, 5)

        stop = new_stop()
        streams = []
        for i in range(20):
            rng = random.Random(i)
            pick = (lambda rng=rng: (lambda a: (a, "local"))(rng.choice(listed if rng.random() < 0.5 else clean)))
            streams.append(Stream(d, "unix" if i % 2 else "tcp", pick, stop, pipeline=1 if i % 4 < 2 else 8, pause=0.005, seconds=120))
        run_streams(streams)
        time.sleep(1.0)  # the active ones warm up the allocator
        fds_active = d.fd_count()
        rss0 = d.rss_kib()

        started = time.monotonic()
        idle, errors = open_idle(d, n_idle, time.monotonic() + 60)
        opened_in = time.monotonic() - started
        t.ok(len(idle) == n_idle and not errors, f"{len(idle)} idle connections opened in {opened_in:.1f} s (unix and TCP, 500 at a time)", "\n".join(errors[:10]))
        fds_full = wait_fds(d, fds_active + len(idle), 30)
        t.eq(fds_full - fds_active, len(idle), "the daemon holds a descriptor for every idle connection")
        time.sleep(0.5)
        rss1 = d.rss_kib()
        per_conn = (rss1 - rss0) / max(1, len(idle))
        t.ok(tail.count(r"connection refused") == 0, "no connection refused (max_connections = 20000)", "\n".join(tail.excerpt(r"connection refused")))
        if SANITIZED:
            t.skip("resident memory per idle connection", f"under sanitizers ({per_conn:.2f} KiB measured)")
        else:
            t.ok(per_conn < 16, f"resident memory per idle connection: {per_conn:.2f} KiB ({rss0} KiB -> {rss1} KiB for {len(idle)})")

        # The active connections were answered all along, and still are.
        time.sleep(1.0)
        records = finish_streams(streams, stop, "20 active connections beside the idle ones", (SENTINEL_LOCAL, local_want(SENTINEL_LOCAL)))
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
        fds_end = wait_fds(d, fds_empty, 30)
        t.eq(fds_end, fds_empty, f"all closed: the daemon's descriptor count is back to its baseline ({fds_full} -> {fds_end} in {time.monotonic() - started:.1f} s)")
        t.ok(d.proc.poll() is None, "the daemon is alive")
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


# ---------------------------------------------------- 2. slow clients --------


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


# ------------------------------------------------- DNS: rbldnsd with restarts --


def dns_daemon(d, r, server="", cache="", codes=""):
    extra = (
        f"[dns]\nnameserver = 127.0.0.1:{r.port}\ntimeout = 1s\ntries = 1\n"
        f"[cache]\n{cache}\n[dnsbl {ZONE}]\n{codes}\n"
    )
    return config_text(d, server, extra)


def start_with_dns(d, text):
    d.write_config(text=text)
    d.start()
    d.wait_log(rf"\[dnsbl {re.escape(ZONE)}\]: health check passed; list enabled")


def zone_data(lines):
    return ("ip4set", f":127.0.0.2:{DNS_REASON}\n127.0.0.2\n" + "".join(l + "\n" for l in lines))


def dns_want(addr):
    return reject(addr, ZONE, DNS_REASON)


class Fresh:
    """Addresses never asked before: 10.1.x.y is listed, 10.2.x.y is not."""

    def __init__(self):
        self.n = itertools.count(1)

    def listed(self):
        i = next(self.n)
        return f"10.1.{i // 250 % 256}.{i % 250 + 1}"

    def clean(self):
        i = next(self.n)
        return f"10.2.{i // 250 % 256}.{i % 250 + 1}"


CACHED_LISTED = [f"10.1.255.{i}" for i in range(1, 6)]
CACHED_CLEAN = [f"10.2.255.{i}" for i in range(1, 6)]


def mixed_picker(fresh, rng, fixed=()):
    """fresh-listed, fresh-clean, cached-listed, cached-clean (and fixed (addr, label) pairs)."""

    def pick():
        x = rng.random()
        if fixed and x < 0.3:
            return rng.choice(fixed)
        x = rng.random()
        if x < 0.3:
            return fresh.listed(), "fresh-listed"
        if x < 0.6:
            return fresh.clean(), "fresh-clean"
        if x < 0.8:
            return rng.choice(CACHED_LISTED), "cached-listed"
        return rng.choice(CACHED_CLEAN), "cached-clean"

    return pick


def warm_cache(d):
    bad = []
    for a in CACHED_LISTED + CACHED_CLEAN:
        got = d.ask(request(a))
        want = dns_want(a) if a in CACHED_LISTED else DUNNO
        if got != want:
            bad.append(f"{a}: {got!r}")
    return bad


# --------------------------------------- 3. DNS server killed and restarted --


def test_dns_restart():
    zones = {ZONE: zone_data(["10.1.0.0/16"])}
    with Rbldnsd(zones) as r, Policyd(start=False) as d:
        start_with_dns(d, dns_daemon(d, r, "request_timeout = 1s\n", "min_ttl = 5m\n"))
        tail = LogTail(d)
        t.eq(warm_cache(d), [], "warm-up: the cached addresses get their verdicts")
        fresh = Fresh()
        stop = new_stop()
        streams = [
            Stream(d, kind, mixed_picker(fresh, random.Random(30 + i)), stop, pipeline=pipe, pause=0.01, seconds=90, timeout=5)
            for i, (kind, pipe) in enumerate((("tcp", 1), ("unix", 1), ("tcp", 3), ("unix", 1)))
        ]
        run_streams(streams)
        time.sleep(2.0)
        t_kill0 = time.monotonic()
        r.kill()
        t_kill1 = time.monotonic()
        time.sleep(4.0)
        t_restart0 = time.monotonic()
        r.restart()
        t_restart1 = time.monotonic()

        # Listed addresses are refused again once the circuit breaker lets a query through.
        t_back = None
        deadline = t_restart1 + 40
        for _ in range(400):  # every 0.1 s, for at most 40 s
            if t_back is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
            for s in streams:
                for rec in list(s.records[-200:]):
                    if rec[1] == "fresh-listed" and rec[2] > t_restart1 and rec[4].startswith("action=REJECT"):
                        t_back = rec[2] if t_back is None else min(t_back, rec[2])
            if any(s.failure for s in streams):
                break
        time.sleep(1.5)
        records = finish_streams(streams, stop, "DNS killed and restarted", (SENTINEL_DNS, dns_want(SENTINEL_DNS)))

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
            + "\n".join(tail.excerpt(r"skipping the list|breaker closed", 4) + bad[:6]),
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
             "\n".join(tail.excerpt(r"breaker|skipping|dnsbl", 10)))
        if t_back is not None:
            later = records_of(records, "fresh-listed", after=t_back + 0.1)
            bad = mismatches(later, lambda a, l, s: dns_want(a))
            t.ok(later and not bad, f"and from then on every fresh listed address is refused ({len(later)} requests)", "\n".join(bad[:10]))
        opened = tail.count(r"lookups in a row failed; skipping the list")
        t.ok(1 <= opened <= 2, f"the circuit breaker opened and said so once, not on every request ({opened} log lines, {len(down)} requests while down)",
             "\n".join(tail.excerpt(r"skipping the list", 10)))
        t.ok(d.proc.poll() is None, "the daemon is alive")
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


# ------------------------------------------------- 4. zone changed under load --


def test_zone_reload():
    added, removed = "10.3.0.5", "10.3.0.7"
    with Rbldnsd({ZONE: zone_data(["10.1.0.0/16", removed])}) as r, Policyd(start=False) as d:
        start_with_dns(d, dns_daemon(d, r, "", "negative_ttl = 1s\nmin_ttl = 1s\nmax_ttl = 2s\n"))
        t.eq(warm_cache(d), [], "warm-up: the fixed addresses get their verdicts")
        fresh = Fresh()
        stop = new_stop()
        fixed = ((added, "added"), (removed, "removed"))
        streams = [
            Stream(d, kind, mixed_picker(fresh, random.Random(40 + i), fixed), stop, pipeline=pipe, pause=0.005, seconds=60)
            for i, (kind, pipe) in enumerate((("tcp", 1), ("unix", 4), ("tcp", 1)))
        ]
        run_streams(streams)
        time.sleep(1.5)
        t_reload0 = time.monotonic()
        r.reload(ZONE, zone_data(["10.1.0.0/16", added]))
        t_reload1 = time.monotonic()
        print(f"# rbldnsd reloaded the zone in {t_reload1 - t_reload0:.2f} s")

        def seen(label, want, after):
            return any(rec[1] == label and rec[2] >= after and rec[4] == want for s in streams for rec in list(s.records[-300:]))

        deadline = t_reload1 + 15
        for _ in range(150):  # every 0.1 s, for at most 15 s
            if time.monotonic() > deadline or (seen("added", dns_want(added), t_reload1 + 3.0) and seen("removed", DUNNO, t_reload1 + 4.0)):
                break
            time.sleep(0.1)
        time.sleep(1.0)
        records = finish_streams(streams, stop, "zone reloaded under load", (SENTINEL_DNS, dns_want(SENTINEL_DNS)))

        before = records_of(records, before=t_reload0)
        bad = mismatches(records_of(before, "added"), lambda a, l, s: DUNNO) + mismatches(records_of(before, "removed"), lambda a, l, s: dns_want(a))
        t.ok(not bad, "before the reload: the address to be added passes, the one to be removed is refused", "\n".join(bad[:10]))
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


# --------------------------------------------------- 5. SIGHUP under load ------

N_HUP = 100


def test_sighup_storm():
    with Rbldnsd({ZONE: zone_data(["10.1.0.0/16"])}) as r, Policyd(start=False) as d:
        server = "idle_timeout = 5m\n"
        config_a = dns_daemon(d, r, server, "min_ttl = 5m\n")
        # Other codes (same verdicts for 127.0.0.2): the cache is emptied on every switch.
        config_b = dns_daemon(d, r, server, "min_ttl = 5m\n", "codes = 127.0.0.[2..3]\n")
        start_with_dns(d, config_a)
        tail = LogTail(d)
        t.eq(warm_cache(d), [], "warm-up: the cached addresses get their verdicts")
        fresh = Fresh()
        stop = new_stop()
        streams = [
            Stream(d, kind, mixed_picker(fresh, random.Random(50 + i)), stop, pipeline=pipe, pause=0.003, seconds=90)
            for i, (kind, pipe) in enumerate((("tcp", 1), ("unix", 1), ("tcp", 5), ("unix", 3)))
        ]
        run_streams(streams)

        def hup(text):
            write_atomic(d.config, text)
            d.signal(signal.SIGHUP)
            tail.wait(r"configuration reloaded from", timeout=10)

        for i in range(4):  # warm up: the allocator sees a few reloads before the baseline
            hup(config_b if i % 2 == 0 else config_a)
        time.sleep(0.5)
        fds0, rss0 = d.fd_count(), d.rss_kib()
        flushed0 = tail.count(r"the verdict cache is emptied")
        started = time.monotonic()
        done = 0
        try:
            for i in range(N_HUP):
                if time.monotonic() - started > 90 or any(s.failure for s in streams):
                    break
                hup(config_b if i % 2 == 0 else config_a)
                done += 1
                time.sleep(0.02)
        except AssertionError as e:
            t.ok(False, f"reload {done + 1} of {N_HUP} was not logged", str(e))
        took = time.monotonic() - started
        t.eq(done, N_HUP, f"{N_HUP} SIGHUPs, each one reloaded (logged) under load, in {took:.1f} s")
        flushed = tail.count(r"the verdict cache is emptied") - flushed0
        t.eq(flushed, N_HUP, "each switch of the codes emptied the cache")
        t.eq(tail.count(r"reload failed"), 0, "no reload failed")
        time.sleep(0.5)
        records = finish_streams(streams, stop, f"{N_HUP} SIGHUPs under load", (SENTINEL_DNS, dns_want(SENTINEL_DNS)))
        bad = mismatches(records, lambda a, l, s: dns_want(a) if "listed" in l else DUNNO)
        during = records_of(records, after=started, before=started + took)
        t.ok(not bad and len(during) > 200, f"every request got the right action ({len(records)} requests, {len(during)} during the reloads)", "\n".join(bad[:10]))
        t.ok(d.proc.poll() is None, "the daemon is alive")
        fds1 = wait_fds(d, fds0, 5)
        t.ok(abs(fds1 - fds0) <= 2, f"the descriptor count is back near its baseline ({fds0} -> {fds1})")
        rss1 = d.rss_kib()
        if SANITIZED:
            t.skip(f"resident memory is back near its baseline after {N_HUP} reloads", f"under sanitizers ({rss0} KiB -> {rss1} KiB)")
        else:
            t.ok(rss1 - rss0 < 2048, f"resident memory is back near its baseline after {N_HUP} reloads ({rss0} KiB -> {rss1} KiB)")
        for s in streams:
            s.conn.close()
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


def main():
    started = time.monotonic()
    for fn in (test_many_idle, test_slow_clients, test_dns_restart, test_zone_reload, test_sighup_storm):
        t0 = time.monotonic()
        t.run(fn.__name__, fn)
        for e in STOPS:
            e.set()
        print(f"# {fn.__name__}: {time.monotonic() - t0:.1f} s")
    print(f"# total: {time.monotonic() - started:.1f} s")
    t.done()


main()
