"""Find the student's files (vae.py, assignment.py, ...) anywhere inside a submission folder."""
from pathlib import Path

IGNORED_PARTS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}
MAX_FILE_BYTES = 10_000_000  # one student file (a homework file is a few kB)
MAX_HELPERS = 50  # helper modules beside the student's files
MAX_TOTAL_BYTES = 20_000_000  # all the files a part gets


def locate(submission, names):
    """Find each file of `names` in the submission folder (searched recursively; hidden and
    system folders and links are ignored).

    Returns (found, problems, helpers): found maps a name to its path when exactly one was
    found; problems maps every other name to why not ("no vae.py was found", "2 files named
    vae.py were found (a/vae.py, b/vae.py)", "vae.py is 1500 MB, more than 10 MB"); helpers
    are the other .py files beside the found ones (modules a student may import), within
    MAX_HELPERS and the sizes above (left_out() says which were not). A missing folder is a
    problem for every name. Only sizes are read here, never contents.
    """
    submission = Path(submission)
    if not submission.is_dir():
        return {}, {name: f"the submission folder {submission} does not exist" for name in names}, []
    candidates = {name: [] for name in names}
    for path in sorted(submission.rglob("*.py")):
        parts = path.relative_to(submission).parts
        if path.is_symlink() or not path.is_file():
            continue  # a link could point at the judge's files
        if path.name in candidates and not any(p in IGNORED_PARTS or p.startswith(".") for p in parts):
            candidates[path.name].append(path)
    found, problems = {}, {}
    for name, paths in candidates.items():
        where = ", ".join(str(p.relative_to(submission)) for p in paths)
        if len(paths) == 1 and size(paths[0]) > MAX_FILE_BYTES:
            problems[name] = f"{name} is {size(paths[0]) / 1e6:.0f} MB, more than the {MAX_FILE_BYTES / 1e6:.0f} MB allowed"
        elif len(paths) == 1:
            found[name] = paths[0]
        elif not paths:
            problems[name] = f"no {name} was found"
        else:
            problems[name] = f"{len(paths)} files named {name} were found ({where})"
    folders = {path.parent for path in found.values()}
    beside = sorted(p for folder in folders for p in folder.glob("*.py")
                    if p.name not in names and p.is_file() and not p.is_symlink())
    helpers, total = [], sum(size(p) for p in found.values())
    for path in beside:
        if len(helpers) < MAX_HELPERS and size(path) <= MAX_FILE_BYTES and total + size(path) <= MAX_TOTAL_BYTES:
            helpers.append(path)
            total += size(path)
    return found, problems, helpers


def size(path):
    return path.stat().st_size


def left_out(found, helpers):
    """A sentence naming the .py files beside the student's files that the grader left out
    (too many or too large), or ''."""
    folders = {path.parent for path in found.values()}
    names = {path.name for path in found.values()}
    skipped = sorted(str(p.name) for folder in folders for p in folder.glob("*.py")
                     if p.name not in names and p.is_file() and not p.is_symlink() and p not in helpers)
    if not skipped:
        return ""
    return (f"left out of the grading (more than {MAX_HELPERS} helper modules, or over {MAX_FILE_BYTES / 1e6:.0f} MB "
            f"each, {MAX_TOTAL_BYTES / 1e6:.0f} MB in all): {', '.join(skipped[:10])}" + (" ..." if len(skipped) > 10 else ""))


def describe_missing(submission, needed, problems):
    """The message for a part that cannot be graded because some of its files are missing."""
    submission = Path(submission)
    listing = sorted(str(p.relative_to(submission)) for p in submission.rglob("*") if p.is_file()) \
        if submission.is_dir() else []
    shown = ", ".join(listing[:30]) + (" ..." if len(listing) > 30 else "") or "nothing"
    reasons = " and ".join(problems[name] for name in needed if name in problems)
    return (f"This part needs exactly one {' and one '.join(needed)} in your submission, but {reasons}. "
            f"Your submission contains: {shown}. Upload the files from code/ (or a zip of the folder "
            "that holds them).")
