"""The judge's key: private on disk, never in the repository, stable across gradings."""
import os
import subprocess

import pytest

from autograder.config import stamp
from autograder.judging import secret
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


def old_digest(files):
    """The first scheme, `name\\0contents\\0` without lengths (kept here to show its collision)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def write_files(folder, files):
    folder.mkdir()
    for name, contents in files.items():
        (folder / name).write_bytes(contents)
    return [folder / name for name in files]


def test_different_file_sets_never_share_a_digest(tmp_path):
    """One file whose contents spell out a second file (a\\0x\\0b\\0y\\0 either way) had the digest
    of the two files, hence the same secret inputs and a twin in a regrade; now they differ."""
    one = write_files(tmp_path / "one", {"a": b"x\0b\0y"})
    two = write_files(tmp_path / "two", {"a": b"x", "b": b"y"})
    assert old_digest(one) == old_digest(two)  # the collision of the first scheme
    assert secret.digest(one) != secret.digest(two)
    empty = write_files(tmp_path / "empty", {"a": b"x\0b\0"})  # the old stream of {a: "x", b: ""} but one
    assert secret.digest(empty) != secret.digest(write_files(tmp_path / "pair", {"a": b"x", "b": b""}))


def test_a_digest_depends_on_names_and_contents_only(tmp_path):
    files = write_files(tmp_path / "x", {"vae.py": b"1" * 3_000_000, "assignment.py": b"2"})
    again = write_files(tmp_path / "y", {"assignment.py": b"2", "vae.py": b"1" * 3_000_000})
    assert secret.digest(files) == secret.digest(list(reversed(again))) and len(secret.digest(files)) == 64
    renamed = write_files(tmp_path / "z", {"vae2.py": b"1" * 3_000_000, "assignment.py": b"2"})
    assert secret.digest(renamed) != secret.digest(files)


def test_a_record_measured_under_another_digest_is_graded_again():
    """The digest seeds every secret input: secret.py is part of the grader's stamp, which every
    record's key holds, so records measured under the first scheme are graded again, not re-scored."""
    assert any(path.name == "secret.py" for path in stamp.grader_files("mnist"))
