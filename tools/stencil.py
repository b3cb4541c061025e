"""Generate the student stencil (code/) from the reference solution (solution/), and the
README's rubric from the parts' RUBRIC rows and MNIST's record.

    python tools/stencil.py            # write code/*.py and that README block
    python tools/stencil.py --check    # exit 1 if any of them differs from what would be written

Markers in solution/*.py (each on a line of its own):
    # BEGIN SOLUTION ... # END SOLUTION   the lines between (and the markers) are removed
    # STENCIL: <code>                     becomes <code>, at the same indentation
"""
import argparse
import dataclasses
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION, STENCIL = ROOT / "solution", ROOT / "code"
FILES = tuple(sorted(p.name for p in SOLUTION.glob("*.py")))  # every file of the reference
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STENCIL_LINE = re.compile(r"^(\s*)# STENCIL: (.*)$")
RUBRIC = re.compile(r"(<!-- BEGIN RUBRIC.*?-->\n).*?(<!-- END RUBRIC -->\n)", re.S)


def span(tests):
    """The tests a rubric row covers: "7.1–7.6" -> ["7.1", ..., "7.6"]."""
    first, _, last = tests.partition("–")
    major, low = first.split(".")
    return [f"{major}.{k}" for k in range(int(low), int((last or first).split(".")[1]) + 1)]


def rubric(record, parts):
    """The rubric of `parts` on the data set of `record` (autograder/datasets): a table of their
    RUBRIC rows with the points of their tests, then their RUBRIC_NOTES, each once, marked with
    the tests it is about (a handout leaves out a note about tests it does not show: package.py)."""
    fields = {**dataclasses.asdict(record), **record.notes}
    lines, notes = ["| test | points | what is checked |", "|---|---|---|"], {}
    for part in parts:
        points = {t.number: t.points for t in part.TESTS}
        for tests, label, checks in part.RUBRIC:
            numbers = "+".join(f"{points[n]:g}" for n in span(tests))
            lines.append(f"| {tests} {label} | {numbers} | {checks.format(**fields)} |")
        for tests, note in getattr(part, "RUBRIC_NOTES", ()):
            notes.setdefault(note, [])
            notes[note] += [n for n in tests if n not in notes[note]]
    for note, tests in notes.items():
        lines += ["", f"<!-- ONLY {','.join(tests)} -->", note.format(**fields), "<!-- END ONLY -->"]
    return "\n".join(lines) + "\n"


def readme():
    """README.md with its rubric rendered for every part on MNIST (the default course's data set)."""
    sys.path.insert(0, str(ROOT))
    from autograder.datasets import BY_NAME
    from autograder.parts import PARTS

    text = (ROOT / "README.md").read_text()
    return RUBRIC.sub(lambda m: m.group(1) + rubric(BY_NAME["mnist"], PARTS) + m.group(2), text)


def strip(text, name="<text>"):
    """The stencil version of a solution file's text."""
    out, inside = [], None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"{name}:{number}: BEGIN SOLUTION inside the block opened at line {inside}")
            inside = number
        elif marker == END:
            if not inside:
                raise ValueError(f"{name}:{number}: END SOLUTION without BEGIN SOLUTION")
            inside = None
        elif not inside:
            match = STENCIL_LINE.match(line)
            out.append(f"{match[1]}{match[2]}\n" if match else line)
    if inside:
        raise ValueError(f"{name}:{inside}: BEGIN SOLUTION is never closed")
    return "".join(out)


def solution_lines(text, shortest=12):
    """The lines inside solution blocks that must never reach students, stripped.
    Lines under `shortest` characters ("else:", "return loss") say nothing and are skipped."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside and len(line.strip()) >= shortest:
            lines.append(line.strip())
    return lines


def expected():
    return {name: strip((SOLUTION / name).read_text(), name) for name in FILES}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--check", action="store_true", help="only compare; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in {**expected(), "../README.md": readme()}.items():
        target = (STENCIL / name).resolve()
        if target.exists() and target.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if args.check and stale:
        print(f"out of date with solution/ (or the parts' RUBRIC): {', '.join(stale)}. Run `make stencil`.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
