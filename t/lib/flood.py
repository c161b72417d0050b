#!/usr/bin/env python3
"""Hostile policy clients in their own process, so that a latency probe in the
test's process is not slowed by them: writers that send requests and never read
their replies, and pipeliners that send many requests for fresh addresses (each
needing DNS) and read whatever comes back.

Usage: flood.py UNIX_SOCKET WRITERS PIPELINERS SECONDS
Prints "READY" once every connection is open, and at the end one line:
"FLOOD written=BYTES pipelined=BYTES replies=BYTES". Every loop is bounded by
SECONDS; the process ends by itself.
"""

import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib.daemon import request  # noqa: E402


def main():
    path, nw, np_, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    writers, pipeliners = [], []
    blob = request("192.0.2.9") * 20000
    for _ in range(nw):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        writers.append([s, 0])
    for i in range(np_):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        reqs = b"".join(request(f"10.{i}.{j // 250}.{j % 250}") for j in range(500))
        pipeliners.append([s, 0, reqs])
    print("READY", flush=True)
    replies = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = False
        for w in writers:
            try:
                n = w[0].send(blob[w[1]:w[1] + 65536])
                w[1] += n
                busy = busy or n > 0
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
        for p in pipeliners:
            try:
                if p[1] < len(p[2]):
                    p[1] += p[0].send(p[2][p[1]:p[1] + 65536])
                    busy = True
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            try:
                replies += len(p[0].recv(1 << 20))
            except (BlockingIOError, ConnectionResetError):
                pass
        if not busy:
            select.select([p[0] for p in pipeliners], [], [], 0.05)
    print(f"FLOOD written={sum(w[1] for w in writers)} pipelined={sum(p[1] for p in pipeliners)} "
          f"replies={replies}", flush=True)
    for s in [w[0] for w in writers] + [p[0] for p in pipeliners]:
        s.close()


if __name__ == "__main__":
    main()
