"""Hostile submissions (issue 4's threats): none crashes the grader, none earns a point
it should not, results.json is always valid and written only by the judge."""
import json
import time

import pytest

from autograder import sandbox, settings
from conftest import FAST, POINTS, full, message, numbers

REPARAM = "    # BEGIN SOLUTION\n    eps = tf.random.normal(tf.shape(mu))\n"
LOSS = "    # BEGIN SOLUTION\n    kl = -0.5 * tf.reduce_sum("


def at(marker, code):
    """A replacement that runs `code` (4-space indented) where `marker` starts."""
    return [(marker, code + marker)]


def zeros(*stages):
    return {n: 0.0 for s in stages for n in numbers(s)}


def test_forged_results_are_overwritten_by_the_judge(submission, grade_it, tmp_path):
    """Threat 1: student code writes results.json everywhere it can guess, at import and
    from a daemon that double-forks out of its session and writes again later."""
    target = tmp_path / "out" / "results.json"
    forge = f'''
import json as _json, os as _os, time as _time
_FAKE = _json.dumps({{"score": 1000, "tests": []}})
for _path in [{str(target)!r}, "results.json", _os.path.join(_os.environ["GRADER_ROOT"], "outputs", "results.json")]:
    try:
        _os.makedirs(_os.path.dirname(_path) or ".", exist_ok=True)
        open(_path, "w").write(_FAKE)
    except OSError:
        pass
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _time.sleep(3)
        open({str(target)!r}, "w").write(_FAKE)
    _os._exit(0)
'''
    folder = submission(vae_extra=forge, vae=[("return mu + tf.exp(0.5 * logvar) * eps", "return mu")])
    results, scores = grade_it(folder, ["reparameterize"])
    time.sleep(4)  # the daemon would have written by now
    on_disk = json.loads(target.read_text())
    assert on_disk == results and on_disk["score"] != 1000
    assert scores == {"1.1": 2.0, "1.2": 0.0, "1.3": 0.0, "1.4": 0.0}


def test_monkeypatching_numpy_and_builtins_changes_nothing(submission, grade_it):
    """Threat 2: comparisons happen in the judge's process, not the student's."""
    tamper = '''
import builtins, numpy
numpy.allclose = numpy.isclose = lambda *a, **k: True
numpy.all = lambda *a, **k: True
builtins.abs = lambda x: 0
'''
    folder = submission(vae_extra=tamper, vae=[("return mu + tf.exp(0.5 * logvar) * eps", "return 0.0 * mu")])
    results, scores = grade_it(folder, ["reparameterize"])
    assert scores == {"1.1": 2.0, "1.2": 0.0, "1.3": 0.0, "1.4": 0.0}


@pytest.mark.skipif(sandbox.sandbox_ids() is None,
                    reason="needs root and an interpreter the 'nobody' user can run (CI builds one)")
def test_student_process_cannot_read_judge_files_or_write_results(submission, grade_it, tmp_path):
    """Threat 3: as the unprivileged user, the student cannot read a root-only file (like
    the classifier after setup.sh) nor write into the judge's results folder."""
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    (secret / "expected.txt").write_text("hidden")
    probe = f'''
import os as _os
try:
    open({str(secret / "expected.txt")!r}).read()
    _READ = True
except OSError:
    _READ = False
try:
    open({str(secret / "planted.txt")!r}, "w").write("x")
except OSError:
    pass
_BASE = reparameterize
def reparameterize(mu, logvar):
    assert not _READ, "the student process could read a root-only file"
    return _BASE(mu, logvar)
'''
    results, scores = grade_it(submission(vae_extra=probe), ["reparameterize"])
    assert scores == full("reparameterize"), results["tests"]
    assert not (secret / "planted.txt").exists()


def test_a_hang_costs_its_stage_only(submission, grade_it):
    """Threat 4: an infinite loop times out; the other stages are still graded."""
    folder = submission(vae=at(REPARAM, "    while True:\n        pass\n"))
    limits = settings.Limits().scaled(unit_timeout=12)
    start = time.monotonic()
    results, scores = grade_it(folder, ["reparameterize", "loss"], limits)
    assert time.monotonic() - start < 45
    assert scores == {**zeros("reparameterize"), **full("loss")}
    assert "ran out of time" in message(results, "1.1")


@pytest.mark.parametrize("exit_code, where, expect", [
    ("sys.exit(0)", "loss", "SystemExit"),
    ("os._exit(0)", "loss", "ended the grading process"),
    ("raise SystemExit(0)", "import", "Importing your code failed: SystemExit"),
])
def test_exits_count_as_crashes(exit_code, where, expect, submission, grade_it):
    """Threat 5: exiting (even with status 0) is a crash of that stage, never a pass."""
    if where == "import":
        folder = submission(vae_extra=f"\nimport os, sys\n{exit_code}\n")
        graded, zero = ["loss", "reparameterize"], ["loss", "reparameterize"]
    else:
        folder = submission(vae=at(LOSS, f"    import os, sys\n    {exit_code}\n"))
        graded, zero = ["loss", "reparameterize"], ["loss"]
    results, scores = grade_it(folder, graded)
    assert scores == {**full(*graded), **zeros(*zero)}
    assert expect in message(results, "2.1")


def test_output_flood_is_truncated_and_grading_goes_on(submission, grade_it, tmp_path):
    """Threat 6: tens of MB printed; results.json stays small and the points are kept."""
    folder = submission(vae=at(REPARAM, "    import sys\n    for _ in range(3000):\n"
                                        "        sys.stdout.write('flood ' * 2000 + '\\n')\n"))
    results, scores = grade_it(folder, ["reparameterize", "loss"])
    assert scores == full("reparameterize", "loss")
    assert "bytes of output omitted" in results["output"]
    assert (tmp_path / "out" / "results.json").stat().st_size < 100_000


def test_memory_bomb_stops_the_stage_not_the_judge(submission, grade_it):
    """Threat 7: the stage is stopped for memory; the judge grades the rest."""
    bomb = "    import numpy\n    hog = []\n    while True:\n        hog.append(numpy.ones(10**7))\n"
    folder = submission(vae=at(LOSS, bomb))
    limits = settings.Limits().scaled(memory_mb=1500)
    results, scores = grade_it(folder, ["loss", "reparameterize"], limits)
    assert scores == {**full("reparameterize"), **zeros("loss")}
    assert "out of memory" in message(results, "2.1")


@pytest.mark.parametrize("broken, expect", [
    ("def reparameterize(mu, logvar)\n    return mu\n", "SyntaxError in vae.py, line"),
    ("import numpy_but_misspelled\n", "ModuleNotFoundError: No module named 'numpy_but_misspelled'"),
])
def test_syntax_and_import_errors_are_reported_once_per_test(broken, expect, submission, grade_it):
    """Threat 8: every test says what broke, with the file and line."""
    folder = submission(vae_extra="\n" + broken)
    results, scores = grade_it(folder, ["reparameterize", "vae"])
    assert scores == zeros("reparameterize", "vae")
    for number in numbers("reparameterize") + numbers("vae"):
        assert message(results, number).count(expect) == 1, message(results, number)


# Threat 9: a CVAE whose decoder looks real digits up, or ignores z, with a train_vae
# that does nothing. Generation must earn nothing however well the classifier rates it.
LOOKUP = '''
import numpy as _np, os as _os


class _Lookup(tf.keras.layers.Layer):
    def __init__(self, mode, latent_size):
        super().__init__()
        with _np.load(_os.environ["MNIST_NPZ"]) as d:
            x, y = d["x_train"], d["y_train"]
        self.bank = [x[y == k][:500].astype("float32") / 255.0 for k in range(10)]
        self.mode, self.latent_size = mode, latent_size

    def call(self, code):
        code = _np.asarray(code)
        digits = code[:, self.latent_size:].argmax(1)
        pick = (_np.abs(code[:, 0]) * 1e4).astype(int) % 500
        images = [self.bank[d][p] if self.mode == "copy" else self.bank[d].mean(0)
                  for d, p in zip(digits, pick)]
        return tf.constant(_np.stack(images)[:, None])


class CVAE(CVAE):
    def __init__(self, input_size, num_classes=10, latent_size=15):
        super().__init__(input_size, num_classes, latent_size)
        self.decoder = _Lookup(MODE, latent_size)
'''


@pytest.mark.parametrize("mode, expect", [("copy", "near-copies"), ("mean", "barely vary with z")])
def test_memorised_or_constant_samples_earn_no_generation_points(mode, expect, submission, grade_it):
    folder = submission(vae_extra=f"\nMODE = {mode!r}\n" + LOOKUP,
                        assignment_extra="\n\ndef train_vae(model, train_loader, args, is_cvae=False):\n    return 0.0\n")
    results, scores = grade_it(folder, ["e2e_cvae"])
    assert scores["6.3"] == 0.0
    assert expect in message(results, "6.3"), message(results, "6.3")
