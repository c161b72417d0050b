#!/usr/bin/env python3
"""Integration: connections held back at the server-wide cap of requests waiting
for DNS (SERVER_WAITING_MAX, 2048), and what happens to them afterwards.

The scenario that once wrote through a freed connection: 2,047 requests wait
behind a DNS server that never answers; connection D takes the 2,048th and stalls
with a second request; connection C takes one request that DNS answers at once,
stalls behind D with 20 requests that need no DNS (sasl_username) still in its
buffer, then gets its own reply, answers a slice of those requests, joins the
ready list while it is still on the stalled list, answers the rest on the next
loop turn and closes. One more connection then stalls too. Before the fix the
second turn cleared C's stalled mark while C stayed linked, its close left it
there, and the new stall wrote through the freed connection (AddressSanitizer:
heap-use-after-free in stall). Now the queues belong to server.c and the daemon
asserts that a connection it frees is on none of them.

Afterwards the daemon must still answer, the waiting requests must end at
request_timeout, and SIGTERM must exit 0 with no sanitizer report.
"""

import re
import signal
import socket

from lib.daemon import Policyd, Tap, read_replies, request
from lib.dnslib import FakeDNS
from lib.wait import poll_until

t = Tap()

CAP = 2048          # CONN_WAITING_MAX in policyd/conn.h
PER_CONN = 64       # CONN_QUEUE_MAX: replies one connection may have queued
REQUEST_TIMEOUT = 8  # seconds: the parked requests must outlive the scenario


def statistic(d, rx):
    """One value of a fresh statistics line: SIGUSR1, then the line it writes."""
    mark = d.mark()
    d.signal(signal.SIGUSR1)
    return int(d.wait_log(rx, since=mark).group(1))


def waiting(d):
    """The engine's count of requests parked until their lookups end."""
    return statistic(d, r"statistics: cache .* waiting=(\d+) ")


def open_connections(d):
    """The daemon's count of open connections."""
    return statistic(d, r"statistics: connections=\d+ open=(\d+) ")


def wait_count(d, count, want, timeout=10):
    """Ask for statistics until count(d) reaches want (bounded); the last count seen."""
    seen = [None]

    def reached():
        seen[0] = count(d)
        return seen[0] == want
    poll_until(reached, timeout, interval=0.02)
    return seen[0]


def slow(n):
    """A request for an address that the silent DNS server never answers."""
    return request(f"198.51.{100 + n // 250}.{n % 250 + 1}")


def short(address, **attrs):
    """A request with only what the decision reads: about 60 bytes."""
    fields = {"request": "smtpd_access_policy", "client_address": address, **attrs}
    return "".join(f"{k}={v}\n" for k, v in fields.items()).encode() + b"\n"


def test_stalled_then_ready_then_closed():
    rules = [{"name": "2.0.0.127.slow.test", "a": ["127.0.0.2"]},
             {"name": "1.0.0.127.slow.test", "action": "nxdomain"},
             {"name": "99.2.0.192.slow.test", "action": "nxdomain"},
             {"name": "*.slow.test", "action": "drop"}]
    with FakeDNS(rules) as dns:
        extra = (f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 30s\ntries = 1\n"
                 "[dnsbl slow.test]\n")
        server = f"request_timeout = {REQUEST_TIMEOUT}s\nmax_connections = 1000\n"
        d = Policyd(start=False)
        d.write_config(text=d.config_text(server=server, extra=extra).replace(
            "log_level = debug", "log_level = info"))
        d.start()
        with d:
            d.wait_log(r"\[dnsbl slow.test\]: health check passed")
            # 2,047 parked: 32 connections, each with its own address (one key job each).
            parked = []
            for i in range(CAP // PER_CONN):
                s = d.connect("unix")
                n = PER_CONN - 1 if i == CAP // PER_CONN - 1 else PER_CONN
                s.sendall(slow(i) * n)
                parked.append(s)
            got = wait_count(d, waiting, CAP - 1)
            t.eq(got, CAP - 1, "2,047 requests wait for a DNS server that never answers")

            # D: the 2,048th request, and a second one that must wait for room.
            conn_d = d.connect("unix")
            conn_d.sendall(slow(100) * 2)
            t.eq(wait_count(d, waiting, CAP), CAP, "connection D took the 2,048th and stalled")

            # C: one request DNS answers at once, then 20 that need no DNS.
            conn_c = d.connect("unix")
            # Short requests, so that all 21 arrive in one read (the input buffer
            # starts at 4 KiB) and the 20 overrun one slice (CONN_SLICE, 16).
            conn_c.sendall(short("192.0.2.99") + short("192.0.2.98", sasl_username="u") * 20)
            replies = read_replies(conn_c, 21, timeout=10)
            t.eq(len(replies), 21, "connection C got its 21 replies (stalled, then a slice, then the ready list)")
            t.ok(all(r.startswith("action=DUNNO") for r in replies),
                 "C's replies are DUNNO", replies[:2])
            before = open_connections(d)
            conn_c.close()
            t.eq(wait_count(d, open_connections, before - 1), before - 1, "C's close reached the daemon")

            # E: one more connection parks a request and stalls with a second.
            conn_e = d.connect("unix")
            conn_e.sendall(slow(101) * 2)
            t.eq(wait_count(d, waiting, CAP + 1), CAP + 1, "connection E parked one and stalled")

            # The daemon still answers a fresh client at once (sasl: no DNS).
            reply = d.ask(request("192.0.2.97", sasl_username="user"), kind="unix")
            t.ok(reply.startswith("action=DUNNO"), "a new client is answered meanwhile", reply)

            # The parked requests end at request_timeout with on_error (DUNNO): D and E
            # get both of theirs, the stalled second ones included.
            for name, sock in (("D", conn_d), ("E", conn_e)):
                try:
                    got = read_replies(sock, 2, timeout=REQUEST_TIMEOUT * 3)
                except (ConnectionError, socket.timeout) as e:
                    got = [repr(e)]
                t.eq(len(got), 2, f"{name} gets both replies by request_timeout", got)
            alive = d.proc.poll() is None
            t.ok(alive, "the daemon is still running", d.log()[-2000:] if not alive else "")
            code = d.stop(timeout=REQUEST_TIMEOUT + 5)
            t.eq(code, 0, "SIGTERM then exits 0")
            t.ok(not re.search(r"AddressSanitizer|Assertion", d.log()),
                 "no sanitizer report or failed assertion in the log", d.log()[-3000:])
            for s in parked + [conn_d, conn_e]:
                s.close()


t.run("stalled, then ready, then closed: no use after free", test_stalled_then_ready_then_closed)
t.done()
