"""Part 9 (mmd.py, extra credit) graded on real code: planted bugs lose exactly the points in
their row, the stencil earns nothing. A correct mmd.py in another style, trained, and the
pictures: test_end_to_end.py (every part at once); the checks on fabricated
measurements: test_checks.py."""
import sys

import numpy as np
import pytest

from autograder.config.course import load
from autograder.parts import mmd
from conftest import MMD, ROOT, assert_lost_exactly, message, numbers, stencil_submission

PART9 = ("mmd", "e2e_mmd")
# The KL term left in by calling loss_function: while 9.4 trains, loss_function is bound to
# mmd_training_loss, except inside it, so this trains (with KL + MMD) instead of recursing.
KL_LEFT_IN = [("from vae import bce_function\n", "from vae import bce_function, loss_function\n"),
              ("    return bce_function(x_hat, x) / batch_size + weight * mmd(z, prior_z, bandwidth)",
               "    return loss_function(x_hat, x, mu, logvar) + weight * mmd(z, prior_z, bandwidth)")]

# name -> (mmd.py changes, {test: score}, {test: words in its message}). 9.2 runs mmd with the
# grader's kernel, 9.3 and the training with the grader's mmd: each slip costs its own test.
BUGS = {
    "a kernel without the square in the distance": (
        [("tf.exp(-tf.maximum(squared, 0.0) / (2.0 * bandwidth ** 2))",
          "tf.exp(-tf.sqrt(tf.maximum(squared, 0.0)) / (2.0 * bandwidth ** 2))")],
        {"9.1": 0}, {"9.1": "not squared"}),
    "an MMD without the cross term": (
        [("    return mean_kernel(a, a) + mean_kernel(b, b) - 2.0 * mean_kernel(a, b)",
          "    return mean_kernel(a, a) + mean_kernel(b, b)")],
        {"9.2": 0}, {"9.2": "cross term"}),
    "the KL term left in": (KL_LEFT_IN, {"9.3": 0}, {"9.3": "KL term is still in"}),
    "prior samples drawn with the wrong scale": (
        [("    prior_z = tf.random.normal(tf.shape(mu))", "    prior_z = tf.random.normal(tf.shape(mu), stddev=2.0)")],
        {"9.5": 0}, {"9.5": "far from N(0, I)"}),
    # issue 32: a random offset without a gradient made the KL loss pass 'two calls differ', and a KL
    # model clears 9.4-9.5's bars; the judge's gradient of the exported loss finds no MMD term in it
    "the KL loss plus a random offset as mmd_training_loss": (
        [("from vae import bce_function\n", "from vae import bce_function, loss_function\n"),
         ("    return mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, MMD_WEIGHT, bandwidth)",
          "    return loss_function(x_hat, x, mu, logvar) + 1e-3 * tf.random.normal(())")],
        {"9.4": 0, "9.5": 0}, {"9.4": "trains no MMD term", "9.5": "trains no MMD term"}),
}
# The KL term left in trains beside the wrong prior scale (KL + MMD to N(0, 4 I): it keeps 9.4 and the
# judge's MMD gate, and its codes are still far from N(0, I)), the offset loss beside 9.1-9.2's slips.
GRADINGS = [("a kernel without the square in the distance", "an MMD without the cross term",
             "the KL loss plus a random offset as mmd_training_loss"),
            ("the KL term left in", "prior samples drawn with the wrong scale")]


def test_every_planted_bug_is_graded():
    assert sorted(bug for bugs in GRADINGS for bug in bugs) == sorted(BUGS)
    for bugs in GRADINGS:  # bugs graded together cost different tests
        lost = [number for bug in bugs for number in BUGS[bug][1]]
        assert len(lost) == len(set(lost)), bugs


def test_part_9_is_extra_credit_in_every_course_that_grades_it():
    for path in sorted((ROOT / "courses").glob("*.toml")):
        course = load(path)
        for part in PART9:
            assert all(t.extra_credit for t in course.tests.get(part, ())), path
    course = load(MMD)
    assert course.maximum() == load(ROOT / "courses" / "default.toml").maximum()


def test_the_handout_rubric_shows_part_9_as_extra_credit():
    sys.path.insert(0, str(ROOT / "tools"))
    import package

    readme = package.student_readme(load(MMD))
    assert "### How you are graded (100 points, plus 10 extra credit)" in readme
    assert "| 9.1–9.3 part 9 (`mmd.py`), extra credit | 1+2+2 extra credit |" in readme
    assert "| 9.4–9.5 part 9: the MMD-VAE end to end, extra credit | 2+3 extra credit |" in readme
    assert "python code/assignment.py --mmd" in readme
    assert "python code/assignment.py --mmd" not in package.student_readme(load(ROOT / "courses" / "default.toml"))


def numpy_mmd_loss(i, codes=None, weight=None, kl_weight=0.0, per_batch=True):
    """9.3's loss, computed here independently of the judge's functions (float64)."""
    f = {k: np.asarray(v, np.float64) for k, v in i.items()}
    z = f["mu"] + np.exp(0.5 * f["logvar"]) * f["eps"] if codes is None else np.asarray(codes, np.float64)
    p, x = np.clip(f["x_hat"], 1e-7, 1 - 1e-7).reshape(len(f["x"]), -1), f["x"].reshape(len(f["x"]), -1)
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    kl = 0.5 * (np.exp(f["logvar"]) + f["mu"] ** 2 - 1 - f["logvar"]).sum(1)

    def k(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * float(i["bandwidth"]) ** 2))

    mmd_value = k(z, f["prior_z"]).mean() * -2 + k(z, z).mean() + k(f["prior_z"], f["prior_z"]).mean()
    n = len(x) if per_batch else 1
    return bce.sum() / n + kl_weight * kl.sum() / n + (float(i["weight"]) if weight is None else weight) * mmd_value


@pytest.mark.parametrize("seed", range(20))
def test_the_secret_batch_tells_every_wrong_mmd_loss_by_5_tolerances(seed):
    """9.3 cannot be passed by luck: with the old draw sigma = exp(logvar) passed about 13.9% of
    gradings (codes = mu or eps about 0.2%); every slip is now 5 tolerances away."""
    i = mmd.inputs(np.random.default_rng(seed))
    mu, logvar, eps = i["mu"], i["logvar"], i["eps"]
    right = numpy_mmd_loss(i)
    wrong = {"the KL term in": numpy_mmd_loss(i, kl_weight=1.0),
             "BCE summed over the batch": numpy_mmd_loss(i, per_batch=False),
             "codes = mu": numpy_mmd_loss(i, codes=mu), "codes = eps": numpy_mmd_loss(i, codes=eps),
             "sigma = exp(logvar)": numpy_mmd_loss(i, codes=mu + np.exp(logvar) * eps),
             "sigma = 0.5 exp(logvar)": numpy_mmd_loss(i, codes=mu + 0.5 * np.exp(logvar) * eps),
             "no weight": numpy_mmd_loss(i, weight=1.0), "no MMD term": numpy_mmd_loss(i, weight=0.0)}
    tolerance = 1e-4 + 1e-4 * abs(right)  # check_loss's np.isclose(rtol=1e-4, atol=1e-4)
    assert np.isclose(mmd.mmd_loss(i), right, rtol=1e-6, atol=0)  # the judge's float32 inputs
    too_near = {name: abs(value - right) / tolerance for name, value in wrong.items()
                if abs(value - right) < 5 * tolerance}
    assert not too_near, too_near
    again = mmd.inputs(np.random.default_rng(seed))  # the redraw is deterministic given rng
    assert sorted(again) == sorted(i) and all(np.array_equal(i[k], again[k]) for k in i)


@pytest.mark.minutes(1)
@pytest.mark.slow
@pytest.mark.parametrize("bugs", GRADINGS, ids=lambda bugs: ", ".join(bugs))
def test_planted_bugs_lose_exactly_their_points(bugs, submission, grade_it):
    folder = submission(mmd=[change for bug in bugs for change in BUGS[bug][0]])
    results, scores = grade_it(folder, PART9, course=load(MMD))
    assert_lost_exactly(results, scores, PART9, BUGS, bugs)


@pytest.mark.slow
def test_the_stencil_earns_nothing_and_says_not_implemented(tmp_path, grade_it):
    folder = stencil_submission(tmp_path / "stencil", "mmd.py", ("vae.py", "assignment.py"))
    results, scores = grade_it(folder, PART9, course=load(MMD))
    assert scores == {n: 0.0 for part in PART9 for n in numbers(part)}
    for number in numbers("mmd") + numbers("e2e_mmd"):
        assert "not implemented yet" in message(results, number), message(results, number)
