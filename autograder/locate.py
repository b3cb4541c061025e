"""Find the student's vae.py and assignment.py anywhere inside a submission folder."""
from pathlib import Path

REQUIRED = ("vae.py", "assignment.py")
IGNORED_PARTS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}


def locate(submission):
    """Return (files, problem): the paths to copy for grading, or '' and an explanation.

    files holds the two required files plus the other .py files beside vae.py (helper
    modules a student may import). Hidden and system folders are ignored.
    """
    submission = Path(submission)
    if not submission.is_dir():
        return [], f"The submission folder {submission} does not exist."
    found = {name: [] for name in REQUIRED}
    for path in sorted(submission.rglob("*.py")):
        parts = path.relative_to(submission).parts
        if path.is_symlink() or not path.is_file():
            continue  # a link could point at the judge's files
        if path.name in found and not any(p in IGNORED_PARTS or p.startswith(".") for p in parts):
            found[path.name].append(path)
    problems = []
    for name, paths in found.items():
        where = ", ".join(str(p.relative_to(submission)) for p in paths)
        if not paths:
            problems.append(f"no {name} was found")
        elif len(paths) > 1:
            problems.append(f"{len(paths)} files named {name} were found ({where})")
    if problems:
        listing = sorted(str(p.relative_to(submission)) for p in submission.rglob("*") if p.is_file())
        shown = ", ".join(listing[:30]) + (" ..." if len(listing) > 30 else "") or "nothing"
        return [], ("Grading needs exactly one vae.py and one assignment.py in your submission, "
                    f"but {' and '.join(problems)}. Your submission contains: {shown}. "
                    "Upload the two files from code/ (or a zip of the folder that holds them).")
    vae, assignment = found["vae.py"][0], found["assignment.py"][0]
    helpers = [p for p in vae.parent.glob("*.py")
               if p.name not in REQUIRED and p.is_file() and not p.is_symlink()]
    return [vae, assignment, *helpers], ""
