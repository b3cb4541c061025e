"""What the staff ship: the student handout and the Gradescope zip."""
import subprocess
import textwrap
import sys
import zipfile

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import package as packaging_tool  # noqa: E402
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


JUDGES = "autograder/judges/"  # the Gradescope image's only: the judge's own versions of student functions


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


@pytest.mark.parametrize("kind", ["handout", "autograder"])
def test_the_every_part_course_ships_every_student_file_and_no_solution_text(kind, tmp_path):
    """courses/all-parts.toml: each part's student file (explore.py, conv_vae.py, ...) is in the
    handout as the stencil made it, and neither zip holds a line of the reference's solutions."""
    assert package(kind, tmp_path, "--course", "courses/all-parts.toml").returncode == 0
    with zipfile.ZipFile(tmp_path / f"{kind}.zip") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    if kind == "handout":
        for name in stencil.FILES:
            assert files[f"code/{name}"] == (ROOT / "code" / name).read_bytes(), name
    assert kind == "autograder" or not any(name.startswith(JUDGES) for name in files)
    for name, data in files.items():
        if not name.endswith((".keras", ".npz")) and not name.startswith(JUDGES):  # no process can read judges/
            leaked = SOLUTION_LINES & {line.strip() for line in data.decode().splitlines()}
            assert not leaked and "BEGIN SOLUTION" not in data.decode(), (name, sorted(leaked)[:3])


@pytest.mark.parametrize("kind", ["handout", "autograder"])
def test_a_zip_holds_only_its_courses_parts_and_their_judges(kind, zips, tmp_path):
    """The default course's zips carry parts 1-6 and no judge's functions; an inference course's
    carry part 10 (its Gradescope zip also its judge's functions, judges/inference.py, which no
    process of a grading can read; its handout never) and nothing of parts 7-9."""
    from autograder.parts import NAMES

    def parts_in(names):
        return {n.split("/")[-1][:-3] for n in names if n.startswith(("autograder/parts/", "autograder/judges/"))
                and n.endswith(".py") and not n.endswith("__init__.py")}

    core = ("reparameterize", "loss", "vae", "cvae", "train_vae", "e2e_vae", "e2e_cvae")
    assert parts_in(zips[kind]) <= set(core) | {"models", "end_to_end"}, sorted(parts_in(zips[kind]))
    assert not any(n.startswith("autograder/judges/") for n in zips[kind])
    assert package(kind, tmp_path, "--course", "courses/inference.toml", "--force").returncode == 0
    with zipfile.ZipFile(tmp_path / f"{kind}.zip") as archive:
        names = set(archive.namelist())
    assert "autograder/parts/e2e_inference.py" in names
    assert ("autograder/judges/inference.py" in names) == (kind == "autograder")  # never in a student's hands
    assert not {"explore", "conv_vae", "e2e_conv", "mmd", "e2e_mmd"} & parts_in(names), sorted(parts_in(names))
    assert set(parts_in(names)) - {"models", "end_to_end"} <= set(NAMES)


def test_handout_has_what_a_student_needs(zips):
    names = set(zips["handout"])
    assert {"README.md", "Makefile", "requirements.txt", "code/vae.py", "code/assignment.py",
            "data/fetch.py", "autograder/grade.py", "autograder/classifier/mnist_classifier.keras",
            "autograder/datasets/mnist.toml"} <= names
    assert not any("fashion" in name for name in names)  # only the course's data set
    assert zips["handout"]["code/vae.py"] == (ROOT / "code" / "vae.py").read_bytes()
    readme = zips["handout"]["README.md"].decode()
    assert "What you implement" in readme and "make grade" in readme
    assert "For course staff" not in readme and "solution/" not in readme


def test_gradescope_zip_has_entry_points_at_its_root(zips, dist):
    names = set(zips["autograder"])
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder/grade.py",
            "autograder/classifier/mnist_classifier.keras", "data/fetch.py", "code/assignment.py",
            "autograder/datasets/mnist.toml"} <= names
    assert not any("fashion" in name for name in names)
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


def test_the_handout_follows_its_course_file(tmp_path):
    """A TA's course: 2.1 worth 10, 6.3 worth 12, 1.4 shown after the due date, 4.6 extra
    credit. The handout's README gives those points and that total, never names 1.4, and its
    course.toml does not say which tests are hidden."""
    course_file = tmp_path / "ta.toml"
    course_file.write_text((ROOT / "courses" / "default.toml").read_text() + textwrap.dedent("""
        "2.1" = { points = 10 }
        "6.3" = { points = 12 }
        "1.4" = { visibility = "after_due_date" }
        "4.6" = { points = 2, extra_credit = true }  # a comment stays
        """))
    built = packaging_tool.build("handout", packaging_tool.load(course_file), out=tmp_path / "dist")
    with zipfile.ZipFile(built) as archive:
        readme, shipped = archive.read("README.md").decode(), archive.read("course.toml").decode()
    course = packaging_tool.load(course_file)
    assert course.maximum() == 100 + 3 - 2 - 2
    assert f"### How you are graded ({course.maximum() - 2:g} points, plus 2 extra credit; 2 more are graded after " \
           "the due date)" in readme
    assert "| 2.1–2.3 `loss_function` | 10+4+4 |" in readme
    rubric = [line for line in readme.splitlines() if packaging_tool.RUBRIC_ROW.match(line)]
    assert "| 1.1, 1.2, 1.3 `reparameterize` | 2+3+3 |" in readme and not any("1.4" in line for line in rubric)
    assert "two calls draw different noise" not in readme
    assert "2+4+3+2+2+2 extra credit" in readme and "| 6.3 CVAE generation | 12 |" in readme
    import tomllib

    assert not any("visibility" in entry for entry in tomllib.loads(shipped)["tests"].values())
    assert "a comment stays" in shipped and "1.4" not in shipped
    (tmp_path / "shipped.toml").write_text(shipped)
    handout_course = packaging_tool.load(tmp_path / "shipped.toml")
    assert handout_course.maximum() == course.maximum() - 2 and handout_course.after_due_date == 2
    assert "| `reparameterize` | 1.1, 1.2, 1.3 |" in readme and "| `loss` | 2.1–2.3 |" in readme  # the parts table


def test_a_handout_never_names_a_hidden_test(tmp_path):
    """Neither the rubric, nor the parts table, nor a passage about the test names 6.3 or 1.4
    when they are shown after the due date; the tests students see are all named."""
    course_file = tmp_path / "later.toml"
    course_file.write_text((ROOT / "courses" / "default.toml").read_text() + textwrap.dedent("""
        "6.3" = { visibility = "after_due_date" }
        "1.4" = { visibility = "hidden" }
        """))
    staff = packaging_tool.load(course_file)
    built = packaging_tool.build("handout", staff, out=tmp_path / "dist")
    with zipfile.ZipFile(built) as archive:
        readme, shipped = archive.read("README.md").decode(), archive.read("course.toml").decode()
    assert "6.3" not in readme and "1.4" not in readme and "Why 30 epochs" not in readme
    assert "6.3" not in shipped and "1.4" not in shipped
    assert sum(line.startswith("after_due_date") for line in shipped.splitlines()) == 1
    (tmp_path / "course.toml").write_text(shipped)
    handout = packaging_tool.load(tmp_path / "course.toml")  # what the handout's make grade grades
    numbers = {t.number for tests in handout.tests.values() for t in tests}
    later = sum(t.points for tests in staff.tests.values() for t in tests if t.number in ("6.3", "1.4"))
    assert "6.3" not in numbers and "1.4" not in numbers and "1.3" in numbers and "6.2" in numbers
    assert handout.after_due_date == later and handout.maximum() + later == staff.maximum()
    assert "| `e2e_cvae` | 6.2 (trains 30 epochs) |" in readme
    assert "| `reparameterize` | 1.1, 1.2, 1.3 |" in readme and "| `cvae` | 4.1–4.6 |" in readme
    assert "| 4.1–4.6 `CVAE` |" in readme and "| 6.2 CVAE end to end | 8 |" in readme


@pytest.mark.parametrize("course", ["default.toml", "fashion-mnist.toml"])
def test_the_grader_stamp_is_the_same_in_the_gradescope_zip_as_in_the_clone(course, tmp_path):
    """results.json names the grader by a hash of the files that decide the grading: the code, the
    course's data-set record (its bars) and classifier. The zip, which carries that record and
    classifier only, hashes to the same value, and a change of a bar changes it."""
    assert package("autograder", tmp_path, "--course", f"courses/{course}").returncode == 0
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        archive.extractall(tmp_path / "source")
    staff = packaging_tool.load(ROOT / "courses" / course)
    dataset = staff.dataset
    code = f"from autograder.config.stamp import grader_hash; print(grader_hash({dataset!r}, {tuple(staff.names())!r}))"
    hashes = [subprocess.run([sys.executable, "-c", code], cwd=where, capture_output=True, text=True, check=True).stdout
              for where in (ROOT, tmp_path / "source")]
    assert hashes[0] == hashes[1] and len(hashes[0].strip()) == 12
    record = tmp_path / "source" / "autograder" / "datasets" / f"{dataset}.toml"
    record.write_text(record.read_text().replace("loss_threshold = ", "loss_threshold = 1"))
    changed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "source", capture_output=True, text=True,
                             check=True).stdout
    assert changed != hashes[0]


def test_a_handout_names_no_staff_course_file(tmp_path):
    """The handout carries its course as course.toml: its README points at no courses/*.toml,
    and says the five core pieces are not all there is when the course adds part 10."""
    built = packaging_tool.build("handout", packaging_tool.load(ROOT / "courses" / "inference.toml"), out=tmp_path)
    with zipfile.ZipFile(built) as archive:
        readme = archive.read("README.md").decode()
    assert "courses/" not in readme, [line for line in readme.splitlines() if "courses/" in line]
    assert "Part 10, in this course, infers" in readme and "Only these five pieces" not in readme
