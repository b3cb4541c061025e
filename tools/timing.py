"""How long the reference takes to grade, as `make bench ARGS=--record` last measured it, and
the estimates made from that: `make autograder`'s check against the course's timeout and the
README's table (between the BEGIN/END lines below), never figures written by hand.

The record (tools/reference_times.json) keeps, per part, the median seconds and peak memory of
its student processes, the measuring process's, and the rest of the wall time (the judge's own
checks, the walls' probe, pictures), with the machine and date of the bench.
"""
import datetime
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "tools" / "reference_times.json"
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT))
from autograder.config.course import load as load_course  # noqa: E402
from autograder.parts import NAMES  # noqa: E402

BEGIN, END = "<!-- BEGIN make bench ARGS=--record -->", "<!-- END make bench ARGS=--record -->"
MARGIN = 1.25  # estimates are the measured time times this: gradings on a busy platform take longer
TWO_CORE_SPEEDUP = 1.58  # one core takes this much longer than two (bench --cpus 0 against 2 cores)


class MissingTimes(Exception):
    """The record has no time for some of a course's parts."""


def load(path=RECORD):
    return json.loads(path.read_text()) if path.is_file() else {"parts": {}}


def recorded(summary, course, machine, path=RECORD):
    """Fold a bench summary (tools/bench.py) of `course` into the record: the parts it graded take
    its figures, the others keep theirs. Returns the record, written to `path`."""
    record = load(path)
    for name, stage in summary["stages"].items():
        if name == "measure":
            continue
        record["parts"][name] = {"seconds": round(stage["seconds"], 1), "peak_mb": round(stage["peak_rss_mb"])}
    measure = summary["stages"].get("measure", {"seconds": 0.0, "peak_rss_mb": 0})
    parts_seconds = sum(stage["seconds"] for name, stage in summary["stages"].items() if name != "measure")
    record.update({
        "course": course, "machine": machine, "runs": summary["runs"],
        "wall_s": round(summary["wall_s"], 1), "cpu_s": round(summary["cpu_s"], 1),
        "measure": {"seconds": round(measure["seconds"], 1), "peak_mb": round(measure["peak_rss_mb"])},
        "rest_s": round(max(0.0, summary["wall_s"] - parts_seconds - measure["seconds"]), 1),
        "largest_process_peak_mb": round(summary["largest_process_peak_mb"])})
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def measured_seconds(names, record):
    """Wall seconds the bench measured for grading the parts `names` on its machine."""
    missing = [name for name in names if name not in record["parts"]]
    if missing:
        raise MissingTimes(f"make bench has recorded no time for {', '.join(missing)}: run make bench "
                           "COURSE=<a course with them> ARGS=--record")
    return sum(record["parts"][name]["seconds"] for name in names) + record["measure"]["seconds"] + record["rest_s"]


def slowdown(cpus, bench_cpus):
    """How much longer a grading takes on `cpus` CPUs than on the bench's: none with as many or
    more, TWO_CORE_SPEEDUP at one of two, in proportion below one."""
    if cpus >= bench_cpus:
        return 1.0
    one = TWO_CORE_SPEEDUP if bench_cpus >= 2 else 1.0
    return one / cpus if cpus < 1 else 1 + (one - 1) * (bench_cpus - cpus) / max(1, bench_cpus - 1)


def estimate(names, cpus, record=None):
    """Wall seconds to budget for grading the reference's parts `names` on `cpus` CPUs: what the
    bench measured, slowed for fewer CPUs, times MARGIN."""
    record = record or load()
    return measured_seconds(names, record) * slowdown(cpus, record["machine"]["cpus"]) * MARGIN


def table(record, courses):
    """The README's table: each part's measured time and peak, then each course's estimate."""
    machine = record["machine"]
    lines = [f"Measured by `make bench COURSE=courses/{record['course']} ARGS=--record` on {machine['cpus']} cores "
             f"({machine['cpu']}), {machine['date']}, median of {record['runs']} runs: {record['wall_s']:.0f} s wall, "
             f"{record['cpu_s']:.0f} CPU-seconds, largest process {record['largest_process_peak_mb']} MB. "
             "Each part is its student processes (TensorFlow's import, building, training, exporting).",
             "", "| part | seconds | peak MB |", "|---|---|---|"]
    lines += [f"| `{name}` | {record['parts'][name]['seconds']:.1f} | {record['parts'][name]['peak_mb']} |"
              for name in sorted(record["parts"], key=lambda name: NAMES.index(name) if name in NAMES else len(NAMES))]
    lines += [f"| the measuring process (every part's graphs on the secret inputs) | {record['measure']['seconds']:.1f} "
              f"| {record['measure']['peak_mb']} |",
              f"| the rest (judge's checks, classifier, pictures, walls) | {record['rest_s']:.1f} | |", "",
              f"`make autograder` budgets the measured time times {MARGIN} (and {TWO_CORE_SPEEDUP}x on one CPU, in "
              "proportion below) and refuses a course whose timeout leaves less than a 50% margin over that:", "",
              "| course | estimate | timeout |", "|---|---|---|"]
    for course in courses:
        seconds = estimate(course.names(), course.platform["cpus"], record)
        lines.append(f"| `{course.path.name}` | {seconds / 60:.1f} min on {course.platform['cpus']:g} CPU | "
                     f"{course.platform['timeout'] / 60:g} min ({course.platform['timeout'] / seconds:.1f}x) |")
    return "\n".join(lines)


def readme_with(text, record, courses):
    """README text with its bench table replaced by table(record, courses)."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table(record, courses) + "\n" + text[end:]


def courses():
    """Every course file of the repository."""
    return [load_course(path) for path in sorted((ROOT / "courses").glob("*.toml"))]


def machine(cpus):
    """The bench machine: cores used, processor model, date."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown processor") if Path("/proc/cpuinfo").is_file() else "unknown"
    return {"cpus": cpus, "cpu": model, "date": datetime.date.today().isoformat()}


def cores_used(pinned):
    """CPUs a bench ran on: those `pinned` with taskset (e.g. '0', '0,1' or '0-3'), else this process's."""
    if pinned:
        return sum(int(b) - int(a) + 1 for a, _, b in (p.partition("-") for p in pinned.split(",")) if b) + \
            sum(1 for p in pinned.split(",") if "-" not in p)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

