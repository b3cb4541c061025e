"""Landlock (Linux 5.13+): a process may open only the paths of an allow-list.

The judge builds one ruleset per student or measuring process (ruleset()) before it starts
it, and the process restricts itself with it (restrict(), in preexec_fn, after it became
its user): from then on it and everything it starts can read only the system's folders,
the interpreter, the grader's private copy and the training split, and write only its own
folder. Needs no privilege, so it walls a student's own machine and a container without
namespaces alike. Where the kernel has no Landlock, available() is 0 and the grader falls
back on file modes (walls.probe).

Also, where the kernel has them (ABI 4 and 6): no TCP bind or connect, and no signals or
abstract UNIX sockets to processes outside the process's own domain.
"""
import ctypes
import os
import struct
from functools import lru_cache

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446  # the same numbers on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only rights a rule on a file may hold
READ = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/sys")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


@lru_cache(maxsize=None)
def available():
    """The kernel's Landlock ABI version (1, 2, ...), or 0 where there is none."""
    if not os.uname().sysname == "Linux":
        return 0
    version = _libc().syscall(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


def handled_fs(abi):
    """Every filesystem right this ABI knows: all of them are denied unless a rule allows them."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def ruleset(read, write, devices=("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")):
    """A Landlock ruleset file descriptor (close-on-exec, inherited by a fork): `read` paths
    readable and executable, `write` paths fully usable, `devices` readable and writable,
    /dev listable; nothing else of the file system. Paths that do not exist are skipped.
    Returns None where Landlock is unavailable."""
    abi = available()
    if not abi:
        return None
    libc, handled = _libc(), handled_fs(abi)
    attr = struct.pack("=Q", handled)
    if abi >= 4:
        attr += struct.pack("=Q", NET_BIND_TCP | NET_CONNECT_TCP)
    if abi >= 6:
        attr += struct.pack("=Q", SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    fd = libc.syscall(CREATE_RULESET, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        rules = [(path, READ) for path in read] + [(path, handled) for path in write]
        rules += [("/dev", READ_DIR)] + [(path, READ_FILE | WRITE_FILE | TRUNCATE) for path in devices]
        for path, rights in rules:
            add_rule(libc, fd, path, rights & handled)
    except BaseException:
        os.close(fd)
        raise
    return fd


def add_rule(libc, fd, path, rights):
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # not on this system
    try:
        if not os.path.isdir(f"/proc/self/fd/{target}"):
            rights &= FILE_RIGHTS
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, target))
        if libc.syscall(ADD_RULE, ctypes.c_int(fd), ctypes.c_int(RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(target)


def restrict(fd):
    """In a new process (preexec_fn): enforce ruleset `fd` on it and all it starts, for good."""
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
