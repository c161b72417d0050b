#!/usr/bin/env python3
"""The Debian package, as an administrator meets it, in TAP.

What it does, as root, on this machine, leaving it as it found it:

1. Copies the source tree (tracked and untracked files, not ignored ones: no
   build directories) into a temporary directory and builds the package there:
   DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b.
2. Runs lintian on the .changes: any E: or W: line fails (overrides live in
   debian/ with their reason).
3. Checks the .deb: /etc/policyd/policyd.ini and local.cidr are conffiles, the
   whole of contrib/help/ is in /usr/share/policyd/help/, the nginx examples are
   in /usr/share/doc/policyd/examples/nginx/ and pass `nginx -t` inside a
   throwaway nginx configuration (skipped when nginx is not installed; CI
   installs it).
4. `apt-get install ./policyd_*.deb`: the sysusers.d user exists, the socket
   unit is enabled (and the service is not: socket activation starts it),
   `policyd -t` accepts the installed configuration, `systemd-analyze verify`
   accepts the installed units.
5. The socket of the socket unit (see below).
6. Edits both conffiles, reinstalls the same .deb (the edits survive), then
   upgrades to a rebuilt package with a bumped version whose sample
   policyd.ini changed: dpkg keeps the edited file (--force-confold, as an
   administrator answering "keep" would) and puts the new sample beside it as
   policyd.ini.dpkg-dist; the unchanged local.cidr stays edited without a word.
7. `apt-get remove`: the program files are gone, the conffiles stay;
   `apt-get purge`: every path the package brought is gone, /etc/policyd too.
   Debian policy keeps the system user "policyd" after a purge (its uid may
   still own files somewhere); the test checks that it is there, then deletes
   it itself when it did not exist before the test.

Every step has a time limit. The end (even after a failure) purges the package,
purges any package that apt pulled in for it, ends the systemd (or, in the
fallback, the policyd) that the test started, by its PID, removes the socket
file and cgroups it made and the user the package made, and checks that no package it installed is left. It skips (fails under
CI) when a policyd is already installed here, whether packaged or by `meson
install` into /usr and /etc: it never replaces or purges someone's policyd.

The socket's owner and mode, without a running systemd
-------------------------------------------------------
There is no systemd as PID 1 on this machine, so the test runs one of its own:

- First, `systemd --test --system --unit=policyd.socket` (as "nobody": systemd
  refuses test mode as root; generators off) loads the installed unit from the
  standard paths, drop-ins included, with systemd's own parser and dumps the
  effective settings. The test checks them: ListenStream
  /var/spool/postfix/private/policyd only (no TCP by default), SocketUser policyd,
  SocketGroup postfix, SocketMode 0660, RemoveOnStop yes, and that the socket
  triggers policyd.service.
- Then the real thing (TransientSystemd): `unshare` starts /lib/systemd/systemd
  as PID 1 of new PID, mount, network, UTS, IPC and cgroup namespaces, with its
  own /run, a cgroup v2 subtree made under the test's own cgroup, a network
  namespace with only loopback, and a unit path holding only the installed
  policyd.socket and policyd.service (plus an empty sysinit.target). It shares
  the file system, so it creates the real socket file, which the test checks
  (a socket, owner policyd, group postfix, mode 0660). A client that does what
  Postfix's smtpd does (chroot to /var/spool/postfix, become postfix:postfix,
  connect to private/policyd) makes systemd start policyd.service on that first
  connection, with the unit's user and sandbox; the installed policyd answers
  with the installed configuration (192.0.2.99 refused by local.cidr, 192.0.2.10
  passed). The test checks that the service runs as policyd with no
  capabilities, no_new_privs and a seccomp filter, that nothing listens on
  127.0.0.1:10063 inside the namespace, and that `systemctl stop` ends policyd cleanly and
  removes the socket file. Then it kills that systemd by its PID, which ends
  every process of its PID namespace, and removes its cgroups.
- Where that systemd cannot run (no unshare, no cgroup v2 to make a subtree in),
  or with POLICYD_PACKAGE_EMULATE_SOCKET=1, the test says so (SKIP) and falls
  back to an emulation: it makes the sockets from the dumped settings as
  systemd's socket.c does (parent directories with DirectoryMode, bind under
  umask ~SocketMode, listen, chown to SocketUser:SocketGroup), checks the file,
  and hands the sockets to the installed policyd (as user policyd, with
  LISTEN_FDS and LISTEN_PID) for the same client checks.

What this does not prove: the order of things at boot (sysinit.target is a stub,
only the two policyd units are loaded, so drop-ins under /etc are not applied in
that run and there is no journal or syslog; the package's postinst made the
user, and Postfix made its spool directory, before the socket started), DNS
lookups from inside the sandbox (the namespace has no network), security labels
(SELinux, AppArmor), and the emulation, where it is used, is not systemd.

Run as root: python3 t/test_package.py (from meson: `meson test -C build
--suite package`). It builds the package twice and takes one to three minutes here.
"""

import fcntl
import glob
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

from lib.daemon import read_replies, request
from lib.tap import Tap

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = "policyd"
CONFFILES = ["/etc/policyd/policyd.ini", "/etc/policyd/local.cidr"]
# Where the package's units are: Debian 13's debhelper installs them in
# /usr/lib/systemd/system, Debian 12's in /lib/systemd/system (debian/rules). On a
# merged /usr, as both are, the two name one directory.
UNITDIRS = ("/usr/lib/systemd/system", "/lib/systemd/system")
SOCKET_PATH = "/var/spool/postfix/private/policyd"
# What Debian policy lets a purge leave behind: the system user (and its group).
KEPT_BY_POLICY = "the system user policyd"

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
# Keep the administrator's edited conffile, as answering "N" to dpkg's question
# would; the package's new version lands beside it as .dpkg-dist.
KEEP_CONFFILES = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]

t = Tap()


def run(cmd, timeout=120, env=None, cwd=None, user=None, stdin=None):
    """Run cmd (its own process group, ended by its PID on timeout); returns
    (returncode, stdout and stderr together)."""
    full_env = dict(os.environ, LC_ALL="C.UTF-8")
    full_env.update(env or {})
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=full_env, cwd=cwd, start_new_session=True,
                         stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         user=user)
    try:
        out, _ = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return -1, f"{out}\n(timed out after {timeout} s: {' '.join(cmd)})"
    return p.returncode, out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def pkg_status():
    """dpkg's status word for the package ('installed', 'config-files', ...) or None."""
    rc, out = run(["dpkg-query", "-W", "-f=${db:Status-Status}", PKG])
    return out.strip() if rc == 0 and out.strip() not in ("", "not-installed") else None


def installed_packages():
    rc, out = run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n"])
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def installed_unit(unit):
    """The path of an installed unit of the package (the first of UNITDIRS that has it)."""
    return next((path for path in (os.path.join(d, unit) for d in UNITDIRS) if os.path.lexists(path)),
                os.path.join(UNITDIRS[0], unit))


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def copy_tree(dest):
    """The source tree without build directories: git's tracked and untracked,
    not ignored, files when it is a checkout, else everything but build*/."""
    os.makedirs(dest)
    rc, out = run(["git", "-C", SRC, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    if rc == 0 and out:
        names = [n for n in out.split("\0") if n and os.path.lexists(os.path.join(SRC, n))]
    else:
        names = []
        for root, dirs, files in os.walk(SRC):
            rel = os.path.relpath(root, SRC)
            dirs[:] = [d for d in dirs if not (rel == "." and (d.startswith("build") or d == ".git"))]
            names += [os.path.normpath(os.path.join(rel, f)) for f in files]
    for n in names:
        os.makedirs(os.path.dirname(os.path.join(dest, n)), exist_ok=True)
        shutil.copy2(os.path.join(SRC, n), os.path.join(dest, n), follow_symlinks=False)


def build(tree, name, again=False):
    """dpkg-buildpackage in tree; the .deb's path, or None after a failed check.
    again: the tree was built before and only debian/changelog and the sample
    configuration changed: no clean (-nc), so the compiled program is reused."""
    started = time.monotonic()
    rc, out = run(["dpkg-buildpackage", "-us", "-uc", "-b"] + (["-nc"] if again else []), timeout=600, cwd=tree,
                  env={"DEB_BUILD_OPTIONS": "nocheck parallel=2"})
    version = changelog_version(tree)
    debs = glob.glob(os.path.join(os.path.dirname(tree), f"{PKG}_{version}_*.deb"))
    ok = t.ok(rc == 0 and len(debs) == 1,
              f"{name}: dpkg-buildpackage -us -uc -b{' -nc' if again else ''} builds {PKG}_{version}_*.deb "
              f"({time.monotonic() - started:.0f} s)", f"rc={rc}\n{out}")
    return debs[0] if ok else None


def changelog_version(tree):
    m = re.match(r"\S+ \(([^)]+)\)", read(os.path.join(tree, "debian", "changelog")))
    return m.group(1) if m else "?"


# Packages that apt installed because the test asked it to (the package's
# dependencies, if any were missing): purged at the end.
pulled_in = set()


def apt(*args, timeout=300):
    """apt-get, waiting up to a minute for the dpkg lock (others may be running apt)."""
    rc, out = run(["apt-get", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=60"] + list(args),
                  timeout=timeout, env=APT_ENV)
    m = re.search(r"^The following NEW packages will be installed:\n((?:  .*\n)+)", out, re.M)
    if m and args[0] == "install":
        pulled_in.update(p for p in m.group(1).split() if p != PKG)
    return rc, out


# ---------------------------------------------------------------- the .deb itself

def check_deb(deb, tmp):
    listing = run(["dpkg-deb", "-c", deb])[1]
    conffiles = run(["dpkg-deb", "-I", deb, "conffiles"])[1].split()
    for path in CONFFILES:
        t.ok(path in conffiles, f"{path} is a conffile", f"conffiles: {conffiles}")
    paths = {re.sub(r"^\./", "/", line.split()[-1]).rstrip("/") for line in listing.splitlines()}
    help_src = sorted(os.listdir(os.path.join(SRC, "contrib", "help")))
    missing = [f for f in help_src if f"/usr/share/policyd/help/{f}" not in paths]
    t.ok(help_src and not missing, f"/usr/share/policyd/help/ has all of contrib/help/ ({len(help_src)} files)",
         f"missing: {missing}")
    unitdir = next((d for d in UNITDIRS if f"{d}/policyd.service" in paths), UNITDIRS[0])
    wanted = [f"{unitdir}/policyd.service", f"{unitdir}/policyd.socket", "/usr/lib/sysusers.d/policyd.conf",
              "/usr/sbin/policyd", "/usr/share/man/man8/policyd.8.gz", "/usr/share/man/man5/policyd.ini.5.gz"]
    t.ok(all(p in paths for p in wanted),
         f"the package has the daemon, units (in {unitdir}), sysusers file and man pages",
         f"missing: {[p for p in wanted if p not in paths]}")
    examples = sorted(p for p in paths if p.startswith("/usr/share/doc/policyd/examples/nginx/") and p.endswith(".conf"))
    t.ok(len(examples) >= 2, "the nginx examples are in /usr/share/doc/policyd/examples/nginx/", "\n".join(sorted(paths)))
    check_nginx(deb, examples, tmp)
    return paths


def check_nginx(deb, examples, tmp):
    """Each nginx example, included in a server block of a throwaway nginx
    configuration, passes `nginx -t` (which parses and checks, binds nothing)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if nginx is None:
        t.skip("nginx -t accepts the nginx examples", "nginx is not installed (contrib/install-deps installs it)")
        return
    root = os.path.join(tmp, "deb-root")
    run(["dpkg-deb", "-x", deb, root])
    for example in examples:
        prefix = os.path.join(tmp, "nginx-" + os.path.basename(example))
        os.makedirs(prefix)
        temp_paths = "".join(f"    {k}_temp_path {prefix}/{k};\n" for k in
                             ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n"
                    f"http {{\n    access_log off;\n{temp_paths}"
                    f"    server {{\n        listen 127.0.0.1:8080;\n        server_name www.example.org;\n"
                    f"        include {root}{example};\n    }}\n}}\n")
        rc, out = run([nginx, "-t", "-q", "-p", prefix, "-e", os.path.join(prefix, "error.log"), "-c", conf], timeout=30)
        t.ok(rc == 0, f"nginx -t accepts {os.path.basename(example)}", f"rc={rc}\n{out}")


def lintian(changes):
    started = time.monotonic()
    rc, out = run(["lintian", changes], timeout=300)
    bad = [line for line in out.splitlines() if re.match(r"[EW]: ", line)]
    t.ok(rc in (0, 1) and not bad and "Traceback" not in out,
         f"lintian: no E: or W: line ({time.monotonic() - started:.0f} s)", f"rc={rc}\n{out}")


# ---------------------------------------------------------------- installed

def check_installed(state):
    t.eq(pkg_status(), "installed", "apt-get install ./policyd_*.deb: the package is installed")
    rc, out = run(["dpkg-query", "-W", "-f=${Conffiles}", PKG])
    for path in CONFFILES:
        t.ok(path in out, f"dpkg lists {path} as a conffile of the installed package", out)
    try:
        pw = pwd.getpwnam("policyd")
        t.ok(pw.pw_uid < 1000 and pw.pw_shell.endswith("nologin"),
             "the sysusers.d file made the system user policyd (uid < 1000, no login shell)",
             f"{pw}")
    except KeyError:
        t.ok(False, "the sysusers.d file made the system user policyd", "no such user")
    wants = "/etc/systemd/system/sockets.target.wants/policyd.socket"
    t.ok(os.path.islink(wants) and os.readlink(wants).endswith("/policyd.socket"),
         "policyd.socket is enabled (sockets.target.wants)", f"{wants}: {os.path.lexists(wants)}")
    t.ok(not os.path.lexists("/etc/systemd/system/multi-user.target.wants/policyd.service"),
         "policyd.service is not enabled: the socket starts it", "enabled")
    rc, out = run(["/usr/sbin/policyd", "-t", "-c", "/etc/policyd/policyd.ini"], timeout=30)
    t.ok(rc == 0 and "configuration OK" in out, "policyd -t -c /etc/policyd/policyd.ini: configuration OK",
         f"rc={rc}\n{out}")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        t.skip("systemd-analyze verify on the installed units", "systemd-analyze not installed")
    else:
        units = [installed_unit("policyd.socket"), installed_unit("policyd.service")]
        rc, out = run([analyze, "verify"] + units, timeout=60)
        ours = [line for line in out.splitlines() if "policyd" in line]
        t.ok(rc == 0 and not ours, "systemd-analyze verify on the installed policyd.socket and policyd.service",
             f"rc={rc}\n{out}")


# ---------------------------------------------------------------- the socket

def unit_settings(unit, tmp):
    """The effective settings of an installed unit as systemd's own loader reads
    them: `systemd --test` dumps them (as nobody; generators off)."""
    empty = os.path.join(tmp, "no-generators")
    os.makedirs(empty, exist_ok=True)
    os.chmod(tmp, 0o755)
    systemd = next((p for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd") if os.access(p, os.X_OK)), None)
    if systemd is None:
        return None, "systemd is not installed"
    rc, out = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   "env", "HOME=/", f"SYSTEMD_GENERATOR_PATH={empty}",
                   f"SYSTEMD_ENVIRONMENT_GENERATOR_PATH={empty}",
                   systemd, "--test", "--system", f"--unit={unit}", "--log-target=console",
                   "--log-level=warning"], timeout=60)
    # systemd 252 (Debian 12) starts each unit's dump with "-> Unit", systemd 257
    # (Debian 13) with "\u2192 Unit" in a UTF-8 locale.
    m = re.search(rf"^\s*(?:->|\u2192) Unit {re.escape(unit)}:\n(.*?)(?=^\s*(?:->|\u2192) Unit |\Z)", out, re.M | re.S)
    if rc != 0 or m is None:
        return None, f"rc={rc}\n{out[-3000:]}"
    settings = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            settings.setdefault(key, []).append(value)
    return settings, ""


def create_like_systemd(settings):
    """The sockets of a socket unit, made as systemd's socket.c makes them; returns
    [(socket, description)]. Unix: parent directories with DirectoryMode, bind
    under umask ~SocketMode, listen(Backlog), then chown(SocketUser, SocketGroup);
    TCP: SO_REUSEADDR, bind, listen(Backlog)."""
    mode = int(settings["SocketMode"][0], 8)
    dir_mode = int(settings.get("DirectoryMode", ["0755"])[0], 8)
    backlog = min(int(settings.get("Backlog", ["128"])[0]), 65535)
    user = settings.get("SocketUser", [""])[0]
    group = settings.get("SocketGroup", [""])[0]
    uid, gid = -1, -1
    if user:
        pw = pwd.getpwnam(user)
        uid, gid = pw.pw_uid, pw.pw_gid
    if group:
        gid = grp.getgrnam(group).gr_gid
    made = []
    for listen in settings.get("ListenStream", []):
        if listen.startswith("/"):
            os.makedirs(os.path.dirname(listen), mode=dir_mode, exist_ok=True)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(~mode & 0o777)
            try:
                s.bind(listen)
            finally:
                os.umask(old)
            s.listen(backlog)
            os.chown(listen, uid, gid)
        else:
            host, _, port = listen.rpartition(":")
            family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host.strip("[]"), int(port)))
            s.listen(backlog)
        made.append((s, listen))
    return made


def check_socket_file(how):
    st = os.lstat(SOCKET_PATH)
    t.ok(stat.S_ISSOCK(st.st_mode) and st.st_uid == pwd.getpwnam("policyd").pw_uid
         and st.st_gid == grp.getgrnam("postfix").gr_gid and stat.S_IMODE(st.st_mode) == 0o660,
         f"{SOCKET_PATH} ({how}): a socket, owner policyd, group postfix, mode 0660",
         f"mode={oct(st.st_mode)} uid={st.st_uid} gid={st.st_gid}")


def check_smtpd_client(log):
    """Postfix's smtpd, as far as the socket goes: refused and passed addresses."""
    listed, unlisted = request("192.0.2.99"), request("192.0.2.10")
    rc, out = run([sys.executable, "-c", SMTPD_CLIENT, str(pwd.getpwnam("postfix").pw_uid),
                   str(grp.getgrnam("postfix").gr_gid)], stdin=(listed + unlisted).decode(), timeout=60)
    t.ok(rc == 0 and re.match(r"action=(REJECT|5\d\d) ", out) and "action=DUNNO" in out,
         "smtpd's view (chroot /var/spool/postfix, user postfix): unix:private/policyd refuses "
         "192.0.2.99 and passes 192.0.2.10", f"rc={rc}\n{out}\n--- log:\n{log()}")


TCP_CLIENT = r"""
import socket, sys
with socket.create_connection(("127.0.0.1", 10063), timeout=20) as s:
    s.sendall(sys.stdin.buffer.read())
    buf = b""
    while b"\n\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
sys.stdout.write(buf.decode())
"""


class TransientSystemd:
    """systemd as PID 1 of its own PID, mount, network, UTS, IPC and cgroup
    namespaces, loading only the installed policyd units (and a stub
    sysinit.target), so that it starts policyd.socket as it would at boot.

    It shares the file system (so it creates the real socket file and runs the
    installed policyd with the installed configuration), but gets its own /run
    (the host must not look as if systemd ran it), its own /dev/console (a log
    file), its own cgroup subtree (a new directory under this process's cgroup
    v2, bound over /sys/fs/cgroup so that it sees a pure cgroup v2 system and
    touches no other hierarchy), and a network namespace with only loopback (so
    the DNS lookups of the sample configuration leave nothing). It ends by its
    PID (SIGKILL to the namespace's PID 1 ends every process in it)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.proc = None
        self.pid1 = None
        self.cgroup = None
        self.console = os.path.join(tmp, "systemd-console.log")

    def start(self):
        """None once policyd.socket is listening, else why it could not be tried."""
        systemd = next((p for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd") if os.access(p, os.X_OK)), None)
        missing = [x for x in ("unshare", "nsenter", "mount") if shutil.which(x) is None]
        if systemd is None or missing:
            return f"missing: {missing or 'systemd'}"
        if not os.path.exists("/dev/console"):
            return "no /dev/console to bind the log over"
        mounts = [line.split() for line in read("/proc/self/mounts").splitlines()]
        cg2 = next((m[1] for m in mounts if m[2] == "cgroup2"), None)
        here = next((line[3:] for line in read("/proc/self/cgroup").splitlines() if line.startswith("0::")), None)
        if cg2 is None or here is None:
            return "no cgroup v2 hierarchy"
        self.cgroup = os.path.join(cg2 + here.rstrip("/"), f"policyd-test-{os.getpid()}")
        try:
            os.mkdir(self.cgroup)
        except OSError as e:
            self.cgroup = None
            return f"cannot make a cgroup: {e}"
        units = os.path.join(self.tmp, "systemd-units")
        os.makedirs(units)
        for unit in ("policyd.socket", "policyd.service"):
            os.symlink(installed_unit(unit), os.path.join(units, unit))
        with open(os.path.join(units, "sysinit.target"), "w", encoding="utf-8") as f:
            f.write("[Unit]\nDescription=Stub: the test loads no early-boot units\nDefaultDependencies=no\n")
        open(self.console, "w").close()
        inner = ('set -e\n'
                 'mount -t tmpfs -o mode=0755 tmpfs /run\n'
                 'mount --bind "$1" /dev/console\n'
                 'mount --bind "$2" /sys/fs/cgroup\n'
                 'exec env -i container=policyd-test SYSTEMD_UNIT_PATH="$3" "$4" '
                 '--unit=policyd.socket --log-target=console --show-status=no\n')
        cgroup_procs = os.path.join(self.cgroup, "cgroup.procs")

        def into_cgroup():
            # Between fork and exec: into the new cgroup, which `unshare --cgroup`
            # then makes the root of systemd's view.
            with open(cgroup_procs, "w") as f:
                f.write("0")

        self.log = open(os.path.join(self.tmp, "unshare.log"), "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--cgroup", "--pid", "--fork", "--mount", "--mount-proc", "--net", "--uts", "--ipc",
             "--kill-child", "sh", "-c", inner, "sh", self.console, self.cgroup, units, systemd],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, preexec_fn=into_cgroup)
        deadline = time.monotonic() + 30
        children = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.pid1 is None and os.path.exists(children) and read(children).split():
                self.pid1 = int(read(children).split()[0])
            if self.pid1 is not None and os.path.lexists(SOCKET_PATH):
                break
            time.sleep(0.05)
        else:
            return f"systemd did not create {SOCKET_PATH} within 30 s:\n{self.logs()}"
        # The file exists from bind() on; systemd's "(sd-chown)" helper gives it its
        # owner afterwards, and the unit is "active" only then.
        while time.monotonic() < deadline:
            state = self.systemctl("is-active", "policyd.socket")[1].strip()
            if state not in ("activating", ""):
                return None
            time.sleep(0.05)
        return None

    def logs(self):
        out = ""
        for path in (os.path.join(self.tmp, "unshare.log"), self.console):
            if os.path.exists(path):
                out += f"--- {os.path.basename(path)}:\n{read(path)[-3000:]}"
        return out

    def systemctl(self, *args):
        # -r: entering a mount namespace moves a process to that namespace's root
        # directory; -r takes systemd's own instead, which differs where the test runs
        # in a chroot (contrib/debian-chroot): its /run and its systemctl.
        return run(["nsenter", "-t", str(self.pid1), "-m", "-p", "-n", "-u", "-i", "-r", "systemctl", "--no-pager"]
                   + list(args), timeout=60)

    def nsenter_net(self, *cmd, stdin=None):
        return run(["nsenter", "-t", str(self.pid1), "-n"] + list(cmd), stdin=stdin, timeout=60)

    def service_pids(self):
        procs = os.path.join(self.cgroup, "system.slice", "policyd.service", "cgroup.procs")
        return [int(p) for p in read(procs).split()] if os.path.exists(procs) else []

    def stop(self):
        """End the namespace's PID 1 (and so every process in it), then its cgroups."""
        if self.proc is not None and self.proc.poll() is None:
            if self.pid1 is not None:
                try:
                    os.kill(self.pid1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None:
            self.log.close()
        self.proc = None
        deadline = time.monotonic() + 10
        while self.cgroup and os.path.isdir(self.cgroup) and time.monotonic() < deadline:
            # Emptied cgroups can be removed once the kernel has reaped their last
            # process; deepest first.
            for root, dirs, _ in sorted(os.walk(self.cgroup), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(root)
                except OSError:
                    pass
            if os.path.isdir(self.cgroup):
                time.sleep(0.1)


def check_socket_systemd(sd):
    """policyd.socket and policyd.service run by a real systemd (TransientSystemd)."""
    rc, out = sd.systemctl("is-active", "policyd.socket")
    t.eq(out.strip(), "active", "a systemd of its own (PID 1 of its namespaces) starts the installed policyd.socket")
    check_socket_file("made by systemd")
    rc, out = sd.systemctl("is-active", "policyd.service")
    t.eq(out.strip(), "inactive", "policyd.service waits for the first connection (socket activation)")

    def log():
        return sd.systemctl("status", "policyd.socket", "policyd.service")[1] + sd.logs()
    check_smtpd_client(log)
    rc, out = sd.systemctl("is-active", "policyd.service")
    t.eq(out.strip(), "active", "the first connection started policyd.service")
    pids = sd.service_pids()
    status = [read(f"/proc/{p}/status") for p in pids if os.path.exists(f"/proc/{p}/status")]
    uid = pwd.getpwnam("policyd").pw_uid
    t.ok(status and all(re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", s, re.M)
                        and re.search(r"^NoNewPrivs:\s+1$", s, re.M) and re.search(r"^Seccomp:\s+2$", s, re.M)
                        and re.search(r"^CapEff:\s+0+$", s, re.M) for s in status),
         "policyd runs as user policyd with no capabilities, no_new_privs and its system call filter",
         "\n".join(status) or "no process in policyd.service's cgroup")
    rings = []
    for p in pids:
        fd_dir = f"/proc/{p}/fd"
        for fd in (os.listdir(fd_dir) if os.path.isdir(fd_dir) else []):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if "io_uring" in target:
                rings.append(f"{p}/{fd}: {target}")
    t.ok(pids and not rings, "the unit's filter denies io_uring: policyd holds no ring and writes each reply itself",
         "\n".join(rings) or "no process in policyd.service's cgroup")
    rc, out = sd.nsenter_net(sys.executable, "-c", TCP_CLIENT, stdin=request("192.0.2.99").decode())
    t.ok(rc != 0 and "ConnectionRefusedError" in out,
         "nothing listens on 127.0.0.1:10063 by default (inside systemd's network namespace)",
         f"rc={rc}\n{out}\n{log()}")
    rc, out = sd.systemctl("stop", "policyd.socket", "policyd.service")
    rc, show = sd.systemctl("show", "-p", "ActiveState", "-p", "Result", "-p", "ExecMainStatus", "policyd.service")
    t.ok("ActiveState=inactive" in show and "Result=success" in show and "ExecMainStatus=0" in show,
         "systemctl stop: policyd exits cleanly", f"{out}\n{show}\n{log()}")
    t.ok(not os.path.lexists(SOCKET_PATH), "systemctl stop: the socket file is removed (RemoveOnStop=yes)", log())


SMTPD_CLIENT = r"""
import os, socket, sys
# What Postfix's smtpd does: chroot to the queue directory, run as postfix, and
# connect to the policy service as unix:private/policyd.
uid, gid = int(sys.argv[1]), int(sys.argv[2])
os.chroot("/var/spool/postfix")
os.chdir("/")
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect("private/policyd")
s.sendall(sys.stdin.buffer.read())
buf = b""
while buf.count(b"\n\n") < 2:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.decode())
"""


def check_socket(tmp, cleanup):
    if not os.path.isdir("/var/spool/postfix") or not user_exists("postfix"):
        t.skip("the socket unit's socket", "Postfix is not installed (contrib/install-deps installs it)")
        return
    private = os.path.dirname(SOCKET_PATH)
    if not os.path.isdir(private):
        # Debian 13's Postfix installed with "No configuration" (as contrib/install-deps
        # installs it) has made no queue directories yet; Debian 12's has, and so has any
        # configured Postfix. The socket goes into private/, made here as Postfix makes it
        # (postfix-files: owner postfix, mode 0700) and removed at the end.
        os.mkdir(private, 0o700)
        os.chown(private, pwd.getpwnam("postfix").pw_uid, 0)
        cleanup.append(lambda: os.rmdir(private))
    settings, why = unit_settings("policyd.socket", tmp)
    if not t.ok(settings is not None, "systemd's unit loader reads the installed policyd.socket (systemd --test)", why):
        return
    want = {"ListenStream": [SOCKET_PATH], "SocketUser": ["policyd"],
            "SocketGroup": ["postfix"], "SocketMode": ["0660"], "RemoveOnStop": ["yes"],
            "Triggers": ["policyd.service (origin-implicit)"]}
    for key, value in want.items():
        t.eq(settings.get(key), value, f"policyd.socket as systemd reads it: {key}={' '.join(value)}")
    if os.path.isdir("/run/systemd/system"):
        # This machine runs systemd: the postinst started policyd.socket there.
        rc, out = run(["systemctl", "is-active", "policyd.socket"])
        t.eq(out.strip(), "active", "this machine's systemd started policyd.socket on install")
        check_socket_file("made by this machine's systemd")
        check_smtpd_client(lambda: run(["systemctl", "--no-pager", "status", "policyd.socket", "policyd.service"])[1])
        return
    if os.path.lexists(SOCKET_PATH):
        t.ok(False, f"{SOCKET_PATH} does not exist yet", "a socket file is already there: is a policyd running?")
        return
    cleanup.append(lambda: os.path.lexists(SOCKET_PATH) and os.unlink(SOCKET_PATH))
    sd = TransientSystemd(tmp)
    cleanup.append(sd.stop)
    # POLICYD_PACKAGE_EMULATE_SOCKET=1 tries the fallback even where systemd can run.
    why = sd.start() if not os.environ.get("POLICYD_PACKAGE_EMULATE_SOCKET") else "POLICYD_PACKAGE_EMULATE_SOCKET is set"
    if why is None:
        check_socket_systemd(sd)
        sd.stop()
        return
    sd.stop()
    if os.path.lexists(SOCKET_PATH):
        os.unlink(SOCKET_PATH)
    t.skip("a systemd of its own starts policyd.socket", why)
    check_socket_emulated(settings, tmp, cleanup)


def check_socket_emulated(settings, tmp, cleanup):
    """Without a systemd of our own: the sockets made as systemd makes them, handed
    to the installed policyd as systemd would."""
    try:
        made = create_like_systemd(settings)
    except OSError as e:
        t.ok(False, "the sockets of policyd.socket can be created", f"{e}")
        return
    check_socket_file("emulated")
    pw = pwd.getpwnam("policyd")

    # The service's user and group run the installed policyd with the sockets, as
    # systemd would start policyd.service. Its configuration keeps DNS on loopback.
    conf_dir = os.path.join(tmp, "live")
    os.makedirs(conf_dir)
    os.chmod(conf_dir, 0o755)
    conf = os.path.join(conf_dir, "policyd.ini")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[server]\nlog = stderr\n[dns]\nnameserver = 127.0.0.1:9\n[policy]\n"
                "help_url = https://www.example.org/blacklisted.html?ip=$client_address\n"
                "contact = postmaster@example.org\n"
                "[list local]\nfile = /etc/policyd/local.cidr\nweight = 10\n")
    os.chmod(conf, 0o644)
    fds = [s.fileno() for s, _ in made]
    log_path = os.path.join(tmp, "live.log")
    logf = open(log_path, "wb")

    def child_setup():
        # Between fork and exec: the sockets become fds 3, 4, ... as systemd passes
        # them (first out of the way, so that no dup2 overwrites a socket still needed).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
            os.close(fd)

    proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', "/usr/sbin/policyd", "-c", conf],
                            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LISTEN_FDS": str(len(fds))},
                            pass_fds=tuple(range(3, 3 + len(fds))), preexec_fn=child_setup,
                            user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], umask=0o077)

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        logf.close()
    cleanup.append(stop)
    for s, _ in made:
        s.close()

    def log():
        return read(log_path)

    check_smtpd_client(log)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        rc = None
    t.ok(rc == 0 and "1 socket(s) passed by systemd" in log(),
         "policyd (user policyd) took the socket and exits 0 on SIGTERM", f"rc={rc}\n{log()}")
    # RemoveOnStop=yes: systemd removes the file when the socket unit stops.
    os.unlink(SOCKET_PATH)


# ---------------------------------------------------------------- conffiles

EDITS = {"/etc/policyd/policyd.ini": "\n; edited by the administrator (test_package)\n",
         "/etc/policyd/local.cidr": "\n# edited by the administrator (test_package)\n203.0.113.7\n"}


def edit_conffiles():
    for path, text in EDITS.items():
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    return {path: read(path) for path in EDITS}


def check_edits(edited, name):
    for path, content in edited.items():
        now = read(path) if os.path.exists(path) else None
        t.ok(now == content, f"{name}: the edit of {path} survives", f"now:\n{now}")


# ---------------------------------------------------------------- main

def bump_version(tree):
    """A newer package from the same tree: a new changelog entry, and a changed
    sample policyd.ini (so that dpkg has a conffile conflict to resolve)."""
    version = changelog_version(tree) + "+pkgtest1"
    path = os.path.join(tree, "debian", "changelog")
    entry = (f"{PKG} ({version}) unstable; urgency=medium\n\n  * Upgrade test (t/test_package.py).\n\n"
             " -- The policyd authors <policyd@example.org>  Fri, 02 Jan 2026 12:00:00 +0000\n\n")
    with open(path, "r+", encoding="utf-8") as f:
        old = f.read()
        f.seek(0)
        f.write(entry + old)
    with open(os.path.join(tree, "etc", "policyd.ini"), "a", encoding="utf-8") as f:
        f.write("; A line the upgrade test adds to the sample.\n")
    return version


def test(tmp, state, cleanup):
    tree = os.path.join(tmp, "build", "policyd")
    copy_tree(tree)
    deb = build(tree, "first build")
    if deb is None:
        return
    changes = glob.glob(os.path.join(os.path.dirname(tree), "*.changes"))
    lintian(changes[0])
    brought = check_deb(deb, tmp)
    # Paths of the package that were not on the machine before: all gone after purge.
    state["new_paths"] = sorted(p for p in brought if p and not os.path.lexists(p))

    rc, out = apt("install", deb)
    state["installed"] = True
    if not t.ok(rc == 0, "apt-get install ./policyd_*.deb", f"rc={rc}\n{out}"):
        return
    check_installed(state)
    t.run("socket unit", check_socket, tmp, cleanup)

    edited = edit_conffiles()
    rc, out = apt("install", "--reinstall", deb)
    t.ok(rc == 0, "apt-get install --reinstall ./policyd_*.deb", f"rc={rc}\n{out}")
    check_edits(edited, "reinstall")

    version = bump_version(tree)
    deb2 = build(tree, "upgrade build", again=True)
    if deb2 is not None:
        rc, out = apt("install", *KEEP_CONFFILES, deb2)
        t.ok(rc == 0, f"apt-get install ./policyd_{version}_*.deb (upgrade, keep edited conffiles)",
             f"rc={rc}\n{out}")
        rc, ver = run(["dpkg-query", "-W", "-f=${Version}", PKG])
        t.eq(ver, version, "the upgraded version is installed")
        check_edits(edited, "upgrade")
        dist = "/etc/policyd/policyd.ini.dpkg-dist"
        t.ok(os.path.exists(dist) and "upgrade test adds" in read(dist),
             "the upgrade's new sample is beside the edited file as policyd.ini.dpkg-dist",
             f"{os.listdir('/etc/policyd')}")
        t.ok(not os.path.exists("/etc/policyd/local.cidr.dpkg-dist"),
             "local.cidr, unchanged in the package, stays edited without a .dpkg-dist",
             f"{os.listdir('/etc/policyd')}")
        rc, out = run(["/usr/sbin/policyd", "-t", "-c", "/etc/policyd/policyd.ini"], timeout=30)
        t.ok(rc == 0, "policyd -t accepts the kept configuration after the upgrade", out)

    rc, files = run(["dpkg", "-L", PKG])
    files = [f for f in files.splitlines() if f.startswith("/")]
    rc, out = apt("remove", PKG)
    t.ok(rc == 0 and pkg_status() == "config-files", "apt-get remove: only the configuration is left",
         f"rc={rc} status={pkg_status()}\n{out}")
    left = [f for f in files if f not in CONFFILES and f in state["new_paths"] and not os.path.isdir(f)
            and os.path.lexists(f)]
    t.ok(not left, "apt-get remove: the package's files are gone", "\n".join(left))
    t.ok(all(os.path.exists(f) for f in CONFFILES), "apt-get remove: the conffiles stay",
         f"{os.listdir('/etc/policyd') if os.path.isdir('/etc/policyd') else 'no /etc/policyd'}")

    rc, out = apt("purge", PKG)
    t.ok(rc == 0 and pkg_status() is None, "apt-get purge: the package is gone", f"rc={rc}\n{out}")
    left = [p for p in state["new_paths"] if os.path.lexists(p)]
    t.ok(state["new_paths"] and not left,
         f"apt-get purge: nothing of the package is left ({len(state['new_paths'])} paths checked)",
         "\n".join(left) or "no path to check")
    t.ok(not os.path.lexists("/etc/policyd"), "apt-get purge: /etc/policyd is gone",
         f"{os.listdir('/etc/policyd') if os.path.isdir('/etc/policyd') else ''}")
    enabled = glob.glob("/etc/systemd/system/*/policyd.*") + glob.glob("/var/lib/systemd/deb-systemd-helper-enabled/**/policyd.*", recursive=True)
    t.ok(not enabled, "apt-get purge: no enablement symlink or deb-systemd-helper state is left", "\n".join(enabled))
    t.ok(user_exists("policyd"), f"apt-get purge keeps what Debian policy keeps: {KEPT_BY_POLICY}", "gone")


def purge():
    """Remove the package whatever state it is in (the end of every run)."""
    if pkg_status() is not None:
        rc, out = apt("purge", PKG)
        if rc != 0:
            run(["dpkg", "--purge", "--force-all", PKG], env=APT_ENV)


def main():
    if os.geteuid() != 0:
        t.skip("the Debian package", "needs root (it installs and purges the package)")
        t.done()
    missing = [tool for tool in ("dpkg-buildpackage", "lintian", "apt-get", "dh") if shutil.which(tool) is None]
    # A policyd already on this machine (a package, or `meson install` into /usr)
    # must not be replaced or purged by a test.
    present = [p for p in ("/etc/policyd", "/usr/sbin/policyd") + tuple(f"{d}/policyd.socket" for d in UNITDIRS)
               if os.path.lexists(p)]
    if pkg_status() is not None:
        present.insert(0, f"the {PKG} package ({pkg_status()})")
    if missing or present:
        why = (f"missing: {', '.join(missing)} (contrib/install-deps installs them)" if missing
               else f"already on this machine: {', '.join(present)}")
        if os.environ.get("CI"):
            t.ok(False, "the Debian package can be tested here", why)
        else:
            t.skip("the Debian package", why)
        t.done()

    started = time.monotonic()
    packages_before = installed_packages()
    user_before = user_exists("policyd")
    state = {"installed": False, "new_paths": []}
    cleanup = []
    tmp = tempfile.mkdtemp(prefix="policyd-package-")
    # apt reads the .deb as its unprivileged _apt user: the directories must be searchable.
    os.chmod(tmp, 0o755)
    try:
        t.run("package", test, tmp, state, cleanup)
    finally:
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - clean up as much as possible
                t.ok(False, "cleanup", f"{type(e).__name__}: {e}")
        purge()
        # Dependencies that apt installed for the package go too (only those: other
        # people may install packages on this machine meanwhile).
        pulled = sorted(p for p in pulled_in if p not in packages_before and p in installed_packages())
        if pulled:
            apt("purge", *pulled)
        if not user_before and user_exists("policyd"):
            run(["userdel", "policyd"])
            try:
                grp.getgrnam("policyd")
                run(["groupdel", "policyd"])
            except KeyError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    after = installed_packages()
    t.eq(sorted(p for p in pulled_in | {PKG} if p in after and p not in packages_before), [],
         f"no package that the test installed is left (apt pulled in: {sorted(pulled_in) or 'nothing'})")
    changed = sorted(after ^ packages_before)
    if changed:
        print(f"# installed packages changed meanwhile, not by this test's apt-get: {changed}")
    t.ok(pkg_status() is None and not os.path.lexists("/etc/policyd") and user_exists("policyd") == user_before,
         "the machine is left as it was found (package, /etc/policyd, user policyd)", f"status={pkg_status()}")
    print(f"# {time.monotonic() - started:.0f} s")
    t.done()


if __name__ == "__main__":
    main()
