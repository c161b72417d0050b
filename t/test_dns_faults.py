#!/usr/bin/env python3
"""Integration: DNS faults (silence, error codes, junk and late answers, the
circuit breaker) and the limits of the reply text they feed.

One DNSBL, bl.test, is served by the hostile fake server (t/lib/fakedns.py). Its RFC
5782 test points answer correctly unless a case says otherwise; the case's rules
follow. Each case gets its own daemon and fake server (ended by PID through the
context managers), waits for the health check before asking, and bounds every
wait. Wall times are measured from sending a request to reading its reply.

udns counts whole seconds, so its timeout is set well above request_timeout
(5 s against 1 s) wherever the deadline, not udns, must end a lookup.

Checks that something did not happen use a sentinel, never a sleep: "nothing
more on the connection" is one more request whose reply must be the next bytes
there; "the list was not asked" is a request to a second, healthy list
(ok.test, which lists nobody) that policyd must query, and once the fake server
has logged that query, every query policyd sent before it is logged too (one
UDP socket, in order).
"""

import os
import re
import time

from lib.daemon import Policyd, Tap, request
from lib.dnslib import FakeDNS
from lib.wait import poll_until

t = Tap()

ZONE = "bl.test"
LISTED = "192.0.2.10"  # every 192.0.2.x is listed normally in every zone below: 127.0.0.2 and a TXT reason
LISTED_REASON = "Listed for testing"
URL_TAIL = "See https://www.example.org/blacklisted.html?ip={ip} or send your questions to postmaster@example.org"
REQUEST_TIMEOUT = 1.0
SLACK = 0.1  # the deadline is met within this much
NL2 = b"\n\n"


def rev(ip):
    return ".".join(reversed(ip.split(".")))


def qname(ip, zone=ZONE):
    return f"{rev(ip)}.{zone}"


# The sentinel list: passes its health check, lists nobody (other names: NXDOMAIN).
SENTINEL_ZONE = "ok.test"
SENTINEL_RULES = [{"name": f"2.0.0.127.{SENTINEL_ZONE}", "qtype": "A", "a": ["127.0.0.2"], "ttl": 60}]


def zone_rules(extra=(), zone=ZONE):
    """The RFC 5782 test points and the normally listed client, then the case's rules
    (and the sentinel list's test point, for the cases that configure that list)."""
    return [
        {"name": f"2.0.0.127.{zone}", "qtype": "A", "a": ["127.0.0.2"], "ttl": 60},
        {"name": f"1.0.0.127.{zone}", "action": "nxdomain"},
        {"name": f"*.2.0.192.{zone}", "a": ["127.0.0.2"], "txt": LISTED_REASON, "ttl": 60},
    ] + SENTINEL_RULES + list(extra)


def daemon(dns, policy="", dns_opts="timeout = 5s\ntries = 1\n", request_timeout="1s", zone=ZONE, wait_health=True,
           sentinel_list=False):
    """A policyd asking dns for one list; started, and (by default) its list enabled.
    sentinel_list adds [dnsbl ok.test] and waits until it is enabled."""
    d = Policyd(start=False)
    lists = f"[dnsbl {zone}]\ncodes = 127.0.0.[2..11]\n" + (f"[dnsbl {SENTINEL_ZONE}]\n" if sentinel_list else "")
    d.write_config(
        server=f"request_timeout = {request_timeout}\n",
        extra=policy + f"\n[dns]\nnameserver = 127.0.0.1:{dns.port}\n{dns_opts}\n{lists}",
    )
    d.start()
    try:
        if wait_health:
            d.wait_log(rf"\[dnsbl {re.escape(zone)}\]: health check passed; list enabled", timeout=10)
        if sentinel_list:
            d.wait_log(rf"\[dnsbl {re.escape(SENTINEL_ZONE)}\]: health check passed; list enabled", timeout=10)
    except BaseException:
        d.__exit__(None, None, None)  # not yet inside the caller's "with": end it here
        raise
    return d


class Conn:
    """A policy connection that keeps every byte it reads, so that extra replies show."""

    def __init__(self, d, timeout=5):
        self.sock = d.connect("tcp", timeout=timeout)
        self.buf = b""
        self.replies = 0

    def send(self, data):
        self.sock.sendall(data)

    def read(self, count=1, timeout=5):
        """The next `count` raw reply blocks (without their "\\n\\n")."""
        deadline = time.monotonic() + timeout
        while self.buf.count(NL2) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.buf.count(NL2)} of {count} replies within {timeout}s; have {self.buf[:300]!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {self.buf.count(NL2)} of {count} replies")
            self.buf += chunk
        out = []
        for _ in range(count):
            block, self.buf = self.buf.split(NL2, 1)
            out.append(block)
        self.replies += count
        return out

    def ask(self, data, timeout=5):
        """Send one request; (reply text, seconds from send to reply)."""
        t0 = time.monotonic()
        self.send(data)
        block = self.read(1, timeout)[0]
        return block.decode("latin-1"), time.monotonic() - t0

    def nothing_more(self, ip, want):
        """The sentinel for "nothing more was sent on this connection": one more
        request, for `ip`; the next bytes on the connection must be its reply, which
        starts with `want`, and nothing after it. A stray reply or stray bytes sent
        before it would come first. Returns (True or False, what was read)."""
        try:
            reply, _ = self.ask(request(ip))
        except (OSError, TimeoutError) as e:
            return False, f"{type(e).__name__}: {e}; buffer {self.buf[:300]!r}"
        return reply.startswith(want) and self.buf == b"", f"reply {reply[:300]!r}; then {self.buf[:300]!r}"

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def timed_ask(d, ip, **attrs):
    with Conn(d) as c:
        return c.ask(request(ip, **attrs))


def log_tail(d, since, n=1500):
    return d.log()[since:][-n:]


def alive(d):
    return d.proc.poll() is None


# ---------------------------------------------------------------------------

def test_drop():
    """No answer at all: on_error at the deadline, not later."""
    rules = zone_rules([{"name": f"*.{ZONE}", "action": "drop"}])
    for policy, want in (("", "action=DUNNO"), ("on_error = defer\n", "action=DEFER 4.7.1 ")):
        label = "on_error = defer" if policy else "on_error default"
        with FakeDNS(rules) as dns, daemon(dns, policy=policy) as d:
            since = d.mark()
            ip = "198.51.100.1"
            reply, took = timed_ask(d, ip)
            if policy:
                t.ok(reply.startswith(want) and len(reply) > len(want), f"drop, {label}: answered DEFER 4.7.1 with a text", reply)
            else:
                t.eq(reply, want, f"drop, {label}: answered DUNNO")
            t.ok(
                REQUEST_TIMEOUT - 0.05 <= took <= REQUEST_TIMEOUT + SLACK,
                f"drop, {label}: answered at request_timeout (1 s, +{int(SLACK * 1000)} ms)",
                f"took {took:.3f} s",
            )
            t.ok(dns.count(qname(ip), "A") >= 1, f"drop, {label}: the list was really asked", dns.queries())
            m = d.logged(r"client=\[198\.51\.100\.1\]: list lookups did not finish within request_timeout", timeout=2)
            t.ok(m is not None, f"drop, {label}: the timeout is logged", log_tail(d, since))


# A definite error answer (rcode, TC bit) ends the lookup at once; packets udns must
# ignore (wrong id, wrong question, junk) leave it to the deadline.
FAST = {"servfail", "refused", "truncated"}

FAULTS = [
    ("SERVFAIL", {"action": "servfail"}),
    ("REFUSED", {"action": "refused"}),
    ("a truncated answer (TC, no records)", {"action": "truncated"}),
    ("garbage with the query's id", {"action": "garbage", "size": 100}),
    ("garbage shorter than a header", {"action": "garbage", "size": 7}),
    ("a wrong query id", {"action": "wrong_id", "a": ["127.0.0.2"]}),
    ("a short packet (header only)", {"action": "short", "a": ["127.0.0.2"]}),
    ("a short packet (cut in the answer)", {"action": "short", "len": 40, "a": ["127.0.0.2"]}),
    ("an answer about another name", {"action": "wrong_name", "a": ["127.0.0.2"]}),
    ("a question about another name", {"action": "wrong_question", "a": ["127.0.0.2"]}),
]


def test_faults():
    """Broken answers are never a listing; the daemon goes on serving the zone."""
    rules = []
    ips = []
    for i, (_, rule) in enumerate(FAULTS):
        ip = f"198.51.100.{20 + i}"
        ips.append(ip)
        rules.append(dict(rule, name=qname(ip), ttl=60))
    with FakeDNS(zone_rules(rules)) as dns, daemon(dns) as d:
        with Conn(d) as c:
            for (what, rule), ip in zip(FAULTS, ips):
                since = d.mark()
                reply, took = c.ask(request(ip))
                print(f"# {what}: answered after {took:.3f} s")
                t.eq(reply, "action=DUNNO", f"{what}: answered DUNNO, never REJECT")
                t.ok(took <= REQUEST_TIMEOUT + SLACK, f"{what}: answered promptly (by request_timeout)", f"took {took:.3f} s")
                if rule["action"] in FAST:
                    t.ok(took < 0.3, f"{what}: answered at once, not at the deadline", f"took {took:.3f} s")
                t.ok(dns.count(qname(ip), "A") >= 1, f"{what}: the list was really asked", dns.queries()[-5:])
                # A fresh listed address each time: a cached verdict would not show the list works.
                listed = f"192.0.2.{100 + len(ips) + FAULTS.index((what, rule))}"
                again, took2 = c.ask(request(listed))
                t.ok(
                    again.startswith(f"action=REJECT 5.7.1 Your host [{listed}] is blacklisted by {ZONE}"),
                    f"{what}: a listed client is refused afterwards, on the same connection",
                    f"{again!r} after {took2:.3f} s\n{log_tail(d, since)}",
                )
            sentinel = "192.0.2.250"
            ok, detail = c.nothing_more(sentinel, f"action=REJECT 5.7.1 Your host [{sentinel}] ")
            t.ok(ok, "no stray bytes on the connection after the faults (the next request's reply comes next)", detail)
        t.ok(alive(d), "the daemon is alive after every fault")


def test_error_codes():
    cases = [
        ("127.255.255.253 (an operator's error code)", "127.255.255.253", r"answered 127\.255\.255\.253, an error code"),
        ("10.0.0.2 (outside 127/8)", "10.0.0.2", r"answered 10\.0\.0\.2, outside 127\.0\.0\.0/8"),
    ]
    for what, a, log_rx in cases:
        ip = "198.51.100.40"
        rules = zone_rules([{"name": qname(ip), "a": a if isinstance(a, list) else [a], "txt": "should not be used"}])
        with FakeDNS(rules) as dns, daemon(dns) as d:
            since = d.mark()
            reply, took = timed_ask(d, ip)
            t.eq(reply, "action=DUNNO", f"an answer {what}: DUNNO")
            t.ok(took < 0.5, f"an answer {what}: answered at once", f"took {took:.3f} s")
            t.ok(d.logged(log_rx, timeout=2) is not None, f"an answer {what}: logged as a list error", log_tail(d, since))
            if "253" in what:
                t.ok(
                    d.logged(r"error code.*not counted as a listing", timeout=1) is not None,
                    "127.255.255.253: the warning says 'error code' and 'not counted as a listing'",
                    log_tail(d, since),
                )
            again, _ = timed_ask(d, LISTED)
            t.ok(again.startswith("action=REJECT"), f"an answer {what}: a listed client is still refused", again)


def test_wildcard():
    wild = "wild.test"
    with FakeDNS([{"name": f"*.{wild}", "a": ["127.0.0.2"], "txt": "Everything is listed"}] + SENTINEL_RULES) as dns:
        with daemon(dns, zone=wild, wait_health=False, sentinel_list=True) as d:
            m = d.logged(r"\[dnsbl wild\.test\]: the test point that must not be listed IS listed", timeout=10)
            t.ok(m is not None, "a wildcard zone: the health check disables it (IS listed)", d.log()[-1500:])
            t.ok("[dnsbl wild.test]: health check passed" not in d.log(), "a wildcard zone is never logged as enabled")
            ip = "203.0.113.77"
            before = dns.count(qname(ip, wild))
            reply, took = timed_ask(d, ip)
            t.eq(reply, "action=DUNNO", "a client the wildcard 'lists' is not refused")
            t.ok(took < 0.5, "and it is answered at once", f"took {took:.3f} s")
            seen = d.sentinel(dns, qname("203.0.113.78", SENTINEL_ZONE), request("203.0.113.78"))
            t.ok(seen and dns.count(qname(ip, wild)) - before == 0,
                 "the disabled list is not even asked (none by the time the next request's query to ok.test came)",
                 f"sentinel logged: {seen}; queries: {dns.queries()[-8:]}")


def test_hostile_txt():
    ip = "198.51.100.50"
    txt = "Listed\r\nInjected: header\x00after NUL\ttab\x1b[31m\x7f\xff" + "".join(chr(32 + i % 95) for i in range(2000))
    rules = zone_rules([{"name": qname(ip), "a": ["127.0.0.2"], "txt": txt}])
    with FakeDNS(rules) as dns, daemon(dns) as d:
        with Conn(d) as c:
            c.send(request(ip))
            block = c.read(1)[0]
            clean, detail = c.nothing_more("198.51.100.51", "action=DUNNO")
        t.ok(dns.count(qname(ip), "TXT") >= 1, "the TXT record was fetched", dns.queries())
        t.ok(b"\n" not in block and b"\r" not in block, "hostile TXT: the reply is one line", block[:200])
        t.ok(all(0x20 <= b < 0x7F for b in block), "hostile TXT: the reply is printable ASCII", repr(block[:500]))
        t.ok(clean, "hostile TXT: nothing follows the reply (the next request's reply comes next)", detail)
        prefix = b"action=REJECT 5.7.1 "
        t.ok(block.startswith(prefix), "hostile TXT: the client is refused", block[:200])
        text = block[len(prefix):].decode("latin-1")
        t.ok(len(text) <= 400, "hostile TXT: the text is at most 400 bytes", f"{len(text)} bytes")
        t.ok(text.endswith(URL_TAIL.format(ip=ip)), "hostile TXT: the help URL and the contact are intact at the end", text)
        t.ok("Listed" in text and "Injected: header" in text, "hostile TXT: the reason is shown, cleaned", text)


def test_late_answers():
    """Answers after the deadline: DUNNO at the deadline; the late answer never makes a second reply."""
    late = "198.51.100.60"
    late2 = "198.51.100.61"
    # The A answers come 1.5 s late; the TXT answers (if policyd asks for them once
    # the A answer is in) come at once, so that the sentinel below covers them too.
    rules = zone_rules([
        {"name": qname(late), "qtype": "TXT", "txt": "late"},
        {"name": qname(late), "a": ["127.0.0.2"], "delay_ms": 1500},
        {"name": qname(late2), "qtype": "TXT", "txt": "late"},
        {"name": qname(late2), "a": ["127.0.0.2"], "delay_ms": 1500},
    ])
    with FakeDNS(rules) as dns, daemon(dns) as d:
        since = d.mark()
        with Conn(d) as c:
            reply, took = c.ask(request(late))
            t.eq(reply, "action=DUNNO", "an answer 1.5 s late: DUNNO at the deadline")
            t.ok(REQUEST_TIMEOUT - 0.05 <= took <= REQUEST_TIMEOUT + SLACK, "an answer 1.5 s late: answered at request_timeout", f"took {took:.3f} s")
            r2, _ = c.ask(request(LISTED))
            t.ok(r2.startswith("action=REJECT"), "next request on the connection (listed) before the late answer: REJECT", r2)
            # Pipelined: the late one first, then a listed and a clean client behind it.
            t0 = time.monotonic()
            c.send(request(late2) + request(LISTED) + request("198.51.100.62"))
            blocks = [b.decode("latin-1") for b in c.read(3, timeout=5)]
            took3 = time.monotonic() - t0
            t.eq([b.split(" ")[0] for b in blocks], ["action=DUNNO", "action=REJECT", "action=DUNNO"],
                 "pipelined behind a late answer: replies in order (DUNNO, REJECT, DUNNO)")
            t.ok(took3 <= REQUEST_TIMEOUT + SLACK, "pipelined: all three by the deadline", f"took {took3:.3f} s")
            # Once the fake server has sent both late answers, two fresh addresses, one
            # listed (A, then TXT) and one not: their queries go out after the late
            # answers reached policyd's DNS socket, and their answers come in behind
            # them (and behind the TXT answers the late ones may ask for), so their
            # replies prove that the late answers were taken in. A second reply for a
            # late request would be on this connection before them.
            sent = dns.wait_sent(1, qname(late), "A", timeout=5) and dns.wait_sent(1, qname(late2), "A", timeout=5)
            fresh = "192.0.2.64"
            r4, _ = c.ask(request(fresh))
            r5, _ = c.ask(request("198.51.100.63"))
            t.ok(sent and r4.startswith(f"action=REJECT 5.7.1 Your host [{fresh}] ") and r5 == "action=DUNNO",
                 "after the late answers arrived: a listed client REJECT, a clean one DUNNO (the next replies on the connection)",
                 (sent, r4, r5))
            t.eq(c.replies, 7, "7 requests, 7 replies on the connection")
            t.eq(c.buf, b"", "no reply is sent twice (nothing after the last reply)")
        t.ok(dns.count(qname(late), "A") >= 1 and dns.count(qname(late2), "A") >= 1, "the late names were asked", dns.queries())
        t.ok(alive(d), "the daemon is alive after late answers", log_tail(d, since))
        # The late answer must not have been turned into a decision for someone else.
        log = d.log()[since:]
        t.ok(not any("reject:" in line and ("[198.51.100.60]" in line or "[198.51.100.61]" in line)
                     for line in log.splitlines()),
             "the late answers produced no refusal in the log", log[-1500:])


def breaker_case(d, dns, label, first_ip, max_took, open_within, backoff=30):
    """Five failing requests; within open_within s the list is skipped and the sixth is answered at once.
    d has the sentinel list (ok.test) next to bl.test."""
    since = d.mark()
    for i in range(5):
        ip = f"198.51.100.{first_ip + i}"
        reply, took = timed_ask(d, ip)
        print(f"# breaker ({label}): request {i + 1} answered after {took:.3f} s")
        t.ok(reply == "action=DUNNO" and took <= max_took,
             f"breaker ({label}): failing request {i + 1} of 5 answered DUNNO within {max_took:.1f} s",
             f"{reply!r} after {took:.3f} s")
    t0 = time.monotonic()
    opened = d.logged(rf"\[dnsbl bl\.test\]: 5 lookups in a row failed; skipping the list for {backoff} s",
                      timeout=open_within) is not None
    print(f"# breaker ({label}): skip logged {time.monotonic() - t0:.3f} s after the 5th reply")
    t.ok(opened, f"breaker ({label}): after 5 failed requests the list is skipped (logged)", log_tail(d, since))
    ip6 = f"198.51.100.{first_ip + 5}"
    reply, took = timed_ask(d, ip6)
    t.eq(reply, "action=DUNNO", f"breaker ({label}): the 6th request is answered DUNNO")
    t.ok(took < 0.2, f"breaker ({label}): the 6th request is answered at once, not at request_timeout",
         f"took {took:.3f} s; DNS queries for it: {dns.count(qname(ip6))}")
    later = [f"198.51.100.{first_ip + 6 + i}" for i in range(3)]
    for ip in later:
        timed_ask(d, ip)
    # Each of those requests asked ok.test; once the last of those queries is logged,
    # a query to bl.test for any of them, or for the 6th, would be logged too.
    seen = dns.wait_queries(1, qname(later[-1], SENTINEL_ZONE))
    asked = {ip: dns.count(qname(ip)) for ip in [ip6] + later}
    t.ok(seen and not any(asked.values()), f"breaker ({label}): the skipped list is not asked for the 6th client, nor for 3 more",
         f"sentinel query to ok.test logged: {seen}; queries to bl.test: {asked}")
    t.ok(len(re.findall(r"lookups in a row failed; skipping", d.log()[since:])) <= 1,
         f"breaker ({label}): the skip is logged once, not on every request", log_tail(d, since))
    return opened


def test_circuit_breaker_deadline():
    """Requests ended by request_timeout (1 s) while udns would wait 5 s.

    The daemon keeps the DNS query running after the request's deadline (its
    answer may still fill the cache) and counts the failure when udns gives up:
    5 s, plus up to 1 s of udns's whole-second clock.
    """
    rules = zone_rules([{"name": f"*.{ZONE}", "action": "drop"}])
    with FakeDNS(rules) as dns, daemon(dns, sentinel_list=True) as d:
        breaker_case(d, dns, "request_timeout 1 s, udns 5 s", 100, REQUEST_TIMEOUT + SLACK, open_within=7)


def test_circuit_breaker_udns():
    """Lookups ended by udns's own timeout before request_timeout; then recovery after
    breaker_backoff (5 s here; the default 30 s is test_circuit_breaker_deadline's).

    udns counts whole seconds: a 1 s timeout ends somewhere in (1, 2] s here.
    """
    rules = zone_rules([{"name": f"*.{ZONE}", "action": "drop"}])
    with FakeDNS(rules) as dns, daemon(dns, dns_opts="timeout = 1s\ntries = 1\nbreaker_backoff = 5s\n",
                                       request_timeout="3s", sentinel_list=True) as d:
        if not breaker_case(d, dns, "udns timeout 1 s, request_timeout 3 s", 120, 2.0 + SLACK, open_within=1,
                            backoff=5):
            return
        opened_at = time.monotonic()
        dns.set_rules(zone_rules())
        d.mark()
        replies = []

        def refused():
            replies.append(timed_ask(d, LISTED)[0])
            return replies[-1].startswith("action=REJECT")

        # The 5 s the list stays skipped is what is measured here: ask every 0.25 s,
        # for at most 20 s (and 82 requests).
        poll_until(refused, 20, interval=0.25)
        reply = replies[-1] if replies else None
        waited = time.monotonic() - opened_at
        t.ok(reply is not None and reply.startswith("action=REJECT"),
             "breaker: once the list answers again, after the wait, a listed client is refused", f"{reply!r} after {waited:.1f} s")
        t.ok(waited >= 4.5, "breaker: the list stayed skipped for breaker_backoff (5 s)", f"{waited:.1f} s")
        t.ok(d.logged(r"\[dnsbl bl\.test\]: answers again; circuit breaker closed", timeout=2) is not None,
             "breaker: 'answers again; circuit breaker closed' is logged", log_tail(d, d.log_offset))


# Asked once before the rounds, so that its verdict is cached and its reply comes at
# once: the sentinel that ends each connection of a round.
CACHED = "192.0.2.250"
CACHED_REPLY = f"action=REJECT 5.7.1 Your host [{CACHED}] "


def run_round(d, addrs, conns=20):
    """len(addrs) requests pipelined on `conns` connections; returns replies, errors and time.
    After its replies, each connection gets one more request (for CACHED), whose reply
    must come next: a reply sent twice, or junk, would come before it."""
    per_conn = len(addrs) // conns
    socks = []
    t0 = time.monotonic()
    for k in range(conns):
        c = Conn(d, timeout=10)
        c.send(b"".join(request(a) for a in addrs[k * per_conn:(k + 1) * per_conn]))
        socks.append(c)
    replies, errors = [], []
    for c in socks:
        try:
            replies.extend(b.decode("latin-1") for b in c.read(per_conn, timeout=10))
        except Exception as e:  # noqa: BLE001 - counted as lost replies
            errors.append(f"{type(e).__name__}: {e}")
    took = time.monotonic() - t0
    for c in socks:
        clean, detail = c.nothing_more(CACHED, CACHED_REPLY)
        if not clean:
            errors.append(f"not the sentinel's reply next: {detail}")
        c.close()
    return replies, errors, took


def test_concurrency():
    """200 requests on 20 connections while every query is dropped.

    udns waits 30 s, longer than the test, so no query ends and the breaker stays
    closed: every round really waits for DNS until request_timeout. Rounds 2 and 3
    repeat round 1's addresses (their lookups are still in flight, so they are
    joined, not repeated); rounds 4 and 5 use fresh addresses.
    """
    rules = zone_rules([{"name": f"*.{ZONE}", "action": "drop"}])
    sanitized = bool(os.environ.get("POLICYD_SANITIZED"))
    same = [f"10.1.{k}.{j}" for k in range(20) for j in range(1, 11)]
    rounds = [("fresh", same), ("same addresses", same), ("same addresses", same),
              ("fresh", [f"10.4.{k}.{j}" for k in range(20) for j in range(1, 11)]),
              ("fresh", [f"10.5.{k}.{j}" for k in range(20) for j in range(1, 11)])]
    with FakeDNS(rules) as dns, daemon(dns, dns_opts="timeout = 30s\ntries = 1\n") as d:
        t.ok(timed_ask(d, CACHED)[0].startswith(CACHED_REPLY), "a listed client is refused before the rounds (now cached)")
        rss, fds = [], []
        fd_base = d.fd_count()
        since = d.mark()
        for n, (kind, addrs) in enumerate(rounds, 1):
            replies, errors, took = run_round(d, addrs)
            rss.append(d.rss_kib())
            fds.append(d.fd_count())
            print(f"# round {n} ({kind}): {took:.3f} s, RSS {rss[-1]} KiB, {fds[-1]} fds")
            t.ok(not errors and len(replies) == 200, f"round {n} ({kind}): 200 requests on 20 connections, all answered",
                 f"{len(replies)} replies; {errors[:5]}")
            t.ok(all(r == "action=DUNNO" for r in replies), f"round {n}: every reply is DUNNO", sorted(set(replies))[:5])
            t.ok(REQUEST_TIMEOUT - 0.05 <= took <= REQUEST_TIMEOUT + 0.5, f"round {n}: all answered at request_timeout",
                 f"took {took:.3f} s")
            t.ok(alive(d), f"round {n}: the daemon is alive")
            if n == 3:
                t.eq(sum(dns.count(qname(a), "A") for a in same), 200,
                     "rounds 2 and 3 joined round 1's lookups in flight: one DNS query per address")
        t.ok("lookups in a row failed" not in d.log()[since:], "the breaker stayed closed (every round really waited)")
        reply, _ = timed_ask(d, LISTED)
        t.ok(reply.startswith("action=REJECT"), "after the rounds a listed client is still refused", reply)
        # Closed connections may take a loop turn to be released.
        poll_until(lambda: d.fd_count() <= fd_base, 2, interval=0.05)
        t.ok(d.fd_count() <= fd_base, "no descriptor is left behind by the rounds",
             f"before: {fd_base}, after each round: {fds}, now: {d.fd_count()}")
        if sanitized:
            t.skip("RSS does not grow from round 2 to round 3", f"sanitizer build (RSS KiB by round: {rss})")
            t.skip("RSS grows little from round 4 to round 5", f"sanitizer build (RSS KiB by round: {rss})")
        else:
            t.ok(rss[2] - rss[1] <= 128, "RSS does not grow from round 2 to round 3 (same keys; <= 128 KiB)",
                 f"RSS KiB by round: {rss}")
            t.ok(rss[4] - rss[3] <= 512, "RSS grows little from round 4 to round 5 (200 more lookups in flight; <= 512 KiB)",
                 f"RSS KiB by round: {rss}")


for fn in (test_drop, test_faults, test_error_codes, test_wildcard, test_hostile_txt, test_late_answers,
           test_circuit_breaker_deadline, test_circuit_breaker_udns, test_concurrency):
    t.run(fn.__name__, fn)
t.done()
