"""What a student or measuring process may read, and the proof that it can read nothing else.

Each grading gives its processes a private, read-only copy of exactly what they import (the
grader's modules and the stencil's given helpers: private_copy()); with the training split,
the interpreter and the system's folders that is all a Landlock ruleset lets them open
(landlock.py). Before any student code runs, probe() starts a process behind the same walls
as the student's, which must import the grader from the copy and read the training split,
and must fail to open every staff file (staff_files()). Where the kernel has no Landlock,
the same probe decides on file modes alone, and the grading is refused while any staff file
is readable, with the command that fixes it.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from ..config import settings

STAFF_FOLDERS = ("solution", "tests", "courses", "tools", "outputs", "dist", ".git")  # in a repository
PRIVATE_FOLDERS = ("classifier", "judges")  # of the grader's package: never in the private copy
SAMPLES_PER_FOLDER = 3
PROBE = r"""
import json, os, sys
runtime, train, staff = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, runtime)
found = {"imports": "", "readable": []}
try:
    import autograder.isolation.student, autograder.isolation.measuring
    assert os.path.dirname(autograder.isolation.student.__file__).startswith(runtime)
    open(train, "rb").close()
except BaseException as error:
    found["imports"] = f"{type(error).__name__}: {error}"
for path in staff:
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
        found["readable"].append(path)
    except OSError:
        pass
print(json.dumps(found))
"""


def private_copy(target, files):
    """Copy the grader's `files` that processes import (its modules and data set records from
    config.stamp.grader_files: not the classifier, not the judges' own functions, which steps.py hands
    each process as it may have them), the stencil's assignment.py and the data module its given
    helpers import to `target`, read-only for everyone (folders 0555, files 0444). Returns `target`."""
    source = settings.PACKAGE
    for path in files:
        relative = path.relative_to(source)
        if path.is_symlink() or path.suffix not in (".py", ".toml") or relative.parts[0] in PRIVATE_FOLDERS:
            continue
        destination = target / "autograder" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    for given in (settings.PRISTINE_ASSIGNMENT, settings.ROOT / "data" / "fetch.py"):  # its helpers, what they import
        if not given.is_file():
            continue
        destination = target / given.relative_to(settings.ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(given, destination)
    for path in [target, *target.rglob("*")]:
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    return target


def staff_files(grader_root=None, own_user=False):
    """Paths no process of a grading may open: a few files of each staff folder of the
    grader's root (and the folders themselves), the judge's key, its TensorFlow functions
    (judges/), the full data set (with its test split) and the judge classifier. (The grader's
    modules and the course file are in every handout: Landlock keeps them out of reach too, but
    file modes need not.)
    own_user: the processes run as the grader's user (no root): a student grading their own work,
    who may read everything of their handout; only the folders that mark a staff checkout count."""
    root = Path(grader_root or settings.ROOT)
    package = root / "autograder"
    folders = [root / name for name in STAFF_FOLDERS[:4]] if own_user else \
        [root / name for name in STAFF_FOLDERS] + [package / "judges"]
    found = []
    for folder in folders:
        if folder.is_dir() and not folder.is_symlink():
            found.append(folder)
            found += first_files(folder, SAMPLES_PER_FOLDER)
    if not own_user:
        found += [package / "judge.key", package / "classifier"]
        found += [root / "data" / record.file for record in settings.DATASETS.values()]
    return [str(path) for path in found if os.path.lexists(path)]


def first_files(folder, count):
    """Up to `count` regular files under `folder`, depth first, never following links."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        found += [Path(top) / name for name in sorted(files) if stat.S_ISREG(os.lstat(Path(top) / name).st_mode)]
        if len(found) >= count:
            break
    return found[:count]


def fix_command():
    """The command that makes a repository's staff files unreadable by other users."""
    data = " ".join(f"data/{record.file}" for record in settings.DATASETS.values())
    return (f"chmod -R go-rwx {' '.join(STAFF_FOLDERS)} autograder/classifier autograder/judges autograder/judge.key "
            f"{data}")


def probe(box, uid):
    """Start a process behind `box`'s walls as `uid` (None: the grader's own user). Returns
    (problem, readable): why the grader's modules or the training split could not be used
    ('' if they could), and the staff files it could open."""
    staff = staff_files(own_user=uid is None and not box.landlock)
    workdir = box.folder("probe")
    box.hand_over(workdir, uid)
    try:
        running = box.spawn_code(PROBE, [str(box.runtime), str(settings.train_npz()), json.dumps(staff)], workdir, uid)
        out, _ = running.communicate(timeout=120)
    except (OSError, subprocess.SubprocessError) as error:
        return f"the probe could not run: {error}", []
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    try:
        found = json.loads(out.decode().strip().splitlines()[-1])
        return str(found["imports"]), [str(path) for path in found["readable"]]
    except (ValueError, IndexError, KeyError, TypeError):
        return f"the probe printed no verdict (exit {running.returncode})", []


class Exposed(Exception):
    """A process of the grading could open staff files, or could not run behind the walls."""

    def __init__(self, problem, readable, walled):
        super().__init__(problem, readable, walled)
        self.problem, self.readable, self.walled = problem, readable, walled

    def __str__(self):
        if self.problem:
            return ("The grader could not start a process behind its walls (Landlock): " + self.problem +
                    f". Interpreter {sys.executable}. No points were awarded. Fix: use a virtualenv outside the "
                    "course's staff folders (make PYTHON=/usr/bin/python3 ...).")
        shown = ", ".join(self.readable[:6]) + (" ..." if len(self.readable) > 6 else "")
        how = ("Landlock is on, yet" if self.walled else "This kernel has no Landlock, and by file modes")
        return (f"Refusing to grade: {how} student code could read staff files ({shown}), for example the "
                "reference solution. No points were awarded. Fix: grade where Landlock is on (Linux 5.13 or later), "
                "or from a handout or the Gradescope image (make handout, make autograder), or, as root, make the "
                f"staff files unreadable by other users, in the repository: {fix_command()}")
