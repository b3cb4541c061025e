"""Command line: python -m autograder [--course FILE] [--submission DIR] [--results FILE] ...

Grades a submission folder and writes Gradescope's results.json. Exit status 0 whatever the
score; 2 for bad command-line arguments or a course file that cannot be used (nothing is
graded then).
"""
import argparse
import signal
import sys
from dataclasses import replace

from .config import settings
from .config.course import CourseError, default_path, load
from .outputs import report
from .grade import grade_safely, table


def stop(signum, frame):
    """SIGTERM (a regrade stopping, a platform's timeout): unwind, so that every process the
    grading started is killed before exiting."""
    raise SystemExit(128 + signum)


def main(argv=None):
    signal.signal(signal.SIGTERM, stop)
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    parser.add_argument("--course", default=None,
                        help=f"course file (default: {default_path().relative_to(settings.ROOT)})")
    parser.add_argument("--submission", default=str(settings.ROOT / "code"),
                        help="folder holding the student's files (searched recursively)")
    parser.add_argument("--results", default=str(settings.ROOT / "outputs" / "results.json"))
    parser.add_argument("--stages", default="", help="comma-separated subset of the course's parts (default: all)")
    parser.add_argument("--unit-timeout", type=float, help="seconds for the student's process of each part that does not train")
    parser.add_argument("--training-budget", type=float, help="seconds for the training parts together")
    parser.add_argument("--memory-mb", type=int, help="resident memory limit of one process")
    parser.add_argument("--hidden", default="", help="test numbers to mark after_due_date, e.g. 6.3")
    parser.add_argument("--record", default=None,
                        help="also keep what was measured in this file, to re-score it (tools/regrade.py)")
    parser.add_argument("--quiet", action="store_true", help="print only the total")
    parser.add_argument("--as-student", action="store_true",
                        help="print only what a student sees before the due date (the visible tests)")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="as root, run student code as root when no unprivileged user can run it "
                             "(only on a machine you trust; Gradescope never needs this)")
    args = parser.parse_args(argv)
    try:
        course = load(args.course)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = [part.NAME for part in course.parts]
    stages = tuple(s for s in args.stages.split(",") if s) or tuple(names)
    unknown = set(stages) - set(names)
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; this course's parts are: {', '.join(names)}")
    limits = course.limits.scaled(args.unit_timeout, args.training_budget, args.memory_mb)
    course = replace(course, limits=limits)
    hidden = {n for n in args.hidden.split(",") if n}
    log = (lambda *a, **k: None) if args.quiet else print
    results = grade_safely(args.submission, args.results, limits, stages, hidden, log, args.allow_unsandboxed, course,
                           args.record)
    shown = report.visible(results, [])[0] if args.as_student else results
    if set(stages) != set(names):  # --stages: the tests of the parts graded, and their total
        graded = {t.number for part in course.parts if part.NAME in stages for t in course.tests[part.NAME]}
        shown = {**shown, "tests": [e for e in shown["tests"] if e["number"] in graded]}
        shown["score"] = round(sum(e["score"] for e in shown["tests"]), 2)
    print(table(shown, details=args.results) if not args.quiet else f"TOTAL {shown['score']:g}")
    later = len(results["tests"]) - len(report.visible(results, [])[0]["tests"]) if args.as_student else 0
    if later:
        print(f"({later} test(s) are shown to students only after the due date)")
    if set(stages) != set(names):
        print(f"(only the tests of the parts graded in this run: {', '.join(stages)}; results.json lists every test)")
    if course.after_due_date:
        print(f"({course.after_due_date:g} more points are graded after the due date, not here)")
    print(f"results written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
