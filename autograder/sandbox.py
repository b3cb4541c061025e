"""Run one grading stage of untrusted student code in a separate, limited process.

The judge (this process) never imports the student's code or TensorFlow. For each
stage it copies the submission into a fresh folder, writes the stage's inputs, and
starts `child.py` there:

    judge --inputs.npz + nonce on stdin--> child (imports student code, runs probes)
    judge <--report.json + outputs.npz----- child

Limits: a wall-clock timeout, a resident-memory ceiling on the whole process tree
(psutil, polled), and a cap on the output kept (head and tail; the rest is counted
and dropped while the pipe is drained, so a flood never blocks or fills memory).
When the stage ends, every process it started is killed before its files are read,
so nothing it left behind can write afterwards: the judge is a child subreaper, so even
a daemon that double-forked out of the stage's session stays its descendant. As root (Gradescope) the child runs
as an unprivileged user that cannot read the judge's files or write the results.
"""
import json
import os
import re
import secrets
import shutil
import signal
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

from . import settings

CHILD = settings.PACKAGE / "child.py"
SANDBOX_USER = "nobody"
POLL_SECONDS = 0.05
MAX_REPORT_BYTES = 1_000_000
MAX_OUTPUTS_BYTES = 64_000_000  # compressed or not, on disk and once loaded
# TensorFlow's start-up chatter, dropped from what students read.
NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]).*\n?",
                   re.MULTILINE)


@dataclass
class StageRun:
    """What the judge learned from one stage. `status` is one of:
    ok, timeout, memory, crashed (died or exited before reporting)."""

    stage: str
    status: str
    seconds: float
    peak_rss_mb: float
    output: str
    report: dict = field(default_factory=dict)  # probe name -> {"ok": bool, ...}
    arrays: dict = field(default_factory=dict)  # "probe.key" -> np.ndarray
    import_error: str = ""

    def problem(self, probe=None):
        """Why `probe` (or the whole stage) has no result, or '' if it has one: the stage
        failed to import, or stopped (timeout, memory, crash) before that probe finished."""
        if probe is not None and probe in self.report and not self.import_error:
            return ""
        if self.import_error:
            return self.import_error
        return {
            "timeout": f"This stage ran out of time ({self.seconds:.0f} s) and was stopped. "
                       "Look for an infinite loop or a very slow operation.",
            "memory": f"This stage used more than the memory limit ({self.peak_rss_mb:.0f} MB "
                      "resident) and was stopped (out of memory).",
            "crashed": "Your code ended the grading process before it finished (a crash, "
                       "sys.exit, os._exit or a signal). The output below shows its last words.",
        }.get(self.status, "")


class OutputCollector(threading.Thread):
    """Drain a pipe, keeping the first and last `limit / 2` bytes and counting the rest."""

    def __init__(self, pipe, limit):
        super().__init__(daemon=True)
        self.pipe, self.half = pipe, limit // 2
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def run(self):
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.total += len(chunk)
            room = self.half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            self.tail = (self.tail + chunk)[-self.half:]

    def text(self):
        dropped = self.total - len(self.head) - len(self.tail)
        middle = f"\n... [{dropped} bytes of output omitted] ...\n" if dropped > 0 else ""
        text = (bytes(self.head).decode(errors="replace") + middle
                + bytes(self.tail).decode(errors="replace"))
        return NOISE.sub("", text)


@lru_cache(maxsize=None)
def sandbox_ids():
    """(uid, gid) of the unprivileged user, or None when we cannot switch to it: not root,
    no such user, or that user cannot run the interpreter, import the grader or read
    MNIST (e.g. they live under /root). Failing safe matters: a sandbox user that cannot
    read what a stage needs would turn every submission's grade into zero."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        return None
    check = (f"import sys; sys.path.insert(0, {str(settings.ROOT)!r}); import autograder.probes; "
             f"open({str(settings.MNIST_NPZ)!r}, 'rb').close(); "
             f"open({str(settings.PRISTINE_ASSIGNMENT)!r}).close()")
    try:
        probe = subprocess.run([sys.executable, "-I", "-c", check], user=entry.pw_uid,
                               group=entry.pw_gid, extra_groups=[], capture_output=True,
                               cwd="/", timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return (entry.pw_uid, entry.pw_gid) if probe.returncode == 0 else None


def become_subreaper():
    """Adopt orphaned descendants (Linux prctl PR_SET_CHILD_SUBREAPER); False elsewhere."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_everything(process):
    """Kill the stage's process group and every remaining descendant of the judge, orphans
    included (the judge is their subreaper). Nothing else is touched, so several graders
    can share a machine and the sandbox user."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(10):  # again until none is left: a fork loop can outrun one sweep
        leftovers = psutil.Process().children(recursive=True)
        if not leftovers:
            break
        for child in leftovers:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(leftovers, timeout=2)  # reap the adopted orphans
    process.wait()


def remove_files_of(uid):
    """Delete what the sandbox user left in the shared temporary folders (sparing other
    graders' stage folders, which their own grader removes)."""
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid or entry.name.startswith("vae-"):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def tree_rss_mb(process):
    """Resident memory of `process` and all its descendants, in MB."""
    try:
        procs = [process] + process.children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def stage_environment(workdir):
    """A minimal environment: nothing of the judge's leaks in, nothing is downloaded."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(workdir / "matplotlib"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": str(settings.SEED),
        "GRADER_SEED": str(settings.SEED),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MNIST_NPZ": str(settings.MNIST_NPZ),
        "GRADER_ROOT": str(settings.ROOT),
    }


def prepare(workdir, files, inputs, ids):
    """Copy the student's files into workdir/submission and write the inputs."""
    submission = workdir / "submission"
    submission.mkdir()
    for source in files:
        shutil.copyfile(source, submission / source.name)
    np.savez(workdir / "inputs.npz", **inputs)
    if ids:
        for path in [workdir, submission, *submission.iterdir(), workdir / "inputs.npz"]:
            os.chown(path, *ids)
    return submission


def read_results(workdir, nonce):
    """(report, arrays) written by child.py, or ({}, {}) if missing, forged or oversized."""
    report_path, arrays_path = workdir / "report.json", workdir / "outputs.npz"
    try:
        if report_path.stat().st_size > MAX_REPORT_BYTES:
            return {}, {}
        report = json.loads(report_path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}, {}
    if not isinstance(report, dict) or report.get("nonce") != nonce:
        return {}, {}
    arrays = {}
    try:
        with zipfile.ZipFile(arrays_path) as archive:  # refuse a decompression bomb unopened
            unpacked = sum(info.file_size for info in archive.infolist())
        if arrays_path.stat().st_size <= MAX_OUTPUTS_BYTES and unpacked <= MAX_OUTPUTS_BYTES:
            with np.load(arrays_path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
    except Exception:  # anything malformed is simply no data
        arrays = {}
    return report, arrays


def run_stage(stage, files, inputs, limits, timeout=None):
    """Run `stage` of the submission made of `files` (paths) with `inputs` (name -> array).

    Returns a StageRun; never raises because of what the student code did.
    """
    timeout = limits.timeout(stage) if timeout is None else timeout
    become_subreaper()
    ids = sandbox_ids()
    nonce = secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix=f"vae-{stage}-"))
    try:
        submission = prepare(workdir, files, inputs, ids)
        start = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-I", str(CHILD), stage, str(workdir), str(limits.memory_mb)],
            cwd=submission, env=stage_environment(workdir), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            **({"user": ids[0], "group": ids[1], "extra_groups": []} if ids else {}),
        )
        collector = OutputCollector(process.stdout, limits.output_bytes)
        collector.start()
        try:
            process.stdin.write(nonce.encode() + b"\n")
            process.stdin.close()
        except BrokenPipeError:
            pass
        status, peak = watch(process, timeout, limits.memory_mb)
        seconds = time.monotonic() - start
        kill_everything(process)
        collector.join(timeout=5)
        report, arrays = read_results(workdir, nonce)
        if status == "ok" and not report.get("complete"):  # ended before the child finished
            status = "crashed"
        return StageRun(stage, status, seconds, peak, collector.text(),
                        report.get("probes", {}), arrays, report.get("import_error", ""))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if ids:
            remove_files_of(ids[0])  # only after its results were read


def watch(process, timeout, memory_mb):
    """Wait for `process`, enforcing the limits. Returns (status, peak RSS in MB)."""
    deadline = time.monotonic() + timeout
    handle = psutil.Process(process.pid)
    peak = 0.0
    while process.poll() is None:
        rss = tree_rss_mb(handle)
        peak = max(peak, rss)
        if rss > memory_mb:
            return "memory", peak
        if time.monotonic() > deadline:
            return "timeout", peak
        time.sleep(POLL_SECONDS)
    return "ok", peak
