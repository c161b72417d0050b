#!/usr/bin/env python3
"""Integration: what an administrator needs to switch from postscreen, postfwd or
rspamd, against a real rbldnsd on loopback:

- per-code weights: one zen-like zone answering 127.0.0.2 for one client and
  127.0.0.10 for another scores 3 and 1, with one query each;
- tiers: the soft tier prepends, the hard tier rejects;
- local lists of domains (sender, helo) and recipients (an opt-out allowlist);
- a list file edited while clients keep asking: picked up within 2 s, with every
  request answered exactly once; a file with errors never replaces a good one;
- --from-postscreen on the examples of Postfix's documentation gives sections
  that -t accepts and that score what postscreen would;
- the decision log line: queue id, client name, recipient, reason, the RHSBL
  domain that matched; and RHSBL lookups that a crafted sender must not evade
  (the sender domain is the one after the LAST '@', quoted local parts,
  internationalised names).
"""

import os
import re
import socket
import subprocess
import threading
import time

from lib.daemon import POLICYD, Policyd, Tap, read_replies, request
from lib.dnslib import Rbldnsd, reverse_ip

t = Tap()

ZEN = (":127.0.0.2:Listed\n127.0.0.2\n"
       "192.0.2.2 :127.0.0.2:SBL listing for $\n"
       "192.0.2.10 :127.0.0.10:PBL listing for $\n"
       "192.0.2.12 :127.0.0.2:both\n192.0.2.12 :127.0.0.10:both\n")
ZONES = {
    "zen.test": ("ip4set", ZEN),
    "dbl.test": ("dnset", ":127.0.1.2:Spam domain\ntest\nbad.example\nxn--bcher-kva.example\n"),
    "ex-com.test": ("ip4set", ":127.0.0.2:x\n127.0.0.2\n198.51.100.1\n198.51.100.3\n198.51.100.4 :127.0.0.4:x\n"),
    "ex-net.test": ("ip4set", ":127.0.0.2:x\n127.0.0.2\n198.51.100.2\n198.51.100.3\n"),
    "ex-org.test": ("ip4set", ":127.0.0.2:x\n127.0.0.2\n198.51.100.2\n198.51.100.5\n"),
}


def daemon(r, extra, policy="", disabled=()):
    """A started policyd using rbldnsd r, waiting until every DNS list passed its check."""
    d = Policyd(start=False)
    text = (f"{policy}\n[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\n"
            f"health_interval = 1h\n{extra}")
    d.write_config(extra=text)
    d.start()
    try:
        for m in re.finditer(r"^\[(dnsbl|dnswl|rhsbl) ([^\]]+)\]", text, re.M):
            d.wait_log(rf"\[{m.group(1)} {re.escape(m.group(2))}\]: health check passed")
    except BaseException:
        d.__exit__(None, None, None)
        raise
    return d


def check(d, addr, *args):
    """--check: (exit code, stdout lines)."""
    r = subprocess.run([POLICYD, "-c", d.config, "--check", addr, *args], capture_output=True,
                       text=True, timeout=20)
    return r.returncode, r.stdout.splitlines(), r.stderr


def score_of(lines):
    for line in lines:
        if line.startswith("score="):
            return int(line[6:])
    return None


def test_weights_and_tiers():
    zen = "[dnsbl zen.test]\ncodes = 127.0.0.[2..3]*3, 127.0.0.[10..11]*1\n"
    policy = "threshold = 3\nsoft_threshold = 1\nsoft_action = prepend\n"
    with Rbldnsd(ZONES) as r, daemon(r, zen, policy=policy) as d:
        rc, out, err = check(d, "192.0.2.2")
        t.eq(score_of(out), 3, "127.0.0.2 matches the pattern of weight 3: score 3")
        rc, out, err = check(d, "192.0.2.10")
        t.eq(score_of(out), 1, "127.0.0.10 matches the pattern of weight 1: score 1")
        rc, out, err = check(d, "192.0.2.12")
        t.eq(score_of(out), 4, "an answer with both codes: each pattern adds once, 3 + 1")
        before = r.count(reverse_ip("192.0.2.2") + ".zen.test", "A")
        rep2 = d.ask(request("192.0.2.2"))
        rep10 = d.ask(request("192.0.2.10"))
        t.ok(rep2.startswith("action=REJECT 5.7.1 Your host [192.0.2.2] is blacklisted by zen.test: "
                             "SBL listing for 192.0.2.2."), "score 3, at threshold: the hard tier rejects", rep2)
        t.ok(rep10.startswith("action=PREPEND X-DNSBL: Your host [192.0.2.10] is blacklisted"),
             "score 1, at soft_threshold: the soft tier prepends a header", rep10)
        asked2 = r.count(reverse_ip("192.0.2.2") + ".zen.test", "A") - before
        asked10 = r.count(reverse_ip("192.0.2.10") + ".zen.test", "A")
        if r.unbound:
            # unbound's cache answers the daemon what --check asked before it.
            t.ok(asked2 <= 1, "one A query for the zone, whatever the patterns "
                 "(through unbound: at most one reaches rbldnsd)", str(asked2))
            t.ok(1 <= asked10 <= 2, "... the other client too (through unbound: one or two)", str(asked10))
        else:
            t.eq(asked2, 1, "one A query for the zone, whatever the patterns")
            t.eq(asked10, 2, "... the other client too (one by --check, one by the daemon)")


def test_domain_and_recipient_lists():
    with Rbldnsd(ZONES) as r:
        d = Policyd(start=False)
        for name, text in (("senders", "spam.example\n.spammy.example\n"),
                           ("helos", "bad-helo.example\n"),
                           ("optout", "alice@mx.test\n# whole domains that opt out\nfree.example\n")):
            with open(os.path.join(d.dir, name), "w") as f:
                f.write(text)
        d.write_config(extra=(
            "[list senders]\ntype = sender_domain\nfile = senders\nweight = 5\nreason = Sender domain on our list\n"
            "[list helos]\ntype = helo\nfile = helos\nweight = 5\n"
            "[list optout]\ntype = recipient\nfile = optout\nweight = -100\n"))
        d.start()
        with d:
            rep = d.ask(request("192.0.2.1", sender="joe@spam.example"))
            t.eq(rep, "action=REJECT 5.7.1 Your sender domain spam.example is blacklisted by this site: "
                      "Sender domain on our list. See https://www.example.org/blacklisted.html?ip=192.0.2.1 "
                      "or send your questions to postmaster@example.org",
                 "a sender_domain list names the sender domain")
            t.ok(d.ask(request("192.0.2.1", sender="joe@mail.spammy.example")).startswith("action=REJECT"),
                 ".spammy.example lists its subdomains")
            t.eq(d.ask(request("192.0.2.1", sender="joe@spammy.example")), "action=DUNNO",
                 "... but not the domain itself (Postfix's convention)")
            t.ok(d.ask(request("192.0.2.1", helo_name="BAD-HELO.example.")).startswith(
                "action=REJECT 5.7.1 Your HELO name"), "a helo list, whatever the case and final dot")
            t.eq(d.ask(request("192.0.2.1", sender="joe@spam.example", recipient="Alice@MX.test")),
                 "action=DUNNO", "a recipient who opted out (weight -100) gets the mail anyway")
            t.eq(d.ask(request("192.0.2.1", sender="joe@spam.example", recipient="bob@free.example")),
                 "action=DUNNO", "... and a whole domain that opted out")


class Asker(threading.Thread):
    """Asks continuously over one connection; records (address, reply, time) for each request."""

    def __init__(self, d, addrs, seconds):
        super().__init__(daemon=True)
        self.d, self.addrs, self.seconds = d, addrs, seconds
        self.results = []
        self.sent = 0
        self.error = None

    def run(self):
        try:
            with self.d.connect("unix") as s:
                deadline = time.monotonic() + self.seconds
                i = 0
                while time.monotonic() < deadline:
                    batch = [self.addrs[(i + k) % len(self.addrs)] for k in range(4)]
                    i += 4
                    s.sendall(b"".join(request(a) for a in batch))
                    self.sent += len(batch)
                    replies = read_replies(s, len(batch), timeout=5)
                    now = time.monotonic()
                    self.results += [(a, rep, now) for a, rep in zip(batch, replies)]
                s.settimeout(0.3)
                try:
                    self.extra = s.recv(4096)
                except socket.timeout:
                    self.extra = b""
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e


def test_list_edit_under_load():
    d = Policyd(start=False)
    path = os.path.join(d.dir, "local.cidr")
    with open(path, "w") as f:
        f.write("192.0.2.1\n")
    d.write_config(extra=f"[list local]\nfile = {path}\nweight = 10\n")
    d.start()
    with d:
        askers = [Asker(d, ["192.0.2.1", "192.0.2.2", "192.0.2.3"], 6) for _ in range(3)]
        for a in askers:
            a.start()
        time.sleep(1)  # let the clients run against the old list first (load, not synchronisation)
        d.mark()
        # Edit in place, as an editor would: the new entry must be picked up within 2 s.
        with open(path, "a") as f:
            f.write("192.0.2.2\n")
        edited = time.monotonic()
        m = d.logged(r"\[list local\]: \S+ changed; read again", timeout=3)
        t.ok(m is not None, "an edited list file is read again without a SIGHUP")
        time.sleep(1)  # let the clients run against the new list (load, not synchronisation)
        # A half-written file with an error never replaces the good one.
        with open(path, "w") as f:
            f.write("192.0.2.1\n192.0.2.2\nnot-an-address\n")
        bad = d.logged(r"changed but has errors; the list in use stays", timeout=3)
        t.ok(bad is not None, "a file with errors is refused, and said so")
        for a in askers:
            a.join(15)
        t.ok(all(a.error is None for a in askers), "the clients ran without errors",
             [repr(a.error) for a in askers])
        results = [r for a in askers for r in a.results]
        t.eq(len(results), sum(a.sent for a in askers), f"every one of {len(results)} requests answered")
        t.ok(all(a.extra == b"" for a in askers), "... and none answered twice (nothing more on the wire)")
        firsts = [when for addr, rep, when in results if addr == "192.0.2.2" and rep.startswith("action=REJECT")
                  and when > edited]
        t.ok(firsts and firsts[0] - edited < 2.0,
             f"192.0.2.2 refused {firsts[0] - edited:.2f} s after the edit (within 2 s)" if firsts
             else "192.0.2.2 was never refused after the edit")
        late = [rep for addr, rep, when in results if addr == "192.0.2.2" and when > edited + 2.0]
        t.ok(late and all(rep.startswith("action=REJECT") for rep in late),
             "after that it stays refused, the bad file notwithstanding", late[:3])
        t.ok(all(rep.startswith("action=REJECT") for addr, rep, _ in results if addr == "192.0.2.1"),
             "192.0.2.1 was refused throughout (never a gap while the list was swapped)")


def test_from_postscreen():
    """Postfix's own examples: POSTSCREEN_README and postconf(5)."""
    examples = [
        ("ex-com.test*2 ex-net.test*1 ex-org.test*1", 2,
         {"ex-com.test": (None, 2), "ex-net.test": (None, 1), "ex-org.test": (None, 1)}),
        ("ex-com.test*2, ex-net.test, ex-org.test", 2,
         {"ex-com.test": (None, 2), "ex-net.test": (None, 1), "ex-org.test": (None, 1)}),
        ("ex-com.test=127.0.0.4", 1, {"ex-com.test": ("127.0.0.4", 1)}),
    ]
    listed = {  # what the zones list, and the answer
        "198.51.100.1": {"ex-com.test": "127.0.0.2"},
        "198.51.100.2": {"ex-net.test": "127.0.0.2", "ex-org.test": "127.0.0.2"},
        "198.51.100.3": {"ex-com.test": "127.0.0.2", "ex-net.test": "127.0.0.2"},
        "198.51.100.4": {"ex-com.test": "127.0.0.4"},
        "198.51.100.5": {"ex-org.test": "127.0.0.2"},
        "198.51.100.9": {},
    }
    with Rbldnsd(ZONES) as r:
        for sites, threshold, weights in examples:
            out = subprocess.run([POLICYD, "--from-postscreen", sites], capture_output=True, text=True, timeout=10)
            t.eq(out.returncode, 0, f"--from-postscreen '{sites}': exit 0")
            with daemon(r, out.stdout, policy=f"threshold = {threshold}\n") as d:
                rc = subprocess.run([POLICYD, "-t", "-c", d.config], capture_output=True, text=True, timeout=10)
                t.ok(rc.returncode == 0 and "configuration OK" in rc.stdout, "... -t accepts it", rc.stderr)
                wrong = []
                for addr, answers in listed.items():
                    want = sum(w for zone, (flt, w) in weights.items()
                               if zone in answers and (flt is None or answers[zone] == flt))
                    got = score_of(check(d, addr)[1])
                    if got != want:
                        wrong.append(f"{addr}: postscreen {want}, policyd {got}")
                t.ok(not wrong, f"... and scores {len(listed)} clients as postscreen would", "\n".join(wrong))


def test_log_line_and_rhsbl_bypasses():
    with Rbldnsd(ZONES) as r, daemon(r, "[rhsbl dbl.test]\ncheck = sender, helo\ncodes = 127.0.1.[2..99]\n") as d:
        d.mark()
        rep = d.ask(request("192.0.2.30", sender="x@y@bad.example", queue_id="4F2A1C0B2",
                            client_name="mail.example.net", recipient="bob@mx.test"))
        t.ok(rep.startswith("action=REJECT 5.7.1 Your sender domain bad.example"),
             "x@y@bad.example: the domain after the LAST '@' is looked up", rep)
        m = d.logged(r"4F2A1C0B2: reject: [^\n]*")
        line = m.group(0) if m else ""
        t.ok("client=mail.example.net[192.0.2.30]" in line and "to=<bob@mx.test>" in line
             and "dbl.test(127.0.1.2)[bad.example]" in line and 'reason="Spam domain"' in line,
             "the log line: queue id, client name, recipient, the RHSBL domain that matched, the reason",
             line)
        rep = d.ask(request("192.0.2.31", sender='"x@y"@bad.example'))
        t.ok(rep.startswith("action=REJECT"), 'a quoted local part: "x@y"@bad.example is looked up', rep)
        rep = d.ask(request("192.0.2.32", sender="joe@bücher.example"))
        t.ok(rep.startswith("action=REJECT 5.7.1 Your sender domain xn--bcher-kva.example"),
             "an internationalised sender domain is asked as its A-label", rep)
        t.ok(r.count("xn--bcher-kva.example.dbl.test", "A") == 1, "... one query for xn--bcher-kva.example")
        d.mark()
        rep = d.ask(request("192.0.2.33", sender="", queue_id=""))
        t.eq(rep, "action=DUNNO", "the null sender: nothing to look up, DUNNO")
        t.ok(d.logged(r"NOQUEUE: pass: client=unknown\[192\.0\.2\.33\]") is not None,
             "a pass without a queue id is logged as NOQUEUE (at debug)")


def test_pass_with_skipped_list():
    """A pass while a list was skipped names the list, at info: grep finds it."""
    with Rbldnsd(ZONES) as r:
        d = Policyd(start=False)
        text = d.config_text(extra=(
            f"[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\nhealth_interval = 1h\n"
            "[dnsbl zen.test]\n[dnsbl dead.test]\n"))
        d.write_config(text=text.replace("log_level = debug", "log_level = info"))
        with d.start():
            t.ok(d.logged(r"\[dnsbl zen\.test\]: health check passed", timeout=15) is not None
                 and d.logged(r"\[dnsbl dead\.test\]: health check", timeout=15) is not None,
                 "zen.test passed its health check, dead.test (not served) failed it")
            d.mark()
            t.eq(d.ask(request("192.0.2.40")), "action=DUNNO", "a clean client passes")
            m = d.logged(r"NOQUEUE: pass: client=unknown\[192\.0\.2\.40\][^\n]*")
            t.ok(m is not None and "skipped=dead.test(disabled)" in m.group(0),
                 "... and at log_level info the pass is logged with skipped=dead.test(disabled)",
                 m.group(0) if m else d.log()[-800:])
            rep = d.ask(request("192.0.2.2"))
            t.ok(rep.startswith("action=REJECT"), "a listed client is still refused by zen.test", rep)


for fn in (test_weights_and_tiers, test_domain_and_recipient_lists, test_list_edit_under_load,
           test_from_postscreen, test_log_line_and_rhsbl_bypasses, test_pass_with_skipped_list):
    t.run(fn.__name__, fn)
t.done()
