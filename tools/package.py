"""Build what the staff ship, for a course file.

    python tools/package.py handout [--course courses/default.toml]      # dist/handout.zip: what students receive
    python tools/package.py autograder [--course ...] [--with-mnist]     # dist/autograder.zip: what Gradescope runs

The student files come from the course's parts, the grader is every module of autograder/,
and the course file goes in as course.toml (the grader's default there). Nothing of
solution/, tests/ or tools/ is shipped; files are written with fixed timestamps so the same
sources give the same bytes, and the stencil is regenerated first, so a stale code/ is never
shipped. The Gradescope zip carries the judge's secret key (autograder/judge.key, made on
first use and never committed); the handout never does.
"""
import argparse
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stencil  # noqa: E402

sys.path.insert(0, str(stencil.ROOT))
from autograder import secret  # noqa: E402
from autograder.course import CourseError, load  # noqa: E402

ROOT = stencil.ROOT
DIST = ROOT / "dist"
GRADER = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "autograder").glob("**/*.py")
                if "classifier/" not in p.relative_to(ROOT).as_posix()) + [
    "autograder/classifier/mnist_classifier.keras"]

COMMON = {"requirements.txt": "requirements.txt", "data/mnist.py": "data/mnist.py",
          "install/check_python.py": "install/check_python.py", "install/choose_python.sh": "install/choose_python.sh",
          **{p: p for p in GRADER}}


def contents(kind, course):
    """{name in the zip: source path} of `kind` for `course`: the student files come from its
    parts (every stencil file they need goes into the handout), the course file goes in as
    course.toml (the grader's default there)."""
    if kind == "handout":
        code = {f"code/{name}": f"code/{name}" for name in course.files()}
        return {"Makefile": "Makefile", ".gitignore": ".gitignore", "outputs/.gitkeep": "outputs/.gitkeep",
                "colab.ipynb": "colab.ipynb", **code, **COMMON}
    return {"setup.sh": "autograder/setup.sh", "run_autograder": "autograder/run_autograder",
            "code/assignment.py": "code/assignment.py",  # the given helpers; graded code never comes from here
            "autograder/judge.key": "autograder/judge.key",  # the secret the measuring inputs are drawn from
            **COMMON}


EXECUTABLE = {"setup.sh", "run_autograder", "install/choose_python.sh"}
PRIVATE = {"autograder/judge.key"}


def student_readme():
    """The handout's README: the title and the student part of the repository README."""
    text = (ROOT / "README.md").read_text()
    start, end = text.index("<!-- BEGIN STUDENT -->"), text.index("<!-- END STUDENT -->")
    body = text[start + len("<!-- BEGIN STUDENT -->"):end].replace("## For students", "", 1)
    return "# VAE and CVAE on MNIST: homework\n" + body.rstrip() + "\n"


def build(kind, course, with_mnist=False):
    """Write dist/<kind>.zip for `course` and return its path."""
    if stencil.main([]) != 0:
        raise SystemExit("could not regenerate the stencil")
    secret.key()  # created on first use; the same key grades locally (make grade, make regrade)
    files = {name: (ROOT / source).read_bytes() for name, source in contents(kind, course).items()}
    files["course.toml"] = course.path.read_bytes()
    if kind == "handout":
        files["README.md"] = student_readme().encode()
    if with_mnist:
        files["data/mnist.npz"] = (ROOT / "data" / "mnist.npz").read_bytes()
    DIST.mkdir(exist_ok=True)
    target = DIST / f"{kind}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in EXECUTABLE else 0o600 if name in PRIVATE else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    print(f"wrote {target.relative_to(ROOT)} ({len(files)} files, {target.stat().st_size / 1e6:.1f} MB)")
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build dist/handout.zip or dist/autograder.zip.")
    parser.add_argument("kind", choices=("autograder", "handout"))
    parser.add_argument("--course", default=None, help="course file (default: courses/default.toml)")
    parser.add_argument("--with-mnist", action="store_true",
                        help="include data/mnist.npz (for Gradescope images built without internet)")
    args = parser.parse_args(argv)
    try:
        course = load(args.course)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    build(args.kind, course, args.with_mnist)
    return 0


if __name__ == "__main__":
    sys.exit(main())
