"""Build what the staff ship, for a course file.

    python tools/package.py handout [--course courses/default.toml]      # dist/handout.zip: what students receive
    python tools/package.py autograder [--course ...] [--with-data]     # dist/autograder.zip: what Gradescope runs

The student files come from the course's parts, the grader is autograder/ with the course's parts only,
and the course file goes in as course.toml (the grader's default there). Nothing of
solution/, tests/ or tools/ is shipped; files are written with fixed timestamps so the same
sources give the same bytes, and the stencil is regenerated first, so a stale code/ is never
shipped. The Gradescope zip carries the judge's secret key (autograder/judge.key, made on
first use and never committed); the handout never does.
"""
import argparse
import os
import re
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stencil  # noqa: E402
import timing  # noqa: E402

sys.path.insert(0, str(stencil.ROOT))
from autograder.judging import secret  # noqa: E402
from autograder.config import settings  # noqa: E402
from autograder.config.course import CourseError, load, withheld  # noqa: E402
from autograder.config.stamp import grader_files  # noqa: E402

ROOT = stencil.ROOT
DIST = ROOT / "dist"
COMMON = {"requirements.txt": "requirements.txt", "data/fetch.py": "data/fetch.py",
          "install/check_python.py": "install/check_python.py", "install/choose_python.sh": "install/choose_python.sh"}


def grader(course):
    """{name: source} of the grader for `course`: the common files and config.stamp.grader_files (its
    code with its parts only, and of the data sets only the course's record and judge classifier)."""
    files = [path.relative_to(ROOT).as_posix() for path in grader_files(course.dataset, course.names())]
    return {**COMMON, **{name: name for name in files}}


def contents(kind, course):
    """{name in the zip: source path} of `kind` for `course`: the student files come from its
    parts (every stencil file they need goes into the handout), the course file goes in as
    course.toml (the grader's default there). The handout leaves out JUDGES (its grader traces
    with the student's own functions instead: steps.py)."""
    if kind == "handout":
        code = {f"code/{name}": f"code/{name}" for name in course.files()}
        return {"Makefile": "Makefile", ".gitignore": ".gitignore", "outputs/.gitkeep": "outputs/.gitkeep",
                "colab.ipynb": "colab.ipynb", **code,
                **{name: source for name, source in grader(course).items() if not name.startswith(JUDGES)}}
    return {"setup.sh": "autograder/setup.sh", "run_autograder": "autograder/run_autograder",
            "code/assignment.py": "code/assignment.py",  # the given helpers; graded code never comes from here
            "autograder/judge.key": "autograder/judge.key",  # the secret the measuring inputs are drawn from
            **grader(course)}


JUDGES = "autograder/judges/"  # the judge's versions of functions students write: Gradescope's image only
EXECUTABLE = {"setup.sh", "run_autograder", "install/choose_python.sh"}
PRIVATE = {"autograder/judge.key"}


RUBRIC_ROW = re.compile(r"^\| (\d+\.\d+)(?:–(\d+\.\d+))? ([^|]*)\| [^|]*\| (.*) \|$")
ONLY = re.compile(r"<!-- ONLY (\S+) -->\n(.*?)<!-- END ONLY -->\n", re.S)  # a passage about some tests
PARTS_TABLE = re.compile(r"<!-- PARTS TABLE -->\n.*?<!-- END PARTS TABLE -->\n", re.S)
TOTAL = re.compile(r"^### How you are graded \(\d+ points\)$", re.M)
STAFF_COURSE = re.compile(r"where the course has it \(`courses/[\w.-]+\.toml`\)")


def student_readme(course):
    """The handout's README: the title and the student part of the repository README, its
    rubric made from `course`: each row with the course's points, only the tests students see
    before the due date (a hidden test is not named), and the course's total."""
    text = (ROOT / "README.md").read_text()
    start, end = text.index("<!-- BEGIN STUDENT -->"), text.index("<!-- END STUDENT -->")
    body = text[start + len("<!-- BEGIN STUDENT -->"):end].replace("## For students", "", 1)
    tests = {t.number: t for part in course.parts for t in course.tests[part.NAME]}
    extra = sum(t.points for t in tests.values() if t.extra_credit and t.visibility == "visible")
    later = sum(t.points for t in tests.values() if not t.extra_credit and t.visibility != "visible")
    shown = course.maximum() - later
    total = (f"### How you are graded ({shown:g} points" + (f", plus {extra:g} extra credit" if extra else "")
             + (f"; {later:g} more are graded after the due date)" if later else ")"))
    body = stencil.RUBRIC.sub(lambda m: stencil.rubric(settings.DATASETS[course.dataset], course.parts), body)
    body = ONLY.sub(lambda m: m.group(2) if any(n in tests and tests[n].visibility == "visible"
                                                for n in m.group(1).split(",")) else "",
                    PARTS_TABLE.sub(lambda m: parts_table(course), body))
    body = STAFF_COURSE.sub("in this course", body)  # the handout has its course.toml, not courses/
    lines = [rubric_row(line, tests) for line in TOTAL.sub(total, body).splitlines()]
    return f"# {course.title}: homework\n" + "\n".join(line for line in lines if line is not None).rstrip() + "\n"


def parts_table(course):
    """The course's parts, each with the tests students see before the due date."""
    rows = ["| part | tests |", "|---|---|"]
    for part in course.parts:
        numbers = [t.number for t in course.tests[part.NAME]]
        shown = [t.number for t in course.tests[part.NAME] if t.visibility == "visible"]
        named = f"{shown[0]}–{shown[-1]}" if len(shown) > 2 and shown == numbers else ", ".join(shown)
        epochs = f" (trains {part.EPOCHS} epochs)" if getattr(part, "EPOCHS", 0) else ""
        rows.append(f"| `{part.NAME}` | {named or 'shown after the due date'}{epochs} |")
    return "\n".join(rows) + "\n"


def rubric_row(line, tests):
    """A rubric row with the course's points and visible tests only; None when none is left
    (the row's part is not graded, or all its tests are hidden); other lines as they are."""
    match = RUBRIC_ROW.match(line)
    if not match:
        return line
    first, last, label, checks = match.groups()
    numbers = stencil.span(f"{first}–{last}" if last else first)
    shown = [n for n in numbers if n in tests and tests[n].visibility == "visible"]
    if not shown:
        return None
    clauses = checks.split("; ")
    if len(clauses) == len(numbers) and len(shown) < len(numbers):  # one clause per test: keep the shown ones'
        checks = "; ".join(c for n, c in zip(numbers, clauses) if n in shown)
    name = (f"{shown[0]}–{shown[-1]}" if len(shown) > 1 else shown[0]) if len(shown) == len(numbers) else ", ".join(shown)
    if all(tests[n].extra_credit for n in shown):  # "1+2+2 extra credit"
        points = "+".join(f"{tests[n].points:g}" for n in shown) + " extra credit"
    else:
        points = "+".join(f"{tests[n].points:g}" + (" extra credit" if tests[n].extra_credit else "") for n in shown)
    return f"| {name} {label}| {points} | {checks} |"


def course_for_students(course):
    """The course file as the handout carries it: nothing of a test hidden until later (no
    visibility, no entry, no comment that names it), and one line with the points graded after
    the due date, whose opaque tokens tell the handout's grader which tests to leave out."""
    hidden = [t for part in course.parts for t in course.tests[part.NAME] if t.visibility != "visible"]
    names = {t.number for t in hidden}
    kept, table = [], None
    for line in course.path.read_text().splitlines():
        header = re.match(r'^\s*\[\s*tests\.?"?([\d.]*)"?\s*\]', line)
        if re.match(r"^\s*\[", line):
            table = header.group(1) if header else None
        if table in names or re.match(r"^\s*visibility\s*=", line):  # a [tests."6.3"] table of a hidden test
            continue
        entry = re.match(r'^\s*"?(\d+\.\d+)"?\s*=\s*\{', line)
        if entry and entry.group(1) in names:
            continue
        if entry:  # a [tests] entry: drop its visibility
            inner = line[line.index("{") + 1:line.rindex("}")]
            parts = [p.strip() for p in inner.split(",") if p.strip() and not p.strip().startswith("visibility")]
            if not parts:
                continue
            line = line[:line.index("{") + 1] + " " + ", ".join(parts) + " }" + line[line.rindex("}") + 1:]
        kept.append(COMMENT.sub("", line) if any(re.search(rf"\b{re.escape(n)}\b", line) for n in names) else line)
    if hidden:
        points = sum(t.points for t in hidden if not t.extra_credit)
        tokens = ", ".join(f'"{withheld(t.number)}"' for t in hidden)
        header = next(k for k, line in enumerate(kept) if re.match(r"^\s*\[", line)) if any(
            re.match(r"^\s*\[", line) for line in kept) else len(kept)
        kept.insert(header, f"after_due_date = {{ points = {points:g}, tests = [{tokens}] }}  "
                            "# graded after the due date, not shown here\n")
    return "\n".join(kept) + "\n"


COMMENT = re.compile(r"\s*#.*$")


def build(kind, course, with_data=False, out=DIST):
    """Write OUT/<kind>.zip (default dist/) for `course` and return its path."""
    if stencil.main([]) != 0:
        raise SystemExit("could not regenerate the stencil")
    new_key = not secret.KEY_FILE.exists()
    secret.key()  # created on first use; the same key grades locally (make grade, make regrade)
    if new_key:
        print(f"created the judge's key {secret.KEY_FILE.relative_to(ROOT)} (fingerprint {secret.fingerprint()}, "
              "never committed): keep it with the course's files; the Gradescope zip and every regrade need this key "
              "to draw the same measuring inputs")
    files = {name: (ROOT / source).read_bytes() for name, source in contents(kind, course).items()}
    files["course.toml"] = course.path.read_bytes() if kind == "autograder" else course_for_students(course).encode()
    if kind == "handout":
        files["README.md"] = student_readme(course).encode()
    if with_data:
        name = settings.DATASETS[course.dataset].file
        files[f"data/{name}"] = (ROOT / "data" / name).read_bytes()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{kind}.zip"
    partial = out / f".{kind}.{os.getpid()}.zip"
    # The Gradescope zip holds the judge's key: readable by its owner only, from its first byte
    # (a submission graded on the machine that built it runs as another user).
    mode = 0o600 if kind == "autograder" else 0o644
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as raw, \
            zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in EXECUTABLE else 0o600 if name in PRIVATE else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    os.chmod(partial, mode)  # whatever the umask did
    os.replace(partial, target)  # whole or not at all
    print(f"wrote {target} ({len(files)} files, {target.stat().st_size / 1e6:.1f} MB)")
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build dist/handout.zip or dist/autograder.zip.")
    parser.add_argument("kind", choices=("autograder", "handout"))
    parser.add_argument("--course", default=None, help="course file (default: courses/default.toml)")
    parser.add_argument("--with-data", action="store_true",
                        help="include the course's data set, data/<file> (for Gradescope images built without internet)")
    parser.add_argument("--out", type=Path, default=DIST, help="folder for the zip (default: dist)")
    parser.add_argument("--force", action="store_true",
                        help="build the Gradescope zip even if the reference may not finish within the course's timeout")
    args = parser.parse_args(argv)
    try:
        course = load(args.course)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.kind == "autograder" and not fits(course) and not args.force:
        return 2
    build(args.kind, course, args.with_data, args.out)
    return 0


def fits(course):
    """Print the reference's expected grading time on the course's stated CPU (tools/timing.py:
    make bench's record, with a margin) next to its timeout; False when that leaves less than a
    50% margin or no time is recorded for one of its parts."""
    platform = course.platform
    try:
        expected = timing.estimate(course.names(), platform["cpus"])
    except timing.MissingTimes as error:
        print(f"error: {error}, or pass --force (make autograder ARGS=--force) to build anyway.", file=sys.stderr)
        return False
    line = (f"{course.path.name}: the reference solution should grade in about {expected / 60:.1f} min on "
            f"{platform['cpus']:g} CPU (make bench's record times {timing.MARGIN}); the platform timeout is "
            f"{platform['timeout'] / 60:g} min")
    if expected * 1.5 > platform["timeout"]:
        print(f"error: {line}, less than a 50% margin. Raise [platform] timeout_minutes to at least "
              f"{-(-expected * 1.5 // 60):.0f} or cpus in the course file (and in Gradescope's settings), or pass "
              "--force (make autograder ARGS=--force) to build anyway.", file=sys.stderr)
        return False
    print(line + f" ({platform['timeout'] / expected:.1f}x).")
    return True

if __name__ == "__main__":
    sys.exit(main())
