"""What the staff ship: the student handout and the Gradescope zip."""
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import stencil  # noqa: E402

SOLUTION_LINES = {line for name in stencil.FILES
                  for line in stencil.solution_lines((ROOT / "solution" / name).read_text())}


def package(kind, out, *extra):
    """Build `kind` into the folder `out`; returns the finished process."""
    return subprocess.run([sys.executable, "tools/package.py", kind, "--out", str(out), *extra], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    return tmp_path_factory.mktemp("dist")


@pytest.fixture(scope="module")
def zips(dist):
    built = {}
    for kind in ("handout", "autograder"):
        assert package(kind, dist).returncode == 0
        with zipfile.ZipFile(dist / f"{kind}.zip") as archive:
            built[kind] = {name: archive.read(name) for name in archive.namelist()}
    return built


@pytest.mark.parametrize("kind", ["handout", "autograder"])
def test_no_solution_text_and_no_project_tests(kind, zips):
    for name, data in zips[kind].items():
        assert not name.startswith(("solution/", "tests/", "tools/")), name
        if name.endswith((".keras", ".npz")):
            continue
        text = data.decode()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, name
        leaked = SOLUTION_LINES & {line.strip() for line in text.splitlines()}
        assert not leaked, f"{kind}.zip:{name} holds solution lines {sorted(leaked)[:3]}"


def test_handout_has_what_a_student_needs(zips):
    names = set(zips["handout"])
    assert {"README.md", "Makefile", "requirements.txt", "code/vae.py", "code/assignment.py",
            "data/mnist.py", "autograder/grade.py", "autograder/classifier/mnist_classifier.keras"} <= names
    assert zips["handout"]["code/vae.py"] == (ROOT / "code" / "vae.py").read_bytes()
    readme = zips["handout"]["README.md"].decode()
    assert "What you implement" in readme and "make grade" in readme
    assert "For course staff" not in readme and "solution/" not in readme


def test_gradescope_zip_has_entry_points_at_its_root(zips, dist):
    names = set(zips["autograder"])
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder/grade.py",
            "autograder/classifier/mnist_classifier.keras", "data/mnist.py", "code/assignment.py"} <= names
    assert "code/vae.py" not in names and "autograder/classifier/train.py" not in names
    assert {f"autograder/parts/{part}.py" for part in ("vae", "e2e_cvae")} <= names
    with zipfile.ZipFile(dist / "autograder.zip") as archive:
        mode = archive.getinfo("run_autograder").external_attr >> 16
        key_mode = archive.getinfo("autograder/judge.key").external_attr >> 16
    assert mode & 0o111, "run_autograder must be executable"
    assert key_mode & 0o077 == 0, "the judge's key must be readable by its owner only"
    assert zips["autograder"]["autograder/judge.key"] == (ROOT / "autograder" / "judge.key").read_bytes()


def test_the_handout_never_carries_the_judges_key(zips):
    assert not any("judge.key" in name for name in zips["handout"])
    assert "autograder/parts/reparameterize.py" in zips["handout"]


def test_builds_are_reproducible(zips, tmp_path):
    assert package("autograder", tmp_path).returncode == 0
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        again = {name: archive.read(name) for name in archive.namelist()}
    assert again == zips["autograder"]


def test_the_gradescope_zip_is_refused_when_the_reference_would_not_finish_in_time(tmp_path):
    """Gradescope's defaults (10 minutes, half a CPU) are too little for the full homework:
    make autograder says so in one line and builds only when told to."""
    course = tmp_path / "tight.toml"
    course.write_text((ROOT / "courses" / "default.toml").read_text().split("[platform]")[0])
    done = package("autograder", tmp_path, "--course", str(course))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and not (tmp_path / "autograder.zip").exists()
    assert "0.5 CPU" in done.stderr and "the platform timeout is 10 min, less than a 50% margin" in done.stderr
    forced = package("autograder", tmp_path, "--course", str(course), "--force")
    assert forced.returncode == 0, forced.stderr
    roomy = package("autograder", tmp_path / "roomy")
    assert roomy.returncode == 0 and "the platform timeout is 40 min" in roomy.stdout
