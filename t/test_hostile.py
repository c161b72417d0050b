#!/usr/bin/env python3
"""Integration: hostile policy clients. Each violation closes only
that connection, with a log line naming the peer; a normal client on another
connection is answered throughout; memory and descriptors do not grow with junk."""

import os
import socket
import time

from lib.daemon import Policyd, Tap, closed_by_peer, read_replies, request

t = Tap()
# policyd logs why it closes a connection before it closes it, and every check of
# such a line below comes after the close was seen: the line is there already. A
# short wait also keeps the bystander, idle for at most 1 s, alive when it is not.
LOGGED = 0.5

# Each case: name, bytes to send, the log text expected for it.
VIOLATIONS = [
    ("an over-long line", b"client_address=" + b"1" * 9000 + b"\n", r"protocol error: line too long"),
    ("a request over 64 KiB", b"".join(b"x%d=%s\n" % (i, b"y" * 1000) for i in range(70)), r"protocol error: request too large"),
    ("10,000 attributes", b"".join(b"a%d=1\n" % i for i in range(10000)), r"protocol error: too many attributes"),
    ("a NUL byte", b"request=smtpd_access_policy\nclient_address=192.0.2.1\x00\n\n", r"protocol error: NUL byte"),
    ("a line without '='", b"request=smtpd_access_policy\nhello world\n\n", r"protocol error: line without '='"),
    ("an empty request", b"\n", r"protocol error: empty request"),
]


def check_bystander(bystander, what):
    """The normal client on its own long-lived connection is still answered."""
    bystander.sendall(request())
    t.eq(read_replies(bystander, 1), ["action=DUNNO"], f"{what}: a normal client on another connection is answered")


def test_violations(d, bystander):
    for name, data, log_rx in VIOLATIONS:
        d.mark()
        with d.connect("tcp") as s:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed while we were still sending: that is the point
            t.ok(closed_by_peer(s), f"{name}: the connection is closed")
        m = d.logged(r"\[127\.0\.0\.1\]:\d+: " + log_rx, LOGGED)
        t.ok(m is not None, f"{name}: logged with the peer address", d.log()[d.log_offset:][-1500:])
        check_bystander(bystander, name)


def test_excerpt_is_clean(d, bystander):
    d.mark()
    with d.connect("tcp") as s:
        s.sendall(b"evil\x1b[31mred\x07\xff\n\n")
        closed_by_peer(s)
    m = d.logged(r"protocol error: line without '='.*")
    t.ok(m is not None and all(32 <= ord(c) < 127 for c in m.group(0)),
         "the logged excerpt holds only printable ASCII", m.group(0) if m else d.log()[d.log_offset:][-1500:])


def test_silent_and_stalled(d, bystander):
    d.mark()
    silent = d.connect("tcp")
    stalled = d.connect("unix")
    stalled.sendall(request()[:100])
    # The bystander keeps asking while the idle ones wait for their timeout, so that
    # it is active (not idle) and answered throughout.
    closed = {"silent": False, "stalled": False}
    answered = 0
    deadline = time.monotonic() + 6
    for _ in range(1000):  # each round waits up to 0.1 s per open client: the deadline ends it first
        if all(closed.values()) or time.monotonic() > deadline:
            break
        bystander.sendall(request())
        answered += read_replies(bystander, 1) == ["action=DUNNO"]
        for name, s in (("silent", silent), ("stalled", stalled)):
            if not closed[name]:
                closed[name] = closed_by_peer(s, timeout=0.1)
    t.ok(closed["silent"], "a client that sends nothing is closed by idle_timeout")
    t.ok(closed["stalled"], "a client that sends half a request and stalls is closed")
    t.ok(answered > 3, f"a busy client on another connection is answered meanwhile ({answered} replies)")
    t.ok(d.logged(r"\[127\.0\.0\.1\]:\d+: idle timeout; closing connection", LOGGED) is not None,
         "the idle close is logged with the peer", d.log()[d.log_offset:][-1500:])
    t.ok(d.logged(r"unix: timeout with an incomplete request \(100 bytes\)", LOGGED) is not None,
         "the stalled half request is logged with its size", d.log()[d.log_offset:][-1500:])
    silent.close()
    stalled.close()


# LOG_LIMIT_BURST in policyd/log.h: lines a peer can cause that go out before the
# limit of one a second.
LOG_BURST = 20


def poll_log_summary(d, bystander, source, rx, seconds=4):
    """Once a second has passed since a flood, the next such line carries the count
    of those held back: cause one every 0.25 s (bounded) until it is logged. The
    bystander asks meanwhile, so that its idle timeout of 1 s does not pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        bystander.sendall(request())
        read_replies(bystander, 1)
        if source:
            with d.connect("tcp", source=source) as s:
                closed_by_peer(s)
        else:
            with d.connect("tcp") as s:
                s.sendall(b"\n")
                closed_by_peer(s)
        m = d.logged(rx, 0.25)
        if m:
            return m
    return None


def test_not_allowed(d, bystander):
    d.mark()
    with d.connect("tcp", source="127.0.0.2") as s:
        t.ok(closed_by_peer(s), "a peer outside allow is closed at once")
    t.ok(d.logged(r"\[127\.0\.0\.2\]:\d+: connection refused: address not in \[server\] allow", LOGGED) is not None,
         "the refused peer is logged", d.log()[d.log_offset:][-1500:])
    check_bystander(bystander, "after a refused peer")
    # A flood of refused peers costs the log a burst, then a line a second, and the
    # line after a pause says how many were not logged.
    mark = d.mark()
    start = time.monotonic()
    for _ in range(300):
        with d.connect("tcp", source="127.0.0.2") as s:
            closed_by_peer(s)
    elapsed = time.monotonic() - start
    summary = poll_log_summary(d, bystander, "127.0.0.2", r"connection refused: address not in \[server\] allow \((\d+) more since the last such line\)")
    t.ok(summary is not None and int(summary.group(1)) > 0,
         "a later refusal says how many were not logged", summary.group(0) if summary else d.log()[mark:][-800:])
    # Lines come out in order: all those of the flood are in the log before the summary.
    before = d.log()[mark:][:summary.start()] if summary else d.log()[mark:]
    lines = before.count("connection refused: address not in [server] allow")
    t.ok(lines <= LOG_BURST + elapsed + 2,
         f"300 refused peers in {elapsed:.1f} s: {lines} log lines (a burst of {LOG_BURST}, then one a second)")


def test_disconnect_mid_reply(d, bystander):
    """A client pipelines many requests and leaves without reading the replies."""
    for _ in range(5):
        s = d.connect("tcp")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(request() * 2000)
        s.close()  # with linger 0: a reset while the daemon is writing
    check_bystander(bystander, "after clients vanished mid-reply")
    t.ok(d.proc.poll() is None, "the daemon survives clients that disconnect mid-reply")


def junk_round(d):
    for _, data, _ in VIOLATIONS:
        with d.connect("tcp") as s:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            closed_by_peer(s)


def test_memory_flat(d, bystander):
    # The bystander asks once a round: a round can take longer than idle_timeout
    # (1 s) on a busy machine or under valgrind, and it must stay connected.
    for _ in range(5):
        junk_round(d)  # warm up the allocator
        bystander.sendall(request())
        read_replies(bystander, 1)
    rss0, fds0 = d.rss_kib(), d.fd_count()
    mark, start = d.mark(), time.monotonic()
    for _ in range(60):
        junk_round(d)
        bystander.sendall(request())
        read_replies(bystander, 1)
    check_bystander(bystander, "after 360 junk connections")
    elapsed = time.monotonic() - start
    summary = poll_log_summary(d, bystander, None, r"protocol error: [^\n]*; closing connection \((\d+) more since the last such line\)")
    t.ok(summary is not None and int(summary.group(1)) > 0,
         "a later protocol error says how many were not logged", summary.group(0) if summary else "")
    before = d.log()[mark:][:summary.start()] if summary else d.log()[mark:]
    lines = before.count("protocol error:")
    t.ok(lines <= LOG_BURST + elapsed + 2,
         f"360 protocol errors in {elapsed:.1f} s: {lines} log lines (a burst of {LOG_BURST}, then one a second)")
    rss1, fds1 = d.rss_kib(), d.fd_count()
    if os.environ.get("POLICYD_SANITIZED"):
        t.skip(f"resident memory does not grow with junk ({rss0} KiB -> {rss1} KiB)",
               "resident memory under ASan includes its quarantine of freed memory")
    else:
        t.ok(rss1 - rss0 < 2048, f"resident memory does not grow with junk ({rss0} KiB -> {rss1} KiB)")
    t.eq(fds1, fds0, "no descriptor is leaked by junk connections")


def main():
    server = "allow = 127.0.0.1/32, ::1\nidle_timeout = 1s\n"
    with Policyd(server=server) as d:
        with d.connect("unix") as bystander:
            for fn in (test_violations, test_excerpt_is_clean, test_silent_and_stalled, test_not_allowed,
                       test_disconnect_mid_reply, test_memory_flat):
                t.run(fn.__name__, fn, d, bystander)
                # The bystander must survive the idle timeout of 1 s between tests.
                bystander.sendall(request())
                read_replies(bystander, 1)
        t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM after all this")
    t.done()


main()
