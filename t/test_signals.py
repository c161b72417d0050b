#!/usr/bin/env python3
"""Integration: operations: SIGHUP reload (a broken file
keeps the old configuration, connections survive), SIGTERM/SIGINT graceful exit,
SIGUSR1 statistics, stale unix socket handling, socket mode and group, systemd
socket activation, privilege drop."""

import grp
import os
import pwd
import signal
import socket
import stat
import subprocess
import time

from lib.daemon import POLICYD, Policyd, Tap, closed_by_peer, read_replies, request
from lib.dnslib import FakeDNS, reverse_ip

t = Tap()


def test_reload():
    with Policyd(server="allow = 127.0.0.0/8\n") as d:
        keep = d.connect("unix")
        keep.sendall(request())
        read_replies(keep, 1)
        # A broken file: the old configuration stays in force.
        good = open(d.config).read()
        d.write_config(text=good + "[server]\nbogus_key = 1\n")
        d.mark()
        d.signal(signal.SIGHUP)
        t.ok(d.logged(r"policyd\.ini:\d+: unknown key 'bogus_key'") is not None
             and d.logged(r"reload failed: keeping the previous configuration") is not None,
             "SIGHUP with a broken file: the error is logged as FILE:LINE and the old configuration kept",
             d.log()[d.log_offset:][-1500:])
        keep.sendall(request())
        t.eq(read_replies(keep, 1), ["action=DUNNO"], "a connection opened before the failed reload is still served")
        with d.connect("tcp", source="127.0.0.2") as s:
            s.sendall(request())
            t.eq(read_replies(s, 1), ["action=DUNNO"], "the old allow list still applies (127.0.0.2 admitted)")
        # A good file with a narrower allow list takes effect.
        d.write_config(server="allow = 127.0.0.1/32\n")
        d.mark()
        d.signal(signal.SIGHUP)
        d.wait_log(r"configuration reloaded")
        with d.connect("tcp", source="127.0.0.2") as s:
            t.ok(closed_by_peer(s), "after a good reload the new allow list applies (127.0.0.2 refused)")
        keep.sendall(request())
        t.eq(read_replies(keep, 1), ["action=DUNNO"], "the old connection survives the good reload too")
        keep.close()
        t.eq(d.stop(), 0, "SIGTERM after reloads: exit 0")


def test_sigusr1():
    with Policyd() as d:
        d.ask(request())
        d.mark()
        d.signal(signal.SIGUSR1)
        m = d.logged(r"statistics: connections=(\d+) open=\d+ .*requests=(\d+)")
        t.ok(m is not None and int(m.group(1)) >= 1 and int(m.group(2)) >= 1,
             "SIGUSR1 logs statistics with the counts so far", m.group(0) if m else d.log()[d.log_offset:][-1500:])


def test_graceful_exit(signum):
    """50 pipelined requests, the last one still in flight when the signal comes: its
    DNS answer is due 0.3 s later. policyd must answer all 50, then exit 0 within
    request_timeout + 1 s (policyd.8, SIGNALS)."""
    slow = "192.0.2.99"
    name = f"{reverse_ip(slow)}.bl.test"
    rules = [
        {"name": "2.0.0.127.bl.test", "a": ["127.0.0.2"]},
        {"name": name, "qtype": "TXT", "txt": "Listed, answered late"},
        {"name": name, "a": ["127.0.0.2"], "delay_ms": 300},
    ]  # every other name: NXDOMAIN at once
    with FakeDNS(rules) as dns:
        d = Policyd(start=False)
        d.write_config(server="request_timeout = 1s\n",
                       extra=f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 2s\n[dnsbl bl.test]\n")
        with d.start():
            d.wait_log(r"\[dnsbl bl\.test\]: health check passed; list enabled")
            s = d.connect("tcp")
            idle = d.connect("unix")
            s.sendall(request() * 49 + request(slow))
            # Its query logged: policyd has read all 50 and waits for the answer.
            in_flight = dns.wait_queries(1, name, "A")
            started = time.monotonic()
            d.signal(signum)
            try:
                replies = read_replies(s, 50)
            except (OSError, ConnectionError) as e:
                replies = [f"{type(e).__name__}: {e}"]
            code = d.proc.wait(5)
            took = time.monotonic() - started
            t.eq(code, 0, f"signal {signum}: exit status 0")
            t.ok(took < 2.0, f"signal {signum}: exits within request_timeout + 1 s ({took:.2f} s)")
            t.ok(in_flight and len(replies) == 50 and replies[-1].startswith(f"action=REJECT 5.7.1 Your host [{slow}] "),
                 f"signal {signum}: requests sent before it were all answered, the one in flight too",
                 f"query logged before the signal: {in_flight}; {len(replies)} replies, the last: {replies[-1][:200]!r}")
            t.ok(closed_by_peer(idle, 1), f"signal {signum}: idle connections are closed")
            t.ok("shutting down" in d.log(), f"signal {signum}: the shutdown is logged")


def make_stale_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays: a socket nobody answers on


def test_stale_socket():
    d = Policyd(unix=True, start=False)
    make_stale_socket(d.unix)
    with d:
        d.start()
        t.ok("removing stale socket" in d.log(), "a stale socket file is removed at start")
        t.eq(d.ask(request(), "unix"), "action=DUNNO", "and the new socket serves")

    d = Policyd(unix=True, start=False)
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(d.unix)
    live.listen(5)
    with d:
        d.start(expect_ready=False)
        code = d.proc.wait(10)
        t.ok(code == 1 and "another process is listening" in d.log(), "a socket somebody answers on is left alone; exit 1", d.log())
    t.ok(stat.S_ISSOCK(os.stat(d.unix).st_mode), "the live socket file is still there")
    live.close()

    d = Policyd(unix=True, start=False)
    with open(d.unix, "w") as f:
        f.write("precious")
    with d:
        d.start(expect_ready=False)
        code = d.proc.wait(10)
        t.ok(code == 1 and "is not a socket" in d.log(), "a regular file at the socket path is not removed; exit 1", d.log())
    t.eq(open(d.unix).read(), "precious", "the regular file is untouched")


def test_mode_group_user():
    if os.geteuid() != 0:
        t.skip("socket_mode, socket_group and user are applied", "not root: mode/group/user need root")
        return
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    with Policyd(server=f"socket_mode = 0600\nsocket_group = {group}\nuser = nobody\n") as d:
        st = os.stat(d.unix)
        t.eq(oct(stat.S_IMODE(st.st_mode)), oct(0o600), "socket_mode = 0600 is applied")
        t.eq(grp.getgrgid(st.st_gid).gr_name, group, f"socket_group = {group} is applied")
        uid = None
        with open(f"/proc/{d.pid()}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    uid = [int(x) for x in line.split()[1:]]
        nobody = pwd.getpwnam("nobody").pw_uid
        t.eq(uid, [nobody] * 4, "after binding, the daemon runs as user nobody (real, effective, saved, fs)")
        t.eq(d.ask(request(), "tcp"), "action=DUNNO", "and still serves")


def test_socket_activation():
    """systemd passes listening sockets as fd 3, 4...; policyd serves them (no listen lines)."""
    d = Policyd(tcp=False, unix=False, start=False)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    path = os.path.join(d.dir, "activated.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    unix.listen(16)
    with open(d.config, "w") as f:
        f.write("[server]\nlog = stderr\nlog_level = debug\n[policy]\nhelp_url = x\ncontact = y@example.net\n")
    env = dict(os.environ, LISTEN_FDS="2")
    d.logf = logf = open(d.log_path, "ab")

    def child_setup():
        # Runs in the child between fork and exec: the sockets must be fds 3 and 4;
        # the shell wrapper sets LISTEN_PID to its own PID, which exec keeps.
        os.dup2(tcp.fileno(), 3)
        os.dup2(unix.fileno(), 4)

    wrapper = ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', POLICYD, "-c", d.config]
    d.proc = subprocess.Popen(wrapper, stdout=logf, stderr=logf, env=env, pass_fds=(3, 4), preexec_fn=child_setup)
    with d:
        d.wait_log(r"started with")
        t.ok("2 socket(s) passed by systemd" in d.log(), "LISTEN_FDS=2: both sockets are taken", d.log())
        with socket.create_connection(tcp.getsockname(), timeout=5) as s:
            s.sendall(request())
            t.eq(read_replies(s, 1), ["action=DUNNO"], "the activated TCP socket serves")
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(path)
        c.sendall(request())
        t.eq(read_replies(c, 1), ["action=DUNNO"], "the activated unix socket serves")
        c.close()
        t.eq(d.stop(), 0, "exit 0")
    t.ok(os.path.exists(path), "an activated unix socket file is left for systemd (not unlinked)")
    tcp.close()
    unix.close()


for fn, args in (
    (test_reload, ()),
    (test_sigusr1, ()),
    (test_graceful_exit, (signal.SIGTERM,)),
    (test_graceful_exit, (signal.SIGINT,)),
    (test_stale_socket, ()),
    (test_mode_group_user, ()),
    (test_socket_activation, ()),
):
    t.run(fn.__name__, fn, *args)
t.done()
