"""Which grader graded: the files that decide a grading (what a handout and the Gradescope
zip carry, and what each grading's private copy holds) and the stamp results.json carries."""
import hashlib
import subprocess
from functools import lru_cache

from ..parts import needed, present
from . import settings
from ..judging import secret


def grader_files(dataset, parts=None):
    """The files that decide how a course on `dataset` grading `parts` (names; None: every part
    here) is graded, which the handout and the Gradescope zip carry: the grader's code with only
    those parts' modules (and the modules and judges they import: parts.needed), not the
    classifier's training script; that data set's record (its bars) and its classifier."""
    record = settings.DATASETS[dataset]
    wanted = set(needed(parts if parts is not None else present()))
    code = []
    for path in sorted(settings.PACKAGE.rglob("*.py")):
        folders = path.relative_to(settings.PACKAGE).parts[:-1]
        if {"__pycache__", "classifier"} & set(folders):
            continue
        if folders in (("parts",), ("judges",)) and path.stem != "__init__" and path.stem not in wanted:
            continue
        code.append(path)
    return code + [settings.PACKAGE / "datasets" / f"{record.name}.toml", settings.PACKAGE / "classifier" / record.classifier]


@lru_cache(maxsize=None)
def grader_hash(dataset, parts=None):
    """SHA-256 of grader_files(dataset, parts) (paths and contents), 12 hex digits: the same in a
    clone and in the Gradescope zip. Computed once per process (the files do not change while it grades)."""
    h = hashlib.sha256()
    for path in grader_files(dataset, parts):
        h.update(path.relative_to(settings.PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


@lru_cache(maxsize=1)
def commit():
    """The git commit of the grader's checkout, or '' (a Gradescope zip has none)."""
    try:
        return subprocess.run(["git", "-C", str(settings.ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() if (settings.ROOT / ".git").exists() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def stamp(course):
    """Which grader graded: the hash of the files that decide the grading (grader_hash), the git
    commit where there is one, the course file's hash and the key's fingerprint. Goes into
    results.json (extra_data) and summary.csv, and into what a record was measured under."""
    return {"grader": grader_hash(course.dataset, course.names()), "commit": commit(), "course": course.path.name,
            "course_sha256": hashlib.sha256(course.path.read_bytes()).hexdigest()[:12], "key": secret.fingerprint()}
