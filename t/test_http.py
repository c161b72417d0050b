#!/usr/bin/env python3
"""Integration: the HTTP listener under hostile clients (TAP).

One policyd with 60 local lists (a big help page), its HTTP listener on, and a
policy client whose latency is measured first alone (the baseline) and then
during each hostile load:

  - 2,000 idle HTTP connections from 40 loopback addresses, all held by the
    server, then closed by it after [http] timeout; one address alone gets only
    per_ip_connections;
  - slow readers of the big page (tiny receive buffers, a few bytes at a time);
  - a stream of malformed requests (garbage, huge headers and URLs, bad methods
    and versions), each answered with a 4xx/5xx or closed, never with our bytes;
  - query values with markup and control bytes, never reflected;
  - a flood of page requests from 8 processes: the median and p99 of the policy
    client stay near the baseline (the render bounds of issue 22: at most 2
    renders a loop turn, one per client, a quarter of the loop's time), where
    they rose 15 to 60 times before;
  - a client that sends a header line every 2 s: closed [http] timeout after
    its accept, where the idle timeout let it hold its slot forever;
and, meanwhile, a normal HTTP client still gets the page. Then: /metrics only
for metrics_allow (a client bound to 127.0.0.2 gets 403), the headers every
answer has, HEAD, SIGHUP changing the page, a broken template refused by -t
and at start-up with its line, and SIGTERM with connections open exiting 0 in
time.

The policy client's p99 under load must stay within max(3 x baseline,
baseline + 5 ms): the machine is shared and noisy, the point is that HTTP
clients cannot starve the policy socket. Loads run in child processes (so that
the measuring client has a CPU of its own to ask from), each bounded in time
and ended by its PID.
"""

import multiprocessing
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

from lib.daemon import POLICYD, VALGRIND, Policyd, Tap, read_replies, request
from lib.wait import poll_until

t = Tap()

HELP_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrib", "help"))
LIST_COUNT = 60
IDLE = 2000
IDLE_SOURCES = 40          # 50 connections from each of 127.0.1.1 .. 127.0.1.40
PER_IP = 64
HTTP_TIMEOUT_S = 6
SAMPLES = 3000             # policy requests per latency measurement


# ---------------------------------------------------------------- HTTP client helpers
def http_connect(port, source=None, rcvbuf=None, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def http_exchange(port, raw, source=None, timeout=5):
    """Send raw bytes, read until the server closes or timeout: (status or None, headers, body)."""
    with http_connect(port, source, timeout=timeout) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                if sep and m and len(body) >= int(m.group(1)):
                    break
                if sep and raw.startswith(b"HEAD "):
                    break
        except (socket.timeout, ConnectionResetError):
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else None), head.decode("latin-1"), body


def get(port, path, source=None, method="GET", extra=b""):
    raw = b"%s %s HTTP/1.1\r\nHost: help.test\r\nConnection: close\r\n%s\r\n" % (
        method.encode(), path.encode(), extra)
    return http_exchange(port, raw, source)


# ---------------------------------------------------------------- policy latency
def latencies(d, n=SAMPLES):
    """n requests on one policy connection, each timed from send to reply (seconds)."""
    out = []
    req = request("192.0.2.200")
    with d.connect("tcp") as s:
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(req)
            read_replies(s, 1)
            out.append(time.perf_counter() - t0)
    return sorted(out)


def p99(lat):
    return lat[int(len(lat) * 0.99)]


def p99_under_load(d, base, tries=3):
    """The policy client's latencies under the load that runs now. The machine is
    shared: a measurement over the bound is taken again (up to tries), since a
    neighbour's burst passes and a starved policy socket does not."""
    best = None
    for _ in range(tries):
        lat = latencies(d)
        if best is None or p99(lat) < p99(best):
            best = lat
        if within(p99(best), p99(base)):
            break
    return best


def ms(x):
    return f"{x * 1000:.2f} ms"


def within(load, base):
    return load <= max(3 * base, base + 0.005)


# ---------------------------------------------------------------- loads (child processes)
def load_slow_readers(stop, port, count, seconds, path):
    """count connections that ask for path and read it a few bytes at a time, for
    `seconds` at most or until stop is set."""
    socks = []
    for i in range(count):
        try:
            s = http_connect(port, source=f"127.0.2.{1 + i % 4}", rcvbuf=1024)
            s.sendall(b"GET %s HTTP/1.1\r\nHost: help.test\r\n\r\n" % path.encode())
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    end = time.monotonic() + seconds
    while time.monotonic() < end and socks and not stop.is_set():
        for s in socks:
            try:
                s.recv(64)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass
        time.sleep(0.05)
    for s in socks:
        s.close()


def load_malformed(stop, port, seconds, source, counter):
    """Malformed requests one after the other for `seconds` at most or until stop is
    set, not waiting long for answers."""
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end and not stop.is_set():
        raw = MALFORMED[i % len(MALFORMED)][1]
        i += 1
        try:
            with http_connect(port, source=source, timeout=0.2) as s:
                s.sendall(raw)
                s.recv(4096)
        except OSError:
            pass
        with counter.get_lock():
            counter.value += 1


def load_pages(stop, port, seconds, source, counter):
    """Page requests one after the other for `seconds` at most or until stop is set,
    each read to its end."""
    end = time.monotonic() + seconds
    req = b"GET /?ip=198.18.9.9&list=l09&domain=example.com HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    while time.monotonic() < end and not stop.is_set():
        try:
            with http_connect(port, source=source, timeout=2) as s:
                s.sendall(req)
                while s.recv(65536):
                    pass
            with counter.get_lock():
                counter.value += 1
        except OSError:
            pass


def run_load(target, *args):
    """A load in a child process. Its duration is an upper bound: end_load stops it as
    soon as the measurement it serves is taken, so that the suite does not wait it out."""
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    p = ctx.Process(target=target, args=(stop,) + args, daemon=True)
    p.stop = stop
    p.start()
    return p


def end_load(p, timeout=30):
    p.stop.set()
    p.join(timeout)
    if p.is_alive():
        os.kill(p.pid, signal.SIGKILL)
        p.join(5)


# ---------------------------------------------------------------- the cases
# name, raw request, whether the plain page (200) is an acceptable answer: HTTP lets a
# server take a bare LF as a line end, and a GET's body is never read.
MALFORMED = [
    ("garbage", b"garbage\r\n\r\n", False),
    ("binary junk", b"\x00\x01\x02\xff\x1b[31m" * 200 + b"\r\n\r\n", False),
    ("a 100 KB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"A" * 100000 + b"\r\n\r\n", False),
    ("5,000 headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: y\r\n" * 5000 + b"\r\n", False),
    ("a 70 KB URL", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ("POST with a body", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", False),
    ("DELETE", b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ("an unknown method", b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ("HTTP/9.9", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", False),
    ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", False),
    ("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", False),
    ("a bare LF in a header", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\nb: c\r\n\r\n", True),
    ("a NUL in the request line", b"GET /\x00evil HTTP/1.1\r\nHost: x\r\n\r\n", True),
    ("a chunked GET with junk", b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", True),
    ("a request line alone, no end", b"GET / HTTP/1.1\r\nHost: x\r\n", False),
]

HOSTILE_QUERIES = [
    {"ip": "<script>alert('pwn1')</script>"},
    {"ip": '192.0.2.1"><img src=x onerror=pwn2>'},
    {"ip": "192.0.2.1", "list": '"><svg onload=pwn3>'},
    {"ip": "192.0.2.1", "domain": "<b>pwn4</b>.example"},
    {"domain": "ex\r\nSet-Cookie: pwn5=1\r\n.example"},
    {"ip": "\x00pwn6"},
    {"ip": "192.0.2.1\x00<pwn7>"},
    {"ip": "192.0.2.1", "list": "l01<pwn8>"},
    {"domain": "\u202epwn9.example"},
    {"ip": "::ffff:192.0.2.1<pwn10>"},
    {"ip": "192.0.2.1\x1b[31mpwn11", "list": "l01\x07", "domain": "a\x08pwn11.example"},
]


def config(d, http_port, site="Example Org", extra_http=""):
    lists = ""
    for i in range(1, LIST_COUNT + 1):
        path = os.path.join(d.dir, f"l{i:02}.cidr")
        with open(path, "w") as f:
            f.write(f"198.18.{i}.0/24\n")
        lists += (f"[list l{i:02}]\nfile = {path}\nreason = Listed on local list number {i:02}: "
                  "addresses that sent mail to our spam traps in the last thirty days\n"
                  f"delist_url = https://delist.example/lists/l{i:02}?address=any&format=html\n")
    return (f"site = {site}\n"
            f"[http]\nlisten = inet:127.0.0.1:{http_port}\n{extra_http}help_dir = {HELP_DIR}\n"
            f"max_connections = 4096\nper_ip_connections = {PER_IP}\ntimeout = {HTTP_TIMEOUT_S}s\n"
            f"metrics_allow = 127.0.0.1/32\n" + lists)


def closed(s):
    """Whether the server has closed s (EOF or reset readable now)."""
    poller = select.poll()
    poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    if not poller.poll(0):
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def test_basics(d, port):
    status, head, body = get(port, "/")
    t.eq(status, 200, "GET / answers 200")
    for header in ("Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self';",
                   "X-Content-Type-Options: nosniff", "Referrer-Policy: no-referrer",
                   "Content-Type: text/html; charset=utf-8"):
        t.ok(header.lower() in head.lower(), f"the page is sent with {header.split(':')[0]}", head)
    t.ok(body.count(b'data-list="l') == LIST_COUNT, f"the page lists all {LIST_COUNT} lists",
         body[:300])
    status, head, body = get(port, "/blacklisted.html?ip=198.18.7.9&list=l07&domain=example.com")
    t.ok(status == 200 and b"local list number 07" in body and b"postmaster@example.com" not in body
         and b"no-store" in head.encode(), "/blacklisted.html?ip=&list=&domain= (help_url's path) is the page about that "
         "address (and no postmaster@ for a domain that no list holds)", head)
    t.ok(re.search(r"^Content-Language: en\r?$", head, re.M | re.I) and re.search(r"^Vary: Accept-Language", head, re.M | re.I),
         "the page says its language and that it varies with Accept-Language", head)
    status, head, body = get(port, "/", method="HEAD")
    t.ok(status == 200 and body == b"" and re.search(r"content-length: *[1-9]", head, re.I),
         "HEAD / answers the headers only", head)
    status, head, _ = get(port, "/", method="POST", extra=b"Content-Length: 0\r\n")
    t.ok(status == 405 and re.search(r"^Allow: GET, HEAD", head, re.M | re.I), "POST / answers 405 with Allow", head)
    t.eq(get(port, "/../etc/passwd")[0], 404, "an unknown path answers 404")


def test_metrics(d, port):
    status, head, body = get(port, "/metrics")
    t.ok(status == 200 and b"# TYPE policyd_requests_total counter" in body and "text/plain; version=0.0.4" in head,
         "/metrics from 127.0.0.1 (metrics_allow) answers Prometheus text", head + body.decode()[:200])
    status, _, body = get(port, "/metrics", source="127.0.0.2")
    t.ok(status == 403 and b"policyd_" not in body, "/metrics from 127.0.0.2 (not in metrics_allow) answers 403",
         f"{status} {body[:200]}")
    t.eq(get(port, "/", source="127.0.0.2")[0], 200, "... while the help page is public")


def test_idle(d, port, base):
    socks = []
    fds0 = d.fd_count()
    for i in range(IDLE):
        socks.append(http_connect(port, source=f"127.0.1.{1 + i % IDLE_SOURCES}"))
    d.wait_fds(fds0 + IDLE)  # all accepted
    held = sum(not closed(s) for s in socks)
    t.eq(held, IDLE, f"{IDLE} idle HTTP connections from {IDLE_SOURCES} addresses are all held")
    fds = d.fd_count()
    t.ok(fds >= IDLE, f"... the daemon has them open ({fds} descriptors)")
    lat = p99_under_load(d, base)
    t.ok(within(p99(lat), p99(base)), f"policy p99 with {IDLE} idle HTTP connections: {ms(p99(lat))} "
         f"(baseline {ms(p99(base))}, max {ms(lat[-1])})")
    t0 = time.monotonic()
    status = get(port, "/?ip=198.18.1.1")[0]
    t.ok(status == 200 and time.monotonic() - t0 < 1, f"... and another HTTP client gets the page ({time.monotonic() - t0:.3f} s)")
    one = [http_connect(port, source="127.0.0.3") for _ in range(PER_IP + 50)]
    # The 50 over the limit are accepted and closed at once: wait for those closes.
    poll_until(lambda: sum(closed(s) for s in one) >= 50, 5, interval=0.05)
    kept = sum(not closed(s) for s in one)
    t.eq(kept, PER_IP, f"one address gets no more than per_ip_connections ({PER_IP}) of them")
    for s in one:
        s.close()
    t.ok(poll_until(lambda: all(closed(s) for s in socks), HTTP_TIMEOUT_S + 5, interval=0.05),
         f"the idle connections are closed by the server after [http] timeout ({HTTP_TIMEOUT_S} s)",
         f"{sum(not closed(s) for s in socks)} still open")
    for s in socks:
        s.close()
    t.ok(poll_until(lambda: d.fd_count() < 100, 5, interval=0.05), f"... and their descriptors are released ({d.fd_count()})")


def test_slow_readers(d, port, base):
    status, _, body = get(port, "/?ip=198.18.9.9&list=l09&domain=example.com")
    size = len(body)
    t.ok(status == 200 and size > 20000, f"the big page is {size} bytes (the slow readers' buffers hold 2 KiB)")
    fds0 = d.fd_count()
    p = run_load(load_slow_readers, port, 200, 12, "/?ip=198.18.9.9&list=l09&domain=example.com")
    d.wait_fds(fds0 + 200)  # the 200 readers are connected
    lat = p99_under_load(d, base)
    t0 = time.monotonic()
    status, _, body2 = get(port, "/?ip=198.18.9.9&list=l09&domain=example.com")
    took = time.monotonic() - t0
    end_load(p)
    t.ok(within(p99(lat), p99(base)), f"policy p99 with 200 slow readers of the big page: {ms(p99(lat))} "
         f"(baseline {ms(p99(base))}, max {ms(lat[-1])})")
    t.ok(status == 200 and len(body2) == size and took < 1,
         f"... and another HTTP client gets the whole page ({took:.3f} s)")


def test_malformed(d, port, base):
    for name, raw, page_ok in MALFORMED:
        status, head, body = http_exchange(port, raw, timeout=HTTP_TIMEOUT_S + 3)
        junk = [b"\x1b[31m", b"evil", b"AAAAAAAAAA", b"aaaaaaaaaa", b"hello", b"pot"]
        reflected = [j for j in junk if j in body or j in head.encode("latin-1")]
        t.ok((status is None or 400 <= status < 600 or (page_ok and status == 200)) and not reflected,
             f"{name}: answered {status or 'by closing'}, nothing of it reflected", f"{head[:300]} {reflected}")
    counter = multiprocessing.get_context("fork").Value("l", 0)
    loads = [run_load(load_malformed, port, 8, f"127.0.3.{i}", counter) for i in (1, 2)]
    poll_until(lambda: counter.value >= 10, 5, interval=0.05, what="10 malformed requests of the two loads")
    started, t_start = counter.value, time.monotonic()
    lat = p99_under_load(d, base)
    rate = (counter.value - started) / (time.monotonic() - t_start)
    t0 = time.monotonic()
    status = get(port, "/")[0]
    took = time.monotonic() - t0
    for p in loads:
        end_load(p)
    t.ok(within(p99(lat), p99(base)), f"policy p99 during malformed requests ({rate:.0f}/s from two clients): "
         f"{ms(p99(lat))} (baseline {ms(p99(base))}, max {ms(lat[-1])})")
    t.ok(status == 200 and took < 1, f"... and another HTTP client gets the page ({took:.3f} s)")


def median(lat):
    return lat[len(lat) // 2]


def test_page_flood(d, port, base):
    """8 processes ask for the big page as fast as they are answered. Before the render
    bounds the loop rendered every page at once: the policy client's median rose from
    0.02 ms to 0.3 to 1.2 ms and its p99 to 1.7 to 10 ms on this 2-core machine."""
    counter = multiprocessing.get_context("fork").Value("l", 0)
    loads = [run_load(load_pages, port, 12, f"127.0.5.{i}", counter) for i in range(1, 9)]
    poll_until(lambda: counter.value >= 50, 10, interval=0.05, what="50 pages of the flood")
    started, t_start = counter.value, time.monotonic()
    # Under a sanitizer every render costs several times more, and so a loop turn's
    # two: the bounds grow with it, still far below what the unbounded loop did.
    slow = os.environ.get("POLICYD_SANITIZED") == "1"
    limit_median = max(3 * median(base), median(base) + (0.001 if slow else 0.0001))
    limit_p99 = max(3 * p99(base), p99(base) + (0.005 if slow else 0.001))
    best = None
    for _ in range(3):  # a shared machine: a neighbour's burst passes, a starved socket does not
        lat = latencies(d)
        if best is None or (median(lat), p99(lat)) < (median(best), p99(best)):
            best = lat
        if median(best) <= limit_median and p99(best) <= limit_p99:
            break
    rate = (counter.value - started) / (time.monotonic() - t_start)
    t0 = time.monotonic()
    status = get(port, "/?ip=198.18.1.1")[0]
    took = time.monotonic() - t0
    deferred = re.search(rb"policyd_http_renders_deferred_total (\d+)", get(port, "/metrics")[2])
    for p in loads:
        end_load(p)
    t.ok(median(best) <= limit_median and p99(best) <= limit_p99,
         f"policy latency during a page flood ({rate:.0f} pages/s from 8 clients): median {ms(median(best))}, "
         f"p99 {ms(p99(best))} (baseline {ms(median(base))}, {ms(p99(base))}; max {ms(best[-1])})")
    t.ok(rate > 50, f"... the flood is still answered ({rate:.0f} pages/s)")
    t.ok(status == 200 and took < 2, f"... and another HTTP client gets the page ({took:.3f} s)")
    t.ok(deferred and int(deferred.group(1)) > 0, "... renders were put off to later turns (/metrics)",
         deferred.group(0) if deferred else "no counter")


def test_deadline(d, port):
    """A header line every 2 s kept MHD's idle timeout from ever firing: a slot held
    forever. Now [http] timeout counts from the accept."""
    s = http_connect(port, source="127.0.0.9")
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    gone = None
    for i in range(2 * HTTP_TIMEOUT_S // 2 + 2):  # two timeouts' worth of lines, at most
        if poll_until(lambda: closed(s), 2, interval=0.05):
            gone = time.monotonic() - t0
            break
        try:
            s.sendall(b"X-Slow-%d: still here\r\n" % i)
        except OSError:
            gone = time.monotonic() - t0
            break
    s.close()
    t.ok(gone is not None and gone <= HTTP_TIMEOUT_S + 1.5,
         f"a header line every 2 s: closed {gone if gone is None else round(gone, 2)} s after the accept "
         f"([http] timeout {HTTP_TIMEOUT_S} s)")
    m = re.search(rb"policyd_http_deadline_closed_total (\d+)", get(port, "/metrics")[2])
    t.ok(m and int(m.group(1)) >= 1, "... counted in /metrics", m.group(0) if m else "no counter")


def test_hostile_queries(d, port):
    for q in HOSTILE_QUERIES:
        path = "/?" + urllib.parse.urlencode(q)
        status, head, body = get(port, path)
        text = body.decode("utf-8", "replace")
        bad = [m for m in re.findall(r"pwn\d+", text + head)]
        bad += [w for w in ("<script", "onerror", "onload", "<svg", "<b>pwn", "Set-Cookie") if w in text or w in head]
        bad += [repr(c) for c in "\x00\x07\x08\x1b\r\u202e" if c in text]
        t.ok(status == 200 and not bad, f"?{urllib.parse.unquote(path[2:])[:50]!r}: the page, the value not shown", bad)
    status, _, body = get(port, "/?ip=%3Cscript%3E&ip=192.0.2.1")
    t.ok(status == 200 and b"<script" not in body.lower(), "a repeated parameter: nothing of it reflected")


def test_reload(d, port):
    d.mark()
    d.write_config(extra=config(d, port, site="Renamed Site",
                                extra_http="listen = inet:127.0.0.2:0\n"))
    d.signal(signal.SIGHUP)
    d.wait_log(r"configuration reloaded")
    t.ok(re.search(r"\[http\] listen addresses changed; they take effect after a restart", d.log()[d.log_offset:]),
         "SIGHUP with a new [http] listen line: a warning that a restart is needed")
    status, _, body = get(port, "/")
    t.ok(status == 200 and b"Renamed Site" in body and b"Example Org" not in body,
         "SIGHUP: the page shows the new site name")


def test_bad_template(tmp):
    bad = os.path.join(tmp, "bad-help")
    os.makedirs(bad)
    for name in ("style.css", "logo.svg"):
        with open(os.path.join(HELP_DIR, name), "rb") as src, open(os.path.join(bad, name), "wb") as dst:
            dst.write(src.read())
    with open(os.path.join(bad, "template.html"), "w") as f:
        f.write("<p>{{site}}</p>\n<ul>\n{{#lists}}<li>{{nmae}}</li>{{/lists}}\n</ul>\n")
    d = Policyd(start=False)
    d.write_config(extra=f"[http]\nlisten = inet:127.0.0.1:0\nhelp_dir = {bad}\n")
    p = subprocess_run([POLICYD, "-c", d.config, "-t"])
    t.ok(p[0] == 1 and f"{bad}/template.html:3: unknown name 'nmae'" in p[2],
         "policyd -t: a template with an unknown name is refused with FILE:LINE", p[2])
    p = subprocess_run([POLICYD, "-c", d.config, "--help-page"])
    t.ok(p[0] == 1 and "template.html:3:" in p[2] and p[1] == "", "policyd --help-page: the same, and no page", p[2])
    with d:
        d.start(expect_ready=False)
        try:
            code = d.proc.wait(10)
        except Exception:  # noqa: BLE001
            code = None
        t.ok(code == 1 and "template.html:3: unknown name 'nmae'" in d.log() and "start-up failed" in d.log(),
             "the daemon does not start with a broken template", d.log()[-800:])


def test_uninstalled():
    """A binary run from its build tree, with no help_dir, serves the sources' help
    page (the build links BUILD/contrib/help to it): ./quickstart's policyd with
    [http] listen starts, and --help-page prints the page."""
    d = Policyd(start=False)
    d.write_config(extra="[http]\nlisten = inet:127.0.0.1:0\n")
    p = subprocess_run([POLICYD, "-c", d.config, "--help-page", "--ip", "192.0.2.99"])
    t.ok(p[0] == 0 and "192.0.2.99" in p[1] and "</html>" in p[1],
         "--help-page without help_dir prints the page from the sources' contrib/help", p[2])
    with d:
        d.start(expect_ready=False)
        started = d.logged(r"started with", 30 if VALGRIND else 10)
        t.ok(started is not None, "the daemon starts with [http] listen and no help_dir", d.log()[-800:])
        if started:
            status, _, body = get(d.http_port(), "/")
            t.ok(status == 200 and b"</html>" in body, "GET / serves the help page", f"{status} {body[:200]!r}")


def subprocess_run(cmd):
    """(exit status, stdout, stderr) of a short command, bounded in time."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def test_sigterm(d, port):
    fds0 = d.fd_count()
    socks = [http_connect(port, source=f"127.0.4.{1 + i % 4}") for i in range(100)]
    half = http_connect(port)
    half.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    d.wait_fds(fds0 + 101)  # all 101 accepted before the signal
    t0 = time.monotonic()
    code = d.stop(timeout=10)
    took = time.monotonic() - t0
    t.ok(code == 0 and took < 3 + 1, f"SIGTERM with 101 HTTP connections open: exit {code} in {took:.2f} s "
         "(request_timeout + 1 s at most)")
    for s in socks + [half]:
        s.close()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < IDLE + 500:
        print(f"1..0 # SKIP descriptor limit {hard} is too low for {IDLE} connections")
        sys.exit(0)
    with tempfile.TemporaryDirectory(prefix="policyd-http-test-") as tmp:
        d = Policyd(start=False)
        d.write_config(extra=config(d, 0))
        with d:
            d.start()
            port = d.http_port()
            latencies(d, 500)  # warm up: connection, caches, the CPU's clock
            # The quietest of three: the bound is then the strictest.
            base = min((latencies(d) for _ in range(3)), key=p99)
            print(f"# baseline policy latency: p99 {ms(p99(base))}, median {ms(base[len(base) // 2])}, "
              f"max {ms(base[-1])} ({SAMPLES} requests)")
            t.run("basics", test_basics, d, port)
            t.run("metrics", test_metrics, d, port)
            t.run("hostile queries", test_hostile_queries, d, port)
            t.run("malformed", test_malformed, d, port, base)
            t.run("idle", test_idle, d, port, base)
            t.run("slow readers", test_slow_readers, d, port, base)
            t.run("page flood", test_page_flood, d, port, base)
            t.run("deadline", test_deadline, d, port)
            t.run("reload", test_reload, d, port)
            again = latencies(d)
            print(f"# policy latency after the loads: p99 {ms(p99(again))} (baseline {ms(p99(base))})")
            t.run("sigterm", test_sigterm, d, port)
        t.run("bad template", test_bad_template, tmp)
        t.run("uninstalled", test_uninstalled)
    t.done()


if __name__ == "__main__":
    main()
