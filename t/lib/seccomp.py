"""A seccomp filter for a child process that the kernel will not give io_uring,
as a systemd unit with SystemCallFilter=~@aio or a container's default profile
would: io_uring_setup fails with EPERM, every other system call is allowed.

Use deny_io_uring as subprocess's preexec_fn: it runs in the child between fork
and exec, and the filter stays on across exec (no_new_privs is set first, as the
kernel demands of an unprivileged filter)."""

import ctypes
import platform
import struct

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
# io_uring_setup is 425 on x86-64 and on arm64 (the table that the newer
# architectures share since Linux 5.1); other architectures, MIPS among them,
# number it differently, so the filter names the architecture it is for.
NR_IO_URING_SETUP = 425
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# Classic BPF over struct seccomp_data: its first 32-bit word is the system call's
# number, the second the architecture. Another architecture, or another call: allow;
# io_uring_setup: fail with EPERM.
BPF_LD_W_ABS = 0x20
BPF_JMP_JEQ_K = 0x15
BPF_RET_K = 0x06


def supported():
    """Whether this machine's architecture has a filter here."""
    return platform.machine() in AUDIT_ARCH


def program():
    return [
        (BPF_LD_W_ABS, 0, 0, 4),
        (BPF_JMP_JEQ_K, 0, 3, AUDIT_ARCH[platform.machine()]),
        (BPF_LD_W_ABS, 0, 0, 0),
        (BPF_JMP_JEQ_K, 0, 1, NR_IO_URING_SETUP),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def deny_io_uring():
    """Install the filter on the calling process (a child about to exec)."""
    insns = program()
    libc = ctypes.CDLL(None, use_errno=True)
    code = b"".join(struct.pack("=HBBI", *insn) for insn in insns)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _Fprog(len(insns), ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
