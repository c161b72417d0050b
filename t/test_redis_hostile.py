#!/usr/bin/env python3
"""Integration: a broken or hostile Redis never stops policyd, nor mail.

A fake Redis of the test's own (a thread on a free loopback port, RESP2 by hand)
answers policyd's handshake (AUTH, SELECT, SCRIPT LOAD with the script's SHA-1)
as a real one does, and each EVALSHA in the way the test chooses: as a store
that greylists (every triplet new: {0, 2}), or wrongly. policyd is the real
daemon, `[greylist] store = redis://127.0.0.1:PORT/0`, its soft tier a local
address list (192.0.2.0/24; soft_threshold 1), delay 2 s.

Each wrong way in turn: one reply more than was asked for (hiredis's own reply
handling asserts on it, and Debian's hiredis aborts the process: the review's
finding), a reply after the handshake when nothing was asked, a reply of the
wrong type, bytes that are no RESP (hiredis's reader fails), an error reply, a
retry time out of range (2^40), an array of 2^31-1 elements (hiredis's reader
would allocate 16 GiB of pointers, and walk them to free them), a bulk string
that never ends (200 KB of it), and a retry time in range but absurd (2^32-1 seconds,
"retry in 49710 days": cut to the delay). For each: policyd runs on, the
request is answered within request_timeout, DUNNO (the soft tier passes), one
warning for the outage; then the fake behaves again and greylisting resumes by
itself (reconnection with back-off). The absurd retry is no outage: the
deferral says the delay. HOSTILE_CASE=TEXT in the environment runs only the
cases whose name holds TEXT ("absurd" for the last), one at a time against a
build. Every wait is bounded; the fake's threads are daemon
threads and its socket closed at the end; policyd is stopped by its PID.
"""

import hashlib
import os
import re
import socket
import tempfile
import threading
import time

from lib.daemon import Policyd, Tap, request
from lib.wait import poll_until

t = Tap()

REQUEST_TIMEOUT = 1.0
DELAY = 2
WARNING = "unavailable ("
GOOD = b"*2\r\n:0\r\n:%d\r\n" % DELAY


class FakeRedis:
    """A Redis that answers the handshake right, and EVALSHA with self.answer
    (bytes, sent as they are); self.after_load is sent after SCRIPT LOAD's
    reply. Counts the EVALSHA it was sent."""

    def __init__(self):
        self.answer = GOOD
        self.after_load = b""
        self.evalsha = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.stopping = threading.Event()
        self.clients = []
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, answer=GOOD, after_load=b""):
        with self.lock:
            self.answer = answer
            self.after_load = after_load

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.clients.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _command(buf):
        """One RESP array of bulk strings off buf: (args, rest), or (None, buf)."""
        if not buf.startswith(b"*"):
            return None, buf
        i = buf.find(b"\r\n")
        if i < 0:
            return None, buf
        n, p, args = int(buf[1:i]), i + 2, []
        for _ in range(n):
            j = buf.find(b"\r\n", p)
            if j < 0:
                return None, buf
            size = int(buf[p + 1:j])
            p = j + 2
            if len(buf) < p + size + 2:
                return None, buf
            args.append(buf[p:p + size])
            p += size + 2
        return args, buf[p:]

    def _serve(self, c):
        c.settimeout(0.2)
        buf = b""
        while not self.stopping.is_set():
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            while True:
                args, buf = self._command(buf)
                if args is None:
                    break
                cmd = args[0].upper()
                with self.lock:
                    answer, after_load = self.answer, self.after_load
                try:
                    if cmd == b"SCRIPT":
                        sha = hashlib.sha1(args[2]).hexdigest().encode()
                        c.sendall(b"$40\r\n" + sha + b"\r\n" + after_load)
                    elif cmd == b"EVALSHA":
                        self.evalsha += 1
                        c.sendall(answer)
                    else:
                        c.sendall(b"+OK\r\n")
                except OSError:
                    break
        c.close()

    def drop(self):
        """Close every connection so far (policyd connects again: no outage)."""
        for c in self.clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping.set()
        self.drop()
        self.srv.close()


def daemon(tmp, port):
    with open(os.path.join(tmp, "soft"), "w") as f:
        f.write("192.0.2.0/24\n")
    d = Policyd(start=False)
    d.write_config(server=f"request_timeout = {int(REQUEST_TIMEOUT * 1000)}ms\n", extra=(
        "threshold = 3\nsoft_threshold = 1\nsoft_action = greylist\n"
        f"[greylist]\ndelay = {DELAY}s\nstore = redis://127.0.0.1:{port}/0\ntimeout = 200ms\n"
        "\n[http]\nlisten = inet:127.0.0.1:0\nmetrics_allow = 127.0.0.1/32\n"
        f"[list soft]\ntype = address\nfile = {tmp}/soft\nweight = 1\n"))
    d.start()
    return d


counter = [0]


def ask(d):
    """(seconds, answer) of a request with a triplet never asked before."""
    counter[0] += 1
    start = time.monotonic()
    answer = d.ask(request("192.0.2.10", sender=f"s{counter[0]}@example.org",
                           recipient="alice@example.net"))
    return time.monotonic() - start, answer


def greylists(d):
    """Whether policyd greylists again (asked until it does, 10 s at most)."""
    return poll_until(lambda: ask(d)[1].startswith("action=DEFER_IF_PERMIT"), 10, interval=0.05)


# (name, EVALSHA's answer, what follows SCRIPT LOAD's reply, what the warning says)
HOSTILE = [
    ("one reply more than asked for", GOOD + b"+OK\r\n", b"", "a reply to no command"),
    ("a reply after the handshake, nothing asked", GOOD, b"+OK\r\n", "a reply to no command"),
    ("a reply of the wrong type", b"+OK\r\n", b"", "EVALSHA: an unexpected reply"),
    ("an array of the wrong shape", b"*1\r\n:0\r\n", b"", "EVALSHA: an unexpected reply"),
    ("bytes that are no RESP", b"Hello, world\r\n", b"", "not RESP: Protocol error"),
    ("an error reply", b"-ERR hostile\r\n", b"", "EVALSHA: ERR hostile"),
    ("a retry time out of range", b"*2\r\n:0\r\n:1099511627776\r\n", b"",
     "EVALSHA: an unexpected reply"),
    ("an answer code out of range", b"*2\r\n:9\r\n:0\r\n", b"", "EVALSHA: an unexpected reply"),
    ("an array of 2^31-1 elements", b"*2147483647\r\n", b"", "an array reply of too many"),
    ("a reply that never ends", b"$1000000000\r\n" + b"x" * 200000, b"",
     "a reply longer than 64 KiB"),
]


def hostile_tests(tmp):
    only = os.environ.get("HOSTILE_CASE", "")
    cases = [c for c in HOSTILE if only in c[0]]
    fake = FakeRedis()
    d = daemon(tmp, fake.port)
    try:
        with d:
            t.ok(poll_until(lambda: d.metrics().get("policyd_greylist_store_up") == 1, 10,
                            interval=0.05), "policyd connects to the fake Redis")
            took, first = ask(d)
            t.ok(first.startswith("action=DEFER_IF_PERMIT"), "it greylists: deferred", first)
            for name, answer, after_load, reason in cases:
                warnings = d.log().count(WARNING)
                d.mark()
                fake.set(answer, after_load)
                if after_load:
                    # Every connection fails after its handshake: the store goes
                    # down without a request, and a request passes at once.
                    fake.drop()
                    t.ok(d.logged(re.escape(WARNING), timeout=5) is not None,
                         f"{name}: the store goes down", d.log()[-1500:])
                took, got = ask(d)
                t.ok(d.proc.poll() is None, f"{name}: policyd runs on",
                     d.log()[-1500:])
                if d.proc.poll() is not None:
                    return
                t.eq(got, "action=DUNNO", f"{name}: the soft tier passes (DUNNO)")
                t.ok(took < REQUEST_TIMEOUT, f"{name}: answered within request_timeout",
                     f"{took:.3f} s")
                fake.set()
                t.ok(greylists(d), f"{name}: greylisting resumes once the store behaves",
                     d.log()[-1500:])
                lines = [l for l in d.log().splitlines() if WARNING in l]
                t.eq(len(lines) - warnings, 1, f"{name}: one warning for the outage",
                     "\n".join(lines[warnings:]))
                t.ok(lines and reason in lines[-1], f"{name}: the warning says {reason!r}",
                     lines[-1] if lines else "")
            if only in "absurd":
                # In range, but absurd: cut to the delay, no outage.
                warnings = d.log().count(WARNING)
                fake.set(b"*2\r\n:0\r\n:4294967295\r\n")
                took, got = ask(d)
                t.ok(got.startswith("action=DEFER_IF_PERMIT"), "an absurd retry (2^32-1 s): deferred",
                     got)
                t.ok("49710" not in got and "day" not in got and
                     f"retry in {DELAY} seconds" in got,
                     f"... and told to come back after the delay ({DELAY} s), not 49710 days", got)
                t.eq(d.log().count(WARNING), warnings, "... and it is no outage")
                fake.set()
            t.ok(d.proc.poll() is None, "policyd runs on to the end", d.log()[-1500:])
            outages = d.metrics().get("policyd_greylist_store_outages_total", 0)
            t.eq(outages, float(len(cases)), "each outage counted once", str(outages))
            t.ok("Assertion" not in d.log() and "abort" not in d.log().lower(),
                 "no assertion failed", d.log()[-1500:])
    finally:
        fake.close()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        t.run("hostile", hostile_tests, tmp)
    t.done()


main()
