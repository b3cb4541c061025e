"""Regrade a whole class from a Gradescope export, locally, before releasing grades.

    python tools/regrade.py EXPORT [--jobs N] [--course FILE] [--force] [--out outputs/regrade]

Without --course, the course is the one the export's results were graded with: Gradescope keeps
each results.json in submission_metadata.yml (:results), stamped with its course file's SHA-256
(extra_data course_sha256); the file of courses/ with that hash is used, and the first line says
so. An export without stamps, stamped by several course files or by one that is no longer in
courses/ (edited since) is refused, in one line naming --course (make regrade: COURSE=).

EXPORT is the zip of Gradescope's "Export Submissions" or its unpacked folder: one folder
per submission and submission_metadata.yml (submitters, the score Gradescope gave). Every
submission is graded with the same grader and course file as run_autograder (`python -m
autograder`, its own work folders and processes), JOBS at a time. Results go to
OUT/<submission>/results.json, with record.json beside it (what was measured). A rerun grades
only what has no record measured by this grader, key, dataset, parts and limits: the others
are re-scored from their records in seconds, so a course file that changes only points,
visibility or extra credit needs no training (--force grades everything again). Submissions
whose graded files are identical are graded once (summary.csv names the twin). Ctrl-C keeps
every finished one; OUT/<submission>/grader.log shows each grading's progress as it goes. Nothing aborts the batch: a grading that crashes or overruns gets
a results.json saying so (a grader that fails, as opposed to a submission, is named at the end,
with exit code 1; its messages are in OUT/<submission>/grader.log). As results come in, OUT holds:

    summary.csv     one row per submission: names, emails, student ids, new total, maximum,
                    Gradescope's total, the change, seconds, the grader's stamp, the
                    submission with the same files (if any), each test
    tests.md        per test: its points, how many submissions lost some, the points lost in
                    all, and the most common first line of message
    changed.md      the submissions whose total differs from Gradescope's
    histogram.png   the totals

Every string from the export or a grading (names, emails, ids, messages) is made plain before it
reaches a terminal or one of these files: no escape sequences, control characters, bidirectional
or zero-width marks, or line breaks. In summary.csv a text cell that a spreadsheet would read as a
formula (starting with =, +, -, @, a tab or a carriage return: OWASP's CSV-injection rule) starts
with a single quote; in the .md files Markdown's link, HTML, code and table characters are escaped.
"""
import argparse
import collections
import concurrent.futures
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import zipfile
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder.outputs import results as results_module  # noqa: E402
from autograder.judging import secret  # noqa: E402
from autograder.config import settings  # noqa: E402
from autograder.config.budget import cores  # noqa: E402
from autograder.grade import rescore  # noqa: E402
from autograder.config.locate import locate  # noqa: E402
from autograder.config.course import CourseError, load  # noqa: E402

METADATA = "submission_metadata.yml"
RECORD = "record.json"
GB = 2**30
GRADER_ERROR = "GRADER ERROR"
MEMORY_PER_JOB = 2.5 * GB  # a grading's processes together peaked at 1.29 GB (reference, 2 cores)
COURSES = ROOT / "courses"  # where a course stamped on the export's results is looked for
INTERPRETER = sys.executable  # fetches a data set (gradings run sys.executable)
FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # OWASP, and full-width forms
KEPT_FORMAT = {"\u200c", "\u200d"}  # zero-width (non-)joiners: part of some names and emoji
MARKDOWN = re.compile(r"([\\`*\[\]<>|])")
ESCAPES = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: a window title, a hyperlink
                     r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
                     r"|\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"  # CSI, 7- and 8-bit
                     r"|\x1b[ -/]*[0-~]")  # any other escape sequence
SUBMISSION_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")  # Gradescope's folders: submission_<number>


class ExportError(Exception):
    """An export that cannot be read; the message names the file (and line)."""


def plain(value, limit=None):
    """`value` as one line of plain text for a terminal or a staff file: valid UTF-8, no escape
    sequences, control characters, bidirectional or zero-width marks (Unicode format characters),
    each run of white space (line breaks, tabs, line separators) one space; at most `limit` characters."""
    text = results_module.clean_text(ESCAPES.sub("", str(value)))
    text = "".join(" " if c.isspace() or unicodedata.category(c) in ("Zl", "Zp") else c for c in text
                   if unicodedata.category(c) not in ("Cc", "Cf") or c.isspace() or c in KEPT_FORMAT)
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def cell(value):
    """A summary.csv cell: numbers as they are; text made plain, with a single quote before any that a
    spreadsheet would take for a formula (OWASP's CSV-injection rule)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = plain(value)
    return "'" + text if text.startswith(FORMULA) else text


def markdown(value, limit=None):
    """Text for tests.md and changed.md: plain, with Markdown's code, link, HTML and table characters escaped."""
    return MARKDOWN.sub(r"\\\1", plain(value, limit))


def say(text, **options):
    """Print one plain line (a student's name or message never reaches the terminal as it is)."""
    print(plain(text), flush=True, **options)


def default_jobs():
    """As many gradings at once as the cores and the memory allow (at least 1)."""
    return max(1, min(cores(), int(psutil.virtual_memory().available // MEMORY_PER_JOB)))


def unpack(export, out):
    """The folder holding submission_metadata.yml: `export` itself, or the zip unpacked into
    OUT/export (once). OUT is made private first: it holds every student's code, names and
    emails, and the submission being graded runs as another user."""
    export = Path(export)
    os.chmod(out, 0o700)
    if export.is_file():
        target = out / "export"
        if not (target / ".unpacked").exists():
            shutil.rmtree(target, ignore_errors=True)
            try:
                with zipfile.ZipFile(export) as archive:
                    archive.extractall(target)
            except zipfile.BadZipFile:
                raise ExportError(f"{export}: not a zip file (expected Gradescope's Export Submissions zip)") from None
            (target / ".unpacked").touch()
        export = target
    if not export.is_dir():
        raise ExportError(f"{export}: no such file or folder")
    found = sorted(export.rglob(METADATA), key=lambda p: len(p.parts))
    if not found:
        raise ExportError(f"{export}: no {METADATA} (is this a Gradescope submissions export?)")
    return found[0].parent


def text(value):
    """A metadata field as text: a string or number as it is, anything else (a list, a mapping) ''."""
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def course_stamp(record):
    """(course file name, its SHA-256's 12 hex digits) of the grader's stamp on the results Gradescope
    kept for this submission (:results, extra_data), or None."""
    results = record.get(":results", record.get("results"))
    if not isinstance(results, dict):
        return None
    stamp = results.get("extra_data", results.get(":extra_data"))
    if not isinstance(stamp, dict) or not isinstance(stamp.get("course_sha256"), str):
        return None
    return text(stamp.get("course")), stamp["course_sha256"]


def read_metadata(folder):
    """[{id, folder, names, emails, sids, gradescope, stamp}] from submission_metadata.yml. An entry
    whose name is not a plain folder name (submission_<number>) is refused: it becomes a path."""
    path = folder / METADATA
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}" if mark else ""
        raise ExportError(f"{path}{where}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ExportError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: expected one entry per submission folder, found {type(data).__name__}")
    submissions = []
    for key, record in data.items():
        if not isinstance(record, dict):
            raise ExportError(f"{path}: the entry {plain(repr(key), 80)} is not a mapping")
        if not SUBMISSION_ID.fullmatch(text(key)) or text(key) in (".", ".."):
            raise ExportError(f"{path}: the entry {plain(repr(key), 80)} is not a submission folder's name "
                              "(letters, digits, '_', '.', '-'): is this export Gradescope's, unchanged?")
        people = [p for p in record.get(":submitters") or [] if isinstance(p, dict)]
        score = record.get(":score")
        submissions.append({
            "id": text(key), "folder": folder / text(key),
            "names": "; ".join(text(p.get(":name", "")) for p in people),
            "emails": "; ".join(text(p.get(":email", "")) for p in people),
            "sids": "; ".join(text(p.get(":sid", "")) for p in people),
            "gradescope": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
            "stamp": course_stamp(record)})
    return submissions


def sha(path):
    """The first 12 hex digits of a file's SHA-256, as the grader stamps its course file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def stamped_course(submissions):
    """The course file the export's results were graded with: (path under courses/, why), or
    ExportError naming --course / COURSE= when that cannot be told for sure."""
    ask = "name the course to regrade against: make regrade COURSE=courses/<name>.toml (tools/regrade.py --course)"
    stamps = collections.Counter(s["stamp"][1] for s in submissions if s.get("stamp"))
    if not stamps:
        raise ExportError(f"the export's results carry no course stamp: {ask}")
    if len(stamps) > 1:
        seen = ", ".join(f"{h} ({n})" for h, n in stamps.most_common(4))
        raise ExportError(f"the export's results were graded with {len(stamps)} course files (SHA-256 {seen}): {ask}")
    digest = next(iter(stamps))
    names = {s["stamp"][0] for s in submissions if s.get("stamp")}
    matches = sorted(COURSES.glob("*.toml"), key=lambda p: (p.name not in names, p.name))
    matches = [p for p in matches if sha(p) == digest]
    if not matches:
        raise ExportError(f"the export was graded with a course file ({plain(', '.join(sorted(names)), 60)}, SHA-256 "
                          f"{plain(digest, 12)}) that is none of {COURSES}/*.toml now (edited since?): {ask}")
    return matches[0], (f"the course the export's results were graded with (SHA-256 {digest}; "
                        "COURSE= or --course chooses another)")


def ensure_data(course):
    """Fetch the course's data set if it is not here yet (make regrade fetched the default course's)."""
    settings.use(course.dataset)
    if not settings.data_npz().exists():
        subprocess.run([INTERPRETER, str(ROOT / "data" / "fetch.py"), "--course", str(course.path)], cwd=ROOT, check=False)


def finished(path):
    """The results.json at `path` as a dict if a grading finished it (it has a list of tests), else None."""
    try:
        graded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return graded if isinstance(graded, dict) and isinstance(graded.get("tests"), list) else None


def no_points(course, seconds, why):
    """results.json giving every test 0 points with the message `why` (a grading that did not finish)."""
    entries = [results_module.test_entry(test, 0.0, why) for part in course.parts for test in course.tests[part.NAME]]
    return results_module.build(entries, seconds, f"tools/regrade.py: {why}")


def last_line(log):
    """The last non-empty line of the grader's log (its error), or ''."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def grade_one(submission, course, out, running, stop):
    """Grade one submission into OUT/<id>/results.json (atomically) and return the seconds taken.
    The grader's own messages go to OUT/<id>/grader.log."""
    target = out / submission["id"] / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    log = target.parent / "grader.log"
    limits = course.limits
    cap = (limits.unit_timeout * len(course.parts) + limits.training_budget + limits.measure_timeout + 600)
    folder = submission["folder"] if submission["folder"].is_dir() else out / "empty"
    folder.mkdir(exist_ok=True)
    start = time.monotonic()
    with open(log, "wb") as handle:  # written as the grading goes (tail -f it)
        process = subprocess.Popen([sys.executable, "-m", "autograder", "--course", str(course.path), "--submission",
                                    str(folder), "--results", str(target), "--record", str(target.parent / RECORD)],
                                   cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    running.add(process)
    try:
        while process.poll() is None:
            if stop.is_set():
                process.terminate()
                process.wait()
                return None
            if time.monotonic() - start > cap:
                process.kill()
                process.wait()
                results_module.write(no_points(course, cap, f"The regrade stopped this grading after {cap / 60:.0f} "
                                               "minutes (more than the course's limits allow); no points."), target)
                break
            time.sleep(0.2)
    finally:
        running.discard(process)
    if not finished(target):  # the grader always writes one; if it could not, that is the grader's fault
        why = last_line(log) or "no message"
        results_module.write(no_points(course, time.monotonic() - start,
                                       f"{GRADER_ERROR}, not the student's: the grader exited (code {process.returncode}) "
                                       f"without results: {why}. Fix it and rerun with --force; log: {log}"), target)
    return time.monotonic() - start


def same_files(submissions, course):
    """{id: id of the first submission whose graded files (names and contents) are the same}, for
    every later one. Only complete submissions count: the grader reads nothing else of them."""
    first, twins = {}, {}
    for s in submissions:
        found, problems, helpers = locate(s["folder"], course.files())
        if found and not problems:
            digest = secret.digest(list(found.values()) + helpers)
            twins[s["id"]] = first.setdefault(digest, s["id"])
    return {k: v for k, v in twins.items() if k != v}


def copy_grading(original, twin, course, out):
    """Give `twin` the grading of `original` (same files): its record re-scored into twin's folder,
    or, when the grading left no record this course can re-score (the grader failed, or changed
    while it graded), its results as they are. Returns the re-scored results, or None."""
    (out / twin).mkdir(parents=True, exist_ok=True)
    (out / twin / "grader.log").write_text(f"The same files as {original}: its grading is used (not graded again).\n")
    rescored = None
    if (out / original / RECORD).exists():
        shutil.copyfile(out / original / RECORD, out / twin / RECORD)
        rescored = rescore(out / twin / RECORD, out / twin / "results.json", course, log=lambda *a, **k: None)
    if rescored is None and (out / original / "results.json").exists():
        shutil.copyfile(out / original / "results.json", out / twin / "results.json")
    return rescored


def summarise(submissions, out, course):
    """Write summary.csv, tests.md, changed.md and histogram.png from the results so far."""
    numbers = [t.number for part in course.parts for t in course.tests[part.NAME]]
    names = {t.number: t.name for part in course.parts for t in course.tests[part.NAME]}
    points = {t.number: t.points for part in course.parts for t in course.tests[part.NAME]}  # extra credit: max_score 0
    rows, changed = [], []
    losers, lost, messages = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
    for s in submissions:
        graded = finished(out / s["id"] / "results.json")
        if graded is None:
            continue
        scores = {e["number"]: e for e in graded["tests"]}
        total = round(graded.get("score", 0.0), 2)
        old = s["gradescope"]
        stamp = graded.get("extra_data") if isinstance(graded.get("extra_data"), dict) else {}
        maximum = sum(e.get("max_score", 0) for e in graded["tests"])
        rows.append([s["id"], s["names"], s["emails"], s["sids"], total, maximum, "" if old is None else old,
                     "" if old is None else round(total - old, 2), graded.get("execution_time", "")]
                    + [stamp.get(k, "") for k in ("grader", "course_sha256", "key")] + [s.get("same_as", "")]
                    + [scores[n]["score"] if n in scores else "" for n in numbers])
        for n in numbers:
            if n in scores and scores[n]["score"] < points[n]:
                losers[n] += 1
                lost[n] += points[n] - scores[n]["score"]
                messages[n][plain(str(scores[n]["output"]).strip().split("\n")[0], 120)] += 1
        if old is not None and abs(total - old) > 0.005:
            changed.append((s["id"], s["names"], old, total))
    with open(out / "summary.csv.tmp", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([cell(c) for c in ["submission", "names", "emails", "student_ids", "total", "maximum",
                                           "gradescope_total", "change", "seconds", "grader", "course_sha256", "key",
                                           "same_files_as"] + numbers])
        writer.writerows([cell(c) for c in row] for row in rows)
    os.replace(out / "summary.csv.tmp", out / "summary.csv")
    table = ["| test | points | submissions that lost points | points lost in all | most common first line |",
             "|---|---|---|---|---|"]
    for n in numbers:
        common = markdown(messages[n].most_common(1)[0][0]) if messages[n] else ""
        table.append(f"| {markdown(n)} {markdown(names[n])} | {points[n]:g} | {losers[n]} of {len(rows)} | "
                     f"{round(lost[n], 2):g} | {common} |")
    (out / "tests.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    lines = [f"# Totals that differ from Gradescope's ({len(changed)} of {len(rows)})", ""]
    lines += [f"- {markdown(sid)} ({markdown(who, 200)}): {old:g} on Gradescope, {new:g} now"
              for sid, who, old, new in changed]
    (out / "changed.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    histogram([r[4] for r in rows], course.maximum(), out / "histogram.png")
    return rows, changed


def histogram(totals, maximum, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3))
    axis.hist(totals, bins=[x * maximum / 20 for x in range(22)], color="#4a78b5", edgecolor="white")
    axis.set_xlabel(f"total (of {maximum:g})")
    axis.set_ylabel("submissions")
    axis.set_title(f"{len(totals)} submissions regraded")
    figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(figure)


def progress(done, total, started):
    """One line: a bar, the counts and the time left at the pace so far."""
    width = 30
    filled = int(width * done / total) if total else width
    left = (time.monotonic() - started) / done * (total - done) if done else 0
    eta = f", about {left / 60:.0f} min left" if done and total > done else ""
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} graded{eta}"


def interrupt(signum, frame):
    """SIGTERM or SIGHUP (a closed terminal, `kill`): stop as Ctrl-C does, ending every grading."""
    raise KeyboardInterrupt


def main(argv=None):
    signals = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {number: signal.signal(number, interrupt) for number in signals}
    try:
        return regrade(argv)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def regrade(argv):
    parser = argparse.ArgumentParser(description="Regrade every submission of a Gradescope export.")
    parser.add_argument("export", help="Gradescope's Export Submissions zip, or its unpacked folder")
    parser.add_argument("--jobs", type=int, default=None, help="gradings at once (default: what cores and memory allow)")
    parser.add_argument("--course", default=None,
                        help="course file (default: the one the export's results were graded with, by the SHA-256 "
                             "stamped on them, if it is in courses/; else the regrade refuses and asks for it)")
    parser.add_argument("--force", action="store_true", help="grade again what is already graded")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "regrade",
                        help="folder for the results, records, summaries and the unpacked export (made private, "
                             "0700: it holds every student's code, names and emails; default: outputs/regrade, "
                             "which make clean-student-data removes)")
    args = parser.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        folder = unpack(args.export, args.out)
        submissions = read_metadata(folder)
        path, why = (args.course, "") if args.course else stamped_course(submissions)
        course = load(path)
    except (CourseError, ExportError) as error:
        say(f"error: {error}", file=sys.stderr)
        return 2
    if why:
        say(f"course {course.path}: {why}")
        ensure_data(course)
    if not folder.resolve().is_relative_to(args.out.resolve()) and folder.stat().st_mode & 0o007:
        say(f"warning: {folder} can be read by every user of this machine, so a submission being graded could "
            f"read the others (and their names and emails): make it private (chmod -R go-rwx {folder}) or pass "
            "the export's zip, which is unpacked into a private folder.", file=sys.stderr)
    jobs = args.jobs or default_jobs()
    twins = same_files(submissions, course)
    for s in submissions:
        s["same_as"] = twins.get(s["id"], "")
    began = time.monotonic()
    measured = {s["id"] for s in submissions if not args.force and
                rescore(args.out / s["id"] / RECORD, args.out / s["id"] / "results.json", course, lambda *a, **k: None)}
    for s in submissions:  # a twin of a submission measured before takes its grading
        if s["id"] not in measured and s["same_as"] in measured and copy_grading(s["same_as"], s["id"], course, args.out):
            measured.add(s["id"])
    todo = [s for s in submissions if s["id"] not in measured and not s["same_as"]]
    waiting = [s for s in submissions if s["id"] not in measured and s["same_as"]]
    rescored = f" (re-scored with this course file in {time.monotonic() - began:.1f} s)" if measured else ""
    say(f"{len(submissions)} submissions, {len(twins)} with the same files as another (graded once; summary.csv's "
        f"same_files_as): {len(measured)} measured before{rescored}, {len(todo)} to grade, {jobs} at a time "
        f"(course {course.path.name})")
    running, stop, started, done = set(), threading.Event(), time.monotonic(), 0
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    futures = {pool.submit(grade_one, s, course, args.out, running, stop): s for s in todo}
    try:
        for future in concurrent.futures.as_completed(futures):
            s, seconds = futures[future], future.result()
            done += 1
            for twin in waiting:
                if twin["same_as"] == s["id"]:
                    copy_grading(s["id"], twin["id"], course, args.out)
            summarise(submissions, args.out, course)
            total = json.loads((args.out / s["id"] / "results.json").read_text())["score"]
            say(f"{progress(done, len(todo), started)}  {s['id']} ({plain(s['names'], 80) or 'no name'}): "
                f"{total:g} in {seconds / 60:.1f} min")
    except KeyboardInterrupt:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        summarise(submissions, args.out, course)
        print()
        say(f"stopped: {done} graded this time; finished results are kept in {args.out} (rerun to go on)")
        return 130
    pool.shutdown()
    rows, changed = summarise(submissions, args.out, course)
    say(f"done: {len(rows)} submissions in {args.out}/summary.csv; {len(changed)} totals differ from "
        f"Gradescope's (changed.md); per test: tests.md; histogram.png")
    failed = [s["id"] for s in submissions
              if GRADER_ERROR in str((finished(args.out / s["id"] / "results.json") or {}).get("output", ""))]
    if failed:
        say(f"warning: the grader itself failed on {len(failed)} submission(s), which got no points: "
            f"{', '.join(failed[:10])}{' ...' if len(failed) > 10 else ''}. Read their grader.log, fix the cause "
            "and rerun with --force.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
