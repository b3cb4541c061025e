"""Part 9 (9.1-9.3, extra credit): mmd.py's kernel, MMD estimate and MMD-VAE loss, untrained.

Each function is traced in the student's process and run in the measuring process on the
judge's secret codes, bandwidths and weights, against the judge's numpy. mmd is traced with
the judge's own gaussian_kernel, and mmd_loss_function with the judge's own mmd (judges/mmd.py,
each in a step of its own: steps.py), so that a mistake costs the test of the function it is in
only. The trained MMD-VAE is part e2e_mmd.
"""
import numpy as np

from ..judging.kit import Fail, Test, array, bce, close, kl, scalar
from ..config import settings
from . import models
from ..isolation.steps import Step
from .train_vae import replace_everywhere

NAME = "mmd"
FILES = ("vae.py", "mmd.py")
A, B = 48, 32  # codes of the two sets of 9.1 and 9.2's value (unequal, so a transposed result shows)
SET = 200  # codes per set of 9.2's cases (same distribution, shifted means, swapped arguments)
SHIFTS = (0.0, 0.5, 1.0, 2.0)  # 9.2: mean shifts of the second set (0: the same distribution)
N, PRIOR = 16, 24  # 9.3: images in the batch, prior samples
LOSS_RTOL = LOSS_ATOL = 1e-4  # 9.3's tolerance
SEPARATION = 5  # every wrong loss of wrong_losses is this many of 9.3's tolerances off


def build_kernel(s, ex, given):
    """Student process, step 1: gaussian_kernel."""
    z = settings.LATENT_SIZE
    ex.endpoint("kernel", s.mmd.gaussian_kernel, [(A, z), (B, z), ()],
                f"calling gaussian_kernel(a [{A}, {z}], b [{B}, {z}], bandwidth)")
    ex.save("kernel")


def build_mmd(s, ex, given):
    """Step 2: mmd, with the judge's gaussian_kernel."""
    z, module = settings.LATENT_SIZE, s.mmd
    replace_everywhere(module.gaussian_kernel, getattr(s.judges, "gaussian_kernel", None), module.mmd)
    ex.endpoint("mmd", module.mmd, [(A, z), (B, z), ()],
                f"calling mmd(a [{A}, {z}], b [{B}, {z}], bandwidth) (with the grader's gaussian_kernel)")
    ex.endpoint("mmd_sets", module.mmd, [(SET, z), (SET, z), ()],
                f"calling mmd(a [{SET}, {z}], b [{SET}, {z}], bandwidth) (with the grader's gaussian_kernel)")
    ex.save("mmd")


def build_loss(s, ex, given):
    """Step 3: mmd_loss_function, with the judge's mmd."""
    z, module = settings.LATENT_SIZE, s.mmd
    replace_everywhere(module.mmd, getattr(s.judges, "mmd", None), module.mmd_loss_function)
    image = (N,) + models.IMAGE
    ex.endpoint("loss", module.mmd_loss_function, [image, image, (N, z), (N, z), (N, z), (PRIOR, z), (), ()],
                f"calling mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, weight, bandwidth) with images "
                f"{list(image)}, [{N}, {z}] codes and [{PRIOR}, {z}] prior samples (with the grader's mmd)")
    ex.save("loss")


# Each step its own process, handed the judge's versions (judges/mmd.py) of the functions it
# builds on only, never of one it traces (steps.py).
JUDGED = ("gaussian_kernel", "mmd")
BUILD_STEPS = (Step(build_kernel), Step(build_mmd, JUDGED[:1]), Step(build_loss, JUDGED))


def inputs(rng):
    """Codes with distinct scales per dimension and a shifted second set; bandwidths between
    2 and 5; an image batch with its q(z|x), noise, prior samples and a weight (telling_batch)."""
    z = settings.LATENT_SIZE
    scales = rng.uniform(0.5, 1.5, z)
    base = rng.normal(size=(SET, z)).astype(np.float32)
    direction = rng.normal(size=z)
    direction /= np.linalg.norm(direction)
    out = {"a": (rng.normal(size=(A, z)) * scales).astype(np.float32),
           "b": (rng.normal(size=(B, z)) * scales + 0.8 * direction).astype(np.float32),
           "bandwidth": np.float32(rng.uniform(2.0, 5.0)),
           "base": base,
           "others": np.stack([rng.normal(size=(SET, z)) + shift * direction for shift in SHIFTS]).astype(np.float32)}
    return {**out, **telling_batch(rng, out["bandwidth"])}


def telling_batch(rng, bandwidth):
    """9.3's batch, weight and prior samples, redrawn until every wrong loss of wrong_losses is at
    least SEPARATION tolerances of check_loss from the right one, so no slip can pass by luck. (With
    logvar in [-2, 0.5] and weight in [20, 80], sigma = exp(logvar) passed about 13.9% of 3000 draws,
    codes = mu or eps 0.2% each; the wider logvar and larger weight now tell on about 99.7% of first draws.)"""
    z = settings.LATENT_SIZE
    for _ in range(100):  # 100 failures in a row do not happen
        i = {"bandwidth": bandwidth,
             "x_hat": rng.uniform(0.05, 0.95, (N,) + models.IMAGE).astype(np.float32),
             "x": rng.beta(0.3, 0.3, (N,) + models.IMAGE).astype(np.float32),
             "mu": rng.normal(scale=1.2, size=(N, z)).astype(np.float32),
             "logvar": rng.uniform(-3.0, 1.5, (N, z)).astype(np.float32),
             "eps": rng.normal(size=(N, z)).astype(np.float32),
             "prior_z": rng.normal(size=(PRIOR, z)).astype(np.float32),
             "weight": np.float32(rng.uniform(100.0, 300.0))}
        right = mmd_loss(i)
        if all(abs(value - right) >= SEPARATION * (LOSS_ATOL + LOSS_RTOL * abs(right)) for value in wrong_losses(i)):
            del i["bandwidth"]
            return i
    raise RuntimeError("no batch tells every wrong MMD-VAE loss from the right one")


# measuring process ------------------------------------------------------------------

def sets(e, i):
    """mmd on (base, others[k]) for every shift, and on (others[0], base): the arguments swapped."""
    out = {f"shift{k}": e.mmd_sets(i["base"], other, i["bandwidth"]) for k, other in enumerate(i["others"])}
    out["swapped"] = e.mmd_sets(i["others"][0], i["base"], i["bandwidth"])
    return out


MEASURES = [
    ("kernel", "calling gaussian_kernel(a, b, bandwidth)", lambda e, i: {"value": e.kernel(i["a"], i["b"], i["bandwidth"])}),
    ("mmd", "calling mmd(a, b, bandwidth)", lambda e, i: {"value": e.mmd(i["a"], i["b"], i["bandwidth"])}),
    ("mmd_sets", "calling mmd on samples of one distribution and of shifted ones", sets),
    ("loss", "calling mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, weight, bandwidth)",
     lambda e, i: {"value": e.loss(*(i[k] for k in ("x_hat", "x", "mu", "logvar", "eps", "prior_z", "weight",
                                                     "bandwidth")))}),
]


# checks (judge) -----------------------------------------------------------------------

def squared_distances(a, b):
    """||a_i - b_j||^2 for every pair: float64 [N, M]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def kernel(a, b, bandwidth):
    """The judge's Gaussian kernel matrix [N, M], float64."""
    return np.exp(-squared_distances(a, b) / (2.0 * float(bandwidth) ** 2))


def mmd_biased(a, b, bandwidth, unbiased=False, cross=2.0):
    """The biased MMD estimate (the unbiased one, or another cross-term factor, for diagnose)."""
    def mean(u, v, same):
        k = kernel(u, v, bandwidth)
        return (k.sum() - np.trace(k)) / (len(u) * (len(u) - 1)) if same and unbiased else k.mean()
    return mean(a, a, True) + mean(b, b, True) - cross * mean(a, b, False)


def check_kernel(run, i):
    a, b, bandwidth = i["a"], i["b"], float(i["bandwidth"])
    got = array(run, "kernel", "value", None, "gaussian_kernel(a, b, bandwidth)")
    if got.shape == (B, A):
        raise Fail(f"gaussian_kernel(a [{A}, Z], b [{B}, Z], bandwidth) returned [{B}, {A}], expected [{A}, {B}]: "
                   "row i is a_i against every b_j")
    expected, squared = kernel(a, b, bandwidth), squared_distances(a, b)
    known = [(np.exp(-np.sqrt(squared) / (2 * bandwidth ** 2)), "the distance is not squared: use ||a_i - b_j||^2"),
             (np.exp(-squared / bandwidth ** 2), "the factor 2 is missing: divide by 2 * bandwidth^2"),
             (np.exp(-squared / (2 * bandwidth)), "the bandwidth is not squared: divide by 2 * bandwidth^2"),
             (np.exp(-squared / (2 * bandwidth ** 2) / a.shape[1]), "the squared distance is averaged over the "
              "dimensions; sum it over them"),
             (np.exp(squared / (2 * bandwidth ** 2)), "the sign is flipped: exp(-distance^2 / (2 bandwidth^2))")]
    why = next((words for value, words in known if value.shape == got.shape and np.allclose(got, value, rtol=1e-4,
                                                                                          atol=1e-5)),
               "entry (i, j) is exp(-||a_i - b_j||^2 / (2 * bandwidth^2))")
    close(got, expected, "gaussian_kernel(a, b, bandwidth)", rtol=1e-4, atol=1e-5, hint=why)


def diagnose_mmd(got, a, b, bandwidth):
    """The likeliest slip behind a wrong MMD value, in words ('' if none fits)."""
    right = mmd_biased(a, b, bandwidth)
    known = [(mmd_biased(a, b, bandwidth, unbiased=True), "that is the unbiased estimate (the diagonal left out); "
              "this homework's is the biased one: means over all pairs, i = j included"),
             (mmd_biased(a, b, bandwidth, cross=0.0), "the cross term -2 * mean k(a, b) is missing"),
             (mmd_biased(a, b, bandwidth, cross=1.0), "the cross term needs the factor 2: -2 * mean k(a, b)"),
             (-right, "the sign is flipped"),
             (np.sqrt(max(right, 0.0)), "that is the square root of the estimate; return the estimate itself")]
    return next((words for value, words in known if np.isclose(got, value, rtol=1e-4, atol=1e-6)), "")


def check_mmd(run, i):
    bandwidth = float(i["bandwidth"])
    cases = [("value", "mmd(a, b, bandwidth)", "mmd", i["a"], i["b"])]
    cases += [(f"shift{k}", f"mmd of two sets {'of one distribution' if not shift else f'whose means differ by {shift}'}",
               "mmd_sets", i["base"], other) for k, (shift, other) in enumerate(zip(SHIFTS, i["others"]))]
    cases += [("swapped", "mmd with its arguments swapped (it must be symmetric)", "mmd_sets", i["others"][0], i["base"])]
    for key, what, name, a, b in cases:
        got = scalar(run, name, "value" if key == "value" else key, what)
        expected = mmd_biased(a, b, bandwidth)
        if not np.isclose(got, expected, rtol=1e-4, atol=1e-6):
            why = diagnose_mmd(got, a, b, bandwidth)
            raise Fail(f"{what} returned {got:.6g}, expected {expected:.6g} (traced with the grader's gaussian_kernel, "
                       f"so your gaussian_kernel is not the cause). {why}".strip())
    values = [scalar(run, "mmd_sets", f"shift{k}") for k in range(len(SHIFTS))]
    return 1.0, ("passed (about 0 for one distribution, growing with the shift: "
                 + ", ".join(f"{v:.4f}" for v in values) + ")")


def mmd_loss(i, kl_weight=0.0, per_batch=True, codes=None, weight=None):
    """The judge's mmd_loss_function value (the keywords give the usual slips, for the diagnosis)."""
    z = i["mu"] + np.exp(0.5 * i["logvar"]) * i["eps"] if codes is None else codes
    weight = float(i["weight"]) if weight is None else weight
    n = len(i["x"]) if per_batch else 1
    return float(bce(i["x_hat"], i["x"]).sum() / n + kl_weight * kl(i["mu"], i["logvar"]).sum() / n
                 + weight * mmd_biased(z, i["prior_z"], i["bandwidth"]))


def known_losses(i):
    """The likely slips in mmd_loss_function: (their value, the words check_loss gives)."""
    n = len(i["x"])
    return [(mmd_loss(i, kl_weight=1.0), "the KL term is still in: the MMD term replaces it"),
            (mmd_loss(i, per_batch=False), f"the reconstruction term is summed over the batch: divide it by N = {n}"),
            (mmd_loss(i, codes=i["mu"]), "the codes are mu: use z = mu + exp(0.5 * logvar) * eps"),
            (mmd_loss(i, codes=i["mu"] + np.exp(i["logvar"]) * i["eps"]),
             "the codes use exp(logvar) as sigma: sigma = exp(0.5 * logvar)"),
            (mmd_loss(i, weight=1.0), "the MMD term is not multiplied by weight"),
            (float(bce(i["x_hat"], i["x"]).mean()), "the MMD term is missing")]


def wrong_losses(i):
    """Every wrong loss 9.3 must tell from the right one: known_losses' and a few more slips."""
    return [value for value, _ in known_losses(i)] + [
        mmd_loss(i, codes=i["eps"]), mmd_loss(i, codes=i["mu"] + 0.5 * np.exp(i["logvar"]) * i["eps"])]


def check_loss(run, i):
    got = scalar(run, "loss", "value", "mmd_loss_function(...)")
    expected = mmd_loss(i)
    if np.isclose(got, expected, rtol=LOSS_RTOL, atol=LOSS_ATOL):
        return
    why = next((words for value, words in known_losses(i) if np.isclose(got, value, rtol=LOSS_RTOL, atol=LOSS_ATOL)),
               "")
    raise Fail(f"mmd_loss_function returned {got:.6g}, expected {expected:.6g} = mean BCE "
               f"{bce(i['x_hat'], i['x']).mean():.2f} + weight {float(i['weight']):.3g} x MMD "
               f"{mmd_biased(i['mu'] + np.exp(0.5 * i['logvar']) * i['eps'], i['prior_z'], i['bandwidth']):.4f} "
               f"(traced with the grader's mmd, so your mmd is not the cause). {why}".strip())


TESTS = [
    Test("9.1", "gaussian_kernel: exp(-||a - b||^2 / (2 bandwidth^2)) for every pair", 1, check_kernel,
         extra_credit=True),
    Test("9.2", "mmd: the biased estimate; about 0 for one distribution, growing with a shift, symmetric", 2,
         check_mmd, extra_credit=True),
    Test("9.3", "mmd_loss_function: BCE per image + weight x MMD(z, prior samples), no KL term", 2, check_loss,
         extra_credit=True),
]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("9.1–9.3", "part 9 (`mmd.py`), extra credit",
     "against the grader's numpy on secret codes, bandwidths and weights: `gaussian_kernel(a, b, "
     "bandwidth)` is `exp(-‖a_i − b_j‖² / (2·bandwidth²))` for every pair, [N, M]; `mmd(a, b, bandwidth)`"
     " is the biased estimate (means over all pairs, the diagonal included) on secret sets: about 0 for "
     "two samples of one distribution, growing with a shift of the mean, the same with its arguments "
     "swapped (traced with the grader's kernel, so 9.1's mistakes do not cost 9.2); "
     "`mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, weight, bandwidth)` is `bce_function(x_hat, "
     "x) / N + weight · mmd(mu + exp(0.5·logvar)·eps, prior_z, bandwidth)`, with no KL term (traced with "
     "the grader's `mmd`)"),
]
