"""The judge's defences that need no TensorFlow: malformed stage files, links, fail-closed."""
import json
import zipfile

import numpy as np

from autograder import grade as grade_module, results, sandbox
from autograder.locate import locate
from autograder.rubric import TESTS
from autograder.settings import Limits
from conftest import ROOT


def test_a_decompression_bomb_is_not_loaded(tmp_path):
    nonce = "n"
    (tmp_path / "report.json").write_text(json.dumps({"nonce": nonce, "probes": {"a": {"ok": True}}}))
    with zipfile.ZipFile(tmp_path / "outputs.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.x.npy", b"\0" * (sandbox.MAX_OUTPUTS_BYTES + 1))  # compresses to ~64 kB
    report, arrays = sandbox.read_results(tmp_path, nonce)
    assert report and arrays == {}


def test_a_report_without_the_nonce_is_ignored(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({"nonce": "guess", "probes": {"a": {"ok": True}}}))
    np.savez(tmp_path / "outputs.npz", x=np.ones(3))
    assert sandbox.read_results(tmp_path, "secret") == ({}, {})


def test_deeply_nested_json_is_no_data(tmp_path):
    (tmp_path / "report.json").write_text("[" * 100000 + "]" * 100000)
    assert sandbox.read_results(tmp_path, "n") == ({}, {})


def test_links_in_a_submission_are_ignored(tmp_path):
    for name in ("vae.py", "assignment.py"):
        (tmp_path / name).write_text((ROOT / "solution" / name).read_text())
    (tmp_path / "helper.py").symlink_to(ROOT / "autograder" / "classifier" / "mnist_classifier.keras")
    files, problem = locate(tmp_path)
    assert not problem and [p.name for p in files] == ["vae.py", "assignment.py"]


def test_not_a_number_is_never_points():
    entry = results.test_entry(TESTS[0], float("nan"), "?")
    assert entry["score"] == 0 and entry["status"] == "failed"


def test_root_without_a_sandbox_user_refuses_to_run_student_code(tmp_path, monkeypatch):
    monkeypatch.setattr(grade_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(grade_module.sandbox, "sandbox_ids", lambda: None)
    ran = []
    monkeypatch.setattr(grade_module.sandbox, "run_stage", lambda *a, **k: ran.append(a))
    graded = grade_module.grade(ROOT / "solution", tmp_path / "r.json", Limits(),
                                log=lambda *a, **k: None, require_sandbox=True)
    assert not ran and graded["score"] == 0
    assert all("Refusing to run untrusted code as root" in e["output"] for e in graded["tests"])


def test_a_stage_that_stopped_early_keeps_the_probes_it_finished():
    run = sandbox.StageRun("e2e_cvae", "timeout", 100.0, 500.0, "", {"train": {"ok": True}}, {})
    assert run.problem("train") == "" and "ran out of time" in run.problem("generate")
