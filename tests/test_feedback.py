"""Feedback a student can act on: the console's first line of a failing test carries the
decisive fact (and the student's file and line when their code raised), training shows its
progress, and the pictures of what the model drew reach report.html and results.json."""
import dataclasses
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from autograder.outputs import report, results as results_module
from autograder.config import settings
from autograder.grade import PartRun, add_pictures
from autograder.isolation.sandbox import StageRun
from autograder.config.course import load
from conftest import ROOT


def console(folder, stages, tmp_path):
    """(what `python -m autograder` printed, results.json) for `folder`."""
    path = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "autograder", "--submission", str(folder), "--results", str(path),
                           "--stages", ",".join(stages)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(path.read_text())


def first_line(printed, number):
    """The table's message for test `number`: its wrapped first line, joined again."""
    lines = printed.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"{number} "))
    wrapped = []
    for line in lines[start + 1:]:
        if not line.startswith(" " * 19):
            break
        wrapped.append(line.strip())
    return " ".join(wrapped)


@pytest.mark.slow
def test_the_first_line_says_what_went_wrong_and_where(submission, tmp_path):
    folder = submission(vae=[
        ("return mu + tf.exp(0.5 * logvar) * eps", "return mu + tf.exp(logvar) * eps"),
        ("x_hat = self.decoder(tf.concat([z, c], axis=1))", "x_hat = self.decoder(z)"),
        ("return (bce_function(x_hat, x) + kl) / batch_size", "return bce_function(x_hat, x) + kl")])
    printed, graded = console(folder, ["reparameterize", "loss", "cvae"], tmp_path)
    assert "sigma is exp(0.5 * logvar), not exp(logvar)" in first_line(printed, "1.2")
    assert "8x the expected value: the sum is not divided by the batch size (8)" in first_line(printed, "2.1")
    cvae = first_line(printed, "4.2")
    assert re.search(r"expected axis -1 of input shape to have value 25, but received input with shape \(16, 15\)", cvae)
    assert re.search(r"\[vae\.py:\d+ in call\]", cvae), cvae
    assert "(more in " in cvae  # the rest (Keras' arguments, the frames) is in results.json
    assert "In your code (innermost last)" in next(e["output"] for e in graded["tests"] if e["number"] == "4.2")


@pytest.mark.slow
def test_a_kl_term_summed_over_the_batch_is_named(submission, tmp_path):
    folder = submission(vae=[("kl = -0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar))",
                              "kl = -0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar)) * tf.cast(tf.shape(x)[0], tf.float32)")])
    printed, _ = console(folder, ["loss"], tmp_path)
    assert "the KL term is 8x too large: it is summed over the batch but not divided" in first_line(printed, "2.1")


@pytest.mark.slow
def test_training_progress_reaches_the_terminal_not_the_results(submission, tmp_path):
    folder = submission(vae=[("def _build_layers(model, input_size, latent_size, hidden=512):",
                              "def _build_layers(model, input_size, latent_size, hidden=16):")])
    printed, graded = console(folder, ["e2e_vae"], tmp_path)
    epochs = re.findall(r"^  \[e2e_vae\] epoch (\d)/5: loss per image [\d.]+ \(train_vae's own\), [\d.]+ s", printed, re.M)
    assert epochs == ["1", "2", "3", "4", "5"], printed
    assert "s left" in printed
    assert "epoch 1/5" not in json.dumps(graded) and settings.PROGRESS not in json.dumps(graded)


def generated_run():
    """A PartRun of 6.3 with MNIST test digits standing in for generated ones (two misread)."""
    with np.load(settings.data_npz()) as mnist:
        x, y = mnist["x_test"], mnist["y_test"]
    labels = np.repeat(np.arange(10), 100)
    images = np.stack([x[y == d][:100] for d in range(10)]).reshape(1000, 1, 28, 28) / 255.0
    predicted = labels.copy()
    predicted[[3, 205]] = [7, 1]
    built = StageRun("build", "ok", 1, 1, "", {"complete": True})
    run = PartRun("e2e_cvae", built, StageRun("measure", "ok", 1, 1, "", {"results": {}}), {"gen_labels": labels})
    run.extras.update(generated=images, predicted=predicted)
    return run


def results_with_pictures(tmp_path, form, visibility="visible"):
    course = load(ROOT / "courses" / "default.toml")
    course = dataclasses.replace(course, results_format=form)
    test = dataclasses.replace(course.tests["e2e_cvae"][1], visibility=visibility)
    results = results_module.build([results_module.test_entry(test, 1.0, "97% of 1000")], 10.0, "student code ran as ...")
    add_pictures(results, report.figures({"e2e_cvae": generated_run()}), course, tmp_path / "results.json", lambda *a, **k: None)
    results_module.write(results, tmp_path / "results.json")
    return results


def test_pictures_go_into_results_json_within_gradescopes_size(tmp_path):
    results = results_with_pictures(tmp_path, "html")
    assert results["output_format"] == "html" and results["output"].count("<img") == 1
    assert "data:image/png;base64," in results["output"] and "student code ran as" in results["output"]
    assert (tmp_path / "results.json").stat().st_size < 300_000


def test_the_text_setting_keeps_results_json_free_of_html(tmp_path):
    results = results_with_pictures(tmp_path, "text")
    assert "output_format" not in results and "<" not in results["output"]
    assert (tmp_path / "report.html").exists()  # the local page has the pictures either way


@pytest.mark.parametrize("form", ["html", "md"])
def test_a_hidden_tests_picture_and_caption_stay_out_of_what_students_see(form, tmp_path):
    """6.3 shown after the due date: its digit grid and the caption with its accuracy stay out
    of results.json's overview (always visible) and out of report.html; report-staff.html has them."""
    results = results_with_pictures(tmp_path, form, visibility="after_due_date")
    for seen in (results["output"], (tmp_path / "report.html").read_text()):
        assert "data:image/png" not in seen and "were read as the digit asked for" not in seen and "97%" not in seen
    assert "1 more test(s) are shown after the due date" in (tmp_path / "report.html").read_text()
    staff = (tmp_path / "report-staff.html").read_text()
    assert staff.count("<img") == 1 and "were read as the digit asked for" in staff and "97% of 1000" in staff


def test_too_many_pictures_are_dropped_rather_than_break_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "figures", lambda runs: [("big", b"x" * 1_000_000, "", "6.3")])
    results = results_with_pictures(tmp_path, "md")
    assert "![" not in results["output"] and (tmp_path / "results.json").stat().st_size < 1_000_000


def test_report_html_shows_the_digit_grid_in_a_browser_without_the_network(tmp_path):
    results_with_pictures(tmp_path, "html")
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") == 1 and "data:image/png;base64," in page
    assert not re.search(r"(src|href)\s*=\s*['\"](?!data:)", page), "the page must not fetch anything"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium here (.ci/run installs Debian's chromium)")
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=900,1200", f"--screenshot={shot}", (tmp_path / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 1000 and pixels[..., :3].std() > 0.1, "the screenshot is blank"
    red = (pixels[..., 0] > 0.8) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red.sum() > 50, "the two misread digits are framed in red"
    shutil.copy(shot, ROOT / "outputs" / "report-screenshot.png")  # for a person to look at


def test_the_overview_keeps_the_pictures_that_fit_gradescopes_limit(tmp_path):
    """Pictures that together would pass results.json's 1 MB: Gradescope's overview keeps the
    first ones that fit (and says so in the log), report.html every one."""
    from autograder.grade import MAX_RESULTS_BYTES

    rng = np.random.default_rng(0)
    pictures = [(f"picture {k}", rng.bytes(200_000), "noise", "6.1") for k in range(6)]  # ~267 kB each in base64
    results = {"score": 8.0, "execution_time": 1.0, "output": "log", "tests": [
        {"number": "6.1", "name": "t", "score": 8.0, "max_score": 8, "output": "", "status": "passed"}]}
    said = []
    add_pictures(results, pictures, load(ROOT / "courses" / "default.toml"), tmp_path / "results.json",
                 lambda *a, **k: said.append(" ".join(map(str, a))))
    assert len(json.dumps(results)) <= MAX_RESULTS_BYTES
    assert [t for t, *_ in pictures if t in results["output"]] == ["picture 0", "picture 1", "picture 2"]
    assert any("shows 3 of 6 pictures" in line for line in said), said
    assert all(t in (tmp_path / "report.html").read_text() for t, *_ in pictures)
