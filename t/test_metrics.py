#!/usr/bin/env python3
"""Integration: GET /metrics scraped 1,000 times while the benchmark client
(policyd-leanbench, the project's own) drives policyd against a real rbldnsd.

- every scrape answers 200 with Prometheus text that parses, and no counter
  ever goes backwards from one scrape to the next;
- `promtool check metrics` (Debian's prometheus package) accepts a scrape taken
  under load and the final one;
- the counters add up: requests and replies by action are what the benchmark
  client counted, the latency histogram counts every reply, the zone's queries
  are what rbldnsd logged, and each listed address was counted listed once.
"""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

from lib.daemon import Policyd, Tap

HELP_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "help"))
from lib.dnslib import Rbldnsd, reverse_ip

t = Tap()

LEANBENCH = os.environ.get("LEANBENCH", os.path.join(os.path.dirname(__file__), "..", "build", "contrib",
                                                      "bench", "policyd-leanbench"))
PROMTOOL = shutil.which("promtool")
SCRAPES = 1000
CLIENTS = 200          # distinct client addresses, 198.18.0.1 ...
RUN_REQUESTS = 20000   # requests of one benchmark run; runs repeat until the scrapes are done
MAX_RUNS = 40
CONNECTIONS = 8

# One zen-like zone: 127.0.0.2 weighs 3 (at threshold: reject), 127.0.0.10 weighs 1
# (at soft_threshold: prepend). Every fourth client is on SBL, the next on PBL.
ZEN = ":127.0.0.2:Listed\n127.0.0.2\n" + "".join(
    f"198.18.0.{i} :127.0.0.{2 if i % 4 == 0 else 10}:Listed for $\n"
    for i in range(1, CLIENTS + 1) if i % 4 in (0, 1))
LISTED = sum(1 for i in range(1, CLIENTS + 1) if i % 4 in (0, 1))


def expected_action(i):
    return {0: "REJECT", 1: "PREPEND"}.get(i % 4, "DUNNO")


SAMPLE_RX = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def parse(text):
    """{'name{labels}': value} of a Prometheus text exposition; raises ValueError on a bad line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RX.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8")


def is_counter(key):
    name = key.split("{", 1)[0]
    return name.endswith("_total") or name.endswith("_bucket") or name.endswith("_count") \
        or name.endswith("_sum")


class Scraper(threading.Thread):
    """SCRAPES scrapes one after the other; keeps the problems, one scrape under load and the last."""

    def __init__(self, port, busy):
        super().__init__(daemon=True)
        self.port, self.busy = port, busy
        self.done = 0
        self.problems = []
        self.under_load = None
        self.last = None

    def run(self):
        previous = {}
        for i in range(SCRAPES):
            try:
                status, ctype, text = scrape(self.port)
                samples = parse(text)
            except Exception as e:  # noqa: BLE001
                self.problems.append(f"scrape {i}: {type(e).__name__}: {e}")
                continue
            if status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
                self.problems.append(f"scrape {i}: status {status}, Content-Type {ctype!r}")
            back = [k for k, v in samples.items() if is_counter(k) and v < previous.get(k, 0)]
            if back:
                self.problems.append(f"scrape {i}: counters went backwards: {back[:5]}")
            previous = samples
            if self.under_load is None and i >= SCRAPES // 2 and self.busy.is_set():
                self.under_load = text
            self.last = text
            self.done += 1


def leanbench(d, requests_file):
    """One benchmark run of RUN_REQUESTS requests: {action: count} and its error count."""
    p = subprocess.run([LEANBENCH, "-c", str(CONNECTIONS), "-n", str(RUN_REQUESTS), "-f", requests_file,
                        "--expect", f"inet:127.0.0.1:{d.port}"], capture_output=True, text=True, timeout=300)
    counts = {}
    m = re.search(r"^replies\s+(.*)$", p.stdout, re.M)
    if m:
        counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    e = re.search(r"^errors\s+(\d+)", p.stdout, re.M)
    errors = int(e.group(1)) if e else None
    return counts, errors, p.returncode, p.stdout + p.stderr


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def test_scrapes_under_load(tmp):
    requests_file = os.path.join(tmp, "requests")
    with open(requests_file, "w") as f:
        for i in range(1, CLIENTS + 1):
            f.write(f"198.18.0.{i} sender@example.com mail.example.com {expected_action(i)}\n")
    with Rbldnsd({"zen.test": ("ip4set", ZEN)}, ttl=3600) as r:
        d = Policyd(start=False)
        text = d.config_text(extra=(
            "threshold = 3\nsoft_threshold = 1\nsoft_action = prepend\n"
            f"[dns]\nnameserver = {r.nameserver}\ntimeout = 1s\ntries = 1\nhealth_interval = 1h\n"
            "[cache]\nsize = 10000\nmin_ttl = 1h\nmax_ttl = 1h\nnegative_ttl = 1h\n"
            f"[http]\nlisten = inet:127.0.0.1:0\nmetrics_allow = 127.0.0.1/32\nhelp_dir = {HELP_DIR}\n"
            "[dnsbl zen.test]\ncodes = 127.0.0.[2..3]*3, 127.0.0.[10..11]*1\n"))
        d.write_config(text=text.replace("log_level = debug", "log_level = info"))
        with d:
            d.start()
            t.ok(d.logged(r"\[dnsbl zen\.test\]: health check passed", timeout=15) is not None,
                 "zen.test passed its health check")
            port = d.http_port()
            before = parse(scrape(port)[2])

            busy = threading.Event()
            scraper = Scraper(port, busy)
            totals, errors, runs, failures = {}, 0, 0, []
            busy.set()
            scraper.start()
            while (scraper.is_alive() or runs == 0) and runs < MAX_RUNS:
                counts, errs, rc, out = leanbench(d, requests_file)
                runs += 1
                if rc != 0 or errs is None:
                    failures.append(f"run {runs}: exit {rc}\n{out[-1500:]}")
                    break
                errors += errs
                for k, v in counts.items():
                    totals[k] = totals.get(k, 0) + v
            busy.clear()
            scraper.join(120)
            after = parse(scrape(port)[2])

            sent = runs * RUN_REQUESTS
            print(f"# {runs} benchmark runs ({sent} requests, {CONNECTIONS} connections) beside "
                  f"{scraper.done} scrapes; the client counted {totals}")
            t.ok(not failures and errors == 0, f"the benchmark client saw no error in {runs} runs, every "
                 "action the expected one", "\n".join(failures))
            t.ok(scraper.done == SCRAPES and not scraper.problems,
                 f"{scraper.done} of {SCRAPES} scrapes answered 200 with Prometheus text, no counter going back",
                 "\n".join(scraper.problems[:10]))
            t.ok(scraper.under_load is not None, "one scrape was taken in the second half, under load")

            if PROMTOOL is None:
                t.skip("promtool check metrics", "promtool not installed (Debian package prometheus)")
            else:
                for name, text in (("a scrape under load", scraper.under_load), ("the final scrape", scraper.last)):
                    rc, out = promtool_check(text or "")
                    t.ok(rc == 0 and text, f"promtool check metrics accepts {name}", out)

            def grew(key):
                return after.get(key, 0) - before.get(key, 0)

            t.eq(grew("policyd_requests_total"), sent, "policyd_requests_total grew by the requests the benchmark sent")
            for action in ("REJECT", "PREPEND", "DUNNO"):
                t.eq(grew(f'policyd_replies_total{{action="{action.lower()}"}}'), totals.get(action, 0),
                     f'policyd_replies_total{{action="{action.lower()}"}} is the client\'s count of {action}')
            t.eq(sum(grew(k) for k in after if k.startswith("policyd_replies_total{")), sent,
                 "the replies by action add up to the requests")
            t.eq(grew("policyd_reply_duration_seconds_count"), sent, "the latency histogram counts every reply")
            t.eq(grew('policyd_reply_duration_seconds_bucket{le="+Inf"}'), sent, "... its +Inf bucket too")
            t.eq(grew("policyd_connections_total"), runs * CONNECTIONS,
                 "policyd_connections_total grew by the benchmark's policy connections")
            t.eq(after.get("policyd_cache_misses_total"), float(CLIENTS),
                 f"one cache miss per client address ({CLIENTS}): everything else came from the cache")
            t.eq(grew("policyd_cache_hits_total"), sent - CLIENTS, "... and the other requests were hits")
            t.eq(after.get('policyd_list_listed_total{list="zen.test",kind="dnsbl"}'), float(LISTED),
                 f"zen.test counted listed once per listed client ({LISTED})")
            counted = after.get('policyd_list_queries_total{list="zen.test",kind="dnsbl"}')
            logged = float(len(zone_queries(r)))
            if r.unbound:
                # unbound's cache answers some of policyd's queries, and under load it
                # asks rbldnsd again when an answer is slow: rbldnsd's log may hold
                # fewer queries than policyd sent, or more.
                t.skip("policyd_list_queries_total is what rbldnsd logged for zen.test",
                       f"through unbound, which caches and retries (counted {counted}, logged {logged})")
            else:
                t.eq(counted, logged,
                     "policyd_list_queries_total is what rbldnsd logged for zen.test (health checks aside)")
            t.eq(after.get('policyd_list_enabled{list="zen.test",kind="dnsbl"}'), 1.0, "zen.test is enabled")
            t.eq(after.get('policyd_list_breaker_open{list="zen.test",kind="dnsbl"}'), 0.0,
                 "... and its breaker closed")
            t.eq(after.get("policyd_connections_open"), 0.0, "no policy connection is open at the end")
            t.eq(d.stop(), 0, "the daemon exits 0 on SIGTERM")


# The RFC 5782 test points a health check asks: IPv4, and (ipv6 = auto) ::FFFF:7F00:2
# and ::FFFF:7F00:1.
TEST_POINTS = tuple(reverse_ip(a) + "." for a in ("127.0.0.2", "127.0.0.1", "::ffff:127.0.0.2", "::ffff:127.0.0.1"))


def zone_queries(r):
    """rbldnsd's logged queries for zen.test, not counting the RFC 5782 test points."""
    return [q for q in r.queries() if q[0].endswith(".zen.test")
            and not q[0].lower().startswith(TEST_POINTS)]


def main():
    if not os.access(LEANBENCH, os.X_OK):
        t.ok(False, f"the benchmark client is built ({LEANBENCH})")
        t.done()
    with tempfile.TemporaryDirectory(prefix="policyd-metrics-test-") as tmp:
        t.run("scrapes under load", test_scrapes_under_load, tmp)
    t.done()


main()
