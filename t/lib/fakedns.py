#!/usr/bin/python3
"""Hostile fake DNS server for policyd's fault tests (UDP, loopback only).

Usage: fakedns.py [--bind 127.0.0.1] [--port 0] [--log FILE] [--sent FILE] RULES.json

Once bound it prints exactly one line "READY <port>" on stdout.  After every
datagram it appends "<qname> <qtype>" to the --log file (flushed), so tests
can count queries; when it sends a reply it appends the same to the --sent
file (a delayed reply when its delay is over), so tests can wait for a late
answer instead of sleeping.  SIGHUP rereads the rules file and prints
"RELOADED <n>".  SIGTERM/SIGINT exit cleanly.

RULES.json is a list of rules (or {"rules": [...]}); the first rule whose
"name" matches the query wins.  Names match case-insensitively, exactly, or
by suffix with a leading "*." ("*.wild.test" matches every name below
wild.test, not wild.test itself); "*" matches everything.  Unmatched names
get NXDOMAIN.  Rule keys (all optional except name):

  name       "1.0.0.127.bl.test", "*.bad.test" or "*"
  qtype      only match this query type ("A", "TXT", 16 ...)
  times      the rule matches only its first N queries, then is skipped
  action     answer (default) | nxdomain | servfail | refused | nodata |
             drop | truncated | garbage | wrong_id | short | wrong_name |
             wrong_question | compressed_question
  a          list of IPv4 strings answered to A queries
  txt        TXT record(s): a string or list of strings, one char per byte
             (JSON "\\u0000".."\\u00ff"), so CR, LF, NUL, 0x80+ are possible
  txt_hex    same, given as hex strings
  ttl        TTL of the answer records (default 300)
  delay_ms   send the reply after this many ms (other queries still served)
  size       garbage: number of random bytes (default 100)
  keep_id    garbage: first two bytes are the query id (default true), so the
             client does not simply discard it as a stray packet
  len        short: send only the first N bytes of the real reply (default 12,
             the header alone)
  other_name wrong_name/wrong_question: the name used (default wrong.invalid)
             (compressed_question: the reply's question name is a compression
             pointer to the answer's owner, which holds the same name: udns 0.4
             accepts the match, then reads the question as an uncompressed name)
  oversize   answer even if the reply exceeds the client's UDP size
             (512, or its EDNS0 size); otherwise such a reply is sent
             truncated (TC bit, no answers), as a real server would

A queries get the "a" list (NODATA if none), TXT queries get the TXT data
(NODATA if none), other types get NODATA.
"""

import argparse
import heapq
import json
import random
import select
import signal
import socket
import struct
import time

# A script of its own (python3 t/lib/fakedns.py): dnswire comes from this directory.
from dnswire import QTYPE_NAMES, QTYPES, decode_name, encode_name

RCODES = {"noerror": 0, "formerr": 1, "servfail": 2, "nxdomain": 3,
          "notimp": 4, "refused": 5}
ACTIONS = {"answer", "nxdomain", "servfail", "refused", "nodata", "drop",
           "truncated", "garbage", "wrong_id", "short", "wrong_name",
           "wrong_question", "compressed_question"}


class BadQuery(Exception):
    pass


def qtype_name(t):
    return QTYPE_NAMES.get(t, "TYPE%d" % t)


def parse_qtype(v):
    if isinstance(v, int):
        return v
    v = str(v).upper()
    if v in QTYPES:
        return QTYPES[v]
    if v.startswith("TYPE") and v[4:].isdigit():
        return int(v[4:])
    raise ValueError("unknown qtype %r" % v)


def to_bytes_latin1(s):
    # One JSON character per byte: lets rules carry any byte value while
    # staying plain JSON.  Characters above U+00FF are a rule error.
    return s.encode("latin-1")


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class Rule:
    def __init__(self, d):
        if not isinstance(d, dict) or "name" not in d:
            raise ValueError("rule without name: %r" % (d,))
        self.name = d["name"].lower().rstrip(".")
        self.action = d.get("action", "answer")
        if self.action not in ACTIONS:
            raise ValueError("unknown action %r" % self.action)
        self.qtype = parse_qtype(d["qtype"]) if "qtype" in d else None
        self.times = d.get("times")
        self.hits = 0
        self.a = [socket.inet_aton(ip) for ip in as_list(d.get("a"))]
        self.txt = [to_bytes_latin1(s) for s in as_list(d.get("txt"))]
        self.txt += [bytes.fromhex(h) for h in as_list(d.get("txt_hex"))]
        self.ttl = int(d.get("ttl", 300))
        self.delay = float(d.get("delay_ms", 0)) / 1000.0
        self.size = int(d.get("size", 100))
        self.keep_id = bool(d.get("keep_id", True))
        self.len = int(d.get("len", 12))
        self.other_name = d.get("other_name", "wrong.invalid")
        self.oversize = bool(d.get("oversize", False))

    def matches(self, qname, qtype):
        if self.qtype is not None and self.qtype != qtype:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        if self.name == "*":
            return True
        if self.name.startswith("*."):
            return qname.endswith(self.name[1:])
        return qname == self.name


def load_rules(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = data.get("rules", [])
    return [Rule(d) for d in data]


def present(labels):
    """Presentation form: printable bytes as is, others as \\DDD."""
    parts = []
    for lab in labels:
        s = ""
        for b in lab:
            if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C):
                s += chr(b)
            else:
                s += "\\%03d" % b
        parts.append(s)
    return ".".join(parts) if parts else "."


class Query:
    def __init__(self, pkt):
        if len(pkt) < 12:
            raise BadQuery("short packet")
        (self.id, self.flags, qd, an, ns, ar) = struct.unpack(">6H", pkt[:12])
        if self.flags & 0x8000:
            raise BadQuery("is a response")
        if qd < 1:
            raise BadQuery("no question")
        labels, off = decode_name(pkt, 12, BadQuery)
        if off + 4 > len(pkt):
            raise BadQuery("question truncated")
        self.qtype, self.qclass = struct.unpack(">HH", pkt[off:off + 4])
        self.labels = labels
        self.name = present(labels)
        self.question = pkt[12:off + 4]        # echoed verbatim
        self.udpsize = 512
        self.edns = False
        # EDNS0: look for an OPT record in the additional section so the
        # reply size limit matches what the client advertised.  Only a
        # simple scan; any oddity just leaves the default 512.
        if qd == 1 and an == 0 and ns == 0 and ar >= 1:
            try:
                p = off + 4
                _, p = decode_name(pkt, p, BadQuery)
                rtype, rclass = struct.unpack(">HH", pkt[p:p + 4])
                if rtype == 41:
                    self.edns = True
                    self.udpsize = max(512, rclass)
            except (BadQuery, struct.error):
                pass


def header(qid, flags, rcode, qd, an, ns=0, ar=0):
    return struct.pack(">6H", qid, flags | rcode, qd, an, ns, ar)


def build_reply(q, rule, rcode=0, tc=False, with_answers=True):
    """A well-formed reply to q; answers come from rule (may be None)."""
    # QR, AA, RA set; opcode and RD copied from the query.
    flags = 0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080
    if tc:
        flags |= 0x0200
    rrs = []
    if rule is not None and with_answers and rcode == 0:
        owner = b"\xc0\x0c"                 # pointer to the question name
        if rule.action == "wrong_name":
            owner = encode_name(rule.other_name)
        if q.qtype == 1:
            for ip in rule.a:
                rrs.append(owner + struct.pack(">HHIH", 1, 1, rule.ttl, 4) + ip)
        elif q.qtype == 16:
            for txt in rule.txt:
                # A TXT RR is a sequence of <=255-byte character-strings.
                chunks = [txt[i:i + 255] for i in range(0, len(txt), 255)]
                rdata = b"".join(bytes([len(c)]) + c for c in chunks or [b""])
                rrs.append(owner + struct.pack(">HHIH", 16, 1, rule.ttl,
                                               len(rdata)) + rdata)
    question = q.question
    if rule is not None and rule.action == "wrong_question":
        question = encode_name(rule.other_name) + q.question[-4:]
    opt = b"\0" + struct.pack(">HHIH", 41, 4096, 0, 0) if q.edns else b""
    pkt = (header(q.id, flags, rcode, 1, len(rrs), 0, 1 if opt else 0)
           + question + b"".join(rrs) + opt)
    if len(pkt) > q.udpsize and not (rule and rule.oversize):
        return build_reply(q, rule, rcode, tc=True, with_answers=False)
    return pkt


def compressed_question(q, rule):
    """A reply whose question name is a pointer to the (uncompressed) answer owner."""
    flags = 0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080
    owner_at = 12 + 2 + 4                   # after the 2-byte pointer and type/class
    question = struct.pack(">H", 0xC000 | owner_at) + q.question[-4:]
    owner = b"".join(bytes([len(l)]) + l for l in q.labels) + b"\0"
    ips = rule.a or [socket.inet_aton("127.0.0.2")]
    rrs = b"".join(owner + struct.pack(">HHIH", 1, 1, rule.ttl, 4) + ip for ip in ips[:1])
    return header(q.id, flags, 0, 1, 1) + question + rrs


def respond(q, rule):
    """Bytes to send for query q under rule (None = unmatched), or None."""
    if rule is None:
        return build_reply(q, None, RCODES["nxdomain"])
    act = rule.action
    if act == "drop":
        return None
    if act in ("nxdomain", "servfail", "refused"):
        return build_reply(q, rule, RCODES[act])
    if act == "nodata":
        return build_reply(q, rule, 0, with_answers=False)
    if act == "truncated":
        return build_reply(q, rule, 0, tc=True, with_answers=False)
    if act == "garbage":
        junk = random.randbytes(rule.size)
        if rule.keep_id and rule.size >= 2:
            junk = struct.pack(">H", q.id) + junk[2:]
        return junk
    if act == "compressed_question":
        return compressed_question(q, rule)
    reply = build_reply(q, rule, 0)
    if act == "wrong_id":
        return struct.pack(">H", (q.id + 1) & 0xFFFF) + reply[2:]
    if act == "short":
        return reply[:rule.len]
    return reply                           # answer, wrong_name, wrong_question


class Server:
    def __init__(self, rules_path, bind, port, log_path, sent_path=None):
        self.rules_path = rules_path
        self.rules = load_rules(rules_path)
        fam = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((bind, port))
        self.sock.setblocking(False)
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None
        self.sent = open(sent_path, "a", encoding="utf-8") if sent_path else None
        self.pending = []                  # heap of (due, seq, bytes, addr, what)
        self.seq = 0

    def reload(self):
        try:
            self.rules = load_rules(self.rules_path)
            print("RELOADED %d" % len(self.rules), flush=True)
        except (OSError, ValueError) as e:
            print("RELOAD-FAILED %s" % e, flush=True)

    def find_rule(self, q):
        qname = q.name.lower().rstrip(".")
        for rule in self.rules:
            if rule.matches(qname, q.qtype):
                rule.hits += 1
                return rule
        return None

    def handle(self, pkt, addr):
        try:
            q = Query(pkt)
        except BadQuery:
            self.note(self.log, "- BAD")
            # Answer FORMERR when there is at least an id and it is a query;
            # never answer a response (no loops with another server).
            if len(pkt) >= 12 and not pkt[2] & 0x80:
                qid = struct.unpack(">H", pkt[:2])[0]
                self.send(header(qid, 0x8000, RCODES["formerr"], 0, 0), addr, 0, "- BAD")
            return
        what = "%s %s" % (q.name, qtype_name(q.qtype))
        self.note(self.log, what)
        rule = self.find_rule(q)
        data = respond(q, rule)
        if data is not None:
            self.send(data, addr, rule.delay if rule else 0, what)

    @staticmethod
    def note(f, line):
        if f:
            f.write(line + "\n")
            f.flush()

    def send(self, data, addr, delay, what):
        if delay > 0:
            self.seq += 1
            heapq.heappush(self.pending,
                           (time.monotonic() + delay, self.seq, data, addr, what))
            return
        try:
            self.sock.sendto(data, addr)
        except OSError:
            pass                           # client went away: not our problem
        # Logged after sendto() returned: by the time a test reads the line,
        # the reply is on its way to (on loopback: queued for) the client.
        self.note(self.sent, what)

    def run(self):
        print("READY %d" % self.sock.getsockname()[1], flush=True)
        while True:
            timeout = None
            if self.pending:
                timeout = max(0.0, self.pending[0][0] - time.monotonic())
            r, _, _ = select.select([self.sock], [], [], timeout)
            now = time.monotonic()
            while self.pending and self.pending[0][0] <= now:
                _, _, data, addr, what = heapq.heappop(self.pending)
                self.send(data, addr, 0, what)
            if r:
                # Drain everything queued so one burst is one wakeup.
                while True:
                    try:
                        pkt, addr = self.sock.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break              # e.g. ICMP error reported late
                    self.handle(pkt, addr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rules", help="JSON rules file")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", help="append '<qname> <qtype>' per query")
    ap.add_argument("--sent", help="append '<qname> <qtype>' per reply sent")
    args = ap.parse_args(argv)
    server = Server(args.rules, args.bind, args.port, args.log, args.sent)

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The handler runs in the main thread between bytecodes, so swapping
    # the rule list there cannot race with query handling.
    signal.signal(signal.SIGHUP, lambda s, f: server.reload())
    try:
        server.run()
    finally:
        server.sock.close()
        for f in (server.log, server.sent):
            if f:
                f.close()


if __name__ == "__main__":
    main()
