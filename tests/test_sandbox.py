"""The judge's defences that need no TensorFlow: what a process leaves is read safely,
strings are made safe, links are ignored, NaN is no points, root never runs student code
unsandboxed, and a part that stopped early keeps what was measured."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from autograder import grade as grade_module
from autograder.config import stamp
from autograder.isolation import reading, sandbox, users, watching
from autograder.outputs import results
from autograder.config.locate import locate
from autograder.config.settings import Limits
from conftest import ROOT, TESTS, full, sandboxed


def test_a_decompression_bomb_is_not_loaded(tmp_path):
    with zipfile.ZipFile(tmp_path / "arrays.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.x.npy", b"\0" * (reading.MAX_ARRAYS_BYTES + 1))  # compresses to ~64 kB
    assert reading.read_arrays(tmp_path / "arrays.npz") == {}


def test_arrays_come_back_without_pickles(tmp_path):
    np.savez(tmp_path / "ok.npz", x=np.ones(3))
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object))
    assert list(reading.read_arrays(tmp_path / "ok.npz")) == ["x"]
    assert reading.read_arrays(tmp_path / "pickled.npz") == {}


def test_deeply_nested_json_is_no_data(tmp_path):
    (tmp_path / "report.json").write_text("[" * 100000 + "]" * 100000)
    assert reading.read_json(tmp_path / "report.json") == {}


def test_a_fifo_in_place_of_a_report_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "report.json")
    assert reading.read_json(tmp_path / "report.json") == {}  # returns at once instead of waiting for a writer


def test_a_link_to_an_endless_device_is_not_followed(tmp_path):
    (tmp_path / "report.json").symlink_to("/dev/zero")
    (tmp_path / "arrays.npz").symlink_to("/dev/urandom")
    assert reading.read_json(tmp_path / "report.json") == {}
    assert reading.read_arrays(tmp_path / "arrays.npz") == {}
    os.unlink(tmp_path / "report.json")
    (tmp_path / "report.json").write_text("x" * (reading.MAX_REPORT_BYTES + 1))
    assert reading.read_json(tmp_path / "report.json") == {}


def test_copying_artifacts_skips_links_fifos_and_stops_at_the_limits(tmp_path, monkeypatch):
    source = tmp_path / "source"
    (source / "variables").mkdir(parents=True)
    (source / "saved_model.pb").write_bytes(b"graph")
    (source / "variables" / "data").write_bytes(b"x" * 100)
    target = ROOT / "autograder" / "judging" / "judge_classifier.py"
    assert target.is_file()  # a link to a real judge file, which the copy must not follow
    (source / "link").symlink_to(target)
    os.mkfifo(source / "pipe")
    assert reading.copy_tree(source, tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").rglob("*")) == ["data", "saved_model.pb", "variables"]
    monkeypatch.setattr(reading, "MAX_ARTIFACT_FILES", 2)
    assert not reading.copy_tree(source, tmp_path / "small")


@pytest.mark.parametrize("text, shown", [
    ("lone \ud800 surrogate", "lone ? surrogate"),
    ("escape \x1b[31mred\x1b[0m and bell\x07", "escape red and bell"),
    ("keeps\nnew lines\tand tabs", "keeps\nnew lines\tand tabs"),
])
def test_student_strings_are_made_safe(text, shown):
    assert results.clean_text(text) == shown


def test_a_message_with_a_lone_surrogate_still_gives_valid_results(tmp_path):
    entry = grade_module.entry(TESTS[0], 0.0, "bad \udcff byte", hidden=())
    path = tmp_path / "results.json"
    results.write(results.build([entry], 1.0, "output \ud800"), path)
    loaded = json.loads(path.read_bytes().decode("utf-8"))  # strict UTF-8
    assert loaded["tests"][0]["output"] == "bad ? byte"
    results.table(loaded).encode("utf-8")


def test_links_in_a_submission_are_ignored(tmp_path):
    for name in ("vae.py", "assignment.py"):
        (tmp_path / name).write_text((ROOT / "solution" / name).read_text())
    (tmp_path / "helper.py").symlink_to(ROOT / "autograder" / "classifier" / "mnist_classifier.keras")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "vae.py").symlink_to(tmp_path / "vae.py")  # not a second vae.py
    found, problems, helpers = locate(tmp_path, ["vae.py", "assignment.py"])
    assert not problems and sorted(found) == ["assignment.py", "vae.py"] and helpers == []


def test_not_a_number_is_never_points():
    entry = results.test_entry(TESTS[0], float("nan"), "?")
    assert entry["score"] == 0 and entry["status"] == "failed"


def test_root_without_a_usable_sandbox_refuses_to_run_student_code(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0)
    monkeypatch.setattr(sandbox, "usable_by_others", lambda: False)
    ran = []
    monkeypatch.setattr(sandbox.Sandbox, "build", lambda *a, **k: ran.append(a))
    graded = grade_module.grade(ROOT / "solution", tmp_path / "r.json", Limits(), log=lambda *a, **k: None)
    assert not ran and graded["score"] == 0
    assert all("Refusing to run untrusted code as root" in e["output"] for e in graded["tests"])
    assert "make PYTHON=/usr/bin/python3" in graded["tests"][0]["output"]


def test_without_landlock_readable_staff_files_refuse_the_grading(tmp_path, monkeypatch):
    """Where the kernel has no Landlock, file modes are the only wall: while the reference
    solution is readable by the processes' user, nothing is graded, and the message says how
    to fix it."""
    from autograder.isolation import landlock

    monkeypatch.setattr(landlock, "available", lambda: 0)
    ran = []
    monkeypatch.setattr(sandbox.Sandbox, "build", lambda *a, **k: ran.append(a))
    graded = grade_module.grade(ROOT / "solution", tmp_path / "r.json", Limits(), log=lambda *a, **k: None)
    message = graded["tests"][0]["output"]
    assert not ran and graded["score"] == 0, message
    assert "Refusing to grade" in message and str(ROOT / "solution") in message and "chmod -R go-rwx" in message


def test_the_private_copy_holds_the_grader_code_and_nothing_of_the_staff(tmp_path):
    from autograder.isolation import walls

    copy = walls.private_copy(tmp_path / "grader", stamp.grader_files("mnist"))
    names = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    assert {"autograder/isolation/child.py", "autograder/isolation/student.py", "autograder/parts/vae.py", "code/assignment.py"} <= names
    assert not any(n.startswith(("solution", "tests", "courses", "outputs")) or "classifier/" in n or n.endswith((".key", ".keras"))
                   or "judges/" in n for n in names), names
    assert all(p.stat().st_mode & 0o222 == 0 for p in copy.rglob("*")), "the copy must be read-only"


def stage(kind, status, report=None):
    return sandbox.StageRun(kind, status, 100.0, 500.0, "", report or {}, {})


def test_a_part_that_stopped_early_keeps_what_was_measured():
    built = stage("build", "timeout", {"facts": {"train": {"reported": [1.0]}},
                                       "exported": {"encode": "trained", "decode": "trained"}})
    measured = stage("measure", "ok", {"results": {"evaluate": {"ok": True},
                                                   "generate": {"ok": False, "missing": "generate"}}})
    run = grade_module.PartRun("e2e_cvae", built, measured, {})
    assert run.problem("evaluate") == "" and run.fact_problem("train") == ""
    assert "ran out of time" in run.problem("generate")


def test_the_student_process_word_is_only_taken_for_what_it_reports():
    """A forged report (wrong types everywhere) gives messages, never an exception or a pass."""
    built = stage("build", "ok", {"facts": ["not", "a", "dict"], "errors": 7, "exported": "x", "complete": True})
    run = grade_module.PartRun("vae", built, stage("measure", "ok", {"results": {"forward": "yes"}}), {})
    assert run.problem("forward") and run.fact_problem("attributes")


def test_watching_a_process_that_already_ended_is_no_error():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # ended and reaped: its pid is gone
    assert watching.watch(process, 5, 100) == ("ok", 0.0)


@pytest.mark.slow
def test_a_measuring_process_that_died_waiting_is_replaced(submission, grade_it, monkeypatch):
    """The measuring process starts early and waits for its jobs; if it dies meanwhile (the
    system's OOM killer, say), measuring starts afresh and the part keeps its points."""
    start = sandbox.Sandbox.start_measuring

    def start_then_die(box):
        start(box)
        box.waiting.process.kill()
        box.waiting.process.wait()

    monkeypatch.setattr(sandbox.Sandbox, "start_measuring", start_then_die)
    results, scores = grade_it(submission(), ["reparameterize"])
    assert scores == full("reparameterize"), results["tests"]


def test_an_image_that_cannot_sandbox_fails_its_build_with_one_line(monkeypatch, capsys):
    """setup.sh's smoke grading: as root with a Python no other user can run, the build fails
    (exit 1, one line) instead of giving every submission 0 points later."""
    from autograder import smoke

    if os.geteuid() != 0:
        pytest.skip("only root runs student code as another user")
    monkeypatch.setattr(sandbox, "usable_by_others", lambda: False)
    assert smoke.main() == 1
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "cannot run student code as an unprivileged user" in said


@pytest.mark.skipif(not sandboxed(), reason="needs root and an interpreter unprivileged users can run (CI builds one)")
def test_a_good_image_passes_its_smoke_grading(capsys):
    from autograder import smoke

    assert smoke.main() == 0, capsys.readouterr().err


def test_sparse_files_count_at_their_apparent_size(tmp_path):
    """A sparse file uses no blocks but would be read (and copied dense) whole: the disk
    count and the copy's budget both see its full size."""
    source = tmp_path / "artifacts"
    source.mkdir()
    (source / "small.bin").write_bytes(b"x" * 1000)
    with open(source / "sparse.bin", "wb") as sparse:
        sparse.truncate(reading.MAX_ARTIFACT_BYTES + 1)
    assert watching.files_bytes([source]) > reading.MAX_ARTIFACT_BYTES
    assert reading.copy_tree(source, tmp_path / "copy") is False
    (source / "sparse.bin").unlink()
    assert reading.copy_tree(source, tmp_path / "copy2") is True
    assert (tmp_path / "copy2" / "small.bin").read_bytes() == b"x" * 1000


def test_the_memory_plan_fits_the_platform():
    """A build beside the waiting measuring process, or the measuring alone, plus the judge
    and the watcher's overshoot, never exceed the platform's memory (while it can hold them)."""
    from autograder.config import budget

    for platform in (3072, 4096, 8192):
        for limit in (1500, 3000, 6000):
            student, measuring = budget.memory_plan(platform, limit, measuring_waits=True)
            assert student <= limit and measuring <= limit
            overhead = budget.JUDGE_MB + budget.OVERSHOOT_MB
            assert student + budget.IDLE_MEASURING_MB + overhead <= platform or student == budget.FLOOR_MB
            assert measuring + overhead <= platform or measuring == budget.FLOOR_MB
    assert budget.memory_plan(3072, 3000, True) == (1772, 2372)
    assert budget.memory_plan(3072, 3000, False) == (2372, 2372)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's OOM killer")
def test_student_and_measuring_processes_are_the_oom_killers_first_choice():
    """If a memory bomb outruns the watcher, the kernel kills a process of the grading, never the judge."""
    done = subprocess.run(["cat", "/proc/self/oom_score_adj"], preexec_fn=users.as_user(None, False, False),
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1000"
    assert open("/proc/self/oom_score_adj").read().strip() != "1000"


def test_a_step_is_handed_only_the_judge_functions_it_names(tmp_path):
    """steps.judge_source copies the named functions of judges/<part>.py with the module's
    imports and constants, and refuses a choice whose functions call one it leaves out (a step
    is never handed more than it says); the student's process loads exactly those."""
    from autograder.isolation import steps

    text = steps.judge_source("inference", ("log_prior", "top_half"))
    assert "def log_prior" in text and "def top_half" in text and "TOP = 392" in text
    assert "def bernoulli_log_density" not in text and "def log_joint_top" not in text
    with pytest.raises(ValueError, match="log_likelihood_top calls"):
        steps.judge_source("inference", ("log_likelihood_top",))
    assert steps.judge_source("mmd", ()) == ""
    (tmp_path / "judges.py").write_text(text.replace("import tensorflow as tf", "tf = None"))
    loaded = steps.load(tmp_path / "judges.py")
    assert sorted(vars(loaded)) == ["log_prior", "top_half"]
    assert vars(steps.load(tmp_path / "absent.py")) == {}


def test_every_judge_function_is_handed_to_a_step_and_each_step_can_have_it():
    """Every step of every part names judge functions that exist and call only each other."""
    from autograder.isolation import steps
    from autograder.parts import PARTS

    handed = set()
    for part in PARTS:
        for step in steps.of(part):
            steps.judge_source(step.source or part.NAME, step.judges)
            handed |= {(step.source or part.NAME, name) for name in step.judges}
    for path in (ROOT / "autograder" / "judges").glob("*.py"):
        import ast
        defined = {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}
        assert {(path.stem, name) for name in defined} <= handed, (path.name, defined)
