"""Policy clients for the load tests (t/test_load_*.py), and what their scenarios share.

Every request must get exactly one reply, in order: each client connection
(Conn) counts the requests it sent against the replies it read, and after the
last reply one more request, a sentinel for an address no other request uses,
must get the very next reply on the connection: a reply sent twice, or stray
bytes, would come before it. A Stream is a Conn in a thread that keeps asking
and records every request as (addr, label, sent at, answered at, reply);
finish_streams() stops them and checks the counts and the sentinel.

Two configurations: a local list (LISTED_NET refused with LOCAL_REASON) and a
DNS list ZONE served by rbldnsd (10.1.0.0/16 refused with DNS_REASON). Every
loop is bounded in count and in time.
"""

import itertools
import os
import re
import resource
import socket
import threading
import time

from .daemon import request
from .wait import poll_until

SANITIZED = bool(os.environ.get("POLICYD_SANITIZED"))
HELP = "https://www.example.org/blacklisted.html?ip="
CONTACT = "postmaster@example.org"
DUNNO = "action=DUNNO"
ZONE = "bl.test"
DNS_REASON = "Listed for a load test"
LOCAL_REASON = "Listed by the local policy of example.org"
LISTED_NET = "192.0.2"  # in the local list
CLEAN_NET = "203.0.113"
# Sentinels: listed, and asked by no stream (the local list names SENTINEL_LOCAL;
# 10.1.0.0/16 is listed in the DNS zone).
SENTINEL_LOCAL = "198.51.100.254"
SENTINEL_DNS = "10.1.255.200"
# Times in the failure details are relative to the start of the test script.
T0 = time.monotonic()


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


def raise_nofile(want):
    """Our own descriptor limit up to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def fd_count_settles(d, want, timeout):
    """Poll (every 0.1 s, bounded) until the daemon holds exactly `want`
    descriptors; the last count read."""
    counts = []
    poll_until(lambda: counts.append(d.fd_count()) or counts[-1] == want, timeout, interval=0.1)
    return counts[-1]


# --------------------------------------------------------------- the daemon's log --


def config_text(d, server="", extra=""):
    """daemon.py's configuration at log level info: the passing decisions (debug)
    of a load test would make a log of many megabytes."""
    return d.config_text(server, extra).replace("log_level = debug", "log_level = info")


def log_lines(d, pattern, since):
    """The lines of the daemon's log after offset `since` that match pattern."""
    rx = re.compile(pattern)
    return [line for line in d.log()[since:].splitlines() if rx.search(line)]


# ---------------------------------------------------------------- a local list --


def local_list_section(d, lines, reason=LOCAL_REASON):
    """A [list local] section: `lines`, and the sentinel address."""
    lines = list(lines) + [SENTINEL_LOCAL]
    path = os.path.join(d.dir, "local.cidr")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return f"[list local]\nfile = {path}\nweight = 10\nreason = {reason}\n"


def local_want(addr):
    return reject(addr, "local", LOCAL_REASON) if addr.startswith(LISTED_NET + ".") or addr == SENTINEL_LOCAL else DUNNO


# -------------------------------------------------------- a DNS list: rbldnsd --


def dns_daemon(d, r, server="", cache="", codes="", dns=""):
    """The configuration of a daemon that asks rbldnsd `r` about ZONE."""
    extra = (
        f"[dns]\nnameserver = 127.0.0.1:{r.port}\ntimeout = 1s\ntries = 1\n{dns}"
        f"[cache]\n{cache}\n[dnsbl {ZONE}]\n{codes}\n"
    )
    return config_text(d, server, extra)


def start_with_dns(d, text):
    """Start with configuration `text`; return once the list is enabled."""
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
    """Ask the cached addresses once; the ones answered wrongly."""
    bad = []
    for a in CACHED_LISTED + CACHED_CLEAN:
        got = d.ask(request(a))
        want = dns_want(a) if a in CACHED_LISTED else DUNNO
        if got != want:
            bad.append(f"{a}: {got!r}")
    return bad


# ------------------------------------------------------------------ clients --


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
                    # Pacing: a stream is load, not a benchmark.
                    time.sleep(self.pause)
        except Exception as e:  # noqa: BLE001 - reported by finish_streams
            self.failure = f"{type(e).__name__}: {e}"


STOPS = []


def new_stop():
    """A stop event for streams; stop_all() sets them all, so that a scenario that
    failed with an exception leaves no client thread running."""
    e = threading.Event()
    STOPS.append(e)
    return e


def stop_all():
    for e in STOPS:
        e.set()


def run_streams(streams):
    for s in streams:
        s.start()


def await_records(streams, n, timeout, what, match=lambda rec: True):
    """Wait until the streams have recorded n more requests that `match`; raises
    (naming `what`) when they do not, or once a stream failed. The way a scenario
    lets the load run: by requests answered, not by seconds."""
    seen = [len(s.records) for s in streams]
    found = [0]

    def count():
        for i, s in enumerate(streams):
            new = s.records[seen[i] : len(s.records)]
            seen[i] += len(new)
            found[0] += sum(1 for rec in new if match(rec))
        return found[0]

    def failed():
        return [f"{s.kind}: {s.failure}" for s in streams if s.failure]

    poll_until(lambda: count() >= n, timeout, interval=0.02, what=what, gone=lambda: bool(failed()),
               detail=lambda: f"{found[0]} of {n}; failures: {failed()}")


def drained(streams, timeout=10):
    """Wait until every request the streams had sent when called is answered
    (what was in flight then is over); raises when not."""
    sent = [s.conn.sent for s in streams]
    poll_until(lambda: all(len(s.records) >= n or s.failure for s, n in zip(streams, sent)), timeout,
               what="answer to every request in flight")


def finish_streams(t, streams, stop, what, sentinel):
    """Stop, join (bounded), and check: all answered exactly once, none closed, nothing
    extra (sentinel: (address, its reply) for Conn.sentinel). Returns every record."""
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
    their time relative to ref (default: the start of the test script)."""
    ref = T0 if ref is None else ref
    bad = []
    for addr, label, sent_at, done_at, reply in records:
        w = want(addr, label, sent_at)
        if w is not None and reply != w:
            bad.append(f"{label} {addr} sent at {ref_name}{sent_at - ref:+.2f}s: got {reply!r}, want {w!r}")
    return bad


def run_scenario(t, fn):
    """Run one scenario as its test script: its checks, its time, the plan."""
    started = time.monotonic()
    t.run(fn.__name__, fn)
    stop_all()
    print(f"# {fn.__name__}: {time.monotonic() - started:.1f} s")
    t.done()
