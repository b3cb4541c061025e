"""Course files: the default reproduces the 100-point homework, a wrong file is one clear
line before anything runs, overrides and extra credit work, a part can be added in its own
module plus one line, and a part whose file is missing costs only that part."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.config import course as courses
from autograder.outputs import results
from autograder.parts import BY_NAME, NAMES
from conftest import ROOT, full

# The homework's 26 tests as they were before course files existed: number, points, name.
HOMEWORK = [
    ("1.1", 2, "reparameterize: output shape"),
    ("1.2", 3, "reparameterize: samples have mean mu and std exp(0.5 * logvar)"),
    ("1.3", 3, "reparameterize: gradients reach mu and logvar"),
    ("1.4", 2, "reparameterize: each call draws fresh noise"),
    ("2.1", 7, "loss_function: equals summed BCE + KL, averaged over the batch"),
    ("2.2", 4, "loss_function: averaged over the batch, not summed"),
    ("2.3", 4, "loss_function: the KL term vanishes exactly at mu = 0, logvar = 0"),
    ("3.1", 3, "VAE: has encoder, mu_layer, logvar_layer, decoder"),
    ("3.2", 5, "VAE: call(x) returns x_hat [N,1,28,28] in [0,1], mu and logvar [N,Z]"),
    ("3.3", 4, "VAE: encoder, mu_layer, logvar_layer and decoder work on their own"),
    ("3.4", 3, "VAE: works with latent_size=7"),
    ("4.1", 2, "CVAE: has encoder, mu_layer, logvar_layer, decoder"),
    ("4.2", 4, "CVAE: call(x, c) returns x_hat [N,1,28,28] in [0,1], mu and logvar [N,Z]"),
    ("4.3", 3, "CVAE: encoder, mu_layer, logvar_layer and decoder work on their own"),
    ("4.4", 2, "CVAE: works with latent_size=7"),
    ("4.5", 2, "CVAE: the decoder's output depends on c"),
    ("4.6", 2, "CVAE: the encoder's output depends on c"),
    ("5.1", 5, "train_vae: returns the sum of the batch losses as a float"),
    ("5.2", 4, "train_vae: applies one optimizer step per batch"),
    ("5.3", 3, "train_vae: lowers the loss on a small fixed subset"),
    ("5.4", 3, "train_vae: trains a CVAE with one-hot labels"),
    ("6.1", 8, "VAE trained 5 epochs reaches loss < 145"),
    ("6.2", 8, "CVAE trained 5 epochs reaches loss < 145"),
    ("6.3", 14, "CVAE trained 30 epochs generates digits the judge classifier recognises (> 90%)"),
]


def write(tmp_path, text):
    path = tmp_path / "course.toml"
    path.write_text(text)
    return path


def test_the_default_course_is_the_100_point_homework():
    course = courses.load(ROOT / "courses" / "default.toml")
    tests = [(t.number, t.points, t.name) for part in course.parts for t in course.tests[part.NAME]]
    assert tests == HOMEWORK and course.maximum() == 100
    assert course.files() == ["assignment.py", "vae.py"] and course.limits.training_budget == 1800


def test_all_parts_enables_every_part_that_exists():
    assert [part.NAME for part in courses.load(ROOT / "courses" / "all-parts.toml").parts] == list(NAMES)


@pytest.mark.parametrize("text, says", [
    ('parts = ["loss", "nope"]', "unknown part 'nope' in parts"),
    ('parts = ["loss"]\ncolour = "red"', "unknown key 'colour'"),
    ('parts = ["loss"]\n[tests]\n"2.1" = { points = -3 }', "test 2.1: points = -3 is not allowed (points must be a number >= 0)"),
    ('parts = ["loss"]\n[tests]\n"6.3" = { points = 3 }', "test '6.3' in [tests] is not a test of the parts graded"),
    ('parts = ["loss"]\n[tests]\n"2.1" = { visibility = "later" }', "visibility 'later' must be one of"),
    ('parts = ["loss"]\n[tests]\n"2.1" = { bonus = true }', "unknown key 'bonus' for test 2.1"),
    ('parts = ["loss"]\n[limits]\ntraining_minutes = 0', "limits.training_minutes must be a positive number"),
    ('parts = ["loss"]\ndataset = "cifar"', "dataset 'cifar' is not supported"),
    ('parts = []', "parts must be a non-empty list"),
    ('parts = ["loss"', "not valid TOML"),
])
def test_a_wrong_course_file_is_one_clear_line(text, says, tmp_path):
    path = write(tmp_path, text)
    with pytest.raises(courses.CourseError) as caught:
        courses.load(path)
    assert says in str(caught.value) and str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_the_grader_refuses_a_wrong_course_file_before_grading(tmp_path):
    path = write(tmp_path, 'parts = ["loss", "nope"]')
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(path), "--submission", "solution",
                           "--results", str(tmp_path / "results.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and not (tmp_path / "results.json").exists()
    assert done.stderr.strip().count("\n") == 0 and "unknown part 'nope'" in done.stderr


def test_points_visibility_and_extra_credit_come_from_the_course(tmp_path):
    path = write(tmp_path, 'parts = ["loss", "reparameterize"]\n[tests]\n"2.1" = { points = 10, visibility = "hidden" }\n'
                           '"1.4" = { extra_credit = true }')
    course = courses.load(path)
    tests = {t.number: t for part in course.parts for t in course.tests[part.NAME]}
    assert tests["2.1"].points == 10 and tests["2.1"].visibility == "hidden"
    assert course.maximum() == 10 + 4 + 4 + 2 + 3 + 3  # 1.4's 2 points are extra
    entry = results.test_entry(tests["1.4"], 1.0, "passed")
    assert entry["max_score"] == 0 and entry["score"] == 2 and entry["name"].endswith("[extra credit]")
    total = results.build([entry, results.test_entry(tests["2.1"], 1.0, "passed")], 1.0, "")
    assert "TOTAL 12 / 10, including 2 extra credit" in results.table(total)


def worked_example():
    """The part module of README.md's "Adding a part" (so the README's example is tested)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Adding a part"):]
    return section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")] + "\n"


@pytest.mark.slow
def test_a_new_part_needs_only_its_module_the_course_file_and_one_line(tmp_path):
    """A copy of the grader gets parts/extra.py and its name in the parts list; a course file
    grades it as extra credit next to part 2. Nothing else of the grader changes."""
    root = Path(tempfile.mkdtemp(prefix="grader-copy-"))
    os.chmod(root, 0o755)  # the sandbox users import the grader from here
    try:
        shutil.copytree(ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__", "judge.key"))
        shutil.copytree(ROOT / "code", root / "code")
        (root / "data").mkdir()
        for name in ("mnist.npz", "mnist-train.npz"):
            (root / "data" / name).symlink_to(ROOT / "data" / name)
        (root / "autograder" / "parts" / "extra.py").write_text(worked_example())
        listing = root / "autograder" / "parts" / "__init__.py"
        before = listing.read_text()
        listing.write_text(re.sub(r'^(NAMES = \([^)]*)\)', r'\1, "extra")', before, count=1, flags=re.M))
        changed = [a for a, b in zip(before.splitlines(), listing.read_text().splitlines()) if a != b]
        assert len(changed) == 1
        course = write(tmp_path, 'parts = ["loss", "extra"]\n[tests]\n"9.1" = { extra_credit = true }')
        done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "--submission",
                               str(ROOT / "solution"), "--results", str(tmp_path / "results.json"), "--quiet"],
                              cwd=root, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        graded = json.loads((tmp_path / "results.json").read_text())
        scores = {e["number"]: (e["score"], e["max_score"]) for e in graded["tests"]}
        assert scores == {"2.1": (7, 7), "2.2": (4, 4), "2.3": (4, 4), "9.1": (5, 0)}, graded["tests"]
        assert graded["score"] == 20
    finally:
        shutil.rmtree(root)


@pytest.mark.slow
def test_a_missing_file_costs_only_the_parts_that_need_it(tmp_path, grade_it):
    (tmp_path / "upload").mkdir()
    (tmp_path / "upload" / "vae.py").write_text((ROOT / "solution" / "vae.py").read_text())
    graded, scores = grade_it(tmp_path / "upload", ["reparameterize", "loss", "train_vae", "e2e_vae"])
    assert scores == {**full("reparameterize", "loss"), "5.1": 0, "5.2": 0, "5.3": 0, "5.4": 0, "6.1": 0}
    said = {e["number"]: e["output"] for e in graded["tests"]}
    assert "This part needs exactly one vae.py and one assignment.py" in said["5.1"]
    assert "no assignment.py was found" in said["6.1"] and "vae.py" in said["6.1"]
    assert BY_NAME["loss"].FILES == ("vae.py",)


def test_the_fashion_course_is_the_core_homework_on_its_own_bars():
    """courses/fashion-mnist.toml: the same tests and points as the default, named with
    Fashion-MNIST's bars (none of MNIST's numbers), its own classifier and data file."""
    from autograder.config import settings

    fashion, default = (courses.load(ROOT / "courses" / name) for name in ("fashion-mnist.toml", "default.toml"))
    record = settings.DATASETS["fashion_mnist"]
    flat = lambda c: [(t.number, t.points) for p in c.parts for t in c.tests[p.NAME]]  # noqa: E731
    assert fashion.dataset == "fashion_mnist" and flat(fashion) == flat(default) and fashion.maximum() == 100
    names = {t.number: t.name for p in fashion.parts for t in fashion.tests[p.NAME]}
    assert f"loss < {record.loss_threshold:.0f}" in names["6.1"] and "items" in names["6.3"]
    assert f"({record.accuracy_bar:.0%})" not in names["6.3"] and f"> {record.accuracy_bar:.0%}" in names["6.3"]
    assert record.classifier != settings.DATASETS["mnist"].classifier and record.label(7) == "Sneaker"
    assert record.loss_threshold != settings.DATASETS["mnist"].loss_threshold


@pytest.mark.parametrize("name", ["reparameterize", "loss", "vae", "cvae"])
def test_the_unit_parts_inputs_do_not_depend_on_the_data_set(name):
    """Parts 1-4 are judged on the judge's synthetic inputs, the same on every data set, so their
    planted-bug rows are not repeated per data set (train_vae's and 6.x's are: they use its images)."""
    import numpy as np

    from autograder.judging import secret
    from autograder.config import settings

    def drawn(dataset):
        settings.use(dataset)
        part = BY_NAME[name]
        given = part.build_inputs(secret.generator(name, "given", "d")) if hasattr(part, "build_inputs") else {}
        return {**given, **part.inputs(secret.generator(name, "secret", "d"))}

    mnist, fashion = drawn("mnist"), drawn("fashion_mnist")
    assert mnist.keys() == fashion.keys()
    assert all(np.array_equal(mnist[k], fashion[k]) for k in mnist)
