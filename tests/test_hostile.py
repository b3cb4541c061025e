"""Hostile submissions: none crashes the grader, none earns a point it should not, results.json
is always valid and written only by the judge. Every value a test checks is computed by a
measuring process that never runs student code, so anything the student's process claims,
forges or tampers with is worth nothing."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder.isolation import landlock
from autograder.config import settings
from conftest import FAILS_IF_REACHED, NO_TRAINING, ROOT, full, message, needs_sandbox, numbers, reading_probe, zeros

pytestmark = pytest.mark.slow  # each test runs the grader

REPARAM = "    # BEGIN SOLUTION\n    eps = tf.random.normal(tf.shape(mu))\n"
LOSS = "    # BEGIN SOLUTION\n    kl = -0.5 * tf.reduce_sum("
UNIT = ("reparameterize", "loss", "vae", "cvae", "train_vae")


def at(marker, code):
    """A replacement that runs `code` (4-space indented) where `marker` starts."""
    return [(marker, code + marker)]


def stencil_with(extra):
    """The untouched stencil (every TODO raises NotImplementedError) plus `extra` in vae.py."""
    def make(folder):
        folder.mkdir()
        (folder / "vae.py").write_text((ROOT / "code" / "vae.py").read_text() + extra)
        (folder / "assignment.py").write_text((ROOT / "code" / "assignment.py").read_text())
        return folder
    return make


def test_forged_results_are_overwritten_by_the_judge(submission, grade_it, tmp_path):
    """Student code writes results.json everywhere it can guess, at import and from a daemon
    that double-forks out of its session and writes again later."""
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
    """Comparisons happen in the judge's process, values in the measuring process."""
    tamper = '''
import builtins, numpy
numpy.allclose = numpy.isclose = lambda *a, **k: True
numpy.all = lambda *a, **k: True
builtins.abs = lambda x: 0
'''
    folder = submission(vae_extra=tamper, vae=[("return mu + tf.exp(0.5 * logvar) * eps", "return 0.0 * mu")])
    results, scores = grade_it(folder, ["reparameterize"])
    assert scores == {"1.1": 2.0, "1.2": 0.0, "1.3": 0.0, "1.4": 0.0}


PATCH_THE_GRADER = '''
import autograder.parts as _parts, autograder.isolation.student as _student, numpy as _np


def _forge(s, ex, given):
    ex.fact("attributes", encoder=True, mu_layer=True, logvar_layer=True, decoder=True)
    for name in ("sum", "update", "lower", "cvae_sum"):
        ex.fact(name, type="float", shape=[], value=123.0, steps=8)
        ex.add_arrays(name, **{f"w{k}": _np.zeros(3) for k in range(4)})
    ex.report["exported"].update({name: "model" for name in ("big", "small", "loss", "call", "encode", "decode")})


for _part in _parts.PARTS:
    _part.build = _forge
    _part.MEASURES.clear()  # (in this process only: measuring happens elsewhere)
_student.Exporter.save = lambda self, artifact: None
'''


def test_patching_the_grader_inside_the_student_process_earns_nothing(grade_it, tmp_path):
    """Nothing implemented; at import the submission replaces every part's build with one
    that claims attributes, train_vae results and exported graphs, and disables saving."""
    folder = stencil_with(PATCH_THE_GRADER)(tmp_path / "patched")
    results, scores = grade_it(folder, UNIT)
    assert scores == zeros(*UNIT), results["tests"]


FORGE_FILES = '''
import json as _json, os as _os, pathlib as _pathlib
_work = _pathlib.Path.cwd().parent
(_work / "artifacts" / "model").mkdir(parents=True, exist_ok=True)
(_work / "artifacts" / "model" / "saved_model.pb").write_bytes(b"not a graph")
_names = ("big", "small", "loss", "loss_doubled", "call", "encode", "decode", "call_rep", "decode_rep")
(_work / "report.json").write_text(_json.dumps({
    "complete": True, "facts": {"attributes": {"encoder": True, "mu_layer": True, "logvar_layer": True,
                                               "decoder": True},
                                "sum": {"type": "float", "shape": [], "value": 1.0, "steps": 8}},
    "errors": {}, "exported": {name: "model" for name in _names}}))
_os._exit(0)
'''


def test_forged_reports_and_graphs_earn_nothing(grade_it, tmp_path):
    """The submission writes the student process's report and a fake exported graph itself
    and exits before anything runs."""
    folder = stencil_with(FORGE_FILES)(tmp_path / "forged")
    results, scores = grade_it(folder, UNIT)
    assert scores == zeros(*UNIT), results["tests"]
    assert "refused" in message(results, "1.1") or "graph" in message(results, "1.1")


SPY = '''
import glob as _glob, os as _os, time as _time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _found = []
        for _ in range(100):
            for _pattern in ("/tmp/vae-grading-*/measure-*/parts/*/inputs.npz", "/tmp/vae-grading-*/**/inputs.npz"):
                for _path in _glob.glob(_pattern, recursive=True):
                    try:
                        open(_path, "rb").read(10)
                        _found.append(_path)
                    except OSError:
                        pass
            try:
                open(_os.environ["GRADER_ROOT"] + "/autograder/judge.key").read()
                _found.append("judge.key")
            except OSError:
                pass
            if _found:
                open(SPY_FILE, "w").write(repr(_found))
            _time.sleep(0.1)
    _os._exit(0)
'''


@needs_sandbox
def test_the_measuring_inputs_and_the_key_are_out_of_reach(submission, grade_it, shared_folder):
    """A daemon left by the student's process looks for the measuring process's (secret)
    inputs and the judge's key: it is killed with its process, and could not read them anyway."""
    spy_file = shared_folder / "spy"
    folder = submission(vae_extra=f"\nSPY_FILE = {str(spy_file)!r}\n" + SPY)
    results, scores = grade_it(folder, ["reparameterize", "loss"])
    assert scores == full("reparameterize", "loss")
    assert not spy_file.exists(), spy_file.read_text()


def test_the_repositorys_staff_files_are_out_of_reach(submission, grade_it, started):
    """Graded from the repository (as staff grade and regrade), student code can open nothing
    of it but the grader's private copy: not the reference solution (which a stub would exec),
    the tests, the course files, earlier outputs, the classifier, the grader's own folder, git,
    nor the mirror's data set with its test split. Holds as any user (Landlock), or the
    grading is refused (test_sandbox)."""
    earlier = ROOT / "outputs" / "hostile-earlier-results.json"
    earlier.write_text("{}")
    os.chmod(earlier, 0o644)
    patterns = [str(ROOT / "solution" / "*.py"), str(ROOT / "tests" / "*.py"), str(ROOT / "courses" / "*.toml"),
                str(ROOT / "tools" / "*.py"), str(earlier), str(ROOT / ".git" / "HEAD"), str(ROOT / "README.md"),
                str(ROOT / "autograder" / "classifier" / "*.keras"), str(ROOT / "autograder" / "parts" / "*.py"),
                str(ROOT / "data" / "mnist.npz"), os.path.join(os.environ.get("MNIST_MIRROR", "/nonexistent"), "*.npz")]
    stub = ("\nimport os as _o\n_sol = _o.path.join(_o.environ['GRADER_ROOT'], 'solution', 'vae.py')\n"
            "if _o.path.exists(_sol):\n    exec(open(_sol).read())\n")
    try:
        results, scores = grade_it(submission(vae_extra=stub + reading_probe(patterns)), ["reparameterize"])
    finally:
        earlier.unlink()
    assert scores == full("reparameterize"), results["tests"]


@needs_sandbox
def test_student_process_cannot_read_judge_files_or_write_results(submission, grade_it, tmp_path, started):
    """As an unprivileged user, the student cannot read root-only files (the judge's key, the
    MNIST file with the test split, the classifier on Gradescope) nor write the results folder."""
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "expected.txt").write_text("hidden")
    readable = [str(secret_dir / "expected.txt"), str(ROOT / "autograder" / "judge.key"), str(settings.data_npz())]
    probe = f'''
try:
    open({str(secret_dir / "planted.txt")!r}, "w").write("x")
except OSError:
    pass
''' + reading_probe(readable)
    results, scores = grade_it(submission(vae_extra=probe), ["reparameterize"])
    assert scores == full("reparameterize"), results["tests"]
    assert not (secret_dir / "planted.txt").exists()


FORK_SERVER_PROBE = '''
import os as _os, signal as _signal
_REACHED = []
for _what in ("environ", "mem", "fd", "kill"):
    try:
        if _what == "kill":
            _os.kill({pid}, _signal.SIGKILL)
        elif _what == "fd":
            _os.listdir("/proc/{pid}/fd")
        else:
            open("/proc/{pid}/" + _what, "rb").read(1)
        _REACHED.append(_what)
    except OSError:
        pass
''' + FAILS_IF_REACHED


@needs_sandbox
def test_the_fork_server_is_out_of_reach(submission, grade_it):
    """The server that forks every process of a grading runs as the judge's user: a student's
    process can neither signal it nor read its environment, memory or descriptors, and the next
    grading is forked from the same server."""
    from autograder.isolation import forkserver, users

    assert users.become_subreaper()
    server = forkserver.server()
    folder = submission(vae_extra=FORK_SERVER_PROBE.replace("{pid}", str(server.process.pid)))
    results, scores = grade_it(folder, ["reparameterize"])
    assert scores == full("reparameterize"), results["tests"]
    assert server.alive() and forkserver.server() is server


def test_a_hang_costs_its_part_only(submission, grade_it):
    """An infinite loop times out; the other parts are still graded."""
    folder = submission(vae=at(REPARAM, "    while True:\n        pass\n"))
    limits = settings.Limits().scaled(unit_timeout=12)
    start = time.monotonic()
    results, scores = grade_it(folder, ["reparameterize", "loss"], limits)
    assert time.monotonic() - start < 60
    assert scores == {**zeros("reparameterize"), **full("loss")}
    assert "ran out of time" in message(results, "1.1")


@pytest.mark.parametrize("exit_code, where, expect", [
    ("sys.exit(0)", "loss", "SystemExit"),
    ("os._exit(0)", "loss", "ended the grading process"),
    ("raise SystemExit(0)", "import", "Importing your code failed: SystemExit"),
])
def test_exits_count_as_crashes(exit_code, where, expect, submission, grade_it):
    """Exiting (even with status 0) fails the part it happens in, never passes it."""
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
    """Tens of MB printed; results.json stays small and the points are kept."""
    folder = submission(vae=at(REPARAM, "    import sys\n    for _ in range(3000):\n"
                                        "        sys.stdout.write('flood ' * 2000 + '\\n')\n"))
    results, scores = grade_it(folder, ["reparameterize", "loss"])
    assert scores == full("reparameterize", "loss")
    assert "bytes of output omitted" in results["output"]
    assert (tmp_path / "out" / "results.json").stat().st_size < 100_000


def test_memory_bomb_stops_the_part_not_the_judge(submission, grade_it):
    """The part is stopped for memory; the judge grades the rest."""
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
    """Every test says what broke, with the file and line."""
    folder = submission(vae_extra="\n" + broken)
    results, scores = grade_it(folder, ["reparameterize", "vae"])
    assert scores == zeros("reparameterize", "vae")
    for number in numbers("reparameterize") + numbers("vae"):
        assert message(results, number).count(expect) == 1, message(results, number)


@pytest.mark.parametrize("operation, expect", [
    ("tf.io.write_file('/tmp/planted-by-a-graph', 'x')", "WriteFile"),
    ("tf.py_function(lambda: 0.0, [], tf.float32)", "EagerPyFunc"),
])
def test_graphs_with_file_or_python_operations_are_refused(operation, expect, submission, grade_it):
    """A reparameterize whose graph writes a file or calls back into Python is never run."""
    folder = submission(vae=[("return mu + tf.exp(0.5 * logvar) * eps",
                              f"{operation}\n    return mu + tf.exp(0.5 * logvar) * eps")])
    results, scores = grade_it(folder, ["reparameterize", "loss"])
    assert scores == {**zeros("reparameterize"), **full("loss")}
    assert f"operations the grader does not run: {expect}" in message(results, "1.1"), message(results, "1.1")
    assert not os.path.exists("/tmp/planted-by-a-graph")


BARELY_C = '''

class CVAE(CVAE):
    """Throws c away, but adds 1e-4 * (c @ W) so that outputs are not exactly equal."""
    def __init__(self, input_size, num_classes=10, latent_size=15):
        super().__init__(input_size, num_classes, latent_size)
        mix = tf.constant(__import__("numpy").random.default_rng(0).normal(size=(10, 1)).astype("float32"))
        decoder, encoder, z = self.decoder, self.encoder, latent_size
        self.decoder = lambda code: decoder(tf.concat([code[:, :z], 0 * code[:, z:]], 1)) + 1e-4 * (code[:, z:] @ mix)[:, :, None, None]
        self.encoder = lambda flat: encoder(tf.concat([flat[:, :784], 0 * flat[:, 784:]], 1)) + 1e-4 * (flat[:, 784:] @ mix)
'''


def test_a_c_added_with_a_tiny_weight_does_not_count_as_using_c(submission, grade_it):
    results, scores = grade_it(submission(vae_extra=BARELY_C), ["cvae"])
    assert scores["4.5"] == 0 and scores["4.6"] == 0, results["tests"]
    assert "same image for different c" in message(results, "4.5")
    assert "did not change with c" in message(results, "4.6")


def test_a_lone_surrogate_in_a_message_leaves_valid_results_and_a_clean_exit(submission, tmp_path):
    folder = submission(vae=at(LOSS, "    raise ValueError('broken \\ud800 text \\x1b[2J')\n"))
    results_path = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "autograder", "--submission", str(folder), "--results",
                           str(results_path), "--stages", "loss"], cwd=ROOT, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    done.stdout.decode("utf-8")  # strict
    results = json.loads(results_path.read_bytes().decode("utf-8"))
    assert "broken ? text" in message(results, "2.1") and "\x1b" not in message(results, "2.1")


PIPE_REPORTS = '''
import os as _os, autograder.isolation.student as _student


def _flush(self):
    for name in ("report.json", "arrays.npz"):
        try:
            _os.unlink(self.workdir / name)
        except OSError:
            pass
    _os.mkfifo(self.workdir / "report.json")
    _os.symlink("/dev/zero", self.workdir / "arrays.npz")


_student.Exporter.flush = _flush
'''


def test_a_fifo_report_and_a_link_to_dev_zero_do_not_stop_the_judge(submission, grade_it):
    folder = submission(vae_extra=PIPE_REPORTS)
    start = time.monotonic()
    results, scores = grade_it(folder, ["reparameterize", "loss"])
    assert time.monotonic() - start < 120
    assert scores == zeros("reparameterize", "loss")
    assert "ended the grading process" in message(results, "1.1")


FORK_HOPPER = '''
import os as _os, time as _time
if _os.fork() == 0:
    while True:  # a new process every few milliseconds, each in a new session: no pid to catch
        if _os.fork():
            _os._exit(0)
        _os.setsid()
        with open(HOPPER_FILE, "a") as _out:
            _out.write(f"{_time.time()}\\n")
        _time.sleep(0.005)
'''


@needs_sandbox
def test_a_fork_hopping_survivor_is_gone_before_the_next_grading(submission, grade_it, shared_folder, tmp_path,
                                                               without_landlock):
    hopper_file = shared_folder / "hopper"
    folder = submission(vae_extra=f"\nHOPPER_FILE = {str(hopper_file)!r}\n" + FORK_HOPPER)
    grade_it(folder, ["reparameterize"])
    assert hopper_file.exists(), "the hopper never ran, so this test proves nothing"
    size = hopper_file.stat().st_size
    time.sleep(1.0)
    assert hopper_file.stat().st_size == size, "a process of the first grading is still running"
    clean = tmp_path / "clean"
    clean.mkdir()
    for name in ("vae.py", "assignment.py"):
        (clean / name).write_text((ROOT / "solution" / name).read_text())
    results, scores = grade_it(clean, ["reparameterize"])
    assert scores == full("reparameterize")
    assert hopper_file.stat().st_size == size


LOOKUP_ENCODER = '''
import numpy as _np, os as _os


def _test_images():
    """The MNIST test split, if this process can find it: the judge's copy (it cannot), or a
    copy every user can read (a mirror folder)."""
    for path in MIRRORS + [_os.environ.get("MNIST_NPZ", ""), _os.path.join(_os.environ.get("GRADER_ROOT", ""), "data", "mnist.npz"),
                 _os.path.join(_os.environ.get("GRADER_ROOT", ""), "data", "fashion_mnist.npz")]:
        try:
            with _np.load(path) as data:
                return data["x_test"].reshape(-1, 784).astype("float32") / 255.0
        except (OSError, KeyError):
            pass
    with _np.load(_os.environ["MNIST_NPZ"]) as data:  # the training split is all there is
        return data["x_train"][:10000].reshape(-1, 784).astype("float32") / 255.0


class _Lookup:
    def __init__(self, latent_size):
        self.bank, self.latent_size = tf.constant(_test_images()), latent_size

    def encode(self, flat):
        index = tf.argmin(tf.reduce_sum(tf.square(self.bank), 1)[None, :] - 2.0 * flat @ tf.transpose(self.bank), 1)
        code = tf.cast(index, tf.float32)[:, None] / 10000.0
        return tf.concat([code, tf.zeros((tf.shape(flat)[0], self.latent_size - 1))], 1)

    def decode(self, z):
        index = tf.cast(tf.round(tf.clip_by_value(z[:, 0], 0.0, 0.9999) * 10000.0), tf.int32)
        return tf.reshape(tf.clip_by_value(tf.gather(self.bank, index), 0.001, 0.999), (-1, 1, 28, 28))


class VAE(tf.keras.Model):
    def __init__(self, input_size, latent_size=15):
        super().__init__()
        lookup = _Lookup(latent_size)
        self.encoder, self.decoder = lookup.encode, lookup.decode
        self.mu_layer = lambda h: h
        # only the index needs precision: KL about 11 nats, so with the test images this
        # model would score a loss near 60
        self.logvar_layer = lambda h: tf.concat([tf.fill(tf.shape(h[:, :1]), -23.0), tf.zeros_like(h[:, 1:])], 1)

    def call(self, x):
        mu = self.encoder(tf.reshape(x, (-1, 784)))
        return self.decoder(mu), mu, self.logvar_layer(mu)
'''


@needs_sandbox
@pytest.mark.parametrize("mirror", [False, True])
def test_a_lookup_model_cannot_score_with_the_test_images(mirror, submission, grade_it, tmp_path, request):
    """The encoder looks its input up among MNIST test images and stores the index; the
    decoder returns that image. The student's process cannot read the judge's copy; under
    Landlock, not the mirror's either. Without Landlock a copy that every user can read (the
    mirror folder) does not help, since the scored test images are changed, and the grading
    log names it."""
    mirrors = []
    if mirror:
        request.getfixturevalue("without_landlock")
        public = Path(tempfile.mkdtemp(prefix="mirror-", dir="/tmp"))
        os.chmod(public, 0o755)
        shutil.copyfile(settings.data_npz(), public / "mnist.npz")
        os.chmod(public / "mnist.npz", 0o644)
        mirrors = [str(public / "mnist.npz")]
    folder = submission(vae_extra=f"\nMIRRORS = {mirrors!r}\n" + LOOKUP_ENCODER,
                        assignment_extra=NO_TRAINING)
    previous = os.environ.get("MNIST_MIRROR")
    os.environ["MNIST_MIRROR"] = str(Path(mirrors[0]).parent) if mirror else "/nonexistent"
    try:
        results, scores = grade_it(folder, ["e2e_vae"])
    finally:
        os.environ.pop("MNIST_MIRROR") if previous is None else os.environ.update(MNIST_MIRROR=previous)
        if mirror:
            shutil.rmtree(Path(mirrors[0]).parent)
    assert scores == {"6.1": 0.0}, message(results, "6.1")
    said = message(results, "6.1")
    assert f"must be below {settings.data().loss_threshold:.0f}" in said or "unchanged MNIST images" in said, said
    assert ("readable by every user" in results["output"]) == mirror, results["output"]
    assert ("Landlock (ABI" in results["output"]) == (not mirror and landlock.available() > 0)


# A CVAE whose decoder looks real training digits up (shifted by a pixel), blends two of them,
# or draws the class mean, with a train_vae that does nothing. Generation must earn nothing
# however well the classifier rates it: the decoder that draws is also scored on the judge's
# test images, in the same calls, and reconstructs nothing.
LOOKUP_DECODER = '''
import numpy as _np, os as _os


class _Bank:
    def __init__(self, mode, latent_size):
        with _np.load(_os.environ["MNIST_NPZ"]) as d:
            x, y = d["x_train"], d["y_train"]
        bank = _np.stack([x[y == k][:500].astype("float32") / 255.0 for k in range(10)])  # [10, 500, 28, 28]
        if mode == "mean":
            bank = _np.repeat(bank.mean(1, keepdims=True), 500, 1)
        if mode == "blend":
            bank = 0.5 * bank + 0.5 * _np.roll(bank, 1, axis=1)
        self.bank, self.latent_size = tf.constant(bank), latent_size

    def __call__(self, code):
        digit = tf.argmax(code[:, self.latent_size:], 1, output_type=tf.int32)
        pick = tf.cast(tf.abs(code[:, 0]) * 1e4, tf.int32) % 500
        images = tf.gather_nd(self.bank, tf.stack([digit, pick], 1))
        return tf.roll(images, shift=1, axis=2)[:, None]


class CVAE(CVAE):
    def __init__(self, input_size, num_classes=10, latent_size=15):
        super().__init__(input_size, num_classes, latent_size)
        self.decoder = _Bank(MODE, latent_size)
'''


@pytest.mark.parametrize("mode", ["copy", "blend", "mean"])
def test_memorised_blended_or_constant_samples_earn_no_generation_points(mode, submission, grade_it):
    folder = submission(vae_extra=f"\nMODE = {mode!r}\n" + LOOKUP_DECODER,
                        assignment_extra=NO_TRAINING)
    results, scores = grade_it(folder, ["e2e_cvae"])
    assert scores["6.3"] == 0.0
    assert "must be the trained CVAE's" in message(results, "6.3"), message(results, "6.3")


BORROW = '''

def _judge_version(name, part):
    """The judge's TensorFlow `name`, from anywhere this process can reach it, or an error."""
    import importlib, os, sys, types
    ns, tried = {{}}, []
    home = os.environ.get("HOME", "")
    for path in (os.path.join(os.environ.get("GRADER_ROOT", ""), "autograder", "judges", part + ".py"),
                 {repository!r} + "/autograder/judges/" + part + ".py", os.path.join(home, "judges.py"),
                 os.path.join("..", "judges.py")):
        try:
            exec(open(path).read(), ns)
            if callable(ns.get(name)):
                return ns[name]
        except Exception as error:
            tried.append(f"{{path}}: {{type(error).__name__}}")
    try:
        return getattr(importlib.import_module("autograder.judges." + part), name)
    except Exception as error:
        tried.append(f"import: {{type(error).__name__}}")
    for module in list(sys.modules.values()):  # one already loaded in this process, under any name
        try:
            for value in list(vars(module).values()):
                code = getattr(value, "__code__", None)
                if getattr(value, "__name__", "") == name and code and code.co_filename.endswith("judges.py"):
                    return value
        except Exception:
            pass
    raise NotImplementedError(f"no judge's {{name}}: {{tried}}")


def _borrowed(name, part):
    return lambda *args: _judge_version(name, part)(*args)
'''


def borrowing(file, part, names):
    """The reference's `file` whose functions `names` call the judge's version of themselves."""
    return ((ROOT / "solution" / file).read_text() + BORROW.format(repository=str(ROOT))
            + "".join(f"\n{name} = _borrowed({name!r}, {part!r})\n" for name in names))


@pytest.mark.minutes(1)
def test_no_function_can_call_the_judges_version_of_itself(submission, grade_it):
    """Parts 8-10 trace a function built on others with the judge's versions of those others
    (judges/). A submission whose functions call the judge's version of themselves, found in the
    grader's private copy, the repository, the process's own folder, by import or among what the
    process has loaded, earns none of those functions' points: the process that traces a
    function is never handed the judge's version of it (steps.py). The functions it leaves to the
    reference, traced with the judge's versions of the borrowed ones, keep theirs."""
    from autograder.config.course import load

    folder = submission(
        conv_text=borrowing("conv_vae.py", "conv_vae", ["log_normal_pdf"]),
        mmd_text=borrowing("mmd.py", "mmd", ["gaussian_kernel", "mmd"]),
        inference_text=borrowing("inference.py", "inference", ["log_prior", "bernoulli_log_density",
                                                               "factorized_gaussian_log_density", "top_half",
                                                               "log_likelihood_top", "log_joint_top"]))
    stages = ["conv_vae", "mmd", "inference"]
    results, scores = grade_it(folder, stages, course=load(ROOT / "courses" / "all-parts.toml"))
    borrowed = {"8.7", "9.1", "9.2", "10.1", "10.2", "10.3", "10.5", "10.6", "10.7"}
    assert scores == {**full(*stages), **dict.fromkeys(borrowed, 0.0)}, results["tests"]
    assert "no judge's log_joint_top" in message(results, "10.7"), message(results, "10.7")
