"""Build what the staff ship.

    python tools/package.py handout      # dist/handout.zip: what students receive
    python tools/package.py autograder   # dist/autograder.zip: what Gradescope runs
        [--with-mnist]                   #   also bake data/mnist.npz into the zip

Each zip is an explicit list of files (nothing of solution/ or tests/), written with
fixed timestamps so the same sources give the same bytes. The stencil is regenerated
first, so a stale code/ can never be shipped. The Gradescope zip carries the judge's
secret key (autograder/judge.key, made on first use and never committed); the handout
never does.
"""
import argparse
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stencil  # noqa: E402

sys.path.insert(0, str(stencil.ROOT))
from autograder import secret  # noqa: E402

ROOT = stencil.ROOT
DIST = ROOT / "dist"
GRADER = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "autograder").glob("**/*.py")
                if "classifier/" not in p.relative_to(ROOT).as_posix()) + [
    "autograder/classifier/mnist_classifier.keras"]

CONTENTS = {
    "handout": {
        "Makefile": "Makefile",
        "requirements.txt": "requirements.txt",
        ".gitignore": ".gitignore",
        "code/vae.py": "code/vae.py",
        "code/assignment.py": "code/assignment.py",
        "data/mnist.py": "data/mnist.py",
        "outputs/.gitkeep": "outputs/.gitkeep",
        **{p: p for p in GRADER},
    },
    "autograder": {
        "setup.sh": "autograder/setup.sh",
        "run_autograder": "autograder/run_autograder",
        "requirements.txt": "requirements.txt",
        "code/assignment.py": "code/assignment.py",  # the given helpers, graded code never comes from here
        "data/mnist.py": "data/mnist.py",
        "autograder/judge.key": "autograder/judge.key",  # the secret the measuring inputs are drawn from
        **{p: p for p in GRADER},
    },
}
EXECUTABLE = {"setup.sh", "run_autograder"}
PRIVATE = {"autograder/judge.key"}


def student_readme():
    """The handout's README: the title and the student part of the repository README."""
    text = (ROOT / "README.md").read_text()
    start, end = text.index("<!-- BEGIN STUDENT -->"), text.index("<!-- END STUDENT -->")
    body = text[start + len("<!-- BEGIN STUDENT -->"):end].replace("## For students", "", 1)
    return "# VAE and CVAE on MNIST: homework\n" + body.rstrip() + "\n"


def build(kind, with_mnist=False):
    """Write dist/<kind>.zip and return its path."""
    if stencil.main([]) != 0:
        raise SystemExit("could not regenerate the stencil")
    secret.key()  # created on first use; the same key grades locally (make grade, make regrade)
    files = {name: (ROOT / source).read_bytes() for name, source in CONTENTS[kind].items()}
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
    parser.add_argument("kind", choices=sorted(CONTENTS))
    parser.add_argument("--with-mnist", action="store_true",
                        help="include data/mnist.npz (for Gradescope images built without internet)")
    args = parser.parse_args(argv)
    build(args.kind, args.with_mnist)
    return 0


if __name__ == "__main__":
    sys.exit(main())
