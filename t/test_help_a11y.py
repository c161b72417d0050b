#!/usr/bin/python3
"""The help page's accessibility: axe-core's WCAG 2.1 A and AA rules (TAP).

One policyd with a DNSBL on a real rbldnsd and a local list, its HTTP listener
on; the policy socket refuses an address first, so that the page about it shows
everything it can (the refusal, the cache's status, the recheck form). That
page and the page without parameters, in every language the help page has, at
1280 px and at 390 px (a phone), are loaded in headless Chromium
(t/lib/browser.py) and checked by axe-core with the tags wcag2a, wcag2aa,
wcag21a and wcag21aa: no violation.

axe-core comes from the npm registry, pinned by t/browser/package-lock.json:
the test runs `npm ci` there when t/browser/node_modules does not hold the
pinned version (the first run needs the registry; later runs are offline).
Needs chromium, npm and rbldnsd; without chromium or npm it skips, unless
POLICYD_REQUIRE_CHROMIUM=1 (CI).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib.browser import Browser  # noqa: E402
from lib.daemon import Policyd, Tap, request  # noqa: E402
from lib.dnslib import Rbldnsd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HELP_DIR = os.path.normpath(os.path.join(HERE, "..", "contrib", "help"))
NODE_DIR = os.path.join(HERE, "browser")
AXE = os.path.join(NODE_DIR, "node_modules", "axe-core", "axe.min.js")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("POLICYD_REQUIRE_CHROMIUM") == "1"
LANGS = sorted(["en"] + [f[:-3] for f in os.listdir(os.path.join(HELP_DIR, "po")) if f.endswith(".po")])

t = Tap()


def pinned_version():
    with open(os.path.join(NODE_DIR, "package-lock.json"), encoding="utf-8") as f:
        return json.load(f)["packages"]["node_modules/axe-core"]["version"]


def installed_version():
    try:
        with open(os.path.join(NODE_DIR, "node_modules", "axe-core", "package.json"), encoding="utf-8") as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


def install_axe():
    """npm ci in t/browser when the pinned axe-core is not there; None or why not."""
    if installed_version() == pinned_version() and os.path.isfile(AXE):
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm not installed"
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=NODE_DIR,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0 or installed_version() != pinned_version():
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
    why = install_axe()
    if why:
        skip_all(why)
    t.ok(True, f"axe-core {installed_version()} as package-lock.json pins it")
    t.run("axe-core", scenario)
    t.done()


def scenario():
    with open(AXE, encoding="utf-8") as f:
        axe = f.read()
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
            with Browser() as b:
                for lang in LANGS:
                    for name, query in pages.items():
                        url = base + "?" + urllib.parse.urlencode(dict(query, lang=lang))
                        for width in (1280, 390):
                            page = b.open(url, width=width, height=900, mobile=width < 500,
                                          scale=2 if width < 500 else 1)
                            shown = re.search(r'<html lang="([a-z]+)"', page["dom"] or "")
                            form = name != "refusal" or 'class="recheck"' in (page["dom"] or "")
                            found = b.axe(axe)
                            t.ok(shown and shown.group(1) == lang and form and not found and not page["messages"],
                                 f"{lang} {name} at {width} px: no WCAG 2.1 A/AA violation",
                                 json.dumps(found, indent=1)[:3000] + "\n".join(page["messages"]))


if __name__ == "__main__":
    main()
