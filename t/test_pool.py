#!/usr/bin/env python3
"""Integration: who may hold the connection pool. A local user can reach the
loopback TCP listener; it must not be able to lock Postfix out of its unix
socket, nor hold connections forever by never reading.

- beside a unix socket, TCP clients get three quarters of max_connections
  (max_tcp_connections): with them all held, unix clients are still served;
- one TCP peer address may hold max_peer_connections, and others still connect;
- a client that sends requests and never reads its replies is closed once its
  output has not moved for idle_timeout (the replies it owes do not keep it).
"""

import socket
import time

from lib.daemon import Policyd, Tap, closed_by_peer, read_replies, request

t = Tap()


def hold(d, kind, n, source=None):
    """n connections that each got one reply: accepted and served, then held."""
    held = []
    for _ in range(n):
        s = d.connect(kind, source=source) if kind == "tcp" else d.connect(kind)
        s.sendall(request())
        read_replies(s, 1)
        held.append(s)
    return held


def refused(d, kind="tcp", source=None):
    """Whether a new connection is closed by the daemon without an answer."""
    s = d.connect(kind, source=source) if kind == "tcp" else d.connect(kind)
    with s:
        try:
            s.sendall(request())
        except (BrokenPipeError, ConnectionResetError):
            return True
        return closed_by_peer(s)


def test_unix_share():
    d = Policyd(server="max_connections = 40\n")
    with d:
        tcp = hold(d, "tcp", 30)
        t.ok(refused(d, "tcp"), "the 31st TCP connection of 40 is refused")
        t.ok(d.logged(r"connection refused: max_tcp_connections \(30\) reached") is not None,
             "the refusal names max_tcp_connections", d.log()[-1000:])
        unix = hold(d, "unix", 10)
        t.eq(len(unix), 10, "10 unix clients are served while TCP holds its whole share")
        t.ok(refused(d, "unix"), "the 41st connection is refused (max_connections)")
        for s in tcp + unix:
            s.close()
        t.eq(d.stop(), 0, "SIGTERM then exits 0")


def test_peer_share():
    d = Policyd(server="allow = 127.0.0.0/8\nmax_peer_connections = 5\n")
    with d:
        first = hold(d, "tcp", 5)
        t.ok(refused(d, "tcp"), "a sixth connection from 127.0.0.1 is refused")
        t.ok(d.logged(r"\[127\.0\.0\.1\]:\d+: connection refused: max_peer_connections \(5\) reached") is not None,
             "the refusal names max_peer_connections and the peer", d.log()[-1000:])
        other = hold(d, "tcp", 2, source="127.0.0.2")
        t.eq(len(other), 2, "another address still connects")
        for s in first + other:
            s.close()


def test_unread_output_idles_out():
    d = Policyd(server="idle_timeout = 1s\n")
    with d:
        s = d.connect("unix")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        sent = 0
        data = request() * 100
        deadline = time.monotonic() + 10
        # Write until the daemon stops reading (its output is full and the client
        # reads nothing): then sends fail with EAGAIN.
        stuck_since = None
        while time.monotonic() < deadline:
            try:
                sent += s.send(data)
                stuck_since = None
            except BlockingIOError:
                stuck_since = stuck_since or time.monotonic()
                if time.monotonic() - stuck_since > 0.3:
                    break
                time.sleep(0.01)
        t.ok(sent > 0 and stuck_since is not None, f"the daemon stopped reading a client that never reads ({sent} bytes sent)")
        m = d.logged(r"unix: timeout: the client has not read its replies \(\d+ bytes waiting\); closing connection", 10)
        t.ok(m is not None, "after idle_timeout with no output moving, the connection is closed and logged",
             d.log()[-1500:])
        s.close()
        t.eq(d.stop(), 0, "SIGTERM then exits 0")


t.run("unix share", test_unix_share)
t.run("peer share", test_peer_share)
t.run("unread output idles out", test_unread_output_idles_out)
t.done()
