"""Gradescope's results.json: building it, writing it atomically, printing it as a table.

Format: https://gradescope-autograders.readthedocs.io (score, execution_time, output,
tests[] with name, number, score, max_score, status, output, visibility).
"""
import json
import math
import os
import re
import tempfile
import textwrap
from pathlib import Path

MAX_TEST_OUTPUT = 8000  # characters per test; Gradescope rejects very large files
MAX_OUTPUT = 60000  # the grading log: the walls, then each part's line and its output (settings.output_bytes each)
CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def clean_text(text):
    """`text` made safe for results.json and a terminal: valid UTF-8 (lone surrogates
    replaced), no escape sequences, no control characters but newline and tab."""
    text = str(text).encode("utf-8", "replace").decode("utf-8", "replace")
    return CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clip(text, limit):
    text = clean_text(text)
    return text if len(text) <= limit else text[:limit // 2] + "\n...[truncated]...\n" + text[-limit // 2:]


def test_entry(test, fraction, message):
    """Gradescope's entry for one test. An extra-credit test has max_score 0: what it earns is
    added to the total without raising the maximum."""
    fraction = float(fraction) if math.isfinite(fraction) else 0.0  # NaN must never become points
    fraction = max(0.0, min(1.0, fraction))
    score = round(test.points * fraction, 2)
    return {"number": test.number, "name": test.name + (" [extra credit]" if test.extra_credit else ""),
            "score": score, "max_score": 0 if test.extra_credit else test.points,
            "status": "passed" if fraction >= 1.0 else "failed",
            "output": clip(message, MAX_TEST_OUTPUT), "visibility": test.visibility}


def build(entries, seconds, output):
    return {"score": round(sum(e["score"] for e in entries), 2),
            "execution_time": round(seconds, 1),
            "output": clip(output, MAX_OUTPUT),
            "visibility": "visible", "stdout_visibility": "hidden",
            "tests": entries}


def write(results, path):
    """Write atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as tmp:
        json.dump(results, tmp, indent=2, ensure_ascii=False)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


def table(results, details="outputs/results.json", width=100):
    """A plain-text table: number, points, name and the first line of each message in full
    (wrapped between words), with a pointer to `details` when the message has more."""
    lines = [f"{'test':<5} {'points':>11}  name / message", "-" * 78]
    for e in results["tests"]:
        lines.append(f"{e['number']:<5} {e['score']:>5g} / {e['max_score']:<3g}  {e['name']}")
        if e["status"] != "passed" or e["output"] != "passed":
            first, _, rest = e["output"].strip().partition("\n")
            more = f"  (more in {details})" if rest.strip() else ""
            lines += textwrap.wrap(first + more, width, initial_indent=" " * 19, subsequent_indent=" " * 19,
                                   break_long_words=False, break_on_hyphens=False) or [""]
    total = sum(e["max_score"] for e in results["tests"])
    extra = sum(e["score"] for e in results["tests"] if e["max_score"] == 0)
    said = f", including {extra:g} extra credit" if extra else ""
    lines += ["-" * 78, f"TOTAL {results['score']:g} / {total:g}{said}   ({results['execution_time']:.0f} s)"]
    return "\n".join(lines)
