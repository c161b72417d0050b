#!/usr/bin/python3
"""Self-test of t/lib/fakedns.py, dnslib.py (unbound in front of rbldnsd too), dnswire.py, procnet.py and wait.py;
prints TAP."""

import os
import socket
import time

from lib import dnslib, procnet
from lib.tap import Tap
from lib.dnslib import (FakeDNS, Rbldnsd, query, raw_query, parse_reply,   # noqa
                    reverse_ip, build_query, NOERROR, NXDOMAIN, SERVFAIL,
                    REFUSED, FORMERR, MalformedReply)
from lib.dnswire import decode_name, encode_name
from lib.wait import poll_until

t = Tap()


def gone(pid):
    """True when our (already reaped) child no longer exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def raises(exc, fn):
    """True when fn() raises exc (and nothing else)."""
    try:
        fn()
    except exc:
        return True
    return False


def times_out(fn):
    return raises(TimeoutError, fn)


WEIRD = "line1\r\nline2\x00nul\x80\xff end"
LONG = "".join(chr(65 + i % 26) for i in range(2000))

RULES = [
    {"name": "a.test", "a": ["127.0.0.2", "127.0.0.4"], "ttl": 123,
     "txt": "listed: see http://example.test/"},
    {"name": "weird.test", "a": ["127.0.0.2"], "txt": WEIRD},
    {"name": "long.test", "txt": LONG},
    {"name": "hex.test", "txt_hex": ["00ff0d0a", "41"]},
    {"name": "nx.test", "action": "nxdomain"},
    {"name": "servfail.test", "action": "servfail"},
    {"name": "refused.test", "action": "refused"},
    {"name": "nodata.test", "action": "nodata"},
    {"name": "drop.test", "action": "drop"},
    {"name": "slow.test", "a": ["127.0.0.3"], "delay_ms": 700},
    {"name": "tc.test", "action": "truncated"},
    {"name": "garbage.test", "action": "garbage", "size": 40},
    {"name": "wrongid.test", "action": "wrong_id", "a": ["127.0.0.2"]},
    {"name": "short.test", "action": "short", "a": ["127.0.0.2"]},
    {"name": "tiny.test", "action": "short", "len": 5},
    {"name": "wrongname.test", "action": "wrong_name", "a": ["127.0.0.2"]},
    {"name": "wrongq.test", "action": "wrong_question", "a": ["127.0.0.2"]},
    {"name": "once.test", "times": 1, "action": "servfail"},
    {"name": "once.test", "a": ["127.0.0.5"]},
    {"name": "typed.test", "qtype": "TXT", "action": "drop"},
    {"name": "typed.test", "a": ["127.0.0.6"]},
    {"name": "*.wild.test", "a": ["127.0.0.2"], "txt": "wildcard"},
]


def fake_tests():
    with FakeDNS(RULES) as dns:
        p = dns.port
        t.ok(p > 0, "fakedns READY on port %d" % p)

        r = query(p, "a.test")
        t.ok(r == (NOERROR, ["127.0.0.2", "127.0.0.4"], 123), "A answer + TTL", r)
        r = query(p, "A.Test.", "TXT")
        t.ok(r[:2] == (NOERROR, [b"listed: see http://example.test/"]),
           "TXT answer, case-insensitive match", r)
        r = query(p, "weird.test", "TXT")
        t.ok(r.answers == [WEIRD.encode("latin-1")],
           "TXT with CR LF NUL 0x80+ bytes", r)
        r = query(p, "long.test", "TXT")
        rd = r.raw
        t.ok(r.answers == [LONG.encode()] and b"\xff" + LONG[:255].encode() in rd
           and len(rd) > 2000, "2000-byte TXT split into 255-byte strings")
        r = query(p, "long.test", "TXT", edns=None)
        t.ok(r.tc and r.answers == [], "2000-byte TXT to a 512-byte client: TC",
           (r.tc, r.answers))
        r = query(p, "hex.test", "TXT")
        t.ok(r.answers == [b"\x00\xff\r\n", b"A"], "txt_hex, two TXT RRs", r)
        r = query(p, "long.test", "A")
        t.ok(r == (NOERROR, [], None), "A query to a TXT-only rule: NODATA", r)
        r = query(p, "nx.test")
        t.ok(r.rcode == NXDOMAIN, "NXDOMAIN", r)
        r = query(p, "unmatched.test")
        t.ok(r.rcode == NXDOMAIN, "unmatched name: NXDOMAIN", r)
        t.ok(query(p, "servfail.test").rcode == SERVFAIL, "SERVFAIL")
        t.ok(query(p, "refused.test").rcode == REFUSED, "REFUSED")
        r = query(p, "nodata.test")
        t.ok(r == (NOERROR, [], None), "NODATA", r)

        t0 = time.monotonic()
        t.ok(times_out(lambda: query(p, "drop.test", timeout=0.5)),
           "drop: no answer")
        t.ok(time.monotonic() - t0 < 2, "drop: query timeout was bounded")

        # Delay must not block other queries: send the slow query first,
        # then a fast one, and expect the fast answer long before the slow.
        fast_before = dns.sent().count(("a.test", "A"))
        slow = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        slow.sendto(build_query("slow.test", qid=7), ("127.0.0.1", p))
        t0 = time.monotonic()
        r = query(p, "a.test")
        fast_t = time.monotonic() - t0
        slow.settimeout(3)
        sr = parse_reply(slow.recv(4096), "slow.test")
        slow_t = time.monotonic() - t0
        slow.close()
        t.ok(fast_t < 0.3 and r.answers, "delay: other queries served meanwhile",
           fast_t)
        t.ok(0.6 <= slow_t < 2 and sr.answers == ["127.0.0.3"],
           "delay: answer after ~700 ms", slow_t)
        # fakedns logs a reply just after sending it: wait for the line.
        logged = dns.wait_sent(1, "slow.test", "A", timeout=2)
        sent = dns.sent()
        before_slow = sent[:sent.index(("slow.test", "A"))] if logged else []
        t.ok(logged and before_slow.count(("a.test", "A")) == fast_before + 1,
           "sent log: a delayed reply is logged when it is sent, after "
           "the fast one asked later", sent)

        r = query(p, "tc.test")
        t.ok(r.tc and r.answers == [] and r.rcode == NOERROR, "truncated: TC set",
           r)
        raw = raw_query(p, "garbage.test", qid=0x4242)
        t.ok(raw is not None and len(raw) == 40 and raw[:2] == b"\x42\x42",
           "garbage: 40 bytes keeping the query id", raw)
        raw = raw_query(p, "wrongid.test", qid=0x1000)
        t.ok(raw is not None and raw[:2] == b"\x10\x01", "wrong_id: id + 1", raw)
        t.ok(times_out(lambda: query(p, "wrongid.test", timeout=0.5)),
           "wrong_id: a real client ignores it")
        raw = raw_query(p, "short.test")
        t.ok(raw is not None and len(raw) == 12, "short: header only", raw)
        t.ok(raises(MalformedReply, lambda: query(p, "short.test")),
           "short: client sees malformed reply")
        raw = raw_query(p, "tiny.test")
        t.ok(raw is not None and len(raw) == 5, "short: fewer than 12 bytes", raw)
        r = query(p, "wrongname.test")
        t.ok(r.answers == [] and r.records
           and r.records[0][0] == "wrong.invalid",
           "wrong_name: answer RR owner does not match", r.records)
        r = query(p, "wrongq.test")
        t.ok(r.qname == "wrong.invalid", "wrong_question: question differs",
           r.qname)
        t.ok(query(p, "once.test").rcode == SERVFAIL
           and query(p, "once.test").answers == ["127.0.0.5"],
           "times: first query SERVFAIL, then answered")
        t.ok(query(p, "typed.test").answers == ["127.0.0.6"]
           and times_out(lambda: query(p, "typed.test", "TXT", timeout=0.5)),
           "qtype: TXT dropped, A answered")

        r = query(p, "2.0.0.127.wild.test")
        t.ok(r.answers == ["127.0.0.2"], "wildcard: 127.0.0.2 test point", r)
        r = query(p, "1.0.0.127.wild.test")
        t.ok(r.answers == ["127.0.0.2"],
           "wildcard: lists even 1.0.0.127 (RFC 5782 must-not-list)", r)
        r = query(p, "wild.test")
        t.ok(r.rcode == NXDOMAIN, "wildcard: not the apex itself", r)
        r = query(p, "x.wild.test", "TXT")
        t.ok(r.answers == [b"wildcard"], "wildcard: TXT", r)

        # Hostile queries must not kill the server.
        for junk in (b"", b"\x01", b"\x00" * 12,
                     b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c",
                     b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f",
                     os.urandom(300)):
            raw_query(p, "", packet=junk, timeout=0.2)
        r = query(p, "a.test")
        t.ok(r.answers and dns.proc.poll() is None,
           "survives empty, short, looping and random queries")
        raw = raw_query(p, "", timeout=1, packet=b"\x12\x34\x01\x00"
                        b"\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c")
        t.ok(raw is not None and raw[3] & 0xF == FORMERR,
           "pointer-loop query: FORMERR", raw)

        qs = dns.queries()
        t.ok(("a.test", "A") in qs and ("weird.test", "TXT") in qs
           and ("-", "BAD") in qs, "query log has (name, type)", qs[:5])
        t.ok(dns.count("drop.test", "A") == 1 and dns.count("a.test") == 4,
           "count() per name and type",
           (dns.count("drop.test", "A"), dns.count("a.test")))
        t.ok(dns.wait_queries(4, "a.test", timeout=0.1)
           and not dns.wait_queries(5, "a.test", timeout=0.1),
           "wait_queries(): true once there are n, false at its deadline")
        t.ok(("drop.test", "A") not in dns.sent(), "sent log: nothing for a "
           "dropped query", dns.sent()[:5])

        dns.set_rules([{"name": "a.test", "action": "servfail"}])
        t.ok(query(p, "a.test").rcode == SERVFAIL, "set_rules: SIGHUP reload")

        pid = dns.proc.pid
    with FakeDNS(RULES, bind="::1") as dns6:
        r = query(dns6.port, "a.test", host="::1")
        t.ok(r.answers == ["127.0.0.2", "127.0.0.4"], "fakedns on ::1", r)
    t.ok(dns.proc is None and gone(pid), "fakedns stopped on exit")


ZONE4 = """\
:127.0.0.2:Listed, see http://bl.test/?$
127.0.0.2
192.0.2.1
192.0.2.99 :127.0.0.4:Per-entry reason for $
"""
ZONE6 = """\
:127.0.0.2:IPv6 listed $
2001:db8:1::/64
::ffff:7f00:2
"""
ZONE_D = """\
:127.0.1.2:Domain $ listed
.bad.example
test
"""


def rbldnsd_tests():
    zones = {"bl.test": [("ip4set", ZONE4), ("ip6trie", ZONE6)],
             "bl6.test": ("ip6tset", "2001:db8:3:4\n"),
             "v6.test": ("ip6trie", ZONE6),
             "dbl.test": ("dnset", ZONE_D)}
    with Rbldnsd(zones, ttl=77) as rbl:
        p = rbl.port
        t.ok(p > 0, "rbldnsd answering on port %d" % p)
        t.eq(procnet.bound(rbl.proc.pid, "udp"), [("127.0.0.1", p)],
             "rbldnsd's port read from /proc is its only socket")
        r = query(p, "2.0.0.127.bl.test")
        t.ok(r == (NOERROR, ["127.0.0.2"], 77), "ip4set: 127.0.0.2 test point",
           r)
        r = query(p, "1.0.0.127.bl.test")
        t.ok(r.rcode == NXDOMAIN, "ip4set: 127.0.0.1 not listed", r)
        r = query(p, reverse_ip("192.0.2.1") + ".bl.test", "TXT")
        t.ok(r.answers == [b"Listed, see http://bl.test/?192.0.2.1"],
           "ip4set: default TXT with $ substituted", r)
        r = query(p, reverse_ip("192.0.2.99") + ".bl.test")
        t.ok(r.answers == ["127.0.0.4"], "ip4set: per-entry A value", r)
        r = query(p, reverse_ip("192.0.2.99") + ".bl.test", "TXT")
        t.ok(r.answers == [b"Per-entry reason for 192.0.2.99"],
           "ip4set: per-entry TXT", r)
        r = query(p, reverse_ip("192.0.2.2") + ".bl.test")
        t.ok(r.rcode == NXDOMAIN, "ip4set: not-listed address", r)
        name6 = reverse_ip("2001:db8:1::25") + ".bl.test"
        r = query(p, name6)
        t.ok(r.answers == ["127.0.0.2"], "ip6trie: IPv6 in a /64 listed", r)
        r = query(p, name6, "TXT")
        t.ok(r.answers == [b"IPv6 listed 2001:db8:1::25"], "ip6trie: TXT", r)
        r = query(p, reverse_ip("2001:db8:2::1") + ".bl.test")
        t.ok(r.rcode == NXDOMAIN, "ip6trie: other IPv6 not listed", r)
        # RFC 5782's IPv6 test point is IPv4-mapped: a zone with IPv4 data answers it
        # from that data alone (its TXT is the ip4set's), a zone of IPv6 data only
        # from an ip6trie that holds it.
        mapped = reverse_ip("::ffff:7f00:2")
        r = query(p, mapped + ".bl.test", "TXT")
        t.ok(r.answers == [b"Listed, see http://bl.test/?127.0.0.2"],
           "ip4set beside an ip6trie: RFC 5782 ::FFFF:7F00:2 answered from the IPv4 data", r)
        r = query(p, mapped + ".v6.test")
        t.ok(r.answers == ["127.0.0.2"], "ip6trie alone: RFC 5782 ::FFFF:7F00:2 listed", r)
        r = query(p, mapped + ".v6.test", "TXT")
        t.ok(len(r.answers) == 1 and r.answers[0].startswith(b"IPv6 listed "),
           "ip6trie alone: RFC 5782 ::FFFF:7F00:2's TXT is the ip6trie's", r)
        r = query(p, reverse_ip("::ffff:7f00:1") + ".v6.test")
        t.ok(r.rcode == NXDOMAIN, "ip6trie alone: RFC 5782 ::FFFF:7F00:1 not listed", r)
        r = query(p, reverse_ip("2001:db8:3:4::99") + ".bl6.test")
        t.ok(r.answers == ["127.0.0.2"], "ip6tset: address in a listed /64", r)
        r = query(p, reverse_ip("2001:db8:3:5::1") + ".bl6.test")
        t.ok(r.rcode == NXDOMAIN, "ip6tset: other /64 not listed", r)
        r = query(p, "spam.bad.example.dbl.test")
        t.ok(r.answers == ["127.0.1.2"], "dnset: subdomain of .bad.example", r)
        r = query(p, "bad.example.dbl.test", "TXT")
        t.ok(r.answers == [b"Domain bad.example listed"], "dnset: TXT", r)
        r = query(p, "test.dbl.test")
        t.ok(r.answers == ["127.0.1.2"], "dnset: RFC 5782 TEST point", r)
        r = query(p, "good.example.dbl.test")
        t.ok(r.rcode == NXDOMAIN, "dnset: not-listed domain", r)
        r = query(p, "x.other.test")
        t.ok(r.rcode == REFUSED, "zone not served: REFUSED", r)

        t.ok(rbl.count(reverse_ip("192.0.2.99") + ".bl.test") == 2
           and rbl.count(name6, "TXT") == 1,
           "queries() from rbldnsd's log", rbl.queries()[:4])
        t.ok(not any("dnslib-ctl" in q for q, _ in rbl.queries()),
           "control zone hidden from queries()")

        # Reload twice within one second, same file size the second time:
        # the mtime bump must still make rbldnsd notice.
        t0 = time.monotonic()
        rbl.reload("dbl.test", ("dnset", ":127.0.1.2:new\nnew.example\n"))
        t.ok(query(p, "new.example.dbl.test").answers == ["127.0.1.2"]
           and query(p, "bad.example.dbl.test").rcode == NXDOMAIN,
           "reload: new data served")
        rbl.reload("dbl.test", ("dnset", ":127.0.1.2:new\nnew.exampl2\n"))
        t.ok(query(p, "new.exampl2.dbl.test").answers == ["127.0.1.2"]
           and query(p, "new.example.dbl.test").rcode == NXDOMAIN,
           "reload: same size, same second")
        t.ok(time.monotonic() - t0 < 5, "reloads were quick")
        t.ok(rbl.count("new.exampl2.dbl.test") == 1
           and rbl.count(name6, "TXT") == 1,
           "query log survives the reload (SIGHUP reopens it)")
        t.ok(rbl.wait_queries(1, "new.exampl2.dbl.test", timeout=0.1)
           and not rbl.wait_queries(2, "new.exampl2.dbl.test", timeout=0.1),
           "wait_queries() on rbldnsd's log")

        old = rbl.proc.pid
        rbl.kill()
        t.ok(times_out(lambda: query(p, "2.0.0.127.bl.test", timeout=0.3)),
           "kill(): nothing answers on the port")
        rbl.restart()
        t.ok(rbl.proc.pid != old
           and query(p, "2.0.0.127.bl.test").answers == ["127.0.0.2"],
           "restart(): a new rbldnsd answers on the same port")
        pid = rbl.proc.pid
    t.ok(rbl.proc is None and gone(pid), "rbldnsd stopped on exit")


def wait_tests():
    started = time.monotonic()
    t.eq(poll_until(lambda: 0, 0.2), 0, "poll_until: the predicate's last value when it never holds")
    took = time.monotonic() - started
    t.ok(0.2 <= took < 1, "... once its timeout is over (%.2f s)" % took)
    calls = []
    poll_until(lambda: calls.append(1), 0.1, interval=0.01)
    t.ok(len(calls) <= 12, "... calling it at most timeout / interval + 2 times (%d)" % len(calls))
    t.eq(poll_until(lambda: "found", 5), "found", "poll_until: the first truthy value, at once")
    t.ok(raises(AssertionError, lambda: poll_until(lambda: None, 0.05, what="thing")),
         "poll_until(what=...): AssertionError when it never holds")
    started = time.monotonic()
    t.eq(poll_until(lambda: False, 5, gone=lambda: True), False, "poll_until(gone=...): ends the wait")
    t.ok(time.monotonic() - started < 0.5, "... at once")


def wire_tests():
    wire = encode_name("2.0.0.127.bl.test")
    t.eq(decode_name(b"\0" * 12 + wire, 12), ([b"2", b"0", b"0", b"127", b"bl", b"test"], 12 + len(wire)),
         "dnswire: a name decodes to what was encoded, and the offset after it")
    pointer = b"\0" * 12 + wire + b"\xc0\x0c"
    t.eq(decode_name(pointer, 12 + len(wire))[1], 12 + len(wire) + 2, "dnswire: a pointer ends the name where it stands")
    t.ok(raises(MalformedReply, lambda: decode_name(b"\0" * 12 + b"\xc0\x0c", 12, MalformedReply)),
         "dnswire: a pointer loop raises the caller's error")
    t.ok(raises(ValueError, lambda: decode_name(b"\0" * 12 + b"\x3f" + b"a" * 63 * 5, 12)),
         "dnswire: a name over 255 bytes raises")
    t.ok(raises(ValueError, lambda: decode_name(b"\0" * 12 + b"\x05ab", 12)),
         "dnswire: a label past the packet raises")


def unbound_tests():
    zones = {"bl.test": ("ip4set", ZONE4), "dbl.test": ("dnset", ZONE_D)}
    name = "2.0.0.127.bl.test"
    with Rbldnsd(zones, ttl=77) as rbl, dnslib.Unbound(list(zones), rbl.port) as ub:
        t.ok(ub.port and ub.port != rbl.port and ("127.0.0.1", ub.port) in procnet.bound(ub.proc.pid, "udp"),
             "unbound answers on a port of its own, read back from /proc", str(procnet.bound(ub.proc.pid, "udp")))
        r = query(ub.port, name)
        t.ok(r[:2] == (NOERROR, ["127.0.0.2"]) and 0 < r.ttl <= 77, "unbound: the stub zone's answer, TTL <= rbldnsd's", r)
        t.eq(rbl.peers(name), [(dnslib.UNBOUND_SOURCE, name, "A")],
             "rbldnsd was asked once, from unbound's source address")
        query(ub.port, name)
        t.eq(rbl.count(name), 1, "the same question again: answered from unbound's cache")
        t.eq(query(ub.port, "1.0.0.127.bl.test")[:2], (NXDOMAIN, []), "unbound: rbldnsd's NXDOMAIN")
        r = query(ub.port, "bad.example.dbl.test")
        t.eq(r[0], NOERROR, "unbound: a second stub zone (dnset)", r)
        pid = ub.proc.pid
    t.ok(not os.path.exists("/proc/%d" % pid) or " Z " in open("/proc/%d/stat" % pid).read(),
         "stop() ends unbound (by its PID)")
    saved = dnslib.VIA_UNBOUND
    dnslib.VIA_UNBOUND = True
    try:
        with Rbldnsd(zones) as rbl:
            t.eq(rbl.nameserver, "127.0.0.1:%d" % rbl.unbound.port,
                 "POLICYD_VIA_UNBOUND: an Rbldnsd puts unbound in front, and nameserver is unbound's")
            t.eq(query(rbl.unbound.port, name)[1], ["127.0.0.2"], "... answering this rbldnsd's zones")
            rbl.reload("bl.test", ("ip4set", "192.0.2.1\n"))
            r = query(rbl.unbound.port, name)
            t.eq(r[:2], (NXDOMAIN, []), "... reload() empties its cache: an entry removed (cached for "
                 "60 s) is gone through it at once", r)
            r = query(rbl.port, "1.2.0.192.bl.test")
            t.eq(r[1], ["127.0.0.2"], "... and rbldnsd's own port still answers directly", r)
    finally:
        dnslib.VIA_UNBOUND = saved


def main():
    t.run("wait tests", wait_tests)
    t.run("wire tests", wire_tests)
    t.run("fakedns tests", fake_tests)
    if os.path.exists("/usr/sbin/rbldnsd"):
        t.run("rbldnsd tests", rbldnsd_tests)
    else:
        t.ok(False, "rbldnsd installed (apt-get install rbldnsd)")
    if os.path.exists("/usr/sbin/rbldnsd") and os.path.exists(dnslib.UNBOUND):
        t.run("unbound tests", unbound_tests)
    else:
        t.ok(False, "rbldnsd and unbound installed (apt-get install rbldnsd unbound)")
    t.done()


if __name__ == "__main__":
    main()
