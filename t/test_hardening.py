#!/usr/bin/env python3
"""Integration: policyd against its neighbours (a local user, a compromised smtpd,
a hostile DNS server). One scenario per attack; each asserts what the daemon
guarantees against it and fails on a daemon without that guarantee:

- the unix socket is created with its mode and group, never changed by path
  afterwards (strace shows no chmod/chown of the path);
- SIGTERM while a client does not read its replies exits 0, not with an abort;
- a reload whose cache cannot be allocated is refused and the daemon serves on;
- a TCP peer whose address cannot be had (getpeername fails) is refused;
- memory stays bounded with 45 clients that write without reading and 40 that
  pipeline against a DNS server that never answers, while a well-behaved client
  is answered quickly, and SIGTERM then exits 0;
- a reload of idle_timeout applies to open connections both ways;
- a FIFO or a device as a list file is refused at once, not waited on;
- a nameserver off loopback is warned about by -t;
- --check refuses arguments with a line feed;
- running as root without [server] user, and running out of descriptors, are logged;
- a health check that ends after a reload updates the list that stays;
- a reply whose question name is compressed (the udns 0.4 overflow) is refused.
"""

import grp
import os
import resource
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

from lib.daemon import POLICYD, Policyd, Tap, read_replies, request
from lib.dnslib import FakeDNS, reverse_ip

t = Tap()
SANITIZED = bool(os.environ.get("POLICYD_SANITIZED"))


def run(args, timeout=10, **kw):
    return subprocess.run([POLICYD, *args], capture_output=True, text=True, timeout=timeout, **kw)


FLOOD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "flood.py")


def pct(values, p):
    """The p-th percentile (nearest rank) of a list; infinity when it is empty."""
    values = sorted(values)
    return values[max(0, int(len(values) * p / 100) - 1)] if values else float("inf")


def probe_latency(sock, seconds):
    """Latencies (ms) of one request at a time for a locally listed client, paced at 5 ms."""
    lat, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.monotonic()
        sock.sendall(request("192.0.2.77"))
        read_replies(sock, 1)
        lat.append((time.monotonic() - start) * 1000)
        time.sleep(0.005)  # pace the probe: it measures latency, not throughput
    return lat


# 1 -------------------------------------------------------------------------
def test_socket_created_safely():
    """Mode and group come from the umask and the effective group at bind time."""
    if os.geteuid() != 0 or shutil.which("strace") is None:
        t.skip("socket created with its mode and group", "needs root and strace")
        return
    d = Policyd(tcp=False, start=False, server="socket_mode = 0640\nsocket_group = nogroup\n")
    trace = os.path.join(d.dir, "strace.log")
    d.args = []
    proc = subprocess.Popen(
        ["strace", "-f", "-o", trace, "-e", "trace=chmod,fchmod,fchmodat,chown,fchown,fchownat,lchown",
         POLICYD, "-c", d.config], stdout=subprocess.DEVNULL, stderr=open(d.log_path, "ab"),
        # LeakSanitizer cannot run under ptrace (it would end the run with exit 1).
        env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    d.proc = proc
    with d:
        d.wait_log(r"started with", timeout=20)
        st = os.lstat(d.unix)
        t.ok(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640,
             "the socket has mode 0640", oct(st.st_mode))
        t.eq(st.st_gid, grp.getgrnam("nogroup").gr_gid, "... and group nogroup")
        # SIGTERM to policyd itself (strace's child), then strace ends with it.
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            child = int(f.read().split()[0])
        os.kill(child, signal.SIGTERM)
        t.eq(proc.wait(10), 0, "exit 0")
    with open(trace) as f:
        calls = [line for line in f if d.unix in line]
    t.ok(not calls, "no chmod or chown by path on the socket (a swapped symlink could not be hit)",
         "".join(calls))


# 2 -------------------------------------------------------------------------
def test_sigterm_with_unread_replies():
    with Policyd(server="request_timeout = 1s\n") as d:
        s = d.connect()
        s.setblocking(False)
        data = request("192.0.2.7") * 2000
        sent, deadline = 0, time.monotonic() + 5
        # Write until the kernel and policyd stop taking bytes: replies pile up unread.
        while time.monotonic() < deadline:
            try:
                sent += s.send(data[sent % len(data):])
            except BlockingIOError:
                if not select.select([], [s], [], 0.3)[1]:
                    break
        d.mark()
        start = time.monotonic()
        code = d.stop(timeout=10)
        took = time.monotonic() - start
        t.eq(code, 0, f"SIGTERM with a client that does not read ({sent} bytes sent): exit 0, "
                      "not an abort")
        t.ok(took < 1 + 1.5, f"... within request_timeout + 1 s ({took:.2f} s)")
        s.close()


# 3 -------------------------------------------------------------------------
def test_reload_cache_allocation_fails():
    if SANITIZED or os.environ.get("POLICYD_VALGRIND"):
        t.skip("a reload whose cache cannot be allocated is refused", "address-space limit under sanitizers")
        return
    limit = 256 << 20

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    d = Policyd(start=False, extra="[cache]\nsize = 1000\n")
    d.logf = open(d.log_path, "ab")
    d.proc = subprocess.Popen([POLICYD, "-c", d.config], stdout=d.logf, stderr=d.logf, preexec_fn=cap)
    with d:
        d.wait_log("started with")
        t.eq(d.ask(request("192.0.2.1")), "action=DUNNO", "serving with a small cache")
        d.write_config(extra="[cache]\nsize = 10000000\n")
        d.mark()
        d.signal(signal.SIGHUP)
        m = d.logged(r"reload refused: cannot allocate a cache", timeout=10)
        t.ok(m is not None, "a 10,000,000-entry cache beyond the address-space limit: reload refused")
        t.eq(d.ask(request("192.0.2.2")), "action=DUNNO", "... and the daemon still answers")
        t.eq(d.proc.poll(), None, "... and is still running")


# 5 -------------------------------------------------------------------------
def test_unknown_peer_refused():
    shim = os.environ.get("FAILPEER_SHIM")
    if not shim or not os.path.exists(shim):
        t.ok(False, "the getpeername shim is built", shim)
        return
    env = {"LD_PRELOAD": shim, "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    with Policyd(server="allow = 127.0.0.1/32\n", env=env) as d:
        d.mark()
        s = d.connect()
        s.sendall(request("192.0.2.1"))
        try:
            got = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            got = b""
        t.eq(got, b"", "a TCP peer whose address cannot be read is not served")
        t.ok(d.logged(r"connection refused: the peer's address is unknown") is not None,
             "... and the refusal is logged")
        s.close()
        t.eq(d.ask(request("192.0.2.1"), "unix"), "action=DUNNO", "the unix socket still serves")


# 6 -------------------------------------------------------------------------
def test_memory_bounded():
    rules = [{"name": "2.0.0.127.slow.test", "a": ["127.0.0.2"]},
             {"name": "1.0.0.127.slow.test", "action": "nxdomain"},
             {"name": "*.slow.test", "action": "drop"}]
    with FakeDNS(rules) as dns:
        extra = (f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 1s\ntries = 1\n"
                 "[dnsbl slow.test]\n")
        d = Policyd(start=False)
        local = os.path.join(d.dir, "local.cidr")
        with open(local, "w") as f:
            f.write("192.0.2.0/24\n")
        text = d.config_text(server="request_timeout = 1s\nmax_connections = 1000\n",
                             extra=extra + f"[list local]\nfile = {local}\nweight = 10\n")
        # info, as in production: every refusal is logged, passes are not.
        d.write_config(text=text.replace("log_level = debug", "log_level = info"))
        d.start()
        with d:
            d.wait_log(r"\[dnsbl slow.test\]: health check passed")
            rss0 = d.rss_kib()
            probe = d.connect("tcp")
            base = probe_latency(probe, 3)
            flood = subprocess.Popen([sys.executable, FLOOD, d.unix, "45", "40", "8"],
                                     stdout=subprocess.PIPE, text=True)
            ready = flood.stdout.readline().strip()
            lat = probe_latency(probe, 7.5)
            peak = d.rss_kib()
            summary = flood.stdout.readline().strip()
            flood.wait(10)
            t.eq(ready, "READY", "45 writers and 40 pipeliners connected")
            p99, p99_base = pct(lat, 99), pct(base, 99)
            if SANITIZED:
                t.skip("RSS bound", f"sanitizer build ({rss0} -> {peak} KiB)")
            else:
                t.ok(peak < 64 * 1024, f"RSS {rss0} -> {peak} KiB with 45 non-reading writers and "
                     f"40 pipeliners on a silent DNS ({summary}): under 64 MiB")
            if SANITIZED or os.environ.get("POLICYD_VALGRIND"):
                t.skip("p99 of a well-behaved client", f"slowed by instrumentation ({p99:.2f} ms)")
            else:
                # The machine may be shared (CI runs alone; a developer's may not): the same
                # client's p99 without the flood is the yardstick when it is itself slow.
                t.ok(p99 < 5 or p99 <= 3 * p99_base + 2,
                     f"a well-behaved client meanwhile: p99 {p99:.2f} ms over {len(lat)} requests "
                     f"(without the flood {p99_base:.2f} ms): under 5 ms, or within 3 x + 2 ms of that")
            start = time.monotonic()
            code = d.stop(timeout=10)
            t.eq(code, 0, f"SIGTERM then exits 0 ({time.monotonic() - start:.2f} s)")
            probe.close()


# 9 -------------------------------------------------------------------------
def test_idle_timeout_reload():
    with Policyd(server="idle_timeout = 0\n") as d:
        s = d.connect("unix")
        s.sendall(request("192.0.2.1"))
        read_replies(s, 1)
        d.write_config(server="idle_timeout = 1s\n")
        d.mark()
        d.signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        s.settimeout(5)
        start = time.monotonic()
        try:
            closed = s.recv(10) == b""
        except (socket.timeout, ConnectionResetError):
            closed = False
        took = time.monotonic() - start
        t.ok(closed and took < 3, f"idle_timeout 0 -> 1s: an old idle connection gets the new "
                                  f"timeout (closed after {took:.2f} s)")
        s.close()
    rules = [{"name": "2.0.0.127.slow.test", "a": ["127.0.0.2"]},
             {"name": "1.0.0.127.slow.test", "action": "nxdomain"},
             {"name": "*.slow.test", "action": "drop"}]
    with FakeDNS(rules) as dns:
        extra = f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 1s\ntries = 1\n[dnsbl slow.test]\n"
        with Policyd(server="idle_timeout = 1s\nrequest_timeout = 2s\n", extra=extra) as d:
            d.wait_log(r"\[dnsbl slow.test\]: health check passed")
            s = d.connect("unix")
            s.sendall(request("198.51.100.1"))
            d.write_config(server="idle_timeout = 0\nrequest_timeout = 2s\n", extra=extra)
            d.mark()
            d.signal(signal.SIGHUP)
            d.wait_log("configuration reloaded")
            reply = read_replies(s, 1, timeout=5)
            t.eq(reply, ["action=DUNNO"], "idle_timeout 1s -> 0 while a request waits for DNS: "
                                          "answered (on_error), not closed")
            s.close()


# 10, 11, 13 ----------------------------------------------------------------
def test_files_and_arguments():
    tmp = tempfile.mkdtemp(prefix="policyd-hardening-")
    fifo = os.path.join(tmp, "list.fifo")
    os.mkfifo(fifo)
    base = ("[server]\nlisten = inet:127.0.0.1:1\n[policy]\nhelp_url = https://h.test/\n"
            "contact = postmaster@h.test\n")
    for name, path in (("a FIFO", fifo), ("/dev/zero", "/dev/zero")):
        cfg = os.path.join(tmp, "t.ini")
        with open(cfg, "w") as f:
            f.write(base + f"[list l]\nfile = {path}\n")
        start = time.monotonic()
        try:
            r = run(["-t", "-c", cfg], timeout=10)
            took = time.monotonic() - start
            t.ok(r.returncode == 1 and "not a regular file" in r.stderr and took < 5,
                 f"{name} as a list file: refused at once ({took:.2f} s)", r.stderr)
        except subprocess.TimeoutExpired:
            t.ok(False, f"{name} as a list file: refused at once", "policyd -t hung")
    with open(os.path.join(tmp, "t.ini"), "w") as f:
        f.write(base + "[dns]\nnameserver = 192.0.2.53\n[dnsbl zen.test]\n")
    r = run(["-t", "-c", os.path.join(tmp, "t.ini")])
    t.ok(r.returncode == 0 and "warning: nameserver 192.0.2.53 is not on loopback" in r.stderr,
         "-t warns about a nameserver off loopback (and still accepts it)", r.stderr)
    with open(os.path.join(tmp, "t.ini"), "w") as f:
        f.write(base)
    for opt in ("--helo", "--sender", "--client-name", "--recipient"):
        r = run(["-c", os.path.join(tmp, "t.ini"), "--check", "192.0.2.1", opt, "x\nsasl_username=a"])
        t.ok(r.returncode == 2 and "control characters" in r.stderr,
             f"--check {opt} with a line feed: refused (exit 2)", r.stderr + r.stdout)
    shutil.rmtree(tmp)


# 14 ------------------------------------------------------------------------
def test_root_and_descriptors():
    if os.geteuid() != 0:
        t.skip("running as root without user is logged", "not root")
    else:
        with Policyd() as d:
            t.ok(d.logged(r"warning: running as root: set \[server\] user") is not None,
                 "running as root with [server] user unset: a warning")
    if SANITIZED or os.environ.get("POLICYD_VALGRIND"):
        t.skip("descriptor exhaustion is logged", "instrumented builds open their own files")
        return

    def cap():
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    d = Policyd(start=False, server="max_connections = 1000\n")
    d.logf = open(d.log_path, "ab")
    d.proc = subprocess.Popen([POLICYD, "-c", d.config], stdout=d.logf, stderr=d.logf, preexec_fn=cap)
    with d:
        d.wait_log("started with")
        socks = []
        for _ in range(60):
            try:
                socks.append(d.connect("unix", timeout=2))
            except OSError:
                break
        m = d.logged(r"out of file descriptors", timeout=5)
        t.ok(m is not None, "running out of descriptors: logged, with the advice",
             d.log()[-1500:])
        for s in socks:
            s.close()
        t.eq(d.ask(request("192.0.2.1"), "unix"), "action=DUNNO", "... and served again once they are back")


# 16 ------------------------------------------------------------------------
def test_health_across_reload():
    """A health check that ends after a reload judges the list of the new configuration.

    The list passes its first check; then it turns into a wildcard (the test point
    that must not be listed is), and the check that finds out is answered only
    after a reload. The verdict must disable the list in the running
    configuration: a daemon that wrote it into the configuration it began with
    would go on refusing every client on the wildcard's word.
    """
    ok_rules = [{"name": "2.0.0.127.wild.test", "a": ["127.0.0.2"]},
                {"name": "1.0.0.127.wild.test", "action": "nxdomain"},
                {"name": "*.wild.test", "action": "nxdomain"}]
    wild_rules = [{"name": "2.0.0.127.wild.test", "a": ["127.0.0.2"]},
                  {"name": "1.0.0.127.wild.test", "a": ["127.0.0.2"], "delay_ms": 1500},
                  {"name": "*.wild.test", "a": ["127.0.0.2"]}]
    with FakeDNS(ok_rules) as dns:
        extra = (f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 3s\ntries = 1\n"
                 "health_interval = 2s\n[dnsbl wild.test]\n")
        with Policyd(extra=extra) as d:
            d.wait_log(r"\[dnsbl wild.test\]: health check passed")
            dns.set_rules(wild_rules)
            asked = dns.count("1.0.0.127.wild.test", "A")
            dns.wait_queries(asked + 1, "1.0.0.127.wild.test", "A", timeout=5)
            # The check is under way (its answer is delayed): reload, changing something else.
            d.mark()
            d.write_config(server="max_connections = 999\n", extra=extra)
            d.signal(signal.SIGHUP)
            d.wait_log("configuration reloaded")
            t.ok(d.logged(r"\[dnsbl wild.test\]: the test point that must not be listed IS listed",
                          timeout=5) is not None,
                 "the check answered after the reload finds the wildcard")
            t.eq(d.ask(request("192.0.2.66", helo_name="fresh")), "action=DUNNO",
                 "... and the running configuration no longer asks the list: a wildcard refuses nobody")


# 17 ------------------------------------------------------------------------
def test_compressed_question():
    rules = [{"name": "2.0.0.127.bl.test", "a": ["127.0.0.2"]},
             {"name": "1.0.0.127.bl.test", "action": "nxdomain"},
             {"name": reverse_ip("192.0.2.88") + ".bl.test", "action": "compressed_question",
              "a": ["127.0.0.2"]},
             {"name": "*.bl.test", "action": "nxdomain"}]
    with FakeDNS(rules) as dns:
        extra = (f"[server]\nrequest_timeout = 2s\n[dns]\nnameserver = 127.0.0.1:{dns.port}\n"
                 "timeout = 1s\ntries = 1\n[dnsbl bl.test]\n")
        with Policyd(extra=extra) as d:
            d.wait_log(r"\[dnsbl bl.test\]: health check passed")
            t.eq(d.ask(request("192.0.2.88")), "action=DUNNO",
                 "a reply whose question name is compressed is refused as garbled: DUNNO, no crash")
            t.eq(dns.count(reverse_ip("192.0.2.88") + ".bl.test", "A") >= 1, True, "... it was asked")
            t.eq(d.ask(request("192.0.2.89")), "action=DUNNO", "... and the daemon serves on")


# Half-closed clients ---------------------------------------------------------
def test_half_closed_client():
    """A client that shuts down its sending side gets every reply, even those that wait for DNS."""
    rules = [{"name": "2.0.0.127.slow.test", "a": ["127.0.0.2"]},
             {"name": "1.0.0.127.slow.test", "action": "nxdomain"},
             {"name": reverse_ip("192.0.2.44") + ".slow.test", "a": ["127.0.0.2"], "delay_ms": 300},
             {"name": "*.slow.test", "action": "nxdomain", "delay_ms": 300}]
    with FakeDNS(rules) as dns:
        extra = f"[dns]\nnameserver = 127.0.0.1:{dns.port}\ntimeout = 2s\ntries = 1\n[dnsbl slow.test]\n"
        with Policyd(extra=extra) as d:
            d.wait_log(r"\[dnsbl slow.test\]: health check passed")
            s = d.connect("tcp")
            s.sendall(request("192.0.2.44") + request("192.0.2.45") + request("192.0.2.46"))
            s.shutdown(socket.SHUT_WR)
            replies = read_replies(s, 3, timeout=5)
            t.ok(replies[0].startswith("action=REJECT") and replies[1:] == ["action=DUNNO"] * 2,
                 "shutdown(SHUT_WR) after three requests that wait for DNS: all three replies", replies)
            t.eq(s.recv(100), b"", "... then the connection is closed")
            s.close()
            if shutil.which("nc") is None:
                t.ok(False, "nc installed (netcat-openbsd)")
                return
            nc = subprocess.run(["nc", "-q1", "127.0.0.1", str(d.port)], input=request("192.0.2.47"),
                                capture_output=True, timeout=10)
            t.eq(nc.stdout, b"action=DUNNO\n\n", "printf ... | nc -q1 (the README's way to try it): the reply "
                                                    "that needed DNS arrives")


# 14, for the HTTP listener ---------------------------------------------
def test_http_leaves_descriptors():
    """HTTP clients cannot take the descriptors that Postfix's connections need.

    With a descriptor limit of 200 and [http] max_connections at its default
    (1024), the HTTP listener is held to a quarter of the limit (50); 190 web
    clients that connect and stay then leave room for policy connections, which
    are still answered (without the bound, the web clients take them all)."""
    if SANITIZED or os.environ.get("POLICYD_VALGRIND"):
        t.skip("HTTP connections leave descriptors for policy connections",
               "instrumented builds open their own files")
        return
    help_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "help")

    def cap():
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    d = Policyd(start=False, extra=f"[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {help_dir}\n")
    d.logf = open(d.log_path, "ab")
    d.run_offset = d.logf.tell()
    d.proc = subprocess.Popen([POLICYD, "-c", d.config], stdout=d.logf, stderr=d.logf, preexec_fn=cap)
    with d:
        d.wait_log("started with")
        t.ok(d.logged(r"\[http\] inet:127\.0\.0\.1:\d+: max_connections 1024 lowered to 50") is not None,
             "descriptor limit 200: the HTTP listener takes at most 50 connections, and says so", d.log()[-1000:])
        port = d.http_port()
        fds0 = d.fd_count()
        web = []
        for i in range(190):
            s = socket.socket()
            s.bind((f"127.0.6.{1 + i % 10}", 0))  # under per_ip_connections (32) each
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                break
            web.append(s)
        d.wait_fds(fds0 + 50)
        socks, replies = [], []
        for _ in range(20):
            try:
                s = d.connect("unix", timeout=5)
                socks.append(s)
                s.sendall(request("192.0.2.1"))
                replies.append(read_replies(s, 1, timeout=5)[0])
            except OSError as e:
                replies.append(f"{type(e).__name__}: {e}")
        t.eq(replies, ["action=DUNNO"] * 20, f"{len(web)} web clients connected: 20 policy connections opened "
             "meanwhile are all answered")
        held = d.fd_count() - fds0 - len(socks)
        t.ok(held <= 50, f"... and the daemon holds {held} of the web clients (at most 50)")
        for s in socks + web:
            s.close()


for fn in (test_half_closed_client, test_socket_created_safely, test_sigterm_with_unread_replies,
           test_reload_cache_allocation_fails, test_unknown_peer_refused, test_memory_bounded,
           test_idle_timeout_reload, test_files_and_arguments, test_root_and_descriptors,
           test_health_across_reload, test_compressed_question, test_http_leaves_descriptors):
    t.run(fn.__name__, fn)
t.done()
