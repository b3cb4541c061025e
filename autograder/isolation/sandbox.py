"""Run the processes of a grading in fresh folders, with limits, as unprivileged users.

Each part of the homework runs two kinds of process (child.py):

    build    the student's code: imports the submission, trains, exports graphs
    measure  the judge's code on those graphs, with the judge's secret inputs

The judge (this process) never imports student code or TensorFlow. A Sandbox is one grading:
its folder, its user ids and walls (users.py, walls.py, landlock.py), each process started in
a folder of its own and watched within its limits (watching.py), what it leaves read
defensively (reading.py), and everything of it removed at the end.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import forkserver, landlock
from ..config import settings
from .reading import MAX_ARTIFACT_BYTES, MAX_ARTIFACT_FILES, copy_tree, read_arrays, read_json
from .users import (as_user, become_subreaper, can_cut_network, can_refuse_sockets, clean_up, is_root,
                    readable_copies, usable_by_others, Slot)
from .walls import Exposed, private_copy, probe
from .watching import OutputCollector, Usage, kill_tree, watch

NPROC_LIMIT = 2048  # threads count too: TensorFlow starts a few per core
WINDOWS_NEEDS = ("SYSTEMROOT", "WINDIR", "TEMP", "TMP", "USERPROFILE", "LOCALAPPDATA", "APPDATA")


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
            "disk": "This part wrote more than the disk limit (sparse files count at their full size) and was "
                    f"stopped, or exported more than {MAX_ARTIFACT_BYTES // 10**6} MB or {MAX_ARTIFACT_FILES} files; "
                    "nothing it exported was measured.",
            "crashed": "Your code ended the grading process before it finished (a crash, "
                       "sys.exit, os._exit or a signal). The output below shows its last words.",
        }.get(self.status, "")



class Sandbox:
    """The processes of one grading: its folder, its user ids, its cleanup."""

    def __init__(self, limits, grader, allow_unsandboxed=False, threads=None, fork=False):
        """grader: the grader's files its processes may import (walls.private_copy). fork: start
        processes from the fork server (forkserver.py), where the memory plan holds one process
        with TensorFlow loaded beside the builds (budget.IDLE_MEASURING_MB)."""
        self.limits, self.threads = limits, threads
        self.waiting = None  # a measuring process started early (start_measuring)
        subreaper = become_subreaper()
        self.forks = forkserver.server() if fork and subreaper else None  # it loads TensorFlow meanwhile
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
        Landlock, seccomp; forked by the fork server (forkserver.py) where it runs, else started
        afresh. Output: a pipe (stderr joined)."""
        rules = landlock.ruleset(self.readable(), [str(workdir), "/dev/shm"]) if self.landlock else None
        walls = uid is not None or self.seccomp or rules is not None
        cut_network, env = self.network_cut and uid is not None, self.environment(workdir)
        try:
            forked = self.forks and self.forks.spawn(command, cwd, env, walls, uid, cut_network, self.seccomp, rules)
            return forked or subprocess.Popen(
                command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=as_user(uid, cut_network, self.seccomp, rules) if walls else None)
        finally:
            if rules is not None:
                os.close(rules)

    def spawn_code(self, code, args, workdir, uid):
        """Start `python -I -c code args...` behind the walls (the walls' probe, walls.probe)."""
        return self.popen([sys.executable, "-I", "-c", code, *args], workdir, workdir, uid)

    def spawn(self, kind, parts, workdir, cwd, uid, echo):
        """Start child.py `kind` for `parts` in `workdir`, as `uid`, its output collected."""
        process = self.popen([sys.executable, "-I", str(self.runtime / "autograder" / "isolation" / "child.py"), kind, parts,
                              str(workdir), str(self.memory_mb(kind))], workdir, cwd, uid)
        collector = OutputCollector(process.stdout, self.limits.output_bytes, echo)
        collector.start()
        return Running(kind, process, collector, workdir, uid)

    def finish(self, running, timeout):
        """Watch a started process to its end within `timeout`, then kill every process of its
        user (or its process tree), sparing a measuring process that waits for its jobs."""
        start = time.monotonic()
        spare = {pid for pid in (self.waiting and self.waiting.process.pid, forkserver.pid()) if pid}
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
    process: subprocess.Popen  # or a forkserver.Forked
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

