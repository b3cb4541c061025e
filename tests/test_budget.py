"""Never killed by the platform: the grader plans within the course file's timeout and the
CPU it really has, stops a part that cannot finish and says what to raise, and always
writes results.json in time."""
import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.config import budget
from conftest import ROOT, full

SLOW_TRAINING = '''

_train_vae = train_vae


def train_vae(model, train_loader, args, is_cvae=False):
    import time
    time.sleep(12)  # a slow student: every epoch takes 12 s longer
    return _train_vae(model, train_loader, args, is_cvae)
'''


@pytest.mark.minutes(1)
@pytest.mark.slow
def test_a_grading_that_would_overrun_stops_a_part_and_writes_results_in_time(submission, tmp_path):
    folder = submission(assignment_extra=SLOW_TRAINING)
    course = tmp_path / "course.toml"
    course.write_text('parts = ["reparameterize", "loss", "e2e_vae"]\n'
                      "[platform]\ntimeout_minutes = 1.25\ncpus = 2\nmemory_mb = 3072\n")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "--submission", str(folder),
                           "--results", str(tmp_path / "results.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-2000:]
    assert elapsed < 75, f"the grading took {elapsed:.0f} s of the 75 s the platform allows"
    graded = json.loads((tmp_path / "results.json").read_text())
    scores = {e["number"]: e["score"] for e in graded["tests"]}
    assert scores == {**full("reparameterize", "loss"), "6.1": 0.0}, graded["tests"]
    cut = next(e["output"] for e in graded["tests"] if e["number"] == "6.1")
    # cut after some epochs, before the first one (a slow machine), or not started at all
    assert any(words in cut for words in ("of 5 epochs to finish within the platform's time", "Not started",
                                          "Stopped to finish within the platform's time")), cut
    assert "set the autograder timeout to" in cut and "min" in cut


def test_the_plan_keeps_a_reserve_and_says_what_to_set():
    plan = budget.Budget.plan({"timeout": 600.0, "cpus": 0.5}, start=time.monotonic())
    assert 590 - 70 < plan.left() < 600 - 60 + 1  # a reserve of 10 s + 10%
    advice = plan.advice(9 * 60)
    assert "needed about 9 min of the 10 min" in advice and "set the autograder timeout to 15 min" in advice


def test_tensorflow_gets_the_course_files_cpus_whatever_the_machine_has(monkeypatch):
    """The number of threads changes a sum's last bits, hence a training's numbers: a regrade on
    a larger or smaller machine uses the threads Gradescope used."""
    for measured in (0.5, 1.0, 2.0, 16.0):
        monkeypatch.setattr(budget, "available_cpus", lambda: (measured, f"{measured:g} cores"))
        assert budget.Budget.plan({"timeout": 600.0, "cpus": 2}).threads() == 2
        assert budget.Budget.plan({"timeout": 600.0, "cpus": 0.5}).threads() == 1
        assert budget.Budget.plan({"timeout": 600.0, "cpus": 3.5}).threads() == 4


def grade_printing_plan(command_prefix, tmp_path):
    done = subprocess.run([*command_prefix, sys.executable, "-m", "autograder", "--submission", "solution",
                           "--results", str(tmp_path / "results.json"), "--stages", "loss"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # --stages loss: the table lists part 2's tests and their total only, and says so
    listed = [line.split()[0] for line in done.stdout.splitlines() if line[:1].isdigit()]
    assert listed == ["2.1", "2.2", "2.3"] and "TOTAL 15 / 15" in done.stdout, done.stdout[-1500:]
    assert "only the tests of the parts graded in this run: loss" in done.stdout
    return json.loads((tmp_path / "results.json").read_text())


@pytest.mark.slow
def test_the_plan_uses_the_cpu_it_measures_under_one_core(tmp_path):
    graded = grade_printing_plan(["taskset", "-c", "0"], tmp_path)
    assert "CPU measured 1 (1 cores)" in graded["output"], graded["output"][:500]
    assert "fewer than the 2 the course file states" in graded["output"]
    assert "TensorFlow uses 2 thread(s) per operation, as the course file's cpus say" in html.unescape(graded["output"])
    assert graded["score"] == 15


@pytest.mark.slow
def test_the_plan_reads_a_cgroup_cpu_quota(tmp_path):
    group = Path("/sys/fs/cgroup/cpu/vae-grader-test")
    try:
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text("50000")
    except OSError as error:
        pytest.skip(f"no writable cgroup v1 cpu controller here ({error})")
    try:
        graded = grade_printing_plan(["sh", "-c", f'echo $$ > {group}/tasks && exec "$@"', "in-cgroup"], tmp_path)
        assert "CPU measured 0.5 (cgroup quota 0.5 of" in graded["output"], graded["output"][:500]
        assert "TensorFlow uses 2 thread(s)" in graded["output"]
    finally:
        for pid in (group / "tasks").read_text().split():
            Path("/sys/fs/cgroup/cpu/tasks").write_text(pid)
        os.rmdir(group)


def test_training_shares_split_the_budget_and_scale_down_when_a_course_has_more_parts():
    """The core's two training parts keep 45% and 55% of training_minutes; a course that adds
    part 8 (shares 0.45 + 0.55 + 0.5) gives each its share of the same total, never more."""
    from autograder.config.course import load
    from autograder.grade import build_timeout
    from autograder.parts import BY_NAME

    limits = load(ROOT / "courses" / "default.toml").limits
    for name, course in (("default.toml", ("e2e_vae", "e2e_cvae")), ("conv.toml", ("e2e_vae", "e2e_cvae", "e2e_conv"))):
        parts = load(ROOT / "courses" / name).parts
        shares = sum(getattr(part, "TRAINING_SHARE", 0.0) for part in parts)
        given = [build_timeout(BY_NAME[part], limits, shares) for part in course]
        assert sum(given) == pytest.approx(limits.training_budget), name
    assert build_timeout(BY_NAME["e2e_vae"], limits) == pytest.approx(0.45 * limits.training_budget)
    assert build_timeout(BY_NAME["vae"], limits, 1.3) == limits.unit_timeout
