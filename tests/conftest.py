"""Shared helpers: build submissions from the reference with planted changes, grade them."""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.isolation import sandbox  # noqa: E402
from autograder.config import settings
from autograder.config.course import load as load_course  # noqa: E402
from autograder.grade import ensure_training_split, grade  # noqa: E402
from autograder.parts import PARTS  # noqa: E402

TESTS = [test for part in PARTS for test in part.TESTS]
POINTS = {t.number: t.points for t in TESTS}
CORE = load_course(ROOT / "courses" / "default.toml")  # the 100-point homework
CORE_POINTS = {t.number: t.points for tests in CORE.tests.values() for t in tests}
EXPLORE = ROOT / "courses" / "explore.toml"  # the core plus part 7
CONV = ROOT / "courses" / "conv.toml"  # the core plus part 8
MMD = ROOT / "courses" / "mmd.toml"  # the core plus part 9 (extra credit)
INFERENCE = ROOT / "courses" / "inference.toml"  # the core plus part 10
STAGE_OF = {t.number: part.NAME for part in PARTS for t in part.TESTS}
ALL_STAGES = tuple(part.NAME for part in PARTS)
FAST = settings.Limits().scaled(unit_timeout=60, memory_mb=2500)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs the grader on submissions (not in make test-fast)")
    config.addinivalue_line("markers", "minutes(n): takes about n minutes on 2 busy cores; started first")


def pytest_collection_modifyitems(items):
    """Longest first: the tests marked minutes(n) by n, then the other slow tests, then the fast
    ones. make test's workers start on the first tests of their share and take from each other's
    ends, so a long test never starts last and the short ones fill the gaps."""
    def order(item):
        minutes = item.get_closest_marker("minutes")
        return (0, -minutes.args[0]) if minutes else (1 if item.get_closest_marker("slow") else 2, 0)
    items.sort(key=order)


def numbers(stage):
    return [n for n, s in STAGE_OF.items() if s == stage]


def sandboxed():
    """Does grading here run student code as unprivileged users (root, and an interpreter
    they can run: CI builds one)?"""
    ensure_training_split()
    return os.geteuid() == 0 and sandbox.usable_by_others()


def zeros(*stages):
    """{test number: 0} for every test of `stages`."""
    return {n: 0.0 for s in stages for n in numbers(s)}


def full(*stages):
    """{test number: full points} for every test of `stages`."""
    return {n: POINTS[n] for s in stages for n in numbers(s)}


needs_sandbox = pytest.mark.skipif(not sandboxed(), reason="needs root and an interpreter unprivileged users "
                                                           "can run (CI builds one)")


READING_PROBE = '''
import glob as _glob
_REACHED = []
for _pattern in {patterns!r}:
    for _path in _glob.glob(_pattern, recursive=True) or [_pattern]:
        try:
            open(_path, "rb").read(1)
            _REACHED.append(_path)
        except OSError:
            pass
'''
FAILS_IF_REACHED = '''
_BASE = reparameterize
def reparameterize(mu, logvar):
    assert not _REACHED, f"the student process could reach {_REACHED}"
    return _BASE(mu, logvar)
'''


def reading_probe(patterns):
    """Code for the end of vae.py: at import it tries to read every path matching `patterns`,
    and reparameterize then fails (1.x lose their points) if any could be read."""
    return READING_PROBE.format(patterns=list(patterns)) + FAILS_IF_REACHED


@pytest.fixture
def shared_folder():
    """A folder under /tmp any user may write to (for what a sandboxed process reports back)."""
    folder = Path(tempfile.mkdtemp(prefix="hostile-", dir="/tmp"))
    os.chmod(folder, 0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["forked", "started afresh"])
def started(request, monkeypatch):
    """Grade with processes forked from the fork server (isolation/forkserver.py), then with
    processes started afresh (platforms under 2500 MB, or a server that failed): the walls
    must hold either way."""
    if request.param == "started afresh":
        from autograder.isolation import forkserver

        monkeypatch.setattr(forkserver, "server", lambda: None)
    return request.param


@pytest.fixture
def without_landlock(monkeypatch):
    """Grade behind the other walls only (user ids, namespaces, seccomp, limits), so that a
    test of one of them can see what student code does there (it may write to a shared
    folder): Landlock off, and the staff-file check that replaces it off too."""
    from autograder.isolation import landlock, walls

    monkeypatch.setattr(landlock, "available", lambda: 0)
    monkeypatch.setattr(walls, "staff_files", lambda *a, **k: [])


@pytest.fixture
def submission(tmp_path):
    """make(vae=[(old, new), ...], assignment=[...], explore=[...], conv=[...], mmd=[...], inference=[...],
    vae_extra="...", ...)
    -> folder.

    Starts from solution/, applies each replacement exactly once (it must match exactly
    once, so a test cannot silently stop planting its bug), then appends the extras."""
    def make(vae=(), assignment=(), vae_extra="", assignment_extra="", vae_text=None, explore=(), explore_text=None,
             conv=(), conv_text=None, mmd=(), mmd_text=None, inference=(), inference_text=None):
        folder = tmp_path / "submission"
        folder.mkdir()
        for name, changes, extra, replaced in (("vae.py", vae, vae_extra, vae_text),
                                               ("assignment.py", assignment, assignment_extra, None),
                                               ("explore.py", explore, "", explore_text), ("conv_vae.py", conv, "", conv_text),
                                               ("mmd.py", mmd, "", mmd_text),
                                               ("inference.py", inference, "", inference_text)):
            text = (ROOT / "solution" / name).read_text()
            for old, new in changes:
                assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
                text = text.replace(old, new)
            (folder / name).write_text((text if replaced is None else replaced) + extra)
        return folder
    return make


@pytest.fixture(autouse=True)
def on_mnist():
    """Every test starts on MNIST, the default course's data set (a grading switches to its course's)."""
    settings.use("mnist")
    yield
    settings.use("mnist")


@pytest.fixture
def grade_it(tmp_path):
    """grade_it(folder, stages, limits=FAST, course=None) -> (results dict, {number: score})."""
    def run(folder, stages, limits=FAST, course=None):
        path = tmp_path / "out" / "results.json"
        results = grade(folder, path, limits, stages=tuple(stages), log=lambda *a, **k: None, course=course)
        on_disk = json.loads(path.read_text())
        assert on_disk == results, "results.json on disk differs from what the grader measured"
        return results, {e["number"]: e["score"] for e in results["tests"] if STAGE_OF[e["number"]] in stages}
    return run


# A train_vae that does not train but nudges one weight: hostile submissions that look their
# answers up use it, since the grader stops a training that moves no weight after one epoch.
NO_TRAINING = ("\n\ndef train_vae(model, train_loader, args, is_cvae=False):\n"
               "    for weight in model.trainable_variables[-1:]:\n"
               "        weight.assign_add(tf.fill(tf.shape(weight), 1e-6))\n"
               "    return 0.0\n")


def message(results, number):
    return next(e["output"] for e in results["tests"] if e["number"] == number)


def assert_lost_exactly(results, scores, parts, table, bugs):
    """The planted `bugs`, rows of a part's table (changes, {test: score}, {test: words in its message}),
    cost exactly their tests of `parts`, each saying what its row expects."""
    lost = {number: score for bug in bugs for number, score in table[bug][1].items()}
    assert scores == {**full(*parts), **lost}, results["tests"]
    for bug in bugs:
        for number, words in table[bug][2].items():
            assert words in message(results, number), (bug, message(results, number))


def stencil_submission(folder, stencil, given=("vae.py",)):
    """`folder` with the reference's `given` files and the untouched stencil file code/`stencil`."""
    folder.mkdir()
    for name in given:
        (folder / name).write_text((ROOT / "solution" / name).read_text())
    (folder / stencil).write_text((ROOT / "code" / stencil).read_text())
    return folder
