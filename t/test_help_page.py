#!/usr/bin/python3
"""The help page for refused senders, as a browser shows it (TAP).

One policyd with a DNSBL, a DNSWL and an RHSBL on a real rbldnsd and a local
list, its HTTP listener on, the template read from this source tree's
contrib/help. Four cases, each from the listener and from `policyd --help-page`
(served by a small HTTP server of this test, with style.css and logo.svg copied
beside it, as README.md says to publish it):

  - a DNSBL hit:  ?ip=A&list=bl.test&domain=D, after the policy socket refused A
                  (the listener's page then says what the cache knows about A,
                  and postmaster@D only from --help-page: no list holds D);
  - an RHSBL hit: ?ip=A&list=dbl.test&domain=bad.example;
  - a local-list hit: ?ip=A&list=local&domain=D;
  - no parameters.

Each page is loaded in one headless Chromium (t/lib/browser.py): its DOM is
checked for the texts of the case, the contact, postmaster@DOMAIN, exactly the
configured lists with their kinds and delisting links, and (from the listener)
what the cache knows about the address; no console message, failed load or CSP
violation; no "blocklist". Screenshots at desktop width and at 390 px (a phone,
where nothing may scroll sideways) are read back by tesseract (OCR) and checked
for the key texts.

Needs the Debian packages chromium, tesseract-ocr, tesseract-ocr-eng,
tesseract-ocr-deu, tesseract-ocr-pol, fonts-dejavu-core and rbldnsd. Without chromium it skips, unless
POLICYD_REQUIRE_CHROMIUM=1 (CI). POLICYD_HELP_ARTIFACTS=DIR keeps the
screenshots, OCR texts and DOM dumps in DIR. Every subprocess is bounded by a
timeout and ended by its process group id.
"""

import html.parser
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.browser import Browser  # noqa: E402
from lib.daemon import POLICYD, Policyd, Tap, request  # noqa: E402
from lib.dnslib import Rbldnsd  # noqa: E402
from lib.wait import poll_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HELP_DIR = os.path.normpath(os.path.join(HERE, "..", "contrib", "help"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TESSERACT = shutil.which("tesseract")
REQUIRE = os.environ.get("POLICYD_REQUIRE_CHROMIUM") == "1"
ARTIFACTS = os.environ.get("POLICYD_HELP_ARTIFACTS")
OCR_TIMEOUT = 120

SITE = "Example Org"
CONTACT = "postmaster@example.org"
LISTS = ["bl.test", "wl.test", "dbl.test", "local"]  # in the configuration's order
ZONES = {
    "bl.test": ("ip4set", ":127.0.0.2:Listed by bl.test\n127.0.0.2\n"
                          "192.0.2.10 :127.0.0.3:Spam trap hit from 192.0.2.10\n"),
    "wl.test": ("ip4set", ":127.0.0.2:Known good\n127.0.0.2\n"),
    "dbl.test": ("dnset", ":127.0.1.2:Spam domain\ntest\nbad.example\n"),
}

t = Tap()


# ---------------------------------------------------------------- tiny DOM
class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find(self, pred):
        return [n for n in self.iter() if pred(n)]

    def by_id(self, ident):
        found = self.find(lambda n: n.attrs.get("id") == ident)
        return found[0] if found else None


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


class DomBuilder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(text):
    b = DomBuilder()
    b.feed(text)
    b.close()
    return b.root


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------- helpers
def keep(name, src=None, text=None):
    if not ARTIFACTS:
        return
    os.makedirs(ARTIFACTS, exist_ok=True)
    dst = os.path.join(ARTIFACTS, name)
    if src is not None and os.path.exists(src):
        shutil.copyfile(src, dst)
    elif text is not None:
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)


class Ocr:
    """tesseract over screenshots, two at a time while the browser goes on; bounded."""

    def __init__(self):
        self.jobs = []  # (label, want, Popen, started)

    def add(self, label, png, want, lang="eng"):
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        poll_until(lambda: sum(1 for j in self.jobs if j[2].poll() is None) < 2, OCR_TIMEOUT,
                   interval=0.05, what="free OCR slot (two tesseract jobs ran on)")
        p = subprocess.Popen([TESSERACT, png, "stdout", "-l", lang], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        self.jobs.append((label, want, p))

    def stop(self):
        """End what still runs (after a failure elsewhere), by process group id."""
        for _, _, p in self.jobs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()
        self.jobs = []

    def check(self):
        for label, want, p in self.jobs:
            try:
                out, _ = p.communicate(timeout=OCR_TIMEOUT)
                text = norm(out.decode("utf-8", "replace"))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()
                text = ""
            keep(label.replace(" ", "-") + ".ocr.txt", text=text)
            # OCR may add or drop a blank: compare without them. In a small font it may
            # also read an address's "@" as "G" or "©" (seen with tesseract's pol).
            squeezed = text.replace(" ", "")
            missing = [w for w in want if not re.search(
                "[@G©®]".join(re.escape(part) for part in w.replace(" ", "").split("@")), squeezed)]
            t.ok(text and not missing, f"{label}: OCR of the screenshot reads {want}",
                 f"missing: {missing}\n{text[:1500]}")


# ---------------------------------------------------------------- the static export's server
class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the test's directory of exported pages, as README.md says to publish them."""
    root = None
    failures = []

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=StaticHandler.root, **kw)

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        if str(code) not in ("200", "304"):
            StaticHandler.failures.append((self.path, code))


# ---------------------------------------------------------------- the cases
def cases():
    """(name, query, what the DOM must show, what OCR must read, list that is hit)."""
    return [
        ("dnsbl", {"ip": "192.0.2.10", "list": "bl.test", "domain": "example.com"},
         ["the server that sent it to us, 192.0.2.10, is blacklisted by bl.test"],
         ["192.0.2.10", "blacklisted by bl.test"], "bl.test"),
        ("rhsbl", {"ip": "198.51.100.7", "list": "dbl.test", "domain": "bad.example"},
         ["a domain name in it is blacklisted by dbl.test",
          "your sender domain, bad.example", "postmaster@bad.example"],
         ["blacklisted by dbl.test", "postmaster@bad.example"], "dbl.test"),
        ("local", {"ip": "192.0.2.99", "list": "local", "domain": "example.net"},
         ["the server that sent it to us, 192.0.2.99, is blacklisted by " + SITE + " itself"],
         ["192.0.2.99", "itself"], "local"),
        ("general", {},
         ["Our mail server refused your message because the server that sent it to us "
          "(or a domain name in it) is blacklisted",
          "whoever looks after your email"],
         ["is blacklisted", "Forward the bounce message to your postmaster"], None),
    ]


def policy_asks(d):
    """Make the cache know the DNSBL and RHSBL hits: the policy socket refuses them first."""
    r1 = d.ask(request("192.0.2.10", sender="joe@example.com"))
    r2 = d.ask(request("198.51.100.7", sender="joe@bad.example"))
    r3 = d.ask(request("192.0.2.99", sender="joe@example.net"))
    t.ok(r1.startswith("action=REJECT") and "bl.test" in r1, "the policy socket refuses 192.0.2.10 (bl.test)", r1)
    t.ok(r2.startswith("action=REJECT") and "dbl.test" in r2, "the policy socket refuses bad.example (dbl.test)", r2)
    t.ok(r3.startswith("action=REJECT") and "this site" in r3, "the policy socket refuses 192.0.2.99 (local)", r3)


def check_dom(label, page, want, hit, live):
    """The DOM of one rendered page: the case's texts, contact, lists, no 'blocklist'."""
    out = page["dom"] or ""
    root = parse(out)
    text = norm(root.text())
    keep(label + ".dom.html", text=out)
    ok = t.ok("</html>" in out and "Your email was not delivered" in text,
              f"{label}: chromium renders the page", out[-1500:])
    if not ok:
        return
    t.ok(not page["messages"], f"{label}: no console messages, failed loads or CSP violations",
         "\n".join(page["messages"]))
    missing = [w for w in want if w not in text]
    t.ok(not missing, f"{label}: the page says what happened and what to do", f"missing: {missing}\n{text[:1500]}")
    mailto = [a.attrs.get("href") for a in root.find(lambda n: n.tag == "a" and n.attrs.get("href", "").startswith("mailto:"))]
    t.ok("mailto:" + CONTACT in mailto and CONTACT in text and "never refused" in text,
         f"{label}: the contact {CONTACT} is shown, and that mail to it is never refused", mailto)
    lists = [li.attrs.get("data-list") for li in root.find(lambda n: n.tag == "li" and "data-list" in n.attrs)]
    t.eq(lists, LISTS, f"{label}: the lists shown are exactly the configured ones, in order")
    kinds = {li.attrs["data-list"]: norm(li.text()) for li in root.find(lambda n: n.tag == "li" and "data-list" in n.attrs)}
    t.ok("blacklist of client IP addresses" in kinds.get("bl.test", "")
         and "allowlist of client IP addresses" in kinds.get("wl.test", "")
         and "blacklist of domain names" in kinds.get("dbl.test", "")
         and "this site's own blacklist of client IP addresses" in kinds.get("local", ""),
         f"{label}: each list says what kind of list it is", json.dumps(kinds, indent=1))
    links = [n.attrs.get("href") for n in root.find(lambda n: n.tag == "a" and "delist" in n.attrs.get("class", ""))]
    t.ok("https://bl.test/lookup" in links and "https://dbl.test/remove?x=1&y=2" in links,
         f"{label}: the lists' delisting pages are links", links)
    hits = [li.attrs.get("data-list") for li in root.find(lambda n: n.tag == "li" and "data-list" in n.attrs
                                                          and "hit" in n.attrs.get("class", ""))]
    t.eq(hits, [hit] if hit else [], f"{label}: the list that refused is marked")
    t.ok("blocklist" not in text.lower(), f"{label}: the page says 'blacklist', never 'blocklist'")
    uls = root.find(lambda n: n.tag == "ul" and "status" in n.attrs.get("class", "").split())
    status = [norm(li.text()) for li in uls[0].find(lambda n: n.tag == "li")] if uls else []
    forms = root.find(lambda n: n.tag == "form")
    domain = dict(cases_by_hit().get(hit, {})).get("domain")
    if domain and hit in ("bl.test", "local"):
        t.ok(("postmaster@" + domain in text) == (not live),
             f"{label}: postmaster@{domain} {'not ' if live else ''}shown (no list holds {domain}; "
             f"{'the cache decides' if live else 'the administrator typed it'})")
    if live and hit == "bl.test":
        t.ok(status == ["bl.test: 192.0.2.10 is blacklisted Spam trap hit from 192.0.2.10"]
             and not re.search(r"\d\d:\d\d", " ".join(status)),
             f"{label}: what the cache knows about the address now (listed by whom, the reason; no time)",
             json.dumps(status, indent=1))
        t.ok(len(forms) == 1 and "check again" in norm(forms[0].text()),
             f"{label}: the form to check again is offered")
    elif live and hit == "local":
        t.ok(status == ["local: 192.0.2.99 is blacklisted Listed by the postmaster"] and not forms,
             f"{label}: the local list says the address is on it, with its reason (nothing to recheck)",
             json.dumps(status, indent=1))
    elif live and hit == "dbl.test":
        t.ok(status == ["dbl.test: bad.example is blacklisted Spam domain"],
             f"{label}: the RHSBL's cached listing of the domain (198.51.100.7 is on no list)",
             json.dumps(status, indent=1))
    else:
        t.ok(not uls and not forms, f"{label}: no cache status ({'static export' if live is False else 'no address'})")


def cases_by_hit():
    return {c[4]: c[1] for c in cases()}


def check_views(b, label, url, tmp, want_ocr, ocr):
    """Screenshots at desktop width and at 390 px (a phone); OCR reads the top of each."""
    for name, width, scale, top in (("desktop", 1280, 1, 1000), ("phone", 390, 2, 1300)):
        page = b.open(url, width=width, height=900, mobile=width < 500, scale=scale)
        if name == "phone":
            layout = b.evaluate("""JSON.stringify({
                scroll: document.documentElement.scrollWidth,
                client: document.documentElement.clientWidth,
                font: getComputedStyle(document.body).fontFamily,
                brand: getComputedStyle(document.querySelector('.site')).borderTopWidth})""")
            res = json.loads(layout)
            t.ok(res["client"] == 390 and res["scroll"] <= res["client"] and "sans" in res["font"]
                 and res["brand"] == "6px", f"{label}: at 390 px nothing scrolls sideways, and style.css applies",
                 layout)
        full = b.screenshot(os.path.join(tmp, f"{label}-{name}.png"), full=True)
        keep(f"{label}-{name}.png", src=full)
        shot = b.screenshot(os.path.join(tmp, f"{label}-{name}-top.png"), full=False, max_height=top)
        keep(f"{label}-{name}-top.png", src=shot)
        t.ok(os.path.getsize(full) > 20000 and os.path.getsize(shot) > 20000 and not page["messages"],
             f"{label}: screenshots at {width} px", "\n".join(page["messages"]))
        if TESSERACT:
            ocr.add(f"{label} {name}", shot, want_ocr)
        elif REQUIRE:
            t.ok(False, f"{label} {name}: OCR", "tesseract not installed")
        else:
            t.skip(f"{label} {name}: OCR", "tesseract not installed")


# The DNSBL hit in German and Polish: the refused address, the list and the contact,
# in each catalog's words (what a refused sender reads first).
LANG_CASES = [
    ("de", "deu", ["Ihre E-Mail wurde nicht zugestellt", "auf der Blacklist bl.test"],
     ["192.0.2.10", "Blacklist bl.test", CONTACT]),
    ("pl", "pol", ["Twoja wiadomość nie została doręczona", "jest na czarnej liście bl.test"],
     ["192.0.2.10", "czarnej liście bl.test", CONTACT]),
]


def check_languages(b, live, tmp, ocr):
    """The DNSBL hit's page in German and Polish at 390 px: DOM, then OCR of the top."""
    for lang, tess, want, want_ocr in LANG_CASES:
        label = f"dnsbl-{lang}"
        url = live + "?" + urllib.parse.urlencode({"ip": "192.0.2.10", "list": "bl.test",
                                                   "domain": "example.com", "lang": lang})
        page = b.open(url, width=390, height=900, mobile=True, scale=2)
        dom = page["dom"] or ""
        text = norm(parse(dom).text())
        keep(label + ".dom.html", text=dom)
        missing = [w for w in want if w not in text]
        t.ok(f'<html lang="{lang}">' in dom and not missing and not page["messages"],
             f"{label}: the page in that language (html lang, its texts)", f"missing: {missing}\n{text[:800]}")
        shot = b.screenshot(os.path.join(tmp, f"{label}-phone-top.png"), full=False, max_height=1300)
        keep(f"{label}-phone-top.png", src=shot)
        if TESSERACT and tess in LANGS_OCR:
            ocr.add(f"{label} phone", shot, want_ocr, lang=tess)
        elif REQUIRE:
            t.ok(False, f"{label} phone: OCR", f"tesseract or its language {tess} not installed")
        else:
            t.skip(f"{label} phone: OCR", f"tesseract or its language {tess} not installed")


def tesseract_langs():
    if not TESSERACT:
        return set()
    p = subprocess.run([TESSERACT, "--list-langs"], capture_output=True, text=True, timeout=30)
    return set((p.stdout + p.stderr).split())


LANGS_OCR = tesseract_langs()


def export(tmp, query, name):
    """policyd --help-page for query into tmp/name.html; returns the exit code."""
    args = []
    for key in ("ip", "list", "domain"):
        if key in query:
            args += ["--" + key, query[key]]
    with open(os.path.join(tmp, name + ".html"), "wb") as f:
        p = subprocess.run([POLICYD, "-c", CONFIG[0], "--help-page", *args], stdout=f,
                           stderr=subprocess.PIPE, timeout=30)
    return p.returncode, p.stderr.decode("utf-8", "replace")


CONFIG = [None]


def main():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        if REQUIRE:
            print("not ok 1 - chromium installed at %s (POLICYD_REQUIRE_CHROMIUM=1)" % CHROMIUM)
            print("1..1")
            sys.exit(1)
        print("1..0 # SKIP chromium not installed")
        sys.exit(0)
    t.run("help page", scenario)
    t.done()


def scenario():
    with tempfile.TemporaryDirectory(prefix="policyd-help-test-") as tmp, Rbldnsd(ZONES) as r:
        d = Policyd(start=False)
        local = os.path.join(d.dir, "local.cidr")
        with open(local, "w") as f:
            f.write("192.0.2.99\n")
        d.write_config(extra=(
            f"site = {SITE}\n"
            f"[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\n"
            f"[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {HELP_DIR}\n"
            "[dnsbl bl.test]\ndelist_url = https://bl.test/lookup\n"
            "[dnswl wl.test]\n"
            "[rhsbl dbl.test]\ncheck = sender, helo\ncodes = 127.0.1.[2..99]\n"
            "delist_url = https://dbl.test/remove?x=1&y=2\n"
            f"[list local]\nfile = {local}\nreason = Listed by the postmaster\n"))
        CONFIG[0] = d.config
        with d:
            d.start()
            http_port = d.http_port()
            for kind, zone in (("dnsbl", "bl.test"), ("dnswl", "wl.test"), ("rhsbl", "dbl.test")):
                d.wait_log(rf"\[{kind} {re.escape(zone)}\]: health check passed", timeout=15)
            policy_asks(d)
            live = f"http://127.0.0.1:{http_port}/blacklisted.html"

            # The static export, served with its style sheet and logo beside it.
            StaticHandler.root = tmp
            for asset in ("style.css", "logo.svg"):
                shutil.copy(os.path.join(HELP_DIR, asset), tmp)
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StaticHandler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            static = f"http://127.0.0.1:{server.server_address[1]}"
            ocr = Ocr()
            try:
                with Browser() as b:
                    for name, query, want, want_ocr, hit in cases():
                        qs = urllib.parse.urlencode(query)
                        url = live + ("?" + qs if qs else "")
                        check_dom(f"{name}-listener", b.open(url), want, hit, live=True)
                        check_views(b, f"{name}-listener", url, tmp, want_ocr, ocr)

                        rc, err = export(tmp, query, name)
                        t.ok(rc == 0, f"{name}: policyd --help-page exits 0", err)
                        url = f"{static}/{name}.html"
                        check_dom(f"{name}-static", b.open(url), want, hit, live=False)
                        check_views(b, f"{name}-static", url, tmp, want_ocr, ocr)
                    check_languages(b, live, tmp, ocr)
                t.ok(not StaticHandler.failures, "every file the exported page loads is there (style.css, logo.svg)",
                     StaticHandler.failures)
                ocr.check()
            finally:
                ocr.stop()
                server.shutdown()
                server.server_close()

            # The listener serves the page's assets with their types.
            for path, ctype in (("/style.css", "text/css"), ("/logo.svg", "image/svg+xml")):
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=5) as resp:
                    t.ok(resp.status == 200 and resp.headers["Content-Type"].startswith(ctype)
                         and resp.headers["X-Content-Type-Options"] == "nosniff",
                         f"the listener serves {path} as {ctype}", str(resp.headers))


if __name__ == "__main__":
    main()
