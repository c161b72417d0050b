#!/usr/bin/env python3
"""Integration: the verdict cache and coalesced lookups.

A fake DNS server counts every query, so each check says how many queries a
scenario must cost: a cached verdict costs none, a new key one per list, a
hundred concurrent requests for one new key still one per list."""

import os
import signal
import socket
import time

from lib.daemon import Policyd, Tap, read_replies, request
from lib.dnslib import FakeDNS, reverse_ip

t = Tap()
ZONE = "bl.test"


def rules(extra=(), ttl=300):
    """Health-check points, then the scenario's own names."""
    return list(extra) + [
        {"name": f"2.0.0.127.{ZONE}", "a": ["127.0.0.2"]},
        {"name": f"1.0.0.127.{ZONE}", "action": "nxdomain"},
        {"name": f"*.{ZONE}", "action": "nxdomain"},
    ]


def listed(addr, ttl=300, delay_ms=0, txt="Listed for a test"):
    rule = {"name": f"{reverse_ip(addr)}.{ZONE}", "a": ["127.0.0.2"], "txt": txt, "ttl": ttl}
    if delay_ms:
        rule["delay_ms"] = delay_ms
    return rule


def name_of(addr):
    return f"{reverse_ip(addr)}.{ZONE}"


def daemon(dns, cache="", server=""):
    d = Policyd(start=False)
    d.write_config(
        server=server,
        extra=f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 2s\ntries = 1\n[cache]\n{cache}\n[dnsbl {ZONE}]\n",
    )
    d.start()
    d.wait_log(rf"\[dnsbl {ZONE}\]: health check passed")
    return d


def test_hit_costs_nothing_and_text_is_identical():
    with FakeDNS(rules([listed("192.0.2.10")])) as dns, daemon(dns) as d:
        first = d.ask(request("192.0.2.10"))
        d.mark()
        second = d.ask(request("192.0.2.10", helo_name="vm"))
        t.ok(first.startswith("action=REJECT 5.7.1"), "a listed client is refused", first)
        t.eq(second, first, "the cached verdict gives exactly the same reply text")
        t.eq(dns.count(name_of("192.0.2.10"), "A"), 1, "one A query for two requests")
        t.eq(dns.count(name_of("192.0.2.10"), "TXT"), 1, "one TXT query for two requests")
        t.ok(d.logged(r"reject: client=[^\[\s]*\[192\.0\.2\.10\].* cached=yes") is not None,
             "the second decision is logged with cached=yes", d.log()[d.log_offset:][-1500:])
        clean = [d.ask(request("192.0.2.20")) for _ in range(3)]
        t.eq(clean, ["action=DUNNO"] * 3, "a clean client passes three times")
        t.eq(dns.count(name_of("192.0.2.20"), "A"), 1, "and costs one query (negative answers are cached)")


def test_ttl_clamp_and_expiry():
    """Expiry counts whole seconds: an entry lives at least its TTL and less than
    one second more, so the waits below step past TTL + 1 s."""
    # The list says TTL 300 s; max_ttl = 4s clamps it. negative_ttl = 1s.
    with FakeDNS(rules([listed("192.0.2.30", ttl=300)])) as dns, daemon(dns, "min_ttl = 1s\nmax_ttl = 4s\nnegative_ttl = 1s\n") as d:
        started = time.monotonic()
        d.ask(request("192.0.2.30"))
        d.ask(request("192.0.2.31"))
        d.ask(request("192.0.2.30"))
        t.eq(dns.count(name_of("192.0.2.30"), "A"), 1, "within the TTL: answered from the cache")
        time.sleep(max(0, started + 2.1 - time.monotonic()))  # the passing of time is the point here
        d.ask(request("192.0.2.31"))
        d.ask(request("192.0.2.30"))
        t.eq(dns.count(name_of("192.0.2.31"), "A"), 2, "a not-listed verdict expires after negative_ttl (1 s)")
        t.eq(dns.count(name_of("192.0.2.30"), "A"), 1, "a listed one is still cached (clamped to 4 s, not 1 s)")
        time.sleep(max(0, started + 5.1 - time.monotonic()))
        d.ask(request("192.0.2.30"))
        t.eq(dns.count(name_of("192.0.2.30"), "A"), 2, "the DNS TTL of 300 s is clamped to max_ttl = 4 s")

    # A TTL below min_ttl is raised to it.
    with FakeDNS(rules([listed("192.0.2.32", ttl=1)])) as dns, daemon(dns, "min_ttl = 4s\n") as d:
        started = time.monotonic()
        d.ask(request("192.0.2.32"))
        time.sleep(max(0, started + 2.1 - time.monotonic()))
        d.ask(request("192.0.2.32"))
        t.eq(dns.count(name_of("192.0.2.32"), "A"), 1, "a DNS TTL of 1 s is raised to min_ttl = 4 s")


def test_error_ttl():
    bad = {"name": name_of("192.0.2.40"), "action": "servfail"}
    with FakeDNS(rules([bad])) as dns, daemon(dns, "error_ttl = 1s\n") as d:
        t.eq(d.ask(request("192.0.2.40")), "action=DUNNO", "SERVFAIL: the client passes")
        d.ask(request("192.0.2.40"))
        t.eq(dns.count(name_of("192.0.2.40"), "A"), 1, "the failure is cached (error_ttl)")
        time.sleep(2.1)  # error_ttl = 1 s, counted in whole seconds
        d.ask(request("192.0.2.40"))
        t.eq(dns.count(name_of("192.0.2.40"), "A"), 2, "and asked again after error_ttl = 1 s")


def test_eviction_order():
    with FakeDNS(rules()) as dns, daemon(dns, "size = 2\n") as d:
        for addr in ("192.0.2.51", "192.0.2.52", "192.0.2.51", "192.0.2.53"):
            d.ask(request(addr))
        # 51 was used after 52, so 52 was the least recently used when 53 came.
        d.ask(request("192.0.2.51"))
        t.eq(dns.count(name_of("192.0.2.51"), "A"), 1, "size = 2: the recently used entry stays")
        d.ask(request("192.0.2.52"))
        t.eq(dns.count(name_of("192.0.2.52"), "A"), 2, "size = 2: the least recently used entry was evicted")
        d.mark()
        d.signal(signal.SIGUSR1)
        m = d.logged(r"cache entries=(\d+)/(\d+) hits=(\d+) misses=(\d+) coalesced=\d+ evictions=(\d+)")
        t.ok(m is not None and m.group(1) == "2" and m.group(2) == "2" and int(m.group(5)) >= 2,
             "SIGUSR1 logs the cache counters", m.group(0) if m else d.log()[d.log_offset:][-1500:])


def test_coalescing():
    slow = listed("192.0.2.60", delay_ms=600)
    with FakeDNS(rules([slow])) as dns, daemon(dns) as d:
        socks = [d.connect("tcp" if i % 2 else "unix") for i in range(100)]
        for s in socks:
            s.sendall(request("192.0.2.60"))
        replies = [read_replies(s, 1)[0] for s in socks]
        for s in socks:
            s.close()
        t.ok(all(r.startswith("action=REJECT") for r in replies), "100 concurrent requests for one new address are all refused")
        t.eq(len(set(replies)), 1, "with one and the same text")
        t.eq(dns.count(name_of("192.0.2.60"), "A"), 1, "100 concurrent requests: one A query")
        t.eq(dns.count(name_of("192.0.2.60"), "TXT"), 1, "and one TXT query")
        d.mark()
        d.signal(signal.SIGUSR1)
        m = d.logged(r"coalesced=(\d+)")
        t.ok(m is not None and int(m.group(1)) >= 90, f"the statistics count the coalesced waits ({m and m.group(1)})",
             d.log()[d.log_offset:][-1500:])


def test_coalesced_waiters_keep_their_deadline():
    """A request that joins a slow lookup still gets its answer by request_timeout."""
    slow = listed("192.0.2.65", delay_ms=1800)
    with FakeDNS(rules([slow])) as dns, daemon(dns, server="request_timeout = 500ms\n") as d:
        a = d.connect("tcp")
        a.sendall(request("192.0.2.65"))
        started = time.monotonic()
        b = d.connect("tcp")
        b.sendall(request("192.0.2.65"))
        rb = read_replies(b, 1)
        took = time.monotonic() - started
        ra = read_replies(a, 1)
        t.eq((ra, rb), (["action=DUNNO"], ["action=DUNNO"]), "both waiters answered on_error at their deadline")
        t.ok(took < 0.9, f"the joining request was answered by its own deadline ({took:.2f} s)")
        a.close()
        b.close()
        # The lookup goes on after the deadline and fills the cache. Once the fake
        # server has sent its (late) TXT answer, a sentinel request for a fresh
        # address: its answer reaches policyd's DNS socket after the late one, so
        # when the sentinel is answered the late answer has been taken in.
        sent = dns.wait_sent(1, name_of("192.0.2.65"), "TXT", timeout=8)
        d.ask(request("192.0.2.66"))
        reply = d.ask(request("192.0.2.65"))
        t.ok(sent and reply.startswith("action=REJECT"), "the lookup finished after the deadline and its verdict is cached",
             f"late TXT answer sent: {sent}; reply: {reply}")
        t.eq(dns.count(name_of("192.0.2.65"), "A"), 1, "still a single A query")


def test_reload_flush():
    with FakeDNS(rules([listed("192.0.2.70")])) as dns, daemon(dns) as d:
        d.ask(request("192.0.2.70"))
        text = open(d.config).read()
        d.mark()
        d.write_config(text=text + "\n")  # same lists, same codes
        d.signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        d.ask(request("192.0.2.70"))
        t.eq(dns.count(name_of("192.0.2.70"), "A"), 1, "a reload that keeps the lists keeps the cache")
        d.mark()
        d.write_config(text=text.replace(f"[dnsbl {ZONE}]\n", f"[dnsbl {ZONE}]\ncodes = 127.0.0.[2..3]\n"))
        d.signal(signal.SIGHUP)
        d.wait_log("the verdict cache is emptied")
        d.wait_log("configuration reloaded")
        d.ask(request("192.0.2.70"))
        t.eq(dns.count(name_of("192.0.2.70"), "A"), 2, "a reload that changes the codes empties the cache")


def test_size_zero():
    with FakeDNS(rules()) as dns, daemon(dns, "size = 0\n") as d:
        d.ask(request("192.0.2.80"))
        d.ask(request("192.0.2.80"))
        t.eq(dns.count(name_of("192.0.2.80"), "A"), 2, "size = 0: nothing is cached")


for fn in (
    test_hit_costs_nothing_and_text_is_identical,
    test_ttl_clamp_and_expiry,
    test_error_ttl,
    test_eviction_order,
    test_coalescing,
    test_coalesced_waiters_keep_their_deadline,
    test_reload_flush,
    test_size_zero,
):
    t.run(fn.__name__, fn)
t.done()
