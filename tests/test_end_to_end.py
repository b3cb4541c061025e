"""The grader as staff and students run it: Gradescope's entry point on the real zip,
`python -m autograder` on the stencil, and submissions in the wrong shape."""
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ALL_STAGES, CORE_POINTS, POINTS, ROOT, full, message, numbers, sandboxed
from autograder.config import settings
from autograder.config.course import load

pytestmark = pytest.mark.slow  # each test runs the grader

PY = sys.executable


# The suite's one grading of every part, the 30-epoch CVAE included: each file of the submission
# is correct work written in another style than the reference (tests/submissions/<name>_style/):
# {file: its style's folder}.
STYLES = {path.name: path.parent.name for path in sorted((ROOT / "tests" / "submissions").glob("*_style/*.py"))}
PICTURES = ("VAE: the latent space by class", "VAE: walks between class means", "VAE: the perturbation grid",
            "ConvVAE: test images and their reconstructions", "ConvVAE: samples z ~ N(0, I)",
            "KL and MMD: the latent space by class", "KL and MMD: the same walks between class means",
            "InferenceVAE: the 2-D latent space by class", "SVI: the joint and your q for one digit",
            "SVI: completed digits beside the originals")


@pytest.mark.minutes(11)
def test_every_part_in_other_styles_scores_full_marks_through_gradescope_entry_point(tmp_path):
    """courses/all-parts.toml's autograder.zip, unpacked in a Gradescope-like /autograder tree and
    graded by run_autograder: every point of every part (real training, the 30-epoch CVAE too).
    Every file is correct work written apart from the reference: vae.py and assignment.py in the
    original handout's forms (Flatten-first encoder, no Reshape, functional encoder with Dropout,
    x.shape[0], a tensor returned by train_vae); explore.py through call(), PCA by SVD, a tanh probe;
    conv_vae.py with other filters, Permute and a stride-1 transposed convolution first; mmd.py with
    a broadcast kernel, one joint kernel matrix and the median-distance bandwidth; inference.py with
    log-sigmoid, an explicit tf.while_loop and RMSProp. Also: the pictures of parts 7-10 in
    Gradescope's overview, the epoch times in 8.9's, 9.4's and 10.10's messages, one measuring
    process said once."""
    styled = [path.name for path in (ROOT / "tests" / "submissions").glob("*_style/*.py")]
    course = load(ROOT / "courses" / "all-parts.toml")
    assert sorted(styled) == sorted(set(styled)) == sorted(course.files()), "each student file in exactly one style"
    submission = tmp_path / "styles"
    submission.mkdir()
    for name, style in STYLES.items():
        shutil.copyfile(ROOT / "tests" / "submissions" / style / name, submission / name)
    # Like Gradescope's /autograder: readable by the unprivileged user (pytest's tmp_path is not).
    root = Path(tempfile.mkdtemp(prefix="gradescope-"))
    os.chmod(root, 0o755)
    try:
        subprocess.run([PY, "tools/package.py", "autograder", "--course", str(course.path), "--out", str(root)], cwd=ROOT,
                       check=True, capture_output=True)
        results = check_full_marks_in(root / "autograder", root / "autograder.zip", submission,
                                      expected={t.number: t.points for tests in course.tests.values() for t in tests})
    finally:
        shutil.rmtree(root)
    for number in ("8.9", "9.4", "10.10"):
        assert "epochs took" in message(results, number), message(results, number)
    assert "the KL model 6.1 trained" in message(results, "9.5"), message(results, "9.5")
    assert len(re.findall(r"measure ok, [\d.]+ s, peak", results["output"])) == 1  # one measuring process, said once
    assert "measure ok, in reparameterize's measuring process" in html.unescape(results["output"])
    shown = json.dumps(results["output"])
    for title in PICTURES:
        assert title in shown, f"no picture '{title}' in Gradescope's overview"


@pytest.mark.minutes(1)
def test_the_fashion_course_scores_a_correct_submission_full_marks_through_gradescope_entry_point():
    """courses/fashion-mnist.toml: its Gradescope zip carries Fashion-MNIST's record and
    classifier only, and grades the handout-style submission in full on Fashion-MNIST's own bars
    (the reference: `make calibrate COURSE=courses/fashion-mnist.toml`, README). The suite trains
    the 30-epoch CVAE once (the grading of every part above): this zip's course leaves 6.3
    out, whose Fashion-MNIST bar calibration measures over seeds and architectures."""
    root = Path(tempfile.mkdtemp(prefix="gradescope-"))
    os.chmod(root, 0o755)
    course = root / "fashion-mnist-without-6.3.toml"
    course.write_text((ROOT / "courses" / "fashion-mnist.toml").read_text().replace(', "e2e_cvae"]', "]", 1))
    try:
        subprocess.run([PY, "tools/package.py", "autograder", "--course", str(course), "--out",
                        str(root)], cwd=ROOT, check=True, capture_output=True)
        with zipfile.ZipFile(root / "autograder.zip") as archive:
            names = set(archive.namelist())
        assert {"autograder/datasets/fashion_mnist.toml", "autograder/classifier/fashion_mnist_classifier.keras"} <= names
        assert not any("datasets/mnist" in n or "classifier/mnist" in n for n in names)
        results = check_full_marks_in(root / "autograder", root / "autograder.zip",
                                      ROOT / "tests" / "submissions" / "handout_style", "fashion_mnist.npz",
                                      expected={n: p for n, p in CORE_POINTS.items() if n not in numbers("e2e_cvae")})
        assert "Fashion-MNIST" in results["output"] or "Fashion-MNIST" in json.dumps(results["tests"])
    finally:
        shutil.rmtree(root)


def check_full_marks_in(root, built, submission, data="mnist.npz", expected=CORE_POINTS):
    """Unpack `built` under `root` as Gradescope does, submit `submission`, expect full marks
    (`expected`: {test: points}, the default course's 100)."""
    with zipfile.ZipFile(built) as archive:
        archive.extractall(root / "source")
    (root / "source" / "data" / data).symlink_to(ROOT / "data" / data)  # setup.sh bakes it in
    (root / "submission" / "hw6" / "code").mkdir(parents=True)  # students zip a parent folder
    for source in submission.glob("*.py"):
        shutil.copyfile(source, root / "submission" / "hw6" / "code" / source.name)
    os.chmod(root / "source" / "run_autograder", 0o755)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": PY,
                               "AUTOGRADER_SANDBOX": "required" if sandboxed() else "optional"},
                          timeout=2400)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert {e["number"]: e["score"] for e in results["tests"]} == expected, results["tests"]
    assert results["score"] == sum(expected.values())
    if sandboxed():
        assert "student code ran as the unprivileged user" in results["output"]
    return results


def test_untouched_stencil_scores_zero_with_not_implemented_messages(tmp_path):
    results_path = tmp_path / "results.json"
    done = subprocess.run([PY, "-m", "autograder", "--submission", "code", "--results", str(results_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(results_path.read_text())
    assert results["score"] == 0 and len(results["tests"]) == len(CORE_POINTS)
    for entry in results["tests"]:
        assert "not implemented yet" in entry["output"], entry
    assert "TOTAL 0 / 100" in done.stdout


def test_the_untouched_stencil_scores_zero_on_the_fashion_course(tmp_path):
    results_path = tmp_path / "results.json"
    done = subprocess.run([PY, "-m", "autograder", "--submission", "code", "--results", str(results_path), "--course",
                           "courses/fashion-mnist.toml"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(results_path.read_text())
    assert results["score"] == 0 and all("not implemented yet" in e["output"] for e in results["tests"])


def test_a_weak_but_correct_model_loses_only_the_end_to_end_points(submission, grade_it):
    """A tiny hidden layer passes every unit check but cannot reach the loss bar."""
    folder = submission(vae=[("def _build_layers(model, input_size, latent_size, hidden=512):",
                              "def _build_layers(model, input_size, latent_size, hidden=4):")])
    results, scores = grade_it(folder, ["vae", "e2e_vae"])
    assert scores == {**full("vae"), "6.1": 0.0}
    assert f"must be below {settings.data().loss_threshold:.0f}" in message(results, "6.1")


def test_a_training_that_turned_to_nan_stops_after_its_first_epoch(submission, grade_it):
    """A loss that is NaN from the first batch makes every weight NaN: the grader stops training
    after that epoch (instead of 30) and says why; the parts that do not train keep their points."""
    folder = submission(vae=[("return (bce_function(x_hat, x) + kl) / batch_size",
                              "return (bce_function(x_hat, x) + kl) / 0.0 * 0.0")])
    start = time.monotonic()
    results, scores = grade_it(folder, ["vae", "e2e_cvae"])
    assert scores == {**full("vae"), "6.2": 0.0, "6.3": 0.0}, results["tests"]
    for number in ("6.2", "6.3"):
        assert "after epoch 1 some of your model's weights are NaN" in message(results, number), message(results, number)
    assert time.monotonic() - start < 120


def test_a_training_that_moves_no_weight_stops_after_its_first_epoch(submission, grade_it):
    """A train_vae that never applies its gradients leaves the model untrained, far above every
    bar: the grader stops it after one epoch (not 30) and says why."""
    folder = submission(assignment=[("    model.optimizer.apply_gradients(zip(grads, model.trainable_variables))\n", "")])
    start = time.monotonic()
    results, scores = grade_it(folder, ["e2e_cvae"])
    assert scores == {"6.2": 0.0, "6.3": 0.0}, results["tests"]
    for number in ("6.2", "6.3"):
        assert "after epoch 1 of train_vae no weight of your model had changed" in message(results, number)
    assert time.monotonic() - start < 120


def test_the_judge_never_imports_tensorflow():
    """The orchestrating process stays small: TensorFlow only loads in stage processes."""
    code = ("import sys, tempfile; sys.path.insert(0, '.');"
            "from autograder.grade import grade; from autograder.config.settings import Limits;"
            "grade('code', tempfile.mkdtemp() + '/r.json', Limits(), stages=('loss', 'vae'), log=lambda *a, **k: None);"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'judge imported TF';"
            "print('clean')")
    done = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "clean", done.stderr[-2000:]


def test_missing_and_duplicated_files_score_zero_and_say_what_was_found(tmp_path, grade_it):
    empty = tmp_path / "only_notes"
    empty.mkdir()
    (empty / "notes.txt").write_text("hi")
    results, scores = grade_it(empty, ALL_STAGES)
    assert results["score"] == 0 and set(scores.values()) == {0.0}
    assert "no vae.py was found and no assignment.py was found" in message(results, "5.1")
    assert "no vae.py was found" in message(results, "1.1") and "notes.txt" in message(results, "1.1")
    twice = tmp_path / "twice"
    for sub in ("a", "b"):
        (twice / sub).mkdir(parents=True)
        for name in ("vae.py", "assignment.py"):
            (twice / sub / name).write_text((ROOT / "solution" / name).read_text())
    results, _ = grade_it(twice, ALL_STAGES)
    assert results["score"] == 0
    assert "2 files named vae.py were found (a/vae.py, b/vae.py)" in message(results, "6.3")


def test_grading_twice_gives_identical_results(submission, grade_it):
    folder = submission()
    first, _ = grade_it(folder, ["reparameterize", "train_vae"])
    second, _ = grade_it(folder, ["reparameterize", "train_vae"])
    strip = lambda r: [(e["number"], e["score"], e["output"]) for e in r["tests"]]  # noqa: E731
    assert strip(first) == strip(second)
    assert first["score"] == sum(full("reparameterize", "train_vae").values())


def test_results_json_follows_gradescope_schema(submission, grade_it):
    results, _ = grade_it(submission(vae=[("kl = -0.5 * tf.reduce_sum(", "kl = 0.5 * tf.reduce_sum(")]), ["loss"])
    assert set(results) >= {"score", "execution_time", "output", "tests"}
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], (int, float))
    assert results["score"] == round(sum(e["score"] for e in results["tests"]), 2)
    seen = set()
    for entry in results["tests"]:
        assert set(entry) == {"number", "name", "score", "max_score", "status", "output", "visibility"}
        assert entry["visibility"] in {"visible", "hidden", "after_due_date", "after_published"}
        assert entry["status"] in {"passed", "failed"}
        assert 0 <= entry["score"] <= entry["max_score"] and isinstance(entry["output"], str)
        assert entry["number"] not in seen
        seen.add(entry["number"])
    json.dumps(results)  # serialisable as is
    assert sum(POINTS[n] for n in numbers("loss")) == 15
