"""Start the built policyd for an integration test and talk to it.

Policyd runs with a temporary configuration that logs to stderr; stderr goes to a
file that tests read to wait for log lines (an event, with a deadline, never a
bare sleep): logged() returns the match or None, wait_log() raises. The file is
read from where the last read stopped, so a wait costs what was appended, not
the whole log. Its TCP listeners ask for port 0, so that the kernel picks a port no
other process can take first, and the ports it got are read back from its log
("listening on inet:127.0.0.1:PORT") at every start. A test that restarts policyd
and needs the same port again holds it in between (hold_port()). Every process
started here is ended by its PID. TAP output is in tap.py.
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from .wait import poll_until

POLICYD = os.environ.get("POLICYD", os.path.join(os.path.dirname(__file__), "..", "..", "build", "policyd", "policyd"))
# Requests captured from Postfix 3.7.11, kept in the repository as they were captured.
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "postfix-3.7.11")


# Sanitizer reports found in the logs of every daemon this process started; Tap.done()
# turns them into a failed check, so that a report never passes unnoticed.
SANITIZER_RX = re.compile(
    r"runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: AddressSanitizer|^==\d+== "
)
# `meson test --setup valgrind` sets POLICYD_VALGRIND: the daemon then runs under
# memcheck, quiet unless it finds something (any "==PID==" line is a finding).
VALGRIND = (
    ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite", "--error-exitcode=99"]
    if os.environ.get("POLICYD_VALGRIND")
    else []
)
from .tap import Tap, sanitizer_reports  # noqa: E402,F401  (Tap re-exported for the tests)


def fixture(name):
    """The bytes of one captured Postfix request."""
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def fixtures():
    """All captured requests, by file name."""
    return {n: fixture(n) for n in sorted(os.listdir(FIXTURES)) if n.endswith(".txt")}


_RCPT = {}


def request(client_address="192.0.2.10", **attrs):
    """The request Postfix sent at RCPT time (the fixture rcpt-ipv4.txt, its
    attributes in its order), with client_address and the given attributes
    replaced, or added after the others."""
    if not _RCPT:
        lines = fixture("rcpt-ipv4.txt").decode().split("\n")
        _RCPT.update(line.split("=", 1) for line in lines if line)
    base = dict(_RCPT, client_address=client_address)
    base.update(attrs)
    return "".join(f"{k}={v}\n" for k, v in base.items()).encode() + b"\n"


class Policyd:
    """A policyd process with its own configuration, sockets and log file.

    `server` and `extra` are INI text added to the [server] section and after it.
    `port` and `port6` are the TCP ports of the running (or last) process: they
    are read from its log, and change when the same object is started again.
    """

    def __init__(self, server="", extra="", tcp=True, tcp6=False, unix=True, args=(), env=None, start=True,
                 preexec=None):
        self.dir = tempfile.mkdtemp(prefix="policyd-test-")
        self.tcp = tcp
        self.tcp6 = tcp6
        self.unix = os.path.join(self.dir, "policyd.sock") if unix else None
        self.config = os.path.join(self.dir, "policyd.ini")
        self.log_path = os.path.join(self.dir, "policyd.log")
        self.args = list(args)
        self.env = env
        # Run in the child before exec (a seccomp filter: lib/seccomp.py).
        self.preexec = preexec
        self.proc = None
        self.log_offset = 0
        # What log() has read of the log file: bytes, whole lines as text, the rest.
        self._log_read = 0
        self._log_text = ""
        self._log_rest = b""
        # Where the log of the current process starts (the log file is kept across
        # restarts), and the ports that process logged.
        self.run_offset = 0
        self.ports = {}
        # The TCP ports to ask for: 0, any free port, unless a test holds a port
        # across a restart (hold_port()) and sets it here before writing the config.
        self.want_port = 0
        self.want_port6 = 0
        self.write_config(server, extra)
        if start:
            self.start()

    def config_text(self, server="", extra=""):
        listen = []
        if self.unix:
            listen.append(f"listen = unix:{self.unix}")
        if self.tcp:
            listen.append(f"listen = inet:127.0.0.1:{self.want_port}")
        if self.tcp6:
            listen.append(f"listen = inet:[::1]:{self.want_port6}")
        return (
            "[server]\n" + "\n".join(listen) + "\nlog = stderr\nlog_level = debug\n" + server + "\n"
            "[policy]\nhelp_url = https://www.example.org/blacklisted.html?ip=$client_address\n"
            "contact = postmaster@example.org\n" + extra + "\n"
        )

    @property
    def port(self):
        """The IPv4 TCP port of this run (None without tcp)."""
        return self._port("127.0.0.1", self.tcp)

    @port.setter
    def port(self, value):
        # A subclass that starts policyd its own way and learns the port itself
        # (contrib/bench) says which it is.
        self.ports["127.0.0.1"] = value

    @property
    def port6(self):
        """The IPv6 TCP port of this run (None without tcp6)."""
        return self._port("[::1]", self.tcp6)

    @port6.setter
    def port6(self, value):
        self.ports["[::1]"] = value

    def _port(self, host, wanted):
        if host in self.ports:
            return self.ports[host]
        return self.bound_port(host) if wanted else None

    def bound_port(self, host, timeout=None):
        """The port the current process logged for inet:HOST:0; waits for the line
        (bounded) when the process was started without waiting for readiness."""
        if host not in self.ports:
            if self.proc is None:
                raise AssertionError("policyd was not started: it has no port yet")
            m = self.logged(rf"listening on inet:{re.escape(host)}:(\d+)\n",
                            timeout=timeout or (30 if VALGRIND else 10), since=self.run_offset)
            if m is None:
                raise AssertionError(f"policyd logged no port for inet:{host}:0:\n{self.log()[self.run_offset:][-2000:]}")
            self.ports[host] = int(m.group(1))
        return self.ports[host]

    def http_port(self, host="127.0.0.1", timeout=None):
        """The port the HTTP listener logged for `listen = inet:HOST:0` in [http]."""
        m = self.logged(rf"http: listening on inet:{re.escape(host)}:(\d+) ",
                        timeout=timeout or (30 if VALGRIND else 10), since=self.run_offset)
        if m is None:
            raise AssertionError(f"policyd logged no HTTP port for inet:{host}:0:\n{self.log()[self.run_offset:][-2000:]}")
        return int(m.group(1))

    def wait_fds(self, want, timeout=10):
        """Wait (bounded) until the process holds at least `want` descriptors; the
        last count read (below `want` when the time ran out; never raises)."""
        counts = []
        poll_until(lambda: counts.append(self.fd_count()) or counts[-1] >= want, timeout)
        return counts[-1]

    def write_config(self, server="", extra="", text=None):
        with open(self.config, "w") as f:
            f.write(text if text is not None else self.config_text(server, extra))

    def start(self, expect_ready=True):
        env = dict(os.environ)
        env.update(self.env or {})
        self.logf = open(self.log_path, "ab")
        self.run_offset = self.logf.tell()
        self.ports = {}
        self.proc = subprocess.Popen(
            VALGRIND + [POLICYD, "-c", self.config] + self.args, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf, env=env,
            preexec_fn=self.preexec,
        )
        if expect_ready:
            self.wait_log(r"started with", timeout=30 if VALGRIND else 10, since=self.run_offset)
            # The listeners are logged before "started with": learn their ports now.
            for host, wanted in (("127.0.0.1", self.tcp), ("[::1]", self.tcp6)):
                if wanted:
                    self.bound_port(host, timeout=1)
        return self

    # Logs -----------------------------------------------------------------
    # The log file only grows (every start appends to it). What was read of it is
    # kept: a wait reads only what was appended since, from the saved offset.
    # Offsets (since=, mark(), the positions of a match) count characters of
    # log().
    def log(self):
        """The whole log so far, as text."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_read)
            data = f.read()
        self._log_read += len(data)
        if data:
            # Whole lines are decoded once and kept; a line still being written
            # waits in bytes, so that no UTF-8 sequence is decoded in halves.
            self._log_rest += data
            cut = self._log_rest.rfind(b"\n") + 1
            if cut:
                self._log_text += self._log_rest[:cut].decode("utf-8", "replace")
                self._log_rest = self._log_rest[cut:]
        if not self._log_rest:
            return self._log_text
        return self._log_text + self._log_rest.decode("utf-8", "replace")

    def logged(self, pattern, timeout=5, since=None):
        """The first match of pattern in the log after offset `since` (default: the
        mark), waiting up to timeout seconds for it; None if it does not come.

        Never raises: a check is written t.ok(d.logged(...) is not None, ...), and
        can fail on its own without ending the scenario. Stops waiting as soon as
        the process has exited (its log can grow no more). The match's positions
        are offsets in log(): since=m.end() waits for a later line."""
        start = self.log_offset if since is None else since
        rx = re.compile(pattern)
        return poll_until(lambda: rx.search(self.log(), start), timeout, gone=self.exited)

    def wait_log(self, pattern, timeout=5, since=None):
        """Like logged(), for a step a scenario cannot go on without (a readiness or
        setup line): raises AssertionError with the log's tail when the line does
        not come. A check that a line is logged uses logged() instead."""
        start = self.log_offset if since is None else since
        m = self.logged(pattern, timeout, since)
        if m:
            return m
        if self.exited():
            raise AssertionError(f"policyd exited ({self.proc.returncode}) waiting for /{pattern}/:\n{self.log()[-2000:]}")
        raise AssertionError(f"no log line /{pattern}/ within {timeout}s:\n{self.log()[start:][-2000:]}")

    def mark(self):
        """Only log lines written after this call count for the next logged() or
        wait_log() without since=; returns the offset."""
        self.log_offset = len(self.log())
        return self.log_offset

    def exited(self):
        """Whether the process was started and has exited."""
        return self.proc is not None and self.proc.poll() is not None

    # Clients --------------------------------------------------------------
    def connect(self, kind="tcp", source=None, timeout=5):
        if kind == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(self.unix)
        elif kind == "tcp6":
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(("::1", self.port6))
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(timeout)
            if source:
                s.bind((source, 0))
            s.connect(("127.0.0.1", self.port))
        return s

    def ask(self, data=None, kind="tcp"):
        """One request on a new connection; returns the reply line."""
        with self.connect(kind) as s:
            s.sendall(data or request())
            return read_replies(s, 1)[0]

    def sentinel(self, dns, qname, data, timeout=5):
        """Send one more request, `data`, that makes policyd query `qname`, and wait
        until the DNS server `dns` (dnslib.FakeDNS or Rbldnsd) has logged that query.

        policyd sends all its DNS queries on one UDP socket, in order, and the server
        logs them in the order they arrive: once the sentinel is logged, every query
        policyd sent before it is logged too, so a check that some query was never
        sent needs no sleep. Returns whether the sentinel arrived; the check must use
        that, since a sentinel that never came proves nothing."""
        before = dns.count(qname)
        self.ask(data)
        return dns.wait_queries(before + 1, qname, timeout=timeout)

    def metrics(self):
        """The /metrics samples of [http] listen (inet:127.0.0.1:0) as a dict of
        'name{labels}' to float."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port()}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    # Process --------------------------------------------------------------
    def pid(self):
        return self.proc.pid

    def signal(self, signum):
        os.kill(self.proc.pid, signum)

    def rss_kib(self, field="VmRSS"):
        """Resident KiB from /proc/PID/status: VmRSS in all, or one part of it (RssAnon:
        the process's own memory; RssFile: pages of the binary and shared libraries)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self, timeout=5):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # SIGTERM, so that LeakSanitizer and valgrind see a normal exit and report leaks.
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                sanitizer_reports.append(f"{self.config}: policyd did not exit on SIGTERM")
        if self.proc and self.proc.returncode in (23, 99):  # LeakSanitizer, valgrind --error-exitcode
            sanitizer_reports.append(f"{self.config}: exit status {self.proc.returncode}")
        if os.path.exists(self.log_path):
            lines = self.log().splitlines()
            for i, line in enumerate(lines):
                if SANITIZER_RX.search(line) and "Warning: set address range perms" not in line:
                    # The report's first frames say where: CI shows nothing else of it.
                    sanitizer_reports.append("\n".join(lines[i:i + 16]))
        if getattr(self, "logf", None):
            self.logf.close()


def hold_port(port, host="127.0.0.1"):
    """Keep the TCP port of a stopped policyd from every other process until it is
    started again on it: a socket bound to the port with SO_REUSEADDR that never
    listens. Connections to the port are refused meanwhile (nobody listens), the
    kernel hands the port to no one else (binds of port 0 and outgoing connections
    skip it), and policyd, whose listeners set SO_REUSEADDR too, can bind and
    listen on it beside this socket; close it once policyd listens. Returns the
    socket, or None when the port is already taken (the moment between policyd's
    exit and this call is the only one in which another process can take it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    # Also lets the bind succeed beside the TIME_WAIT of policyd's closed connections.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        return None
    return s


def read_replies(sock, count, timeout=5):
    """Read exactly `count` replies ("action=...\\n\\n") and return their action lines."""
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\n\n") < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            got = buf.count(b"\n\n")
            raise ConnectionError(f"closed after {got} of {count} replies")
        buf += chunk
    replies = buf.split(b"\n\n")[:count]
    return [r.decode() for r in replies]


def replies_until(sock, marker, limit=1000, timeout=5):
    """Read replies until one contains `marker` (a sentinel request's reply); return
    them all, that one last. Nothing read is dropped, so a reply sent twice before
    the sentinel's shows up in the list."""
    buf = b""
    deadline = time.monotonic() + timeout
    want = marker.encode()
    for _ in range(limit):
        blocks = buf.split(b"\n\n")[:-1]
        for i, block in enumerate(blocks):
            if want in block:
                return [r.decode() for r in blocks[: i + 1]]
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(blocks)} replies, none with {marker!r}")
        buf += chunk
    raise ConnectionError(f"no reply with {marker!r} in {limit} reads")


def closed_by_peer(sock, timeout=5):
    """True when the server closes the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
