"""Headless Chromium driven over the DevTools protocol on a pipe (standard library only).

    with Browser() as b:
        page = b.open("http://127.0.0.1:8040/", width=390, height=900, mobile=True)
        page["dom"]          # document.documentElement.outerHTML after the load event
        page["messages"]     # console messages, script errors and CSP violations
        b.screenshot("shot.png", full=True)
        b.evaluate("document.documentElement.scrollWidth")

One browser serves every page of a test: starting Chromium costs seconds, a page
a fraction of one. The browser runs in its own process group, ended by its id;
every wait has a deadline. `--remote-debugging-pipe` makes Chromium read
commands on fd 3 and write answers on fd 4, each a JSON text ending in NUL.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, chromium=CHROMIUM, timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="policyd-browser-")
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds():
            # Runs in the child before exec: the protocol's descriptors 3 and 4.
            # Moved out of the way first, since either end may be 3 or 4 already.
            r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.close(r)
            os.close(w)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
             "--hide-scrollbars", "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            # Python's own descriptors are close-on-exec; only 3 and 4 are inherited.
            close_fds=False, preexec_fn=fds, start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self.next_id = 0
        self.buf = b""
        self.events = []
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")

    # Protocol ----------------------------------------------------------------
    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from chromium in time")
            ready, _, _ = select.select([self.from_child], [], [], left)
            if ready:
                chunk = os.read(self.from_child, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed its pipe (exit %s)" % self.proc.poll())
                self.buf += chunk
        text, self.buf = self.buf.split(b"\0", 1)
        return json.loads(text)

    def call(self, method, timeout=None, **params):
        """Send one command (to the page once attached); return its result."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise BrowserError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_event(self, name, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    # Pages -------------------------------------------------------------------
    def open(self, url, width=1280, height=900, mobile=False, scale=1):
        """Load url in a viewport of width x height CSS pixels; the DOM and the messages."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=scale, mobile=mobile)
        self.events = []
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        messages = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Log.entryAdded":
                messages.append("%s: %s" % (p["entry"].get("source"), p["entry"].get("text")))
            elif e["method"] == "Runtime.consoleAPICalled":
                messages.append("console: %s" % json.dumps(p.get("args")))
            elif e["method"] == "Runtime.exceptionThrown":
                messages.append("exception: %s" % json.dumps(p.get("exceptionDetails")))
        return {"dom": self.evaluate("document.documentElement.outerHTML"), "messages": messages}

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise BrowserError(json.dumps(r["exceptionDetails"]))
        return r["result"].get("value")

    def screenshot(self, path, full=True, max_height=None):
        """A PNG of the page: all of it (full), or the top max_height CSS pixels."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        height = size["height"] if full else min(size["height"], max_height or size["height"])
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": height, "scale": 1})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return path

    # Lifetime ----------------------------------------------------------------
    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
