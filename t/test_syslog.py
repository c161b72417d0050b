#!/usr/bin/env python3
"""Integration: `log = syslog`. policyd sends each line as its own RFC 3164 datagram to
/dev/log (held lines, up to 8, in one sendmmsg): "<PRI>Mmm dd hh:mm:ss policyd[PID]: text",
facility mail, the level in PRI and, for warnings and errors, in the text. When
/dev/log takes no datagrams (a stream socket), the lines go through syslog(3),
which sends the same form, each ended by a NUL, at each line's own level.

The daemon runs in a private mount namespace whose /dev is a directory of ours: the
few device nodes it needs, bound from the real /dev, and `log`, a link to a datagram
socket this script reads. So the test needs root and unshare(1); without them it
skips (CI runs as root)."""

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from lib.daemon import POLICYD, Tap, read_replies, request

t = Tap()

FACILITY_MAIL = 2
PRIORITY = {"error": 3, "warning": 4, "info": 6}
LINE = re.compile(r"^<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) policyd\[(\d+)\]: (.*)$", re.S)

# Inside the namespace: /dev becomes $T/dev, with null, zero, random and urandom bound
# from the real /dev and log pointing at our socket.
NAMESPACE = r"""
T=$1; shift
for n in null zero random urandom; do : > "$T/dev/$n"; mount --bind "/dev/$n" "$T/dev/$n"; done
ln -s "$T/log.sock" "$T/dev/log"
mount --bind "$T/dev" /dev
exec "$@"
"""


def receive(sock, want, timeout=10):
    """Datagrams until one matches `want` (a regex) or timeout: all of them, decoded."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(65536).decode("utf-8", "replace"))
        except socket.timeout:
            break
        if re.search(want, got[-1]):
            break
    return got


def stamp_near_now(stamp):
    """Whether an RFC 3164 timestamp (no year) is within two minutes of local time."""
    now = time.time()
    for year in (time.localtime(now).tm_year, time.localtime(now).tm_year - 1):
        try:
            when = time.mktime(time.strptime(f"{year} {stamp}", "%Y %b %d %H:%M:%S"))
        except ValueError:
            return False
        if abs(when - now) < 120:
            return True
    return False


def check_lines(lines, pid, name):
    """Each line in syslog's form, with our PID, facility mail, and a level word that
    matches its priority: (level, text) pairs, or None after a failed check."""
    out = []
    for line in lines:
        m = LINE.match(line)
        if not m:
            t.ok(False, f"{name}: a datagram in RFC 3164 form", repr(line))
            return None
        pri, stamp, line_pid, text = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        level = {v: k for k, v in PRIORITY.items()}.get(pri - FACILITY_MAIL * 8)
        word = "error: " if level == "error" else "warning: " if level == "warning" else ""
        if (pri >> 3 != FACILITY_MAIL or level is None or line_pid != pid or not stamp_near_now(stamp)
                or not text.startswith(word) or text.endswith("\n")):
            t.ok(False, f"{name}: facility mail, our PID, a current stamp, the level's word", repr(line))
            return None
        out.append((level, text))
    return out


class StreamLog:
    """/dev/log as a stream socket, as syslog(3) also accepts: recv() gives the lines
    (each ended by a NUL) of the connections it accepts, one line at a time."""

    def __init__(self, path):
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        self.conns, self.lines, self.partial = [], [], {}

    def settimeout(self, timeout):
        self.timeout = timeout

    def recv(self, _size):
        deadline = time.monotonic() + self.timeout
        while not self.lines:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            ready, _, _ = select.select([self.server] + self.conns, [], [], left)
            for s in ready:
                if s is self.server:
                    self.conns.append(self.server.accept()[0])
                    continue
                data = s.recv(65536)
                if not data:
                    self.conns.remove(s)
                    continue
                text = self.partial.pop(s, b"") + data
                *done, rest = text.split(b"\0")
                self.lines += done
                self.partial[s] = rest
        return self.lines.pop(0)

    def close(self):
        for s in self.conns + [self.server]:
            s.close()


def test_syslog(tmp, stream=False):
    os.mkdir(os.path.join(tmp, "dev"))
    if stream:
        log = StreamLog(os.path.join(tmp, "log.sock"))
    else:
        log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        log.bind(os.path.join(tmp, "log.sock"))
    listed = os.path.join(tmp, "local.cidr")
    with open(listed, "w") as f:
        f.write("192.0.2.0/25\n")
    config = os.path.join(tmp, "policyd.ini")
    unix = os.path.join(tmp, "policyd.sock")
    with open(config, "w") as f:
        f.write(f"[server]\nlisten = unix:{unix}\nlog = syslog\nlog_level = info\n"
                "[policy]\nhelp_url = https://www.example.org/blacklisted.html?ip=$client_address\n"
                "contact = postmaster@example.org\n"
                f"[list local]\nfile = {listed}\nweight = 10\nreason = Listed by the local policy\n")
    err = open(os.path.join(tmp, "stderr"), "wb")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-ec", NAMESPACE, "sh", tmp,
                             POLICYD, "-c", config], stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        started = receive(log, r"started with")
        lines = check_lines(started, proc.pid, "start-up")
        if lines is None:
            return
        how = "through syslog(3) on a stream socket" if stream else "as datagrams"
        # Without them nothing else can be seen (the namespace, for one, may have failed:
        # its stderr says why), and the steps below would only fail after it.
        if not t.ok(any(level == "info" and "started with" in text for level, text in lines),
                    f"start-up lines arrive at /dev/log {how}, at info, with policyd's PID",
                    "\n".join(started) + open(os.path.join(tmp, "stderr")).read()):
            return
        addresses = [f"192.0.2.{i}" if i % 2 else f"192.0.2.{200 + i}" for i in range(8)]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(unix)
            s.sendall(b"".join(request(a) for a in addresses))
            replies = read_replies(s, len(addresses))
        t.eq([r.split()[0] for r in replies], ["action=DUNNO", "action=REJECT"] * 4,
             "8 pipelined requests: the 4 listed are refused")
        refusals = receive(log, r"192\.0\.2\.7\]")
        lines = check_lines(refusals, proc.pid, "refusals")
        if lines is None:
            return
        want = [f"NOQUEUE: reject: client=unknown[192.0.2.{i}]" for i in (1, 3, 5, 7)]
        t.eq([text[:len(want[0]) + 1].rstrip() for _, text in lines if "reject:" in text], want,
             f"each refusal is one line {how}, in order")
        t.ok(all(level == "info" and text.endswith('reason="Listed by the local policy"')
                 for level, text in lines if "reject:" in text),
             f"refusals are sent {how} at info (priority 22), each line whole to its reason",
             "\n".join(refusals))
        # A broken file on reload: the error and the warning carry their own level.
        with open(config, "a") as f:
            f.write("[server]\nbogus_key = 1\n")
        proc.send_signal(signal.SIGHUP)
        reload = receive(log, r"reload failed")
        lines = check_lines(reload, proc.pid, "reload")
        if lines is None:
            return
        t.ok(any(level == "error" and "unknown key 'bogus_key'" in text for level, text in lines)
             and any(level == "error" and "reload failed" in text for level, text in lines),
             f"a failed reload's errors are sent {how} at err (priority 19), 'error: ' before the text",
             "\n".join(reload))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        err.close()


def main():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        t.skip("syslog datagrams", "needs root and unshare(1) for a private /dev")
        t.done()
    for stream in (False, True):
        tmp = tempfile.mkdtemp(prefix="policyd-syslog-")
        try:
            t.run("syslog(3) on a stream socket" if stream else "syslog datagrams", test_syslog, tmp, stream)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
