#!/usr/bin/env python3
"""Integration: the lists' test points as sites run them.

- A list with its own test points (test_listed, test_unlisted) passes its
  health check where RFC 5782's points would fail it (a list that answers for
  127.0.0.1, as some do); `health = off` enables a list that has none at all.
- ipv6 = auto, the default: of two lists, the one that lists RFC 5782's IPv6
  test point ::FFFF:7F00:2 is asked about IPv6 clients, the one that does not is skipped for them (and
  --check says why) but still refuses the IPv4 clients it lists.
- The tripwire: with health_interval = 10m, a list that starts answering
  127.0.0.2 for everything, its unlisted test point included, is disabled
  within 30 s of the change once lookups find listings, with one log line; a
  list whose traffic is all hits, but which lists only what it should, is
  never tripped, and its unlisted test point is asked at most once per 10 s.
"""

import re
import subprocess
import time

from lib.daemon import POLICYD, Policyd, Tap, request
from lib.dnslib import FakeDNS, reverse_ip

t = Tap()

HEALTHY = "health check passed; list enabled"
TRIPPED = "the test point that must not be listed IS listed now"


def started(dns_port, lists, extra=""):
    """A started policyd asking the DNS server on dns_port about the given list sections."""
    d = Policyd(start=False)
    d.write_config(extra=f"[dns]\nnameserver = 127.0.0.1:{dns_port}\ntimeout = 1s\ntries = 1\n{extra}{lists}")
    d.start()
    return d


def test_own_points():
    # own.test answers for 127.0.0.1 and not for 127.0.0.2: RFC 5782's check fails it,
    # its own points 127.0.0.9 (listed) and 127.0.0.8 (not) pass. rfc.test is the same
    # list checked with RFC 5782's points. dom.test is an RHSBL with its own domains.
    # bare.test has no test point at all: health = off.
    rules = [
        {"name": "9.0.0.127.own.test", "a": ["127.0.0.2"]},
        {"name": "1.0.0.127.own.test", "a": ["127.0.0.2"]},
        {"name": "10.2.0.192.own.test", "a": ["127.0.0.2"]},
        {"name": "9.0.0.127.rfc.test", "a": ["127.0.0.2"]},
        {"name": "1.0.0.127.rfc.test", "a": ["127.0.0.2"]},
        {"name": "listed.example.dom.test", "a": ["127.0.0.2"]},
        {"name": "bad.example.dom.test", "a": ["127.0.0.2"]},
        {"name": "12.2.0.192.bare.test", "a": ["127.0.0.2"]},
    ]
    lists = ("[dnsbl own.test]\ntest_listed = 127.0.0.9\ntest_unlisted = 127.0.0.8\n"
             "[dnsbl rfc.test]\n"
             "[rhsbl dom.test]\ncheck = sender\ntest_listed = Listed.Example\ntest_unlisted = unlisted.example\n"
             "[dnsbl bare.test]\nhealth = off\n")
    with FakeDNS(rules) as dns, started(dns.port, lists) as d:
        t.ok(d.logged(rf"\[dnsbl own\.test\]: {HEALTHY}") is not None,
             "a list with its own test points passes where RFC 5782's would fail", d.log()[-1500:])
        t.ok(d.logged(r"\[dnsbl rfc\.test\]: the test point that must (not )?be listed") is not None,
             "the same list checked with RFC 5782's points fails", d.log()[-1500:])
        t.ok(d.logged(rf"\[rhsbl dom\.test\]: {HEALTHY}") is not None,
             "an RHSBL with its own test domains passes", d.log()[-1500:])
        t.ok(dns.count("9.0.0.127.own.test", "A") >= 1 and dns.count("8.0.0.127.own.test", "A") >= 1
             and dns.count("2.0.0.127.own.test") == 0 and dns.count("1.0.0.127.own.test") == 0,
             "its own points are asked, RFC 5782's are not", str(dns.queries()))
        t.ok(dns.count("listed.example.dom.test") >= 1 and dns.count("unlisted.example.dom.test") >= 1,
             "the RHSBL's test domains are asked (lower case)", str(dns.queries()))
        t.ok(d.logged(r"\[dnsbl bare\.test\]: health = off: enabled without health checks") is not None,
             "health = off is said once, with the risk", d.log()[-1500:])
        t.ok(dns.count("2.0.0.127.bare.test") == 0 and dns.count("1.0.0.127.bare.test") == 0,
             "health = off: its IPv4 test points are never asked", str(dns.queries()))
        reply = d.ask(request("192.0.2.10"))
        t.ok(reply.startswith("action=REJECT") and "own.test" in reply,
             "the list with its own points refuses the client it lists", reply)
        t.ok(d.ask(request("192.0.2.99", sender="a@bad.example")).startswith("action=REJECT"),
             "and so does the RHSBL")
        reply = d.ask(request("192.0.2.12"))
        t.ok(reply.startswith("action=REJECT") and "bare.test" in reply,
             "the list with health = off is asked and refuses the client it lists", reply)


# v6.test lists the IPv6 test point ::FFFF:7F00:2; v4.test would list IPv6 clients if
# asked, but not the test point. From the fake server: rbldnsd answers an IPv4-mapped
# name such as the IPv6 test point from its IPv4 datasets (its ip4set's 127.0.0.2),
# never from an ip6trie, so every list it serves with 127.0.0.2 "lists" it.
V6_LISTED = "2.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20
V6_UNLISTED = "1.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20
BAD_NET = "d.a.b.0.8.b.d.0.1.0.0.2"  # 2001:db8:bad::/48, reversed
V6_RULES = [
    {"name": "2.0.0.127.v6.test", "a": ["127.0.0.2"]},
    {"name": f"{V6_LISTED}.v6.test", "a": ["127.0.0.2"]},
    {"name": f"*.{BAD_NET}.v6.test", "a": ["127.0.0.2"]},
    {"name": "2.0.0.127.v4.test", "a": ["127.0.0.2"]},
    {"name": "11.2.0.192.v4.test", "a": ["127.0.0.2"]},
    {"name": f"*.{BAD_NET}.v4.test", "a": ["127.0.0.2"]},
]


def check(d, addr):
    p = subprocess.run([POLICYD, "-c", d.config, "--check", addr], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout.splitlines(), p.stderr


def test_ipv6_auto():
    addr = "2001:db8:bad::25"
    with FakeDNS(V6_RULES) as r, started(r.port, "[dnsbl v6.test]\n[dnsbl v4.test]\n") as d:
        t.ok(d.logged(rf"\[dnsbl v6\.test\]: {HEALTHY}") and d.logged(r"\[dnsbl v6\.test\]: IPv6 clients are asked") is not None,
             "a list that lists ::FFFF:7F00:2: enabled, and said to be asked about IPv6 clients", d.log()[-1500:])
        t.ok(d.logged(rf"\[dnsbl v4\.test\]: {HEALTHY}") and d.logged(r"\[dnsbl v4\.test\]: IPv6 clients are not asked: no IPv6 data") is not None,
             "a list that does not: enabled, IPv6 clients not asked (no IPv6 data)", d.log()[-1500:])
        t.ok(r.count(f"{V6_LISTED}.v4.test") >= 1 and r.count(f"{V6_UNLISTED}.v4.test") >= 1,
             "both IPv6 test points are asked (ipv6 = auto is the default)",
             str(r.queries()))
        reply = d.ask(request(addr))
        t.ok(reply.startswith("action=REJECT") and "v6.test" in reply,
             "an IPv6 client listed by the list with IPv6 data is refused", reply)
        seen = d.sentinel(r, f"{reverse_ip('2001:db8:bad::26')}.v6.test", request("2001:db8:bad::26"))
        t.ok(seen and r.count(f"{reverse_ip(addr)}.v4.test") == 0 and r.count(f"{reverse_ip('2001:db8:bad::26')}.v4.test") == 0,
             "the list without IPv6 data is not asked about IPv6 clients", str(r.queries()[-10:]))
        reply = d.ask(request("192.0.2.11"))
        t.ok(reply.startswith("action=REJECT") and "v4.test" in reply,
             "but it still refuses the IPv4 clients it lists", reply)
        log = d.log()
        t.eq(len(re.findall(r"\[dnsbl v4\.test\]: .*IPv6 clients", log)), 1,
             "whether IPv6 is asked is said once per list")
        rc, out, err = check(d, "2001:db8:bad::27")
        line = next((l for l in out if l.startswith("dnsbl v4.test:")), "")
        t.ok("no IPv6 data" in line, "--check of an IPv6 address says why the list was not asked",
             "\n".join(out) + err)
        line = next((l for l in out if l.startswith("dnsbl v6.test:")), "")
        t.ok(re.search(r"\blisted\b", line) and "not listed" not in line, "--check: the list with IPv6 data is asked",
             "\n".join(out) + err)


def client(i):
    return f"10.0.{i // 250}.{i % 250 + 1}"


def test_tripwire():
    # hits.test lists every 10/8 client (all its traffic is hits) and not 127.0.0.1;
    # trip.test lists nobody at first, then everything, its unlisted point included.
    hits = [{"name": "1.0.0.127.hits.test", "action": "nxdomain"},
            {"name": "2.0.0.127.hits.test", "a": ["127.0.0.2"]},
            {"name": "*.10.hits.test", "a": ["127.0.0.2"]}]
    trip_ok = [{"name": "2.0.0.127.trip.test", "a": ["127.0.0.2"]}]
    trip_wild = [{"name": "*.trip.test", "a": ["127.0.0.2"]}]
    lists = "[dnsbl hits.test]\nweight = 1\n[dnsbl trip.test]\nweight = 2\n"
    extra = "health_interval = 10m\n[cache]\nnegative_ttl = 0\nerror_ttl = 0\n"
    with FakeDNS(hits + trip_ok) as dns, started(dns.port, lists, extra=extra) as d:
        d.wait_log(rf"\[dnsbl hits\.test\]: {HEALTHY}")
        d.wait_log(rf"\[dnsbl trip\.test\]: {HEALTHY}")
        begun = time.monotonic()
        unlisted = "1.0.0.127.hits.test"
        asks = [(begun, dns.count(unlisted))]
        i = 0
        reply = d.ask(request(client(i)))
        t.ok(reply.startswith("action=REJECT") and "hits.test" in reply, "hits.test refuses its clients", reply)
        dns.set_rules(hits + trip_wild)
        changed = time.monotonic()
        tripped_at = None
        # Hits flow on both lists: a fresh client every 0.2 s, until trip.test is
        # tripped (at most 30 s) and hits.test has been watched for 12 s.
        while time.monotonic() - changed < 30:
            i += 1
            reply = d.ask(request(client(i)))
            n = dns.count(unlisted)
            if n != asks[-1][1]:
                asks.append((time.monotonic(), n))
            if tripped_at is None and re.search(rf"\[dnsbl trip\.test\]: {TRIPPED}", d.log()):
                tripped_at = time.monotonic()
            if tripped_at is not None and time.monotonic() - begun >= 12.5:
                break
            time.sleep(0.2)
        t.ok(tripped_at is not None and tripped_at - changed <= 30,
             "a list that starts listing everything is disabled within 30 s of the change (health_interval = 10m)",
             f"tripped {tripped_at and round(tripped_at - changed, 1)} s after the change\n{d.log()[-1500:]}")
        log = d.log()
        t.eq(len(re.findall(rf"\[dnsbl trip\.test\]: {TRIPPED}", log)), 1, "with one log line")
        reply = d.ask(request("198.51.100.7"))
        t.eq(reply, "action=DUNNO", "a client only the tripped list would refuse is no longer refused")
        reply = d.ask(request(client(i + 1)))
        t.ok(reply.startswith("action=REJECT") and "hits.test" in reply and "trip.test" not in reply,
             "hits.test still refuses its clients, and trip.test no longer counts", reply)
        t.ok(not re.search(r"\[dnsbl hits\.test\]: the test point", log),
             "a list whose traffic is all hits is not tripped", log[-1500:])
        # The initial health check asked each unlisted point once, just before `begun`.
        window = time.monotonic() - begun
        extra = asks[-1][1] - asks[0][1]
        t.ok(extra >= 1, "hits.test's unlisted test point is asked again while it answers hits",
             f"{asks}; queries {dns.queries()[-10:]}")
        t.ok(extra <= window // 10 + 1 and all(s == 1 for s in (b[1] - a[1] for a, b in zip(asks, asks[1:]))),
             f"at most one query per 10 s ({extra} in {window:.1f} s), one at a time", str(asks))
        t.ok(len(asks) < 2 or asks[1][0] - begun >= 8 and all(b[0] - a[0] >= 9.5 for a, b in zip(asks[1:], asks[2:])),
             "the first 10 s after the health check, and 10 s apart", str([(round(x - begun, 1), n) for x, n in asks]))
        trip_asks = dns.count("1.0.0.127.trip.test")
        t.ok(trip_asks <= 1 + window // 10 + 1, f"trip.test's unlisted point too ({trip_asks} queries)")


for fn in (test_own_points, test_ipv6_auto, test_tripwire):
    t.run(fn.__name__, fn)
t.done()
