#!/usr/bin/env python3
"""End to end: a real Postfix (Debian package) asks policyd, swaks is the SMTP client.

The test builds a throwaway Postfix instance under a temporary directory: its own
config_directory, queue_directory and data_directory (so it shares no lock, queue
or pid file with a system Postfix and never reads or writes /etc/postfix's main.cf
or master.cf), two smtpd services on loopback, logging to a maillog_file in the
same directory. It runs Postfix's master(8) directly as a child of this script
(after `postfix -c DIR check`, which creates the queue directories) so that it can
be ended by its PID; master ends its own children.

    smtpd       127.0.0.1:0 -> check_policy_service { unix:private/policyd, default_action=DUNNO }
    smtpd_tcp   127.0.0.2:0 -> check_policy_service { inet:127.0.0.1:POLICYPORT, default_action=DUNNO }

No port is picked in advance (another process could take it first): both smtpd
services ask for port 0 on their own address, and the ports master got are read
from /proc by the inodes of its listening sockets. policyd listens on port 0 too
and logs its port, which goes into main.cf before master starts. While policyd is
stopped the test holds its port (bound, never listening: connections are refused,
no one else gets it), and policyd is restarted on that same port, so that the
running Postfix finds it where it was.

Every service in master.cf runs without chroot (chroot = n), so smtpd sees the
queue directory by its real path and policyd binds QUEUE/private/policyd itself
(socket_group = postfix, socket_mode = 0660, as in the README).

Clients are simulated with XCLIENT (smtpd_authorized_xclient_hosts = 127.0.0.0/8):
swaks --xclient-addr 192.0.2.10, --xclient-addr IPV6:2001:db8:bad::25, and
--xclient-login alice, which Postfix passes to the policy service as sasl_username
(with or without smtpd_sasl_auth_enable). swaks stops after RCPT where the test
judges only RCPT replies. The greylisting scenario sends whole messages: policyd
has a soft tier (threshold = 3, soft_threshold = 1, soft_action = greylist;
bl.test's codes 127.0.0.[10;11] weigh 1, as a PBL-like list would, the others 3),
so a client listed only with 127.0.0.10 gets 450 4.7.1 at RCPT until it retries
after [greylist] delay; the accepted message is queued and delivered by the
discard transport (mydestination = mx.test, local_transport = discard:), and the
maillog's lines for its queue ID prove it.

DNS lists are served by a real rbldnsd on loopback; the test waits for each list's
RFC 5782 health check before asking anything.

Needs root (Postfix's master refuses to run otherwise), the Debian packages
postfix and swaks (and rbldnsd). Missing pieces are a skip, or a failure when the
environment says they must be there (CI, POLICYD_REQUIRE_POSTFIX).
"""

import concurrent.futures
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from lib import procnet
from lib.daemon import Policyd, Tap, hold_port
from lib.dnslib import RBLDNSD, Rbldnsd
from lib.wait import poll_until

t = Tap()

HELP = "https://www.example.org/blacklisted.html?ip="
CONTACT = "postmaster@example.org"
RCPT = "user@mx.test"
PREFIX = f"<{RCPT}>: Recipient address rejected: "
# rbldnsd serves the first 254 characters of a TXT text: with the rest of the template
# (about 160 bytes) that is more than policyd's 400-byte reply text, so policyd must cut.
LONG_REASON = ("This reason is long on purpose: it is a TXT record written by a list operator who had a lot to say "
               "about your host, its history, its neighbours, the weather and the state of the world, so that the "
               "reply text must be cut to fit in Postfix's reply line, and the cut must fall on the reason alone.")

# 192.0.2.20 is listed with a code that weighs 1 (the soft tier): greylisted.
GREY = "192.0.2.20"
BL4 = f""":127.0.0.2:Listed: see http://bl.test/lookup?$
127.0.0.2
192.0.2.10 :127.0.0.3:Spam trap hit from $
192.0.2.12 :127.0.0.2:{LONG_REASON}
{GREY} :127.0.0.10:Dynamic address $
192.0.2.60 :127.0.0.2:Also on the allowlist
"""
BL6 = "2001:db8:bad::/48 :127.0.0.4:IPv6 source $ listed\n"
ZONES = {
    "bl.test": [("ip4set", BL4), ("ip6trie", BL6)],
    "wl.test": ("ip4set", ":127.0.0.2:Known good\n127.0.0.2\n192.0.2.60\n"),
    "dbl.test": ("dnset", ":127.0.1.2:Spam domain\ntest\nbad.example\n"),
}
# Two tiers, as a site that greylists the doubtful would set them: a hit of weight 3
# refuses alone (threshold 3), so every refusal the other scenarios expect is still
# one; a hit of weight 1 (bl.test's 127.0.0.[10;11], like Spamhaus's PBL) is the soft
# tier, greylisted. The allowlist's -5 still outweighs one refusing hit.
POLICY = "threshold = 3\nsoft_threshold = 1\nsoft_action = greylist\n"
GREYLIST_DELAY = 2
GREYLIST = f"[greylist]\ndelay = {GREYLIST_DELAY}s\n"
LISTS = ("[dnsbl bl.test]\ncodes = 127.0.0.[2..9], 127.0.0.[10;11]*1\nweight = 3\nipv6 = yes\n\n"
         "[dnswl wl.test]\nweight = -5\n\n"
         "[rhsbl dbl.test]\ncheck = sender\ncodes = 127.0.1.[2..99]\nweight = 3\n")


def reject_line(addr, reason, zone="bl.test"):
    """The RCPT reply Postfix should send for a refusal by policyd."""
    return (f"554 5.7.1 {PREFIX}Your host [{addr}] is blacklisted by {zone}: {reason}. "
            f"See {HELP}{addr} or send your questions to {CONTACT}")


# ------------------------------------------------------------------ setup --

def missing_prerequisites():
    """Why this test cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: Postfix's master(8) refuses to run as another user"
    for prog in ("postconf", "postfix", "swaks"):
        if shutil.which(prog) is None and not os.path.exists(f"/usr/sbin/{prog}"):
            return f"{prog} not installed (apt-get install postfix swaks)"
    if not os.path.exists(RBLDNSD):
        return "rbldnsd not installed"
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError:
        return "user postfix or group postdrop missing (the postfix package creates them)"
    return None


def prog(name):
    return shutil.which(name) or f"/usr/sbin/{name}"


class Postfix:
    """A private Postfix instance: master(8) as our child, configuration and queue in a temp dir."""

    # The two smtpd services, told apart by their address (both ask for port 0).
    HOST = "127.0.0.1"
    HOST_TCP = "127.0.0.2"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="policyd-postfix-")
        os.chmod(self.dir, 0o755)  # smtpd (user postfix) must reach the queue below
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.policy_socket = os.path.join(self.queue, "private", "policyd")
        # policyd's TCP port: 0 until policyd has started and said which it got
        # (nothing connects to it before master starts).
        self.policy_port = 0
        self.smtpd = self.smtpd_tcp = None  # "host:port" once master listens
        self.proc = None
        os.mkdir(self.conf, 0o755)
        os.mkdir(self.queue, 0o755)
        self.write_config()

    def write_config(self):
        main_cf = f"""\
# Throwaway instance for policyd's end-to-end test; nothing here is shared with /etc/postfix.
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
myhostname = mx.test
mydomain = mx.test
myorigin = mx.test
mydestination = mx.test
relay_domains = example.org
inet_interfaces = 127.0.0.1
inet_protocols = all
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
smtpd_peername_lookup = no
smtpd_authorized_xclient_hosts = 127.0.0.0/8
maillog_file = {self.maillog}
maillog_file_prefixes = {self.dir}
smtpd_relay_restrictions =
smtpd_recipient_restrictions = reject_unauth_destination,
    check_policy_service {{ unix:private/policyd, default_action=DUNNO }}
policyd_tcp_restrictions = reject_unauth_destination,
    check_policy_service {{ inet:127.0.0.1:{self.policy_port}, default_action=DUNNO }}
"""
        # service type private unpriv chroot wakeup maxproc command
        master_cf = f"""\
{self.HOST}:0 inet n - n - - smtpd
{self.HOST_TCP}:0 inet n - n - - smtpd
  -o syslog_name=postfix-tcp
  -o smtpd_recipient_restrictions=$policyd_tcp_restrictions
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""
        for name, text in (("main.cf", main_cf), ("master.cf", master_cf)):
            with open(os.path.join(self.conf, name), "w") as f:
                f.write(text)

    def postconf(self, *args):
        return subprocess.run([prog("postconf"), "-c", self.conf, *args], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    def check(self):
        """`postfix check` creates the queue directories with their owners (post-install
        create-missing), QUEUE/private among them, where policyd binds its socket; it
        also checks the postlog service that maillog_file needs."""
        p = subprocess.run([prog("postfix"), "-c", self.conf, "check"], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"postfix check failed ({p.returncode}): {p.stdout}{p.stderr}")

    def start(self, timeout=60):
        """Start master with policyd's port in main.cf; learn its smtpd ports and wait
        until both services answer with their banner."""
        if not self.policy_port:
            raise RuntimeError("policyd's port is not known yet")
        self.write_config()
        daemon_dir = self.postconf("-h", "daemon_directory").stdout.strip() or "/usr/lib/postfix/sbin"
        # Without -w master stays in the foreground (it only becomes a session leader):
        # our child, ended by its PID; it signals its own process group on SIGTERM.
        self.proc = subprocess.Popen([os.path.join(daemon_dir, "master"), "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        found = procnet.wait_bound(self.proc.pid, "tcp", count=2, timeout=timeout,
                                   alive=lambda: self.proc.poll() is None)
        if not found:
            raise RuntimeError(f"master (exit {self.proc.poll()}) did not listen on two ports:\n{self.log()[-2000:]}")
        ports = dict(found)
        if set(ports) != {self.HOST, self.HOST_TCP}:
            raise RuntimeError(f"master listens on {found}, not on {self.HOST} and {self.HOST_TCP}")
        self.smtpd = f"{self.HOST}:{ports[self.HOST]}"
        self.smtpd_tcp = f"{self.HOST_TCP}:{ports[self.HOST_TCP]}"
        started = time.monotonic()
        for server in (self.smtpd, self.smtpd_tcp):
            poll_until(lambda: self._banner(server), max(0, started + timeout - time.monotonic()), interval=0.1,
                       what=f"SMTP banner on {server}", gone=lambda: self.proc.poll() is not None,
                       detail=lambda: f"master's exit status: {self.proc.poll()}\n{self.log()[-2000:]}")
        return self

    def running(self):
        """master is alive and both smtpd services greet."""
        return self.proc is not None and self.proc.poll() is None and self._banner(self.smtpd) and self._banner(self.smtpd_tcp)

    @staticmethod
    def _banner(server):
        host, port = server.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.settimeout(10)
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(512)
                    if not chunk:
                        return False
                    data += chunk
                s.sendall(b"QUIT\r\n")
                return data.startswith(b"220 ")
        except OSError:
            return False

    def log(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def mark(self):
        return len(self.log())

    def wait_log(self, pattern, since=0, timeout=15):
        """A maillog line matching pattern, written after offset since; None after timeout."""
        rx = re.compile(pattern)
        return poll_until(lambda: rx.search(self.log()[since:]), timeout, interval=0.05)

    def stop(self, timeout=20):
        if self.proc is not None:
            pid = self.proc.pid
            if self.proc.poll() is None:
                os.kill(pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(pid, signal.SIGKILL)
                    self.proc.wait(timeout)
            # master made itself leader of process group `pid` and SIGTERMs it when it
            # exits; wait (bounded) for its children to go, then make sure they did.
            poll_until(lambda: not self._group_alive(pid), timeout, interval=0.1)
            if self._group_alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None

    @staticmethod
    def _group_alive(pgid):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if fields and fields[0] != "Z" and int(fields[2]) == pgid:
                return True
        return False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def swaks_session(server, addr, login=None, timeout=90, rcpt=RCPT, sender="sender@client.test", quit_after="RCPT"):
    """One SMTP session with server ("host:port") through XCLIENT, stopped after
    quit_after (None: the whole message, DATA included, then QUIT).

    Returns (replies, whole transcript): replies maps "rcpt" to the RCPT reply line
    and "data" to the reply to the message's final "." (when the session got that
    far); it is None when XCLIENT was not accepted or swaks did not finish (the
    transcript says why)."""
    cmd = [prog("swaks"), "--server", server, "--helo", "client.test", "--from", sender,
           "--to", rcpt, "--xclient-addr", addr, "--timeout", "60"]
    if quit_after:
        cmd += ["--quit-after", quit_after]
    if login:
        cmd += ["--xclient-login", login]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:  # subprocess.run has killed swaks by its PID
        return None, f"swaks did not finish within {timeout}s\n{(e.output or b'').decode('utf-8', 'replace')}"
    out = p.stdout.decode("utf-8", "replace")
    lines = out.splitlines()
    xclient_ok = False
    replies = {}
    for i, line in enumerate(lines):
        # The server's answer to a command is the next line swaks marks as received
        # ("<-  " for a success, "<** " for a failure).
        answer = next((r[4:] for r in lines[i + 1:] if r.startswith(("<-  ", "<** "))), None)
        if line.startswith(" -> XCLIENT"):
            xclient_ok = (answer or "").startswith("220")
        elif line.startswith(" -> RCPT TO:"):
            replies["rcpt"] = answer
        elif line == " -> .":
            replies["data"] = answer
    if not xclient_ok:
        return None, "XCLIENT was not accepted:\n" + out
    return replies, out


def swaks(server, addr, login=None, timeout=90, rcpt=RCPT, sender="sender@client.test"):
    """One SMTP session stopped after RCPT. Returns (RCPT reply line, whole
    transcript); the reply is None when swaks never got that far."""
    replies, out = swaks_session(server, addr, login=login, timeout=timeout, rcpt=rcpt, sender=sender)
    return (replies or {}).get("rcpt"), out


# -------------------------------------------------------------- scenarios --

def wait_lists(d, timeout=30):
    for kind, zone in (("dnsbl", "bl.test"), ("dnswl", "wl.test"), ("rhsbl", "dbl.test")):
        d.wait_log(rf"\[{kind} {re.escape(zone)}\]: health check passed; list enabled", timeout=timeout)


def policyd_config(d, r, extra=""):
    d.write_config(server="socket_group = postfix\nsocket_mode = 0660\n",
                   extra=f"{POLICY}\n[dns]\nnameserver = {r.nameserver}\ntimeout = 2s\ntries = 2\n\n{LISTS}\n"
                         f"{GREYLIST}\n{extra}")


def ipv6_available():
    """Postfix accepts XCLIENT ADDR=IPV6:... only when it can use IPv6 (inet_protocols)."""
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
        return True
    except OSError:
        return False


IPV6 = ipv6_available()
NO_IPV6 = "this host has no IPv6 sockets: Postfix answers XCLIENT ADDR=IPV6:... with 501 Bad ADDR syntax"


def check_reply(name, got, want, transcript):
    t.ok(got == want, name, f"got:  {got!r}\nwant: {want!r}\n--- swaks:\n{transcript}")


def test_refusals(pf, d, server, kind):
    """Listed IPv4 / IPv6, clean, allowlisted and authenticated clients through one smtpd service."""
    since = pf.mark()
    mark = d.mark()
    got, out = swaks(server, "192.0.2.10")
    check_reply(f"{kind}: listed IPv4 client 192.0.2.10: RCPT refused with 554 5.7.1, list, TXT reason, help URL, contact",
                got, reject_line("192.0.2.10", "Spam trap hit from 192.0.2.10"), out)
    t.ok(got is not None and len(got) <= 510, f"{kind}: ... the reply line is at most 510 bytes ({len(got or '')})")
    m = pf.wait_log(r"NOQUEUE: reject: RCPT from unknown\[192\.0\.2\.10\]: 554 5\.7\.1 [^\n]*", since)
    t.ok(m is not None and "blacklisted by bl.test: Spam trap hit from 192.0.2.10" in m.group(0)
         and f"{HELP}192.0.2.10" in m.group(0) and CONTACT in m.group(0),
         f"{kind}: ... Postfix's maillog has the NOQUEUE reject with the same text",
         m.group(0) if m else pf.log()[since:][-2000:])
    m = d.logged(r"reject: client=[^\[\s]*\[192\.0\.2\.10\][^\n]*lists=[^\n]*bl\.test\(127\.0\.0\.3\)", timeout=10, since=mark)
    t.ok(m is not None, f"{kind}: ... and policyd logged the decision: reject, bl.test(127.0.0.3)", d.log()[mark:][-2000:])

    name = f"{kind}: listed IPv6 client 2001:db8:bad::25 (ip6trie, ipv6 = yes): 554 5.7.1"
    if IPV6:
        got, out = swaks(server, "IPV6:2001:db8:bad::25")
        check_reply(name, got, reject_line("2001:db8:bad::25", "IPv6 source 2001:db8:bad::25 listed"), out)
    else:
        t.skip(name, NO_IPV6)

    got, out = swaks(server, "192.0.2.11")
    check_reply(f"{kind}: clean client 192.0.2.11: RCPT accepted (250)", got, "250 2.1.5 Ok", out)

    got, out = swaks(server, "192.0.2.60")
    check_reply(f"{kind}: client on the blocklist and on [dnswl wl.test] (weight -5): 250", got, "250 2.1.5 Ok", out)

    since = pf.mark()
    mark = d.mark()
    got, out = swaks(server, "192.0.2.10", login="alice")
    check_reply(f"{kind}: listed client 192.0.2.10 authenticated as alice (XCLIENT LOGIN): 250, skip_authenticated = yes",
                got, "250 2.1.5 Ok", out)
    m = pf.wait_log(r"client=unknown\[192\.0\.2\.10\], sasl_method=XCLIENT, sasl_username=alice", since)
    t.ok(m is not None, f"{kind}: ... Postfix logged sasl_username=alice for that session", pf.log()[since:][-2000:])
    m = d.logged(r"skip: client=[^\[\s]*\[192\.0\.2\.10\][^\n]*", timeout=10, since=mark)
    t.ok(m is not None and "lists=-" in m.group(0), f"{kind}: ... policyd logged 'skip' for it and consulted no list",
         m.group(0) if m else d.log()[mark:][-2000:])


def test_long_reason(pf, d):
    got, out = swaks(pf.smtpd, "192.0.2.12")
    text = got[len("554 5.7.1 " + PREFIX):] if got and got.startswith("554 5.7.1 " + PREFIX) else ""
    t.ok(got is not None and got.startswith(f"554 5.7.1 {PREFIX}Your host [192.0.2.12] is blacklisted by bl.test: This reason"),
         "a TXT reason of 254 characters: still 554 5.7.1 naming the list and the start of the reason", out)
    t.ok(got is not None and len(got) <= 510, f"... the whole reply line is at most 510 bytes ({len(got or '')})", got)
    t.ok(0 < len(text) <= 400, f"... policyd's text is at most 400 bytes ({len(text)})", text)
    t.ok(LONG_REASON[:254] not in text and LONG_REASON[:100] in text,
         "... the reason was cut (rbldnsd served 254 characters of it; the reply has its start, not all of it)", text)
    t.ok(text.endswith(f"See {HELP}192.0.2.12 or send your questions to {CONTACT}"),
         "... the help URL and the contact arrive whole, at the end of the line", got)


def test_senders_path(pf, d):
    """A refused sender can always reach a human, the line fits, and the bounce names what is listed."""
    for rcpt in (CONTACT, "postmaster@mx.test", "ABUSE@mx.test"):
        since = pf.mark()
        got, out = swaks(pf.smtpd, "192.0.2.10", rcpt=rcpt)
        check_reply(f"listed client 192.0.2.10 writing to {rcpt}: accepted (250), whatever the lists say",
                    got, "250 2.1.5 Ok", out)
    d.mark()
    got, out = swaks(pf.smtpd, "192.0.2.10", rcpt=CONTACT)
    t.ok(d.logged(r"NOQUEUE: exempt: client=[^\n]*to=<postmaster@example\.org>") is not None,
         "... and policyd logged the exemption")
    got, out = swaks(pf.smtpd, "192.0.2.10")
    t.ok(got is not None and got.startswith("554 5.7.1"), "... while its mail to a user is refused", out)

    long_rcpt = "r" * 242 + "@mx.test"
    got, out = swaks(pf.smtpd, "192.0.2.12", rcpt=long_rcpt)
    t.ok(got is not None and got.startswith(f"554 5.7.1 <{long_rcpt}>: Recipient address rejected: Your host"),
         "a 250-byte recipient and a long TXT reason: refused", out)
    t.ok(got is not None and len(got) <= 510,
         f"... Postfix's reply line is {len(got or '')} bytes: at most 510 (RFC 5321's 512 with CRLF)", got)
    t.ok(got is not None and got.endswith(f"See {HELP}192.0.2.12 or send your questions to {CONTACT}"),
         "... with the help URL and the contact whole at its end; the reason was cut", got)

    got, out = swaks(pf.smtpd, "192.0.2.13", sender="joe@bad.example")
    want = (f"554 5.7.1 {PREFIX}Your sender domain bad.example is blacklisted by dbl.test: Spam domain. "
            f"See {HELP}192.0.2.13 or send your questions to {CONTACT}")
    check_reply("an RHSBL hit on the sender domain names the sender domain, not the host", got, want, out)


def greylist_line(addr, retry, rcpt=RCPT):
    """The RCPT reply Postfix should send for policyd's greylisting delay: DEFER_IF_PERMIT
    becomes 450 4.7.1 once the other restrictions permit."""
    unit = "second" if retry == 1 else "seconds"
    return (f"450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted: please retry in {retry} {unit}; "
            f"this message is delayed, not refused, because your host [{addr}] is listed by bl.test. "
            f"See {HELP}{addr}&greylisted=1 or send your questions to {CONTACT}")


def test_greylisting(pf, d):
    """A soft-tier client sends a whole message: 450 at RCPT with the greylisting text,
    then, retried at bounded intervals, accepted once the delay has passed and queued
    (delivered by the discard transport). The timing check is sound whatever the
    machine's speed: policyd's first decision came after the first session started,
    and the accepting decision before the accepted session ended, so with a correct
    policyd that span is at least the delay."""
    # policyd's greylisting clock counts whole seconds, and a retry passes only once more
    # than the delay has gone by on it: when to retry is the delay or a second more at
    # first, then what is left of that, down to 1 second.
    firsts = {greylist_line(GREY, GREYLIST_DELAY)}
    deferrals = {greylist_line(GREY, n) for n in range(1, GREYLIST_DELAY + 1)}
    since = pf.mark()
    mark = d.mark()
    first = time.monotonic()
    replies, out = swaks_session(pf.smtpd, GREY, quit_after=None)
    got = (replies or {}).get("rcpt")
    t.ok(got in firsts, f"soft-tier client {GREY} (bl.test 127.0.0.10, weight 1; threshold 3, soft_threshold 1, "
                        f"soft_action = greylist) sends a message: 450 4.7.1 at RCPT, with when to retry (the delay, "
                        f"{GREYLIST_DELAY} seconds, or one more), the list, the help URL marked greylisted=1 and the "
                        f"contact", f"got:  {got!r}\nwant: {greylist_line(GREY, GREYLIST_DELAY)!r}\n--- swaks:\n{out}")
    t.ok(replies is not None and "data" not in replies, "... and swaks sent no message: no recipient was accepted", out)
    m = pf.wait_log(rf"NOQUEUE: reject: RCPT from unknown\[{re.escape(GREY)}\]: 450 4\.7\.1 [^\n]*", since)
    t.ok(m is not None and "Greylisted: please retry in" in m.group(0) and f"{HELP}{GREY}&greylisted=1" in m.group(0),
         "... Postfix's maillog has the NOQUEUE 450 with the greylisting text",
         m.group(0) if m else pf.log()[since:][-2000:])
    m = d.logged(rf"greylist: client=[^\[\s]*\[{re.escape(GREY)}\][^\n]*", timeout=10, since=mark)
    t.ok(m is not None and "bl.test(127.0.0.10)" in m.group(0) and "score=1" in m.group(0)
         and m.group(0).endswith("greylist=new"),
         "... policyd logged the decision: greylist, bl.test(127.0.0.10), score=1, greylist=new",
         m.group(0) if m else d.log()[mark:][-2000:])

    # The retries, far more often than a sending MTA makes them, so that the delay is
    # seen from both sides: every tenth of a second after the last session ended,
    # bounded in time and count by poll_until, until one is accepted.
    attempts = []

    def retry():
        got, transcript = swaks_session(pf.smtpd, GREY, quit_after=None)
        attempts.append((time.monotonic() - first, got, transcript))
        return got is not None and (got.get("rcpt") or "").startswith("250")

    since = pf.mark()
    mark = d.mark()
    accepted = poll_until(retry, GREYLIST_DELAY + 30, interval=0.1)
    early = attempts[:-1] if accepted else attempts
    wrong = [(at, got, tr) for at, got, tr in early if (got or {}).get("rcpt") not in deferrals]
    t.ok(not wrong, f"... each retry before the accepted one got 450 4.7.1 with the greylisting text "
                    f"({len(early)} retries)",
         "\n".join(f"at {at:.2f}s: {(got or {}).get('rcpt')!r}\n{tr[-1500:]}" for at, got, tr in wrong[:2]))
    t.ok(accepted, f"... a retry was accepted within {GREYLIST_DELAY + 30}s ({len(attempts)} retries)",
         attempts[-1][2][-2000:] if attempts else "no retry was made")
    if not accepted:
        return
    at, got, transcript = attempts[-1]
    t.ok(at >= GREYLIST_DELAY,
         f"... the accepted retry ended {at:.2f}s after the first session began: no earlier than the delay "
         f"({GREYLIST_DELAY}s)",
         "retries (seconds after the first session began, RCPT reply):\n"
         + "\n".join(f"  {a:.2f}s {(g or {}).get('rcpt')!r}" for a, g, _ in attempts))
    check_reply("... its RCPT got 250", got.get("rcpt"), "250 2.1.5 Ok", transcript)
    m = re.match(r"250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$", got.get("data") or "")
    t.ok(m is not None, "... and its message got 250 2.0.0 queued as QUEUE_ID", transcript)
    if m:
        qid = re.escape(m.group(1))
        # The queue ID's journey in the maillog: received from the greylisted client,
        # taken by the queue manager, delivered (discard), removed from the queue.
        steps = (
            (rf"postfix/smtpd\[\d+\]: {qid}: client=unknown\[{re.escape(GREY)}\]", "smtpd received it from the client"),
            (rf"postfix/qmgr\[\d+\]: {qid}: from=<sender@client\.test>, size=\d+, nrcpt=1 \(queue active\)",
             "qmgr queued it: from=<sender@client.test>, nrcpt=1"),
            (rf"postfix/discard\[\d+\]: {qid}: to=<{re.escape(RCPT)}>, [^\n]*status=sent", "discard delivered it: status=sent"),
            (rf"postfix/qmgr\[\d+\]: {qid}: removed", "qmgr removed it from the queue"),
        )
        for pattern, what in steps:
            t.ok(pf.wait_log(pattern, since) is not None, f"... the maillog for queue ID {m.group(1)}: {what}",
                 pf.log()[since:][-2000:])
    m = d.logged(rf"pass: client=[^\[\s]*\[{re.escape(GREY)}\][^\n]*greylist=retried", timeout=10, since=mark)
    t.ok(m is not None, "... policyd logged the retry: pass, greylist=retried", d.log()[mark:][-2000:])

    # The triplet is remembered: the same client, sender and recipient pass at once;
    # another recipient is another triplet, greylisted anew.
    got, out = swaks(pf.smtpd, GREY)
    check_reply("the same triplet again at once: 250, remembered (greylist=known)", got, "250 2.1.5 Ok", out)
    other = "other@mx.test"
    got, out = swaks(pf.smtpd, GREY, rcpt=other)
    t.ok(got == greylist_line(GREY, GREYLIST_DELAY, rcpt=other),
         f"the same client to another recipient ({other}): a new triplet, 450 with the whole delay again",
         f"got:  {got!r}\nwant: {greylist_line(GREY, GREYLIST_DELAY, rcpt=other)!r}\n--- swaks:\n{out}")

    # A client whose score reaches threshold is refused as before, not greylisted,
    # and nothing of its message is queued.
    since = pf.mark()
    replies, out = swaks_session(pf.smtpd, "192.0.2.10", quit_after=None)
    check_reply("a hard-listed client sending a message with soft_action = greylist: still 554 5.7.1 at RCPT",
                (replies or {}).get("rcpt"), reject_line("192.0.2.10", "Spam trap hit from 192.0.2.10"), out)
    t.ok(replies is not None and "data" not in replies and "queued as" not in out,
         "... and no message was sent or queued", out)


def test_tcp_used(pf, d):
    log = d.log()
    t.ok(re.search(rf"connected on unix:{re.escape(pf.policy_socket)}", log) is not None,
         "policyd's log shows Postfix connecting on the unix socket QUEUE/private/policyd")
    t.ok(re.search(rf"\[127\.0\.0\.1\]:\d+: connected on inet:127\.0\.0\.1:{d.port}", log) is not None,
         f"policyd's log shows Postfix connecting over TCP to inet:127.0.0.1:{d.port}",
         "\n".join(line for line in log.splitlines() if "connected on" in line)[-2000:])


def test_policyd_stopped(pf, d, held):
    port = d.port
    rc = d.stop(timeout=15)
    t.eq(rc, 0, "policyd stopped with SIGTERM exits 0")
    # Until the restart, policyd's port stays ours: Postfix can only be refused there.
    held.append(hold_port(port))
    t.ok(held[0] is not None, f"policyd's port {port} is held (bound, not listening) while policyd is down")
    for server, kind, policy, err in (
        (pf.smtpd, "unix", "private/policyd", r"(No such file or directory|Connection refused)"),
        (pf.smtpd_tcp, "tcp", f"127.0.0.1:{port}", r"Connection refused"),
    ):
        where = re.escape(policy)
        since = pf.mark()
        got, out = swaks(server, "192.0.2.10")
        check_reply(f"{kind}: policyd stopped: Postfix applies default_action=DUNNO and accepts a listed client (250)",
                    got, "250 2.1.5 Ok", out)
        m = pf.wait_log(rf"warning: connect to {where}: {err}", since)
        m2 = pf.wait_log(rf"warning: problem talking to server {where}", since)
        t.ok(m is not None and m2 is not None,
             f"{kind}: ... and logs 'connect to {policy}' and 'problem talking to server' warnings",
             pf.log()[since:][-2000:])


def test_policyd_restarted(pf, d, r, held):
    # On the port held since the stop, where Postfix's main.cf has it.
    d.want_port = pf.policy_port
    policyd_config(d, r)
    d.mark()
    d.start()
    wait_lists(d)
    t.eq(d.port, pf.policy_port, "policyd restarted on the port it had (held while it was down)")
    for s in held:
        if s is not None:
            s.close()
    held.clear()
    for server, kind in ((pf.smtpd, "unix"), (pf.smtpd_tcp, "tcp")):
        since = pf.mark()
        got, out = swaks(server, "192.0.2.10")
        check_reply(f"{kind}: policyd restarted under the running Postfix: the listed client is refused again",
                    got, reject_line("192.0.2.10", "Spam trap hit from 192.0.2.10"), out)
        got, out = swaks(server, "192.0.2.11")
        check_reply(f"{kind}: ... and a clean client accepted", got, "250 2.1.5 Ok", out)
        t.ok("451 4.3.5" not in pf.log()[since:], f"{kind}: ... no 451 4.3.5 in the maillog since the restart")


def test_sighup_under_load(pf, d, r):
    sessions = []
    clients = [
        ("192.0.2.10", reject_line("192.0.2.10", "Spam trap hit from 192.0.2.10")),
        ("192.0.2.11", "250 2.1.5 Ok"),
        ("IPV6:2001:db8:bad::25", reject_line("2001:db8:bad::25", "IPv6 source 2001:db8:bad::25 listed")),
        ("192.0.2.60", "250 2.1.5 Ok"),
    ]
    if not IPV6:
        clients[2] = ("192.0.2.10", clients[0][1])
    for i in range(20):
        server = pf.smtpd if i % 2 == 0 else pf.smtpd_tcp
        kind = "unix" if i % 2 == 0 else "tcp"
        addr, want = clients[(i // 2) % 4]
        sessions.append((i, server, kind, addr, want))
    since = pf.mark()
    mark = d.mark()
    hups = 0
    hups_in_flight = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {pool.submit(swaks, server, addr): (i, kind, addr, want) for i, server, kind, addr, want in sessions}
        deadline = time.monotonic() + 240
        # SIGHUPs paced by the reloads themselves (and 0.1 s), bounded in time and count.
        for _ in range(1000):
            if time.monotonic() > deadline or (hups >= 3 and all(f.done() for f in futures)):
                break
            # Alternate a setting that empties the verdict cache, so that requests after a
            # reload go to DNS again, then make policyd re-read its configuration.
            policyd_config(d, r, extra=f"[cache]\nnegative_ttl = {'4m' if hups % 2 == 0 else '5m'}\n")
            running = not all(f.done() for f in futures)
            offset = d.mark()
            d.signal(signal.SIGHUP)
            hups += 1
            hups_in_flight += running
            d.wait_log(r"configuration reloaded from", timeout=15, since=offset)
            time.sleep(0.1)
        results = {}
        for f, key in futures.items():
            try:
                results[key] = f.result(timeout=max(1, deadline - time.monotonic()))
            except Exception as e:  # noqa: BLE001 - report as a wrong answer
                results[key] = (None, f"{type(e).__name__}: {e}")
    wrong = [(key, got, out) for key, (got, out) in results.items() if got != key[3]]
    t.ok(not wrong, f"20 sessions (unix and TCP) during {hups} SIGHUPs: every RCPT got the right answer",
         "\n".join(f"session {k[0]} ({k[1]}, {k[2]}): got {g!r}\n  want {k[3]!r}\n{o[-800:]}" for k, g, o in wrong[:3]))
    t.ok(hups_in_flight >= 2, f"... at least 2 of the SIGHUPs arrived while sessions were running ({hups_in_flight})")
    reloads = len(re.findall(r"configuration reloaded from", d.log()[mark:]))
    t.eq(reloads, hups, "... policyd logged one 'configuration reloaded' per SIGHUP")
    t.ok("the verdict cache is emptied" in d.log()[mark:],
         "... each reload changed negative_ttl, so the verdict cache was emptied under load")
    log = pf.log()[since:]
    t.ok("451 4.3.5" not in log and "problem talking to server" not in log,
         "... no session got 451 4.3.5 and Postfix logged no problem talking to policyd",
         "\n".join(line for line in log.splitlines() if "451" in line or "problem talking" in line)[-2000:])
    t.eq(d.proc.poll(), None, "... and policyd is still running")


def main():
    try:
        run()
    except Exception as e:  # noqa: BLE001 - a setup failure is a failed check, and the plan is still printed
        import traceback

        t.ok(False, f"setup: {type(e).__name__}: {e}", traceback.format_exc())


def run():
    why = missing_prerequisites()
    if why:
        if os.environ.get("CI") or os.environ.get("POLICYD_REQUIRE_POSTFIX"):
            t.ok(False, f"Postfix end-to-end test cannot run: {why}")
            t.done()
        print(f"1..0 # SKIP {why}")
        sys.exit(0)
    started = time.monotonic()
    r = d = pf = None
    held = []  # policyd's port while it is stopped (test_policyd_stopped)
    try:
        r = Rbldnsd(ZONES).start()
        d = Policyd(start=False)
        pf = Postfix()
        d.unix = pf.policy_socket
        policyd_config(d, r)
        # The queue directories first (policyd's socket goes in QUEUE/private), then
        # policyd, whose port goes into main.cf, then master.
        pf.check()
        d.start()
        wait_lists(d)
        pf.policy_port = d.port
        pf.start()
        t.ok(pf.running(), f"a private Postfix {pf.postconf('-h', 'mail_version').stdout.strip()} instance runs "
                           f"(master PID {pf.proc.pid}, smtpd on {pf.smtpd} and {pf.smtpd_tcp}, no chroot)")
        st = os.stat(pf.policy_socket)
        t.ok(oct(st.st_mode & 0o777) == "0o660" and st.st_gid == grp.getgrnam("postfix").gr_gid,
             "policyd's socket QUEUE/private/policyd has mode 0660 and group postfix",
             f"mode {oct(st.st_mode & 0o777)} gid {st.st_gid}")
        t.run("unix socket", test_refusals, pf, d, pf.smtpd, "unix")
        t.run("long reason", test_long_reason, pf, d)
        t.run("the sender's path", test_senders_path, pf, d)
        t.run("tcp", test_refusals, pf, d, pf.smtpd_tcp, "tcp")
        t.run("greylisting", test_greylisting, pf, d)
        t.run("listeners", test_tcp_used, pf, d)
        t.run("policyd stopped", test_policyd_stopped, pf, d, held)
        t.run("policyd restarted", test_policyd_restarted, pf, d, r, held)
        t.run("sighup under load", test_sighup_under_load, pf, d, r)
        if d.proc.poll() is None:
            t.eq(d.stop(timeout=15), 0, "at the end policyd exits 0 on SIGTERM, Postfix still connected")
        reports = [line for line in d.log().splitlines()
                   if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", line)]
        t.ok(not reports, "policyd's log has no sanitizer report", "\n".join(reports[-10:]))
        log = pf.log()
        fatal = [line for line in log.splitlines() if re.search(r"\b(fatal|panic):", line)]
        t.ok(not fatal, "Postfix logged no fatal or panic", "\n".join(fatal[-10:]))
    finally:
        for sock in held:
            if sock is not None:
                sock.close()
        if pf is not None:
            pf.cleanup()
        if d is not None:
            try:
                d.stop(timeout=15)
            except Exception:  # noqa: BLE001 - stop() has killed it; ending it matters here, not how
                pass
            d.__exit__(None, None, None)
            shutil.rmtree(d.dir, ignore_errors=True)
        if r is not None:
            r.stop()
        print(f"# runtime {time.monotonic() - started:.1f}s")


main()
t.done()
