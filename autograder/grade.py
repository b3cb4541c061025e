"""The one grader: submission -> isolated stage runs -> checks -> results.json.

Both Gradescope (run_autograder) and `make grade` call grade(). This process is the
judge: it never imports the student's code or TensorFlow, and it writes results.json
only after every student process has been killed, from what it measured itself.
"""
import os
import time
import traceback

from . import inputs, rubric, sandbox
from .locate import locate
from .results import build, table, test_entry, write


def run_check(test, run, stage_inputs):
    """(fraction, message) of one test; an unexpected error in a check earns nothing."""
    rubric.NOTES.clear()
    try:
        verdict = test.check(run, stage_inputs)
    except rubric.Fail as failure:
        return 0.0, str(failure)
    except Exception:  # a bug of the grader must not become points, nor hide the others
        return 0.0, "The grader could not evaluate this test (internal error):\n" + traceback.format_exc(limit=3)
    fraction, message = verdict if verdict else (1.0, "passed")
    if rubric.NOTES:
        message += " (" + "; ".join(rubric.NOTES) + ")"
    return fraction, message


def stage_summary(run):
    line = f"[{run.stage}] {run.status}, {run.seconds:.1f} s, peak {run.peak_rss_mb:.0f} MB"
    return line + ("\n" + run.output.strip() if run.output.strip() else "")


UNSANDBOXED = ("The autograder is misconfigured: it runs as root but cannot run student code as the "
               "unprivileged user 'nobody' (that user cannot run Python, import the grader or read "
               "MNIST). Refusing to run untrusted code as root; no points were awarded. "
               "Course staff: check the permissions of /autograder and the virtualenv.")


def grade(submission, results_path, limits, stages=rubric.STAGE_ORDER, hidden=(), log=print,
          require_sandbox=False):
    """Grade the submission folder and write results_path. Returns the results dict.

    stages: the stages to run (the others' tests score 0, marked not graded);
    hidden: test numbers whose results students see only after the due date;
    require_sandbox: as root, refuse to run student code unless it can run as 'nobody'.
    """
    start = time.monotonic()
    files, problem = locate(submission)
    if require_sandbox and os.geteuid() == 0 and not sandbox.sandbox_ids():
        problem = UNSANDBOXED
    entries, notes = [], []

    def rubric_entry(test, fraction, message):
        entry = test_entry(test, fraction, message)
        if test.number in hidden:
            entry["visibility"] = "after_due_date"
        return entry

    for stage in rubric.STAGE_ORDER:
        tests = [t for t in rubric.TESTS if t.stage == stage]
        if problem:
            entries += [rubric_entry(t, 0.0, problem) for t in tests]
            continue
        if stage not in stages:
            entries += [rubric_entry(t, 0.0, "not graded in this run (--stages)") for t in tests]
            continue
        log(f"grading {stage} ...", flush=True)
        try:
            stage_inputs = inputs.for_stage(stage)
            run = sandbox.run_stage(stage, files, stage_inputs, limits)
        except Exception:  # the grader's own failure costs this stage, not the others
            failure = "The grader failed on this part (internal error); no points:\n" + traceback.format_exc(limit=3)
            entries += [rubric_entry(t, 0.0, failure) for t in tests]
            continue
        notes.append(stage_summary(run))
        for test in tests:
            fraction, message = run_check(test, run, stage_inputs)
            if run.status != "ok" and run.output.strip():
                message += "\n\nLast output of this stage:\n" + run.output.strip()[-2000:]
            entries.append(rubric_entry(test, fraction, message))
    entries.sort(key=lambda e: tuple(int(p) for p in e["number"].split(".")))
    isolation = ("student code ran as the unprivileged user 'nobody'" if sandbox.sandbox_ids()
                 else "student code ran as the grader's own user (no unprivileged user available)")
    output = problem or "\n\n".join([isolation] + notes)
    results = build(entries, time.monotonic() - start, output)
    write(results, results_path)
    return results


def grade_safely(submission, results_path, limits, stages=rubric.STAGE_ORDER, hidden=(), log=print,
                 require_sandbox=False):
    """grade(), but an internal failure still leaves a valid results.json with no points."""
    try:
        return grade(submission, results_path, limits, stages, hidden, log, require_sandbox)
    except Exception:
        message = "The autograder itself failed; no points were awarded. Please tell the course staff.\n"
        results = build([], 0.0, message + traceback.format_exc())
        write(results, results_path)
        return results


__all__ = ["grade", "grade_safely", "table"]
