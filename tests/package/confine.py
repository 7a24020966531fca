#!/usr/bin/env python3
"""Runs a program under the restrictions of tasker's systemd units that
need no systemd, as systemd itself sets them up (a seccomp filter after
no_new_privs), so that a test sees the binary live with them:

  NoNewPrivileges=yes
  MemoryDenyWriteExecute=yes      mmap with PROT_WRITE and PROT_EXEC, and
                                  mprotect/pkey_mprotect with PROT_EXEC, and
                                  shmat with SHM_EXEC fail with EPERM
  RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
                                  socket(2) of another family fails with
                                  EAFNOSUPPORT

x86_64 only (the system call numbers); elsewhere it says so and runs the
program with no_new_privs alone.

  confine.py PROGRAM [ARG...]
"""
import ctypes
import errno
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
NR = {"socket": 41, "mmap": 9, "mprotect": 10, "pkey_mprotect": 329,
      "shmat": 30}
PROT_WRITE, PROT_EXEC = 2, 4
SHM_EXEC = 0o100000
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
# Offsets in struct seccomp_data: nr, arch, then args[] (low words first).
OFF_NR, OFF_ARCH, OFF_ARG0, OFF_ARG2 = 0, 4, 16, 32


def assemble(program):
    """(op, k, true label, false label) and ("label", name) items -> bytes."""
    codes = {"ld": 0x20, "jeq": 0x15, "jset": 0x45, "and": 0x54, "ret": 0x06}
    labels, pos = {}, 0
    for item in program:
        if item[0] == "label":
            labels[item[1]] = pos
        else:
            pos += 1
    out, pos = b"", 0
    for item in program:
        if item[0] == "label":
            continue
        op, k = item[0], item[1]
        jt = jf = 0
        if op in ("jeq", "jset"):
            jt = 0 if item[2] is None else labels[item[2]] - pos - 1
            jf = 0 if item[3] is None else labels[item[3]] - pos - 1
        out += struct.pack("HBBI", codes[op], jt, jf, k)
        pos += 1
    return out, pos


def seccomp_filter():
    eperm, afno = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.EAFNOSUPPORT
    return assemble([
        ("ld", OFF_ARCH), ("jeq", AUDIT_ARCH_X86_64, None, "allow"),
        ("ld", OFF_NR),
        ("jeq", NR["socket"], "socket", None),
        ("jeq", NR["mmap"], "mmap", None),
        ("jeq", NR["mprotect"], "exec", None),
        ("jeq", NR["pkey_mprotect"], "exec", None),
        ("jeq", NR["shmat"], "shmat", None),
        ("ret", RET_ALLOW),
        ("label", "socket"), ("ld", OFF_ARG0),
        ("jeq", AF_UNIX, "allow", None), ("jeq", AF_INET, "allow", None),
        ("jeq", AF_INET6, "allow", None), ("ret", afno),
        ("label", "mmap"), ("ld", OFF_ARG2), ("and", PROT_WRITE | PROT_EXEC),
        ("jeq", PROT_WRITE | PROT_EXEC, "eperm", "allow"),
        ("label", "exec"), ("ld", OFF_ARG2),
        ("jset", PROT_EXEC, "eperm", "allow"),
        ("label", "shmat"), ("ld", OFF_ARG2),
        ("jset", SHM_EXEC, "eperm", "allow"),
        ("label", "eperm"), ("ret", eperm),
        ("label", "allow"), ("ret", RET_ALLOW),
    ])


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("confine.py: no_new_privs: " + os.strerror(ctypes.get_errno()))
    if platform.machine() == "x86_64":
        code, count = seccomp_filter()
        buf = ctypes.create_string_buffer(code, len(code))

        class sock_fprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        prog = sock_fprog(count, ctypes.addressof(buf))
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
                      ctypes.addressof(prog), 0, 0) != 0:
            sys.exit("confine.py: seccomp: " + os.strerror(ctypes.get_errno()))
    else:
        sys.stderr.write("confine.py: not x86_64, so no seccomp filter: "
                         "MemoryDenyWriteExecute and RestrictAddressFamilies "
                         "are not checked\n")
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
