"""redis-server processes of a test's own, and a small RESP client to read and
change what they hold (Python 3 standard library only).

    with RedisServer() as r:              # TCP on a free 127.0.0.1 port
        r.url                             # "redis://127.0.0.1:PORT"
        r.call("HGET", key, "c")          # one command on a connection of its own
    RedisServer(unix=True)                # a unix socket in its directory, no TCP
    RedisServer(password="pw")            # requirepass: call() logs in first
    r.pause() / r.resume()                # SIGSTOP / SIGCONT: a silent server
    r.kill() / r.restart()                # SIGKILL; started again on the same port

redis-server cannot be asked for port 0 (0 turns TCP off), so start() takes a
port the kernel has just said is free and checks in /proc that redis-server
itself holds it; when another process took it in between, redis-server exits
and start() tries another port (five at most). It runs in the foreground with
no persistence (--save "" --appendonly no), so a restart starts empty, as a
killed cache does. Every wait is bounded; the process is stopped by its PID.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile

from . import procnet
from .dnslib import _Served, _stop_pid
from .wait import poll_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisError(Exception):
    """An error reply (-ERR ..., -NOSCRIPT ...), its text as the message."""


def _encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


class _Reader:
    """RESP2 replies from a socket whose timeout bounds every read."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        """The next reply: str for +, int for :, bytes or None for $, a list for *;
        an error reply raises RedisError."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError("not a RESP reply: %r" % line)


class RedisServer(_Served):
    """Debian's redis-server on 127.0.0.1:<free port>, or on a unix socket."""

    def __init__(self, unix=False, password=None, start_timeout=10):
        self.unix = unix
        self.password = password
        self.start_timeout = start_timeout
        self.proc = None
        self.dir = None
        self.port = None
        self.socket_path = None

    @property
    def url(self):
        """The store's URL as policyd's configuration writes it (database 0)."""
        if self.unix:
            return "redis+unix:" + self.socket_path
        return "redis://127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def _args(self):
        args = [REDIS_SERVER, "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")]
        if self.unix:
            args += ["--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        else:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        if self.password:
            args += ["--requirepass", self.password]
        return args

    @staticmethod
    def _free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def _spawn(self):
        self.proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def _ready(self):
        try:
            return self.call("PING", timeout=0.5) == "PONG"
        except (OSError, ConnectionError, RedisError):
            return False

    def _await(self):
        """Whether this process serves: its own socket (for TCP, read from /proc), and PING."""
        gone = lambda: self.proc.poll() is not None  # noqa: E731
        if not self.unix and not procnet.wait_bound(self.pid, "tcp", 1, self.start_timeout,
                                                    alive=lambda: not gone()):
            return False
        if not self.unix and ("127.0.0.1", self.port) not in procnet.bound(self.pid, "tcp"):
            return False
        return bool(poll_until(self._ready, self.start_timeout, interval=0.02, gone=gone))

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="redis-")
        self.socket_path = os.path.join(self.dir, "redis.sock")
        for _ in range(5):
            if not self.unix:
                self.port = self._free_port()
            self._spawn()
            if self._await():
                return self
            _stop_pid(self.proc)
        out = self.log()
        self.stop()
        raise RuntimeError("redis-server did not start: %s" % out[-2000:])

    def log(self):
        """redis-server's own log file."""
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def call(self, *args, db=0, timeout=2):
        """One command on a connection of its own (AUTH and SELECT first as needed)."""
        if self.unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = self.socket_path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = ("127.0.0.1", self.port)
        with sock:
            sock.settimeout(timeout)
            sock.connect(address)
            commands = []
            if self.password:
                commands.append(("AUTH", self.password))
            if db:
                commands.append(("SELECT", db))
            commands.append(args)
            sock.sendall(b"".join(_encode(c) for c in commands))
            reader = _Reader(sock)
            for _ in commands[:-1]:
                reader.reply()
            return reader.reply()

    def pause(self):
        """SIGSTOP: connections are still accepted by the kernel, nothing answers."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)

    def kill(self):
        """SIGKILL, as a crash: the kernel closes its connections."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(5)

    def restart(self):
        """Start again on the same port (or socket), empty; raises when it cannot."""
        if self.proc and self.proc.poll() is None:
            self.kill()
        self._spawn()
        if not self._await():
            raise RuntimeError("redis-server did not start again: %s" % self.log()[-2000:])
        return self

    def stop(self):
        # A stopped process would take SIGTERM only once continued.
        if self.proc and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
        super().stop()
