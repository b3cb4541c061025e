"""Part 7 (explore.py) graded on real code: planted bugs lose exactly their test (a correct
submission in other forms loses nothing: test_end_to_end.py grades it with every part), the stencil earns nothing, and the look inside the
VAE counts only on the VAE 6.1 trained, whatever this part's own process exports.
The checks themselves, on fabricated measurements: test_checks.py."""
import numpy as np
import pytest

from autograder.isolation import sandbox
from autograder.config.course import CourseError, load
from autograder.grade import with_host
from autograder.parts import explore
from conftest import EXPLORE, NO_TRAINING, POINTS, ROOT, message, numbers

UNITS = ("7.1", "7.2", "7.3", "7.4", "7.5", "7.6")  # need no trained model
REFERENCE = (ROOT / "solution" / "explore.py").read_text()

# name -> (explore.py changes, the test that loses its points, words in its message). The tests
# measure separate graphs, so each grading plants bugs of different tests (the checks' table,
# one bug at a time with exact verdicts, is test_checks.py's EXPLORE_BUGS).
BUGS = {
    "a sampled z instead of mu": (
        [("        codes.append(model.mu_layer(model.encoder(batch)))",
          "        hidden = model.encoder(batch)\n"
          "        codes.append(reparameterize(model.mu_layer(hidden), model.logvar_layer(hidden)))")],
        "7.1", "return mu"),
    "the last, smaller batch dropped": (
        [("    for start in range(0, images.shape[0], batch_size):",
          "    for start in range(0, images.shape[0] - batch_size + 1, batch_size):")], "7.1", "dropped"),
    "PCA without centring": (
        [("    return tf.matmul(centred, tf.reverse(vectors[:, -2:], axis=[1]))",
          "    return tf.matmul(codes, tf.reverse(vectors[:, -2:], axis=[1]))")], "7.2", "not centred"),
    "a walk missing its end": (
        [("    t = tf.linspace(0.0, 1.0, steps)[:, None]  # [S, 1]",
          "    t = tf.linspace(0.0, 1.0, steps + 1)[:-1, None]")], "7.4", "both endpoints"),
    "probabilities instead of quantiles": (
        [("    q = tf.math.ndtri(tf.linspace(0.05, 0.95, side))  # [G]", "    q = tf.linspace(0.05, 0.95, side)")],
        "7.6", "not the normal quantiles"),
}


GRADINGS = [("a sampled z instead of mu", "PCA without centring", "probabilities instead of quantiles"),
            ("the last, smaller batch dropped", "a walk missing its end")]


@pytest.mark.slow
@pytest.mark.parametrize("bugs", GRADINGS, ids=lambda bugs: ", ".join(bugs))
def test_planted_bugs_lose_exactly_their_tests_points(bugs, submission, grade_it):
    folder = submission(explore=[change for bug in bugs for change in BUGS[bug][0]])
    (folder / "explore.py").write_text((folder / "explore.py").read_text() + "\nfrom vae import reparameterize\n")
    results, scores = grade_it(folder, ["explore"], course=load(EXPLORE))
    lost = {BUGS[bug][1] for bug in bugs}
    assert {n: scores[n] for n in UNITS} == {n: 0 if n in lost else POINTS[n] for n in UNITS}, results["tests"]
    for bug in bugs:
        assert BUGS[bug][2] in message(results, BUGS[bug][1]), message(results, BUGS[bug][1])


def test_every_planted_bug_is_graded():
    assert sorted(bug for bugs in GRADINGS for bug in bugs) == sorted(BUGS)


@pytest.mark.slow
def test_without_a_trained_vae_the_look_inside_says_why_and_the_stencil_earns_nothing(tmp_path, grade_it):
    """The stencil's explore.py, graded without 6.1: 7.1-7.6 not implemented yet, 7.7-7.8 name 6.1."""
    folder = tmp_path / "stencil"
    folder.mkdir()
    for name in ("vae.py", "explore.py"):
        (folder / name).write_text((ROOT / ("solution" if name == "vae.py" else "code") / name).read_text())
    results, scores = grade_it(folder, ["explore"], course=load(EXPLORE))
    assert scores == dict.fromkeys(numbers("explore"), 0.0)
    for number in UNITS:
        assert "not implemented yet" in message(results, number), message(results, number)
    for number in ("7.7", "7.8"):
        assert "6.1" in message(results, number)


INJECTING = '''
import gc as _gc
import tensorflow as _tf
from autograder.isolation import student as _student

_save = _student.Exporter.save


def _with_own_model(self, artifact):
    """Export an 'encode' and a 'decode' of its own beside the part's, hoping to be looked inside."""
    if artifact == "functions":
        self.endpoint("encode", lambda x: (_tf.zeros((x.shape[0], 15)), _tf.zeros((x.shape[0], 15))), [(500, 784)], "x")
        self.endpoint("decode", lambda z: _tf.zeros((z.shape[0], 1, 28, 28)) + 0.1, [(500, 15)], "x")
    return _save(self, artifact)


_student.Exporter.save = _with_own_model
'''


@pytest.mark.slow
def test_a_submission_that_did_not_train_gets_nothing_for_looking_inside(submission, grade_it):
    """No training (a weight nudged, so the early stop lets it through) and an explore.py that
    exports an encoder and a decoder of its own: 7.7-7.8 look inside 6.1's VAE all the same, and
    give nothing; 7.1-7.6, on fresh models, are earned."""
    folder = submission(assignment_extra=NO_TRAINING, explore_text=REFERENCE + INJECTING)
    results, scores = grade_it(folder, ["e2e_vae", "explore"], course=load(EXPLORE))
    assert {n: scores[n] for n in numbers("explore")} == {**{n: POINTS[n] for n in UNITS}, "7.7": 0, "7.8": 0}
    for number in ("7.7", "7.8"):
        assert "looks inside the VAE 6.1 trained" in message(results, number), message(results, number)


def run_with(artifacts, exported):
    run = sandbox.StageRun("build", "ok", 1.0, 1.0, "", {"exported": exported, "complete": True})
    run.artifacts = artifacts
    return run, {}, {}


def test_the_measuring_of_part_7_gets_6_1s_encoder_and_decoder_never_its_own(tmp_path):
    """grade.with_host: the endpoints 7.7-7.8 read are the host's, from the judge's copy; names
    the part exported itself (encode, decode, host_* folders) are dropped."""
    own, host = tmp_path / "artifacts-explore", tmp_path / "artifacts-e2e_vae"
    for folder, name in ((own, "functions"), (own, "host_trained"), (host, "trained")):
        (folder / name).mkdir(parents=True)
        (folder / name / "saved_model.pb").write_text(f"{folder.name}/{name}")
    exported = {"pca": "functions", "encode": "functions", "decode": "host_trained", "probe": "functions"}
    artifacts, measured = with_host(explore, own, exported, run_with(host, {"encode": "trained", "decode": "trained"}))
    assert measured == {"pca": "functions", "probe": "functions", "encode": "host_trained", "decode": "host_trained"}
    assert (artifacts / "host_trained" / "saved_model.pb").read_text() == "artifacts-e2e_vae/trained"
    assert (artifacts / "functions" / "saved_model.pb").read_text() == "artifacts-explore/functions"
    _, alone = with_host(explore, own, exported, None)  # 6.1 did not build: no encode, no decode at all
    assert alone == {"pca": "functions", "probe": "functions"}


def test_a_course_must_train_the_vae_before_looking_inside_it(tmp_path):
    course = tmp_path / "course.toml"
    course.write_text((ROOT / "courses" / "explore.toml").read_text().replace('"e2e_vae", ', ""))
    with pytest.raises(CourseError, match="list 'e2e_vae' before it"):
        load(course)


def test_the_grid_quantiles_are_the_normal_ones():
    assert np.allclose(explore.QUANTILES, [-1.6449, -0.8416, -0.3853, 0.0, 0.3853, 0.8416, 1.6449], atol=1e-4)


def test_a_function_that_returns_several_outputs_is_a_failed_measurement_not_a_crash():
    """top_variance_dims returning tf.math.top_k(...) whole (values and indices): the measuring
    process reports it as that measurement's error and goes on (it used to stop on it)."""
    from autograder.isolation import measuring

    measures = [("top_dims", "calling top_variance_dims", lambda e, i: {"value": (np.ones(3), np.arange(3))}),
                ("pca", "calling pca_2d", lambda e, i: {"value": np.ones((2, 2))})]
    results, arrays = list(measuring.run(measures, None, {}))[-1]
    assert results["top_dims"] == {"ok": False, "error": "While calling top_variance_dims: your function returned 2 "
                                                          "outputs, where one tensor was expected"}
    assert results["pca"] == {"ok": True} and arrays["pca.value"].shape == (2, 2)


class TracedShapes:
    """Stands in for 6.1's exported encoder and decoder and the probe, refusing any call with
    another batch than they were traced with (CHUNK rows), as the loaded graphs do."""

    def shape(self, name, argument=0):
        return (explore.CHUNK, 784)

    def encode(self, x):
        assert x.shape == (explore.CHUNK, 784), x.shape
        return np.zeros((len(x), 15), np.float32), np.zeros((len(x), 15), np.float32)

    def decode(self, z):
        assert z.shape == (explore.CHUNK, 15), z.shape
        return np.zeros((len(z), 1, 28, 28), np.float32)

    def probe(self, codes):
        assert codes.shape == (explore.CHUNK, 15), codes.shape
        return np.zeros((len(codes), 10), np.float32)


def test_part_7_calls_6_1s_graphs_only_with_the_batch_they_were_traced_with():
    inputs = explore.inputs(np.random.default_rng(0))
    inside = explore.inside(TracedShapes(), inputs)
    assert inside["x_hat_shuffled"].shape == (explore.SCORED + explore.PICTURED + explore.FILLER, 1, 28, 28)
    assert explore.probed(TracedShapes(), inputs)["scores"].shape == (2000, 10)


@pytest.mark.parametrize("seed", range(10))
def test_7_5_finds_the_variance_about_the_mean_only(seed):
    """On every draw of the judge's codes, top_variance_dims answered by the mean square (a
    variance that forgets to centre), the largest |mean| or the largest |value| fails 7.5; the
    variance, with or without Bessel's correction, passes."""
    from autograder.grade import PartRun
    from autograder.isolation.sandbox import StageRun
    from autograder.judging.kit import Fail

    inputs = explore.inputs(np.random.default_rng(seed))
    codes = inputs["varied"].astype(np.float64)
    answers = {"variance": codes.var(0), "variance, ddof 1": codes.var(0, ddof=1), "mean square": (codes ** 2).mean(0),
               "largest |mean|": np.abs(codes.mean(0)), "largest |value|": np.abs(codes).max(0)}
    for how, values in answers.items():
        arrays = {"top_dims.value": np.argsort(-values)[:explore.TOP_K].astype(np.int32)}
        run = PartRun("explore", StageRun("build", "ok", 1, 1, "", {}),
                      StageRun("measure", "ok", 1, 1, "", {"results": {"top_dims": {"ok": True}}}, arrays), inputs)
        try:
            explore.check_top_dims(run, inputs)
            passed = True
        except Fail:
            passed = False
        assert passed == how.startswith("variance"), (seed, how)
