#!/usr/bin/env python3
"""Integration: how each DNS list is run, against a real rbldnsd on loopback.

`mode = observe`: the list is looked up, counted and logged (observed=LIST(ANSWER)
in the decision's log line, policyd_list_observed_hits_total), never scored and
never named in a reply, while an enforced list beside it still refuses.
policyd_list_sole_hits_total counts the refusals that a list's weight alone made.
`clients`: a list with clients = authenticated (an AuthBL) checks only requests
with sasl_username, the others (clients = unauthenticated, the default with
skip_authenticated = yes) only those without; skip_authenticated = no makes
every list default to all.

Every scenario starts its own rbldnsd and policyd and waits for the health check
of every list before it asks.
"""

import re
import subprocess

from lib.daemon import POLICYD, Policyd, Tap, request
from lib.dnslib import Rbldnsd

t = Tap()

HELP = "https://www.example.org/blacklisted.html?ip="
CONTACT = "postmaster@example.org"


def zone(lines):
    """An ip4set zone that lists its RFC 5782 test point and the given addresses."""
    return ("ip4set", ":127.0.0.2:Listed by $\n127.0.0.2\n" + "".join(a + "\n" for a in lines))


# 192.0.2.10: on bl, b2, obs and auth; .20: only obs; .30: only b2; .40: only auth;
# .50: only bl.
ZONES = {
    "bl.test": zone(["192.0.2.10", "192.0.2.50"]),
    "b2.test": zone(["192.0.2.10", "192.0.2.30"]),
    "obs.test": zone(["192.0.2.10", "192.0.2.20"]),
    "auth.test": zone(["192.0.2.10", "192.0.2.40"]),
}


def daemon(r, lists, policy=""):
    """A started policyd asking rbldnsd r about `lists` ((kind, zone, body) sections),
    with /metrics on loopback; waits until every list passed its health check."""
    d = Policyd(start=False)
    extra = (
        f"{policy}\n[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\n"
        "[http]\nlisten = inet:127.0.0.1:0\nmetrics_allow = 127.0.0.1/32\n"
    )
    for kind, name, body in lists:
        extra += f"[{kind} {name}]\n{body}\n"
    d.write_config(extra=extra)
    d.start()
    try:
        for kind, name, _ in lists:
            d.wait_log(rf"\[{kind} {re.escape(name)}\]: health check passed; list enabled", timeout=10)
    except BaseException:
        d.__exit__(None, None, None)
        raise
    return d


def reject(addr, name):
    """The default reply when list `name` refuses client addr: the host is listed."""
    return (
        f"action=REJECT 5.7.1 Your host [{addr}] is blacklisted by {name}: Listed by {addr}. "
        f"See {HELP}{addr} or send your questions to {CONTACT}"
    )


def decision_line(d, addr, since):
    """The decision's log line for client addr logged after `since` (None if none came)."""
    m = d.logged(rf"[^\n]*: client=[^\n]*\[{re.escape(addr)}\][^\n]*", since=since)
    return m.group(0) if m else None


def check(d, addr, *args):
    """policyd --check ADDR ... with d's configuration: (exit code, stdout lines)."""
    p = subprocess.run(
        [POLICYD, "-c", d.config, "--check", addr, *args], capture_output=True, text=True, timeout=20
    )
    return p.returncode, p.stdout.splitlines()


def sample(name, zone_name):
    """A per-list metric's key in Policyd.metrics()."""
    return f'{name}{{list="{zone_name}",kind="dnsbl"}}'


def test_observe():
    """An observed list never refuses nor shows in a reply; it is logged and counted.
    The enforced lists beside it still refuse; sole hits count the list that decided."""
    lists = [
        ("dnsbl", "bl.test", "weight = 2"),
        ("dnsbl", "b2.test", "weight = 1"),
        ("dnsbl", "obs.test", "mode = observe\nweight = 5"),
    ]
    with Rbldnsd(ZONES) as r, daemon(r, lists, policy="[policy]\nthreshold = 2\n") as d:
        since = d.mark()
        t.eq(d.ask(request("192.0.2.20")), "action=DUNNO",
             "a client only the observed list lists (its weight 5 would refuse): DUNNO")
        line = decision_line(d, "192.0.2.20", since)
        t.ok(line is not None and "lists=- observed=obs.test(127.0.0.2) score=0" in line,
             "... the decision's log line has observed=obs.test(127.0.0.2), nothing scored", line or d.log()[-1500:])
        m = d.metrics()
        t.eq(m.get(sample("policyd_list_observed_hits_total", "obs.test")), 1.0,
             "policyd_list_observed_hits_total counts the hit that would have counted")
        t.eq(m.get(sample("policyd_list_observed_hits_total", "bl.test")), None,
             "... and has no sample for an enforced list")

        since = d.mark()
        reply = d.ask(request("192.0.2.10"))
        t.eq(reply, reject("192.0.2.10", "bl.test"),
             "a client on every list: refused by the enforced bl.test (weight 2), which names it")
        t.ok("obs.test" not in reply, "... the observed list is not named in the reply")
        line = decision_line(d, "192.0.2.10", since)
        t.ok(line is not None and "reject:" in line and
             "lists=bl.test(127.0.0.2),b2.test(127.0.0.2) observed=obs.test(127.0.0.2) score=3" in line,
             "... the log line: the enforced lists in lists=, the observed one in observed=, score 2 + 1",
             line or d.log()[-1500:])
        since = d.mark()
        t.eq(d.ask(request("192.0.2.30")), "action=DUNNO", "a client only b2.test lists (1, below 2): DUNNO")
        m = d.metrics()
        t.eq(m.get(sample("policyd_list_observed_hits_total", "obs.test")), 2.0, "observed hits: 2")
        t.eq(m.get(sample("policyd_list_sole_hits_total", "bl.test")), 1.0,
             "sole hits: without bl.test's 2 the score 1 would have passed, so bl.test decided the refusal")
        t.eq(m.get(sample("policyd_list_sole_hits_total", "b2.test")), 0.0,
             "... without b2.test's 1 the score 2 still refuses: not b2.test's alone")
        t.eq(m.get(sample("policyd_list_sole_hits_total", "obs.test")), 0.0, "... never the observed list's")
        t.eq(m.get(sample("policyd_list_listed_total", "obs.test")), 2.0,
             "the observed list's lookups are counted like any list's (listed twice)")
        rc, out = check(d, "192.0.2.20")
        t.ok(rc == 0 and out[:1] == ["action=DUNNO"] and
             any(l.startswith("dnsbl obs.test: listed ") and " weight=5 mode=observe (not scored) " in l
                 for l in out),
             "--check: a pass (exit 0), the observed list listed and marked as not scored",
             f"exit {rc}\n" + "\n".join(out))

        pages = {}
        for name in ("bl.test", "obs.test"):
            p = subprocess.run([POLICYD, "-c", d.config, "--help-page", "--ip", "192.0.2.10", "--list", name],
                               capture_output=True, text=True, timeout=20)
            pages[name] = (p.returncode, p.stdout)
        named = 'is blacklisted by <strong class="list">'
        t.ok(pages["bl.test"][0] == 0 and named + "bl.test<" in pages["bl.test"][1],
             "--help-page --list bl.test names the enforced list as the one that refused", pages["bl.test"][1][-800:])
        t.ok(pages["obs.test"][0] == 0 and named not in pages["obs.test"][1],
             "--help-page --list obs.test names no list: an observed list never refuses", pages["obs.test"][1][-800:])


def test_clients():
    """An AuthBL (clients = authenticated) checks only SASL clients, the default
    list only the others; exempt recipients stay exempt."""
    lists = [("dnsbl", "bl.test", ""), ("dnsbl", "auth.test", "clients = authenticated")]
    with Rbldnsd(ZONES) as r, daemon(r, lists) as d:
        t.eq(d.ask(request("192.0.2.40", sasl_username="alice")), reject("192.0.2.40", "auth.test"),
             "an authenticated client the AuthBL lists: refused, the reply names auth.test and says the host is listed")
        t.eq(d.ask(request("192.0.2.40")), "action=DUNNO",
             "the same client unauthenticated: the AuthBL does not check it, DUNNO")
        t.eq(d.ask(request("192.0.2.50", sasl_username="alice")), "action=DUNNO",
             "an authenticated client only the default list lists: not checked by it, DUNNO")
        t.eq(d.ask(request("192.0.2.50")), reject("192.0.2.50", "bl.test"),
             "the same client unauthenticated: refused by bl.test")
        t.eq(d.ask(request("192.0.2.10", sasl_username="alice")), reject("192.0.2.10", "auth.test"),
             "a client on both, authenticated: refused by the AuthBL alone")
        t.eq(d.ask(request("192.0.2.10")), reject("192.0.2.10", "bl.test"),
             "... unauthenticated: by bl.test alone")
        t.eq(d.ask(request("192.0.2.40", sasl_username="alice", recipient="postmaster@example.net")),
             "action=DUNNO", "an authenticated client the AuthBL lists, writing to postmaster@: exempt")
        rc, out = check(d, "192.0.2.10", "--sasl-username", "alice")
        t.ok(rc == 1 and out[:1] == [reject("192.0.2.10", "auth.test")]
             and "dnsbl bl.test: not applicable (clients = unauthenticated: the client is authenticated)" in out,
             "--check --sasl-username: refused by the AuthBL (exit 1); bl.test does not check the client",
             "\n".join(out))


def test_skip_authenticated_no():
    """skip_authenticated = no: every list checks every request, unless its clients say otherwise."""
    lists = [("dnsbl", "bl.test", ""), ("dnsbl", "b2.test", "clients = unauthenticated")]
    with Rbldnsd(ZONES) as r, daemon(r, lists, policy="[policy]\nskip_authenticated = no\n") as d:
        t.eq(d.ask(request("192.0.2.50", sasl_username="alice")), reject("192.0.2.50", "bl.test"),
             "skip_authenticated = no: a list without clients checks an authenticated client")
        t.eq(d.ask(request("192.0.2.30", sasl_username="alice")), "action=DUNNO",
             "... one with clients = unauthenticated does not")


for fn in (test_observe, test_clients, test_skip_authenticated_no):
    t.run(fn.__name__, fn)
t.done()
