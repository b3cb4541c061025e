"""The judge's key: private on disk, never in the repository, stable across gradings."""
import os
import subprocess

import pytest

from autograder import secret
from conftest import ROOT


def test_a_new_key_is_private_and_stable(tmp_path):
    path = tmp_path / "judge.key"
    first = secret.key(path)
    assert len(first) == 64 and int(first, 16) >= 0
    assert secret.key(path) == first
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_others_can_read_is_made_private(tmp_path):
    path = tmp_path / "judge.key"
    path.write_text("ab" * 32 + "\n")
    path.chmod(0o644)
    assert secret.key(path) == "ab" * 32
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_key_is_not_in_the_repository():
    """A committed key would be the same for every course that clones the project, and readable
    by anyone: every measuring input could be predicted."""
    tracked = subprocess.run(["git", "ls-files", "--", "autograder/judge.key"], cwd=ROOT,
                             capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    assert tracked.stdout.strip() == ""
    ignored = subprocess.run(["git", "check-ignore", "-q", "autograder/judge.key"], cwd=ROOT)
    assert ignored.returncode == 0, "autograder/judge.key must be listed in .gitignore"


def test_generators_depend_on_key_and_labels():
    a = secret.generator("part", "x", key_text="1" * 64).random(4)
    assert (a == secret.generator("part", "x", key_text="1" * 64).random(4)).all()
    assert not (a == secret.generator("part", "y", key_text="1" * 64).random(4)).all()
    assert not (a == secret.generator("part", "x", key_text="2" * 64).random(4)).all()
