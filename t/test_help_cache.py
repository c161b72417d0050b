#!/usr/bin/env python3
"""What the public help page tells about an address, and the recheck (TAP).

One policyd with a DNSBL, a DNSWL and an RHSBL on a real rbldnsd, a local
blocklist, a local allowlist and a local list of sender domains, its HTTP
listener on. The policy socket first asks about a listed address, an
allowlisted one, one that no list holds, an RHSBL domain, so that the cache
holds each kind of verdict. Then (issue 22's security review):

  - the page shows blocklist listings only: never an allowlist (a DNSWL's or a
    local one), never a negative result, never a time: the page about an
    address that the cache holds as not listed, or as allowlisted, is the page
    about one it never saw, byte for byte once the address is replaced;
  - a crafted link (?ip=8.8.8.8&list=bl.test&domain=attacker.example) claims
    no refusal and offers no address at attacker.example to write to;
    postmaster@DOMAIN comes only with a domain that a list holds (the RHSBL's
    cached listing, a local list of sender domains);
  - the recheck: the form only where the cache holds a DNS list's listing;
    GET /recheck is 405; POST /recheck forgets the address's and the domain's
    verdicts without a DNS query (rbldnsd's log), says what happens next, is
    logged and counted; the next policy request asks DNS again and, the
    address delisted meanwhile, is accepted; the same address again within
    5 minutes, and many addresses in a burst, get 429.

Needs rbldnsd.
"""

import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

from lib.daemon import Policyd, Tap, request
from lib.dnslib import Rbldnsd
from lib.wait import poll_until

t = Tap()
HERE = os.path.dirname(os.path.abspath(__file__))
HELP_DIR = os.path.normpath(os.path.join(HERE, "..", "contrib", "help"))

LISTED, ALLOWED, CLEAN, NEVER = "192.0.2.10", "192.0.2.20", "192.0.2.30", "192.0.2.40"
LOCAL_LISTED, LOCAL_ALLOWED = "192.0.2.99", "192.0.2.77"
BL = ":127.0.0.2:Spam trap hit from $\n127.0.0.2\n"
ZONES = {
    "bl.test": ("ip4set", BL + LISTED + "\n"),
    "wl.test": ("ip4set", ":127.0.0.2:Known good\n127.0.0.2\n" + ALLOWED + "\n"),
    "dbl.test": ("dnset", ":127.0.1.2:Spam domain\ntest\nbad.example\n"),
}


def http(d, path, method="GET", headers=None):
    """(status, headers, body text) of one request to the listener."""
    req = urllib.request.Request(f"http://127.0.0.1:{d.http_port()}{path}", method=method,
                                 headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def page(d, **query):
    return http(d, "/blacklisted.html?" + urllib.parse.urlencode(query))[2]


def text(html):
    """The page's text, without its tags and blank runs."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def status_lines(html):
    m = re.search(r'<ul class="lists status">(.*?)</ul>', html, re.S)
    return [text(li) for li in re.findall(r"<li.*?</li>", m.group(1), re.S)] if m else []


def fill_cache(d):
    r = d.ask(request(LISTED, sender="joe@example.com"))
    t.ok(r.startswith("action=REJECT") and "bl.test" in r, f"the policy socket refuses {LISTED} (bl.test)", r)
    r = d.ask(request(ALLOWED, sender="joe@example.com"))
    t.eq(r, "action=DUNNO", f"{ALLOWED} is allowlisted by wl.test")
    t.eq(d.ask(request(CLEAN, sender="joe@example.com")), "action=DUNNO", f"{CLEAN} is on no list")
    r = d.ask(request("198.51.100.7", sender="joe@bad.example"))
    t.ok(r.startswith("action=REJECT") and "dbl.test" in r, "the policy socket refuses bad.example (dbl.test)", r)
    t.eq(d.ask(request(LOCAL_ALLOWED, sender="joe@example.com")), "action=DUNNO",
         f"{LOCAL_ALLOWED} is on the local allowlist")


def test_listing(d):
    html = page(d, ip=LISTED, list="bl.test", domain="example.com")
    body = text(html)
    t.ok(f"the server that sent it to us, {LISTED} , is blacklisted by bl.test" in body,
         "a listing the cache holds: the page says so", body[:600])
    lines = status_lines(html)
    t.eq(lines, [f"bl.test : {LISTED} is blacklisted Spam trap hit from {LISTED}"],
         "the status shows the blocklist listing only (not the DNSWL, not the local lists)")
    t.ok(not re.search(r"\d\d:\d\d|UTC|remember[a-z]* until", html), "no time anywhere on the page")
    t.ok("postmaster@example.com" not in html, "&domain= that no list holds: no postmaster@ address")
    t.ok(re.search(r'<form class="recheck" method="post" action="recheck\?ip=192\.0\.2\.10&amp;lang=en">', html),
         "the recheck form is offered", re.findall(r"<form[^>]*>", html))


def neutral(html, ip):
    return html.replace(ip, "ADDRESS")


def test_no_negatives(d):
    never = neutral(page(d, ip=NEVER), NEVER)
    for ip, what in ((CLEAN, "not listed (a cached negative result)"), (ALLOWED, "on the DNSWL"),
                     (LOCAL_ALLOWED, "on the local allowlist")):
        html = page(d, ip=ip)
        t.ok(neutral(html, ip) == never, f"{ip}, {what}: the same page as an address never seen")
    html = page(d, ip=NEVER)
    t.ok("remembers no listing" in text(html) and "<form" not in html and not status_lines(html),
         "an address without a listing: no status lines, no form")


def test_crafted(d):
    html = page(d, ip="8.8.8.8", list="bl.test", domain="attacker.example")
    body = text(html)
    t.ok("blacklisted by bl.test" not in body and "8.8.8.8 , is blacklisted" not in body
         and 'class="hit"' not in html,
         "a crafted link: no refusal claimed for an address the cache does not list", body[:400])
    t.ok("attacker.example" not in html, "... and nothing of attacker.example, no address to write to")
    t.ok("Refused server" not in body, "... nor a 'refused server'")


def test_domains(d):
    html = page(d, ip="198.51.100.7", list="dbl.test", domain="bad.example")
    body = text(html)
    t.ok("blacklisted by dbl.test" in body and "your sender domain, bad.example" in body
         and 'href="mailto:postmaster@bad.example"' in html,
         "an RHSBL listing the cache holds: the domain, and postmaster@ it", body[:500])
    t.eq(status_lines(html), ["dbl.test : bad.example is blacklisted Spam domain"],
         "the status shows the cache's listing of the &domain= key")
    t.ok('action="recheck?ip=198.51.100.7&amp;domain=bad.example&amp;lang=en"' in html,
         "the recheck form carries the listed domain")
    html = page(d, ip="203.0.113.5", list="spamdomains", domain="spam.example")
    t.ok("blacklisted by Example Org itself" in text(html) and "postmaster@spam.example" in html,
         "a local list of sender domains that holds &domain=: the refusal and postmaster@ it", text(html)[:500])
    t.eq(status_lines(html), ["spamdomains : spam.example is blacklisted Domains we refuse"],
         "... and the status says which list holds it")
    t.ok("<form" not in html, "a local list's listing: no recheck form (the cache has nothing to forget)")
    html = page(d, ip=LOCAL_LISTED, list="local")
    t.eq(status_lines(html), [f"local : {LOCAL_LISTED} is blacklisted Listed by the postmaster"],
         "a local address blocklist: listed, with its reason")


def test_recheck(d, r):
    status, headers, _ = http(d, f"/recheck?ip={LISTED}")
    t.ok(status == 405 and headers.get("Allow") == "POST", "GET /recheck: 405, Allow: POST", f"{status} {headers}")
    qname = ".".join(reversed(LISTED.split("."))) + ".bl.test"
    asked = len(r.peers(qname))
    t.ok(d.ask(request(LISTED)).startswith("action=REJECT") and len(r.peers(qname)) == asked,
         "the listing is cached: no query for it")
    r.reload("bl.test", ("ip4set", BL))  # the operator delists the address
    t.ok(d.ask(request(LISTED)).startswith("action=REJECT"), "delisted, but still refused from the cache")
    d.mark()
    status, headers, html = http(d, f"/recheck?ip={LISTED}&lang=de", method="POST")
    t.ok(status == 200 and "Erledigt" in html and headers.get("Content-Language") == "de"
         and "no-store" in headers.get("Cache-Control", ""),
         "POST /recheck: the page says what happens next, in the form's language", f"{status} {text(html)[:300]}")
    t.ok(len(r.peers(qname)) == asked, "... and asks no DNS itself")
    t.ok(d.logged(rf"http: recheck of {re.escape(LISTED)} asked from 127\.0\.0\.1: 1 cached verdicts forgotten") is not None,
         "... logged", d.log()[-600:])
    t.ok("<form" not in page(d, ip=LISTED), "the page offers no second recheck: the cache holds nothing now")
    t.eq(d.ask(request(LISTED)), "action=DUNNO", "the next delivery attempt is looked up afresh and accepted")
    t.ok(len(r.peers(qname)) > asked, "... by a DNS query")
    status, headers, html = http(d, f"/recheck?ip={LISTED}", method="POST")
    t.ok(status == 429 and headers.get("Retry-After") and "wait a few minutes" in text(html),
         "the same address again at once: 429, with Retry-After", f"{status} {text(html)[:200]}")
    status, _, html = http(d, f"/recheck?ip={NEVER}", method="POST")
    t.ok(status == 200 and "nothing to check again" in text(html), "an address the cache holds no listing of: nothing to do")
    t.eq(http(d, "/recheck?ip=not-an-address", method="POST")[0], 400, "an invalid ?ip=: 400")
    # One visitor asking for many addresses that the cache holds nothing of (a
    # crafted loop) used to spend the whole burst: everyone else then got 429.
    codes = [http(d, f"/recheck?ip=198.19.0.{i}", method="POST")[0] for i in range(1, 41)]
    t.ok(codes == [200] * 40, "40 rechecks of addresses the cache holds nothing of: all answered, none spends the burst",
         codes)
    r.reload("bl.test", ("ip4set", BL + "198.18.0.0/24\n"))
    refused = [d.ask(request(f"198.18.0.{i}")) for i in range(1, 31)]
    t.ok(all(x.startswith("action=REJECT") for x in refused), "30 more addresses refused and cached", refused[:2])
    codes = [http(d, f"/recheck?ip=198.18.0.{i}", method="POST")[0] for i in range(1, 31)]
    # The burst of 20, less the first recheck's token (a token comes back every 3 s).
    done = codes.count(200)
    t.ok(19 <= done <= 20 and codes == [200] * done + [429] * (30 - done),
         "30 rechecks of cached refusals in a burst: 429 once the burst of 20 is spent", codes)
    m = http(d, "/metrics")[2]
    t.ok(f'policyd_http_rechecks_total{{result="forgotten"}} {1 + done}' in m and
         re.search(r'policyd_http_rechecks_total\{result="limited"\} ([1-9]\d*)', m),
         "/metrics counts the rechecks by result", "\n".join(x for x in m.splitlines() if "recheck" in x))


def main():
    with Rbldnsd(ZONES, ttl=3600) as r:
        d = Policyd(start=False)
        files = {"local.cidr": LOCAL_LISTED + "\n", "friends.cidr": LOCAL_ALLOWED + "\n",
                 "domains.txt": "spam.example\n"}
        for name, body in files.items():
            with open(os.path.join(d.dir, name), "w") as f:
                f.write(body)
        d.write_config(extra=(
            "site = Example Org\n"
            f"[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\n"
            f"[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {HELP_DIR}\nmetrics_allow = 127.0.0.1/32\n"
            "[dnsbl bl.test]\n[dnswl wl.test]\n"
            "[rhsbl dbl.test]\ncheck = sender\ncodes = 127.0.1.[2..99]\n"
            f"[list local]\nfile = {d.dir}/local.cidr\nreason = Listed by the postmaster\n"
            f"[list friends]\nfile = {d.dir}/friends.cidr\nweight = -10\n"
            f"[list spamdomains]\ntype = sender_domain\nfile = {d.dir}/domains.txt\nreason = Domains we refuse\n"))
        with d:
            d.start()
            for kind, zone in (("dnsbl", "bl.test"), ("dnswl", "wl.test"), ("rhsbl", "dbl.test")):
                d.wait_log(rf"\[{kind} {re.escape(zone)}\]: health check passed", timeout=15)
            t.run("the cache", fill_cache, d)
            t.run("a listing", test_listing, d)
            t.run("no negative results", test_no_negatives, d)
            t.run("a crafted link", test_crafted, d)
            t.run("domains", test_domains, d)
            t.run("recheck", test_recheck, d, r)
    t.done()


if __name__ == "__main__":
    main()
