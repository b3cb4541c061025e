"""What a grading measured, kept so that staff can score it again without grading again.

A record holds, per test number, the fraction of its points the checks gave and the message;
the grading log; the pictures with the test each belongs to; and the key of what the values
depend on (grader files, judge key, dataset, parts, limits, platform). Points, visibility
and extra credit do not change what is measured, so a course file that changes only those
re-scores a record in milliseconds (tools/regrade.py); anything else grades again.

    measured_key(course, stamp) -> what the measured values depend on, hashed
    save(path, key, verdicts, seconds, output, pictures)
    load(path, key) -> the record, or None if there is none or it was measured otherwise
"""
import base64
import dataclasses
import hashlib
import json
import os

RECORD = 1  # the layout's version: a record of another layout is not read


def measured_key(course, grader):
    """What every measured value depends on, hashed: `grader` (the grader files' and key's
    stamp), the dataset, the parts in order, the limits and the platform."""
    facts = {"grader": grader["grader"], "key": grader["key"], "dataset": course.dataset,
             "parts": [part.NAME for part in course.parts], "limits": dataclasses.asdict(course.limits),
             "platform": course.platform, "layout": RECORD}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def save(path, key, verdicts, seconds, output, pictures):
    """Write the record (private to staff: 0600, atomically). verdicts: {number: (fraction, message)};
    pictures: [(title, PNG bytes, caption, test number)]."""
    data = {"layout": RECORD, "measured": key, "seconds": seconds, "output": output,
            "verdicts": {number: [fraction, message] for number, (fraction, message) in verdicts.items()},
            "pictures": [[t, base64.b64encode(png).decode(), c, n] for t, png, c, n in pictures]}
    partial = f"{path}.{os.getpid()}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(partial, path)


def load(path, key):
    """The record at `path` as {seconds, output, verdicts, pictures} if it was measured under
    `key`, else None."""
    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("layout") != RECORD or data.get("measured") != key:
        return None
    try:
        return {"seconds": float(data["seconds"]), "output": str(data["output"]),
                "verdicts": {str(n): (float(f), str(m)) for n, (f, m) in data["verdicts"].items()},
                "pictures": [(str(t), base64.b64decode(p), str(c), str(n)) for t, p, c, n in data["pictures"]]}
    except (KeyError, TypeError, ValueError):
        return None
