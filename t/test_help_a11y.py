#!/usr/bin/python3
"""The help page's accessibility: axe-core's WCAG 2.1 A and AA rules (TAP).

One policyd with a DNSBL on a real rbldnsd and a local list, its HTTP listener
on; the policy socket refuses an address first, so that the page about it shows
everything it can (the refusal, the cache's status, the recheck form). That
page and the page without parameters, in every language the help page has, at
1280 px and at 390 px (a phone), are loaded in headless Chromium and checked by
axe-core with the tags wcag2a, wcag2aa, wcag21a and wcag21aa: no violation, the
page's <html lang> is the language asked for, the refusal has its recheck form,
and no console message, page error or failed load.

t/browser/a11y.js does the browser's part: one node process for every page,
which starts the machine's Chromium with puppeteer-core, loads each page, runs
axe-core in it and prints one line of JSON per page; it is bounded per page and
overall, and this script bounds it again (a subprocess timeout).

axe-core and puppeteer-core come from the npm registry, pinned by
t/browser/package-lock.json: the test runs `npm ci` there when
t/browser/node_modules does not hold the pinned version of both (the first run
needs the registry; later runs are offline), then checks the versions installed
against the lock. Needs chromium, npm (with its Node.js) and rbldnsd; without
chromium or npm it skips, unless POLICYD_REQUIRE_CHROMIUM=1 (CI).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.daemon import Policyd, Tap, request  # noqa: E402
from lib.dnslib import Rbldnsd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HELP_DIR = os.path.normpath(os.path.join(HERE, "..", "contrib", "help"))
NODE_DIR = os.path.join(HERE, "browser")
A11Y = os.path.join(NODE_DIR, "a11y.js")
AXE = os.path.join(NODE_DIR, "node_modules", "axe-core", "axe.min.js")
PACKAGES = ("axe-core", "puppeteer-core")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("POLICYD_REQUIRE_CHROMIUM") == "1"
LANGS = sorted(["en"] + [f[:-3] for f in os.listdir(os.path.join(HELP_DIR, "po")) if f.endswith(".po")])
# a11y.js gives a page PAGE_TIMEOUT seconds and all of them NODE_TIMEOUT; the node
# process itself is ended past NODE_TIMEOUT + 30 s. With npm ci's 100 s, within the
# 300 s meson gives the test.
PAGE_TIMEOUT = 30
NODE_TIMEOUT = 150

t = Tap()


def pinned_version(name):
    """The version of name that t/browser/package-lock.json pins."""
    with open(os.path.join(NODE_DIR, "package-lock.json"), encoding="utf-8") as f:
        return json.load(f)["packages"]["node_modules/" + name]["version"]


def wanted_version(name):
    """The version of name that t/browser/package.json asks for (exact: no range)."""
    with open(os.path.join(NODE_DIR, "package.json"), encoding="utf-8") as f:
        return json.load(f)["dependencies"].get(name)


def installed_version(name):
    """The version of name in t/browser/node_modules, or None."""
    try:
        with open(os.path.join(NODE_DIR, "node_modules", name, "package.json"), encoding="utf-8") as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


def install():
    """npm ci in t/browser unless node_modules holds the pinned version of every
    package; None or why not (the versions are checked afterwards)."""
    if all(installed_version(n) == pinned_version(n) for n in PACKAGES) and os.path.isfile(AXE):
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm not installed"
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=NODE_DIR,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=100)
    if p.returncode != 0:
        return f"npm ci failed ({p.returncode}): {p.stderr[-800:]}"
    return None


def skip_all(why):
    if REQUIRE:
        print(f"not ok 1 - {why} (POLICYD_REQUIRE_CHROMIUM=1)")
        print("1..1")
        sys.exit(1)
    print(f"1..0 # SKIP {why}")
    sys.exit(0)


def main():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        skip_all("chromium not installed")
    if shutil.which("node") is None:
        skip_all("node not installed")
    why = install()
    if why:
        skip_all(why)
    for name in PACKAGES:
        pinned = pinned_version(name)
        t.eq(wanted_version(name), pinned, f"package.json asks for {name} {pinned} exactly")
        t.eq(installed_version(name), pinned, f"node_modules holds {name} {pinned} as package-lock.json pins it")
    t.run("axe-core", scenario)
    t.done()


def run_node(job):
    """a11y.js on the job: its lines of JSON (one per page, then the end), exit status, stderr.
    Past the timeout it gets SIGTERM (puppeteer-core then kills chromium), then SIGKILL."""
    p = subprocess.Popen([shutil.which("node"), A11Y], cwd=NODE_DIR, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(json.dumps(job), timeout=NODE_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        err = f"node ended after {NODE_TIMEOUT + 30} s\n{err}"
    results = []
    for line in out.splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            err += "\nstdout: " + line
    return results, p.returncode, err


def scenario():
    zones = {"bl.test": ("ip4set", ":127.0.0.2:Listed by bl.test\n127.0.0.2\n"
                                   "192.0.2.10 :127.0.0.3:Spam trap hit from 192.0.2.10\n")}
    with Rbldnsd(zones) as r:
        d = Policyd(start=False)
        with open(os.path.join(d.dir, "local.cidr"), "w") as f:
            f.write("192.0.2.99\n")
        d.write_config(extra=(
            "site = Example Org\n"
            f"[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\n"
            f"[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {HELP_DIR}\n"
            "[dnsbl bl.test]\ndelist_url = https://bl.test/lookup\n"
            f"[list local]\nfile = {d.dir}/local.cidr\nreason = Listed by the postmaster\n"))
        with d:
            d.start()
            d.wait_log(r"\[dnsbl bl\.test\]: health check passed", timeout=15)
            reply = d.ask(request("192.0.2.10", sender="joe@example.com"))
            t.ok(reply.startswith("action=REJECT"), "the policy socket refuses 192.0.2.10 (bl.test)", reply)
            base = f"http://127.0.0.1:{d.http_port()}/blacklisted.html"
            pages = {"refusal": {"ip": "192.0.2.10", "list": "bl.test", "domain": "example.com"}, "general": {}}
            t.ok(len(LANGS) >= 8, f"the page has {len(LANGS)} languages: {' '.join(LANGS)}")
            checks = []
            for lang in LANGS:
                for name, query in pages.items():
                    url = base + "?" + urllib.parse.urlencode(dict(query, lang=lang))
                    for width in (1280, 390):
                        checks.append((lang, name, {"url": url, "width": width, "height": 900,
                                                    "mobile": width < 500, "scale": 2 if width < 500 else 1}))
            job = {"chromium": CHROMIUM, "axe": AXE, "pages": [c[2] for c in checks],
                   "page_timeout": PAGE_TIMEOUT, "timeout": NODE_TIMEOUT}
            results, status, log = run_node(job)
            pages_seen = [x for x in results if "url" in x]
            for i, (lang, name, spec) in enumerate(checks):
                page = pages_seen[i] if i < len(pages_seen) else None
                if page is None or page["url"] != spec["url"] or page["width"] != spec["width"]:
                    t.ok(False, f"{lang} {name} at {spec['width']} px: no WCAG 2.1 A/AA violation",
                         f"a11y.js gave no result for {spec['url']} (exit status {status})\n"
                         f"{json.dumps(results[-1:])}\n{log[-2000:]}")
                    continue
                form = name != "refusal" or page["recheck"]
                found = page["violations"]
                t.ok(page["lang"] == lang and form and not found and not page["messages"] and not page["error"],
                     f"{lang} {name} at {spec['width']} px: no WCAG 2.1 A/AA violation",
                     f"lang: {page['lang']!r}, recheck form: {page['recheck']}, error: {page['error']}\n"
                     + json.dumps(found, indent=1)[:3000] + "\n" + "\n".join(page["messages"]))
            t.ok(status == 0 and results and results[-1].get("done") and results[-1].get("pages") == len(checks),
                 f"a11y.js checked the {len(checks)} pages, closed chromium and exited 0",
                 f"exit status {status}\n{json.dumps(results[-1:])}\n{log[-2000:]}")


if __name__ == "__main__":
    main()
