#!/usr/bin/env python3
"""Write the hand-made seed inputs of the fuzz targets into DIR/NAME/ (one file each).

    python3 t/fuzz/seeds.py DIR

The committed corpus (t/fuzz/corpus/NAME/) is these seeds plus what fuzzing found,
minimized with libFuzzer's -merge=1. Input layouts are described at the top of each
fuzz_NAME.c. Python 3 standard library only.
"""

import hashlib
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "t", "fixtures", "postfix-3.7.11")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fixtures():
    if not os.path.isdir(FIXTURES):
        return [b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                b"client_address=192.0.2.10\nhelo_name=vm\nsender=root@vm\n\n"]
    return [read(os.path.join(FIXTURES, n)) for n in sorted(os.listdir(FIXTURES))]


def request_seeds():
    fx = fixtures()
    out = []
    for f in fx:
        out.append(b"\x00" + f)                       # one read
    pipelined = fx[0] + fx[-1]
    out.append(b"\x03" + struct.pack("<HHH", 7, 300, 1021) + pipelined)
    out.append(b"\x08" + struct.pack("<8H", *range(1, 9)) + fx[0])  # byte by byte at first
    for bad in [b"a=1\n\x00b=2\n\n", b"no equals sign\n\n", b"=value\n\n", b"\n",
                b"a=1\r\nb=2\r\n\r\n", b"a=" + b"x" * 8190 + b"\n\n",
                b"a=" + b"x" * 8191 + b"\n\n",
                b"".join(b"k%d=v\n" % i for i in range(256)) + b"\n",
                b"".join(b"k%d=v\n" % i for i in range(257)) + b"\n",
                (b"a=" + b"y" * 8000 + b"\n") * 9 + b"\n",
                b"client_address=1\nclient_address=2\nsender=\n\n"]:
        out.append(b"\x00" + bad)
        out.append(b"\x02" + struct.pack("<HH", 2, 5) + bad)
    return out


def config_seeds():
    base = (b"[server]\nlisten = unix:/tmp/x.sock\n[policy]\n"
            b"help_url = https://www.example.org/help\ncontact = postmaster@example.org\n")
    out = [read(os.path.join(ROOT, "etc", "policyd.ini")), base]
    out += [base + s for s in [
        b"[dnsbl zen.spamhaus.org]\ncodes = 127.0.0.[2..11]\nweight = 2\nipv6 = yes\n"
        b"help_url = https://check.spamhaus.org/results/?query=$client_address\n",
        b"[dnswl list.dnswl.org]\ncodes = 127.0.[0..255].[1..3]\nweight = -2\n",
        b"[rhsbl dbl.spamhaus.org]\ncheck = sender, helo, client_name, reverse_client_name\n",
        b"[hashbl hbl.spamhaus.org]\nzone = _email.hbl.test\ncheck = sender\nhash = md5\n"
        b"codes = 127.0.3.2\ntest_listed = Listed@hbl.test\ntest_unlisted = x@hbl.test\n",
        b"[list local]\nfile = /etc/passwd\nweight = 10\nreason = local\n",
        b"[list local]\nfile = /etc/hostname\n",
        b"[server]\nallow = 127.0.0.0/8, ::1, 192.0.2.0/24\nuser = root\nsocket_group = root\n"
        b"socket_mode = 0660\nmax_connections = 10\nidle_timeout = 5m\nrequest_timeout = 300ms\n"
        b"log = stderr\nlog_level = debug\nlisten = inet:[::1]:10040\n",
        b"[dns]\nnameserver = 127.0.0.1\nnameserver = [::1]:5353\ntimeout = 2s\ntries = 3\n",
        b"[cache]\nsize = 10\nmin_ttl = 1h\nmax_ttl = 1m\nnegative_ttl = 5m\nerror_ttl = 10s\n",
        b"[policy]\ntext = ${rbl_reason?$rbl_reason}${x:y} $$ $score $rbl_code $rbl_domains\n"
        b"action = prepend\non_error = defer\nskip_authenticated = no\nthreshold = 3\n",
        b"[policy]\ntext = ${unterminated\n",
        b"key = outside\n[unknown]\n[dnsbl]\n[dnsbl a b]\n[dnsbl x]\n[dnsbl x]\n",
        b"\xef\xbb\xbf[server]\nlisten = inet:1.2.3.4\n" + b"x" * 300 + b"\n\x00\n",
        b"[policy] ; comment\ntext = a ; inline\n# c\n  [dns]  \nnameserver 1.2.3.4\n",
    ]]
    return out


def template_seeds():
    def t(src, values, mx=400):
        body = struct.pack("<HH", mx, len(src)) + src
        for cls, v in values:
            body += bytes([cls]) + struct.pack("<H", len(v)) + v
        return body
    default = (b"Your host [$client_address] is blacklisted by $rbl_domain"
               b"${rbl_reason?: $rbl_reason}. See $help_url or send your questions to $contact")
    return [
        t(default, [(0, b"192.0.2.1"), (1, b"reason \x01\xff" * 60), (2, b"x" * 500),
                    (0, b"https://www.example.org/"), (4, b""), (8, b"null")]),
        t(default, [(1, b"r" * 1000)], 50),
        t(b"${a:empty}${b?set ${c}}{$$}{x}}$d_e9", [(2, b"v" * 300), (0, b"")], 20),
        t(b"${" * 17 + b"x", []),
        t(b"$", []), t(b"${}", []), t(b"${a!}", []), t(b"$" + b"a" * 300, [(1, b"q")]),
        t(b"".join(b"$m%d " % i for i in range(65)), []),
        t(b"\x00\x7f\n\t text", [], 3),
    ]


def cidr_seeds():
    out = [read(os.path.join(ROOT, "etc", "local.cidr"))]
    out += [
        b"192.0.2.0/24\n192.0.2.128/25\n192.0.3.0/24\n10.0.0.0/8\n0.0.0.0/0\n",
        b"2001:db8::/32\n2001:db8:1::/48\n::/0\n::ffff:192.0.2.1\n::1\nfe80::1%eth0\n",
        b"\xef\xbb\xbf192.0.2.1 # comment\r\n  198.51.100.7/32\t\n# only\n\nbad line\n1.2.3.4/33\n",
        b"127.0.0.[2..11]",
        b"127.0.[0..255].[1..3], 127.0.0.2 127.0.0.[2;4;6..8]",
        b"255.255.255.255/32\n0.0.0.0/32\n1.2.3.4/0\n::/128\n"
        b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127\n",
        b"1.2.3\n1.2.3.4.5\n01.2.3.4\n1.2.3.256\n1::2::3\n:::\n12345::\n1.2.3.4/\n1.2.3.4/-1\n",
    ]
    return out


def dns_name(name):
    return b"".join(bytes([len(p)]) + p for p in name.encode().split(b".") if p) + b"\0"


def dns_reply(name, qtype, answers, rcode=0, qid=0x1234, compress=True):
    """answers: list of (type, ttl, rdata)."""
    hdr = struct.pack(">HBBHHHH", qid, 0x81, 0x80 | rcode, 1, len(answers), 0, 0)
    q = dns_name(name) + struct.pack(">HH", qtype, 1)
    body = b""
    for rtype, ttl, rdata in answers:
        owner = b"\xc0\x0c" if compress else dns_name(name)
        body += owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata
    return hdr + q + body


def txt(*strings):
    return b"".join(bytes([len(s)]) + s for s in strings)


def dns_seeds():
    q = "2.0.0.127.x.test"
    a = lambda *o: bytes(o)
    out = []
    for sel in (0x00, 0x05, 0x0a, 0x1f):
        out.append(bytes([sel]) + dns_reply(q, 1, [(1, 60, a(127, 0, 0, 2))]))
    out += [
        b"\x00" + dns_reply(q, 1, [(1, 60, a(127, 0, 0, 2)), (1, 30, a(127, 0, 0, 10))]),
        b"\x01" + dns_reply(q, 1, [(1, 60, a(127, 255, 255, 254))]),
        b"\x02" + dns_reply(q, 1, [(1, 60, a(8, 8, 8, 8))]),
        b"\x00" + dns_reply(q, 1, [(5, 60, dns_name("other.test")), (1, 60, a(127, 0, 0, 4))]),
        b"\x00" + dns_reply(q, 1, [(1, 60, a(127, 0, 0, 2))], compress=False),
        b"\x00" + dns_reply(q, 16, [(16, 60, txt(b"Listed by x.test, see https://x.test/"))]),
        b"\x04" + dns_reply(q, 16, [(16, 60, txt(b"part one ", b"part two \x00\x01\xff"))]),
        b"\x1b" + dns_reply(q, 16, [(16, 60, txt(b"A" * 255, b"B" * 255, b"C" * 255))]),
        b"\x00" + dns_reply(q, 16, [(16, 60, txt(b"first")), (16, 60, txt(b"second"))]),
        b"\x00" + dns_reply(q, 16, [(16, 60, b"\x10short")]),
        b"\x00" + dns_reply(q, 1, [(1, 60, a(127, 0, 0))]),
        b"\x00" + dns_reply(q, 1, [(1, 60, a(127, 0, 0, 2))])[:40],
        b"\x00" + struct.pack(">HBBHHHH", 1, 0x81, 0x80, 1, 1, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
        b"\x03" + bytes([127, 0, 0, 2, 127, 0, 0, 3, 127, 0, 1, 5, 127, 255, 255, 255]),
        b"\x13" + bytes([127, 0, 0, 2]) * 3 + b"reason\x07\x1b[31m",
    ]
    return out


def page_seeds():
    """fuzz_page: a template, then fields (kind, name index, length, bytes)."""
    def t(src, fields):
        out = struct.pack("<H", len(src)) + src
        for kind, name, value in fields:
            out += bytes([kind, name]) + struct.pack("<H", len(value)) + value
        return out

    text, url, flag, lst, on = 0, 1, 2, 3, 4
    page = (b'<!DOCTYPE html>\n<h1>{{site}}</h1>\n{{#list}}<li>{{name}}'
            b'{{?url}} <a href="{{url}}">delist</a>{{/url}}{{?on}} hit{{/on}}</li>{{/list}}\n'
            b'<a href="mailto:{{a}}">{{a}}</a>{{^b}}none{{/b}}{{!comment}}')
    return [
        t(page, [(text, 6, b"Example <Org>"), (lst, 4, b"xx"), (text, 2, b'bl"."test'),
                 (url, 3, b"https://bl.test/?q=1&r=<2>"), (flag | on, 5, b""),
                 (text, 0, b"postmaster@example.org")]),
        t(page, [(url, 3, b"javascript:alert(1)"), (lst, 4, b"xxx"), (text, 2, b"\x00\x01\xff")]),
        t(b'<img src="{{url}}"><a href=\'{{x}}\'>{{x}}</a>', [(text, 7, b"https://x.test/\"<b>"),
                                                             (url, 3, b"http://x.test/'")]),
        t(b"{{?a}}{{#list}}{{#list}}{{name}}{{/list}}{{/list}}{{/a}}",
          [(text, 0, b"y"), (lst, 4, b"abc"), (text, 2, b"\xe2\x80\xae<>")]),
        t(b"line\n{{#a}}\n{{/b}}", []),
        t(b"{{unterminated", []),
        t(b"<a href={{url}}>", []),
        t(b"{{Bad name}}", []),
    ]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, seeds in [("request", request_seeds()), ("config", config_seeds()),
                        ("template", template_seeds()), ("cidr", cidr_seeds()),
                        ("dns_answer", dns_seeds()), ("page", page_seeds())]:
        d = os.path.join(sys.argv[1], name)
        os.makedirs(d, exist_ok=True)
        for s in seeds:
            with open(os.path.join(d, "seed-" + hashlib.sha1(s).hexdigest()[:16]), "wb") as f:
                f.write(s)


if __name__ == "__main__":
    main()
