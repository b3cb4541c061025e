"""The time a platform gives one grading, and how the grader spends it.

Gradescope kills a grading that overruns its timeout, and then shows no results at all. So
the judge keeps a deadline (the course file's platform timeout, less a reserve for measuring
and writing results.json), gives each process at most the time left before it, and stops a
part early, with a message that says what to raise, rather than lose every part's points.
It also measures the CPU it really has (affinity and cgroup quota), which the course file's
figure may overstate. TensorFlow gets the course file's CPUs as its threads per operation, on
every machine: how a sum is split among threads changes its last bits, so a regrade on a larger
machine trains exactly as Gradescope did and gives the same numbers.
"""
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path


# Memory of the platform's container that is not the student's: the measuring process waiting
# beside the builds with TensorFlow loaded (measured 522 MB idle; where it waits, the fork server
# that holds TensorFlow for every process, isolation/forkserver.py, takes this share), the judge (about 40 MB, more
# while it reads what processes exported and draws the report), and how far a process tree can
# grow past its limit between two of the watcher's looks (the issue measured 300 MB with
# forked daemons, which are counted every half second).
IDLE_MEASURING_MB, JUDGE_MB, OVERSHOOT_MB = 600, 300, 400
FLOOR_MB = 1500  # the reference's largest process peaks near 1 GB: never below half as much again (the kernel's OOM killer takes student processes first)


def memory_plan(platform_mb, limit_mb, measuring_waits):
    """(the student's process tree, the measuring process), in MB: the course's limit, lowered
    so that whatever runs at once (a build beside a waiting measuring process, or the measuring
    alone) plus the judge and the watcher's overshoot fits the platform's memory."""
    spare = platform_mb - JUDGE_MB - OVERSHOOT_MB
    student = spare - (IDLE_MEASURING_MB if measuring_waits else 0)
    return max(FLOOR_MB, min(limit_mb, student)), max(FLOOR_MB, min(limit_mb, spare))


def cgroup_quota():
    """CPUs allowed by this process's cgroup (v2 cpu.max or v1 cfs quota), or None if unlimited."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                try:
                    quota, period = Path(f"{root}{path}/cpu.max").read_text().split()
                except (OSError, ValueError):
                    continue
                return None if quota == "max" else int(quota) / int(period)
        elif "cpu" in controllers.split(","):
            folder = Path("/sys/fs/cgroup") / controllers / path.lstrip("/")
            for root in (folder, Path("/sys/fs/cgroup/cpu") / path.lstrip("/")):
                try:
                    quota = int((root / "cpu.cfs_quota_us").read_text())
                    period = int((root / "cpu.cfs_period_us").read_text())
                except (OSError, ValueError):
                    continue
                return None if quota <= 0 else quota / period
    return None


def cores():
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def available_cpus():
    """(CPUs this process can use, how that was found)."""
    count = cores()
    quota = cgroup_quota()
    if quota is not None and quota < count:
        return quota, f"cgroup quota {quota:g} of {count} cores"
    return float(count), f"{count} cores"


@dataclass
class Budget:
    """A grading's time: `timeout` seconds from `start` (time.monotonic()), of which `reserve`
    is kept for measuring and for writing results.json."""

    timeout: float
    stated_cpus: float
    cpus: float
    how: str
    start: float
    reserve: float

    @classmethod
    def plan(cls, platform, start=None):
        """From the course file's [platform] table (timeout in seconds, cpus)."""
        cpus, how = available_cpus()
        timeout = platform["timeout"]
        return cls(timeout, platform["cpus"], cpus, how, time.monotonic() if start is None else start,
                   reserve=min(120.0, 10.0 + 0.1 * timeout))

    def left(self):
        """Seconds left before the point where only measuring and writing results remain."""
        return self.start + self.timeout - self.reserve - time.monotonic()

    def measuring_left(self):
        """Seconds the measuring process may take, leaving a little for the checks."""
        return self.start + self.timeout - min(30.0, 5.0 + 0.05 * self.timeout) - time.monotonic()

    def threads(self):
        """Threads TensorFlow uses per operation: the course file's CPUs (rounded up), whatever
        this machine has, so that every machine computes the same numbers."""
        return max(1, math.ceil(self.stated_cpus))

    def describe(self):
        note = ("" if self.cpus >= self.stated_cpus else
                f"; fewer than the {self.stated_cpus:g} the course file states")
        return (f"platform: {self.timeout / 60:g} min allowed; CPU measured {self.cpus:g} ({self.how}){note}; "
                f"TensorFlow uses {self.threads()} thread(s) per operation, as the course file's cpus say on every machine "
                "(the same numbers everywhere)")

    def advice(self, needed):
        """What course staff should set when a grading needs `needed` seconds in all."""
        minutes = math.ceil(needed * 1.5 / 60 / 5) * 5  # with a 50% margin, in steps of 5 minutes
        return (f"the grading needed about {needed / 60:.0f} min of the {self.timeout / 60:g} min the platform "
                f"allows (CPU measured {self.cpus:g}). Course staff: set the autograder timeout to {minutes} min "
                "(course file: [platform] timeout_minutes) or give it more CPU.")
