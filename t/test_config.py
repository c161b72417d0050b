#!/usr/bin/env python3
"""Integration: `policyd -t` reports every configuration error as FILE:LINE (the
command line, the sections and their keys), accepts the sample configuration,
and keeps long lines whole."""

import os
import shutil
import subprocess
import tempfile

from lib.daemon import POLICYD, Policyd, Tap, closed_by_peer, read_replies, request

t = Tap()
tmp = tempfile.mkdtemp(prefix="policyd-config-")
HEAD = "[server]\nlisten = inet:127.0.0.1:10040\n[policy]\nhelp_url = https://h.example/?ip=$client_address\ncontact = pm@example.org\n"


def check(text, name="bad.ini"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    p = subprocess.run([POLICYD, "-t", "-c", path], capture_output=True, text=True, timeout=10, env=env)
    return p.returncode, p.stdout, p.stderr, path


# (description, file text, expected line number, expected message part)
CASES = [
    ("unknown section", HEAD + "[serverr]\n", 6, "unknown section [serverr]"),
    ("unknown key", HEAD + "[server]\nlisten_on = x\n", 7, "unknown key 'listen_on'"),
    ("key outside a section", "listen = inet:127.0.0.1:1\n" + HEAD, 1, "outside of any section"),
    ("bad duration", HEAD + "[server]\nidle_timeout = 5 minutes\n", 7, "idle_timeout: not a duration"),
    ("bad number", HEAD + "[cache]\nsize = lots\n", 7, "size: not a number"),
    ("number out of range", HEAD + "[dns]\ntries = 99\n", 7, "tries: number out of range"),
    ("bad boolean", HEAD + "[policy]\nskip_authenticated = maybe\n", 7, "expected yes or no"),
    ("bad action", HEAD + "[policy]\naction = bounce\n", 7, "expected one of: reject defer warn prepend"),
    ("bad recipient_delimiter", HEAD + "[policy]\nrecipient_delimiter = +@\n", 7, "recipient_delimiter: '@' cannot start an address extension"),
    ("relative unix path", HEAD + "[server]\nlisten = unix:policyd.sock\n", 7, "must be absolute"),
    ("unix path too long", HEAD + "[server]\nlisten = unix:/" + "a" * 120 + "\n", 7, "unix socket path too long"),
    ("inet without port", HEAD + "[server]\nlisten = inet:127.0.0.1\n", 7, "listen:"),
    ("host name instead of address", HEAD + "[server]\nlisten = inet:localhost:10040\n", 7, "not a numeric"),
    ("bad allow item", HEAD + "[server]\nallow = 127.0.0.0/8, 10.0.0.0/33\n", 7, "allow:"),
    ("bad codes", HEAD + "[dnsbl zen.spamhaus.org]\ncodes = 127.0.0.[2..300]\n", 7, "codes:"),
    ("bit mask 0 in codes", HEAD + "[dnsbl multi.uribl.com]\ncodes = 127.0.0.&0\n", 7, "codes: bit mask out of range (1..255)"),
    ("bit mask 256 in codes", HEAD + "[dnsbl multi.uribl.com]\ncodes = 127.0.0.&2, 127.0.0.&256\n", 7, "codes: bit mask out of range (1..255)"),
    ("refused_codes outside 127/8", HEAD + "[dnswl list.dnswl.org]\nrefused_codes = 10.0.0.1\n", 7, "refused_codes: a refusal answer must be inside 127.0.0.0/8"),
    ("refused_codes not an address", HEAD + "[dnsbl a.example]\nrefused_codes = 127.0.0.[1..2]\n", 7, "refused_codes: expected a number"),
    ("refused_codes in a local list", HEAD + "[list local]\nfile = /etc/hosts\nrefused_codes = 127.0.0.1\n", 8, "unknown key 'refused_codes'"),
    ("bad health", HEAD + "[dnsbl a.example]\nhealth = sometimes\n", 7, "health: expected rfc5782 or off"),
    ("bad ipv6", HEAD + "[dnsbl a.example]\nipv6 = perhaps\n", 7, "ipv6: expected auto, yes or no"),
    ("ipv6 in an rhsbl", HEAD + "[rhsbl a.example]\nipv6 = auto\n", 7, "unknown key 'ipv6'"),
    ("test point not IPv4", HEAD + "[dnsbl a.example]\ntest_listed = 2001:db8::2\n", 7, "test_listed: expected an IPv4 address"),
    ("test point not a domain", HEAD + "[rhsbl a.example]\ntest_unlisted = not..here\n", 7, "test_unlisted: expected a domain"),
    ("test point of a local list", HEAD + "[list local]\nfile = /etc/hosts\ntest_listed = 127.0.0.2\n", 8, "unknown key 'test_listed'"),
    ("bad mode", HEAD + "[dnsbl a.example]\nmode = watch\n", 7, "expected one of: enforce observe"),
    ("mode in a local list", HEAD + "[list local]\nfile = /etc/hosts\nmode = observe\n", 8, "unknown key 'mode'"),
    ("bad clients", HEAD + "[rhsbl a.example]\nclients = sasl\n", 7, "expected one of: unauthenticated authenticated all"),
    ("bad template", HEAD + "[policy]\ntext = Refused ${client_address\n", 7, "text:"),
    ("duplicate key", HEAD + "[dns]\ntimeout = 2s\ntimeout = 3s\n", 8, "given twice"),
    ("duplicate list", HEAD + "[dnsbl a.example]\n[dnsbl a.example]\n", 7, "already defined at line 6"),
    ("list without a name", HEAD + "[dnsbl]\n", 6, "needs one name"),
    ("list without file", HEAD + "[list local]\nweight = 5\n", 6, "needs file = PATH"),
    ("missing local list file", HEAD + "[list local]\nfile = /nonexistent/x.cidr\n", 6, "cannot read /nonexistent/x.cidr"),
    ("min_ttl above max_ttl", HEAD + "[cache]\nmin_ttl = 2h\nmax_ttl = 1h\n", 7, "min_ttl is larger than max_ttl"),
    ("contact missing", "[server]\nlisten = inet:127.0.0.1:1\n[policy]\nhelp_url = x\n", 3, "set contact"),
    ("line without '='", HEAD + "[server]\njust some words\n", 7, "expected 'key = value'"),
    ("header without ']'", HEAD + "[server\n", 6, "without ']'"),
    ("key in wrong list kind", HEAD + "[dnsbl a.example]\nfile = /etc/hosts\n", 7, "unknown key 'file'"),
    ("unknown user", HEAD + "[server]\nuser = no-such-user-here\n", 7, "no such user"),
    ("empty reply text", HEAD + "[policy]\ntext =\n", 7, "text: empty value"),
    ("junk after a header", HEAD + "[server] junk\n", 6, "junk after the section header"),
    ("no listen address", "[server]\nlog = stderr\n" + HEAD.split("\n", 2)[2], 1, "needs at least one listen"),
]


def test_cases():
    for desc, text, line, message in CASES:
        rc, out, err, path = check(text)
        want = f"{path}:{line}: "
        lines = [l for l in err.splitlines() if l.startswith(want) and message in l]
        t.ok(rc == 1 and lines, f"{desc}: exit 1 and '{want}...{message}'", err)


def test_all_errors_reported():
    text = HEAD + "[server]\nidle_timeout = x\n[cache]\nsize = -5\n[nope]\n[dns]\ntries = 0\n"
    rc, out, err, path = check(text)
    t.eq(len(err.splitlines()), 4, "four errors in one file: four FILE:LINE lines")


def test_list_file_error():
    listfile = os.path.join(tmp, "local.cidr")
    with open(listfile, "w") as f:
        f.write("# comment\n192.0.2.0/24\nnot-an-address\n2001:db8::/32\n")
    rc, out, err, path = check(HEAD + f"[list local]\nfile = {listfile}\n")
    t.ok(rc == 1 and f"{listfile}:3: " in err, "a bad line in a local list file is reported as LISTFILE:LINE", err)


def test_ok_configs():
    rc, out, err, path = check(HEAD + "[dnsbl zen.spamhaus.org]\n[dnswl list.dnswl.org]\n[rhsbl dbl.spamhaus.org]\n", "good.ini")
    t.ok(rc == 0 and out.strip() == "policyd: configuration OK", "a valid file: 'policyd: configuration OK', exit 0", err)
    # The sample is part of the repository: its absence is a failure, not a reason to skip.
    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "etc", "policyd.ini")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    p = subprocess.run([POLICYD, "-t", "-c", sample], capture_output=True, text=True, timeout=10, env=env, cwd=os.path.dirname(sample) + "/..")
    t.ok(p.returncode == 0, "the sample configuration etc/policyd.ini passes -t", p.stderr)


def test_long_line_survives():
    """A 1,000-byte allow line whose last item is the only one that admits 127.0.0.1:
    if inih cut the line, the client would be refused."""
    items = ", ".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(80)) + ", 127.0.0.1"
    t.ok(len(items) > 1000, f"the allow line is {len(items)} bytes long")
    with Policyd(server=f"allow = {items}\n") as d:
        with d.connect("tcp") as s:
            s.sendall(request())
            t.eq(read_replies(s, 1), ["action=DUNNO"], "a client admitted by the last item of a long line is served")
        with d.connect("tcp", source="127.0.0.3") as s:
            t.ok(closed_by_peer(s), "a client not on the long line is refused")


def test_t_opens_no_socket():
    path = os.path.join(tmp, "sock-t.sock")
    rc, out, err, _ = check(f"[server]\nlisten = unix:{path}\n[policy]\nhelp_url = x\ncontact = y@example.net\n", "t.ini")
    t.ok(rc == 0 and not os.path.exists(path), "-t validates without creating the socket", err)


def test_sample_check_offline():
    """The README's first --check: the sample configuration on a host whose DNS
    lists are all unreachable (a nameserver where nothing answers). 192.0.2.99 is
    on the sample's local list: a refusal, exit 1, with the warning that no DNS
    list was asked; an address no local list holds passes with nothing looked up:
    exit 2, the answer says nothing about the lists."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "etc", "policyd.ini")) as f:
        text = f.read()
    text = text.replace(";nameserver = 127.0.0.1\n", "nameserver = 127.0.0.1:9\n", 1)
    # Beside a copy of the sample's list file: its path is relative to the configuration.
    conf = os.path.join(tmp, "offline", "policyd.ini")
    os.makedirs(os.path.dirname(conf))
    shutil.copy(os.path.join(root, "etc", "local.cidr"), os.path.dirname(conf))
    with open(conf, "w") as f:
        f.write(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    # Both at once: each waits for the health checks to give up (the DNS timeout).
    procs = {a: subprocess.Popen([POLICYD, "-c", conf, "--check", a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env) for a in ("192.0.2.99", "192.0.2.10")}
    runs = {}
    for a, proc in procs.items():
        out, err = proc.communicate(timeout=30)
        runs[a] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    p = runs["192.0.2.99"]
    t.ok(p.returncode == 1 and p.stdout.startswith("action=REJECT") and "every DNS list is disabled" in p.stderr,
         "--check 192.0.2.99 offline: the local list's refusal, exit 1, and the warning", f"rc={p.returncode}\n{p.stdout}{p.stderr}")
    p = runs["192.0.2.10"]
    t.ok(p.returncode == 2 and p.stdout.startswith("action=DUNNO") and "every DNS list is disabled" in p.stderr,
         "--check 192.0.2.10 offline: a pass with nothing looked up is an error, exit 2", f"rc={p.returncode}\n{p.stdout}{p.stderr}")


for fn in (test_cases, test_all_errors_reported, test_list_file_error, test_ok_configs, test_long_line_survives, test_t_opens_no_socket,
           test_sample_check_offline):
    t.run(fn.__name__, fn)
t.done()
