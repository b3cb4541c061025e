"""The one grader: submission -> for each part, a student process that builds and a
measuring process that computes -> checks -> results.json.

Both Gradescope (run_autograder) and `make grade` call grade(). This process is the judge:
it never imports the student's code or TensorFlow, it draws every measuring input from its
secret key, and it writes results.json only after every student process has been killed,
from values the measuring processes computed and it checked itself.
"""
import json
import os
import re
import shutil
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .judging import kit, secret
from .outputs import record, report
from .config import settings
from .isolation import steps
from .config.course import load as load_course
from .config.locate import describe_missing, left_out, locate
from .outputs.results import build, clean_text, table, test_entry, write
from .config.budget import Budget, memory_plan
from .config.stamp import grader_files, stamp
from .parts import BY_NAME
from .isolation.sandbox import Sandbox, StageRun, Unsandboxed, copy_tree
from .isolation.walls import Exposed

SAFE_KEY = re.compile(r"^[A-Za-z0-9_.]{1,100}$")
MAX_RESULTS_BYTES = 900_000  # Gradescope's limit for results.json is 1 MB
EARLY_MEASURING_MB = 2500  # below this much memory, the measuring process waits for the builds


def mapping(value):
    return value if isinstance(value, dict) else {}


@dataclass
class PartRun:
    """What the judge knows about one part: the student's process (build), the measuring
    process (measure) and the inputs both were given (for the checks)."""

    name: str
    build: StageRun
    measure: StageRun
    inputs: dict
    extras: dict = field(default_factory=dict)  # what checks leave for the report (generated digits)

    @property
    def results(self):
        return mapping(self.measure.report.get("results")) if self.measure else {}

    @property
    def arrays(self):
        return self.measure.arrays if self.measure else {}

    @property
    def facts(self):
        return mapping(self.build.report.get("facts"))

    def import_error(self):
        return str(self.build.report.get("import_error") or "")

    def build_errors(self):
        return mapping(self.build.report.get("errors"))

    def built_error(self, name):
        """The student process's message for step or endpoint `name`, or why it stopped."""
        error = mapping(self.build.report.get("errors")).get(name)
        if error:
            return str(error)
        return self.build.stop_reason() or f"your code did not produce '{name}' (the stage ended early)"

    def problem(self, name):
        """Why measurement `name` has no result, or '' if it has one."""
        if self.import_error():
            return self.import_error()
        result = mapping(self.results.get(name))
        if result.get("ok") is True:
            return ""
        if "missing" in result:
            if result.get("reason"):
                return f"Your exported graph for '{result['missing']}' was refused: {result['reason']}"
            return self.built_error(str(result["missing"]))
        if result.get("error"):
            return str(result["error"])
        if self.measure is None:
            return self.build.stop_reason() or "nothing was exported to measure"
        if self.measure.status != "ok":
            return (f"Measuring your exported model stopped: the judge's process running your graphs "
                    f"{ {'timeout': 'ran out of time', 'memory': 'ran out of memory'}.get(self.measure.status, 'crashed') } "
                    f"after {self.measure.seconds:.0f} s.")
        return f"the grader's '{name}' measurement did not run"

    def fact_problem(self, name):
        if self.import_error():
            return self.import_error()
        if isinstance(self.facts.get(name), dict):
            return ""
        return self.built_error(name)

    def summary(self):
        line = f"[{self.name}] " + "; ".join(
            f"{stage.kind} {stage.status}, " + (f"in {stage.shared}'s measuring process" if stage.shared else
                                                 f"{stage.seconds:.1f} s, peak {stage.peak_rss_mb:.0f} MB")
            for stage in (self.build, self.measure) if stage is not None)
        output = self.build.output.strip()
        return line + ("\n" + output if output else "")


def run_check(test, run):
    """(fraction, message) of one test; an unexpected error in a check earns nothing."""
    kit.NOTES.clear()
    try:
        verdict = test.check(run, run.inputs)
    except kit.Fail as failure:
        return 0.0, str(failure)
    except Exception:  # a bug of the grader must not become points, nor hide the others
        return 0.0, "The grader could not evaluate this test (internal error):\n" + traceback.format_exc(limit=3)
    fraction, message = verdict if verdict else (1.0, "passed")
    if kit.NOTES:
        message += " (" + "; ".join(kit.NOTES) + ")"
    return fraction, message


def build_timeout(part, limits, shares=1.0):
    """A part's own time limit: its TRAINING_SHARE of the training budget if it trains, scaled
    down when the course's training parts' `shares` add up to more than 1; else unit_timeout."""
    share = getattr(part, "TRAINING_SHARE", None)
    return limits.training_budget * share / max(1.0, shares) if share else limits.unit_timeout


def build_part(box, part, files, digest, limits, log, budget, pace, host=None, shares=1.0):
    """Run the student's process of `part` within what is left of the budget. Returns (its
    StageRun, inputs it was given, the judge's secret inputs). `pace` holds the seconds per
    epoch seen so far, to foresee whether a training part can finish at all; `host`: the
    artifacts of the part it USES (its process gets a copy), or None; `shares`: what the course's
    training parts' TRAINING_SHAREs add up to."""
    given = part.build_inputs(secret.generator(part.NAME, "given", digest)) if hasattr(part, "build_inputs") else {}
    hidden = part.inputs(secret.generator(part.NAME, "secret", digest))
    epochs = getattr(part, "EPOCHS", 0)
    foreseen = epochs * sum(pace) / len(pace) + 20.0 if pace and epochs else 0.0
    if budget.left() < max(10.0, foreseen):
        needed = budget.timeout - budget.left() + budget.reserve + max(foreseen, 60.0)
        return cut(f"Not started: {budget.advice(needed)}"), given, hidden
    echo = lambda line: log(f"  [{part.NAME}] {line}", flush=True)  # noqa: E731 - training progress
    own = build_timeout(part, limits, shares)
    run = steps.run(box, part, given, lambda: min(own, budget.left()), files, echo, host)
    seconds = mapping(mapping(run.report.get("facts")).get("train")).get("seconds")
    if isinstance(seconds, list) and seconds and all(isinstance(s, (int, float)) for s in seconds):
        pace.extend(seconds)
        if run.status == "timeout" and own > budget.left() + run.seconds - 1:  # the budget, not the part's limit
            reported = len(seconds)
            needed = budget.timeout - budget.left() + budget.reserve + (epochs - reported) * sum(seconds) / reported
            run.status, run.note = "cut", (f"Stopped after {reported} of {epochs} epochs to finish within the "
                                           f"platform's time: {budget.advice(needed)}")
    elif run.status == "timeout" and own > budget.left() + run.seconds - 1:
        run.status, run.note = "cut", f"Stopped to finish within the platform's time: {budget.advice(budget.timeout * 1.5)}"
    return run, given, hidden


def cut(note):
    return StageRun("build", "cut", 0.0, 0.0, "", {"complete": True}, note=note)


def measure_all(box, built, limits, budget):
    """One measuring process for every part that built, in order; if it stops on a part,
    that part keeps the failure and the parts after it are measured again in a new one.
    Returns {part: StageRun}."""
    jobs = []
    for name, (run, given, hidden) in built.items():
        if run.report.get("import_error") or run.status in ("cut", "disk") and not run.artifacts:
            continue
        student = {f"student.{k}": v for k, v in run.arrays.items() if SAFE_KEY.match(k)}
        exported = {str(k): str(v) for k, v in mapping(run.report.get("exported")).items()}
        artifacts = run.artifacts
        part = BY_NAME[name]
        if getattr(part, "USES", None):
            artifacts, exported = with_host(part, artifacts, exported, built.get(part.USES))
            if not isinstance(run.report.get("errors"), dict):
                run.report["errors"] = {}
            run.report["errors"].update({e: part.NO_HOST for e in part.USED_ENDPOINTS if e not in exported})
        jobs.append((name, {**given, **hidden, **student}, artifacts, exported))
    measured = {}
    while jobs and budget.measuring_left() > 1:
        runs = box.measure(jobs, min(limits.measure_timeout, budget.measuring_left()))
        measured.update({name: run for name, run in runs.items() if run.status != "skipped"})
        jobs = [job for job in jobs if runs[job[0]].status == "skipped"]
    return measured


def host_artifacts(part, built):
    """The judge's copy of what the part `part` USES exported, or None (not built, or no artifacts)."""
    host = built.get(getattr(part, "USES", None))
    return host[0].artifacts if isinstance(host, tuple) else None


def with_host(part, artifacts, exported, host):
    """(artifacts, exported) for measuring `part`, which looks inside what the part it USES
    exported: its own artifacts and endpoints, but the endpoints named USED_ENDPOINTS are the
    host's, from the judge's copy of the host's artifacts (as prefixed folders), whatever this
    part's student process exported."""
    own = {k: v for k, v in exported.items() if k not in part.USED_ENDPOINTS and not v.startswith("host_")}
    if not isinstance(host, tuple) or host[0].artifacts is None:
        return artifacts, own
    merged = host[0].artifacts.parent / f"artifacts-{part.NAME}-with-host"
    shutil.rmtree(merged, ignore_errors=True)
    if artifacts is not None:
        copy_tree(artifacts, merged)
    else:
        merged.mkdir(mode=0o700)
    for path in merged.glob("host_*"):  # the student's own, named like the host's
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() else path.unlink()
    copied = set()
    for endpoint, artifact in mapping(host[0].report.get("exported")).items():
        source = host[0].artifacts / str(artifact)
        if endpoint in part.USED_ENDPOINTS and str(artifact).isidentifier() and source.is_dir():
            if artifact not in copied:
                copy_tree(source, merged / f"host_{artifact}")
                copied.add(artifact)
            own[endpoint] = f"host_{artifact}"
    return merged, own


def ensure_training_split():
    """data/<dataset>-train.npz: the training half of the data set, all a student's process may read."""
    target = settings.train_npz()
    if target.exists() and target.stat().st_mtime >= settings.data_npz().stat().st_mtime:
        return
    with np.load(settings.data_npz()) as data:
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial.npz")
        np.savez(partial, x_train=data["x_train"], y_train=data["y_train"])
    os.chmod(partial, 0o644)
    os.replace(partial, target)


def grade(submission, results_path, limits=None, stages=None, hidden=(), log=print, allow_unsandboxed=False,
          course=None, record_path=None):
    """Grade the submission folder and write results_path. Returns the results dict.

    course: the Course graded (default: course.load()); limits: its limits unless given;
    stages: names of the parts to run (the others' tests score 0, marked not graded);
    hidden: test numbers whose results students see only after the due date;
    allow_unsandboxed: as root, run student code even without an unprivileged user;
    record_path: where to keep what was measured, to re-score it later (record.py).
    """
    start = time.monotonic()
    course = course or load_course()
    settings.use(course.dataset)
    limits = limits or course.limits
    early = course.platform["memory_mb"] >= EARLY_MEASURING_MB
    student_mb, measuring_mb = memory_plan(course.platform["memory_mb"], limits.memory_mb, early)
    planned = replace(limits, memory_mb=student_mb, measure_memory_mb=measuring_mb)  # the processes'; records keep `limits`
    budget = Budget.plan(course.platform, start)
    selected = set(stages) if stages is not None else {p.NAME for p in course.parts}
    found, missing, helpers = locate(submission, course.files())
    verdicts, notes, box, problem = {}, [], None, ""
    if found:
        try:
            ensure_training_split()
            box = Sandbox(planned, grader_files(course.dataset, course.names()), allow_unsandboxed,
                          threads=budget.threads(), fork=early)
        except (Unsandboxed, Exposed) as refusal:
            problem = str(refusal)
    try:
        digest = secret.digest(list(found.values()) + helpers)
        if box is not None and not problem and early:
            box.start_measuring()  # TensorFlow loads there while the parts build
        built, pace = {}, []
        shares = sum(getattr(part, "TRAINING_SHARE", 0.0) for part in course.parts)
        for part in course.parts:
            if problem or part.NAME not in selected or any(name in missing for name in part.FILES):
                continue
            log(f"grading {part.NAME} ...", flush=True)
            files = [found[name] for name in part.FILES] + helpers
            try:
                built[part.NAME] = build_part(box, part, files, digest, limits, log, budget, pace,
                                              host_artifacts(part, built), shares)
            except Exception:  # the grader's own failure costs this part, not the others
                built[part.NAME] = traceback.format_exc(limit=3)
        measured = {}
        if built:
            log(f"measuring {len(built)} part(s) ...", flush=True)
            try:
                measured = measure_all(box, {k: v for k, v in built.items() if not isinstance(v, str)}, limits, budget)
            except Exception:  # the grader's own failure: no part can be scored
                built = dict.fromkeys(built, traceback.format_exc(limit=3))
        runs = {}
        for part in course.parts:
            needed = [name for name in part.FILES if name in missing]
            reason = problem or (describe_missing(submission, part.FILES, missing) if needed else "")
            part_verdicts, runs[part.NAME] = part_verdicts_of(part, course.tests[part.NAME], reason, selected,
                                                              built.get(part.NAME), measured.get(part.NAME), notes)
            verdicts.update(part_verdicts)
        skipped = left_out(found, helpers)
        output = problem or "\n\n".join(([box.describe(), budget.describe()] if box else []) + ([skipped] if skipped else [])
                                         + notes)
    finally:
        if box is not None:
            box.close()
    output, seconds = output or "nothing was graded", time.monotonic() - start
    pictures = pictures_of({k: v for k, v in runs.items() if v is not None}, log)
    results = score(course, verdicts, seconds, output, pictures, results_path, log, hidden)
    if record_path and selected == {p.NAME for p in course.parts}:
        key = record.measured_key(replace(course, limits=limits), results["extra_data"])
        record.save(record_path, key, verdicts, seconds, output, pictures)
    return results


def rescore(record_path, results_path, course, log=print):
    """Write results_path again from the record of an earlier grading, with `course`'s points,
    visibility and extra credit (seconds, nothing runs). Returns the results, or None when the
    record is missing or was measured under anything else that `course` changes (grade again)."""
    kept = record.load(record_path, record.measured_key(course, stamp(course)))
    numbers = [t.number for part in course.parts for t in course.tests[part.NAME]]
    if kept is None or set(kept["verdicts"]) != set(numbers):
        return None
    results = score(course, kept["verdicts"], kept["seconds"], kept["output"], kept["pictures"], results_path, log)
    return results


def score(course, verdicts, seconds, output, pictures, results_path, log, hidden=()):
    """results.json from the checks' verdicts ({number: (fraction, message)}) with the course's
    points and visibility (and `hidden` tests after the due date), stamped, with its reports
    beside it. Returns the results."""
    entries = [entry(test, *verdicts[test.number], hidden) for part in course.parts for test in course.tests[part.NAME]]
    stamped = stamp(course)
    said = (f"graded by grader {stamped['grader']}" + (f" (commit {stamped['commit']})" if stamped["commit"] else "")
            + f", course {stamped['course']} {stamped['course_sha256']}, key {stamped['key']}")
    later = (f"\n{course.after_due_date:g} more points are graded after the due date (not in this grading)."
             if course.after_due_date else "")
    results = build(entries, seconds, clean_text(f"{said}{later}\n\n{output}"))
    results["extra_data"] = stamped
    add_pictures(results, pictures, course, results_path, log)
    write(results, results_path)
    return results


def pictures_of(runs, log):
    """report.figures(runs), or none if drawing them fails (pictures never cost a grade)."""
    try:
        return report.figures(runs)
    except Exception:
        log("no pictures: " + traceback.format_exc(limit=2), flush=True)
        return []


def add_pictures(results, pictures, course, results_path, log):
    """Write report.html beside results_path (what a student sees before the due date: the
    visible tests and their pictures) and report-staff.html (every test and picture), and,
    unless the course wants plain text, put the visible tests' pictures into results.json's
    overview, which Gradescope always shows (as many as keep results.json under its limit, in order)."""
    try:
        student, shown_pictures = report.visible(results, pictures)
        hidden = len(results["tests"]) - len(student["tests"])
        folder = Path(results_path).parent
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.html").write_text(report.page(student, shown_pictures, course.title, hidden), encoding="utf-8")
        (folder / "report-staff.html").write_text(report.page(results, pictures, course.title + " (staff: every test)"),
                                                  encoding="utf-8")
        log(f"report with pictures: {folder / 'report.html'} (as students see it; every test: report-staff.html)",
            flush=True)
    except Exception:  # pictures are a courtesy: never a reason to lose the grade
        log("no pictures: " + traceback.format_exc(limit=2), flush=True)
        return
    shown = report.overview(results["output"], shown_pictures, course.results_format)
    if shown is None:
        return
    fitting = list(shown_pictures)
    while fitting and len(json.dumps({**results, "output": shown})) > MAX_RESULTS_BYTES:
        fitting.pop()  # the last parts' pictures first: every picture stays in report.html
        shown = report.overview(results["output"], fitting, course.results_format)
    if len(fitting) < len(shown_pictures):
        log(f"Gradescope's overview shows {len(fitting)} of {len(shown_pictures)} pictures (results.json holds 1 MB); "
            "report.html has every one", flush=True)
    results.update(output=shown, output_format=course.results_format, test_output_format="text")


def part_verdicts_of(part, tests, problem, selected, built, measured, notes):
    """({number: (fraction, message)} for `part`'s tests, its PartRun or None); adds its line to `notes`."""
    if problem or part.NAME not in selected:
        reason = problem or "not graded in this run (--stages)"
        return {test.number: (0.0, reason) for test in tests}, None
    if isinstance(built, str):
        failure = "The grader failed on this part (internal error); no points:\n" + built
        return {test.number: (0.0, failure) for test in tests}, None
    run = PartRun(part.NAME, built[0], measured, {**built[1], **built[2]})
    notes.append(run.summary())
    stopped = run.build.status != "ok" and run.build.output.strip()
    verdicts = {}
    for test in tests:
        fraction, message = run_check(test, run)
        if stopped:
            message += "\n\nLast output of this part:\n" + run.build.output.strip()[-2000:]
        verdicts[test.number] = (fraction, message)
    return verdicts, run


def entry(test, fraction, message, hidden):
    result = test_entry(test, fraction, clean_text(message))
    if test.number in hidden:
        result["visibility"] = "after_due_date"
    return result


def grade_safely(submission, results_path, limits=None, stages=None, hidden=(), log=print, allow_unsandboxed=False,
                 course=None, record_path=None):
    """grade(), but an internal failure still leaves a valid results.json with no points (and
    no record: an earlier one is removed first)."""
    if record_path:
        Path(record_path).unlink(missing_ok=True)
    try:
        return grade(submission, results_path, limits, stages, hidden, log, allow_unsandboxed, course, record_path)
    except Exception:
        message = "The autograder itself failed; no points were awarded. Please tell the course staff.\n"
        results = build([], 0.0, message + traceback.format_exc())
        write(results, results_path)
        return results


__all__ = ["grade", "grade_safely", "table"]
