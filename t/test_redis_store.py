#!/usr/bin/python3
"""policyd/redis.c, the shared greylist store, through t/redis_probe.c against
redis-server processes of the test's own (t/lib/redisd.py); prints TAP.

The probe is $REDIS_PROBE, else build/t/redis-probe. It reads commands on stdin
and prints each answer as it comes ("answer ID NAME RETRY_S MS"); its log (the
outage's warning, the line that says the store answers again, and with
--verbose each attempt's "next attempt in N ms") goes to a file that the test
polls. Every wait is bounded in time and count; nothing sleeps to synchronise:
a retry after `delay` is asked for again until it passes.

Under valgrind (when installed) one scenario runs the probe through every path
that frees a connection: an error reply, a missed deadline, asks in flight at
redis_store_free.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

from lib.daemon import SANITIZER_RX
from lib.dnslib import _LineReader
from lib.redisd import REDIS_SERVER, RedisServer
from lib.tap import Tap, sanitizer_reports
from lib.wait import poll_until

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.environ.get("REDIS_PROBE", os.path.join(HERE, "..", "build", "t", "redis-probe"))
VALGRIND = shutil.which("valgrind")
SANITIZED = bool(os.environ.get("POLICYD_SANITIZED"))
PASS_TTL = 3000000
MAX_WAIT = 86400

WARNING = "unavailable ("
RECOVERED = "answers again"

t = Tap()


def triplet_key(net, sender, rcpt):
    return "policyd:greylist:t:" + hashlib.sha1(f"{net} {sender} {rcpt}".encode()).hexdigest()


def network_key(net):
    return "policyd:greylist:n:" + net


class Probe:
    """One redis-probe process: commands in, answer lines out, its log in a file."""

    def __init__(self, url, *opts, verbose=False, valgrind=False):
        self.dir = tempfile.mkdtemp(prefix="redis-probe-")
        self.log_path = os.path.join(self.dir, "probe.log")
        self.logf = open(self.log_path, "wb")
        args = [PROBE] + (["--verbose"] if verbose else []) + [str(o) for o in opts] + [url]
        if valgrind:
            args = [VALGRIND, "-q", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                    "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99"] + args
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.logf)
        self.out = _LineReader(self.proc.stdout)
        self.pending = []
        self.comments = []
        self.rc = None

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, match, timeout=5):
        """The first line (kept or still to come) that match() accepts, or None."""
        for i, line in enumerate(self.pending):
            if match(line):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            line = self.out.readline(left)
            if line is None:
                return None
            if line.startswith("#"):
                self.comments.append(line)
            elif match(line):
                return line
            else:
                self.pending.append(line)

    def command(self, line, prefixes, timeout=5):
        self.send(line)
        got = self.expect(lambda l: l.startswith(prefixes), timeout)
        if got is None:
            raise AssertionError(f"no reply to {line!r} from the probe:\n{self.log()[-2000:]}")
        return got

    def up(self):
        return self.command("up", ("up ",)) == "up 1"

    def wait_up(self, timeout=10):
        poll_until(self.up, timeout, interval=0.02, what="store up",
                   detail=lambda: self.log()[-2000:])

    def ask(self, net, sender="sender@example.org", rcpt="rcpt@example.net"):
        """The ask's ID, or None when the store refused it (down)."""
        got = self.command(f"ask {net} {sender} {rcpt}", ("asked ", "refused"))
        return int(got.split()[1]) if got.startswith("asked ") else None

    def answer(self, ask_id, timeout=5):
        """(name, retry_s, ms) of that ask's answer, or None when none came."""
        got = self.expect(lambda l: l.startswith(f"answer {ask_id} "), timeout)
        if got is None:
            return None
        _, _, name, retry, ms = got.split()
        return name, int(retry), int(ms)

    def ask_answer(self, net, sender="sender@example.org", rcpt="rcpt@example.net", timeout=5):
        """(name, retry_s) of one ask, or "refused", or None when no answer came."""
        ask_id = self.ask(net, sender, rcpt)
        if ask_id is None:
            return "refused"
        got = self.answer(ask_id, timeout)
        return got[:2] if got else None

    def stats(self):
        got = self.command("stats", ("stats ",))
        return {k: int(v) for k, v in (f.split("=") for f in got.split()[1:])}

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def count(self, text):
        return self.log().count(text)

    def waits(self):
        """The back-off of each failed attempt so far ("next attempt in N ms")."""
        return [int(m) for m in re.findall(r"next attempt in (\d+) ms", self.log())]

    def close(self, timeout=20):
        """End the probe (free, then end of input): its exit status; the lines it
        printed meanwhile stay in pending and comments."""
        if self.rc is None:
            try:
                self.send("free")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            while True:
                line = self.out.readline(timeout)
                if line is None:
                    break
                (self.comments if line.startswith("#") else self.pending).append(line)
            try:
                self.rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.rc = self.proc.wait(5)
            self.proc.stdout.close()
            self.logf.close()
            text = self.log()
            lines = text.splitlines()
            for i, line in enumerate(lines):
                if SANITIZER_RX.search(line):
                    sanitizer_reports.append("redis-probe: " + "\n".join(lines[i:i + 16]))
                    break
            shutil.rmtree(self.dir, ignore_errors=True)
            self._text = text
        return self.rc

    @property
    def clean(self):
        """Exit 0 and no broken promise ("# BAD") reported."""
        return self.rc == 0 and not any("BAD" in c for c in self.comments) and \
            "# done" in self.comments

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def report(p):
    return "rc=%s\n%s\n%s\n%s" % (p.rc, "\n".join(p.comments), "\n".join(p.pending),
                                  getattr(p, "_text", "")[-2000:])


# ------------------------------------------------------------------ parsing --

def parse_tests():
    cases = {
        "redis://127.0.0.1": "target tcp 127.0.0.1 6379 0",
        "redis://127.0.0.1:6380/2": "target tcp 127.0.0.1 6380 2",
        "redis://[::1]/3": "target tcp ::1 6379 3",
        "redis://[::1]:7000/": "target tcp ::1 7000 0",
        "redis://localhost:6390": None,  # resolved through /etc/hosts: 127.0.0.1 or ::1
        "redis+unix:/run/redis/redis.sock": "target unix /run/redis/redis.sock 0",
        "redis+unix:///run/redis.sock?db=5": "target unix /run/redis.sock 5",
        "http://127.0.0.1": "error a store is",
        "redis://user:secret@127.0.0.1": "error a redis:// URL carries no user or password",
        "redis://127.0.0.1:0": "error a redis:// port",
        "redis://127.0.0.1:65536": "error a redis:// port",
        "redis://127.0.0.1/x": "error a redis:// database",
        "redis://[::1": "error a redis:// IPv6 address",
        "redis://": "error a redis:// URL needs a host",
        "redis+unix:run/redis.sock": "error a redis+unix: socket path must be absolute",
        "redis+unix:/run/redis.sock?database=1": "error after a redis+unix: socket path",
        "redis+unix:/" + "x" * 120: "error the redis+unix: socket path is too long",
    }
    p = subprocess.run([PROBE, "--parse"] + list(cases), capture_output=True, text=True,
                       timeout=30)
    lines = p.stdout.splitlines()
    t.ok(p.returncode == 0 and len(lines) == len(cases), "parse: one line per URL", p.stdout + p.stderr)
    for (url, want), got in zip(cases.items(), lines):
        if want is None:
            ok = got in ("target tcp 127.0.0.1 6390 0", "target tcp ::1 6390 0")
            t.ok(ok, f"parse {url}: a host name is resolved to an address", got)
        else:
            t.ok(got.startswith(want), f"parse {url}: {want}", got)


# ---------------------------------------------------------------- the rules --

def sequence_tests():
    """new, early, then after delay retried, then known; the keys and their TTLs."""
    with RedisServer() as r, Probe(r.url, "--delay", 300) as p:
        p.wait_up()
        net = "192.0.2.0/24"
        key = triplet_key(net, "a@example.org", "b@example.net")
        t.eq(p.ask_answer(net, "a@example.org", "b@example.net"), ("new", 300),
             "first ask: new, retry after delay (300 s)")
        got = p.ask_answer(net, "a@example.org", "b@example.net")
        t.ok(got and got[0] == "early" and 299 <= got[1] <= 301,
             "second ask at once: early, retry_s what is left of the delay",
             got)
        first = r.call("GET", key)
        t.ok(first is not None and abs(int(first) - int(r.call("TIME")[0])) <= 2,
             "the triplet's value is its first-seen time by the store's clock", first)
        ttl = r.call("TTL", key)
        t.ok(MAX_WAIT - 5 <= ttl <= MAX_WAIT, "a new triplet lives max_wait", ttl)
        t.eq(r.call("PEXPIRETIME", key), (int(first) + MAX_WAIT) * 1000,
             "... to a whole second, first seen + max_wait (the memory store forgets it in "
             "that second too, not up to a second later)")
        t.eq(r.call("EXISTS", network_key(net)), 0, "auto_allow 0: the network is not counted")
        now = int(r.call("TIME")[0])
        r.call("SET", key, now - 100)
        got = p.ask_answer(net, "a@example.org", "b@example.net")
        t.ok(got and got[0] == "early" and 199 <= got[1] <= 201,
             "first seen 100 s ago: early, retry_s 200", got)
        r.call("SET", key, now + 1000)
        t.eq(p.ask_answer(net, "a@example.org", "b@example.net"), ("new", 300),
             "first seen in the future (the store's clock stepped back): new again, as in the memory store")
        keys = sorted(k.decode() for k in r.call("KEYS", "*"))
        t.ok(all("example" not in k for k in keys), "no key holds an address", keys)

        p.command(f"rules 1 {MAX_WAIT} {PASS_TTL} 0", ("ok",))
        sender, rcpt = "c@example.org", "d@example.net"
        key = triplet_key(net, sender, rcpt)
        t.eq(p.ask_answer(net, sender, rcpt), ("new", 1), "rules set: delay 1 s: new, retry 1")
        seen = []

        def retried():
            seen.append(p.ask_answer(net, sender, rcpt))
            return seen[-1][0] != "early"

        poll_until(retried, 5, interval=0.1)
        t.eq(seen[-1], ("retried", 0), "asked again until it passed: retried once delay passed",
             seen)
        t.ok(all(s == ("early", 1) for s in seen[:-1]),
             "before that: early, retry 1 s", seen)
        t.eq(r.call("GET", key), b"P", "a triplet that passed is stored as P")
        t.ok(PASS_TTL - 5 <= r.call("TTL", key) <= PASS_TTL, "... for pass_ttl")
        t.eq(r.call("PEXPIRETIME", key) % 1000, 0, "... to a whole second")
        r.call("EXPIRE", key, 100)
        t.eq(p.ask_answer(net, sender, rcpt), ("known", 0), "next ask: known")
        t.ok(PASS_TTL - 5 <= r.call("TTL", key) <= PASS_TTL, "a known triplet lives pass_ttl more")
        r.call("SET", key, "not a time")
        t.eq(p.ask_answer(net, sender, rcpt), ("new", 1), "a value that is no time: new")
    t.ok(p.clean, "probe clean (one answer per ask, every handle closed)", report(p))


def auto_allow_tests():
    """auto_allow 2: proven retries counted once an hour per network, then allowed."""
    with RedisServer() as r, Probe(r.url, "--delay", 1, "--auto-allow", 2) as p:
        p.wait_up()
        net = "198.51.100.0/24"
        nkey = network_key(net)

        def prove(sender):
            """New, then (its first sighting moved 10 s back) retried."""
            first = p.ask_answer(net, sender)
            r.call("SET", triplet_key(net, sender, "rcpt@example.net"), int(r.call("TIME")[0]) - 10)
            return [first, p.ask_answer(net, sender)]

        t.eq(prove("s1@example.org"), [("new", 1), ("retried", 0)],
             "new, then retried once the delay has passed")
        c, l = r.call("HMGET", nkey, "c", "l")
        now = int(r.call("TIME")[0])
        t.ok(c == b"1" and abs(int(l) - now) <= 2, "the network counted once, at the store's now",
             (c, l))
        t.ok(PASS_TTL - 5 <= r.call("TTL", nkey) <= PASS_TTL, "the network lives pass_ttl")
        t.eq(r.call("PEXPIRETIME", nkey) % 1000, 0, "... to a whole second")
        r.call("EXPIRE", nkey, 100)
        t.eq(prove("s2@example.org"), [("new", 1), ("retried", 0)], "another triplet retried")
        t.eq(r.call("HGET", nkey, "c"), b"1", "within the hour: not counted again")
        t.ok(PASS_TTL - 5 <= r.call("TTL", nkey) <= PASS_TTL,
             "... but the network lives pass_ttl more, as in the memory store", r.call("TTL", nkey))
        r.call("HSET", nkey, "l", now - 3600)  # the previous clock hour
        t.eq(prove("s3@example.org"), [("new", 1), ("retried", 0)], "a third triplet retried")
        c, l = r.call("HMGET", nkey, "c", "l")
        t.ok(c == b"2" and int(l) >= now, "an hour after the last count: counted (2)", (c, l))
        t.eq(p.ask_answer(net, "s4@example.org"), ("allowed", 0),
             "count 2 = auto_allow: a new triplet of the network is allowed at once")
        t.eq(r.call("EXISTS", triplet_key(net, "s4@example.org", "rcpt@example.net")), 0,
             "an allowed request stores no triplet")
        t.eq(r.call("HGET", nkey, "c"), b"2", "allowed within the hour: not counted")
        r.call("HSET", nkey, "l", 0)
        r.call("EXPIRE", nkey, 100)
        t.eq(p.ask_answer(net, "s5@example.org"), ("allowed", 0), "allowed again")
        t.eq(r.call("HGET", nkey, "c"), b"2", "an allowed network's passes do not count: they keep it")
        t.ok(PASS_TTL - 5 <= r.call("TTL", nkey) <= PASS_TTL, "an allowed network lives pass_ttl more")
        t.eq(p.ask_answer("203.0.113.0/24", "s1@example.org"), ("new", 1),
             "another network is not allowed")
        r.call("SET", nkey, "a string")
        t.eq(p.ask_answer(net, "s6@example.org"), ("unavailable", 0),
             "a network key of the wrong type: an error reply, unavailable")
    t.ok(p.clean, "probe clean", report(p))


def shared_tests():
    """Two probes on one redis see each other's triplets."""
    with RedisServer() as r, Probe(r.url) as a, Probe(r.url) as b:
        a.wait_up()
        b.wait_up()
        net = "192.0.2.0/24"
        t.eq(a.ask_answer(net, "x@example.org"), ("new", 300), "probe A: new")
        got = b.ask_answer(net, "x@example.org")
        t.ok(got and got[0] == "early", "probe B, same triplet: early (A's entry)", got)
        t.eq(b.ask_answer(net, "y@example.org"), ("new", 300), "probe B: another triplet new")
        got = a.ask_answer(net, "y@example.org")
        t.ok(got and got[0] == "early", "probe A sees B's entry: early", got)
    t.ok(a.clean and b.clean, "both probes clean", report(a) + report(b))


def order_tests():
    """Pipelined asks: each answer is its own ask's (Redis answers in order)."""
    with RedisServer() as r, Probe(r.url) as p:
        p.wait_up()
        net = "192.0.2.0/24"
        for i in range(0, 200, 2):
            r.call("SET", triplet_key(net, f"s{i}@example.org", "rcpt@example.net"), "P")
        ids = [p.ask(net, f"s{i}@example.org") for i in range(200)]
        answers = [p.answer(i) for i in ids]
        want = [("known", 0) if i % 2 == 0 else ("new", 300) for i in range(200)]
        t.eq([a[:2] if a else None for a in answers], want,
             "200 asks in flight at once, alternately known and new: each its own answer")
        t.eq(p.stats()["answers"], 200, "200 answers timed (stats_store_latency)")
    t.ok(p.clean, "probe clean", report(p))


def unix_tests():
    """redis+unix: with ?db=N: SELECT before the script."""
    with RedisServer(unix=True) as r, Probe(r.url + "?db=3") as p:
        p.wait_up()
        net = "192.0.2.0/24"
        key = triplet_key(net, "u@example.org", "rcpt@example.net")
        t.eq(p.ask_answer(net, "u@example.org"), ("new", 300), "unix socket: new")
        t.eq((r.call("EXISTS", key, db=3), r.call("EXISTS", key)), (1, 0),
             "the triplet is in database 3, not 0")
    t.ok(p.clean, "probe clean", report(p))


# ---------------------------------------------------------------- failures --

def stopped_tests():
    """A silent server (SIGSTOP): asks answer unavailable at the deadline, one
    warning; SIGCONT: one line that it answers again, and its data is there."""
    timeout = 300
    with RedisServer() as r, Probe(r.url, "--timeout", timeout, verbose=True) as p:
        p.wait_up()
        net = "192.0.2.0/24"
        t.eq(p.ask_answer(net, "before@example.org"), ("new", 300), "before the stop: new")
        r.pause()
        ids = [p.ask(net, f"s{i}@example.org") for i in range(5)]
        answers = [p.answer(i, timeout=5) for i in ids]
        t.ok(all(a and a[0] == "unavailable" for a in answers),
             "5 asks in flight to a stopped server: each answered unavailable", answers)
        ms = [a[2] for a in answers if a]
        t.ok(len(ms) == 5 and ms[0] >= timeout * 0.9 and all(m <= timeout + 300 for m in ms),
             f"... all at the oldest one's deadline: timeout_ms ({timeout}) + 300 ms at most, "
             "the oldest not before", ms)
        st = p.stats()
        t.ok(st["errors"] == 5 and st["outages"] == 1 and st["up"] == 0,
             "stats: 5 store errors, 1 outage, down", st)
        t.eq(p.ask(net), None, "down: the next ask is refused at once")
        # Attempts go on against the stopped server: each connects (the kernel
        # accepts) and misses the handshake's deadline.
        poll_until(lambda: len(p.waits()) >= 3, 15, interval=0.05, what="three failed attempts",
                   detail=p.log)
        t.eq(p.count(WARNING), 1, "one warning for the whole outage", p.log())
        t.ok(f"no answer within {timeout} ms" in p.log(), "the warning says why", p.log())
        r.resume()
        p.wait_up(timeout=15)
        t.eq(p.count(RECOVERED), 1, "SIGCONT: one line that the store answers again", p.log())
        got = p.ask_answer(net, "before@example.org")
        t.ok(got and got[0] == "early", "after it: the store's data is still there", got)
        t.eq(p.stats()["outages"], 1, "still one outage")
    t.ok(p.clean, "probe clean", report(p))


def shorter_deadline_tests():
    """A reload that shortens the deadline: the asks in flight end by the new one."""
    with RedisServer() as r, Probe(r.url, "--timeout", 5000) as p:
        p.wait_up()
        r.pause()
        ask_id = p.ask("192.0.2.0/24")
        t.eq(p.command("timeout 200", ("ok",)), "ok", "timeout 5000 ms, then 200 ms")
        got = p.answer(ask_id, timeout=3)
        t.ok(got and got[0] == "unavailable" and got[2] < 1000,
             "the ask in flight ends by the new deadline, not 5 s after it was sent", got)
        r.resume()
    t.ok(p.clean, "probe clean", report(p))


def restart_tests():
    """redis-server killed and started again on its port: attempts with back-off
    (100 ms doubling), each refused at once; then it answers again."""
    with RedisServer() as r, Probe(r.url, "--timeout", 300, verbose=True) as p:
        p.wait_up()
        net = "192.0.2.0/24"
        t.eq(p.ask_answer(net), ("new", 300), "before the kill: new")
        r.kill()
        times = []

        def attempts():
            n = len(p.waits())
            while len(times) < n:
                times.append(time.monotonic())
            return n >= 6

        poll_until(attempts, 15, interval=0.005, what="six failed attempts", detail=p.log)
        waits = p.waits()
        t.eq(waits[:6], [100, 200, 400, 800, 1600, 3200], "the back-off doubles from 100 ms", waits)
        gaps = [b - a for a, b in zip(times, times[1:6])]
        t.ok(all(w / 1000 * 0.9 - 0.02 <= g <= w / 1000 + 0.4 for w, g in zip(waits, gaps)),
             "each attempt comes after its back-off, and a refused connection fails at once",
             list(zip(waits, ["%.3f" % g for g in gaps])))
        t.eq(p.ask(net), None, "down: asks refused")
        t.eq(p.count(WARNING), 1, "one warning", p.log())
        t.ok("Connection refused" in p.log(), "the warning says why", p.log())
        r.restart()
        p.wait_up(timeout=10)
        t.eq(p.count(RECOVERED), 1, "one line that it answers again", p.log())
        t.eq(p.ask_answer(net), ("new", 300), "it answers (a restarted redis starts empty)")
    t.ok(p.clean, "probe clean", report(p))


def idle_close_tests():
    """The server closes an idle connection (its `timeout`, CLIENT KILL): the
    store connects again without an outage."""
    with RedisServer() as r, Probe(r.url, verbose=True) as p:
        p.wait_up()
        t.ok(r.call("CLIENT", "KILL", "TYPE", "normal") >= 1, "CLIENT KILL closed the probe's connection")
        poll_until(lambda: "connected again" in p.log(), 5, interval=0.02,
                   what="the store connected again", detail=p.log)
        p.wait_up()
        t.eq(p.count(WARNING), 0, "no outage for an idle connection closed", p.log())
        t.eq(p.stats()["outages"], 0, "stats: no outage")
        t.eq(p.ask_answer("192.0.2.0/24"), ("new", 300), "it answers")
    t.ok(p.clean, "probe clean", report(p))


def noscript_tests():
    """SCRIPT FLUSH under a connected store: EVALSHA answers NOSCRIPT, a failure;
    the next connection loads the script again."""
    with RedisServer() as r, Probe(r.url, "--timeout", 2000) as p:
        p.wait_up()
        r.call("SCRIPT", "FLUSH")
        got = p.ask_answer("192.0.2.0/24")
        t.eq(got, ("unavailable", 0), "NOSCRIPT: unavailable")
        t.ok("NOSCRIPT" in p.log() and p.count(WARNING) == 1, "one warning that says NOSCRIPT",
             p.log())
        p.wait_up()
        t.eq(p.ask_answer("192.0.2.0/24"), ("new", 300), "connected again, script loaded: new")
        t.eq(p.count(RECOVERED), 1, "one line that it answers again", p.log())
        st = p.stats()
        t.ok(st["errors"] == 1 and st["outages"] == 1, "stats: 1 error, 1 outage", st)
    t.ok(p.clean, "probe clean", report(p))


def password_tests():
    """requirepass: the right password works; a wrong one or none never comes up,
    and the warning says why."""
    with RedisServer(password="s3cret pass") as r:
        with Probe(r.url, "--password", "s3cret pass") as p:
            p.wait_up()
            t.eq(p.ask_answer("192.0.2.0/24"), ("new", 300), "AUTH with the right password: new")
        t.ok(p.clean, "probe clean", report(p))
        for what, opts, reason in (("a wrong password", ["--password", "wrong"], "AUTH: WRONGPASS"),
                                   ("no password", [], "NOAUTH")):
            with Probe(r.url, *opts, verbose=True) as p:
                poll_until(lambda: len(p.waits()) >= 2, 10, interval=0.02,
                           what="two failed attempts", detail=p.log)
                t.ok(not p.up(), f"{what}: the store is not up")
                t.eq(p.ask("192.0.2.0/24"), None, f"{what}: asks refused")
                t.ok(p.count(WARNING) == 1 and reason in p.log(),
                     f"{what}: one warning that says {reason}", p.log())
                t.ok("s3cret" not in p.log() and "wrong" not in p.log(),
                     f"{what}: no password in the log", p.log())
            t.ok(p.clean, f"{what}: probe clean", report(p))


def target_tests():
    """redis_store_set with another target: the asks in flight answered
    unavailable at once (no store errors), the new store asked from then on."""
    with RedisServer() as a, RedisServer(unix=True) as b, Probe(a.url) as p:
        p.wait_up()
        a.pause()
        ids = [p.ask("192.0.2.0/24", f"s{i}@example.org") for i in range(3)]
        t.eq(p.command(f"target {b.url}", ("ok", "error")), "ok", "target: another store")
        answers = [p.answer(i, timeout=1) for i in ids]
        t.ok(all(x and x[0] == "unavailable" and x[2] < 300 for x in answers),
             "the asks in flight: unavailable at once", answers)
        a.resume()
        p.wait_up()
        t.eq(p.ask_answer("192.0.2.0/24", "z@example.org"), ("new", 300), "the new store answers")
        key = triplet_key("192.0.2.0/24", "z@example.org", "rcpt@example.net")
        t.eq((b.call("EXISTS", key), a.call("EXISTS", key)), (1, 0), "... and holds the triplet")
        st = p.stats()
        t.ok(st["errors"] == 0 and st["outages"] == 0, "no store error, no outage", st)
        t.ok("greylist store now redis+unix:" in p.log(), "the change is logged", p.log())
    t.ok(p.clean, "probe clean", report(p))


def free_tests():
    """redis_store_free with asks in flight, and before the store ever came up."""
    with RedisServer() as r:
        p = Probe(r.url)
        p.wait_up()
        r.pause()
        ids = [p.ask("192.0.2.0/24", f"s{i}@example.org") for i in range(3)]
        p.close()
        answers = [p.expect(lambda l, i=i: l.startswith(f"answer {i} "), 0) for i in ids]
        t.ok(all(a and a.split()[2] == "unavailable" for a in answers),
             "free: each ask in flight answered unavailable", answers)
        t.ok(p.clean, "free with asks in flight: every handle closed (uv_loop_close)", report(p))
        r.resume()
    p = Probe("redis://127.0.0.1:1")
    t.ok(p.close() == 0 and p.clean, "free while backing off: every handle closed", report(p))


def valgrind_tests():
    """One probe under memcheck through each way a connection ends."""
    if not VALGRIND or SANITIZED:
        t.skip("valgrind: the store's paths under memcheck",
               "valgrind not installed" if not VALGRIND else "sanitizer build")
        return
    with RedisServer() as r:
        p = Probe(r.url, "--timeout", 1000, valgrind=True)
        p.wait_up(timeout=30)
        steps = [p.ask_answer("192.0.2.0/24", timeout=10)]
        r.call("SCRIPT", "FLUSH")
        steps.append(p.ask_answer("192.0.2.0/24", "b@example.org", timeout=10))
        p.wait_up(timeout=30)
        r.pause()
        steps.append(p.ask_answer("192.0.2.0/24", "c@example.org", timeout=10))
        r.resume()
        p.wait_up(timeout=30)
        r.call("CLIENT", "KILL", "TYPE", "normal")
        p.wait_up(timeout=30)
        r.pause()
        ids = [p.ask("192.0.2.0/24", f"s{i}@example.org") for i in range(3)]
        rc = p.close(timeout=60)
        r.resume()
        t.ok(steps[0] == ("new", 300) and [s[0] for s in steps[1:]] == ["unavailable"] * 2
             and None not in ids, "valgrind: an answer, an error reply, a deadline, a close, "
             "asks in flight at free", steps)
        t.ok(rc == 0 and p.clean and "==" not in p._text,
             "valgrind: no invalid access, no leak, every handle closed", report(p))


def main():
    if not os.access(PROBE, os.X_OK):
        t.ok(False, "redis-probe is built", PROBE)
        t.done()
    if not os.access(REDIS_SERVER, os.X_OK):
        t.skip("the Redis store against redis-server", "redis-server not installed")
        t.done()
    for name, fn in (("parse", parse_tests), ("sequence", sequence_tests),
                     ("auto_allow", auto_allow_tests), ("shared", shared_tests),
                     ("order", order_tests), ("unix", unix_tests), ("stopped", stopped_tests),
                     ("shorter deadline", shorter_deadline_tests), ("restart", restart_tests), ("idle close", idle_close_tests),
                     ("noscript", noscript_tests), ("password", password_tests),
                     ("target", target_tests), ("free", free_tests),
                     ("valgrind", valgrind_tests)):
        t.run(name, fn)
    t.done()


if __name__ == "__main__":
    main()
