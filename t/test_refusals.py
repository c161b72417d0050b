#!/usr/bin/env python3
"""Integration: the answers by which list operators refuse our queries, from the
hostile fake DNS server (t/lib/fakedns.py).

Spamhaus answers 127.255.255.252 (typo in the zone), .254 (query through a
public resolver) and .255 (over quota); dnswl.org answers 127.0.0.255 to
blocked or over-quota resolvers; URIBL answers 127.0.0.1 (a list's
refused_codes). Such an answer counts neither as a listing nor as an
allowlisting: the list is disabled until its health check passes again, with one
error line that names the list, the answer and what it means, and
policyd_list_refusals_total counts it.

Each case gets its own fake server and daemon, waits for the health checks it
needs, and bounds every wait. Checks that a line was logged only once, or that a
list was not asked, use a sentinel instead of a sleep: a request that makes
policyd query the healthy list ok.test (which lists nobody). policyd sends and
reads every DNS packet on one UDP socket, in order, so once the reply to that
request has come, every answer sent before the sentinel's has been read.
"""

import os
import re
import signal

from lib.daemon import Policyd, Tap, request
from lib.dnslib import FakeDNS, reverse_ip

t = Tap()

BL = "bl.test"
WL = "wl.test"
SENTINEL = "ok.test"
HELP_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "help"))
LISTED = "192.0.2.10"  # every 192.0.2.x is listed on bl.test with 127.0.0.2 (unless a case says otherwise)


def points(zone):
    """The RFC 5782 test points of zone, answered as they must be."""
    return [
        {"name": f"2.0.0.127.{zone}", "qtype": "A", "a": ["127.0.0.2"], "ttl": 60},
        {"name": f"1.0.0.127.{zone}", "action": "nxdomain"},
    ]


def daemon(dns, lists, wait=(), http=False, policy=""):
    """A started policyd asking dns for `lists` (INI text) and ok.test; waits until
    every zone in `wait` and ok.test passed its health check."""
    d = Policyd(start=False)
    extra = (
        f"{policy}\n[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 2s\ntries = 1\n"
        "[cache]\nerror_ttl = 0\nnegative_ttl = 0\n"
        + (f"[http]\nlisten = inet:127.0.0.1:0\nmetrics_allow = 127.0.0.1/32\nhelp_dir = {HELP_DIR}\n" if http else "")
        + f"{lists}\n[dnsbl {SENTINEL}]\n"
    )
    d.write_config(extra=extra)
    d.start()
    try:
        for zone in tuple(wait) + (SENTINEL,):
            d.wait_log(rf"\[\w+ {re.escape(zone)}\]: health check passed; list enabled", timeout=10)
    except BaseException:
        d.__exit__(None, None, None)
        raise
    return d


def sentinel(d, dns, ip):
    """A request for a fresh client that policyd must ask ok.test about; True once
    the fake server logged that query (see the module's docstring)."""
    return d.sentinel(dns, f"{reverse_ip(ip)}.{SENTINEL}", request(ip))


def lines(d, pattern, since=0):
    """The log lines after offset `since` that match pattern."""
    return [l for l in d.log()[since:].splitlines() if re.search(pattern, l)]


def test_dnswl_refusal():
    """A dnswl that answers 127.0.0.255 (dnswl.org to a blocked resolver), with its
    default codes, allowlists nobody: a client that bl.test lists is refused."""
    rules = points(BL) + points(WL) + points(SENTINEL) + [
        {"name": f"*.2.0.192.{BL}", "a": ["127.0.0.2"], "txt": "Listed for testing"},
        {"name": f"*.{WL}", "a": ["127.0.0.255"]},
    ]
    with FakeDNS(rules) as dns, daemon(dns, f"[dnsbl {BL}]\n[dnswl {WL}]\n", wait=(BL, WL)) as d:
        since = d.mark()
        replies = [d.ask(request(f"192.0.2.{i}")) for i in range(10, 20)]
        t.ok(all(r.startswith("action=REJECT") for r in replies),
             "a client listed by bl.test and answered 127.0.0.255 by the dnswl is refused (10 of 10)",
             "\n".join(replies))
        t.ok(sentinel(d, dns, "198.51.100.1"), "the sentinel's query to ok.test came")
        found = lines(d, rf"\[dnswl {WL}\]: answered 127\.0\.0\.255", since)
        t.eq(len(found), 1, "one log line names the dnswl and 127.0.0.255, not one per request", d.log()[since:][-2000:])
        line = found[0] if found else ""
        t.ok("error" in line and "blocks our queries" in line and "disabled until its health check passes" in line,
             "... an error that says what the answer means and that the list is disabled", line)
        t.eq(dns.count(f"{reverse_ip('192.0.2.19')}.{WL}", "A"), 0,
             "the disabled dnswl is not asked again (none for the last client)", str(dns.queries()[-20:]))


def test_public_resolver():
    """A dnsbl that answers 127.255.255.254 to every query but its test points:
    never a refusal, one error line, counted, disabled until the check passes."""
    rules = points(BL) + points(SENTINEL) + [{"name": f"*.{BL}", "a": ["127.255.255.254"]}]
    with FakeDNS(rules) as dns, daemon(dns, f"[dnsbl {BL}]\n", wait=(BL,), http=True) as d:
        since = d.mark()
        replies = [d.ask(request(f"192.0.2.{i}")) for i in range(30, 50)]
        t.ok(all(r == "action=DUNNO" for r in replies), "20 requests answered 127.255.255.254: all DUNNO",
             "\n".join(replies))
        t.ok(sentinel(d, dns, "198.51.100.2"), "the sentinel's query to ok.test came")
        found = lines(d, rf"\[dnsbl {BL}\]: answered 127\.255\.255\.254", since)
        t.eq(len(found), 1, "one error line for 20 requests", d.log()[since:][-2000:])
        line = found[0] if found else ""
        t.ok(re.search(r"error: .*this list refuses queries from public resolvers: run a resolver of your own "
                       r"\(see README\) or use the operator's keyed service; disabled until its health check passes",
                       line) is not None, "... which says what the answer means and what to do", line)
        t.eq(dns.count(f"{reverse_ip('192.0.2.49')}.{BL}", "A"), 0, "the disabled list is not asked again",
             str(dns.queries()[-20:]))
        m = d.metrics()
        labels = f'{{list="{BL}",kind="dnsbl"}}'
        t.eq(m.get(f"policyd_list_refusals_total{labels}"), 1.0, "policyd_list_refusals_total counts the refusal")
        t.eq(m.get(f"policyd_list_enabled{labels}"), 0.0, "policyd_list_enabled shows the list disabled")
        t.eq(m.get(f"policyd_list_error_answers_total{labels}"), 0.0, "a refusal is not counted as an error answer")

        d.mark()
        d.signal(signal.SIGHUP)
        t.ok(d.logged(rf"\[dnsbl {BL}\]: health check passed; list enabled") is not None,
             "SIGHUP checks the disabled list again; its test points answer: enabled", d.log()[-1500:])
        t.eq(d.metrics().get(f"policyd_list_enabled{labels}"), 1.0, "policyd_list_enabled shows it enabled again")
        since = d.mark()
        t.eq(d.ask(request("192.0.2.60")), "action=DUNNO", "asked again, it refuses again: DUNNO")
        t.ok(d.logged(rf"\[dnsbl {BL}\]: answered 127\.255\.255\.254: this list refuses") is not None,
             "... and says so once more (the state changed)", d.log()[since:][-1500:])


def test_refused_codes():
    """refused_codes = 127.0.0.1 (URIBL's refusal): never counted, the list disabled."""
    rules = points(BL) + points(SENTINEL) + [
        {"name": f"{reverse_ip('192.0.2.70')}.{BL}", "a": ["127.0.0.1"]},
        {"name": f"*.2.0.192.{BL}", "a": ["127.0.0.2"], "txt": "Listed for testing"},
    ]
    lists = f"[dnsbl {BL}]\ncodes = 127.0.0.[1..2]\nrefused_codes = 127.0.0.1\n"
    with FakeDNS(rules) as dns, daemon(dns, lists, wait=(BL,)) as d:
        t.ok(d.ask(request("192.0.2.71")).startswith("action=REJECT"), "before: a client answered 127.0.0.2 is refused")
        since = d.mark()
        t.eq(d.ask(request("192.0.2.70")), "action=DUNNO",
             "an answer in refused_codes is not a listing, even inside codes: DUNNO")
        t.ok(d.logged(rf"error: \[dnsbl {BL}\]: answered 127\.0\.0\.1: an answer of refused_codes: the operator refuses "
                      r"our queries; disabled until its health check passes") is not None,
             "one error line names the list, the answer and refused_codes", d.log()[since:][-1500:])
        t.eq(d.ask(request("192.0.2.72")), "action=DUNNO", "the list is disabled: a client it lists passes")


def test_refused_test_point():
    """A list that answers 127.255.255.255 to everything, its test points too: the
    health check says so (not "no usable answer"), once, also when checked again."""
    rules = points(SENTINEL) + [{"name": f"*.{BL}", "a": ["127.255.255.255"]}]
    with FakeDNS(rules) as dns, daemon(dns, f"[dnsbl {BL}]\n") as d:
        m = d.logged(rf"\[dnsbl {BL}\]: answered 127\.255\.255\.255: this list says our queries are over its quota",
                     timeout=10)
        t.ok(m is not None, "a test point answered 127.255.255.255: logged as over quota", d.log()[-1500:])
        t.eq(lines(d, rf"\[dnsbl {BL}\]: health check got no usable answer"), [],
             "not as 'health check got no usable answer'")
        before = dns.count(f"2.0.0.127.{BL}", "A")
        d.signal(signal.SIGHUP)
        t.ok(dns.wait_sent(before + 1, f"2.0.0.127.{BL}", "A") and dns.wait_sent(before + 1, f"1.0.0.127.{BL}", "A"),
             "SIGHUP checks the refused list again")
        t.ok(sentinel(d, dns, "198.51.100.3"), "the sentinel's query to ok.test came (after the check's answers)")
        t.eq(len(lines(d, rf"\[dnsbl {BL}\]: answered 127\.255\.255\.255")), 1,
             "the same refusal again: no second line", d.log()[-1500:])
        t.eq(d.ask(request(LISTED)), "action=DUNNO", "the refused list refuses nobody")


for fn in (test_dnswl_refusal, test_public_resolver, test_refused_codes, test_refused_test_point):
    t.run(fn.__name__, fn)
t.done()
