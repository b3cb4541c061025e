"""Limits on a running process, watched from the judge: wall-clock time, memory (polled: the
process tree, every other process of its user id, that user's SysV shared memory and files in
/dev/shm), disk (its folder and the shared temporary folders) and output kept (the head and
tail of what it prints); and killing what is left of it."""
import os
import re
import signal
import stat
import threading
import time

import psutil

from ..config import settings
from ..outputs.results import clean_text
from .users import SHARED_TEMP, processes_of, sysv_objects

POLL_SECONDS = 0.05
SCAN_SECONDS = 0.5  # how often the user's other processes, shared memory and disk are counted
PROGRESS_LINE = re.compile(r"^" + re.escape(settings.PROGRESS) + r".*\n?", re.MULTILINE)
# TensorFlow's start-up chatter, dropped from what students read.
NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"
                   r"|To enable the following instructions|.*rebuild TensorFlow with the appropriate).*\n?",
                   re.MULTILINE)


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


def kill_tree(process, spare=()):
    """Kill the process group and every remaining descendant of the judge, orphans included
    (the judge is their subreaper), except the processes `spare` (pids) and their own children."""
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
        return process.pid in spare or process.ppid() in spare
    except psutil.Error:
        return False


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

    def __init__(self, uid, workdir, spare=()):
        self.uid, self.workdir, self.spare = uid, workdir, spare
        self.next, self.extra_mb, self.disk_mb = 0.0, 0.0, 0.0

    def update(self, tree):
        if time.monotonic() < self.next:
            return
        self.next = time.monotonic() + SCAN_SECONDS
        extra, inside = 0, {p.pid for p in tree}
        # escaped daemons: the user's other processes; without a user of its own, the judge's
        # other descendants (it is their subreaper), the waiting measuring process and the fork server aside
        escaped = processes_of(self.uid) if self.uid is not None else [
            p for p in psutil.Process().children(recursive=True) if not spared(p, self.spare)]
        for process in escaped:
            if process.pid not in inside and process.pid not in self.spare:
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

