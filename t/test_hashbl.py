#!/usr/bin/env python3
"""Integration: [hashbl NAME], hashed lists (Spamhaus HBL, MSBL EBL), against rbldnsd.

rbldnsd serves two dnset zones (a dnset takes any label, so a hex digest is a
name): `_email.SECRETKEY123.hbl.test` holds the SHA-1 hex of spam@example.org
and of the listed test point, `ebl.test` the MD5 hex of the same addresses.
policyd asks HASH.ZONE for the whole sender address, lowercased: a sender
Spam@Example.ORG is refused by both lists, the reply says "Sender address"
and the address (rbl_class, rbl_what); another sender passes; the empty sender
<> is not looked up. The hashes are computed here with hashlib, the daemon's
with its own SHA-1 and MD5. --check --sender shows the hashbl lines with their
query names, --help-page what a hashbl lists; -t refuses a hashed list without test points and health on.
"""

import hashlib
import os
import subprocess

from lib.daemon import POLICYD, Policyd, Tap, request
from lib.dnslib import Rbldnsd
from lib.files import write_atomic

t = Tap()

KEY = "SECRETKEY123"
LISTED = "spam@example.org"
TEST_LISTED = "listed@hbl.test"
TEST_UNLISTED = "unlisted@hbl.test"


def sha1(s):
    return hashlib.sha1(s.encode()).hexdigest()


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


ZONES = {
    f"_email.{KEY}.hbl.test": ("dnset", f":127.0.3.2:Listed by HBL\n{sha1(LISTED)}\n{sha1(TEST_LISTED)}\n"),
    "ebl.test": ("dnset", f":127.0.0.2:Listed by EBL\n{md5(LISTED)}\n{md5(TEST_LISTED)}\n"),
}


def run(*args):
    """policyd with args: (exit code, stdout and stderr together)."""
    p = subprocess.run([POLICYD, *args], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def config(d, r, sha1_weight=2, md5_weight=2):
    key_file = os.path.join(d.dir, "dqs.key")
    write_atomic(key_file, KEY + "\n", mode=0o600)
    return (
        f"[dns]\nnameserver = 127.0.0.1:{r.port}\ntimeout = 1s\ntries = 1\n"
        "[hashbl hbl.test]\nzone = _email.$key.hbl.test\n"
        f"key_file = {key_file}\n"
        f"check = sender\nhash = sha1\ncodes = 127.0.3.2\nweight = {sha1_weight}\n"
        f"test_listed = {TEST_LISTED}\ntest_unlisted = {TEST_UNLISTED}\n"
        "text = $rbl_class <$rbl_what> is listed by $rbl_domain\n"
        "[hashbl ebl.test]\nhash = md5\n"
        f"codes = 127.0.0.2\nweight = {md5_weight}\n"
        f"test_listed = {TEST_LISTED.upper()}\ntest_unlisted = {TEST_UNLISTED}\n"
    )


def test_hashbl():
    with Rbldnsd(ZONES) as r, Policyd(start=False) as d:
        d.write_config(extra=config(d, r, md5_weight=1))
        d.start()
        d.wait_log(r"\[hashbl hbl\.test\]: health check passed; list enabled")
        d.wait_log(r"\[hashbl ebl\.test\]: health check passed; list enabled")

        reply = d.ask(request("192.0.2.10", sender="Spam@Example.ORG"))
        t.ok(reply.startswith("action=REJECT") and "Sender address <spam@example.org> is listed by hbl.test" in reply,
             "a listed sender, in any case, is refused: the reply names the sender address", reply)
        t.ok(r.count(f"{sha1(LISTED)}._email.{KEY}.hbl.test".lower(), "A") >= 1,
             "the query is the SHA-1 hex of the lowercased address under the keyed zone", str(r.queries()[-10:]))
        t.ok(r.count(f"{md5(LISTED)}.ebl.test", "A") >= 1,
             "the md5 list is asked the MD5 hex of the address", str(r.queries()[-10:]))
        t.eq(d.ask(request("192.0.2.11", sender="ham@example.org")), "action=DUNNO", "another sender passes")
        before = len(r.queries())
        t.eq(d.ask(request("192.0.2.12", sender="")), "action=DUNNO", "the empty sender passes")
        t.eq(len([q for q in r.queries()[before:] if "hbl.test" in q[0] or "ebl.test" in q[0]]), 0,
             "the empty sender is not looked up", str(r.queries()[before:]))
        reply = d.ask(request("192.0.2.13", sender="spam@example.org"))
        t.ok(reply.startswith("action=REJECT") and "<spam@example.org>" in reply,
             "the same sender again (from the cache) is refused alike", reply)

        rc, out = run("-c", d.config, "--check", "192.0.2.14", "--sender", "SPAM@example.org")
        t.ok(rc == 1 and f"hashbl hbl.test: listed query={sha1(LISTED)}._email.$key.hbl.test" in out
             and f"hashbl ebl.test: listed query={md5(LISTED)}.ebl.test" in out,
             "--check --sender: the hashbl lines, the queries with $key", out)
        t.ok(KEY not in out, "--check does not show the key", out)
        rc, out = run("-c", d.config, "--check", "192.0.2.14", "--sender", "ham@example.org")
        t.ok(rc == 0 and f"hashbl hbl.test: not listed query={sha1('ham@example.org')}" in out,
             "--check of another sender: not listed", out)
        rc, out = run("-c", d.config, "--check", "192.0.2.14", "--sender", "")
        t.ok("hashbl hbl.test: not applicable (no usable sender address" in out,
             "--check of the empty sender: the hashbl has nothing to look up", out)
        rc, out = run("-t", "-c", d.config)
        t.ok(rc == 0 and "configuration OK" in out, "-t accepts the hashed lists", out)
        rc, out = run("-c", d.config, "--help-page", "--ip", "192.0.2.10", "--list", "hbl.test")
        t.ok(rc == 0 and "your sender address is blacklisted by" in " ".join(out.split())
             and "a blacklist of email addresses" in " ".join(out.split()),
             "--help-page --list hbl.test: the sender address is what is listed", out[-1500:])


def test_md5_alone():
    """The md5 list alone: its own weight refuses, the default text names the address."""
    with Rbldnsd(ZONES) as r, Policyd(start=False) as d:
        d.write_config(extra=config(d, r, sha1_weight=0, md5_weight=2))
        d.start()
        d.wait_log(r"\[hashbl ebl\.test\]: health check passed; list enabled")
        reply = d.ask(request("192.0.2.20", sender="spam@EXAMPLE.org"))
        t.ok(reply.startswith("action=REJECT 5.7.1 Your sender address spam@example.org is blacklisted by ebl.test"),
             "the md5 list refuses the listed sender by itself", reply)


def test_needs_test_points():
    """-t: a hashed list with health on and no test points is a FILE:LINE error."""
    with Rbldnsd(ZONES) as r, Policyd(start=False) as d:
        d.write_config(extra=f"[dns]\nnameserver = 127.0.0.1:{r.port}\n[hashbl ebl.test]\nhash = md5\n")
        rc, out = run("-t", "-c", d.config)
        t.ok(rc != 0 and "needs test_listed and test_unlisted" in out and "health = off" in out,
             "-t refuses a hashbl without test points", out)
        d.write_config(extra=f"[dns]\nnameserver = 127.0.0.1:{r.port}\n[hashbl ebl.test]\nhash = md5\nhealth = off\n")
        rc, out = run("-t", "-c", d.config)
        t.ok(rc == 0, "health = off needs no test points", out)
        d.write_config(extra="[hashbl ebl.test]\nhash = sha256\nhealth = off\n")
        rc, out = run("-t", "-c", d.config)
        t.ok(rc != 0 and "hash" in out, "-t refuses an unknown hash", out)
        d.write_config(extra="[hashbl ebl.test]\ncheck = helo\nhealth = off\n")
        rc, out = run("-t", "-c", d.config)
        t.ok(rc != 0 and "expected sender" in out, "-t refuses check = helo for a hashbl", out)
        d.write_config(extra="[hashbl ebl.test]\nhealth = on\ntest_listed = nobody\n")
        rc, out = run("-t", "-c", d.config)
        t.ok(rc != 0 and "expected an address" in out, "-t refuses a test point that is no address", out)


for fn in (test_hashbl, test_md5_alone, test_needs_test_points):
    t.run(fn.__name__, fn)
t.done()
