"""DNS names and types on the wire, for the test client (dnslib.py) and the
hostile fake server (fakedns.py), which runs as a script of its own: standard
library only, no imports from the package.

    encode_name("2.0.0.127.bl.test")   -> b"\\x012\\x010\\x010\\x03127\\x02bl\\x04test\\x00"
    decode_name(pkt, 12)               -> ([b"2", b"0", ...], offset after the name)

Packets come from servers and clients under test: decode_name trusts nothing
in them (bounded pointer jumps, every length checked against the packet and
the 255 bytes of a name) and raises the caller's error class for each fault.
"""

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
          "TXT": 16, "AAAA": 28, "SRV": 33, "OPT": 41, "ANY": 255}
QTYPE_NAMES = {v: k for k, v in QTYPES.items()}


def encode_name(name):
    """Wire form of a name; labels may hold any byte (given as latin-1)."""
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("latin-1")
            if len(raw) > 63:
                raise ValueError("label too long: %r" % label)
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def decode_name(pkt, off, error=ValueError):
    """Read a (possibly compressed) name at `off`: (labels as bytes, offset after
    the name where it is in the packet, after the first pointer otherwise).

    Untrusted input: at most 20 pointer jumps, every label within the packet,
    the name within 255 bytes; any fault raises error(reason)."""
    labels = []
    end = None
    jumps = 0
    while True:
        if off >= len(pkt):
            raise error("name runs past the packet")
        n = pkt[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(pkt):
                raise error("truncated pointer")
            jumps += 1
            if jumps > 20:
                raise error("pointer loop")
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | pkt[off + 1]
            continue
        if n & 0xC0:
            raise error("bad label type")
        if off + 1 + n > len(pkt):
            raise error("label runs past the packet")
        labels.append(pkt[off + 1:off + 1 + n])
        off += 1 + n
        if sum(len(l) + 1 for l in labels) > 255:
            raise error("name too long")
    return labels, (end if end is not None else off)
