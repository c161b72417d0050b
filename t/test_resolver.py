#!/usr/bin/python3
"""policyd/resolver.c through t/resolver_probe.c, against rbldnsd and the
hostile fake server (t/lib/fakedns.py); prints TAP.

The probe is $RESOLVER_PROBE, else build/t/resolver-probe.  Every wait is
bounded: each probe run has a subprocess timeout and its own --limit.

udns counts time in whole seconds; the resolver gives it one second more than
configured, so that a try of a configured 1 s lasts between 1 and 2 s, never
less than configured. Cases that must get an answer use --timeout 2 --tries 2
(a late reply to the first try still counts), and only cases that must fail use
--tries 1.
"""

import os
import subprocess
import time

from lib.tap import Tap
from lib.dnslib import FakeDNS, Rbldnsd  # noqa: E402

PROBE = os.environ.get("RESOLVER_PROBE", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "t", "resolver-probe"))

t = Tap()


class Run:
    """One probe run: rc, answers {(type, name): (status, ttl, data)},
    lines (answer lines in order), comments, elapsed seconds, raw output."""

    def __init__(self, args, timeout, env):
        t0 = time.monotonic()
        p = subprocess.run([PROBE] + args, capture_output=True,
                           timeout=timeout, env=env)
        self.elapsed = time.monotonic() - t0
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")
        self.lines, self.comments, self.answers = [], [], {}
        self.calls = {}
        for line in self.out.splitlines():
            if line.startswith("#"):
                self.comments.append(line)
                continue
            self.lines.append(line)
            parts = line.split(" ")
            if len(parts) != 5:
                self.comments.append("# BAD unparsable line %r" % line)
                continue
            key = (parts[0], parts[1])
            self.answers[key] = (parts[2], int(parts[3]), parts[4])
            self.calls[key] = self.calls.get(key, 0) + 1

    @property
    def clean(self):
        """Exit 0 and no broken promise reported by the probe."""
        return self.rc == 0 and not any("BAD" in c for c in self.comments)

    def get(self, qtype, name):
        return self.answers.get((qtype, name))

    def __str__(self):
        return "rc=%s elapsed=%.2fs\n%s%s" % (self.rc, self.elapsed, self.out,
                                             self.err)


def probe(port, queries, timeout=2, tries=2, extra=(), run_timeout=40,
          env=None, server=None):
    """Run the probe against 127.0.0.1:port (or server, or none if port is
    None); queries is a list of (type, name)."""
    args = []
    if server is not None:
        args += ["--server", server]
    elif port is not None:
        args += ["--server", "127.0.0.1:%d" % port]
    args += ["--timeout", str(timeout), "--tries", str(tries),
             "--limit", str(int((run_timeout - 5) * 1000))]
    args += list(extra)
    for qtype, name in queries:
        args += [qtype, name]
    full_env = dict(os.environ)
    full_env.pop("NSCACHEIP", None)
    full_env.pop("NAMESERVERS", None)
    full_env.pop("RES_OPTIONS", None)
    full_env.update(env or {})
    return Run(args, run_timeout, full_env)


# ------------------------------------------------------------------ rbldnsd --

def rbldnsd_tests():
    zones = {"zen.test": [("ip4set", ":127.0.0.2:Listed, see http://zen.test/$\n"
                                     "127.0.0.2\n"
                                     "127.0.0.4 :127.0.0.4:Exploited\n"
                                     "192.0.2.0/24\n")]}
    with Rbldnsd(zones, ttl=77) as rbl:
        qs = [("A", "2.0.0.127.zen.test"), ("TXT", "2.0.0.127.zen.test"),
              ("A", "4.0.0.127.zen.test"), ("TXT", "4.0.0.127.zen.test"),
              ("A", "1.0.0.127.zen.test"), ("TXT", "1.0.0.127.zen.test"),
              ("A", "9.2.0.192.zen.test")]
        r = probe(rbl.port, qs)
        t.ok(r.clean and len(r.lines) == len(qs), "rbldnsd: one line per query",
           r)
        t.ok(r.get("A", "2.0.0.127.zen.test") == ("OK", 77, "127.0.0.2"),
           "rbldnsd: A listed with its TTL", r)
        t.ok(r.get("TXT", "2.0.0.127.zen.test")
           == ("OK", 77, b"Listed, see http://zen.test/127.0.0.2".hex()),
           "rbldnsd: TXT reason, bytes intact", r)
        t.ok(r.get("A", "4.0.0.127.zen.test") == ("OK", 77, "127.0.0.4")
           and r.get("TXT", "4.0.0.127.zen.test") == ("OK", 77,
                                                      b"Exploited".hex()),
           "rbldnsd: per-entry code and text", r)
        t.ok(r.get("A", "1.0.0.127.zen.test") == ("NXDOMAIN", 0, "-")
           and r.get("TXT", "1.0.0.127.zen.test") == ("NXDOMAIN", 0, "-"),
           "rbldnsd: not listed is NXDOMAIN, no TTL", r)
        t.ok(r.get("A", "9.2.0.192.zen.test") == ("OK", 77, "127.0.0.2"),
           "rbldnsd: CIDR entry listed", r)
        t.ok(r.elapsed < 3, "rbldnsd: answers came at once", r.elapsed)
        t.ok(rbl.count("2.0.0.127.zen.test", "A") == 1,
           "rbldnsd: one query per lookup, no search-list retries",
           rbl.queries())

        names = ["%d.%d.0.127.zen.test" % (i % 256, i // 256)
                 for i in range(200)]
        qs = [("A" if i % 2 == 0 else "TXT", nm) for i, nm in enumerate(names)]
        r = probe(rbl.port, qs)
        t.ok(r.clean and len(r.lines) == 200 and len(r.answers) == 200,
           "rbldnsd: 200 concurrent queries, 200 answers", r)
        t.ok(r.get("A", "2.0.0.127.zen.test") == ("OK", 77, "127.0.0.2")
           and r.get("A", "4.0.0.127.zen.test") == ("OK", 77, "127.0.0.4")
           and r.get("A", "6.0.0.127.zen.test") == ("NXDOMAIN", 0, "-"),
           "rbldnsd: 200 concurrent: each answer matches its name", r)


# ---------------------------------------------------------------- fakedns --

WEIRD = "line1\r\nline2\x00nul\x80\xff end\r\n"
LONG = "".join(chr(32 + (i * 7) % 95) for i in range(2000))

RULES = [
    {"name": "multi.test", "a": ["127.0.0.2", "127.0.0.4", "127.0.0.10"],
     "ttl": 123, "txt": ["first record", "second record"]},
    {"name": "spamhaus.test", "a": ["127.255.255.254"], "ttl": 5},
    {"name": "weird.test", "txt": WEIRD, "a": ["127.0.0.2"]},
    {"name": "long.test", "txt": LONG},
    {"name": "empty.test", "txt": ""},
    {"name": "nodata.test", "action": "nodata"},
    {"name": "nx.test", "action": "nxdomain"},
    {"name": "servfail.test", "action": "servfail"},
    {"name": "refused.test", "action": "refused"},
    {"name": "drop.test", "action": "drop"},
    {"name": "*.drop.test", "action": "drop"},
    {"name": "tc.test", "action": "truncated"},
    {"name": "garbage.test", "action": "garbage", "size": 100},
    {"name": "garbage12.test", "action": "garbage", "size": 12},
    {"name": "wrongid.test", "action": "wrong_id", "a": ["127.0.0.2"]},
    {"name": "short.test", "action": "short", "a": ["127.0.0.2"]},
    {"name": "cut.test", "action": "short", "len": 40, "a": ["127.0.0.2"]},
    {"name": "wrongname.test", "action": "wrong_name", "a": ["127.0.0.2"],
     "txt": "forged"},
    {"name": "wrongq.test", "action": "wrong_question", "a": ["127.0.0.2"]},
    {"name": "slow.test", "a": ["127.0.0.3"], "delay_ms": 2500},
    {"name": "*.slowish.test", "a": ["127.0.0.3"], "txt": "late",
     "delay_ms": 300},
    {"name": "*.many.test", "a": ["127.0.0.2"], "txt": "many", "ttl": 42},
]


def fake_tests():
    with FakeDNS(RULES) as dns:
        p = dns.port

        r = probe(p, [("A", "multi.test"), ("TXT", "multi.test"),
                      ("A", "nodata.test"), ("TXT", "nodata.test"),
                      ("A", "nx.test"), ("A", "unknown.test"),
                      ("TXT", "long.test"), ("A", "long.test")])
        t.ok(r.clean and len(r.lines) == 8, "fakedns: one line per query", r)
        t.ok(r.get("A", "multi.test")
           == ("OK", 123, "127.0.0.2,127.0.0.4,127.0.0.10"),
           "several A records, in order, with TTL", r)
        t.ok(r.get("TXT", "multi.test") == ("OK", 123, b"first record".hex()),
           "several TXT records: the first one is passed", r)
        t.ok(r.get("A", "nodata.test") == ("NODATA", 0, "-")
           and r.get("TXT", "nodata.test") == ("NODATA", 0, "-")
           and r.get("A", "long.test") == ("NODATA", 0, "-"),
           "NOERROR without records is NODATA", r)
        t.ok(r.get("A", "nx.test") == ("NXDOMAIN", 0, "-")
           and r.get("A", "unknown.test") == ("NXDOMAIN", 0, "-"),
           "NXDOMAIN", r)

        r = probe(p, [("A", "spamhaus.test")])
        t.ok(r.clean and r.get("A", "spamhaus.test")
           == ("OK", 5, "127.255.255.254"),
           "127.255.255.254 is passed through as OK (not the resolver's call)",
           r)

        r = probe(p, [("TXT", "weird.test"), ("TXT", "long.test"),
                      ("TXT", "empty.test")])
        t.ok(r.clean and r.get("TXT", "weird.test")
           == ("OK", 300, WEIRD.encode("latin-1").hex()),
           "TXT with CR, LF, NUL, 0x80+: bytes intact", r)
        got = r.get("TXT", "long.test")
        t.ok(got is not None and got[0] == "OK"
           and bytes.fromhex(got[2]) == LONG.encode(),
           "2000-byte TXT (8 strings joined): length and bytes intact",
           got and (got[0], len(got[2]) // 2))
        t.ok(r.get("TXT", "empty.test") == ("OK", 300, "-"),
           "empty TXT record: OK with 0 bytes", r)

        bad = ["servfail.test", "refused.test"]
        r = probe(p, [("A", nm) for nm in bad] + [("TXT", nm) for nm in bad],
                  timeout=5, tries=3)
        t.ok(r.clean and all(r.get(qtype, nm) == ("TEMPFAIL", 0, "-")
                           for qtype in ("A", "TXT") for nm in bad),
           "SERVFAIL and REFUSED are TEMPFAIL", r)
        t.ok(r.elapsed < 2.5, "SERVFAIL/REFUSED fail at once, not at the "
           "timeout (one server, nothing else to ask)", r.elapsed)

        hostile = ["tc.test", "garbage.test", "garbage12.test", "wrongid.test",
                   "short.test", "cut.test", "wrongq.test", "drop.test"]
        qs = [("A", nm) for nm in hostile] + [("TXT", "tc.test"),
                                             ("TXT", "garbage.test")]
        r = probe(p, qs, timeout=1, tries=1)
        for qtype, nm in qs:
            t.ok(r.get(qtype, nm) == ("TEMPFAIL", 0, "-"),
                 "%s %s: TEMPFAIL, never 'not listed'" % (qtype, nm), r)
        t.ok(r.clean, "hostile replies: probe clean (one callback each)", r)
        t.ok(r.elapsed < 3.5, "hostile replies: all failed within the timeout",
           r.elapsed)

        r = probe(p, [("A", "wrongname.test"), ("TXT", "wrongname.test")],
                  timeout=1, tries=1)
        t.ok(r.clean and r.get("A", "wrongname.test") == ("TEMPFAIL", 0, "-")
           and r.get("TXT", "wrongname.test") == ("TEMPFAIL", 0, "-"),
           "answer records for another name: TEMPFAIL, not NODATA", r)

        r = probe(p, [("A", "x.many.test")], extra=["--verbose"])
        t.ok(r.clean and "resolver:" in r.err and "\r" not in r.err,
           "--verbose: debug log reaches stderr", r)


def timeout_tests():
    with FakeDNS(RULES) as dns:
        p = dns.port
        r = probe(p, [("A", "1.drop.test")], timeout=1, tries=1)
        t.ok(r.clean and r.get("A", "1.drop.test") == ("TEMPFAIL", 0, "-"),
           "no answer: TEMPFAIL", r)
        t.ok(r.elapsed < 2.5, "no answer, timeout 1 tries 1: gave up within "
           "about 1 s", r.elapsed)
        t.ok(dns.count("1.drop.test", "A") == 1, "tries 1: sent once",
           dns.queries())

        r = probe(p, [("A", "2.drop.test")], timeout=1, tries=2)
        t.ok(r.clean and r.get("A", "2.drop.test") == ("TEMPFAIL", 0, "-"),
           "no answer, tries 2: TEMPFAIL", r)
        t.ok(4.9 < r.elapsed < 7.5, "tries 2: waited 2 s + 4 s (1 s configured is "
           "at least 1 s per try, doubled by udns for the retry)", r.elapsed)
        t.ok(dns.count("2.drop.test", "A") == 2, "tries 2: sent twice",
           dns.queries())

        # --deadline: queries still pending are failed by resolver_free.
        qs = [("A", "multi.test"), ("A", "3.drop.test"),
              ("TXT", "4.drop.test"), ("A", "5.drop.test")]
        r = probe(p, qs, timeout=10, tries=1, extra=["--deadline", "400"])
        t.ok(r.clean, "deadline: probe clean (exactly one callback each)", r)
        t.ok(r.get("A", "multi.test")[0] == "OK"
           and all(r.get(t, nm) == ("ERROR", 0, "-") for t, nm in qs[1:]),
           "deadline: answered one OK, pending ones get ERROR", r)
        t.ok(any("deadline: resolver_free with 3 pending" in c
               for c in r.comments), "deadline: 3 were pending at free", r)
        t.ok(r.elapsed < 3, "deadline: no wait for udns's own timeout",
           r.elapsed)

        r = probe(p, [("A", "6.drop.test"), ("TXT", "7.drop.test")],
                  timeout=5, tries=1, extra=["--deadline", "0"])
        t.ok(r.clean and r.get("A", "6.drop.test") == ("ERROR", 0, "-")
           and r.get("TXT", "7.drop.test") == ("ERROR", 0, "-"),
           "deadline 0: freed before anything was sent", r)

        # Late answer: after the timeout, must neither crash nor call twice.
        r = probe(p, [("A", "slow.test")], timeout=1, tries=1,
                  extra=["--linger", "3500"])
        t.ok(r.clean and r.get("A", "slow.test") == ("TEMPFAIL", 0, "-")
           and r.calls.get(("A", "slow.test")) == 1,
           "answer after the timeout: TEMPFAIL once, late reply ignored", r)
        t.ok(r.elapsed >= 3.5, "late answer: loop was still running when it came",
           r.elapsed)
        # With a retry, a late reply to the first try answers the query; the
        # reply to the second try then arrives for nothing.
        r = probe(p, [("A", "slow.test")], timeout=1, tries=2,
                  extra=["--linger", "3500"])
        t.ok(r.clean and r.get("A", "slow.test") == ("OK", 300, "127.0.0.3")
           and r.calls.get(("A", "slow.test")) == 1,
           "late reply to the first try: OK, once", r)


def many_tests():
    with FakeDNS(RULES) as dns:
        qs = [("A" if i % 3 else "TXT", "%d.many.test" % i) for i in range(200)]
        r = probe(dns.port, qs, run_timeout=60)
        t.ok(r.clean and len(r.lines) == 200 and len(r.answers) == 200,
           "200 concurrent queries: 200 answers, one each", r)
        want = {t: ("OK", 42, "127.0.0.2" if t == "A" else b"many".hex())
                for t in ("A", "TXT")}
        wrong = [(t, nm, r.get(t, nm)) for t, nm in qs
                 if r.get(t, nm) != want[t]]
        t.ok(not wrong, "200 concurrent queries: every answer right",
           wrong[:5])
        t.ok(dns.count() == 200, "200 concurrent queries: 200 sent",
           dns.count())


def cancel_tests():
    with FakeDNS(RULES) as dns:
        p = dns.port
        qs = [("A", "%d.many.test" % i) for i in range(10)]
        r = probe(p, qs, extra=["--cancel", "--linger", "500"])
        kept = qs[0::2]
        t.ok(r.clean and len(r.lines) == 5
           and all(r.get(t, nm) == ("OK", 42, "127.0.0.2") for t, nm in kept),
           "cancel: the others are answered", r)
        t.ok(not any((t, nm) in r.answers for t, nm in qs[1::2]),
           "cancel: no callback for the cancelled ones (replies came)", r)
        t.ok(dns.count() == 10, "cancel: udns still sent all 10 (no dns_cancel)",
           dns.count())

        # Replies to cancelled queries arrive 300 ms later, while lingering.
        qs = [("TXT" if i % 2 else "A", "%d.slowish.test" % i)
              for i in range(8)]
        r = probe(p, qs, extra=["--cancel", "--linger", "800"])
        t.ok(r.clean and len(r.lines) == 4
           and all(r.get(t, nm) == ("OK", 300, "127.0.0.3")
                   for t, nm in qs[0::2]),
           "cancel, delayed replies: dropped for the cancelled ones", r)

        # Cancelled queries must not get an ERROR from resolver_free either.
        qs = [("A", "%d.drop.test" % i) for i in range(10, 16)]
        r = probe(p, qs, timeout=5, tries=1,
                  extra=["--cancel", "--deadline", "300"])
        t.ok(r.clean and len(r.lines) == 3
           and all(r.get(t, nm) == ("ERROR", 0, "-") for t, nm in qs[0::2]),
           "cancel + free: only the live ones get ERROR", r)

        # Everything cancelled: the loop must still end.
        r = probe(p, [("A", "a.many.test"), ("A", "b.many.test")],
                  extra=["--cancel", "--linger", "300"])
        t.ok(r.clean and len(r.lines) == 1, "cancel: half of two", r)

        # resolver_free from inside a callback: deferred, others get ERROR.
        qs = [("A", "spamhaus.test"), ("A", "20.drop.test"),
              ("TXT", "21.drop.test")]
        r = probe(p, qs, timeout=5, tries=1, extra=["--free-in-callback"])
        t.ok(r.clean and r.get("A", "spamhaus.test")[0] == "OK"
           and r.get("A", "20.drop.test") == ("ERROR", 0, "-")
           and r.get("TXT", "21.drop.test") == ("ERROR", 0, "-"),
           "resolver_free inside a callback: the rest fail, no crash", r)
        t.ok(r.elapsed < 3, "resolver_free inside a callback: no waiting",
           r.elapsed)


def name_tests():
    with FakeDNS(RULES) as dns:
        label = "x" * 64
        long_name = ".".join(["y" * 60] * 5) + ".many.test"
        r = probe(dns.port, [("A", label + ".many.test"), ("A", long_name),
                             ("A", "ok.many.test")])
        t.ok(r.get("A", label + ".many.test") == ("NOSUBMIT", 0, "-")
           and r.get("A", long_name) == ("NOSUBMIT", 0, "-"),
           "64-byte label, 300-byte name: refused at submit (NULL)", r)
        t.ok(r.clean and r.get("A", "ok.many.test") == ("OK", 42, "127.0.0.2"),
           "refused names do not disturb the others", r)
        r = probe(dns.port, [("A", "abs.many.test."), ("A", "Mixed.MANY.test")])
        t.ok(r.clean and r.get("A", "abs.many.test.")[0] == "OK"
           and r.get("A", "Mixed.MANY.test")[0] == "OK",
           "trailing dot and mixed case", r)


def server_tests():
    with FakeDNS([{"name": "*", "action": "drop"}]) as dead, \
            FakeDNS(RULES) as good:
        # No nameserver configured: udns's resolv.conf defaults, which
        # NAMESERVERS and RES_OPTIONS override (so /etc is not touched).
        r = probe(None, [("A", "rc.many.test")],
                  env={"NAMESERVERS": "127.0.0.1",
                       "RES_OPTIONS": "port:%d" % good.port})
        t.ok(r.clean and r.get("A", "rc.many.test") == ("OK", 42, "127.0.0.2"),
           "no nameserver configured: resolv.conf defaults used", r)

        args = ["--server", "127.0.0.1:%d" % dead.port,
                "--server", "127.0.0.1:%d" % good.port]
        r = probe(None, [("A", "two.many.test")], timeout=3, tries=1,
                  extra=args)
        t.ok(r.clean and r.get("A", "two.many.test") == ("OK", 42, "127.0.0.2"),
           "two nameservers, the first silent: answer from the second", r)
        t.ok(dead.count("two.many.test") == 1 and good.count("two.many.test")
           == 1, "two nameservers: each asked once, with its own port",
           (dead.queries(), good.queries()))

    try:
        v6 = FakeDNS(RULES, bind="::1").start()
    except (OSError, RuntimeError) as e:
        t.skip("IPv6 nameserver", "no ::1 (%s)" % e)
        return
    try:
        r = probe(None, [("A", "v6.many.test")], server="[::1]:%d" % v6.port)
        t.ok(r.clean and r.get("A", "v6.many.test") == ("OK", 42, "127.0.0.2"),
           "IPv6 nameserver with port", r)
    finally:
        v6.stop()


def main():
    if not os.access(PROBE, os.X_OK):
        t.ok(False, "resolver probe built", PROBE)
        t.done()
    t.run("fakedns tests", fake_tests)
    t.run("timeout tests", timeout_tests)
    t.run("concurrency tests", many_tests)
    t.run("cancel tests", cancel_tests)
    t.run("name tests", name_tests)
    t.run("nameserver tests", server_tests)
    if os.path.exists("/usr/sbin/rbldnsd"):
        t.run("rbldnsd tests", rbldnsd_tests)
    else:
        t.ok(False, "rbldnsd installed (apt-get install rbldnsd)")
    t.done()


if __name__ == "__main__":
    main()
