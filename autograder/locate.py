"""Find the student's files (vae.py, assignment.py, ...) anywhere inside a submission folder."""
from pathlib import Path

IGNORED_PARTS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}


def locate(submission, names):
    """Find each file of `names` in the submission folder (searched recursively; hidden and
    system folders and links are ignored).

    Returns (found, problems, helpers): found maps a name to its path when exactly one was
    found; problems maps every other name to why not ("no vae.py was found", "2 files named
    vae.py were found (a/vae.py, b/vae.py)"); helpers are the other .py files beside the
    found ones (modules a student may import). A missing folder is a problem for every name.
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
        if len(paths) == 1:
            found[name] = paths[0]
        elif not paths:
            problems[name] = f"no {name} was found"
        else:
            problems[name] = f"{len(paths)} files named {name} were found ({where})"
    folders = {path.parent for path in found.values()}
    helpers = sorted(p for folder in folders for p in folder.glob("*.py")
                     if p.name not in names and p.is_file() and not p.is_symlink())
    return found, problems, helpers


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
