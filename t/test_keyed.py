#!/usr/bin/env python3
"""Integration: a keyed zone (Spamhaus DQS, Abusix) against a real rbldnsd on loopback.

rbldnsd serves SECRETKEY123.zen.test (a DNSBL) and SECRETKEY123.dbl.test (an
RHSBL); policyd names them [dnsbl zen.test] and [rhsbl dbl.test], with
`zone = $key.zen.test` and the key in a key file. The key must go into the DNS
queries (rbldnsd's log shows it) and nowhere else: every output is searched for
it, in any case (policyd lowers the zone's case): the replies, the whole log at
log_level = debug (health checks, decisions, SIGUSR1 statistics, a SIGHUP),
GET /metrics and the help page from the HTTP listener, `--check` (with -d),
`-t`, `--help-page`, and `--from-postscreen` for a postscreen line with a DQS key.
"""

import os
import re
import signal
import subprocess
import urllib.request

from lib.daemon import POLICYD, Policyd, Tap, request
from lib.dnslib import Rbldnsd, reverse_ip
from lib.files import write_atomic

t = Tap()

KEY = "SECRETKEY123"
KEY_RX = re.compile(re.escape(KEY), re.IGNORECASE)
HELP_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "help"))
LISTED = "192.0.2.10"
ZONES = {
    f"{KEY}.zen.test": ("ip4set", ":127.0.0.2:Listed by zen, see https://zen.test/lookup?$\n127.0.0.2\n"
                                  f"{LISTED} :127.0.0.3:Spam from $\n"),
    f"{KEY}.dbl.test": ("dnset", ":127.0.1.2:Spam domain\ntest\nbad.example\n"),
}


def leaks(what, text):
    """One check: text (an output of policyd) does not hold the key."""
    m = KEY_RX.search(text)
    where = text[max(0, m.start() - 200):m.end() + 200] if m else ""
    t.ok(m is None, f"{what}: the key is not in it", where)


def run(*args):
    """policyd with args: (exit code, stdout and stderr together)."""
    p = subprocess.run([POLICYD, *args], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


def config(d, r):
    key_file = os.path.join(d.dir, "dqs.key")
    write_atomic(key_file, KEY + "\n", mode=0o600)
    return (
        f"[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\n"
        f"[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {HELP_DIR}\n"
        "[dnsbl zen.test]\nzone = $key.zen.test\n"
        f"key_file = {key_file}\n"
        "codes = 127.0.0.[2..11]\nweight = 2\n"
        "help_url = https://www.example.org/blacklisted.html?ip=$client_address&list=$rbl_domain\n"
        "delist_url = https://zen.test/lookup\n"
        "[rhsbl dbl.test]\nzone = $key.dbl.test\n"
        f"key_file = {key_file}\n"
        "check = sender, helo\ncodes = 127.0.1.[2..99]\nweight = 2\n"
    )


def test_keyed_zone():
    with Rbldnsd(ZONES) as r, Policyd(start=False) as d:
        d.write_config(extra=config(d, r))
        d.start()
        d.wait_log(r"\[dnsbl zen\.test\]: health check passed; list enabled")
        d.wait_log(r"\[rhsbl dbl\.test\]: health check passed; list enabled")

        reply = d.ask(request(LISTED))
        t.ok(reply.startswith("action=REJECT 5.7.1 Your host [192.0.2.10] is blacklisted by zen.test: "
                              "Spam from 192.0.2.10.")
             and "list=zen.test" in reply,
             "a listed client is refused, in the public name's words", reply)
        leaks("the refusal", reply)
        rhs = d.ask(request("192.0.2.99", sender="joe@bad.example"))
        t.ok(rhs.startswith("action=REJECT") and "dbl.test" in rhs,
             "a sender on the keyed RHSBL is refused by dbl.test", rhs)
        leaks("the RHSBL refusal", rhs)
        t.eq(d.ask(request("192.0.2.98")), "action=DUNNO", "an unlisted client passes")
        t.ok(r.count(f"{reverse_ip(LISTED)}.{KEY}.zen.test".lower(), "A") >= 1
             or r.count(f"{reverse_ip(LISTED)}.{KEY}.zen.test", "A") >= 1,
             "the query carries the key (rbldnsd's log)", str(r.queries()[-10:]))

        port = d.http_port()
        status, metrics = get(port, "/metrics")
        t.ok(status == 200 and 'list="zen.test"' in metrics and 'list="dbl.test"' in metrics,
             "GET /metrics: the lists' series under their public names", metrics[:1500])
        leaks("GET /metrics", metrics)
        status, page = get(port, f"/?ip={LISTED}&list=zen.test")
        t.ok(status == 200 and "zen.test" in page and "https://zen.test/lookup" in page,
             "the help page names the list that refused, with its delisting link", page[-1500:])
        leaks("the help page", page)
        status, page = get(port, f"/?list={KEY}.zen.test")
        leaks("the help page asked for the zone", page)

        rc, out = run("-c", d.config, "--check", LISTED, "-d")
        t.ok(rc == 1 and "dnsbl zen.test: listed" in out and f"query={reverse_ip(LISTED)}.$key.zen.test" in out,
             "--check: refused, the list by its public name, the query with $key", out)
        leaks("--check -d", out)
        rc, out = run("-c", d.config, "--check", "192.0.2.97", "--sender", "a@bad.example", "-d")
        t.ok(rc == 1 and "query=bad.example.$key.dbl.test" in out, "--check of the RHSBL: $key in the query", out)
        leaks("--check -d of the RHSBL", out)
        rc, out = run("-t", "-c", d.config)
        t.ok(rc == 0 and "configuration OK" in out, "-t accepts the keyed zones", out)
        leaks("-t", out)
        rc, out = run("-c", d.config, "--help-page", "--ip", LISTED, "--list", "zen.test")
        t.ok(rc == 0 and "zen.test" in out, "--help-page names the list", out[-500:])
        leaks("--help-page", out)

        d.mark()
        d.signal(signal.SIGUSR1)
        d.wait_log(r"dnsbl zen\.test")
        d.mark()
        d.signal(signal.SIGHUP)
        d.wait_log(r"configuration reloaded")
        reply = d.ask(request("192.0.2.11"))
        t.eq(reply, "action=DUNNO", "after SIGHUP an unlisted client passes")
        d.stop()
        log = d.log()
        t.ok("[dnsbl zen.test] state=enabled" in log and "configuration reloaded" in log,
             "the log: the statistics by public name, the reload", log[-1500:])
        leaks("the whole log at log_level = debug", log)


def test_key_file_refused():
    """-t refuses a key file that others can read, without showing the key."""
    with Rbldnsd(ZONES) as r, Policyd(start=False) as d:
        d.write_config(extra=config(d, r))
        os.chmod(os.path.join(d.dir, "dqs.key"), 0o644)
        rc, out = run("-t", "-c", d.config)
        t.ok(rc == 1 and re.search(r"policyd\.ini:\d+: \[dnsbl zen\.test\]: key_file \S+: others may read it",
                                   out),
             "-t: a key file others can read is refused as FILE:LINE", out)
        leaks("-t of a readable key file", out)


def test_from_postscreen():
    sites = f"{KEY}.zen.dq.spamhaus.net=127.0.0.[2..11]*3 {KEY}.dbl.dq.spamhaus.net*2 bl.spamcop.net"
    rc, out = run("--from-postscreen", sites)
    t.ok(rc == 0 and "[dnsbl zen.spamhaus.org]\nzone = $key.zen.dq.spamhaus.net\n" in out
         and "key_file = /etc/policyd/dqs.key" in out,
         "--from-postscreen: the DQS zone under its public name, zone with $key, a key file", out)
    leaks("--from-postscreen", out)
    rc, out = run("--from-postscreen", f"{KEY}.zen.dq.spamhaus.net=127.0.0")
    t.ok(rc == 2, "--from-postscreen: a bad pattern of a keyed zone is refused", out)
    leaks("--from-postscreen's error", out)
    rc, out = run("--from-postscreen", "zen.test\n[server]\nlisten = inet:0.0.0.0:25")
    t.ok(rc == 2 and "[server]" not in out, "--from-postscreen: a line feed in the argument is refused", out)


for fn in (test_keyed_zone, test_key_file_refused, test_from_postscreen):
    t.run(fn.__name__, fn)
t.done()
