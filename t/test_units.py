#!/usr/bin/env python3
"""The operations files: systemd units, sysusers.d file and man pages (TAP).

- `systemd-analyze verify` accepts policyd.service and policyd.socket (with the
  ExecStart binary replaced by the built one, $POLICYD) and finds their
  Documentation= man pages; the service's offline security exposure stays low;
  systemd-sysusers creates the user from policyd.sysusers.conf (in a scratch root).
- policyd.8 and policyd.ini.5 render with man, groff -ww and mandoc -Tlint
  without a single warning.
- Every key of the tables in policyd/config_keys.c has an entry in its section
  of policyd.ini.5, with the default of set_defaults() in policyd/config.c and
  the limits of the table; every choice word and section name is mentioned.
- Every option of policyd/main.c (getopt string and long options) is in policyd.8.

A tool that is not installed makes its tests "ok N # SKIP"; CI installs systemd,
man-db, groff-base and mandoc so that nothing is skipped there.
"""
import os
import re
import shutil
import subprocess
import tempfile

from lib.tap import Tap

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICYD = os.environ.get("POLICYD", os.path.join(SRC, "build", "policyd", "policyd"))
UNIT_DIR = os.path.join(SRC, "contrib", "systemd")
UNITS = ["policyd.service", "policyd.socket"]
SYSUSERS = os.path.join(UNIT_DIR, "policyd.sysusers.conf")
MAN8 = os.path.join(SRC, "man", "policyd.8")
MAN5 = os.path.join(SRC, "man", "policyd.ini.5")
MAX_EXPOSURE = 2.0

t = Tap()


def report(ok, name, detail="", skip=None):
    """One check through the TAP helper: a SKIP with its reason when `skip` says why
    it cannot run here, else ok or not ok with `detail` printed on failure."""
    if skip:
        t.skip(name, skip)
    else:
        t.ok(ok, name, detail)


def run(cmd, env=None, **kw):
    """Run cmd, return (rc, stdout, stderr) as text."""
    full_env = dict(os.environ, LC_ALL="C.UTF-8")
    if env:
        full_env.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=120, **kw)
    return p.returncode, p.stdout, p.stderr


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------- systemd units

def man_tree(root):
    """A MANPATH with our pages, so that verify can check Documentation=man:..."""
    for page, section in ((MAN8, "8"), (MAN5, "5")):
        d = os.path.join(root, "man" + section)
        os.makedirs(d, exist_ok=True)
        shutil.copy(page, d)
    return root


def test_units(tmp):
    analyze = shutil.which("systemd-analyze")
    unit_tmp = os.path.join(tmp, "units")
    os.makedirs(unit_tmp)
    for unit in UNITS:
        text = read(os.path.join(UNIT_DIR, unit))
        text = text.replace("/usr/sbin/policyd", os.path.abspath(POLICYD))
        with open(os.path.join(unit_tmp, unit), "w", encoding="utf-8") as f:
            f.write(text)
    paths = [os.path.join(unit_tmp, u) for u in UNITS]

    if analyze is None:
        report(True, "systemd-analyze verify policyd.service policyd.socket",
               skip="systemd-analyze not installed")
        report(True, "policyd.service security exposure", skip="systemd-analyze not installed")
    else:
        if not os.access(POLICYD, os.X_OK):
            report(False, "systemd-analyze verify policyd.service policyd.socket",
                   f"{POLICYD} is not built")
        else:
            env = {}
            args = [analyze, "verify"]
            if shutil.which("man"):
                env["MANPATH"] = man_tree(os.path.join(tmp, "man"))
            else:
                args.append("--man=no")
            rc, out, err = run(args + paths, env=env)
            # Warnings about our units fail the test; other units of the host do not.
            ours = [l for l in (out + err).splitlines() if "policyd" in l]
            report(rc == 0 and not ours, "systemd-analyze verify policyd.service policyd.socket",
                   f"rc={rc}\n{out}{err}")
        rc, out, err = run([analyze, "security", "--offline=yes", paths[0]])
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out + err)
        if m is None and ("offline" in err and "unrecognized" in err or rc != 0 and not out):
            report(True, "policyd.service security exposure",
                   skip="systemd-analyze security --offline unsupported")
        else:
            level = float(m.group(1)) if m else 99.0
            report(level <= MAX_EXPOSURE,
                   f"policyd.service security exposure {level} <= {MAX_EXPOSURE}",
                   out + err)

    service = read(os.path.join(UNIT_DIR, "policyd.service"))
    socket = read(os.path.join(UNIT_DIR, "policyd.socket"))
    required = {
        "service runs policyd -c in the foreground":
            r"^ExecStart=/usr/sbin/policyd -c /etc/policyd/policyd\.ini$",
        "service checks the configuration before starting":
            r"^ExecStartPre=/usr/sbin/policyd -t -c /etc/policyd/policyd\.ini$",
        "service reloads with SIGHUP": r"^ExecReload=/bin/kill -HUP \$MAINPID$",
        "service restarts on failure": r"^Restart=on-failure$",
        "service has no capabilities": r"^CapabilityBoundingSet=$",
        "service has its own user": r"^User=policyd$",
        "service is Type=simple or exec": r"^Type=(simple|exec)$",
        "service gets its sockets from policyd.socket": r"^Requires=policyd\.socket$",
    }
    for name, pattern in required.items():
        report(re.search(pattern, service, re.M) is not None, name, f"no line matches {pattern}")
    for pattern in (r"^ListenStream=/var/spool/postfix/private/policyd$", r"^SocketGroup=postfix$",
                    r"^SocketMode=0660$"):
        report(re.search(pattern, socket, re.M) is not None,
               f"socket has {pattern.strip('^$')}", "missing")
    # Any local user reaches a loopback TCP port: the package listens on the unix
    # socket only, and an administrator adds TCP addresses with a drop-in.
    streams = re.findall(r"^ListenStream=(.*)$", socket, re.M)
    report(streams == ["/var/spool/postfix/private/policyd"], "the socket unit listens on the unix socket only",
           f"ListenStream lines: {streams}")

    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        report(True, "systemd-sysusers creates the policyd user", skip="systemd-sysusers not installed")
    else:
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "etc"))
        rc, out, err = run([sysusers, "--root=" + root, SYSUSERS])
        passwd = read(os.path.join(root, "etc", "passwd")) if rc == 0 else ""
        report(rc == 0 and re.search(r"^policyd:x:\d+:\d+:", passwd, re.M) is not None,
               "systemd-sysusers creates the policyd user", f"rc={rc}\n{out}{err}{passwd}")


# ---------------------------------------------------------------- man pages: lint

def test_render(page):
    name = os.path.basename(page)
    if shutil.which("man"):
        rc, out, err = run(["man", "--warnings", "-l", page], env={"MANWIDTH": "80"})
        report(rc == 0 and not err.strip() and "NAME" in out and len(out.splitlines()) > 20,
               f"man -l {name} renders without warnings", f"rc={rc}\n{err}")
    else:
        report(True, f"man -l {name}", skip="man not installed")
    if shutil.which("groff"):
        rc, out, err = run(["groff", "-man", "-Tutf8", "-ww", "-z", page])
        report(rc == 0 and not (out + err).strip(), f"groff -ww {name}: no warnings",
               f"rc={rc}\n{out}{err}")
    else:
        report(True, f"groff -ww {name}", skip="groff not installed")
    if shutil.which("mandoc"):
        rc, out, err = run(["mandoc", "-Tlint", page])
        report(rc == 0 and not (out + err).strip(), f"mandoc -Tlint {name}: no messages",
               f"rc={rc}\n{out}{err}")
    else:
        report(True, f"mandoc -Tlint {name}", skip="mandoc not installed")


# ---------------------------------------------------------------- roff helpers

FONT_MACROS = {"B", "I", "BR", "RB", "BI", "IB", "IR", "RI"}


def roff_args(rest):
    """Split a macro's arguments as roff does: blanks separate, quotes group."""
    return [a if a[:1] != '"' else a[1:-1] for a in re.findall(r'"[^"]*"|\S+', rest)]


def plain(line):
    """One roff line as plain text (font macros joined, escapes resolved), or ''."""
    if line.startswith("."):
        m = re.match(r"\.(\w+)\s*(.*)", line)
        if not m or m.group(1) not in FONT_MACROS:
            return ""
        line = "".join(roff_args(m.group(2)))
    for esc, repl in (("\\-", "-"), ("\\(lq", '"'), ("\\(rq", '"'), ("\\(em", "-"),
                      ("\\(bu", "*"), ("\\(aq", "'"), ("\\e", "\\"), ("\\&", "")):
        line = line.replace(esc, repl)
    return line


def key_entries(src):
    """{section heading: {key: (group of keys, plain body)}} of '.BI key " = ..."' entries."""
    sections = {}
    heading = ""
    lines = src.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".SH"):
            heading = " ".join(roff_args(line[3:]))
            sections.setdefault(heading, {})
        m = re.match(r'\.BI ([a-z_0-9]+) " = ', line)
        if m and lines[i - 1] in (".TP", ".TQ") or m and lines[i - 1].startswith(".TP "):
            group = [m.group(1)]
            i += 1
            while i + 1 < len(lines) and lines[i] == ".TQ":
                m2 = re.match(r'\.BI ([a-z_0-9]+) " = ', lines[i + 1])
                if not m2:
                    break
                group.append(m2.group(1))
                i += 2
            body = []
            while i < len(lines) and not re.match(r"\.(TP|SH|SS)\b", lines[i]):
                body.append(plain(lines[i]))
                i += 1
            text = " ".join(t for t in body if t)
            for k in group:
                sections[heading][k] = (group, text)
            continue
        i += 1
    return sections


# ---------------------------------------------------------------- sources

def config_tables():
    """{table: [(key, kind, field, min, max)]} from policyd/config_keys.c."""
    src = read(os.path.join(SRC, "policyd", "config_keys.c"))
    tables = {}
    for name, body in re.findall(r"static const struct key_spec (\w+)_keys\[\] = \{(.*?)\n\};", src, re.S):
        tables[name] = [
            (k, kind, field, int(lo), int(hi))
            for k, kind, field, lo, hi in re.findall(
                r'\{ "([a-z_0-9]+)", (V_\w+), (?:CFG|LST|RUL)?\(?(\w+)\)?, (-?\d+), (-?\d+),', body)]
    choices = re.findall(r"choices\[\] = \{(.*?)\};", src, re.S)
    words = [w for c in choices for w in re.findall(r'"([a-z_]+)"', c)]
    sections = re.findall(r'"([a-z]+)"', " ".join(
        re.findall(r"(?:singletons|lists)\[\] = \{(.*?)\};", src, re.S)))
    return tables, words, sections


def config_defaults():
    """{field: value text} from set_defaults() in policyd/config.c."""
    src = read(os.path.join(SRC, "policyd", "config.c"))
    body = re.search(r"static void set_defaults\(struct config \*cfg\)\s*\{(.*?)\n\}", src, re.S)
    return dict(re.findall(r"(?:cfg|r)->(\w+) = ([^;]+);", body.group(1))) if body else {}


def duration_ms(text):
    """'5m' -> 300000, '10 days' -> ..., '300' -> 300000; None if not a duration."""
    m = re.fullmatch(r"(\d+)\s*(ms|s|m|h|days?)?", text)
    if not m:
        return None
    unit = {None: 1000, "ms": 1, "s": 1000, "m": 60000, "h": 3600000, "day": 86400000,
            "days": 86400000}[m.group(2)]
    return int(m.group(1)) * unit


SECTION_OF_TABLE = {
    "server": "[server] SECTION", "dns": "[dns] SECTION", "cache": "[cache] SECTION",
    "policy": "[policy] SECTION", "http": "[http] SECTION", "list": "LIST SECTIONS",
    "greylist": "[greylist] SECTION",
}


def test_keys():
    tables, words, section_names = config_tables()
    defaults = config_defaults()
    src5 = read(MAN5)
    entries = key_entries(src5)
    report(set(tables) == set(SECTION_OF_TABLE),
           "config_keys.c has the tables this test knows", f"tables: {sorted(tables)}")
    for table, keys in tables.items():
        heading = SECTION_OF_TABLE.get(table, "?")
        documented = entries.get(heading, {})
        for key, kind, field, lo, hi in keys:
            name = f"policyd.ini.5 {heading.split()[0]}: {key}"
            if key not in documented:
                report(False, f"{name} is documented", f"no '.BI {key} \" = ...' entry in {heading}")
                continue
            group, text = documented[key]
            problems = []
            if kind == "V_LONG" and f"{lo} to {hi}" not in text:
                problems.append(f"limits '{lo} to {hi}' not in: {text}")
            if kind == "V_DURATION":
                m = re.search(r"\b(\d+(?:ms|s|m|h| days?)?) to (\d+(?:ms|s|m|h| days?))", text)
                low = m and (0 if m.group(1) == "0" else duration_ms(m.group(1)))
                if not m or duration_ms(m.group(2)) != hi or low != lo:
                    problems.append(f"limits {lo} to {hi} ms not stated as 'LOW to HIGH' in: {text}")
            if field in defaults and kind in ("V_LONG", "V_DURATION", "V_BOOL"):
                want = defaults[field].strip()
                m = re.search(r"Defaults?: (.*?)(?:\.\s|\.$|$)", text)
                got = None
                if m:
                    values = re.split(r",? and |, ", m.group(1))
                    idx = group.index(key) if len(values) == len(group) else 0
                    got = values[idx].strip().rstrip(".")
                if kind == "V_DURATION":
                    ok = got is not None and duration_ms(got) == int(want)
                elif kind == "V_LONG":
                    ok = got == want
                else:
                    ok = got == {"true": "yes", "false": "no"}.get(want)
                if not ok:
                    problems.append(f"default {want} (set_defaults) but the page says {got!r}")
            report(not problems, f"{name} is documented with its limits and default",
                   "\n".join(problems))
    text5 = " ".join(plain(l) for l in src5.splitlines())
    missing = [w for w in sorted(set(words)) if not re.search(rf"\b{w}\b", text5)]
    report(not missing, "policyd.ini.5 mentions every choice word of config_keys.c",
           f"missing: {missing}")
    missing = [s for s in section_names if f"[{s}" not in text5]
    report(not missing, "policyd.ini.5 documents every section", f"missing: {missing}")


def test_options():
    src = read(os.path.join(SRC, "policyd", "main.c"))
    longs = re.findall(r'\{ "([a-z-]+)", (?:no|required|optional)_argument', src)
    m = re.search(r'getopt_long\(argc, argv, "([^"]+)"', src)
    shorts = re.sub(r":", "", m.group(1)) if m else ""
    src8 = read(MAN8)
    report(bool(longs) and bool(shorts), "main.c options found",
           f"long={longs} short={shorts!r}")
    for opt in longs:
        roff = "\\-\\-" + opt.replace("-", "\\-")
        found = re.search(rf"^\.(?:BI|BR|B) (?:.* )?{re.escape(roff)}\b", src8, re.M)
        report(found is not None, f"policyd.8 documents --{opt}", f"no '.B {roff}' line")
    for opt in shorts:
        found = re.search(rf"^\.(?:BI|BR|B) \\-{opt}\b", src8, re.M)
        report(found is not None, f"policyd.8 documents -{opt}", f"no '.B \\-{opt}' line")
    for section in ("SYNOPSIS", "OPTIONS", "CHECK MODE", "SIGNALS", "LOGGING", "FILES",
                    "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        report(re.search(rf'^\.SH "?{section}"?$', src8, re.M) is not None,
               f"policyd.8 has a {section} section", "missing")
    for sig in ("SIGHUP", "SIGTERM", "SIGINT", "SIGUSR1"):
        report(sig in src8 and sig in src, f"policyd.8 documents {sig}", "missing")


def test_module_map():
    """doc/HACKING.md's module map names every file of common/ and policyd/ once, and no other."""
    doc = read(os.path.join(SRC, "doc", "HACKING.md"))
    rows = re.findall(r"^\| `((?:common|policyd)/[^`]+)` \| (.+?) \|$", doc, re.M)
    named = [f for f, _ in rows]
    want = set()
    for folder in ("common", "policyd"):
        for name in os.listdir(os.path.join(SRC, folder)):
            base, ext = os.path.splitext(name)
            if ext == ".c" or (ext == ".h" and not os.path.exists(os.path.join(SRC, folder, base + ".c"))):
                want.add(f"{folder}/{name}")
    twice = sorted({f for f in named if named.count(f) > 1})
    report(not twice, "doc/HACKING.md names each file once", f"twice: {twice}")
    report(set(named) == want, "doc/HACKING.md's module map matches the files of common/ and policyd/",
           f"not in the map: {sorted(want - set(named))}\nnot in the tree: {sorted(set(named) - want)}")
    report(all(len(job.split()) >= 4 for _, job in rows), "each file's job is said in a line")


def test_test_map():
    """doc/HACKING.md's map of t/ names every t/*.py and every file of t/lib/ once, and no other."""
    doc = read(os.path.join(SRC, "doc", "HACKING.md"))
    rows = re.findall(r"^\| `(t/[^`]+)` \| (.+?) \| (.+?) \|$", doc, re.M)
    named = [f for f, _, _ in rows]
    want = {f"t/{name}" for name in os.listdir(os.path.join(SRC, "t")) if name.endswith(".py")}
    want |= {f"t/lib/{name}" for name in os.listdir(os.path.join(SRC, "t", "lib"))
             if os.path.isfile(os.path.join(SRC, "t", "lib", name))}
    twice = sorted({f for f in named if named.count(f) > 1})
    report(not twice, "doc/HACKING.md's map of t/ names each file once", f"twice: {twice}")
    report(set(named) == want, "doc/HACKING.md's map of t/ matches t/*.py and t/lib/",
           f"not in the map: {sorted(want - set(named))}\nnot in the tree: {sorted(set(named) - want)}")
    report(all(len(covers.split()) >= 4 and needs.strip() for _, covers, needs in rows),
           "each test file and helper says what it covers and what it needs")


def test_format():
    """The C of common/ and policyd/ is as .clang-format lays it out (the house style)."""
    tool = shutil.which("clang-format")
    files = sorted(os.path.join(folder, name) for folder in ("common", "policyd")
                   for name in os.listdir(os.path.join(SRC, folder)) if name.endswith((".c", ".h")))
    if tool is None:
        report(False, "the C sources are formatted by .clang-format", skip="clang-format not installed")
        return
    # Debian 12 has clang-format 14 and Debian 13 clang-format 19, whose layouts differ
    # in places: the sources must be a fixed point of both (CI checks each), and the
    # line names the version that judged them.
    version = re.search(r"version (\d+[.\d]*)", run([tool, "--version"])[1])
    rc, out, err = run([tool, "--dry-run", "-Werror", *files], cwd=SRC)
    report(rc == 0, f"the {len(files)} C sources of common/ and policyd/ are formatted by .clang-format "
           f"(clang-format {version.group(1) if version else '?'}; clang-format -i to fix)",
           "\n".join(err.splitlines()[:20]))


def test_messages_whole():
    """No message is split into string literals (other than at a line feed), so that
    every log line and error can be found in the source by grep."""
    split = re.compile(r'(?<!\\n)"[ \t]*\n[ \t]*"')
    found = []
    for folder in ("common", "policyd"):
        for name in sorted(os.listdir(os.path.join(SRC, folder))):
            if name.endswith((".c", ".h")):
                text = read(os.path.join(SRC, folder, name))
                found += [f"{folder}/{name}:{text.count(chr(10), 0, m.start()) + 1}" for m in split.finditer(text)]
    report(not found, "no message of common/ or policyd/ is split into string literals", "\n".join(found[:20]))


def test_seams():
    """Calls cross the seam between the server and its connections one way: server.c
    includes conn.h; conn.c and conn.h include nothing of the server (they reach it
    through struct conn_host's calls), so no include circle can hide a shared list."""
    found = []
    for name in ("conn.c", "conn.h"):
        text = read(os.path.join(SRC, "policyd", name))
        found += [f"policyd/{name}: {m.group(0)}"
                  for m in re.finditer(r'^#include "(server[^"]*|main)\.h"', text, re.M)]
    report(not found, "conn.c and conn.h include nothing of server.c (one-way seam)", "\n".join(found))
    server = read(os.path.join(SRC, "policyd", "server.c"))
    report('#include "conn.h"' in server, "server.c includes conn.h")


def main():
    test_seams()
    test_module_map()
    test_test_map()
    test_format()
    test_messages_whole()
    with tempfile.TemporaryDirectory(prefix="policyd-units-") as tmp:
        t.run("test_units", test_units, tmp)
    for page in (MAN8, MAN5):
        t.run(f"test_render {os.path.basename(page)}", test_render, page)
    t.run("test_keys", test_keys)
    t.run("test_options", test_options)
    t.done()


if __name__ == "__main__":
    main()
