"""A course file: which parts a course grades, what each test is worth and when students
see it, the data set and the time budget (TOML, read with the standard library).

    title = "VAE and CVAE on MNIST"
    dataset = "mnist"
    parts = ["reparameterize", "loss", ...]       # in grading order, names from parts.BY_NAME
    results_format = "html"                       # or "md", or "text" (no pictures on Gradescope)
    [platform]                                    # the container: Gradescope's defaults if absent
    timeout_minutes = 10, cpus = 0.5, memory_mb = 768
    [limits]                                      # all optional
    unit_seconds = 120, training_minutes = 30, measure_seconds = 300, memory_mb = 3000
    [tests]                                       # optional, per test number
    "6.3" = { points = 14, visibility = "after_due_date", extra_credit = false }
    after_due_date = { points = 3, tests = ["..."] }  # a handout's: tests it leaves out (withheld())

load() checks every key and value and raises CourseError with one line naming the first
problem, before anything is graded.
"""
import hashlib
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import dataclasses

from . import settings
from ..datasets import BY_NAME as DATASETS
from ..parts import BY_NAME, NAMES as ALL_PARTS

DEFAULT = settings.ROOT / "course.toml"  # in a handout or a Gradescope zip
REPOSITORY_DEFAULT = settings.ROOT / "courses" / "default.toml"
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")
RESULTS_FORMATS = ("html", "md", "text")  # Gradescope's formats for the overview (pictures in the first two)
# The platform a grading runs in; when the course file says nothing, Gradescope's defaults.
PLATFORM = {"timeout_minutes": ("timeout", 60), "cpus": ("cpus", 1), "memory_mb": ("memory_mb", 1)}
PLATFORM_DEFAULTS = {"timeout": 600.0, "cpus": 0.5, "memory_mb": 768}
LIMITS = {"unit_seconds": ("unit_timeout", 1), "training_minutes": ("training_budget", 60),
          "measure_seconds": ("measure_timeout", 1), "memory_mb": ("memory_mb", 1)}
TEST_KEYS = {"points": (int, float), "visibility": str, "extra_credit": bool}


class CourseError(Exception):
    """A course file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Course:
    path: Path
    title: str
    dataset: str
    parts: tuple  # part modules, in grading order
    tests: dict  # part name -> tuple of kit.Test, with the course's points and visibility
    limits: settings.Limits
    results_format: str = "html"
    platform: dict = None  # timeout (s), cpus, memory_mb of the container a grading runs in
    after_due_date: float = 0  # a handout's: the points of the tests it leaves out (graded after the due date)

    def maximum(self):
        """The points of the tests that are not extra credit."""
        return sum(t.points for tests in self.tests.values() for t in tests if not t.extra_credit)

    def names(self):
        """The names of the course's parts, in grading order."""
        return tuple(part.NAME for part in self.parts)

    def files(self):
        """The student files the course's parts need, in a stable order."""
        return sorted({name for part in self.parts for name in part.FILES})


def withheld(number):
    """The token that stands for a hidden test in a handout's course file: the handout says how
    many points are graded after the due date, and its grader leaves those tests out, without
    naming or showing them."""
    return hashlib.sha256(f"graded after the due date\0{number}".encode()).hexdigest()[:12]


def positive_numbers(data, table, known, fail):
    """The table `table` of positive numbers, each key one of `known` (key: (field, scale)),
    as {field: value * scale}."""
    given = data.get(table, {})
    if not isinstance(given, dict):
        fail(f"{table} must be a table")
    out = {}
    for key, value in given.items():
        if key not in known:
            fail(f"unknown key {key!r} in [{table}] (known: {', '.join(known)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            fail(f"{table}.{key} must be a positive number, not {value!r}")
        out[known[key][0]] = value * known[key][1]
    return out


def default_path():
    return DEFAULT if DEFAULT.is_file() else REPOSITORY_DEFAULT


def load(path=None):
    path = Path(path) if path else default_path()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise CourseError(f"{path}: cannot be read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise CourseError(f"{path}: not valid TOML ({error})") from None

    def fail(problem):
        raise CourseError(f"{path}: {problem}")

    known = ("title", "dataset", "parts", "results_format", "platform", "limits", "tests", "after_due_date")
    unknown = set(data) - set(known)
    if unknown:
        fail(f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(known)})")
    results_format = data.get("results_format", "html")
    if results_format not in RESULTS_FORMATS:
        fail(f"results_format {results_format!r} must be one of {', '.join(RESULTS_FORMATS)}")
    dataset = data.get("dataset", "mnist")
    if dataset not in DATASETS:
        fail(f"dataset {dataset!r} is not supported (supported: {', '.join(DATASETS)})")
    names = data.get("parts")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        fail("parts must be a non-empty list of part names, e.g. parts = [\"reparameterize\", \"loss\"]")
    for name in names:
        if name not in BY_NAME:
            here = "" if name not in ALL_PARTS else " here (this copy of the grader holds its course's parts only)"
            fail(f"unknown part {name!r} in parts{here} (known: {', '.join(BY_NAME)})")
    if len(set(names)) != len(names):
        fail("a part is listed twice in parts")
    for k, name in enumerate(names):
        uses = getattr(BY_NAME[name], "USES", None)
        if uses and uses not in names[:k]:
            fail(f"part {name!r} looks inside the model that part {uses!r} trains: list {uses!r} before it in parts")
    limits = settings.Limits()
    for field, value in positive_numbers(data, "limits", LIMITS, fail).items():
        limits = replace(limits, **{field: type(getattr(limits, field))(value)})
    platform = {**PLATFORM_DEFAULTS, **positive_numbers(data, "platform", PLATFORM, fail)}
    record = dataclasses.asdict(DATASETS[dataset])  # a test's name may quote its bars: "loss < {loss_threshold:.0f}"
    tests = {name: tuple(replace(t, name=t.name.format(**record)) for t in BY_NAME[name].TESTS) for name in names}
    numbers = {t.number: name for name in names for t in tests[name]}
    overrides = data.get("tests", {})
    if not isinstance(overrides, dict):
        fail("tests must be a table of test numbers")
    for number, change in overrides.items():
        if number not in numbers:
            fail(f"test {number!r} in [tests] is not a test of the parts graded (tests: {', '.join(numbers)})")
        if not isinstance(change, dict):
            fail(f"tests.{number!r} must be a table, e.g. {{ points = 10 }}")
        for key, value in change.items():
            if key not in TEST_KEYS:
                fail(f"unknown key {key!r} for test {number} (known: {', '.join(TEST_KEYS)})")
            if not isinstance(value, TEST_KEYS[key]) or (key == "points" and (isinstance(value, bool) or value < 0)):
                fail(f"test {number}: {key} = {value!r} is not allowed"
                     + (" (points must be a number >= 0)" if key == "points" else ""))
            if key == "visibility" and value not in VISIBILITY:
                fail(f"test {number}: visibility {value!r} must be one of {', '.join(VISIBILITY)}")
        part = numbers[number]
        tests[part] = tuple(replace(t, **change) if t.number == number else t for t in tests[part])
    later = data.get("after_due_date", {"points": 0, "tests": []})
    if (not isinstance(later, dict) or set(later) != {"points", "tests"} or not isinstance(later["tests"], list)
            or isinstance(later["points"], bool) or not isinstance(later["points"], (int, float))):
        fail("after_due_date must be { points = N, tests = [...] } (written by make handout)")
    tokens = {withheld(number): number for number in numbers}
    if not set(later["tests"]) <= set(tokens):
        fail("after_due_date names tests that are not in the parts graded")
    left_out = {tokens[token] for token in later["tests"]}
    tests = {name: tuple(t for t in tests[name] if t.number not in left_out) for name in names}
    title = data.get("title", path.stem)
    if not isinstance(title, str):
        fail("title must be text")
    return Course(path, title, dataset, tuple(BY_NAME[n] for n in names), tests, limits, results_format, platform,
                  float(later["points"]))
