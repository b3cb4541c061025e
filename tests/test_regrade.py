"""make regrade: a whole export graded in parallel, resumable, summarised; one hang or one
empty upload never stops the batch; a changed course changes exactly the right rows."""
import csv
import json
import os
import subprocess
import sys
import time
import zipfile

import pytest
import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import regrade  # noqa: E402

def solution(replace=()):
    files = {name: (ROOT / "solution" / name).read_text() for name in ("vae.py", "assignment.py")}
    for old, new in replace:
        assert files["vae.py"].count(old) == 1
        files["vae.py"] = files["vae.py"].replace(old, new)
    return files


CLASS = {  # submission folder -> (files by relative path, Gradescope's score)
    "submission_1001": ({f"hw6/code/{k}": v for k, v in solution().items()}, 15.0),
    "submission_1002": ({"vae.py": (ROOT / "code" / "vae.py").read_text(),
                         "assignment.py": (ROOT / "code" / "assignment.py").read_text()}, 0.0),
    "submission_1003": (solution([("return mu + tf.exp(0.5 * logvar) * eps", "return mu + tf.exp(logvar) * eps")]), 15.0),
    "submission_1004": (solution([("kl = -0.5 * tf.reduce_sum(", "kl = 0.5 * tf.reduce_sum(")]), 4.0),
    "submission_1005": (solution([("    eps = tf.random.normal(tf.shape(mu))\n", "    while True:\n        pass\n")]), 10.0),
    "submission_1006": ({}, 0.0),
    "submission_1007": ({f"{d}/{k}": v for d in ("a", "b") for k, v in solution().items()}, 15.0),
    "submission_1008": (solution(), 25.0),  # the files of 1001, in another folder layout
}
COURSE = 'title = "regrade test"\nparts = ["reparameterize", "loss"]\n[limits]\nunit_seconds = 25\n'


def make_export(tmp_path):
    """A zip in the layout of Gradescope's Export Submissions."""
    metadata = {name: {":submitters": [{":name": f"Student {name[-4:]}", ":email": f"s{name[-4:]}@example.edu",
                                        ":sid": name[-4:]}], ":score": score, ":status": "processed"}
                for name, (_, score) in CLASS.items()}
    path = tmp_path / "assignment_42_export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("assignment_42_export/submission_metadata.yml", yaml.safe_dump(metadata))
        for name, (files, _) in CLASS.items():
            archive.writestr(f"assignment_42_export/{name}/", "")
            for relative, text in files.items():
                archive.writestr(f"assignment_42_export/{name}/{relative}", text)
    return path


def run(export, out, course, *extra):
    return subprocess.run([sys.executable, "tools/regrade.py", str(export), "--out", str(out), "--course", str(course),
                           "--jobs", "2", *extra], cwd=ROOT, capture_output=True, text=True, timeout=1800)


def read_csv(out):
    with open(out / "summary.csv", newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


@pytest.mark.slow  # grades a small class
def test_a_class_is_regraded_summarised_resumed_and_rescored_with_new_points(tmp_path):
    export, out, course = make_export(tmp_path), tmp_path / "out", tmp_path / "course.toml"
    course.write_text(COURSE)
    done = run(export, out, course)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "8 submissions: 0 measured before" in done.stdout and "7 to grade, 2 at a time, 1 more with the same files" in done.stdout
    results = {name: json.loads((out / name / "results.json").read_text()) for name in CLASS}
    totals = {name: r["score"] for name, r in results.items()}
    assert totals == {"submission_1001": 25, "submission_1002": 0, "submission_1003": 19, "submission_1004": 14,
                      "submission_1005": 15, "submission_1006": 0, "submission_1007": 0, "submission_1008": 25}, totals
    hang = next(e for e in results["submission_1005"]["tests"] if e["number"] == "1.1")["output"]
    assert "ran out of time" in hang
    assert "no vae.py was found" in results["submission_1006"]["tests"][0]["output"]
    assert "2 files named vae.py were found" in results["submission_1007"]["tests"][0]["output"]
    rows = read_csv(out)
    assert {k: float(r["total"]) for k, r in rows.items()} == totals
    assert rows["submission_1003"]["names"] == "Student 1003" and rows["submission_1003"]["1.2"] == "0.0"
    assert rows["submission_1004"]["gradescope_total"] == "4.0" and rows["submission_1004"]["change"] == "10.0"
    assert rows["submission_1008"]["same_files_as"] == "submission_1001" and rows["submission_1001"]["same_files_as"] == ""
    assert "same files as submission_1001" in (out / "submission_1008" / "grader.log").read_text()
    assert "grading reparameterize ..." in (out / "submission_1001" / "grader.log").read_text()  # the grading's log
    stamp = results["submission_1001"]["extra_data"]  # which grader, course file and key graded
    assert {r["grader"] for r in rows.values()} == {stamp["grader"]} and len(stamp["grader"]) == 12
    assert rows["submission_1001"]["course_sha256"] == stamp["course_sha256"] and rows["submission_1001"]["key"] == stamp["key"]
    assert stamp["key"] in results["submission_1001"]["output"] and stamp["grader"] in results["submission_1001"]["output"]
    assert rows["submission_1003"]["student_ids"] == "1003" and float(rows["submission_1003"]["maximum"]) > 0
    assert float(rows["submission_1003"]["seconds"]) > 0
    assert (out / "histogram.png").stat().st_size > 1000
    changed = (out / "changed.md").read_text()
    assert "submission_1004" in changed and "submission_1002" not in changed
    assert "| 2.3 loss_function: the KL term vanishes" in (out / "tests.md").read_text()

    start = time.monotonic()
    again = run(export, out, course)  # resumed: nothing left to grade
    assert "8 measured before" in again.stdout and "0 to grade" in again.stdout
    assert time.monotonic() - start < 30

    # 2.1 worth 10 instead of 7, and 2.3 shown after the due date: scored again from what was measured
    course.write_text(COURSE + '[tests]\n"2.1" = { points = 10 }\n"2.3" = { visibility = "after_due_date" }\n')
    start = time.monotonic()
    rescored = run(export, out, course)
    seconds = time.monotonic() - start
    assert rescored.returncode == 0 and "8 measured before" in rescored.stdout and "0 to grade" in rescored.stdout
    assert seconds < 30, seconds
    new = {k: float(r["total"]) for k, r in read_csv(out).items()}
    passed_2_1 = {"submission_1001", "submission_1003", "submission_1005", "submission_1008"}
    assert {k for k in new if new[k] != totals[k]} == passed_2_1
    assert all(new[k] == totals[k] + 3 for k in passed_2_1)
    after = json.loads((out / "submission_1004" / "results.json").read_text())
    assert after["extra_data"]["course_sha256"] != stamp["course_sha256"]
    entry = next(e for e in after["tests"] if e["number"] == "2.3")
    assert entry["visibility"] == "after_due_date" and entry["output"] == next(
        e for e in results["submission_1004"]["tests"] if e["number"] == "2.3")["output"]
    assert "the KL term vanishes" not in (out / "submission_1004" / "report.html").read_text()
    assert "the KL term vanishes" in (out / "submission_1004" / "report-staff.html").read_text()

    # other limits can change what is measured: that is graded again
    course.write_text(COURSE.replace("unit_seconds = 25", "unit_seconds = 26"))
    regraded = run(export, out, course)
    assert regraded.returncode == 0 and "0 measured before" in regraded.stdout and "7 to grade" in regraded.stdout
    assert {k: float(r["total"]) for k, r in read_csv(out).items()} == totals


def test_a_malformed_export_is_one_clear_line(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "submission_metadata.yml").write_text("submission_1:\n  :score: [1, 2\n  :status: x\n")
    with pytest.raises(regrade.ExportError, match=r"submission_metadata.yml, line \d+"):
        regrade.read_metadata(folder)
    done = subprocess.run([sys.executable, "tools/regrade.py", str(folder), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "line" in done.stderr


def test_a_grader_that_fails_is_named_as_the_graders_fault(tmp_path, monkeypatch):
    """A grader that dies before writing results gives no points, says it was the grader's
    fault with its last line of error, and keeps its log; the batch exits 1 naming it."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho 'RuntimeError: boom' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(regrade.sys, "executable", str(fake))
    course = tmp_path / "course.toml"
    course.write_text(COURSE)
    folder = tmp_path / "export" / "submission_1"
    folder.mkdir(parents=True)
    (folder.parent / "submission_metadata.yml").write_text(yaml.safe_dump(
        {"submission_1": {":submitters": [{":name": "A"}], ":score": 25.0}}))
    out = tmp_path / "out"
    assert regrade.main([str(folder.parent), "--out", str(out), "--course", str(course), "--jobs", "1"]) == 1
    results = json.loads((out / "submission_1" / "results.json").read_text())
    assert results["score"] == 0 and all(e["score"] == 0 for e in results["tests"])
    said = results["tests"][0]["output"]
    assert "GRADER ERROR, not the student's" in said and "code 3" in said and "RuntimeError: boom" in said
    assert "RuntimeError: boom" in (out / "submission_1" / "grader.log").read_text()


def test_a_terminated_regrade_ends_its_gradings(tmp_path):
    """`kill` (SIGTERM) stops the regrade like Ctrl-C: no grading goes on without it."""
    fake = tmp_path / "python"  # a grading that would run for ever, and says where it runs
    fake.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 600\n")
    fake.chmod(0o755)
    course = tmp_path / "course.toml"
    course.write_text(COURSE)
    export = tmp_path / "export"
    (export / "submission_1").mkdir(parents=True)
    (export / "submission_metadata.yml").write_text(yaml.safe_dump({"submission_1": {":score": 1.0}}))
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tools')!r}); import regrade; "
            f"regrade.sys.executable = {str(fake)!r}; "
            f"sys.exit(regrade.main([{str(export)!r}, '--out', {str(tmp_path / 'out')!r}, '--course', {str(course)!r}]))")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    for _ in range(200):
        if (tmp_path / "pid").exists() and (tmp_path / "pid").read_text().strip():
            break
        time.sleep(0.05)
    grading = int((tmp_path / "pid").read_text())
    process.terminate()
    assert process.wait(timeout=30) == 130
    assert "stopped: 0 graded this time" in process.stdout.read()
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(grading, 0)


def test_a_record_is_read_back_only_under_the_key_it_was_measured_with(tmp_path):
    """record.json round-trips verdicts, log and pictures; another key, another layout or a
    damaged file reads as no record (the submission is graded again)."""
    from autograder import record

    path = tmp_path / "record.json"
    record.save(path, "k1", {"1.1": (1.0, "passed"), "1.2": (0.25, "half")}, 12.5, "log", [("t", b"\x89PNG", "c", "6.3")])
    assert os.stat(path).st_mode & 0o077 == 0
    kept = record.load(path, "k1")
    assert kept["verdicts"] == {"1.1": (1.0, "passed"), "1.2": (0.25, "half")} and kept["pictures"][0][1] == b"\x89PNG"
    assert record.load(path, "k2") is None
    path.write_text(path.read_text()[:-5])
    assert record.load(path, "k1") is None
