#!/usr/bin/env python3
"""Integration: DNS lists (block, allow, RHSBL) against a real rbldnsd on loopback.

Every scenario starts its own rbldnsd (so its query log counts only that
scenario's queries) and one or more policyd processes pointed at it, waits for
the RFC 5782 health check of every list, then asks. Fresh client addresses are
used wherever query counts are asserted, so a verdict cache cannot hide a query.

A check that some query was never sent uses a sentinel, not a sleep: one more
request for a fresh name that policyd must query (sentinel() below). policyd
sends its queries in order on one socket and rbldnsd logs them in arrival
order, so once the sentinel is in rbldnsd's log every earlier query is too.
"""

import re
import subprocess
import time

from lib.daemon import POLICYD, Policyd, Tap, read_replies, request
from lib.dnslib import UNBOUND_SOURCE, Rbldnsd, reverse_ip

t = Tap()

HELP = "https://www.example.org/blacklisted.html?ip="
CONTACT = "postmaster@example.org"

# Every zone lists its test point (127.0.0.2 / "test") and not 127.0.0.1 / "invalid",
# except dead.test, which must fail its health check.
BL4 = """:127.0.0.2:Listed: see http://bl.test/lookup?$
127.0.0.2
192.0.2.10 :127.0.0.3:Spam trap hit from $
192.0.2.20 :127.0.0.20:Outside the filter
192.0.2.30 :127.255.255.253:An error code
192.0.2.50 :127.0.0.2:Open proxy at $
192.0.2.60 :127.0.0.2:Also on the allowlist
192.0.2.80 :127.0.0.2:Local and DNS
192.0.2.81 :127.0.0.2:Locally allowed
192.0.2.85 :127.0.0.2:Checked again
203.0.113.0/25 :127.0.0.2:Pipelined $
"""
BL6 = "2001:db8:bad::/48 :127.0.0.4:IPv6 source $ listed\n"
ZONES = {
    "bl.test": [("ip4set", BL4), ("ip6trie", BL6)],
    "w1.test": ("ip4set", ":127.0.0.2:First of two\n127.0.0.2\n198.51.100.1\n198.51.100.2\n"),
    "w2.test": ("ip4set", ":127.0.0.2:Second of two\n127.0.0.2\n198.51.100.2\n"),
    "wl.test": ("ip4set", ":127.0.0.2:Known good\n127.0.0.2\n192.0.2.60\n"),
    "hu.test": ("ip4set", ":127.0.0.2:Listed on hu\n127.0.0.2\n192.0.2.70\n"),
    "dead.test": ("ip4set", ":127.0.0.2:Should never count\n192.0.2.40\n"),
    "dbl.test": ("dnset", ":127.0.1.2:Spam domain\ntest\nbad.example\nbad-helo.example\n"),
}


def daemon(r, lists, policy="", disabled=(), local=None):
    """A started policyd using rbldnsd `r`; lists are (kind, zone, body) INI sections.

    Waits for the health check of every DNS list: passed, or for the zones in
    `disabled`, the "NOT listed" error. local = (weight, reason, lines) adds [list local].
    """
    d = Policyd(start=False)
    extra = f"{policy}\n[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\n"
    for kind, zone, body in lists:
        extra += f"[{kind} {zone}]\n{body}\n"
    if local is not None:
        weight, reason, lines = local
        path = f"{d.dir}/local.cidr"
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        extra += f"[list local]\nfile = {path}\nweight = {weight}\nreason = {reason}\n"
    d.write_config(extra=extra)
    d.start()
    try:
        for kind, zone, _ in lists:
            z = re.escape(zone)
            if zone in disabled:
                d.wait_log(rf"\[{kind} {z}\]: the test point that must be listed is NOT listed")
            else:
                d.wait_log(rf"\[{kind} {z}\]: health check passed; list enabled")
    except BaseException:
        d.__exit__(None, None, None)
        raise
    return d


def reject_text(addr, zone, reason, help_url=None, listed=None):
    """The default reply: `listed` names what is listed ("sender domain x"); the host by default."""
    help_url = help_url or HELP + addr
    listed = listed or f"host [{addr}]"
    zone = "this site" if zone == "local" else zone
    return (
        f"action=REJECT 5.7.1 Your {listed} is blacklisted by {zone}: {reason}. "
        f"See {help_url} or send your questions to {CONTACT}"
    )


def wait_count(r, name, qtype, n, timeout=3):
    """Wait (bounded) until rbldnsd logged at least n queries for name/qtype; return the count."""
    r.wait_queries(n, name, qtype, timeout)
    return r.count(name, qtype)


def sentinel(d, r, addr, zone="bl.test", **attrs):
    """Ask d about `addr`, a client never asked before (unlisted), and wait until
    rbldnsd logged policyd's query for it on `zone` (an enabled DNSBL of d). True
    once it did: every query policyd sent before is then in rbldnsd's log too."""
    return d.sentinel(r, f"{reverse_ip(addr)}.{zone}", request(addr, **attrs))


def rhs_sentinel(d, r, helo, zone="dbl.test"):
    """The same for an RHSBL checking helo: a fresh helo name must be queried."""
    return d.sentinel(r, f"{helo}.{zone}", request("192.0.2.209", sender="joe@clean.example", helo_name=helo))


def check(d, addr, *args):
    """policyd --check ADDR ...: (exit code, stdout lines)."""
    p = subprocess.run(
        [POLICYD, "-c", d.config, "--check", addr, *args], capture_output=True, text=True, timeout=20
    )
    return p.returncode, p.stdout.splitlines(), p.stderr


def line_for(lines, prefix):
    return next((l for l in lines if l.startswith(prefix)), "")


def test_ipv4_and_text():
    with Rbldnsd(ZONES) as r, daemon(r, [("dnsbl", "bl.test", "codes = 127.0.0.[2..11]")]) as d:
        t.eq(
            d.ask(request("192.0.2.10")),
            reject_text("192.0.2.10", "bl.test", "Spam trap hit from 192.0.2.10"),
            "IPv4 listed: REJECT with the zone, rbldnsd's TXT reason, the default help_url with the address, the contact",
        )
        t.eq(d.ask(request("192.0.2.11")), "action=DUNNO", "IPv4 not listed: DUNNO")
        t.eq(
            d.ask(request("192.0.2.50")),
            reject_text("192.0.2.50", "bl.test", "Open proxy at 192.0.2.50"),
            "a second listed address gets its own TXT reason",
        )
        # Who asked rbldnsd: policyd itself, or (POLICYD_VIA_UNBOUND=1) the unbound
        # in front of it, whose queries leave from UNBOUND_SOURCE.
        peers = {p for p, _, _ in r.peers(reverse_ip("192.0.2.10") + ".bl.test")}
        if r.unbound:
            t.eq(peers, {UNBOUND_SOURCE}, f"policyd asked unbound ({r.nameserver}): rbldnsd "
                 f"heard of 192.0.2.10 from unbound's {UNBOUND_SOURCE} alone")
        else:
            t.eq(peers, {"127.0.0.1"}, f"policyd asked rbldnsd ({r.nameserver}) itself")


def test_codes_filter():
    with Rbldnsd(ZONES) as r, daemon(r, [("dnsbl", "bl.test", "codes = 127.0.0.[2..11]")]) as d:
        rep = d.ask(request("192.0.2.10"))
        t.ok(rep.startswith("action=REJECT 5.7.1 Your host [192.0.2.10] is blacklisted by bl.test"),
             "answer 127.0.0.3 is inside codes = 127.0.0.[2..11]: REJECT", rep)
        t.eq(d.ask(request("192.0.2.20")), "action=DUNNO", "answer 127.0.0.20 is outside codes = 127.0.0.[2..11]: DUNNO")
    with Rbldnsd(ZONES) as r, daemon(r, [("dnsbl", "bl.test", "codes = 127.0.0.20")]) as d:
        rep = d.ask(request("192.0.2.20"))
        t.ok(rep.startswith("action=REJECT 5.7.1 Your host [192.0.2.20] is blacklisted by bl.test: Outside the filter."),
             "with codes = 127.0.0.20 the same answer 127.0.0.20 refuses", rep)
        t.eq(d.ask(request("192.0.2.10")), "action=DUNNO", "and 127.0.0.3 is then outside the filter: DUNNO")


def test_ipv6():
    addr = "2001:db8:bad::25"
    with Rbldnsd(ZONES) as r:
        name = reverse_ip(addr) + ".bl.test"
        with daemon(r, [("dnsbl", "bl.test", "codes = 127.0.0.[2..11]\nipv6 = no")]) as d:
            t.eq(d.ask(request(addr)), "action=DUNNO", "IPv6 client on a list with ipv6 = no: DUNNO")
            seen = sentinel(d, r, "192.0.2.240")
            t.ok(seen and r.count(name) == 0,
                 "... and the list is not queried for it (none in rbldnsd's log when the next request's query came)",
                 f"sentinel logged: {seen}; queries: {r.queries()[-10:]}")
        with daemon(r, [("dnsbl", "bl.test", "codes = 127.0.0.[2..11]\nipv6 = yes")]) as d:
            t.eq(
                d.ask(request(addr)),
                reject_text(addr, "bl.test", f"IPv6 source {addr} listed"),
                "IPv6 client listed (ip6trie) on a list with ipv6 = yes: REJECT",
            )
            t.eq(wait_count(r, name, "A", 1), 1, "... queried once with 32 reversed nibbles")
            t.eq(d.ask(request("2001:db8::25")), "action=DUNNO", "IPv6 client not listed, ipv6 = yes: DUNNO")


def test_weights():
    lists = [("dnsbl", "w1.test", "weight = 1"), ("dnsbl", "w2.test", "weight = 1")]
    with Rbldnsd(ZONES) as r, daemon(r, lists, policy="[policy]\nthreshold = 2\n") as d:
        t.eq(d.ask(request("198.51.100.1")), "action=DUNNO", "threshold = 2: one list of weight 1 hits: DUNNO")
        rep = d.ask(request("198.51.100.2"))
        t.ok(
            rep.startswith("action=REJECT 5.7.1 Your host [198.51.100.2] is blacklisted by w")
            and ("by w1.test: First of two." in rep or "by w2.test: Second of two." in rep),
            "threshold = 2: both lists of weight 1 hit: REJECT",
            rep,
        )
        t.eq(d.ask(request("198.51.100.3")), "action=DUNNO", "threshold = 2: no list hits: DUNNO")


def test_allowlist():
    lists = [("dnsbl", "bl.test", ""), ("dnswl", "wl.test", "weight = -5")]
    with Rbldnsd(ZONES) as r, daemon(r, lists) as d:
        t.eq(d.ask(request("192.0.2.60")), "action=DUNNO", "a [dnswl] hit (weight -5) overrides a blocklist hit: DUNNO")
        name = reverse_ip("192.0.2.60") + ".wl.test"
        t.eq(wait_count(r, name, "A", 1), 1, "... the allowlist was queried once")
        seen = sentinel(d, r, "192.0.2.244")
        t.ok(seen and r.count(name, "TXT") == 0, "... and no TXT is fetched for an allowlist hit (no reply text needs it)",
             f"sentinel logged: {seen}; queries: {r.queries()[-10:]}")
        t.ok(d.ask(request("192.0.2.50")).startswith("action=REJECT"), "the blocklist alone still refuses")


def test_rhsbl():
    with Rbldnsd(ZONES) as r:
        with daemon(r, [("rhsbl", "dbl.test", "check = sender, helo\ncodes = 127.0.1.[2..99]")]) as d:
            rep = d.ask(request("192.0.2.200", sender="joe@bad.example"))
            t.eq(rep, reject_text("192.0.2.200", "dbl.test", "Spam domain", listed="sender domain bad.example"),
                 "RHSBL: sender domain listed: REJECT naming the sender domain, not the host")
            t.eq(wait_count(r, "bad.example.dbl.test", "A", 1), 1, "... the sender domain was queried as bad.example.dbl.test")
            rep = d.ask(request("192.0.2.201", sender="joe@clean.example", helo_name="bad-helo.example"))
            t.eq(rep, reject_text("192.0.2.201", "dbl.test", "Spam domain", listed="HELO name bad-helo.example"),
                 "RHSBL: helo name listed: REJECT naming the HELO name")
            t.eq(
                d.ask(request("192.0.2.202", sender="joe@clean.example", helo_name="mail.clean.example")),
                "action=DUNNO",
                "RHSBL: sender domain and helo not listed: DUNNO",
            )
            t.eq(
                d.ask(request("192.0.2.203", sender="joe@BAD.Example.", helo_name="vm")),
                reject_text("192.0.2.203", "dbl.test", "Spam domain", listed="sender domain bad.example"),
                "RHSBL: the sender domain is matched case-insensitively, trailing dot removed",
            )
        with daemon(r, [("rhsbl", "dbl.test", "check = helo\ncodes = 127.0.1.[2..99]")]) as d:
            before = r.count("bad.example.dbl.test")
            t.eq(
                d.ask(request("192.0.2.204", sender="joe@bad.example", helo_name="mail.clean.example")),
                "action=DUNNO",
                "RHSBL check = helo only: a listed sender domain alone: DUNNO",
            )
            seen = rhs_sentinel(d, r, "sentinel.clean.example")
            t.ok(seen and r.count("bad.example.dbl.test") - before == 0, "... and the sender domain is not queried",
                 f"sentinel logged: {seen}; queries: {r.queries()[-10:]}")
            rep = d.ask(request("192.0.2.205", sender="joe@clean.example", helo_name="bad-helo.example"))
            t.ok(rep.startswith("action=REJECT 5.7.1 Your HELO name bad-helo.example is blacklisted by dbl.test"),
                 "RHSBL check = helo: a listed helo: REJECT", rep)


def test_local_with_dns():
    lists = [("dnsbl", "bl.test", "weight = 1")]
    local = (10, "Listed by the local policy of example.org", ["192.0.2.80", "192.0.2.90"])
    with Rbldnsd(ZONES) as r, daemon(r, lists, local=local) as d:
        d.mark()
        rep = d.ask(request("192.0.2.80"))
        t.eq(
            rep,
            reject_text("192.0.2.80", "local", "Listed by the local policy of example.org"),
            "local list (weight 10) and a DNS list that lists it too: REJECT by the local list",
        )
        m = d.logged(r"reject: client=[^\[\s]*\[192\.0\.2\.80\][^\n]*")
        line = m.group(0) if m else ""
        t.ok(re.search(r"lists=local\(local\) score=10", line),
             "the local refusal is final (no DNS allowlist could undo it): logged with score 10",
             line or d.log()[d.log_offset:][-1500:])
        # A sentinel: the next client's query reaches rbldnsd after any query for .80 would have.
        t.ok(d.ask(request("192.0.2.50")).startswith("action=REJECT"), "a DNS-listed client next")
        t.eq(wait_count(r, reverse_ip("192.0.2.50") + ".bl.test", "A", 1), 1, "... whose query arrived")
        t.eq(r.count(reverse_ip("192.0.2.80") + ".bl.test"), 0,
             "... and the locally refused client was never looked up: no wait for DNS")
        t.eq(
            d.ask(request("192.0.2.90")),
            reject_text("192.0.2.90", "local", "Listed by the local policy of example.org"),
            "local list hit alone, DNS list not listed: REJECT",
        )
        t.eq(
            d.ask(request("192.0.2.50")),
            reject_text("192.0.2.50", "bl.test", "Open proxy at 192.0.2.50"),
            "DNS list hit alone next to a local list: REJECT naming the DNS list",
        )
    local = (-5, "Our partners", ["192.0.2.81"])
    with Rbldnsd(ZONES) as r, daemon(r, lists, local=local) as d:
        t.eq(d.ask(request("192.0.2.81")), "action=DUNNO", "a local allowlist (weight -5) overrides a DNS hit: DUNNO")
        seen = sentinel(d, r, "192.0.2.241")
        t.ok(seen and r.count(reverse_ip("192.0.2.81") + ".bl.test") == 0,
             "... accepted at once: the DNS list is not queried (score <= allowlist_threshold)",
             f"sentinel logged: {seen}; queries: {r.queries()[-10:]}")


def test_help_url():
    lists = [
        ("dnsbl", "bl.test", ""),
        ("dnsbl", "hu.test", "help_url = https://lookup.example/?q=$client_address"),
    ]
    with Rbldnsd(ZONES) as r, daemon(r, lists) as d:
        rep = d.ask(request("192.0.2.70"))
        t.eq(
            rep,
            reject_text("192.0.2.70", "hu.test", "Listed on hu", "https://lookup.example/?q=192.0.2.70"),
            "the list's own help_url replaces [policy] help_url in the reply",
        )
        t.ok(HELP not in rep, "the global help URL is not in that reply", rep)
        t.eq(
            d.ask(request("192.0.2.50")),
            reject_text("192.0.2.50", "bl.test", "Open proxy at 192.0.2.50"),
            "a list without help_url uses the global one",
        )


def test_error_code():
    with Rbldnsd(ZONES) as r, daemon(r, [("dnsbl", "bl.test", "")]) as d:
        d.mark()
        t.eq(d.ask(request("192.0.2.30")), "action=DUNNO",
             "an answer 127.255.255.253 (an operator's error code) never refuses, even with the default codes: DUNNO")
        m = d.logged(r"[^\n]*error code[^\n]*")
        line = m.group(0) if m else ""
        t.ok("bl.test" in line and "127.255.255.253" in line, "a warning names the list, the answer and 'error code'", line)
        t.ok(re.search(r"(?i)warn", line) is not None, "... at warning level", line)


def test_bit_masks():
    """URIBL-style "multi" answers: each bit of the last octet a list of its own."""
    zones = {"multi.test": ("ip4set", ":127.0.0.2:Multi\n127.0.0.2\n192.0.2.66 :127.0.0.6:Black and grey\n"
                                      "192.0.2.68 :127.0.0.8:Red only\n")}
    lists = [("dnsbl", "multi.test", "codes = 127.0.0.&2*3, 127.0.0.&4*1\ntext = Score $score from $rbl_domain")]
    with Rbldnsd(zones) as r, daemon(r, lists) as d:
        since = d.mark()
        t.eq(d.ask(request("192.0.2.66")), "action=REJECT 5.7.1 Score 4 from multi.test",
             "an answer 127.0.0.6 matches &2 (weight 3) and &4 (weight 1): the refusal shows score 4")
        t.ok(d.logged(r"client=\S*\[192\.0\.2\.66\][^\n]* score=4\b", since=since) is not None,
             "... and the decision's log line says score=4", d.log()[since:][-1500:])
        t.eq(d.ask(request("192.0.2.68")), "action=DUNNO", "an answer 127.0.0.8 has neither bit: DUNNO")


def test_disabled_list():
    lists = [("dnsbl", "bl.test", ""), ("dnsbl", "dead.test", "")]
    with Rbldnsd(ZONES) as r, daemon(r, lists, disabled=("dead.test",)) as d:
        log = d.log()
        t.ok(re.search(r"\[dnsbl dead\.test\]: the test point that must be listed is NOT listed[^\n]*[Dd]isabled", log),
             "a zone without the 127.0.0.2 test point: the log says the list is disabled", log[-1500:])
        t.ok("[dnsbl dead.test]: health check passed" not in log, "... and never that it passed")
        t.eq(d.ask(request("192.0.2.40")), "action=DUNNO", "a client listed only on the disabled list is not refused")
        seen = sentinel(d, r, "192.0.2.242")
        t.ok(seen and r.count(reverse_ip("192.0.2.40") + ".dead.test") == 0, "... the disabled list is not queried for it",
             f"sentinel logged: {seen}; queries: {r.queries()[-10:]}")
        t.ok(d.ask(request("192.0.2.50")).startswith("action=REJECT"), "the healthy list next to it still works")


def test_check_command():
    with Rbldnsd(ZONES) as r, daemon(r, [("dnsbl", "bl.test", "codes = 127.0.0.[2..11]")]) as d:
        rc, out, err = check(d, "192.0.2.10")
        t.eq(rc, 1, "--check of a listed address exits 1")
        t.eq(out[0] if out else "", reject_text("192.0.2.10", "bl.test", "Spam trap hit from 192.0.2.10"),
             "--check prints the reply line first")
        line = line_for(out, "dnsbl bl.test:")
        t.ok(
            re.search(r"\blisted\b", line) and "not listed" not in line and "answer=127.0.0.3" in line
            and "ttl=60" in line and "query=10.2.0.192.bl.test" in line,
            "--check: the list line says listed, answer=127.0.0.3, ttl=, the query name",
            "\n".join(out) + err,
        )
        rc, out, err = check(d, "192.0.2.11")
        t.eq(rc, 0, "--check of an unlisted address exits 0")
        t.eq(out[0] if out else "", "action=DUNNO", "--check prints DUNNO for it")
        line = line_for(out, "dnsbl bl.test:")
        t.ok("not listed" in line and "answer=" not in line, "--check: the list line says not listed", "\n".join(out) + err)


def test_pipelining():
    with Rbldnsd(ZONES) as r, daemon(r, [("dnsbl", "bl.test", ""), ("dnsbl", "w1.test", "")]) as d:
        addrs = [f"203.0.113.{i}" if i % 2 else f"203.0.113.{200 + i}" for i in range(10)]
        with d.connect("tcp") as s:
            s.sendall(b"".join(request(a) for a in addrs))
            replies = read_replies(s, 10, timeout=10)
        want = [reject_text(a, "bl.test", f"Pipelined {a}") if i % 2 else "action=DUNNO" for i, a in enumerate(addrs)]
        t.eq(replies, want, "10 pipelined requests, listed/unlisted alternating through DNS, are answered in order")


def test_query_counts():
    lists = [("dnsbl", "bl.test", ""), ("dnsbl", "hu.test", ""), ("dnsbl", "w1.test", "")]
    with Rbldnsd(ZONES) as r, daemon(r, lists) as d:
        addr = "192.0.2.85"
        rev = reverse_ip(addr)
        t.ok(d.ask(request(addr)).startswith("action=REJECT"), "a fresh listed address on a single request is refused")
        # Any duplicate would have been sent before the sentinel's query to w1.test.
        seen = sentinel(d, r, "192.0.2.243", zone="w1.test")
        counts = {z: (r.count(f"{rev}.{z}", "A"), r.count(f"{rev}.{z}", "TXT")) for z in ("bl.test", "hu.test", "w1.test")}
        t.eq((seen, counts), (True, {"bl.test": (1, 1), "hu.test": (1, 0), "w1.test": (1, 0)}),
             "rbldnsd saw exactly one A query per list, and one TXT for the list that hit (sentinel logged, counts)")
        other = [q for q in r.queries() if rev in q[0].lower() and not q[0].lower().endswith((".bl.test", ".hu.test", ".w1.test"))]
        t.eq(other, [], "no other query for that address")


for fn in (
    test_ipv4_and_text,
    test_codes_filter,
    test_ipv6,
    test_weights,
    test_allowlist,
    test_rhsbl,
    test_local_with_dns,
    test_help_url,
    test_error_code,
    test_bit_masks,
    test_disabled_list,
    test_check_command,
    test_pipelining,
    test_query_counts,
):
    t.run(fn.__name__, fn)
t.done()
