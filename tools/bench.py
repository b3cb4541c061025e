"""Benchmark a full grading of the reference solution.

    python tools/bench.py [--runs 3] [--submission solution] [--cpus 0] [--course FILE] [--out outputs/bench.json] [--record]

Runs `python -m autograder` on the submission `--runs` times and prints medians of: wall
time, CPU seconds (user + sys of every process), peak resident memory of each stage's
process tree and of the judge, TensorFlow's import time, the epoch times of every training
part (from its progress lines) and the generation accuracy. `--cpus 0` pins the run to one core with taskset,
as a stand-in for Gradescope's small default container. `--record` (the reference only) keeps
the per-part figures in tools/reference_times.json and rewrites README.md's table from them:
make autograder's estimates come from there (tools/timing.py).
"""
import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import timing

ROOT = Path(__file__).resolve().parent.parent
STAGE_LINE = re.compile(r"^\[(\w+)\] build \w+, ([\d.]+) s, peak (\d+) MB(?:; measure \w+, ([\d.]+) s, peak (\d+) MB)?",
                        re.MULTILINE)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tf_import_seconds():
    code = "import time; t = time.perf_counter(); import tensorflow; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def one_run(submission, cpus, course=None):
    """Grade once; return the figures of that run."""
    with tempfile.TemporaryDirectory() as tmp:
        results_path = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "autograder", "--submission", submission,
                   "--results", str(results_path)] + (["--course", course] if course else [])
        if cpus is not None:
            command = ["taskset", "-c", cpus] + command
        cpu_before, start = children_cpu(), time.monotonic()
        printed = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        wall, cpu = time.monotonic() - start, children_cpu() - cpu_before
        judge_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        results = json.loads(results_path.read_text())
    stages = {m[1]: {"seconds": float(m[2]), "peak_rss_mb": float(m[3])}
              for m in STAGE_LINE.finditer(results["output"])}
    measured = [m for m in STAGE_LINE.finditer(results["output"]) if m[4]]
    if measured:  # one measuring process serves every part: its line repeats on each
        stages["measure"] = {"seconds": float(measured[0][4]), "peak_rss_mb": float(measured[0][5])}
    epochs = {}  # each training part's epoch times, from its progress lines
    for name, seconds in re.findall(r"\[(\w+)\] epoch \d+/\d+: .*?, ([\d.]+) s", printed):
        epochs.setdefault(name, []).append(float(seconds))
    accuracy = re.search(r"([\d.]+)% of \d+ generated", results["output"] + json.dumps(results["tests"]))
    return {"score": results["score"], "wall_s": wall, "cpu_s": cpu, "largest_process_peak_mb": judge_peak_mb,
            "stages": stages, "epoch_s": {k: statistics.median(v) for k, v in epochs.items()},
            "generation_accuracy": float(accuracy[1]) / 100 if accuracy else None}


def median_of(runs, *path):
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            values.append(value)
    return statistics.median(values) if values else None


def main(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark a full grading run.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--submission", default="solution")
    parser.add_argument("--cpus", default=None, help="e.g. 0: pin to that core with taskset")
    parser.add_argument("--course", default=None, help="course file (default: courses/default.toml)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench.json")
    parser.add_argument("--record", action="store_true",
                        help="keep the per-part figures in tools/reference_times.json and README.md (the reference only)")
    args = parser.parse_args(argv)
    if args.record and Path(args.submission).resolve() != (ROOT / "solution").resolve():
        parser.error("--record keeps the reference's times: leave out --submission")
    tf_import = statistics.median(tf_import_seconds() for _ in range(3))
    runs = []
    for k in range(args.runs):
        runs.append(one_run(args.submission, args.cpus, args.course))
        print(f"run {k + 1}: score {runs[-1]['score']}, wall {runs[-1]['wall_s']:.0f} s, "
              f"cpu {runs[-1]['cpu_s']:.0f} s", flush=True)
    stage_names = runs[0]["stages"].keys()
    summary = {
        "runs": args.runs, "cpus": args.cpus or "all", "tensorflow_import_s": tf_import,
        "wall_s": median_of(runs, "wall_s"), "cpu_s": median_of(runs, "cpu_s"),
        "largest_process_peak_mb": median_of(runs, "largest_process_peak_mb"),
        "stages": {s: {"seconds": median_of(runs, "stages", s, "seconds"),
                       "peak_rss_mb": median_of(runs, "stages", s, "peak_rss_mb")} for s in stage_names},
        "epoch_s": {k: median_of(runs, "epoch_s", k) for k in dict.fromkeys(k for r in runs for k in r["epoch_s"])},
        "generation_accuracy": median_of(runs, "generation_accuracy"),
        "scores": [r["score"] for r in runs],
    }
    print(json.dumps(summary, indent=2))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    print(f"written to {args.out}")
    if args.record:
        course = Path(args.course or ROOT / "courses" / "default.toml").name
        record = timing.recorded(summary, course, timing.machine(timing.cores_used(args.cpus)))
        timing.README.write_text(timing.readme_with(timing.README.read_text(), record, timing.courses()))
        print(f"recorded in {timing.RECORD.relative_to(ROOT)} and README.md's table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
