#!/usr/bin/python3
# Test of the help page contrib/help/blacklisted.html (spec section 1).
#
# Packages needed (Debian):  python3 chromium tesseract-ocr tesseract-ocr-eng fonts-dejavu-core
#   (Python 3 standard library only; chromium renders the page headless,
#    tesseract reads the text back from the screenshot, fonts-dejavu-core
#    gives chromium a font to draw with on a minimal system.)
#
# Run:  /usr/bin/python3 t/test_help_page.py        prints TAP, exits 1 on failure
#   Without /usr/bin/chromium it prints "1..0 # SKIP chromium not installed",
#   unless POLICYD_REQUIRE_CHROMIUM=1 (CI), which makes a missing chromium or
#   tesseract a failure.
#   POLICYD_HELP_ARTIFACTS=DIR keeps the screenshots and DOM dumps in DIR.
#
# It serves contrib/help over HTTP on 127.0.0.1 (ephemeral port, a thread),
# loads the page in headless chromium (--dump-dom, --screenshot), OCRs the
# screenshot, and checks hostile ?ip=/&list= values through a probe page that
# frames the help page.  Every subprocess is bounded by a timeout.

import base64
import hashlib
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

HERE = os.path.dirname(os.path.abspath(__file__))
HELP = os.path.normpath(os.path.join(HERE, "..", "contrib", "help"))
PAGE = os.path.join(HELP, "blacklisted.html")
CSS = os.path.join(HELP, "style.css")
README = os.path.join(HELP, "README.md")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TESSERACT = shutil.which("tesseract")
REQUIRE = os.environ.get("POLICYD_REQUIRE_CHROMIUM") == "1"
ARTIFACTS = os.environ.get("POLICYD_HELP_ARTIFACTS")

IP = "192.0.2.10"
LIST = "zen.spamhaus.org"
CONTACT = "postmaster@example.org"
FALLBACK_IP = "the address shown in your bounce message"
CHROMIUM_TIMEOUT = 90
OCR_TIMEOUT = 120

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


from lib.tap import Tap  # noqa: E402



# ---------------------------------------------------------------- tiny DOM
class Node:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []      # Node or str

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_all(self, pred):
        return [n for n in self.iter() if pred(n)]


class DomBuilder(html.parser.HTMLParser):
    """Builds a tree and records well-formedness problems."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root
        self.errors = []
        self.doctype = None
        self.first_thing = None

    def handle_decl(self, decl):
        if self.first_thing is None:
            self.first_thing = "decl"
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        if self.first_thing is None:
            self.first_thing = "tag"
        names = [a for a, _ in attrs]
        if len(names) != len(set(names)):
            self.errors.append("duplicate attribute in <%s>" % tag)
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.errors.append("self-closing non-void <%s/>" % tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append("end tag for void element </%s>" % tag)
            return
        if self.cur.tag != tag:
            self.errors.append("</%s> closes <%s> (line %d)" % (tag, self.cur.tag, self.getpos()[0]))
            n = self.cur
            while n is not None and n.tag != tag:
                n = n.parent
            if n is None:
                return
            self.cur = n
        self.cur = self.cur.parent

    def handle_data(self, data):
        self.cur.children.append(data)

    def close(self):
        super().close()
        if self.cur is not self.root:
            self.errors.append("unclosed <%s>" % self.cur.tag)


def parse(text):
    b = DomBuilder()
    b.feed(text)
    b.close()
    return b


def by_attr(root, name, value=None):
    return root.find_all(lambda n: name in n.attrs and (value is None or n.attrs[name] == value))


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------- HTTP server
PROBE_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>probe</title></head>
<body><pre id="result">pending</pre>
<script>
var cases = %s, out = [], left = cases.length;
function done() { document.getElementById("result").textContent = JSON.stringify(out); }
cases.forEach(function (c, i) {
  var f = document.createElement("iframe");
  f.style.width = "360px"; f.style.height = "700px"; f.style.border = "0";
  if (c.nojs) f.setAttribute("sandbox", "allow-same-origin");   // scripts off
  f.onload = function () {
    var d = f.contentDocument, r = {query: c.query};
    try {
      var ip = d.querySelector("[data-fill=ip]"), list = d.querySelector("[data-fill=list]");
      r.ip = ip ? ip.textContent : null;
      r.list = list ? list.textContent : null;
      r.scrollWidth = d.documentElement.scrollWidth;
      r.clientWidth = d.documentElement.clientWidth;
      r.scripts = d.scripts.length;
      r.images = d.images.length;
      r.title = d.title;
      r.contacts = d.querySelectorAll("a[href^='mailto:']").length;
      r.contactSlots = Array.prototype.map.call(d.querySelectorAll("[data-fill=contact]"),
                                                function (e) { return e.textContent; });
      r.pwned = !!d.querySelector("[data-pwned]");
      r.onattrs = Array.prototype.filter.call(d.querySelectorAll("*"), function (e) {
        return Array.prototype.some.call(e.attributes, function (a) { return /^on/i.test(a.name); });
      }).length;
    } catch (e) { r.error = String(e); }
    out[i] = r;
    if (--left === 0) done();
  };
  f.src = c.path + "?" + c.query;
  document.body.appendChild(f);
});
</script></body></html>
"""


class Handler(http.server.SimpleHTTPRequestHandler):
    requests = []          # (path, status)
    probe = b""

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=HELP, **kw)

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        Handler.requests.append((self.path, int(code) if str(code).isdigit() else code))

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/__probe.html":
            return self.send_bytes(Handler.probe)
        if path == "/__nocsp/blacklisted.html":
            # the page without its Content-Security-Policy, to check that the
            # script itself is safe, not only the CSP that backs it up
            with open(PAGE, encoding="utf-8") as f:
                text = f.read()
            text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
            return self.send_bytes(text.encode("utf-8"))
        if path.startswith("/__nocsp/"):
            self.path = self.path[len("/__nocsp"):]
        return super().do_GET()

    def send_bytes(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


# ---------------------------------------------------------------- subprocesses
def run(cmd, timeout):
    """Run cmd in its own process group; kill the whole group on timeout and
    afterwards (chromium leaves helper processes).  Returns (rc, out, err)."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = b"", b""
        rc = "timeout after %ds" % timeout
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def chromium(url, *extra):
    with tempfile.TemporaryDirectory(prefix="policyd-help-profile-",
                                     ignore_cleanup_errors=True) as profile:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions",
               "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
               "--enable-logging=stderr", "--v=0",
               "--user-data-dir=" + profile] + list(extra) + [url]
        return run(cmd, CHROMIUM_TIMEOUT)


def console_lines(err):
    return [l for l in err.splitlines() if ":CONSOLE" in l]


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


# ---------------------------------------------------------------- static checks
def static_checks(t):
    files = [PAGE, CSS, README]
    missing = [f for f in files if not os.path.isfile(f)]
    if not t.ok(not missing, "help page files exist (blacklisted.html, style.css, README.md)", missing):
        t.done()
    with open(PAGE, encoding="utf-8") as f:
        src = f.read()
    with open(CSS, encoding="utf-8") as f:
        css = f.read()
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    b = parse(src)
    root = b.root
    errs = list(b.errors)
    if b.first_thing != "decl" or (b.doctype or "").lower() != "doctype html":
        errs.append("does not start with <!DOCTYPE html>")
    htmls = root.find_all(lambda n: n.tag == "html")
    if len(htmls) != 1 or not htmls[0].attrs.get("lang"):
        errs.append("<html lang=...> missing")
    if not root.find_all(lambda n: n.tag == "meta" and n.attrs.get("charset", "").lower() == "utf-8"):
        errs.append("<meta charset=utf-8> missing")
    if not root.find_all(lambda n: n.tag == "meta" and n.attrs.get("name") == "viewport"
                         and "width=device-width" in n.attrs.get("content", "")):
        errs.append("responsive viewport meta missing")
    titles = root.find_all(lambda n: n.tag == "title")
    if len(titles) != 1 or not norm(titles[0].text()):
        errs.append("exactly one non-empty <title> needed")
    t.ok(not errs, "blacklisted.html is well-formed HTML5 (doctype, lang, charset, viewport, title, balanced tags)", "\n".join(errs))

    # accessibility basics
    errs = []
    ids = [n.attrs["id"] for n in by_attr(root, "id")]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        errs.append("duplicate ids: %s" % dups)
    for n in root.find_all(lambda n: n.tag == "a" and n.attrs.get("href", "").startswith("#")):
        if n.attrs["href"][1:] not in ids:
            errs.append("link to missing #%s" % n.attrs["href"][1:])
    for n in by_attr(root, "aria-labelledby"):
        if n.attrs["aria-labelledby"] not in ids:
            errs.append("aria-labelledby to missing id %s" % n.attrs["aria-labelledby"])
    for n in root.find_all(lambda n: n.tag == "img"):
        if "alt" not in n.attrs:
            errs.append("<img src=%s> without alt" % n.attrs.get("src"))
    heads = [int(n.tag[1]) for n in root.find_all(lambda n: re.fullmatch(r"h[1-6]", n.tag))]
    if heads.count(1) != 1:
        errs.append("need exactly one <h1>, have %d" % heads.count(1))
    for a, c in zip(heads, heads[1:]):
        if c > a + 1:
            errs.append("heading level jumps from h%d to h%d" % (a, c))
    if not root.find_all(lambda n: n.tag == "main"):
        errs.append("no <main> landmark")
    for n in root.find_all(lambda n: n.tag == "a"):
        if not norm(n.text()):
            errs.append("link without text: %s" % n.attrs.get("href"))
    t.ok(not errs, "accessibility basics (unique ids, link targets, alt, heading order, main, link text)", "\n".join(errs))

    # no external resources: nothing is loaded from anywhere but the page's folder
    errs = []

    def external(u):
        u = u.strip()
        return bool(re.match(r"^[a-z][a-z0-9+.-]*:", u, re.I)) or u.startswith("//")
    for n in root.iter():
        for attr in ("src", "srcset", "poster", "data", "background"):
            if attr in n.attrs and external(n.attrs[attr] or ""):
                errs.append("<%s %s=%s>" % (n.tag, attr, n.attrs[attr]))
        if n.tag == "link" and external(n.attrs.get("href", "")):
            errs.append("<link href=%s>" % n.attrs.get("href"))
        if n.tag in ("iframe", "object", "embed", "frame"):
            errs.append("<%s> element" % n.tag)
        if n.tag == "script" and "src" in n.attrs:
            errs.append("<script src=%s>" % n.attrs["src"])
        if any(a.lower().startswith("on") for a in n.attrs):
            errs.append("inline event handler on <%s>" % n.tag)
        if "style" in n.attrs:
            errs.append("inline style attribute on <%s> (blocked by the CSP)" % n.tag)
    for m in re.finditer(r"url\(\s*['\"]?([^'\")]*)", css):
        if external(m.group(1)):
            errs.append("style.css url(%s)" % m.group(1))
    if re.search(r"@import|@font-face", css):
        errs.append("style.css uses @import or @font-face")
    t.ok(not errs, "no external resources (no CDNs, web fonts, trackers, remote images or scripts)", "\n".join(errs))

    scripts = root.find_all(lambda n: n.tag == "script")
    script = scripts[0].text() if len(scripts) == 1 else ""
    sinks = [s for s in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                         "eval(", "Function(", "setTimeout(", "srcdoc")
             if s in script]
    t.ok(len(scripts) == 1 and "textContent" in script and not sinks,
         "one inline script; it writes with textContent and uses no HTML-injection sinks",
         "scripts: %d, sinks: %s" % (len(scripts), sinks))

    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)"', src)
    csp = m.group(1) if m else ""
    want = "'sha256-%s'" % base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    t.ok(want in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp,
         "Content-Security-Policy allows exactly the inline script (sha256 matches) and nothing external",
         "CSP: %s\nscript hash: %s" % (csp, want))

    errs = []
    if not re.search(r"BRANDING", src) or not re.search(r"BRANDING", css):
        errs.append("BRANDING markers missing in blacklisted.html or style.css")
    head = src.split("<main", 1)[0]
    if CONTACT not in head or "brand-name" not in head or "logo" not in head:
        errs.append("site name, logo and contact are not in the branding block before <main>")
    if CONTACT in src.split("<main", 1)[1]:
        errs.append("contact address repeated below the branding block")
    for word in ("help_url", "$client_address", "$rbl_domain", "logo", "style.css"):
        if word not in readme:
            errs.append("README.md does not mention %s" % word)
    t.ok(not errs, "branding lives in one marked place; README explains rebranding and help_url", "\n".join(errs))


# ---------------------------------------------------------------- browser checks
def browser_checks(t, base, tmp):
    url = base + "/blacklisted.html?" + urllib.parse.urlencode({"ip": IP, "list": LIST})

    # -- DOM after the script ran
    Handler.requests.clear()
    rc, out, err = chromium(url, "--dump-dom", "--window-size=1000,3000")
    keep("dom.html", text=out)
    ok = t.ok(rc == 0 and "</html>" in out, "chromium --dump-dom loads the page",
              "rc=%s\n%s" % (rc, err[-2000:]))
    cons = console_lines(err)
    t.ok(ok and not cons, "no console messages (no script errors, no CSP violations)", "\n".join(cons))
    bad = [(p, c) for p, c in Handler.requests if c != 200 and c != 304]
    t.ok(ok and Handler.requests and not bad, "every request the page made was served from contrib/help",
         "requests: %s" % Handler.requests)
    root = parse(out).root
    ips = [norm(n.text()) for n in by_attr(root, "data-fill", "ip")]
    t.ok(ips and all(v == IP for v in ips), "the script filled in the address %s" % IP, ips)
    lists = [norm(n.text()) for n in by_attr(root, "data-fill", "list")]
    hits = root.find_all(lambda n: "hit" in n.attrs.get("class", "").split())
    t.ok(lists and all(v == LIST for v in lists) and len(hits) == 1
         and LIST in hits[0].attrs.get("data-lists", "").split()
         and "Refused your server" in hits[0].text(),
         "the script filled in the list %s and marked its entry" % LIST,
         "list slots: %s, hits: %d" % (lists, len(hits)))
    hrefs = [n.attrs.get("href", "") for n in by_attr(root, "data-href-ip")]
    t.ok(hrefs and all(IP in h for h in hrefs)
         and "https://check.spamhaus.org/results/?query=" + IP in hrefs,
         "per-list lookup links include the address", hrefs)
    slots = by_attr(root, "data-fill", "contact")
    t.ok(slots and all(n.find_all(lambda a: a.tag == "a" and a.attrs.get("href") == "mailto:" + CONTACT
                                  and norm(a.text()) == CONTACT) for n in slots),
         "the contact address is shown where the text refers to it", [norm(n.text()) for n in slots])

    # -- screenshot + OCR
    shot = os.path.join(tmp, "blacklisted.png")
    rc, out, err = chromium(url, "--screenshot=" + shot, "--window-size=1000,3000")
    keep("blacklisted.png", src=shot)
    have_shot = os.path.isfile(shot) and os.path.getsize(shot) > 10000
    t.ok(rc == 0 and have_shot, "chromium takes a screenshot", "rc=%s\n%s" % (rc, err[-2000:]))
    if not TESSERACT:
        for name in ("OCR of the screenshot shows the address %s" % IP,
                     "OCR of the screenshot shows the contact %s" % CONTACT,
                     "OCR of the screenshot shows the contact text (read by people)"):
            if REQUIRE:
                t.ok(False, name, "tesseract not installed (apt-get install tesseract-ocr tesseract-ocr-eng)")
            else:
                t.skip(name, "tesseract not installed")
    else:
        text = ""
        if have_shot:
            rc, text, err = run([TESSERACT, shot, "stdout", "-l", "eng"], OCR_TIMEOUT)
            keep("blacklisted.ocr.txt", text=text)
        flat = norm(text)
        t.ok(IP in flat, "OCR of the screenshot shows the address %s" % IP, flat[:1500])
        t.ok(CONTACT in flat, "OCR of the screenshot shows the contact %s" % CONTACT, flat[:1500])
        t.ok("read by people" in flat, "OCR of the screenshot shows the contact text (read by people)", flat[:1500])

    # -- hostile parameters on the real page
    hostile = {"ip": "<script>alert(1)</script>",
               "list": '<img src=x onerror="document.body.dataset.pwned=1">'}
    rc, out, err = chromium(base + "/blacklisted.html?" + urllib.parse.urlencode(hostile),
                            "--dump-dom", "--window-size=1000,3000")
    keep("hostile.html", text=out)
    root = parse(out).root
    ips = [norm(n.text()) for n in by_attr(root, "data-fill", "ip")]
    lists = [norm(n.text()) for n in by_attr(root, "data-fill", "list")]
    scripts = root.find_all(lambda n: n.tag == "script")
    imgs = root.find_all(lambda n: n.tag == "img")
    t.ok(rc == 0 and "</html>" in out and ips and all(v.startswith(FALLBACK_IP) for v in ips)
         and lists and all("bounce message" in v for v in lists)
         and len(scripts) == 1 and len(imgs) == 1 and "alert(" not in out
         and "pwned" not in out and not by_attr(root, "onerror"),
         "hostile ?ip=<script>... and &list=<img onerror> are neither shown nor executed",
         "rc=%s ip=%s list=%s scripts=%d imgs=%d" % (rc, ips, lists, len(scripts), len(imgs)))

    # -- many values through the probe page, on the page *without* its CSP
    mark = "document.documentElement.setAttribute('data-pwned','1')"
    q = urllib.parse.urlencode
    cases = [
        (q({"ip": '<img src=x onerror="%s">' % mark}), None, None),
        (q({"ip": "<script>%s</script>" % mark}), None, None),
        (q({"list": '<img src=x onerror="%s">' % mark, "ip": "1.2.3.4"}), "1.2.3.4", None),
        (q({"ip": '"><svg onload="%s">' % mark}), None, None),
        ("ip=192.0.2.256", None, None),
        ("ip=192.0.2.10%3Cb%3E", None, None),
        ("ip=192.0.2.10%20", None, None),
        ("ip=%20192.0.2.10", None, None),
        ("ip=2001:db8::1%5D/x", None, None),
        ("ip=javascript:alert(1)", None, None),
        ("ip=" + "1:" * 30 + "1", None, None),
        ("ip=::g", None, None),
        ("ip=1::2::3", None, None),
        ("ip=2001:db8::25", "2001:db8::25", None),
        ("ip=::ffff:192.0.2.10", "::ffff:192.0.2.10", None),
        ("ip=192.0.2.10&list=bl.spamcop.net", IP, "bl.spamcop.net"),
        ("ip=192.0.2.10&list=zen.spamhaus.org.%3Cb%3E", IP, None),
        ("ip=192.0.2.10&list=" + "a" * 300 + ".org", IP, None),
    ]
    probe_cases = [{"path": "/__nocsp/blacklisted.html", "query": q} for q, _, _ in cases]
    probe_cases.append({"path": "/blacklisted.html", "query": "ip=" + IP})    # for the width check
    probe_cases.append({"path": "/blacklisted.html", "query": "ip=" + IP, "nojs": True})
    Handler.probe = (PROBE_TEMPLATE % json.dumps(probe_cases)).encode("utf-8")
    rc, out, err = chromium(base + "/__probe.html", "--dump-dom", "--window-size=1200,900",
                            "--virtual-time-budget=20000")
    keep("probe.html", text=out)
    m = re.search(r'<pre id="result">(.*?)</pre>', out, re.S)
    try:
        results = json.loads(html.unescape(m.group(1))) if m else None
    except ValueError:
        results = None
    if not t.ok(isinstance(results, list) and len(results) == len(probe_cases),
                "probe page framed the help page %d times" % len(probe_cases),
                "rc=%s\n%s\n%s" % (rc, out[-1500:], err[-1500:])):
        return
    for (q, want_ip, want_list), r in zip(cases, results):
        shown_ip = norm(r.get("ip") or "")
        shown_list = norm(r.get("list") or "")
        good = ("error" not in r and not r.get("pwned") and r.get("onattrs") == 0
                and r.get("scripts") == 1 and r.get("images") == 1
                and (shown_ip == want_ip if want_ip else shown_ip.startswith(FALLBACK_IP))
                and (shown_list == want_list if want_list else "bounce message" in shown_list))
        t.ok(good, "?%s -> %s" % (urllib.parse.unquote_plus(q)[:60],
                                   "shows %s" % want_ip if want_ip else "not shown, fallback text"),
             json.dumps(r))
    r = results[-2]
    t.ok(r.get("scrollWidth", 9999) <= r.get("clientWidth", 0) and r.get("clientWidth", 0) >= 300
         and norm(r.get("ip") or "") == IP,
         "readable on a phone: no horizontal scrolling at 360 px width", json.dumps(r))

    # -- without JavaScript (a sandboxed frame without allow-scripts) the page is complete
    r = results[-1]
    slots = [norm(s) for s in r.get("contactSlots") or []]
    t.ok(norm(r.get("ip") or "").startswith(FALLBACK_IP) and r.get("contacts", 0) >= 1
         and slots and all("top of this page" in s for s in slots),
         "without JavaScript the page says \"%s\" and shows the contact" % FALLBACK_IP,
         json.dumps(r))


def main():
    t = Tap()
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        if REQUIRE:
            t.ok(False, "chromium installed at %s (POLICYD_REQUIRE_CHROMIUM=1)" % CHROMIUM)
            t.done()
        # Nothing of this test can run: a skipped plan, not a skipped check.
        print("1..0 # SKIP chromium not installed")
        sys.exit(0)
    static_checks(t)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        with tempfile.TemporaryDirectory(prefix="policyd-help-test-") as tmp:
            browser_checks(t, base, tmp)
    finally:
        server.shutdown()
        server.server_close()
    t.done()


if __name__ == "__main__":
    main()
