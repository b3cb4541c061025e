"""Try the Gradescope image on this machine, as Gradescope runs it, in a folder of your choice.

    python tools/gradescope_local.py [--course courses/X.toml] [--dir dist/gradescope] [--submission code]
    make gradescope-local [COURSE=...] [DIR=...] [SUBMISSION=...]

Builds dist/autograder.zip for the course (make autograder), unpacks it into DIR/source as
Gradescope unpacks it into /autograder/source, runs its setup.sh there (DIR/venv, the data
set baked in, the smoke grading), copies the submission's files into DIR/submission, runs
source/run_autograder as Gradescope does (it prints its table) and then the score results.json holds.
The setup runs once per DIR and zip; run again to grade another submission. As root, the
image grades student code as an unprivileged user, exactly as on Gradescope.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import package  # noqa: E402


ROOT = package.ROOT


def unpack(zip_path, root):
    """DIR/source from the zip (with its modes), unless DIR already holds this zip's setup."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    stamp = root / "setup.done"
    if stamp.is_file() and stamp.read_text() == digest:
        return False
    shutil.rmtree(root / "source", ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            os.chmod(target, (info.external_attr >> 16) & 0o777 or 0o644)
    stamp.unlink(missing_ok=True)
    return digest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", help="course file (default: courses/default.toml)")
    parser.add_argument("--dir", default=str(ROOT / "dist" / "gradescope"),
                        help="the folder that stands for Gradescope's /autograder (default: dist/gradescope)")
    parser.add_argument("--submission", default=str(ROOT / "code"), help="the folder of the files a student uploads")
    args = parser.parse_args(argv)
    course = package.load(args.course)
    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # Gradescope's /autograder: the sandbox users reach source/ and the venv through it
    built = package.build("autograder", course, out=root / "zip")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    digest = unpack(built, root)
    if digest:
        print(f"setting up the image in {root} (setup.sh: a virtualenv, the data set, a smoke grading) ...")
        done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env)
        if done.returncode != 0:
            print(f"setup.sh failed (exit {done.returncode}): Gradescope would fail to build this image too.")
            return 1
        (root / "setup.done").write_text(digest)
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    for path in sorted(Path(args.submission).iterdir()):
        if path.is_file() and not path.is_symlink():
            shutil.copyfile(path, submission / path.name)
    print(f"grading {args.submission} as Gradescope would (source/run_autograder) ...")
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env)
    results = root / "results" / "results.json"
    if done.returncode != 0 or not results.is_file():
        print(f"run_autograder failed (exit {done.returncode}) and wrote no results: Gradescope would show none.")
        return 1
    graded = json.loads(results.read_text())
    maximum = sum(test["max_score"] for test in graded["tests"])
    print(f"Gradescope would show {graded['score']:g} / {maximum:g} (the table above is run_autograder's own output; "
          f"results.json: {results})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
