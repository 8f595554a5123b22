"""The first program run inside the sandbox: apply limits, then exec the untrusted code.

`sandbox.py` passes this file's *source* to `/usr/bin/python3 -I -S -c`, after the uid has
been dropped, so it must use the standard library only and never import evolab (the
sandbox user may not be able to read the repository or the virtualenv). Doing the limits
here instead of in `preexec_fn` keeps the parent's fork thread-safe.

argv[1] is a JSON object:
  rlimits   {"CPU": [soft, hard], "AS": [...], ...}  names of resource.RLIMIT_* constants
  writable  paths the code may write beneath (Landlock); others are read-only
  landlock  true to require Landlock (fail closed if it cannot be applied)
  argv      the program to exec
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

# Landlock ABI (linux/landlock.h). The syscall numbers are the same on every architecture.
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_TRUNCATE = 1 << 14
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _fail(message: str) -> None:
    sys.stderr.write(f"evolab sandbox: {message}\n")
    sys.stderr.flush()
    os._exit(125)


def _apply_landlock(writable: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    if abi < 1:
        _fail(f"Landlock unavailable: {os.strerror(ctypes.get_errno())}")
    # All filesystem rights up to MAKE_SYM (ABI 1), REFER (2), TRUNCATE (3). IOCTL_DEV (5)
    # stays unhandled: isatty() probes would otherwise fail on /dev/null.
    fs_all = (1 << 13) - 1
    if abi >= 2:
        fs_all |= 1 << 13
    if abi >= 3:
        fs_all |= _FS_TRUNCATE
    attr = _RulesetAttr(handled_access_fs=fs_all)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        _fail(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")

    read_only = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    device = _FS_READ_FILE | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0)
    rules = [("/", read_only)] + [(path, fs_all) for path in writable]
    rules += [(path, device) for path in _DEVICES if os.path.exists(path)]
    for path, access in rules:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
        if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            _fail(f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
        os.close(fd)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
        _fail(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    os.close(ruleset)


def main() -> None:
    config = json.loads(sys.argv[1])
    for name, (soft, hard) in config["rlimits"].items():
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (soft, hard))
    if config["landlock"]:
        _apply_landlock(config["writable"])
    argv = config["argv"]
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        _fail(f"cannot exec {argv[0]}: {exc}")


if __name__ == "__main__":
    main()
