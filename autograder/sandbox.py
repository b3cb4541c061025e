"""Run the processes of a grading in fresh folders, with limits, as unprivileged users.

Each part of the homework runs two processes (child.py):

    build    the student's code: imports the submission, trains, exports graphs
    measure  the judge's code on those graphs, with the judge's secret inputs

The judge (this process) never imports student code or TensorFlow. As root, a grading
gets its own pair of user ids (one for student code, one for measuring; no other grading
uses them at the same time), so nothing one process leaves behind can read or touch
another's files. Each process starts in its own folder, without network when the system
allows it (a network namespace), and on Linux with a seccomp filter that refuses every
socket but a local (AF_UNIX) one, under limits: wall-clock time, memory (polled: the
process tree, every other process of its user id, that user's SysV shared memory and
files in /dev/shm), disk (its folder and the shared temporary folders), output kept (head
and tail), file size and process count. When it ends, every process of its user id is
killed (kill(-1) as that user, which nothing forked can outrun), its SysV IPC objects and
its files in the shared temporary folders are removed. Without root (a student's own
machine) the processes run as the grader's user and are killed through the process tree.

Whatever a process leaves is read defensively: regular files only, no links followed,
never a read that could block, bounded sizes, no pickles, no decompression bombs. The
judge's own copies of what a process exported are private (0700 folders, 0600 files).
"""
import ctypes
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import psutil

try:  # libseccomp through its ctypes binding: Linux only, and the library may be missing
    import pyseccomp
except (ImportError, OSError, AttributeError):
    pyseccomp = None

from . import landlock, settings
from .results import clean_text
from .walls import Exposed, private_copy, probe

POLL_SECONDS = 0.05
MAX_REPORT_BYTES = 2_000_000
MAX_ARRAYS_BYTES = 64_000_000  # compressed or not, on disk and once loaded
MAX_ARTIFACT_BYTES = 300_000_000  # what one part may export, at apparent size (the reference's largest: a few MB)
MAX_ARTIFACT_FILES = 500
UID_BASE, UID_SLOTS = 62000, 500  # grading k uses uids UID_BASE + 2k (student) and + 2k + 1 (measuring)
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
NPROC_LIMIT = 2048  # threads count too: TensorFlow starts a few per core
CLONE_NEWNET = 0x40000000
SCAN_SECONDS = 0.5  # how often the user's other processes, shared memory and disk are counted
SYSV_IPC = ("shm", "sem", "msg")  # the kinds listed in /proc/sysvipc/
IPC_RMID = 0
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # Windows has no symbolic-link flag; locate() skips links
WINDOWS_NEEDS = ("SYSTEMROOT", "WINDIR", "TEMP", "TMP", "USERPROFILE", "LOCALAPPDATA", "APPDATA")
PROGRESS_LINE = re.compile(r"^" + re.escape(settings.PROGRESS) + r".*\n?", re.MULTILINE)
# TensorFlow's start-up chatter, dropped from what students read.
NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"
                   r"|To enable the following instructions|.*rebuild TensorFlow with the appropriate).*\n?",
                   re.MULTILINE)


@dataclass
class StageRun:
    """What the judge learned from one process. `status` is one of: ok, timeout, memory,
    crashed (died or exited before finishing)."""

    kind: str
    status: str
    seconds: float
    peak_rss_mb: float
    output: str
    report: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    artifacts: Path = None  # build: a judge-owned copy of the exported graphs
    note: str = ""  # status "cut": why the grader stopped it (the platform's time)
    shared: str = ""  # measure: the part whose line already gives this process's time and memory

    def stop_reason(self):
        """Why this process did not finish, for the student, or ''."""
        if self.status == "cut":
            return self.note
        return {
            "timeout": f"This part ran out of time ({self.seconds:.0f} s) and was stopped. "
                       "Look for an infinite loop or a very slow operation.",
            "memory": f"This part used more than the memory limit ({self.peak_rss_mb:.0f} MB "
                      "resident, counting every process it started and its shared memory) and was stopped "
                      "(out of memory).",
            "disk": f"This part wrote more than the disk limit (sparse files count at their full size), or exported more than {MAX_ARTIFACT_BYTES // 10**6} MB or {MAX_ARTIFACT_FILES} "
                    "files, and was stopped; nothing it exported was measured.",
            "crashed": "Your code ended the grading process before it finished (a crash, "
                       "sys.exit, os._exit or a signal). The output below shows its last words.",
        }.get(self.status, "")


class OutputCollector(threading.Thread):
    """Drain a pipe, keeping the first and last `limit / 2` bytes and counting the rest.
    Lines starting with `prefix` are progress: `echo(line)` shows them (without the prefix),
    and they are left out of text()."""

    def __init__(self, pipe, limit, echo=None, prefix=settings.PROGRESS.encode()):
        super().__init__(daemon=True)
        self.pipe, self.half, self.echo, self.prefix = pipe, limit // 2, echo, prefix
        self.head, self.tail, self.total, self.partial = bytearray(), bytearray(), 0, b""

    def run(self):
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.total += len(chunk)
            if self.echo:
                self.forward(chunk)
            room = self.half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            self.tail = (self.tail + chunk)[-self.half:]

    def forward(self, chunk):
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()[-1000:]
        for line in lines:
            if line.startswith(self.prefix):
                self.echo(clean_text(line[len(self.prefix):].decode(errors="replace"))[:200])

    def text(self):
        dropped = self.total - len(self.head) - len(self.tail)
        middle = f"\n... [{dropped} bytes of output omitted] ...\n" if dropped > 0 else ""
        text = (bytes(self.head).decode(errors="replace") + middle + bytes(self.tail).decode(errors="replace"))
        return PROGRESS_LINE.sub("", NOISE.sub("", text))


# reading what a process left ------------------------------------------------------------

def open_regular(path):
    """(descriptor, stat) of `path` opened read-only if it is a regular file (no link followed,
    never blocking on a FIFO or device), else (None, None). The caller closes the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | NO_FOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None, None
    try:
        info = os.fstat(fd)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None, None
    return fd, info


def safe_read(path, limit):
    """The bytes of `path` if it is a regular file (not a link, FIFO or device) of at most
    `limit` bytes, else None. Never blocks, never reads more than limit + 1 bytes."""
    fd, info = open_regular(path)
    if fd is None:
        return None
    try:
        if info.st_size > limit:
            return None
        data = bytearray()
        while len(data) <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return bytes(data)
            data += chunk
        return None
    except OSError:
        return None
    finally:
        os.close(fd)


def read_json(path):
    data = safe_read(path, MAX_REPORT_BYTES)
    try:
        value = json.loads(data) if data is not None else {}
    except (ValueError, RecursionError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def read_arrays(path):
    """Arrays of an .npz written by a process, or {} if missing, malformed or too large."""
    data = safe_read(path, MAX_ARRAYS_BYTES)
    if data is None:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:  # refuse a decompression bomb unopened
            if sum(info.file_size for info in archive.infolist()) > MAX_ARRAYS_BYTES:
                return {}
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception:  # noqa: BLE001 - anything malformed is simply no data
        return {}


def safe_copy(source, target, limit):
    """Copy `source` to a new private file `target` (0600) in blocks, if it is a regular file
    (not a link, FIFO or device) whose apparent size is at most `limit` bytes: a sparse file
    counts whole, since copying makes it dense. Returns the bytes copied, 0 for a file that is
    not copied (not regular, unreadable), None when it exceeds `limit`."""
    fd, info = open_regular(source)
    if fd is None:
        return 0
    try:
        if info.st_size > limit:
            return None
        copied = 0
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW | getattr(os, "O_BINARY", 0),
                               0o600), "wb") as out:
            for block in iter(lambda: os.read(fd, 1 << 20), b""):
                copied += len(block)
                if copied > limit:  # it grew while being copied
                    return None
                out.write(block)
        return copied
    except OSError:
        return 0
    finally:
        os.close(fd)


def copy_tree(source, target, owner=None):
    """Copy the regular files and folders under `source` to `target` (links, FIFOs and
    devices are skipped) within MAX_ARTIFACT_BYTES and MAX_ARTIFACT_FILES, private to the
    copier (folders 0700, files 0600; `owner` gets them). Returns False when the limits were
    exceeded (the copy is then incomplete)."""
    budget = {"bytes": MAX_ARTIFACT_BYTES, "files": MAX_ARTIFACT_FILES}

    def walk(src, dst, depth):
        os.mkdir(dst, 0o700)
        if owner:
            os.chown(dst, *owner)
        try:
            entries = list(os.scandir(src))
        except OSError:
            return True
        for entry in entries:
            budget["files"] -= 1
            if budget["files"] < 0:
                return False
            if entry.is_dir(follow_symlinks=False) and depth < 6:
                if not walk(entry.path, os.path.join(dst, entry.name), depth + 1):
                    return False
            elif entry.is_file(follow_symlinks=False):
                path = os.path.join(dst, entry.name)
                copied = safe_copy(entry.path, path, budget["bytes"])
                if copied is None:
                    return False
                budget["bytes"] -= copied
                if owner and os.path.exists(path):
                    os.chown(path, *owner)
        return True

    return walk(str(source), str(target), 0)


# user ids and processes -------------------------------------------------------------------

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


def kill_tree(process, spare=None):
    """Kill the process group and every remaining descendant of the judge, orphans included
    (the judge is their subreaper), except the process `spare` (a pid) and its own children."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):  # AttributeError: Windows
        pass
    for _ in range(10):
        leftovers = [p for p in psutil.Process().children(recursive=True) if not spared(p, spare)]
        if not leftovers:
            break
        for child in leftovers:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(leftovers, timeout=2)


def spared(process, spare):
    try:
        return spare is not None and (process.pid == spare or process.ppid() == spare)
    except psutil.Error:
        return False


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


def files_bytes(folders, uid=None, most=50_000):
    """Bytes of the regular files under `folders` (of owner `uid`, if given); never follows
    links. More than `most` entries count as infinitely many bytes (a flood of files)."""
    total, seen = 0, 0
    todo = [str(f) for f in folders]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        seen += len(entries)
        if seen > most:
            return float("inf")
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if uid is not None and info.st_uid != uid:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    todo.append(entry.path)
                elif stat.S_ISREG(info.st_mode):  # a sparse file counts at its apparent size: it is read whole
                    total += max(info.st_blocks * 512, info.st_size)
            except OSError:
                pass
    return total


def sum_rss_mb(processes):
    """Resident memory of `processes`, in MB."""
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class Usage:
    """What one student or measuring process holds beyond its process tree, counted every
    SCAN_SECONDS: the other processes of its user id (daemons that left the tree), that
    user's SysV shared memory and /dev/shm files (memory), and disk in its folder and the
    shared temporary folders."""

    def __init__(self, uid, workdir, spare=None):
        self.uid, self.workdir, self.spare = uid, workdir, spare
        self.next, self.extra_mb, self.disk_mb = 0.0, 0.0, 0.0

    def update(self, tree):
        if time.monotonic() < self.next:
            return
        self.next = time.monotonic() + SCAN_SECONDS
        extra, inside = 0, {p.pid for p in tree}
        # escaped daemons: the user's other processes; without a user of its own, the judge's
        # other descendants (it is their subreaper), the waiting measuring process aside
        escaped = processes_of(self.uid) if self.uid is not None else [
            p for p in psutil.Process().children(recursive=True) if not spared(p, self.spare)]
        for process in escaped:
            if process.pid not in inside and process.pid != self.spare:
                try:
                    extra += process.memory_info().rss
                except psutil.Error:
                    pass
        if self.uid is not None:
            extra += sum(size for kind, _, size in sysv_objects(self.uid) if kind == "shm")
            extra += files_bytes(["/dev/shm"], self.uid)
            shared = files_bytes([f for f in SHARED_TEMP if f != "/dev/shm"], self.uid)
        else:
            shared = 0
        self.extra_mb = extra / 2**20
        self.disk_mb = (files_bytes([self.workdir]) + shared) / 2**20 if self.workdir else 0.0


def watch(process, timeout, memory_mb, usage=None, disk_mb=None):
    """Wait for `process`, enforcing the limits. Returns (status, peak memory in MB): status
    ok, timeout, memory or disk."""
    deadline = time.monotonic() + timeout
    try:
        handle = psutil.Process(process.pid)
    except psutil.NoSuchProcess:  # it has already ended and been reaped
        return "ok", 0.0
    peak = 0.0
    while process.poll() is None:
        try:
            tree = [handle] + handle.children(recursive=True)
        except psutil.Error:
            tree = []
        rss = sum_rss_mb(tree)
        if usage is not None:
            usage.update(tree)
            rss += usage.extra_mb
            if disk_mb is not None and usage.disk_mb > disk_mb:
                return "disk", peak
        peak = max(peak, rss)
        if rss > memory_mb:
            return "memory", peak
        if time.monotonic() > deadline:
            return "timeout", peak
        time.sleep(POLL_SECONDS)
    return "ok", peak


class Sandbox:
    """The processes of one grading: its folder, its user ids, its cleanup."""

    def __init__(self, limits, grader, allow_unsandboxed=False, threads=None):
        """grader: the grader's files its processes may import (walls.private_copy)."""
        self.limits, self.threads = limits, threads
        self.waiting = None  # a measuring process started early (start_measuring)
        become_subreaper()
        self.slot = Slot()
        self.base = Path(tempfile.mkdtemp(prefix="vae-grading-"))
        os.chmod(self.base, 0o711)
        self.runtime = private_copy(self.base / "grader", grader)
        self.sandboxed = bool(self.slot.ids) and usable_by_others()
        if is_root() and not self.sandboxed and not allow_unsandboxed:
            self.close()
            raise Unsandboxed()
        self.network_cut = self.sandboxed and can_cut_network()
        self.seccomp = can_refuse_sockets()
        self.landlock = landlock.available()
        problem, readable = probe(self, self.slot.ids[0] if self.sandboxed else None)
        if problem or readable:
            self.close()
            raise Exposed(problem, readable, bool(self.landlock))

    def describe(self):
        """Which walls were up, for the grading log (results.json's output)."""
        who = (f"student code ran as the unprivileged user {self.slot.ids[0]} and the measuring as "
               f"{self.slot.ids[1]}" if self.sandboxed else
               "student code ran as the grader's own user (no unprivileged user available)")
        walls = [("a network namespace" if self.network_cut else "no network namespace (the system does not "
                  "allow one)"),
                 ("seccomp refused every socket but AF_UNIX" if self.seccomp else
                  "no seccomp filter (libseccomp or seccomp missing)")]
        network = "network: " + ", ".join(walls) + (
            "" if self.network_cut or self.seccomp else "; THE NETWORK WAS REACHABLE")
        if self.landlock:
            files = (f"files: Landlock (ABI {self.landlock}) let both processes read only the system's folders, "
                     "Python, a private copy of the grader's modules and the training split, and write only "
                     "their own folder")
        else:
            readable = readable_copies() if self.sandboxed else []
            files = ("files: no Landlock on this kernel; the processes' user could read none of the staff files "
                     "(solution, tests, courses, outputs, key, test split, classifier)" + (
                         f"; readable by every user, which the grader cannot change: {', '.join(readable)} (it "
                         "holds the data set's test split; the scored images are changed by a secret "
                         "transformation, so it does not help)" if readable else ""))
        memory = (f"memory: {self.limits.memory_mb} MB for the student's processes, "
                  f"{self.memory_mb('measure')} MB for the measuring")
        return f"{who}; {network}; {files}; {memory}"

    def close(self):
        if self.waiting is not None:  # a measuring process that was never given jobs
            waiting, self.waiting = self.waiting, None
            self.finish(waiting, 0)
        for uid in self.slot.ids:
            clean_up(uid)
        shutil.rmtree(self.base, ignore_errors=True)
        self.slot.release()

    def environment(self, workdir):
        """A minimal environment: nothing of the judge's leaks in, nothing is downloaded.
        (Windows needs its system folders and PATH to start Python at all.)"""
        return {**{k: os.environ[k] for k in WINDOWS_NEEDS if sys.platform == "win32" and k in os.environ},
            "PATH": os.environ.get("PATH", "") if sys.platform == "win32" else "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir), "TMPDIR": str(workdir / "tmp"),
            "USER": "grader", "LOGNAME": "grader", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(workdir / "tmp"), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_HOME": str(workdir / "tmp"),
            "PYTHONHASHSEED": str(settings.SEED), "GRADER_SEED": str(settings.SEED),
            "PYTHONDONTWRITEBYTECODE": "1", "MNIST_NPZ": str(settings.train_npz()), "GRADER_DATASET": settings.data().name,
            "GRADER_ROOT": str(self.runtime), "GRADER_NPROC": str(NPROC_LIMIT if self.sandboxed else 0),
            "GRADER_THREADS": str(self.threads or 0),
        }

    def folder(self, name):
        """A fresh folder for one process, with tmp/ inside (hand_over gives it to the process's user)."""
        workdir = self.base / name
        workdir.mkdir(mode=0o700)
        (workdir / "tmp").mkdir()
        return workdir

    def hand_over(self, root, uid):
        """Give every folder and file under `root` to `uid` (when sandboxed)."""
        if uid is None:
            return
        for path in [root, *root.rglob("*")]:
            os.chown(path, uid, uid, follow_symlinks=False)

    def build(self, part, given, timeout, files, echo=None, host=None, step=0, judges=""):
        """Run the student's process of `part` (its step `step`, steps.py) on `files` (the
        submission) with the inputs `given` (and a copy of the folder `host` as WORKDIR/host, the
        exported graphs of the part it looks inside; and `judges`, the source of the judge's
        functions this step may use, as WORKDIR/judges.py); returns its StageRun (artifacts: a
        judge-owned copy of what it exported). Never raises because of what the student's code did."""
        uid = self.slot.ids[0] if self.sandboxed else None
        name = f"{part}-{step}" if step else part
        workdir = self.folder(f"build-{name}")
        submission = workdir / "submission"
        submission.mkdir()
        for source in files:
            shutil.copyfile(source, submission / source.name)
        np.savez(workdir / "inputs.npz", **given)
        if host is not None:
            copy_tree(host, workdir / "host")
        if judges:
            (workdir / "judges.py").write_text(judges)
        self.hand_over(workdir, uid)
        try:
            run = self.start("build", f"{part}:{step}", workdir, submission, uid, timeout, echo)
            run.report, run.arrays = read_json(workdir / "report.json"), read_arrays(workdir / "arrays.npz")
            if run.status == "ok" and run.report.get("complete") is not True:  # ended before the child finished
                run.status = "crashed"
            if (workdir / "artifacts").is_dir() and not (workdir / "artifacts").is_symlink():
                run.artifacts = self.base / f"artifacts-{name}"
                if not copy_tree(workdir / "artifacts", run.artifacts):  # too much to read: nothing is measured
                    shutil.rmtree(run.artifacts, ignore_errors=True)
                    run.artifacts, run.status = None, "disk"
            return run
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def start_measuring(self):
        """Start the measuring process now, so that it loads TensorFlow while the parts build;
        it waits for measure() to hand it its jobs."""
        uid = self.slot.ids[1] if self.sandboxed else None
        workdir = self.folder("measure-0")
        (workdir / "parts").mkdir()
        self.hand_over(workdir, uid)
        self.waiting = self.spawn("measure", "-", workdir, workdir, uid, None)

    def measure(self, jobs, timeout):
        """Run one measuring process for several parts, in order: jobs are (part, inputs,
        artifacts, exported). Returns {part: StageRun}. A part the process finished is "ok";
        the part it was on when it stopped gets its status (timeout, memory, crashed); the
        parts after that are "skipped" (the caller measures them again, apart)."""
        uid = self.slot.ids[1] if self.sandboxed else None
        waiting, self.waiting = self.waiting, None
        if waiting is not None and waiting.process.poll() is not None:  # it died waiting: start afresh
            self.finish(waiting, 0)
            waiting = None
        workdir = waiting.workdir if waiting else self.folder(f"measure-{len(list(self.base.glob('measure-*')))}")
        for part, inputs, artifacts, exported in jobs:
            folder = workdir / "parts" / part
            (folder / "tmp").mkdir(parents=True)
            np.savez(folder / "inputs.npz", **inputs)
            (folder / "exported.json").write_text(json.dumps(exported))
            if artifacts is not None:
                copy_tree(artifacts, folder / "artifacts")
        self.hand_over(workdir, uid)
        names = [part for part, *_ in jobs]
        try:
            if waiting:
                (workdir / "jobs.tmp").write_text(json.dumps(names))
                os.replace(workdir / "jobs.tmp", workdir / "jobs.json")  # the waiting process starts now
            running = waiting or self.spawn("measure", ",".join(names), workdir, workdir, uid, None)
            process_run = self.finish(running, timeout)
            runs, stopped = {}, False
            for part in names:
                folder = workdir / "parts" / part
                report = read_json(folder / "report.json")
                if report.get("complete") is True:
                    status = "ok"
                elif stopped:
                    status = "skipped"
                else:  # the part the process was on when it stopped (or exited early)
                    status, stopped = ("crashed" if process_run.status == "ok" else process_run.status), True
                runs[part] = StageRun("measure", status, process_run.seconds, process_run.peak_rss_mb,
                                      process_run.output, report, read_arrays(folder / "arrays.npz"),
                                      shared=names[0] if part != names[0] else "")
            return runs
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def start(self, kind, parts, workdir, cwd, uid, timeout, echo):
        """Start child.py and watch it to the end. Returns its StageRun (without the report,
        which the caller reads)."""
        return self.finish(self.spawn(kind, parts, workdir, cwd, uid, echo), timeout)

    def memory_mb(self, kind):
        """The memory limit of a process of `kind` (build or measure)."""
        return self.limits.measure_memory_mb or self.limits.memory_mb if kind == "measure" else self.limits.memory_mb

    def readable(self):
        """What a process may read besides its own folder: the system's folders, the interpreter
        and its packages, the private copy of the grader, the training split."""
        python = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))}
        root = settings.ROOT.resolve()
        python = {path for path in python if not (root == Path(path).resolve() or root.is_relative_to(Path(path).resolve()))}
        return [*landlock.SYSTEM, *sorted(python), str(self.runtime), str(settings.train_npz())]

    def popen(self, command, workdir, cwd, uid):
        """Start `command` in `workdir` as `uid` behind every wall this machine has: no network,
        Landlock, seccomp. Output: a pipe (stderr joined)."""
        rules = landlock.ruleset(self.readable(), [str(workdir), "/dev/shm"]) if self.landlock else None
        walls = uid is not None or self.seccomp or rules is not None
        try:
            return subprocess.Popen(
                command, cwd=cwd, env=self.environment(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=as_user(uid, self.network_cut and uid is not None, self.seccomp, rules) if walls else None)
        finally:
            if rules is not None:
                os.close(rules)

    def spawn_code(self, code, args, workdir, uid):
        """Start `python -I -c code args...` behind the walls (the walls' probe, walls.probe)."""
        return self.popen([sys.executable, "-I", "-c", code, *args], workdir, workdir, uid)

    def spawn(self, kind, parts, workdir, cwd, uid, echo):
        """Start child.py `kind` for `parts` in `workdir`, as `uid`, its output collected."""
        process = self.popen([sys.executable, "-I", str(self.runtime / "autograder" / "child.py"), kind, parts,
                              str(workdir), str(self.memory_mb(kind))], workdir, cwd, uid)
        collector = OutputCollector(process.stdout, self.limits.output_bytes, echo)
        collector.start()
        return Running(kind, process, collector, workdir, uid)

    def finish(self, running, timeout):
        """Watch a started process to its end within `timeout`, then kill every process of its
        user (or its process tree), sparing a measuring process that waits for its jobs."""
        start = time.monotonic()
        spare = self.waiting.process.pid if self.waiting else None
        usage = Usage(running.uid, running.workdir, spare)
        status, peak = watch(running.process, timeout, self.memory_mb(running.kind), usage, self.limits.disk_mb)
        seconds = time.monotonic() - start
        if running.uid is not None:
            clean_up(running.uid)
        kill_tree(running.process, spare=spare)
        running.process.wait()
        running.collector.join(timeout=5)
        return StageRun(running.kind, status, seconds, peak, running.collector.text())


@dataclass
class Running:
    """A started child process and what the judge keeps of it."""

    kind: str
    process: subprocess.Popen
    collector: OutputCollector
    workdir: Path
    uid: int


class Unsandboxed(Exception):
    """As root, but unprivileged users cannot run the grader's Python: refuse to run student code."""

    def __str__(self):
        return ("The autograder runs as root but cannot run student code as an unprivileged user: "
                "such a user cannot run this Python, import the grader or read the training data "
                f"(interpreter {sys.executable}, grader {settings.ROOT}; a virtualenv under /root, "
                "for example, is out of their reach). Refusing to run untrusted code as root; no "
                "points were awarded. Fix: build the virtualenv from a system Python outside /root "
                "(make PYTHON=/usr/bin/python3 ...), or, on a machine you trust, pass --allow-unsandboxed.")
