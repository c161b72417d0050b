#!/usr/bin/env python3
"""Integration: the replies of one loop turn leave in one system call (policyd/outbox.c),
and policyd writes them one by one where the kernel does not give it io_uring.

To put N replies into one turn for certain, the daemon is stopped (SIGSTOP) while N
connections each send a request, then continued: its next poll finds all N ready.
strace, attached to the daemon, shows the system calls that carried the replies."""

import os
import re
import signal
import subprocess
import time

from lib.daemon import Policyd, Tap, read_replies, replies_until, request
from lib.seccomp import deny_io_uring

t = Tap()
N = 20
SENTINEL = "203.0.113.250"
WRITES = ("write", "writev", "sendto", "sendmsg")
CALL_RX = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((\d+),\s*([^,)]*)")


def tracer(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^TracerPid:\s*(\d+)", f.read(), re.M).group(1))


def wait_until(what, cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def traced_turn(d):
    """N connections, each answered once; then N requests that the daemon finds in one
    turn. Returns the N replies and the traced calls after SIGCONT as (name, fd, arg)."""
    socks = [d.connect("tcp") for _ in range(N)]
    try:
        for s in socks:
            s.sendall(request())
            read_replies(s, 1)
        path = os.path.join(d.dir, "strace.out")
        strace = subprocess.Popen(["strace", "-f", "-qq", "-e", f"trace=io_uring_enter,{','.join(WRITES)}",
                                   "-o", path, "-p", str(d.pid())], stderr=subprocess.DEVNULL)
        try:
            # Attached once the kernel names strace as the tracer; a reply then shows in
            # the trace once strace is past its set-up.
            wait_until("strace to attach", lambda: tracer(d.pid()) == strace.pid)
            for _ in range(200):
                socks[0].sendall(request())
                read_replies(socks[0], 1)
                if os.path.getsize(path) > 0:
                    break
            os.kill(d.pid(), signal.SIGSTOP)
            stopped = re.compile(rf"^{d.pid()}\s+--- stopped by SIGSTOP ---", re.M)
            wait_until("the daemon to stop", lambda: stopped.search(open(path).read()) is not None)
            for s in socks:
                s.sendall(request())
            os.kill(d.pid(), signal.SIGCONT)
            replies = [r for s in socks for r in read_replies(s, 1)]
            # The reply that ends the trace: answered after the N, in a later turn.
            socks[0].sendall(request(SENTINEL))
            replies_until(socks[0], f"[{SENTINEL}]")
        finally:
            strace.send_signal(signal.SIGINT)
            strace.wait(10)
    finally:
        for s in socks:
            s.close()
    with open(path) as f:
        text = f.read()
    after = text[text.find("--- SIGCONT"):] if "--- SIGCONT" in text else ""
    calls = []
    for line in after.splitlines():
        m = CALL_RX.match(line)
        # Descriptor 2 is the log (stderr into a file); every other write is a reply.
        if m and (m.group(1) == "io_uring_enter" or int(m.group(2)) != 2):
            calls.append((m.group(1), int(m.group(2)), m.group(3)))
    return replies, calls, after


def first_turn(calls):
    """The calls that carried the N replies: those before the sentinel's own."""
    return calls[:-1]


def with_sentinel(d):
    """d with a local list of SENTINEL alone, whose reply names it."""
    path = os.path.join(d.dir, "sentinel.cidr")
    with open(path, "w") as f:
        f.write(SENTINEL + "\n")
    d.write_config(extra=f"[list sentinel]\nfile = {path}\n")
    return d


def test_one_call():
    d = with_sentinel(Policyd(start=False))
    with d.start():
        replies, calls, trace = traced_turn(d)
        t.eq(replies, ["action=DUNNO"] * N, f"{N} requests found in one turn are answered")
        turn = first_turn(calls)
        entries = [int(arg) for name, _, arg in turn if name == "io_uring_enter"]
        t.eq(entries, [N], f"their {N} replies leave in one io_uring_enter that submits {N} sends",
             trace[-3000:])
        t.eq([c for c in turn if c[0] in WRITES], [], "no reply leaves by a write of its own", trace[-3000:])
        t.ok(re.search(r"io_uring is not available", d.log()) is None, "the log does not say io_uring is missing")
        # A client that pipelines more replies than its socket holds, and reads only at
        # the end: the socket takes part of a turn's send, libuv writes the rest.
        with d.connect("tcp") as s:
            s.sendall(request() * 3000 + request(SENTINEL))
            got = replies_until(s, f"[{SENTINEL}]", limit=4000, timeout=20)
        t.eq(got[:-1], ["action=DUNNO"] * 3000, "3000 pipelined replies, more than the socket holds, arrive whole "
             "and in order")


def test_without_io_uring():
    d = with_sentinel(Policyd(start=False, preexec=deny_io_uring))
    with d.start():
        t.ok(d.logged(r"io_uring is not available \(Operation not permitted\): each reply is written by a "
                      r"system call of its own") is not None,
             "where seccomp denies io_uring_setup, the log says replies are written one by one")
        replies, calls, trace = traced_turn(d)
        t.eq(replies, ["action=DUNNO"] * N, f"{N} requests found in one turn are answered")
        turn = first_turn(calls)
        t.eq([c for c in turn if c[0] == "io_uring_enter"], [], "no io_uring_enter", trace[-3000:])
        t.eq(len([c for c in turn if c[0] in WRITES]), N, f"{N} writes, one per reply", trace[-3000:])


def main():
    t.run("test_one_call", test_one_call)
    t.run("test_without_io_uring", test_without_io_uring)
    t.done()


main()
