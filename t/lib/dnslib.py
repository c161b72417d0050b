"""DNS helpers for policyd tests (Python 3 standard library only).

    query(port, name, qtype="A", timeout=2) -> Reply (rcode, answers, ttl)
    raw_query(port, name, qtype="A", timeout=2) -> reply bytes or None
    FakeDNS(rules)            hostile fake server (t/lib/fakedns.py) in a subprocess
    Rbldnsd(zones, ttl=60)    real rbldnsd on a loopback port of its own
    Unbound(zones, port)      Debian's unbound, stub zones to that rbldnsd

With POLICYD_VIA_UNBOUND=1 in the environment (meson's `unbound` test setup),
every Rbldnsd puts an Unbound in front of itself, as sites run a local rbldnsd
mirror: Rbldnsd.nameserver, the address:port a test gives policyd, is then
unbound's, while Rbldnsd.port (the test's own direct queries) and the query
log stay rbldnsd's. unbound queries from UNBOUND_SOURCE, so the log shows
which queries came through it.

Both servers bind port 0, so the kernel gives them a port no other process can
take first: fakedns prints the port it got, rbldnsd's is read from /proc (its
socket's inode). Both log every query they receive, in arrival order:
queries(), count() and wait_queries() read that log.

Every wait is bounded; servers are stopped by their own PID.
"""

import json
import os
import pwd
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from . import procnet
from .dnswire import QTYPES, decode_name, encode_name
from .files import write_atomic
from .wait import poll_until

HERE = os.path.dirname(os.path.abspath(__file__))
FAKEDNS = os.path.join(HERE, "fakedns.py")
RBLDNSD = shutil.which("rbldnsd") or "/usr/sbin/rbldnsd"
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
VIA_UNBOUND = os.environ.get("POLICYD_VIA_UNBOUND") == "1"
# The loopback address unbound sends its queries from (rbldnsd logs the peer).
UNBOUND_SOURCE = "127.0.0.3"

RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
               4: "NOTIMP", 5: "REFUSED"}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = range(6)


class MalformedReply(ValueError):
    """The server's reply could not be parsed."""


# ---------------------------------------------------------------- client --

def qtype_num(qtype):
    if isinstance(qtype, int):
        return qtype
    return QTYPES[qtype.upper()]


def build_query(name, qtype="A", qid=None, edns=None):
    """A recursion-desired query; edns=N adds an OPT RR advertising N bytes."""
    if qid is None:
        qid = random.getrandbits(16)
    pkt = struct.pack(">6H", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    pkt += encode_name(name) + struct.pack(">HH", qtype_num(qtype), 1)
    if edns:
        pkt += b"\0" + struct.pack(">HHIH", 41, edns, 0, 0)
    return pkt


def _name(pkt, off):
    """Decode a possibly compressed name: (lowercase text, offset after)."""
    labels, off = decode_name(pkt, off, MalformedReply)
    return ".".join(l.decode("latin-1") for l in labels).lower(), off


class Reply(tuple):
    """(rcode, answers, ttl), plus details for fault tests.

    answers: values of the answer RRs whose owner and type match the
    question (what a resolver like udns would use): dotted IPv4 strings for
    A, bytes for TXT (character-strings of one RR joined, like udns does),
    raw rdata bytes otherwise.  ttl: smallest TTL among them, None if none.
    Extra attributes: id, tc, aa, qname (question name as echoed),
    records (every answer RR as (owner, type, ttl, value)), raw (bytes).
    """

    def __new__(cls, rcode, answers, ttl, **extra):
        self = super().__new__(cls, (rcode, answers, ttl))
        self.__dict__.update(extra)
        return self

    rcode = property(lambda self: self[0])
    answers = property(lambda self: self[1])
    ttl = property(lambda self: self[2])


def parse_reply(pkt, name=None, qtype="A"):
    if len(pkt) < 12:
        raise MalformedReply("short reply (%d bytes)" % len(pkt))
    qid, flags, qd, an, ns, ar = struct.unpack(">6H", pkt[:12])
    if not flags & 0x8000:
        raise MalformedReply("QR bit not set")
    off, qname = 12, None
    for _ in range(qd):
        qname, off = _name(pkt, off)
        off += 4
    t = qtype_num(qtype)
    want = (name or qname or "").lower().rstrip(".")
    records, answers, ttls = [], [], []
    for _ in range(an):
        owner, off = _name(pkt, off)
        if off + 10 > len(pkt):
            raise MalformedReply("RR header past end")
        rtype, rclass, rttl, rdlen = struct.unpack(">HHIH", pkt[off:off + 10])
        off += 10
        rdata = pkt[off:off + rdlen]
        if len(rdata) != rdlen:
            raise MalformedReply("rdata past end")
        off += rdlen
        value = rdata
        if rtype == 1 and rdlen == 4:
            value = socket.inet_ntoa(rdata)
        elif rtype == 16:
            value, p = b"", 0
            while p < len(rdata):
                n = rdata[p]
                if p + 1 + n > len(rdata):
                    raise MalformedReply("TXT string past rdata")
                value += rdata[p + 1:p + 1 + n]
                p += 1 + n
        records.append((owner, rtype, rttl, value))
        if rtype == t and owner == want:
            answers.append(value)
            ttls.append(rttl)
    return Reply(flags & 0xF, answers, min(ttls) if ttls else None,
                 id=qid, tc=bool(flags & 0x0200), aa=bool(flags & 0x0400),
                 qname=qname, records=records, raw=pkt)


def _udp_socket(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.socket(fam, socket.SOCK_DGRAM)


def raw_query(port, name, qtype="A", timeout=2, host="127.0.0.1",
              qid=None, edns=None, packet=None):
    """Send one query (or the given raw packet); return the first datagram
    received within timeout, whatever it is, or None."""
    with _udp_socket(host) as s:
        s.sendto(packet if packet is not None
                 else build_query(name, qtype, qid, edns), (host, port))
        s.settimeout(timeout)
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def query(port, name, qtype="A", timeout=2, host="127.0.0.1", edns=4096):
    """Ask host:port; return Reply (rcode, answers, ttl).

    Like a resolver, datagrams with another id are ignored until timeout.
    EDNS0 with 4096 bytes is advertised by default because udns 0.4 does
    the same; pass edns=None for a plain 512-byte query.
    Raises TimeoutError when nothing acceptable arrives in time and
    MalformedReply when the matching reply cannot be parsed.
    """
    qid = random.getrandbits(16)
    deadline = time.monotonic() + timeout
    with _udp_socket(host) as s:
        s.sendto(build_query(name, qtype, qid, edns), (host, port))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from %s:%d for %s %s"
                                   % (host, port, name, qtype))
            s.settimeout(left)
            try:
                pkt = s.recv(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                # ICMP port unreachable: nobody listens (yet).
                raise TimeoutError("port %d unreachable" % port)
            if len(pkt) >= 2 and struct.unpack(">H", pkt[:2])[0] != qid:
                continue
            return parse_reply(pkt, name, qtype)


def reverse_ip(addr):
    """RFC 5782 query label for an IPv4 or IPv6 address."""
    import ipaddress
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        return ".".join(reversed(str(ip).split(".")))
    # The nibbles come from the address's bytes, not from its text: Python 3.13
    # (Debian 13) writes an IPv4-mapped address such as ::ffff:7f00:2 with a dotted
    # quad (0000:...:ffff:127.0.0.2), which made a query name no server knows.
    return ".".join(reversed(ip.packed.hex()))


# ------------------------------------------------------------- processes --

def _stop_pid(proc, timeout=5):
    """Stop our own child by its PID: SIGTERM, bounded wait, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


class _LineReader:
    """Read lines from a child's pipe with a deadline (no blocking forever)."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    return None            # EOF: the child is gone
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")


def _matching(entries, name=None, qtype=None):
    """How many (name, type) entries match name (case-insensitive, trailing dot
    ignored) and qtype; None matches anything."""
    name = name.lower().rstrip(".") if name else None
    return sum(1 for n, t in entries
               if (name is None or n.lower() == name)
               and (qtype is None or t == qtype))


def _wait_for(get, n, timeout):
    """Poll get() (bounded) until it is at least n; whether it got there."""
    return poll_until(lambda: get() >= n, timeout, interval=0.02)


class _Served:
    """A server process of ours (self.proc, in self.dir): stop() ends it by its PID
    and removes its directory; `with` starts and stops it (a subclass defines
    start())."""

    def stop(self):
        if self.proc:
            _stop_pid(self.proc)
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _QueryLog(_Served):
    """A DNS server of ours whose queries() we read: count() and wait_queries()."""

    def count(self, name=None, qtype=None):
        return _matching(self.queries(), name, qtype)

    def wait_queries(self, n, name=None, qtype=None, timeout=5):
        """Wait (bounded) until at least n matching queries were logged; True
        if they were. For dropped queries, which leave no reply to wait for,
        and for sentinels (daemon.Policyd.sentinel)."""
        return _wait_for(lambda: self.count(name, qtype), n, timeout)


class FakeDNS(_QueryLog):
    """Run t/lib/fakedns.py with the given rules (list of dicts, see fakedns.py).

        with FakeDNS([{"name": "*.bl.test", "a": ["127.0.0.2"]}]) as dns:
            query(dns.port, "2.0.0.127.bl.test")
            dns.queries()          # [("2.0.0.127.bl.test", "A")]
    """

    def __init__(self, rules, port=0, bind="127.0.0.1", start_timeout=10):
        self.rules = rules
        self.bind = bind
        self.want_port = port
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.dir = None

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="fakedns-")
        self.rules_path = os.path.join(self.dir, "rules.json")
        self.log_path = os.path.join(self.dir, "queries.log")
        self.sent_path = os.path.join(self.dir, "sent.log")
        write_atomic(self.rules_path, json.dumps(self.rules))
        open(self.log_path, "w").close()
        open(self.sent_path, "w").close()
        self.proc = subprocess.Popen(
            [sys.executable, FAKEDNS, self.rules_path, "--bind", self.bind,
             "--port", str(self.want_port), "--log", self.log_path,
             "--sent", self.sent_path],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.out = _LineReader(self.proc.stdout)
        line = self.out.readline(self.start_timeout)
        if not line or not line.startswith("READY "):
            self.stop()
            raise RuntimeError("fakedns did not start: %r" % line)
        self.port = int(line.split()[1])
        return self

    def set_rules(self, rules, timeout=5):
        """Replace the rules in the running server (SIGHUP, await RELOADED)."""
        self.rules = rules
        write_atomic(self.rules_path, json.dumps(rules))
        os.kill(self.proc.pid, signal.SIGHUP)
        line = self.out.readline(timeout)
        if not line or not line.startswith("RELOADED"):
            raise RuntimeError("fakedns did not reload: %r" % line)

    def queries(self):
        """Every query received so far, as (name, type) in arrival order;
        unparsable datagrams appear as ("-", "BAD")."""
        return self._read(self.log_path)

    def sent(self):
        """Every reply sent so far, as (name, type) of its query, in the order
        sent: a delayed reply shows up once its delay is over."""
        return self._read(self.sent_path)

    def wait_sent(self, n, name=None, qtype=None, timeout=5):
        """Wait (bounded) until at least n matching replies were sent; True if so."""
        return _wait_for(lambda: _matching(self.sent(), name, qtype), n, timeout)

    @staticmethod
    def _read(path):
        with open(path, encoding="utf-8") as f:
            return [tuple(l.split(" ", 1)) for l in f.read().splitlines()]


class Rbldnsd(_QueryLog):
    """Run the real rbldnsd on 127.0.0.1:<port> serving the given zones.

    rbldnsd binds 127.0.0.1 port 0, which no other process can take first,
    and does not say which port it got: start() reads it from /proc by the
    inode of rbldnsd's socket.

    zones: {zone name: (dataset type, data text)} or a list of such pairs
    for a zone built from several datasets, e.g.

        Rbldnsd({"bl.test": [("ip4set", ":127.0.0.2:Listed $\\n192.0.2.1\\n"),
                             ("ip6trie", "2001:db8::/64\\n")],
                 "dbl.test": ("dnset", "bad.example\\n")})

    Dataset types of Debian 12's rbldnsd: ip4set ip4tset ip4trie (IPv4),
    ip6tset (/64s only) ip6trie (IPv6 CIDR), dnset (names), generic,
    combined, acl.  A hidden zone CTL_ZONE holds a serial number that
    readiness and reload checks query; it is filtered out of queries().
    The serial carries a random token of this instance, so that an answer
    proves that the server on the port is ours, not another test's rbldnsd.

    kill() and restart() end rbldnsd (SIGKILL) and start it again on the
    same port, for tests of a DNS server going away under load.

    nameserver is what policyd is given: rbldnsd's 127.0.0.1:port, or with
    POLICYD_VIA_UNBOUND=1 that of an Unbound in front of it (self.unbound),
    whose readiness is this instance's serial answered through it; reload()
    then restarts unbound too, so that no cached answer of the old data stays.
    peers() says who asked what: unbound asks from UNBOUND_SOURCE.
    """

    CTL_ZONE = "dnslib-ctl.invalid"

    def __init__(self, zones, ttl=60, start_timeout=10):
        self.zones = {z: self._norm(v) for z, v in zones.items()}
        self.ttl = ttl
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.dir = None
        self.serial = 0
        self.token = "%016x" % random.getrandbits(64)
        self.cmd = None
        self.unbound = None

    @property
    def nameserver(self):
        """The address:port policyd is to ask: unbound's under
        POLICYD_VIA_UNBOUND=1, rbldnsd's otherwise."""
        return "127.0.0.1:%d" % (self.unbound.port if self.unbound else self.port)

    def _ctl_via(self, port):
        # A short wait: a query unbound gets while it starts may be lost (the
        # poll asks again).
        try:
            r = query(port, "serial." + self.CTL_ZONE, "TXT", 0.1)
        except (TimeoutError, MalformedReply, OSError):
            return False
        return r.answers == [self._serial_text().encode()]

    def _start_unbound(self):
        self.unbound = Unbound(list(self.zones) + [self.CTL_ZONE], self.port,
                               ready=self._ctl_via,
                               start_timeout=self.start_timeout).start()

    def stop(self):
        if self.unbound:
            self.unbound.stop()
            self.unbound = None
        super().stop()

    @staticmethod
    def _norm(v):
        return list(v) if isinstance(v, list) else [tuple(v)]

    def _file(self, zone, i, dstype):
        return os.path.join(self.dir, "%s.%d.%s" % (zone, i, dstype))

    def _write_zone(self, zone):
        for i, (dstype, text) in enumerate(self.zones[zone]):
            self._touch_newer(self._file(zone, i, dstype), text)

    @staticmethod
    def _touch_newer(path, text):
        # rbldnsd reloads a file when its mtime (whole seconds) or size
        # changed; two writes in one second with the same size would be
        # missed, so force the mtime strictly past the old one.
        try:
            old = int(os.stat(path).st_mtime)
        except FileNotFoundError:
            old = 0
        write_atomic(path, text)
        new = max(int(time.time()), old + 1)
        os.utime(path, (new, new))

    def _serial_text(self):
        return "%s-%d" % (self.token, self.serial)

    def _write_ctl(self):
        self.serial += 1
        self._touch_newer(os.path.join(self.dir, "ctl.generic"),
                          'serial TXT "%s"\n' % self._serial_text())

    def _ctl_ok(self, timeout=0.5):
        try:
            r = query(self.port, "serial." + self.CTL_ZONE, "TXT", timeout)
        except (TimeoutError, MalformedReply, OSError):
            return False
        return r.answers == [self._serial_text().encode()]

    def _await_serial(self, what):
        """Until the control zone answers with the serial just written; raises
        RuntimeError when it does not (rbldnsd exited, or no answer in time)."""
        if poll_until(self._ctl_ok, self.start_timeout, interval=0.05,
                      gone=lambda: self.proc.poll() is not None):
            return
        if self.proc.poll() is not None:
            raise RuntimeError("rbldnsd exited (%s): %s" % (what, self.output()))
        raise RuntimeError("rbldnsd not ready (%s): %s" % (what, self.output()))

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="rbldnsd-")
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            # rbldnsd refuses to run as root (even with -u root) and drops
            # to user rbldns: that user must read the files and create the
            # query log, so it owns the directory.
            pw = pwd.getpwnam("rbldns")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        for zone in self.zones:
            self._write_zone(zone)
        self._write_ctl()
        self.log_path = os.path.join(self.dir, "queries.log")
        self.out_path = os.path.join(self.dir, "rbldnsd.out")
        specs = ["%s:generic:ctl.generic" % self.CTL_ZONE]
        for zone, datasets in self.zones.items():
            for i, (dstype, _) in enumerate(datasets):
                specs.append("%s:%s:%s" % (zone, dstype,
                                           os.path.basename(
                                               self._file(zone, i, dstype))))
        # -n foreground; -c 0 no periodic rereads, tests reload() with SIGHUP
        # so timing is deterministic; -l + unbuffered query log.
        args = ["-w", self.dir, "-t", str(self.ttl), "-c", "0",
                "-l", "+" + self.log_path] + specs
        self.proc = self._spawn([RBLDNSD, "-n", "-b", "127.0.0.1/0"] + args)
        found = procnet.wait_bound(self.proc.pid, "udp", 1, self.start_timeout,
                                   alive=lambda: self.proc.poll() is None)
        if not found:
            out = self.output()
            self.stop()
            raise RuntimeError("rbldnsd bound no UDP socket: %s" % out)
        self.port = found[0][1]
        # A restart asks for this very port again.
        self.cmd = [RBLDNSD, "-n", "-b", "127.0.0.1/%d" % self.port] + args
        try:
            self._await_serial("start")
            if VIA_UNBOUND:
                self._start_unbound()
        except RuntimeError:
            self.stop()
            raise
        return self

    def _spawn(self, cmd):
        with open(self.out_path, "ab") as out:
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)

    def kill(self):
        """End rbldnsd abruptly (SIGKILL, by its PID), as a crash would."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)

    def restart(self, timeout=10):
        """Start rbldnsd again after kill(), with the same files on the same
        port (the daemon under test has that port in its configuration).

        The port was free from kill() on, so another process may hold it for a
        while: then rbldnsd fails with "Address already in use" and is tried
        again (bounded). Only an answer with this instance's token counts, so a
        stranger's server on the port is never taken for ours."""
        def attempt():
            mark = len(self.output())
            self.proc = self._spawn(self.cmd)
            try:
                self._await_serial("restart")
                return True
            except RuntimeError:
                if self.proc.poll() is None:
                    _stop_pid(self.proc)
                if "Address already in use" not in self.output()[mark:]:
                    raise
                return False

        poll_until(attempt, timeout, interval=0.2, what="rbldnsd on port %d (it stayed taken)" % self.port)

    def reload(self, zone, data):
        """Replace zone's data (same dataset types as at start) and wait
        until rbldnsd serves it: files and the control serial are rewritten,
        SIGHUP makes rbldnsd reread changed files in one pass, and the new
        serial answering proves the zone was reloaded too."""
        new = self._norm(data)
        if [t for t, _ in new] != [t for t, _ in self.zones[zone]]:
            raise ValueError("dataset types of %s cannot change" % zone)
        self.zones[zone] = new
        self._write_zone(zone)
        self._write_ctl()
        os.kill(self.proc.pid, signal.SIGHUP)
        self._await_serial("reload")
        if self.unbound:
            self.unbound.restart()

    def queries(self):
        """(name, type) of every query rbldnsd logged, control zone excluded.
        Log lines look like: '<time> <peer> <qname> <qtype> IN: NOERROR/1/51'."""
        return [(n, t) for _, n, t in self.peers()]

    def peers(self, name=None):
        """(peer address, name, type) of every query logged, control zone
        excluded; only those of name (case-insensitive) when given."""
        want = name.lower().rstrip(".") if name else None
        return [p for p in self._log()
                if want is None or p[1].lower().rstrip(".") == want]

    def _log(self):
        out = []
        try:
            with open(self.log_path, encoding="utf-8",
                      errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 4 and not parts[2].lower().endswith(
                            self.CTL_ZONE):
                        out.append((parts[1], parts[2], parts[3]))
        except FileNotFoundError:
            pass
        return out

    def output(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""


class Unbound(_Served):
    """Debian's unbound on 127.0.0.1:<port>, forwarding nothing: each of
    `zones` is a stub zone served by 127.0.0.1@upstream (an rbldnsd of ours),
    in the configuration the README gives for a local rbldnsd mirror.

    unbound cannot bind port 0, so start() picks a port that is free for UDP
    and TCP and gives it to unbound; another process may take it in between,
    then unbound fails to bind (so-reuseport is off, so it never shares the
    port) and another port is tried (bounded). Readiness: ready(port) is true
    (by default: unbound answers a query at all), polled, bounded.

    Its own config in a temp dir, in the foreground, logging to a file, no
    remote control, never port 53; stopped by its own PID. restart() starts it
    again on the same port with an empty cache (after a zone changed)."""

    def __init__(self, zones, upstream, ready=None, start_timeout=10):
        self.zones = [z.rstrip(".") for z in zones]
        self.upstream = upstream
        self.ready = ready or self._answers
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.dir = None

    @staticmethod
    def _answers(port):
        try:
            query(port, "ready.invalid", "A", 0.1)
            return True
        except (TimeoutError, MalformedReply, OSError):
            return False

    @staticmethod
    def _free_port():
        """A port free on 127.0.0.1 for UDP and TCP just now."""
        for _ in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", 0))
                port = u.getsockname()[1]
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    try:
                        s.bind(("127.0.0.1", port))
                    except OSError:
                        continue
                    return port
        raise RuntimeError("no port free for both UDP and TCP")

    def config(self):
        tlds = sorted({z.rsplit(".", 1)[-1] for z in self.zones})
        lines = ["server:",
                 "    interface: 127.0.0.1",
                 "    port: %d" % self.port,
                 "    outgoing-interface: %s" % UNBOUND_SOURCE,
                 "    so-reuseport: no",
                 "    do-ip6: no",
                 "    num-threads: 1",
                 "    do-daemonize: no",
                 "    use-syslog: no",
                 '    logfile: "%s"' % self.log_path,
                 "    verbosity: 1",
                 '    username: ""',
                 '    chroot: ""',
                 '    directory: "%s"' % self.dir,
                 '    pidfile: ""',
                 '    module-config: "iterator"',
                 "    do-not-query-localhost: no",
                 "    qname-minimisation: no"]
        for tld in tlds:
            lines += ['    local-zone: "%s." nodefault' % tld,
                      '    domain-insecure: "%s."' % tld]
        for z in self.zones:
            lines += ["stub-zone:", '    name: "%s."' % z,
                      "    stub-addr: 127.0.0.1@%d" % self.upstream]
        lines += ["remote-control:", "    control-enable: no", ""]
        return "\n".join(lines)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="unbound-")
        self.conf_path = os.path.join(self.dir, "unbound.conf")
        self.log_path = os.path.join(self.dir, "unbound.log")
        for _ in range(5):
            self.port = self._free_port()
            if self._run():
                return self
            if "bind" not in self.output() and "in use" not in self.output():
                break
        out = self.output()
        self.stop()
        raise RuntimeError("unbound did not start: %s" % out)

    def _run(self):
        """Start unbound on self.port; whether it answers in time (if not, it
        is stopped)."""
        write_atomic(self.conf_path, self.config())
        with open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf_path],
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         stdin=subprocess.DEVNULL)
        if poll_until(lambda: self.ready(self.port), self.start_timeout,
                      interval=0.05, gone=lambda: self.proc.poll() is not None):
            return True
        _stop_pid(self.proc)
        self.proc = None
        return False

    def restart(self, timeout=10):
        """Stop and start again on the same port: an empty cache."""
        _stop_pid(self.proc)
        self.proc = None
        poll_until(self._run, timeout, interval=0.2,
                   what="unbound on port %d (%s)" % (self.port, self.output()[-300:]))

    def output(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError, AttributeError):
            return ""

