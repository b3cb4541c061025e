"""The user ids a grading's processes run as, and the walls put up as each one starts.

As root, a grading holds a pair of user ids (Slot: one for student code, one for measuring; no
other grading uses them at the same time), so nothing one process leaves behind can read or
touch another's files. Each process becomes its user for good, without network when the system
allows it (a network namespace), with Landlock's file rules (landlock.py) and, on Linux, a
seccomp filter that refuses every socket but a local (AF_UNIX) one (as_user). When a process
ends, every process of its user id is killed (kill(-1) as that user, which nothing forked can
outrun), its SysV IPC objects and its files in the shared temporary folders are removed
(clean_up). Without root (a student's own machine) the processes run as the grader's user.
"""
import ctypes
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import psutil

try:  # libseccomp through its ctypes binding: Linux only, and the library may be missing
    import pyseccomp
except (ImportError, OSError, AttributeError):
    pyseccomp = None

from . import landlock
from ..config import settings
from .reading import NO_FOLLOW

UID_BASE, UID_SLOTS = 62000, 500  # grading k uses uids UID_BASE + 2k (student) and + 2k + 1 (measuring)
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
CLONE_NEWNET = 0x40000000
SYSV_IPC = ("shm", "sem", "msg")  # the kinds listed in /proc/sysvipc/
IPC_RMID = 0


def is_root():
    return getattr(os, "geteuid", lambda: -1)() == 0  # no such thing on Windows


def become_subreaper():
    """Adopt orphaned descendants (Linux prctl PR_SET_CHILD_SUBREAPER); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def taken(uid):
    import pwd

    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


class Slot:
    """A pair of user ids held for one grading (as root), or none (otherwise)."""

    def __init__(self):
        self.ids, self.lock = (), None
        if not is_root():
            return
        import fcntl

        folder = Path(tempfile.gettempdir()) / "vae-grader-slots"
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
            raise RuntimeError(f"{folder} is not a folder owned by root")
        for k in range(UID_SLOTS):
            ids = (UID_BASE + 2 * k, UID_BASE + 2 * k + 1)
            if any(map(taken, ids)):
                continue
            fd = os.open(folder / f"{k}.lock", os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.ids, self.lock = ids, fd
            for uid in ids:  # a grading that was killed may have left processes or files behind
                clean_up(uid)
            return
        raise RuntimeError("no free sandbox user ids (too many gradings at once)")

    def release(self):
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


@lru_cache(maxsize=None)
def usable_by_others():
    """Can an unprivileged user run this interpreter with its packages and read the training
    data? (Not when they live under /root, say.) Failing safe matters: a sandbox user that
    cannot read what a process needs would turn every grade into zero. (Whether it can import
    the grader's private copy behind the walls, walls.probe tells for each grading.)"""
    uid = UID_BASE + 2 * UID_SLOTS  # a spare id, only for this check
    check = f"import numpy; open({str(settings.train_npz())!r}, 'rb').close()"
    try:
        done = subprocess.run([sys.executable, "-I", "-c", check], user=uid, group=uid, extra_groups=[],
                              capture_output=True, cwd="/", timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@lru_cache(maxsize=None)
def can_cut_network():
    """Whether this machine lets us start a process without network (a new network
    namespace; Docker without extra capabilities does not)."""
    if not is_root():
        return False
    pid = os.fork()
    if pid == 0:
        os._exit(0 if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) == 0 else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def refuse_sockets():
    """In a new process, before it runs anything: no_new_privs, then a seccomp filter under
    which socket() and socketpair() fail (EACCES) for every family but AF_UNIX, and io_uring
    (which can open sockets without socket()) is unavailable. Inherited by every child."""
    import errno
    import socket

    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for call in ("socket", "socketpair"):
        rules.add_rule(pyseccomp.ERRNO(errno.EACCES), call, pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX))
    rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "io_uring_setup")
    rules.load()


@lru_cache(maxsize=None)
def can_refuse_sockets():
    """Whether a seccomp filter can be loaded here (Linux with libseccomp): tried in a fork."""
    if pyseccomp is None or not sys.platform.startswith("linux"):
        return False
    pid = os.fork()
    if pid == 0:
        try:
            refuse_sockets()
            import socket

            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except PermissionError:
            os._exit(0)  # refused: the filter works
        except BaseException:  # noqa: BLE001 - anything else: it does not
            os._exit(1)
        os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def as_user(uid, cut_network, seccomp, rules=None):
    """preexec_fn: leave the network (while still root), offer itself first to the kernel's
    out-of-memory killer, become `uid` for good (unless None), then restrict its files
    (Landlock ruleset `rules`) and refuse sockets (seccomp)."""
    def switch():
        if cut_network:
            ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET)
        try:
            with open("/proc/self/oom_score_adj", "w") as adj:
                adj.write("1000")
        except OSError:
            pass
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        if rules is not None:
            landlock.restrict(rules)
        if seccomp:
            refuse_sockets()
    return switch


def processes_of(uid):
    found = []
    for process in psutil.process_iter(["uids"]):
        try:
            if process.info["uids"] and process.info["uids"].real == uid:
                found.append(process)
        except psutil.Error:
            pass
    return found


def kill_user(uid):
    """Kill every process of `uid`: a forked helper becomes `uid` and calls kill(-1, SIGKILL),
    which signals all of that user's processes at once (a fork cannot slip through: the
    kernel refuses to fork for a process with a fatal signal pending). Then reap orphans."""
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            try:
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        reap()
        if not processes_of(uid):
            return True
        time.sleep(0.05)
    return False


def reap():
    """Collect the judge's exited children and adopted orphans (it is their subreaper)."""
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError, OSError):
            pass


def clean_up(uid):
    """End everything of `uid`: its processes, SysV IPC objects and temporary files."""
    kill_user(uid)
    remove_ipc_of(uid)
    remove_files_of(uid)


def readable_copies():
    """Copies of the data set (with its test split) outside the grader that every user can read:
    the mirror folder, Keras' cache, Debian's dataset package."""
    data = settings.data()
    places = [Path(os.environ.get("MNIST_MIRROR", "/nonexistent")) / data.file,
              Path.home() / ".keras" / "datasets" / data.keras_cache, Path(data.debian or "/nonexistent")]
    return [str(place) for place in places if world_readable(place)]


def world_readable(path):
    """Can any user read `path` (its mode and every folder above it, ignoring ACLs)?"""
    try:
        path = Path(path).resolve()
        if not path.exists() or not path.stat().st_mode & stat.S_IROTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False


def remove_files_of(uid):
    """Delete what `uid` left in the shared temporary folders."""
    for folder in SHARED_TEMP:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def sysv_objects(uid):
    """[(kind, id, bytes)] of the SysV IPC objects (shared memory, semaphores, message queues)
    owned by `uid` (Linux; [] elsewhere)."""
    found = []
    for kind in SYSV_IPC:
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        for line in lines[1:]:
            row = dict(zip(header, line.split()))
            try:
                if int(row["uid"]) == uid:
                    found.append((kind, int(row.get("shmid") or row.get("semid") or row["msqid"]),
                                  int(row.get("size", row.get("cbytes", 0)))))
            except (KeyError, ValueError):
                pass
    return found


def remove_ipc_of(uid):
    """Remove every SysV IPC object of `uid` (as root): shared memory outlives its processes."""
    libc = ctypes.CDLL(None, use_errno=True)
    calls = {"shm": libc.shmctl, "sem": lambda k, cmd, _: libc.semctl(k, 0, cmd, None), "msg": libc.msgctl}
    for kind, ident, _ in sysv_objects(uid):
        calls[kind](ident, IPC_RMID, None)

