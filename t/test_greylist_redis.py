#!/usr/bin/env python3
"""Integration: greylisting with the Redis store, through the daemon.

A real redis-server (Debian's, started by the test on a free loopback port and
stopped by its PID) is shared by two policyd, as two MX hosts of one site share
it. The soft tier comes from a local address list (192.0.2.0/24, weight 1;
soft_threshold 1, threshold 3; 198.51.100.66 weighs 3: the hard tier), so that
no DNS is involved; [greylist] delay is 1 s.

Shown: a triplet deferred by one policyd passes on the other after the delay;
requests outside the soft tier never reach Redis (its EVALSHA count stands
still); with Redis paused (SIGSTOP), killed and started again while a client
keeps sending new triplets, no request waits past request_timeout, none is
refused or deferred because of the outage (the soft tier passes: DUNNO), one
line logs each outage and one its end, the outage is counted, and greylisting
comes back by itself; a password from password_file reaches Redis (AUTH), and
a wrong one makes the store unavailable, logged, while mail passes.
"""

import os
import re
import tempfile
import threading
import time

from lib.daemon import Policyd, Tap, request
from lib.redisd import RedisServer
from lib.wait import poll_until

t = Tap()

REQUEST_TIMEOUT = 1.0


def daemon(tmp, store, greylist="", name="a"):
    """A started policyd whose soft tier is greylisted in `store`, /metrics on loopback."""
    for fname, text in {"soft": "192.0.2.0/24\n", "hard": "198.51.100.66\n"}.items():
        with open(os.path.join(tmp, fname), "w") as f:
            f.write(text)
    d = Policyd(start=False)
    d.write_config(server=f"request_timeout = {int(REQUEST_TIMEOUT * 1000)}ms\n", extra=(
        "threshold = 3\nsoft_threshold = 1\nsoft_action = greylist\n"
        f"[greylist]\ndelay = 1s\nstore = {store}\ntimeout = 200ms\n" + greylist +
        "\n[http]\nlisten = inet:127.0.0.1:0\nmetrics_allow = 127.0.0.1/32\n"
        f"[list soft]\ntype = address\nfile = {tmp}/soft\nweight = 1\n"
        f"[list hard]\ntype = address\nfile = {tmp}/hard\nweight = 3\n"))
    d.start()
    return d


def ask(d, client="192.0.2.10", sender="bob@example.org", recipient="alice@example.net"):
    return d.ask(request(client, sender=sender, recipient=recipient))


def evalsha_calls(r):
    """How many EVALSHA commands redis-server has run (INFO commandstats)."""
    info = r.call("INFO", "commandstats").decode()
    m = re.search(r"cmdstat_evalsha:calls=(\d+)", info)
    return int(m.group(1)) if m else 0


def store_up(d):
    return poll_until(lambda: d.metrics().get("policyd_greylist_store_up") == 1, 10, interval=0.05)


def test_shared(tmp):
    with RedisServer() as r:
        a = daemon(tmp, r.url)
        b = daemon(tmp, r.url)
        with a, b:
            t.ok(store_up(a) and store_up(b), "both policyd connect to Redis")
            since = time.monotonic()
            first = ask(a)
            t.ok(first.startswith("action=DEFER_IF_PERMIT 4.7.1 Greylisted"), "A defers a new triplet", first)
            t.ok("DEFER_IF_PERMIT" in ask(b), "B knows it: an early retry there is deferred too")
            passed = poll_until(lambda: ask(b) == "action=DUNNO", 5, interval=0.05)
            waited = time.monotonic() - since
            t.ok(passed and waited >= 1.0, "the retry after the delay passes on the other MX host",
                 f"after {waited:.2f} s")
            t.eq(ask(a), "action=DUNNO", "and A knows that it passed")
            before = evalsha_calls(r)
            for i in range(20):
                ask(a, client="198.51.100.66", sender=f"x{i}@example.org")
                ask(a, client="203.0.113.5", sender=f"y{i}@example.org")
            t.eq(evalsha_calls(r), before, "hard-tier and clean requests never reach Redis")
            t.ok(ask(a, client="198.51.100.66").startswith("action=REJECT"), "the hard tier still refuses")


class Flow(threading.Thread):
    """A client sending a new triplet every 20 ms to policyd: (seconds, answer) each."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d = d
        self.stop = threading.Event()
        self.answers = []
        self.errors = []

    def run(self):
        i = 0
        while not self.stop.is_set() and i < 5000:
            i += 1
            start = time.monotonic()
            try:
                answer = ask(self.d, sender=f"flow{i}@example.org")
            except OSError as e:
                self.errors.append(str(e))
                continue
            self.answers.append((time.monotonic() - start, answer))
            self.stop.wait(0.02)


def test_outage(tmp):
    with RedisServer() as r:
        d = daemon(tmp, r.url)
        with d:
            t.ok(store_up(d), "policyd connects to Redis")
            flow = Flow(d)
            flow.start()
            try:
                poll_until(lambda: len(flow.answers) >= 10, 10, what="ten answers before the outage")
                r.pause()
                paused = len(flow.answers)
                poll_until(lambda: len(flow.answers) >= paused + 20, 15, what="answers while Redis is paused")
                t.ok(d.logged(r"greylist.*(down|unavailable|outage)", timeout=5) is not None,
                     "the outage is logged")
                r.resume()
                t.ok(poll_until(lambda: "DEFER_IF_PERMIT" in ask(d, sender=f"after-pause-{time.monotonic()}@example.org"),
                                15, interval=0.1),
                     "greylisting comes back once Redis answers again")
                r.kill()
                killed = len(flow.answers)
                poll_until(lambda: len(flow.answers) >= killed + 20, 15, what="answers while Redis is gone")
                r.restart()
                t.ok(poll_until(lambda: "DEFER_IF_PERMIT" in ask(d, sender=f"after-kill-{time.monotonic()}@example.org"),
                                20, interval=0.1),
                     "greylisting comes back after Redis is started again")
            finally:
                flow.stop.set()
                flow.join(10)
            slowest = max(s for s, _ in flow.answers)
            t.ok(slowest < REQUEST_TIMEOUT + 0.5, "no request waited past request_timeout",
                 f"slowest {slowest:.3f} s of {len(flow.answers)}")
            kinds = {a.split(" ", 1)[0] for _, a in flow.answers}
            t.ok(kinds <= {"action=DUNNO", "action=DEFER_IF_PERMIT"},
                 "nothing refused or deferred otherwise", str(kinds))
            t.ok(sum(1 for _, a in flow.answers if a == "action=DUNNO") >= 20,
                 "during the outages the soft tier passed (DUNNO)")
            t.ok(not flow.errors, "no connection failed", "; ".join(flow.errors[:5]))
            m = d.metrics()
            t.ok(m.get("policyd_greylist_store_outages_total", 0) >= 2, "the outages are counted",
                 str({k: v for k, v in m.items() if "greylist" in k}))
            t.ok(m.get('policyd_greylist_answers_total{answer="unavailable"}', 0) >= 20,
                 "unavailable answers are counted")
            t.eq(m.get("policyd_greylist_store_up"), 1.0, "the store is up again")
            lines = [l for l in d.log().splitlines() if re.search(r"greylist.*redis", l, re.I)]
            downs = [l for l in lines if re.search(r"warning", l)]
            t.ok(2 <= len(downs) <= 4, "one warning per outage, not one per request",
                 "\n".join(downs[:10]))
            t.ok(d.proc.poll() is None, "policyd runs on")


def test_password(tmp):
    with RedisServer(password="s3cret-pw") as r:
        pw = os.path.join(tmp, "redis.pass")
        with open(pw, "w") as f:
            f.write("s3cret-pw\n")
        os.chmod(pw, 0o600)
        d = daemon(tmp, r.url, greylist=f"password_file = {pw}\n")
        with d:
            t.ok(store_up(d), "AUTH with password_file: connected")
            t.ok("DEFER_IF_PERMIT" in ask(d), "... and greylisting")
            t.ok("s3cret-pw" not in d.log(), "the password is in no log line")
        with open(pw, "w") as f:
            f.write("wrong\n")
        d = daemon(tmp, r.url, greylist=f"password_file = {pw}\n")
        with d:
            t.ok(d.logged(r"greylist.*redis", timeout=5) is not None, "a wrong password is logged")
            t.eq(ask(d), "action=DUNNO", "... and the soft tier passes")


def main():
    for fn in (test_shared, test_outage, test_password):
        with tempfile.TemporaryDirectory() as tmp:
            t.run(fn.__name__, fn, tmp)
    t.done()


main()
