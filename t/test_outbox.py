#!/usr/bin/env python3
"""Integration: the replies of one loop turn leave in one system call (policyd/outbox.c),
and policyd writes them one by one where the kernel does not give it io_uring.

To put N replies into one turn for certain, the daemon is stopped (SIGSTOP) while N
connections each send a request, and continued once the kernel holds every request
in the daemon's sockets: its next poll finds all N ready. strace, attached to the
daemon, shows the system calls that carried the replies. Each connection asks for
an address of its own, listed, so that each reply names the address it answers."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from lib.daemon import Policyd, Tap, replies_until, request
from lib.dnslib import FakeDNS
from lib.seccomp import deny_io_uring, supported as seccomp_supported
from lib.wait import poll_until

t = Tap()
N = 20
ADDRESSES = [f"203.0.113.{i + 1}" for i in range(N)]
SENTINEL = "203.0.113.250"
WRITES = ("write", "writev", "sendto", "sendmsg")
CALL_RX = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((\d+),\s*([^,)]*)")
ZONE = "bl.test"


def tracer(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^TracerPid:\s*(\d+)", f.read(), re.M).group(1))


def queued(port, peers):
    """Bytes waiting to be read in the daemon's end of each connection from a peer port,
    from /proc/net/tcp (IPv4 loopback)."""
    found = {}
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            if local == port and remote in peers:
                found[remote] = int(fields[4].split(":")[1], 16)
    return found


class Trace:
    """strace attached to a running daemon, tracing io_uring_enter and the write calls
    (or the calls named)."""

    def __init__(self, d, probe, calls=("io_uring_enter",) + WRITES):
        self.d = d
        self.path = os.path.join(d.dir, "strace.out")
        self.proc = subprocess.Popen(["strace", "-f", "-qq", "-e", f"trace={','.join(calls)}",
                                      "-o", self.path, "-p", str(d.pid())], stderr=subprocess.DEVNULL)
        # Attached once the kernel names strace as the tracer; a reply then shows in
        # the trace once strace is past its set-up.
        poll_until(lambda: tracer(d.pid()) == self.proc.pid, 10, what="strace attached to the daemon")
        for _ in range(200):
            probe()
            if os.path.getsize(self.path) > 0:
                break

    def text(self):
        with open(self.path) as f:
            return f.read()

    def calls(self, since=""):
        """(name, fd, second argument) of each traced call after the first line that
        contains `since`; descriptor 2, the log (stderr into a file), left out."""
        text = self.text()
        if since:
            text = text[text.find(since):] if since in text else ""
        out = []
        for line in text.splitlines():
            m = CALL_RX.match(line)
            if m and (m.group(1) == "io_uring_enter" or int(m.group(2)) != 2):
                out.append((m.group(1), int(m.group(2)), m.group(3)))
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)


def listed_daemon(**kw):
    """A daemon whose local list holds ADDRESSES and SENTINEL: each reply names its address."""
    d = Policyd(start=False, **kw)
    path = os.path.join(d.dir, "listed.cidr")
    with open(path, "w") as f:
        f.write("\n".join(ADDRESSES + [SENTINEL]) + "\n")
    d.write_config(extra=f"[list listed]\nfile = {path}\n")
    return d


def traced_turn(d):
    """N connections, each answered once; then each sends a request for its own address
    and the daemon finds all N in one turn. Returns whether every reply named its own
    address with nothing more on any connection, the calls traced after SIGCONT up to the
    reply to a later sentinel request (its own call left out), and the trace."""
    socks = [d.connect("tcp") for _ in range(N)]
    try:
        for s, address in zip(socks, ADDRESSES):
            s.sendall(request(address))
            replies_until(s, f"[{address}]")

        def probe():
            socks[0].sendall(request(ADDRESSES[0]))
            replies_until(socks[0], f"[{ADDRESSES[0]}]")

        trace = Trace(d, probe)
        try:
            os.kill(d.pid(), signal.SIGSTOP)
            stopped = re.compile(rf"^{d.pid()}\s+--- stopped by SIGSTOP ---", re.M)
            poll_until(lambda: stopped.search(trace.text()), 10, what="stop of the daemon in the trace")
            for s, address in zip(socks, ADDRESSES):
                s.sendall(request(address))
            peers = {s.getsockname()[1] for s in socks}
            poll_until(lambda: sum(1 for v in queued(d.port, peers).values() if v > 0) == N, 10,
                       what="request queued on each of the daemon's sockets")
            os.kill(d.pid(), signal.SIGCONT)
            answers = [replies_until(s, f"[{address}]") for s, address in zip(socks, ADDRESSES)]
            # The reply that ends the trace: answered after the N, in a later turn.
            socks[0].sendall(request(SENTINEL))
            answers[0] += replies_until(socks[0], f"[{SENTINEL}]")
        finally:
            trace.stop()
        extra = []
        for s in socks[1:]:
            s.setblocking(False)
            try:
                extra.append(s.recv(4096))
            except BlockingIOError:
                pass
        whole = (all(len(a) == 1 and f"[{address}]" in a[0] for a, address in zip(answers[1:], ADDRESSES[1:]))
                 and len(answers[0]) == 2 and f"[{ADDRESSES[0]}]" in answers[0][0] and not extra)
    finally:
        for s in socks:
            s.close()
    return whole, trace.calls("--- SIGCONT")[:-1], trace.text()


def test_one_call():
    with listed_daemon().start() as d:
        whole, turn, trace = traced_turn(d)
        t.ok(whole, f"{N} requests found in one turn get one reply each, naming its own address, and nothing more")
        entries = [int(arg) for name, _, arg in turn if name == "io_uring_enter"]
        t.eq(entries, [N], f"their {N} replies leave in one io_uring_enter that submits {N} sends", trace[-3000:])
        t.eq([c for c in turn if c[0] in WRITES], [], "no reply leaves by a write of its own", trace[-3000:])
        t.ok(re.search(r"io_uring is not available", d.log()) is None, "the log does not say io_uring is missing")


UPDATE_RX = re.compile(r"IORING_REGISTER_FILES_UPDATE, \{offset=(\d+), fds=\[(-?\d+)\]\}, 1\) = 1")


def test_registered_descriptor():
    """Each connection's descriptor is registered with the ring when the connection
    opens (slot N for descriptor N) and let go when it closes. The ring holds a socket
    it has registered open: a connection the daemon closes would otherwise never reach
    the client's end, and one the client closes would stay half open."""
    with listed_daemon().start() as d:
        def probe():
            with d.connect("tcp") as p:
                p.sendall(request(SENTINEL))
                replies_until(p, f"[{SENTINEL}]")

        trace = Trace(d, probe, calls=("io_uring_register",))
        try:
            s = d.connect("tcp")
            s.sendall(request(ADDRESSES[0]))
            answer = replies_until(s, f"[{ADDRESSES[0]}]")
            s.sendall(b"a line without an equals sign\n")
            s.settimeout(10)
            try:
                end = s.recv(4096)
            except socket.timeout:
                end = None
            s.close()

            def balanced():
                updates = [(int(a), int(b)) for a, b in UPDATE_RX.findall(trace.text())]
                taken = sorted(slot for slot, fd in updates if fd >= 0)
                freed = sorted(slot for slot, fd in updates if fd == -1)
                return updates if len(taken) >= 2 and taken == freed else None

            updates = poll_until(balanced, 10)
        finally:
            trace.stop()
        t.eq(len(answer), 1, "a connection is answered", answer)
        t.eq(end, b"", "a connection the daemon closes (a protocol error) reaches the client's end")
        t.ok(updates is not None, "each connection's descriptor is registered once it opens and let go once it "
             "closes, whichever end closed it", trace.text()[-2000:])
        t.ok(updates is not None and all(slot == fd for slot, fd in updates if fd >= 0),
             "descriptor N in slot N", trace.text()[-2000:])


def test_socket_full():
    """A client with a small receive buffer pipelines far more replies than the sockets
    hold and reads only once the daemon has had to hand the rest of a send to libuv."""
    count = 20000
    with listed_daemon().start() as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.port))
        with s:
            def probe():
                s.sendall(request(ADDRESSES[0]))
                replies_until(s, f"[{ADDRESSES[0]}]")

            trace = Trace(d, probe)
            try:
                start = len(trace.calls())
                sender = threading.Thread(
                    target=lambda: s.sendall(b"".join(request(a) for a in ADDRESSES) * (count // N)
                                             + request(SENTINEL)))
                sender.start()
                # A write of the daemon's own: libuv writing what a send left over.
                poll_until(lambda: any(c[0] in WRITES for c in trace.calls()[start:]), 20,
                           what="write after a short send")
                got = replies_until(s, f"[{SENTINEL}]", limit=100000, timeout=30)
                sender.join(30)
            finally:
                trace.stop()
            calls = trace.calls()[start:]
        want = [a for a in ADDRESSES] * (count // N)
        t.ok(len(got) == count + 1 and all(f"[{a}]" in r for a, r in zip(want, got)),
             f"{count} pipelined replies arrive whole and in order", f"{len(got)} replies")
        t.ok(any(c[0] == "io_uring_enter" for c in calls) and any(c[0] in WRITES for c in calls),
             "they left through the outbox, and libuv wrote what a full socket did not take")


def test_timer_reply():
    """A request whose lookups never finish is answered by its request_timeout deadline, a
    timer. With idle_timeout as long, and the request sent a while after connecting, the
    connection's idle timer (re-armed when it first fired) falls due in the same
    millisecond, after the deadline: the reply waits in the outbox for the turn's end,
    and the connection must not count as idle meanwhile."""
    rules = [
        {"name": f"2.0.0.127.{ZONE}", "qtype": "A", "a": ["127.0.0.2"], "ttl": 60},
        {"name": f"1.0.0.127.{ZONE}", "action": "nxdomain"},
        {"name": f"*.{ZONE}", "action": "drop"},
    ]
    with FakeDNS(rules) as dns:
        d = Policyd(start=False)
        d.write_config(server="request_timeout = 1s\nidle_timeout = 1s\n",
                       extra=f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 5s\ntries = 1\n"
                             f"[dnsbl {ZONE}]\n")
        with d.start():
            d.wait_log(r"health check passed; list enabled", timeout=10)
            with d.connect("tcp") as s:
                # The delay is the scenario, not a wait for an event: any delay below
                # idle_timeout puts both timers in the same millisecond.
                time.sleep(0.3)
                s.sendall(request("198.51.100.1"))
                reply = replies_until(s, "action=", timeout=5)
            t.eq(reply, ["action=DUNNO"], "a reply made by the request_timeout deadline reaches the client "
                 "though its idle timer is due in the same millisecond")


def test_without_io_uring():
    if not seccomp_supported():
        t.skip("replies one by one where seccomp denies io_uring_setup", "no seccomp filter for this architecture")
        return
    with listed_daemon(preexec=deny_io_uring).start() as d:
        t.ok(d.logged(r"io_uring is not available \(Operation not permitted\): each reply is written by a "
                      r"system call of its own") is not None,
             "where seccomp denies io_uring_setup, the log says replies are written one by one")
        whole, turn, trace = traced_turn(d)
        t.ok(whole, f"{N} requests found in one turn get one reply each, naming its own address, and nothing more")
        t.eq([c for c in turn if c[0] == "io_uring_enter"], [], "no io_uring_enter", trace[-3000:])
        t.eq(len([c for c in turn if c[0] in WRITES]), N, f"{N} writes, one per reply", trace[-3000:])


def test_ring_failures():
    """liburing made to fail as some kernels do (t/shim/badring.c): replies still come."""
    shim = os.environ.get("BADRING_SHIM")
    if not shim or not os.path.exists(shim):
        t.ok(False, "the liburing shim is built", shim)
        return
    cases = (
        ("noprobe", r"io_uring is not available \(Operation not supported\): each reply is written by a system "
                    r"call of its own", "a ring that cannot send (kernels 5.1 to 5.5) is not used"),
        ("badop", r"io_uring cannot send here \(Invalid argument\); replies are written one by one from now on",
         "sends that the ring does not know turn the outbox off"),
        ("eagain", r"io_uring took 0 of 1 sends \(Resource temporarily unavailable\); replies are written one by "
                   r"one from now on", "a batch the kernel refuses turns the outbox off"),
    )
    for mode, line, what in cases:
        env = {"LD_PRELOAD": shim, "POLICYD_BADRING": mode,
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        with Policyd(env=env) as d:
            first, second = d.ask(request()), d.ask(request("192.0.2.11"))
            t.eq((first, second), ("action=DUNNO", "action=DUNNO"), f"{mode}: both requests are answered")
            t.ok(d.logged(line) is not None, f"{mode}: {what}, and the log says so", d.log()[-1500:])


def main():
    if shutil.which("strace") is None and not os.environ.get("CI"):
        t.skip("the outbox tests", "strace is not installed (apt-get install strace)")
        t.done()
        return
    t.run("test_one_call", test_one_call)
    t.run("test_registered_descriptor", test_registered_descriptor)
    t.run("test_socket_full", test_socket_full)
    t.run("test_timer_reply", test_timer_reply)
    t.run("test_without_io_uring", test_without_io_uring)
    t.run("test_ring_failures", test_ring_failures)
    t.done()


main()
