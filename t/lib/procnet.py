"""Which ports a process of ours has bound, read from /proc (Linux only).

A server started with port 0 gets a port from the kernel that no other process
can take first; when the server does not tell which one it got, its sockets do:
/proc/PID/fd names each socket by inode, and /proc/net/{udp,tcp}[6] give the
local address of every socket by inode.

    bound(pid, "udp")  -> [("127.0.0.1", 40123)]
    bound(pid, "tcp")  -> listening TCP sockets only
    wait_bound(pid, "tcp", count=2, timeout=10) -> the list, once it has `count`
"""

import os
import socket
import struct

from .wait import poll_until

TCP_LISTEN = "0A"


def socket_inodes(pid):
    """Inodes of the sockets process `pid` holds open (an empty set once it is gone)."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _address(hex_addr):
    """'0100007F:D056' -> ('127.0.0.1', 53334).

    The kernel prints the address as 32-bit words in host byte order, so on a
    little-endian machine the bytes of each word come reversed."""
    addr, port = hex_addr.split(":")
    words = struct.unpack(f">{len(addr) // 8}I", bytes.fromhex(addr))
    raw = struct.pack(f"={len(words)}I", *words)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def bound(pid, proto):
    """(address, port) of every socket of `pid` in /proc/net/PROTO and PROTO6; for
    TCP only listening sockets, for UDP every bound one; in /proc's order."""
    inodes = socket_inodes(pid)
    out = []
    for table in (proto, proto + "6"):
        try:
            with open(f"/proc/net/{table}") as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[9] not in inodes:
                continue
            if proto == "tcp" and fields[3] != TCP_LISTEN:
                continue
            out.append(_address(fields[1]))
    return out


def wait_bound(pid, proto, count=1, timeout=10, alive=None):
    """Poll (bounded in time and count) until `pid` has at least `count` such sockets;
    returns them, or None on timeout or once alive() says the process is gone."""
    def enough():
        found = bound(pid, proto)
        return found if len(found) >= count else None

    return poll_until(enough, timeout, gone=None if alive is None else lambda: not alive())
