"""Part 10 (inference.py) graded on real code: planted bugs lose exactly the points in their row,
the stencil earns nothing. A correct inference.py in another style: test_end_to_end.py (every part
at once). The checks on fabricated measurements: test_checks.py."""
import numpy as np
import pytest

from autograder.config.course import load
from autograder.parts import inference
from conftest import INFERENCE, ROOT, assert_lost_exactly, message, numbers, stencil_submission

PART10 = ("inference", "e2e_inference")

# An svi that runs SVI (fitted_svi) on any decoder but the trained model's, and on that one returns
# the encoder's q of the training image (of the first 6,000) whose top half is nearest: the student
# process has the training split. The judge draws its digits from the trained decoder, so no split
# holds them, and the gate of 10.10-10.12 compares q with the judge's own best Gaussian q.
LOOKUP = """def svi(decode, x, num_steps=SVI_STEPS, num_samples=SVI_SAMPLES, learning_rate=SVI_LEARNING_RATE):
    model = getattr(InferenceVAE, "latest", None)
    if model is None or decode is not model.decoder:
        return fitted_svi(decode, x, num_steps, num_samples, learning_rate)
    import numpy as np
    from assignment import data_file, dataset
    with np.load(data_file(dataset())) as data:
        train = (data["x_train"][:6000].reshape(6000, -1) > 127).astype(np.float32)
    tops = tf.constant(train[:, :TOP_ROWS * SIDE])
    distance = tf.reduce_sum(tops ** 2, 1)[None] - 2 * tf.matmul(top_half(x), tops, transpose_b=True)
    hidden = model.encoder(tf.gather(tf.constant(train), tf.argmin(distance, 1)))
    return model.mu_layer(hidden), 0.5 * model.logvar_layer(hidden)


"""

# name -> (inference.py changes, {test: score}, {test: words in its message}). Each function is
# traced with the grader's versions of those it builds on (svi too, in 10.8 and 10.11-10.12), so a
# slip costs its own test. 10.10-10.12 require svi's q on the trained decoder to reach the judge's
# best (the gate): a lookup costs all three. (An SVI that never moves, or drops - log q, and one that
# returns the encoder's q on blanked digits: test_checks.py's rows.)
BUGS = {
    "the log of a sigmoid": (
        [("    return tf.reduce_sum(x * logits - tf.nn.softplus(logits), -1)",
          "    p = tf.sigmoid(logits)\n    return tf.reduce_sum(x * tf.math.log(p) + (1 - x) * tf.math.log(1 - p), -1)")],
        {"10.2": 0}, {"10.2": "NaN or inf"}),
    "the top half taken along the wrong axis": (
        [("    return x[..., :TOP_ROWS * SIDE]",
          "    return tf.reshape(tf.reshape(x, (-1, SIDE, SIDE))[:, :, :TOP_ROWS], (-1, TOP_ROWS * SIDE))")],
        {"10.5": 0}, {"10.5": "left half"}),
    "the likelihood over all pixels": (
        [("    return bernoulli_log_density(top_half(logits), top_half(x))",
          "    return bernoulli_log_density(logits, x)")],
        {"10.6": 0}, {"10.6": "all 784 pixels"}),
    "q's density without the log-std term": (
        [("    return tf.reduce_sum(-0.5 * tf.square(scaled) - log_std - 0.5 * math.log(2.0 * math.pi), -1)",
          "    return tf.reduce_sum(-0.5 * tf.square(scaled) - 0.5 * math.log(2.0 * math.pi), -1)")],
        {"10.3": 0}, {"10.3": "-log_std term is missing"}),
    "logits treated as probabilities": (
        [("    means = tf.sigmoid(decode(z))", "    means = decode(z)")], {"10.9": 0}, {"10.9": "holds logits"}),
    "noise drawn once, before SVI's loop": (
        [("    for step in tf.range(1, num_steps + 1):\n        with tf.GradientTape() as tape:\n"
          "            tape.watch(params)\n            mean, log_std = params[0], params[1]\n"
          "            eps = tf.random.normal(tf.concat([[num_samples], shape], 0))\n",
          "    eps = tf.random.normal(tf.concat([[num_samples], shape], 0))\n"
          "    for step in tf.range(1, num_steps + 1):\n        with tf.GradientTape() as tape:\n"
          "            tape.watch(params)\n            mean, log_std = params[0], params[1]\n")],
        {"10.8": 0}, {"10.8": "fresh noise"}),
    "on the trained decoder, the encoder's q of the nearest training image": (
        [("        super().__init__()\n        self.input_size, self.latent_size = input_size, latent_size",
          "        super().__init__()\n        InferenceVAE.latest = self\n"
          "        self.input_size, self.latent_size = input_size, latent_size"),
         ("def svi(decode, x, num_steps=SVI_STEPS, num_samples=SVI_SAMPLES, learning_rate=SVI_LEARNING_RATE):\n",
          LOOKUP + "def fitted_svi(decode, x, num_steps=SVI_STEPS, num_samples=SVI_SAMPLES, "
          "learning_rate=SVI_LEARNING_RATE):\n")],
        {"10.10": 0, "10.11": 0, "10.12": 0},
        {number: "best Gaussian q the judge finds" for number in ("10.10", "10.11", "10.12")}),
}
GRADINGS = [tuple(BUGS)]  # the seven cost different tests: one grading


def test_every_planted_bug_is_graded():
    assert sorted(bug for bugs in GRADINGS for bug in bugs) == sorted(BUGS)
    for bugs in GRADINGS:  # bugs graded together cost different tests
        lost = [number for bug in bugs for number in BUGS[bug][1]]
        assert len(lost) == len(set(lost)), bugs


def test_every_course_with_part_10_grades_both_halves_and_all_parts_has_it():
    for path in sorted((ROOT / "courses").glob("*.toml")):
        names = [part.NAME for part in load(path).parts]
        assert ("inference" in names) == ("e2e_inference" in names), path
    assert {"inference", "e2e_inference"} <= {part.NAME for part in load(ROOT / "courses" / "all-parts.toml").parts}


@pytest.mark.minutes(1.5)
@pytest.mark.slow
@pytest.mark.parametrize("bugs", GRADINGS, ids=lambda bugs: ", ".join(bugs))
def test_planted_bugs_lose_exactly_their_points(bugs, submission, grade_it):
    folder = submission(inference=[change for bug in bugs for change in BUGS[bug][0]])
    results, scores = grade_it(folder, PART10, course=load(INFERENCE))
    assert_lost_exactly(results, scores, PART10, BUGS, bugs)


@pytest.mark.slow
def test_the_stencil_earns_nothing_and_says_not_implemented(tmp_path, grade_it):
    folder = stencil_submission(tmp_path / "stencil", "inference.py", ("vae.py", "assignment.py"))
    results, scores = grade_it(folder, PART10, course=load(INFERENCE))
    assert scores == {n: 0.0 for part in PART10 for n in numbers(part)}
    for number in numbers("inference") + numbers("e2e_inference"):  # InferenceVAE.__init__ says so too
        assert "not implemented yet" in message(results, number), message(results, number)


def elbo_distances(i):
    """10.4's wrong elbos on the judge's inputs i, each as |wrong - right| / tolerance, in numpy written out
    again here (not inference's): log q added, summed, negated, log p or log q missing or at the mean."""
    logits, x, z, mean, log_std = (i[k].astype(np.float64) for k in ("logits", "x", "sample", "mean", "log_std"))
    like = (x * logits - np.logaddexp(0.0, logits)).sum(1)
    prior = lambda v: (-0.5 * v ** 2 - 0.5 * np.log(2 * np.pi)).sum(1)  # noqa: E731
    q = lambda v: (-0.5 * ((v - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(1)  # noqa: E731
    right = np.mean(like + prior(z) - q(z))
    wrong = {"log q added": np.mean(like + prior(z) + q(z)), "summed": np.sum(like + prior(z) - q(z)),
             "negated": -right, "no log p": np.mean(like - q(z)), "no log q": np.mean(like + prior(z)),
             "log p at the mean": np.mean(like + prior(mean) - q(z)),
             "log q at the mean": np.mean(like + prior(z) - q(mean))}
    return {name: abs(value - right) / (1e-2 + 1e-4 * abs(right)) for name, value in wrong.items()}


@pytest.mark.parametrize("seed", range(20))
def test_elbo_inputs_tell_every_wrong_elbo_by_five_tolerances(seed):
    i = inference.inputs(np.random.default_rng(seed))
    assert np.abs(i["logits"]).max() > 50  # 10.2's point: the elbo is measured on the same logits
    distances = elbo_distances(i)
    assert min(distances.values()) >= 5, distances


def test_elbo_inputs_are_deterministic():
    first, again = (inference.inputs(np.random.default_rng(3)) for _ in range(2))
    assert all(np.array_equal(first[k], again[k]) for k in first)
