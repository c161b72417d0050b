#!/usr/bin/env python3
"""Integration: the built daemon serves Postfix's protocol on a unix socket, TCP on
IPv4 and TCP on IPv6 at once.

One local list holds a single address, SENTINEL, that no other request uses: its
reply names it, so a request for it tells where a connection's replies end."""

import os
import resource
import selectors
import socket
import stat
import time

from lib.daemon import Policyd, Tap, fixtures, read_replies, replies_until, request

t = Tap()
SENTINEL = "203.0.113.250"


def test_fixtures(d):
    for kind in ("unix", "tcp", "tcp6"):
        for name, data in fixtures().items():
            t.eq(d.ask(data, kind), "action=DUNNO", f"{kind}: fixture {name} gets DUNNO")


def test_many_on_one_connection(d):
    with d.connect("unix") as s:
        replies = []
        for i in range(100):
            s.sendall(request(f"192.0.2.{i % 250 + 1}"))
            replies += read_replies(s, 1)
    t.eq(replies, ["action=DUNNO"] * 100, "100 requests on one connection, each answered")


def test_pipelined(d):
    with d.connect("tcp") as s:
        # The sentinel's request last: every reply before its own belongs to the 10.
        s.sendall(b"".join(request(f"198.51.100.{i}") for i in range(10)) + request(SENTINEL))
        replies = replies_until(s, f"[{SENTINEL}]")
        t.eq(replies[:-1], ["action=DUNNO"] * 10, "10 pipelined requests in one write get 10 replies, and nothing more")


def test_byte_by_byte(d):
    data = fixtures()["rcpt-ipv6.txt"]
    with d.connect("tcp") as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            s.send(data[i : i + 1])
        t.eq(read_replies(s, 1), ["action=DUNNO"], f"a request sent in {len(data)} 1-byte writes is answered")


def test_reply_format(d):
    with d.connect("unix") as s:
        s.sendall(request())
        s.settimeout(5)
        buf = b""
        while not buf.endswith(b"\n\n"):
            buf += s.recv(100)
    t.eq(buf, b"action=DUNNO\n\n", "the reply is exactly one action line and an empty line, LF only")


def test_concurrent(d, n=500):
    """n connections open at once, each sends a request, all are answered."""
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for i in range(n):
            s = d.connect("tcp" if i % 2 else "unix")
            socks.append(s)
        for s in socks:
            s.sendall(request())
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
        answered = 0
        deadline = time.monotonic() + 20
        while answered < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                data = key.fileobj.recv(4096)
                key.data.extend(data)
                if key.data.endswith(b"\n\n") or not data:
                    sel.unregister(key.fileobj)
                    answered += key.data == b"action=DUNNO\n\n"
        t.eq(answered, n, f"{n} concurrent connections all answered DUNNO")
        t.ok(d.proc.poll() is None, "the daemon is still running")
    finally:
        for s in socks:
            s.close()


def test_socket_mode(d):
    st = os.stat(d.unix)
    t.ok(stat.S_ISSOCK(st.st_mode), "the unix listener is a socket file")
    t.eq(oct(stat.S_IMODE(st.st_mode)), oct(0o660), "its mode is the default 0660")


def test_shutdown(d):
    t.eq(d.stop(), 0, "SIGTERM: exit status 0")
    t.ok(not os.path.exists(d.unix), "the unix socket file is removed at exit")


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    d = Policyd(tcp6=True, start=False)
    path = os.path.join(d.dir, "sentinel.cidr")
    with open(path, "w") as f:
        f.write(SENTINEL + "\n")
    d.write_config(extra=f"[list sentinel]\nfile = {path}\n")
    with d.start():
        for fn in (
            test_fixtures,
            test_reply_format,
            test_many_on_one_connection,
            test_pipelined,
            test_byte_by_byte,
            test_concurrent,
            test_socket_mode,
            test_shutdown,
        ):
            t.run(fn.__name__, fn, d)
    t.done()


main()
