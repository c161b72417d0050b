#!/usr/bin/env python3
"""Integration: local [list] files, scoring and the reply text.
DNS lists are exercised by their own tests once the resolver is wired in."""

import os
import signal

from lib.daemon import Policyd, Tap, read_replies, request

t = Tap()


def local_list(d, name, lines):
    path = os.path.join(d.dir, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def start(lists, policy="", server=""):
    """A daemon whose [list] sections are given as (name, weight, reason, lines)."""
    d = Policyd(start=False)
    extra = policy + "\n"
    for name, weight, reason, lines in lists:
        path = local_list(d, name + ".cidr", lines)
        extra += f"[list {name}]\nfile = {path}\nweight = {weight}\n" + (f"reason = {reason}\n" if reason else "")
    d.write_config(server=server, extra=extra)
    return d.start()


def test_order_and_text():
    with start([("local", 10, "Listed by the local policy of example.org", ["192.0.2.0/25", "2001:db8:bad::/48"])]) as d:
        addrs = [f"192.0.2.{i}" if i % 2 else f"192.0.2.{200 + i}" for i in range(10)]
        with d.connect("tcp") as s:
            s.sendall(b"".join(request(a) for a in addrs))
            replies = read_replies(s, 10)
        want = ["REJECT" if i % 2 else "DUNNO" for i in range(10)]
        t.eq([r.split()[0].split("=")[1] for r in replies], want, "10 pipelined requests (listed/not alternating) are answered in order")
        t.eq(
            replies[1],
            "action=REJECT 5.7.1 Your host [192.0.2.1] is blacklisted by this site: Listed by the local policy of example.org. "
            "See https://www.example.org/blacklisted.html?ip=192.0.2.1 or send your questions to postmaster@example.org",
            "a local list hit gets the explanatory text with the help URL and contact",
        )
        r6 = d.ask(request("2001:db8:bad::25"), "unix")
        t.ok(r6.startswith("action=REJECT 5.7.1 Your host [2001:db8:bad::25]"), "an IPv6 client inside a listed /48 is refused", r6)
        t.eq(d.ask(request("2001:db8::25")), "action=DUNNO", "an IPv6 client outside it passes")
        auth = d.ask(request("192.0.2.1", sasl_username="alice"))
        t.eq(auth, "action=DUNNO", "skip_authenticated: a SASL client is not checked")
        long_helo = d.ask(request("192.0.2.3", helo_name="h" * 3000))
        t.ok(len(long_helo) - len("action=") <= 420, "the reply stays within its limit", len(long_helo))
        d.mark()
        d.ask(request("192.0.2.5", helo_name="evil\x1bname"))
        m = d.logged(r"reject: client=[^\[\s]*\[192\.0\.2\.5\] helo=<[^>]*> from=<root@vm> to=<[^>]*> lists=local\(local\) score=10 cached=no")
        t.ok(m is not None and all(32 <= ord(c) < 127 for c in m.group(0)), "the decision is logged Postfix-style, cleaned",
             m.group(0) if m else d.log()[d.log_offset:][-1500:])


def test_weights_and_allowlist():
    lists = [
        ("half-a", 1, "first half", ["198.51.100.0/24"]),
        ("half-b", 1, "second half", ["198.51.100.128/25"]),
        ("friends", -5, None, ["198.51.100.200"]),
    ]
    with start(lists, policy="threshold = 2\n") as d:
        t.eq(d.ask(request("198.51.100.10")), "action=DUNNO", "one list of weight 1 is below threshold 2")
        r = d.ask(request("198.51.100.130"))
        t.ok(r.startswith("action=REJECT") and ("first half" in r or "second half" in r),
             "two lists adding up to the threshold refuse, with a list's reason", r)
        t.eq(d.ask(request("198.51.100.200")), "action=DUNNO", "an allowlist (negative weight) overrides both blocklists")


def test_actions():
    for action, prefix in (("defer", "action=DEFER 4.7.1 Your host"), ("warn", "action=WARN Your host"), ("prepend", "action=PREPEND X-DNSBL: Your host")):
        with start([("local", 1, None, ["203.0.113.7"])], policy=f"action = {action}\n") as d:
            r = d.ask(request("203.0.113.7"))
            t.ok(r.startswith(prefix), f"action = {action}: '{prefix}...'", r)


def test_reload_list_file():
    with start([("local", 1, None, ["203.0.113.7"])]) as d:
        t.eq(d.ask(request("203.0.113.8")), "action=DUNNO", "before the reload 203.0.113.8 passes")
        local_list(d, "local.cidr", ["203.0.113.7", "203.0.113.8"])
        d.mark()
        d.signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        t.ok(d.ask(request("203.0.113.8")).startswith("action=REJECT"), "SIGHUP re-reads the local list file")


def test_recipient_extensions():
    """recipient_delimiter: user+ext@domain is also looked up as user@domain, as Postfix's
    access maps do, for recipient lists and for the exempt recipients."""
    d = Policyd(start=False)
    traps = local_list(d, "traps.txt", ["trap@example.org"])
    clients = local_list(d, "clients.cidr", ["192.0.2.0/24"])
    d.write_config(extra=f"recipient_delimiter = +-\n"
                         f"[list traps]\ntype = recipient\nfile = {traps}\nweight = 10\n"
                         f"[list clients]\nfile = {clients}\nweight = 10\n")
    with d.start():
        r = d.ask(request("198.51.100.7", recipient="trap+x@example.org"))
        t.ok(r.startswith("action=REJECT"), "a recipient list entry trap@example.org refuses trap+x@example.org", r)
        r = d.ask(request("198.51.100.7", recipient="trap-x@example.org"))
        t.ok(r.startswith("action=REJECT"), "... and trap-x@example.org with recipient_delimiter = +-", r)
        t.eq(d.ask(request("198.51.100.7", recipient="+trap@example.org")), "action=DUNNO",
             "a local part that starts with the delimiter is not trap")
        r = d.ask(request("192.0.2.1", recipient="root@mx.test"))
        t.ok(r.startswith("action=REJECT"), "a listed client is refused", r)
        t.eq(d.ask(request("192.0.2.1", recipient="postmaster+urgent@example.org")), "action=DUNNO",
             "... but not when it writes to postmaster+urgent@ (exempt as postmaster@)")


for fn in (test_order_and_text, test_weights_and_allowlist, test_actions, test_reload_list_file, test_recipient_extensions):
    t.run(fn.__name__, fn)
t.done()
