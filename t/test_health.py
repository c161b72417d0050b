#!/usr/bin/env python3
"""Integration: RFC 5782 health checks: a list whose test point
is not listed is disabled and refuses nobody; once it is fixed, a reload (SIGHUP)
checks it again at once and it is enabled and refuses again.

A second, healthy list (ok.test, which lists nobody) serves as the sentinel for
"the disabled list is not asked": a request for a fresh address makes policyd
query ok.test, and once the fake server has logged that query, every query sent
before it has been logged too."""

import signal

from lib.daemon import Policyd, Tap, request
from lib.dnslib import FakeDNS, reverse_ip

t = Tap()
ZONE = "bl.test"
SENTINEL_ZONE = "ok.test"
LISTED = {"name": f"{reverse_ip('192.0.2.10')}.{ZONE}", "a": ["127.0.0.2"]}
UNLISTED_POINT = {"name": f"1.0.0.127.{ZONE}", "action": "nxdomain"}
# ok.test passes its health check and lists nobody else (unmatched names: NXDOMAIN).
SENTINEL_LIST = [{"name": f"2.0.0.127.{SENTINEL_ZONE}", "a": ["127.0.0.2"]}]
BROKEN = [LISTED, UNLISTED_POINT, {"name": f"*.{ZONE}", "action": "nxdomain"}] + SENTINEL_LIST
FIXED = [LISTED, UNLISTED_POINT, {"name": f"2.0.0.127.{ZONE}", "a": ["127.0.0.2"]}, {"name": f"*.{ZONE}", "action": "nxdomain"}] + SENTINEL_LIST
WILDCARD = [{"name": f"*.{ZONE}", "a": ["127.0.0.2"]}]


def test_dead_then_fixed():
    with FakeDNS(BROKEN) as dns:
        d = Policyd(start=False)
        d.write_config(extra=f"[dns]\nnameserver = 127.0.0.1:{dns.port}\n[cache]\nerror_ttl = 0\nnegative_ttl = 0\n"
                             f"[dnsbl {ZONE}]\n[dnsbl {SENTINEL_ZONE}]\n")
        with d:
            d.start()
            t.ok(d.logged(rf"\[dnsbl {ZONE}\]: the test point that must be listed is NOT listed") is not None,
                 "a list whose 127.0.0.2 test point is not listed is disabled, loudly", d.log()[-1500:])
            d.wait_log(rf"\[dnsbl {SENTINEL_ZONE}\]: health check passed; list enabled")
            t.eq(d.ask(request("192.0.2.10")), "action=DUNNO", "a disabled list refuses nobody, not even a client it lists")
            sentinel = f"{reverse_ip('192.0.2.11')}.{SENTINEL_ZONE}"
            seen = d.sentinel(dns, sentinel, request("192.0.2.11"))
            t.ok(seen and dns.count(f"{reverse_ip('192.0.2.10')}.{ZONE}", "A") == 0,
                 "and is not even asked (none by the time the next request's query to ok.test came)",
                 f"sentinel {sentinel} logged: {seen}\n{dns.queries()}")
            dns.set_rules(FIXED)
            d.mark()
            d.signal(signal.SIGHUP)
            t.ok(d.logged(rf"\[dnsbl {ZONE}\]: health check passed; list enabled") is not None,
                 "after the list is fixed, SIGHUP checks it again at once and enables it", d.log()[d.log_offset:][-1500:])
            t.ok(d.ask(request("192.0.2.10")).startswith("action=REJECT"), "the re-enabled list refuses its listed client again")


def test_wildcard_then_fixed():
    with FakeDNS(WILDCARD) as dns:
        d = Policyd(start=False)
        d.write_config(extra=f"[dns]\nnameserver = 127.0.0.1:{dns.port}\n[dnsbl {ZONE}]\n")
        with d:
            d.start()
            t.ok(d.logged(rf"\[dnsbl {ZONE}\]: the test point that must not be listed IS listed") is not None,
                 "a list whose 127.0.0.1 test point is listed (a wildcard) is disabled, loudly", d.log()[-1500:])
            t.eq(d.ask(request("198.51.100.7")), "action=DUNNO", "a wildcard list (127.0.0.1 listed) refuses nobody")
            dns.set_rules(FIXED)
            d.mark()
            d.signal(signal.SIGHUP)
            d.wait_log(rf"\[dnsbl {ZONE}\]: health check passed; list enabled")
            t.eq(d.ask(request("198.51.100.7")), "action=DUNNO", "once fixed, a client it does not list passes")
            t.ok(d.ask(request("192.0.2.10")).startswith("action=REJECT"), "and a listed one is refused")


for fn in (test_dead_then_fixed, test_wildcard_then_fixed):
    t.run(fn.__name__, fn)
t.done()
