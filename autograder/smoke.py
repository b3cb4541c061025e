"""Build-time check of an autograder image (setup.sh): grade a stub submission, and fail
with one line unless the grader could run its code as an unprivileged user. Without this
check an image whose Python only root can run (a pyenv under /root, say) builds fine and
then gives every submission 0 points.

    python -m autograder.smoke        exit 0, or 1 with one line on stderr
"""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

STUB = "def reparameterize(mu, logvar):\n    raise NotImplementedError('smoke test')\n"


def main():
    from .grade import ensure_training_split, grade

    ensure_training_split()
    folder = Path(tempfile.mkdtemp(prefix="smoke-"))
    try:
        os.chmod(folder, 0o755)
        (folder / "stub").mkdir()
        (folder / "stub" / "vae.py").write_text(STUB)
        results = grade(folder / "stub", folder / "results.json", stages=("reparameterize",), log=lambda *a, **k: None)
        said = json.dumps(results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if os.geteuid() == 0 and "student code ran as the unprivileged user" not in said:
        print(f"setup.sh: this image cannot grade: {sys.executable} cannot run student code as an unprivileged user "
              "(is it under /root?); install a system Python (install/choose_python.sh) and rebuild.", file=sys.stderr)
        return 1
    if "not implemented yet: smoke test" not in said:
        print("setup.sh: this image cannot grade: a smoke grading of a stub submission did not run it "
              f"({results.get('output', '')[:300]!r})", file=sys.stderr)
        return 1
    print("setup.sh: smoke grading ran student code as an unprivileged user")
    return 0


if __name__ == "__main__":
    sys.exit(main())
