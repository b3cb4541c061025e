"""Command line: python -m autograder [--submission DIR] [--results FILE] ...

Grades a submission folder and writes Gradescope's results.json. Exit status 0
whatever the score; 2 only for bad command-line arguments.
"""
import argparse
import sys

from . import settings
from .grade import grade_safely, table
from .parts import PARTS


def main(argv=None):
    names = [part.NAME for part in PARTS]
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    parser.add_argument("--submission", default=str(settings.ROOT / "code"),
                        help="folder holding vae.py and assignment.py (searched recursively)")
    parser.add_argument("--results", default=str(settings.ROOT / "outputs" / "results.json"))
    parser.add_argument("--stages", default=",".join(names), help="comma-separated subset of: " + ", ".join(names))
    parser.add_argument("--unit-timeout", type=float, help="seconds for the student's process of each of parts 1-5")
    parser.add_argument("--training-budget", type=float, help="seconds for both training parts")
    parser.add_argument("--memory-mb", type=int, help="resident memory limit of one process")
    parser.add_argument("--hidden", default="", help="test numbers to mark after_due_date, e.g. 6.3")
    parser.add_argument("--quiet", action="store_true", help="print only the total")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="as root, run student code as root when no unprivileged user can run it "
                             "(only on a machine you trust; Gradescope never needs this)")
    args = parser.parse_args(argv)
    stages = tuple(s for s in args.stages.split(",") if s)
    unknown = set(stages) - set(names)
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}")
    limits = settings.Limits().scaled(args.unit_timeout, args.training_budget, args.memory_mb)
    hidden = {n for n in args.hidden.split(",") if n}
    log = (lambda *a, **k: None) if args.quiet else print
    results = grade_safely(args.submission, args.results, limits, stages, hidden, log, args.allow_unsandboxed)
    print(table(results) if not args.quiet else f"TOTAL {results['score']:g}")
    print(f"results written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
