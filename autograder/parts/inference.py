"""Part 10 (10.1-10.9): inference.py's densities, top half, likelihood, joint, SVI and inpainting.

Each function is traced in the student's process and run in the measuring process on the
judge's secret inputs, against the judge's numpy. A function that builds on others is traced
with the judge's own versions of them (judges/inference.py, handed to each of the BUILD_STEPS
only for the functions it builds on: steps.py), so that a slip costs the test of the function it
is in only. svi and inpaint run on the judge's stand-in decoder (a 2-D tanh MLP whose
weights are secret inputs) and on images drawn from it: the judge evaluates the ELBO of the q
that svi returns with its own samples, against log p(top half) computed on a fine grid (no
Gaussian q does better). The trained 2-D model is part e2e_inference (10.10-10.12).
"""
import numpy as np

from ..judging.kit import Fail, Test, array, below_bar, close, figure, scalar, sigmoid
from ..isolation.steps import Step
from .train_vae import replace_everywhere

NAME = "inference"
FILES = ("vae.py", "inference.py")
DRAWS = ("svi",)  # svi draws its samples
Z, D, TOP = 2, 784, 392
N = 32  # rows of the density and likelihood cases
HIDDEN = 32  # the stand-in decoder's hidden units
IMAGES = 192  # images svi is run on (10.8 averages over them: with 48 a noise-drawn-once svi reached 0.33)
SAMPLES = 256  # the judge's samples of each q (the same for every q: ELBOs are compared with common noise)
GRID = np.linspace(-4.5, 4.5, 121)  # the judge's grid over each latent axis for log p(top half): steps of 0.075, under half the narrowest posterior's std
LOG_2PI = np.log(2.0 * np.pi)
DENSITIES = ("log_prior", "bernoulli_log_density", "factorized_gaussian_log_density", "top_half")
NAMES = DENSITIES + ("log_likelihood_top", "log_joint_top")  # the judge's functions (judges/inference.py)
WEIGHTS = [(Z, HIDDEN), (HIDDEN,), (HIDDEN, D), (D,)]  # the stand-in decoder's, inputs of the graphs that use it
SPREAD = 1.5  # sample = mean + SPREAD * std * noise: z farther from q's mean than q's own draws, so 10.4 tells them
ELBO_RTOL, ELBO_ATOL = 1e-4, 1e-2  # 10.4 (the +-200 logits make the tolerance about 0.4 nats)
ELBO_SEPARATION = 5  # every wrong elbo of elbo_variants is at least this many tolerances from the right one


def use_judges(s, names):
    """Bind the judge's versions of `names` (handed to this step's process: s.judges, steps.py) in
    place of the student's, everywhere."""
    for name in names:
        judge = getattr(s.judges, name, None)  # none in a handout: the student's own then
        if callable(getattr(s.inference, name, None)):  # a missing one fails its own test when traced
            replace_everywhere(getattr(s.inference, name), judge, getattr(s.inference, "svi", judge))


def standin(tf, w1, b1, w2, b2):
    """The stand-in decoder: codes [M, 2] -> logits [M, 784], tanh(z w1 + b1) w2 + b2."""
    return lambda z: tf.matmul(tf.tanh(tf.matmul(z, w1) + b1), w2) + b2


def build_densities(s, ex, given):
    """Student process, step 1: the densities and top_half, the student's own throughout."""
    module = s.inference
    ex.endpoint("log_prior", module.log_prior, [(N, Z)], f"calling log_prior(z [{N}, {Z}])")
    ex.endpoint("bernoulli", module.bernoulli_log_density, [(N, D), (N, D)],
                f"calling bernoulli_log_density(logits [{N}, {D}], x [{N}, {D}])")
    ex.endpoint("gaussian", module.factorized_gaussian_log_density, [(N, Z)] * 3,
                f"calling factorized_gaussian_log_density(mean, log_std, z), [{N}, {Z}] each")
    ex.endpoint("top_half", module.top_half, [(N, D)], f"calling top_half(x [{N}, {D}])")
    ex.save("densities")


def build_composed(s, ex, given):
    """Step 2: elbo and log_likelihood_top, with the judge's densities and top_half."""
    module = s.inference
    use_judges(s, DENSITIES)
    ex.endpoint("elbo", module.elbo, [(N, D), (N, D), (N, Z), (N, Z), (N, Z)],
                f"calling elbo(logits [{N}, {D}], x [{N}, {D}], z, mean, log_std [{N}, {Z}]) (with the grader's densities)")
    ex.endpoint("likelihood", module.log_likelihood_top, [(N, D), (N, D)],
                f"calling log_likelihood_top(logits [{N}, {D}], x [{N}, {D}]) (with the grader's top_half and "
                "bernoulli_log_density)")
    ex.save("composed")


def build_joint(s, ex, given):
    """Step 3: log_joint_top on the judge's stand-in decoder, with the judge's likelihood and prior."""
    module = s.inference
    use_judges(s, DENSITIES + ("log_likelihood_top",))
    ex.endpoint("joint", lambda *a: module.log_joint_top(standin(s.tf, *a[:4]), a[4], a[5]), WEIGHTS + [(N, Z), (N, D)],
                f"calling log_joint_top(decode, z [{N}, {Z}], x [{N}, {D}]) with the grader's decoder (and its "
                "log_prior and log_likelihood_top)")
    ex.save("joint")


def build_svi(s, ex, given):
    """Step 4: svi and inpaint on the judge's stand-in decoder, with every judge's function."""
    module = s.inference
    use_judges(s, NAMES)
    ex.endpoint("svi", lambda *a: module.svi(standin(s.tf, *a[:4]), a[4]), WEIGHTS + [(IMAGES, D)],
                f"calling svi(decode, x [{IMAGES}, {D}]) with the grader's decoder (and its log_joint_top and "
                "factorized_gaussian_log_density)")
    ex.endpoint("inpaint", lambda *a: module.inpaint(standin(s.tf, *a[:4]), a[4], a[5]), WEIGHTS + [(N, D), (N, Z)],
                f"calling inpaint(decode, x [{N}, {D}], z [{N}, {Z}]) with the grader's decoder (and its top_half)")
    ex.save("svi")


# Each step its own process, handed the judge's versions (judges/inference.py) of the functions
# it builds on only, never of one it traces (steps.py).
BUILD_STEPS = (Step(build_densities), Step(build_composed, DENSITIES),
               Step(build_joint, DENSITIES + ("log_likelihood_top",)), Step(build_svi, NAMES))


def logits_of(i, z, pixels=D):
    """The stand-in decoder in numpy, weights i["w1"], ... (float32 or 64): z [M, 2] float64 -> logits
    [M, pixels] (the first `pixels` of 784), float64."""
    return np.tanh(z @ i["w1"] + i["b1"]) @ i["w2"][:, :pixels] + i["b2"][:pixels]


def inputs(rng):
    """Codes, logits (some of them +-50 to +-200, where log(sigmoid) rounds to log(0)), binary
    images, Gaussian parameters; a stand-in decoder whose posteriors are smooth and one-peaked
    (a mildly bent, nearly linear map to logits) and images drawn from it at codes z ~ N(0, I)."""
    logits = rng.normal(scale=3.0, size=(N, D))
    extreme = rng.random((N, D)) < 0.05
    logits[extreme] = rng.choice([-1.0, 1.0], extreme.sum()) * rng.uniform(50.0, 200.0, extreme.sum())
    out = {"z": rng.normal(scale=1.3, size=(N, Z)), "logits": logits,
           "x": (rng.random((N, D)) < 0.3).astype(np.float64),
           "mean": rng.normal(size=(N, Z)), "log_std": rng.uniform(-2.0, 1.0, (N, Z)),
           "w1": rng.normal(scale=0.6, size=(Z, HIDDEN)), "b1": rng.normal(scale=0.3, size=HIDDEN),
           "w2": rng.normal(scale=0.25, size=(HIDDEN, D)), "b2": rng.normal(-1.5, 1.0, D)}
    out["sample"] = out["mean"] + np.exp(out["log_std"]) * rng.normal(size=(N, Z)) * SPREAD
    truth = rng.normal(size=(IMAGES, Z))
    out["images"] = (rng.random((IMAGES, D)) < 1 / (1 + np.exp(-logits_of(out, truth)))).astype(np.float64)
    out["eps_judge"] = rng.normal(size=(SAMPLES, Z))
    out = {k: np.asarray(v, np.float32) for k, v in out.items()}
    return {**out, **telling_codes(rng, out)}


def elbo_variants(i):
    """10.4 on inputs i, the judge's formulas: (the ELBO, its tolerance, [(a wrong elbo's value, what it
    does)]), the wrong ones being check_elbo's known slips and log p or log q at the mean, or missing."""
    logits, x, z, mean, log_std = f64(i, "logits", "x", "sample", "mean", "log_std")
    like, prior, post = bernoulli(logits, x), log_prior(z), gaussian(mean, log_std, z)
    expected = float(np.mean(like + prior - post))
    return expected, ELBO_ATOL + ELBO_RTOL * abs(expected), [
        (np.mean(like + prior + post), "log q added"), (np.sum(like + prior - post), "summed"), (-expected, "negated"),
        (np.mean(like - post), "no log p"), (np.mean(like + prior), "no log q"),
        (np.mean(like + log_prior(mean) - post), "log p at the mean"),
        (np.mean(like + prior - gaussian(mean, log_std, mean)), "log q at the mean")]


def telling_codes(rng, out):
    """mean, log_std and sample (z) under which every wrong elbo of elbo_variants is ELBO_SEPARATION
    tolerances or more from the right one, so none can pass 10.4 by luck: the first draw (inputs') if it
    does, else drawn again. (Before, with z at 1 std, log p at the mean passed 1.2% of 2,000 draws and log q
    at the mean was always within 5 tolerances; with z at SPREAD stds about 75% of draws tell all apart.)"""
    codes = {k: out[k] for k in ("mean", "log_std", "sample")}
    for _ in range(100):
        expected, tolerance, wrong = elbo_variants({**out, **codes})
        if all(abs(value - expected) >= ELBO_SEPARATION * tolerance for value, _ in wrong):
            return codes
        mean, log_std = rng.normal(size=(N, Z)), rng.uniform(-2.0, 1.0, (N, Z))
        sample = mean + np.exp(log_std) * rng.normal(size=(N, Z)) * SPREAD
        codes = {k: np.asarray(v, np.float32) for k, v in (("mean", mean), ("log_std", log_std), ("sample", sample))}
    raise RuntimeError("no codes tell a wrong elbo from the right one")


# measuring process ------------------------------------------------------------------

def weights(i):
    return [i[k] for k in ("w1", "b1", "w2", "b2")]


MEASURES = [
    ("log_prior", "calling log_prior(z)", lambda e, i: {"value": e.log_prior(i["z"])}),
    ("bernoulli", "calling bernoulli_log_density(logits, x)",
     lambda e, i: {"value": e.bernoulli(i["logits"], i["x"])}),
    ("gaussian", "calling factorized_gaussian_log_density(mean, log_std, z)",
     lambda e, i: {"value": e.gaussian(i["mean"], i["log_std"], i["sample"])}),
    ("top_half", "calling top_half(x)", lambda e, i: {"value": e.top_half(i["logits"])}),
    ("elbo", "calling elbo(logits, x, z, mean, log_std)",
     lambda e, i: {"value": e.elbo(i["logits"], i["x"], i["sample"], i["mean"], i["log_std"])}),
    ("likelihood", "calling log_likelihood_top(logits, x)", lambda e, i: {"value": e.likelihood(i["logits"], i["x"])}),
    ("joint", "calling log_joint_top(decode, z, x)", lambda e, i: {"value": e.joint(*weights(i), i["z"], i["x"])}),
    ("svi", "calling svi(decode, x) on the grader's decoder and images",
     lambda e, i: dict(zip(("mean", "log_std"), e.svi(*weights(i), i["images"])))),
    ("inpaint", "calling inpaint(decode, x, z)", lambda e, i: {"value": e.inpaint(*weights(i), i["x"], i["z"])}),
]


# checks (judge) -----------------------------------------------------------------------

def log_prior(z):
    return -0.5 * (z ** 2).sum(-1) - LOG_2PI * z.shape[-1] / 2


def softplus(v):
    return np.logaddexp(0.0, v)


def bernoulli(logits, x):
    """log p(x | logits) summed over the last axis, float64 (stable for any logits)."""
    return (x * logits - softplus(logits)).sum(-1)


def gaussian(mean, log_std, z):
    return (-0.5 * ((z - mean) * np.exp(-log_std)) ** 2 - log_std - LOG_2PI / 2).sum(-1)


def f64(i, *keys):
    return [i[k].astype(np.float64) for k in keys]


def check_prior(run, i):
    z, = f64(i, "z")
    got = array(run, "log_prior", "value", None, "log_prior(z)")
    known = [(-0.5 * (z ** 2).sum(-1), "the constant -log(2 pi) per dimension / 2 is missing"),
             (-0.5 * (z ** 2).sum(-1) - LOG_2PI / 2, "the constant is -log(2 pi) / 2 for each of the Z dimensions"),
             (-0.5 * z ** 2 - LOG_2PI / 2, "sum over the latent dimensions: return [N]")]
    close(got, log_prior(z), "log_prior(z)", 1e-4, 1e-3, diagnose(got, known, "log N(z; 0, I) = -|z|^2 / 2 - Z log(2 pi) / 2"))


def diagnose(got, known, default):
    return next((words for value, words in known if value.shape == got.shape and np.allclose(got, value, 1e-4, 1e-3)),
                default)


def check_bernoulli(run, i):
    logits, x = f64(i, "logits", "x")
    expected = bernoulli(logits, x)
    got = run.arrays.get("bernoulli.value")
    if got is not None and got.shape == expected.shape and not np.all(np.isfinite(got)):
        raise Fail("bernoulli_log_density returned NaN or inf for logits as large as +-200 (the grader's include "
                   "some): log(sigmoid(l)) rounds to log(0) there. Write it without the log of a sigmoid: "
                   "x * l - softplus(l) (or tf.math.log_sigmoid).")
    got = array(run, "bernoulli", "value", None, "bernoulli_log_density(logits, x)")
    sigmoid = 1 / (1 + np.exp(-np.clip(logits, -30, 30)))
    known = [((x * np.log(np.clip(sigmoid, 1e-7, 1)) + (1 - x) * np.log(np.clip(1 - sigmoid, 1e-7, 1))).sum(-1),
              "it is right only for moderate logits: clipping the sigmoid is not exact for large ones; "
              "use x * l - softplus(l)"),
             (x * logits - softplus(logits), "sum over the pixels: return [...] without the last axis"),
             ((x * logits + softplus(-logits)).sum(-1), "the sign of the softplus term: x * l - softplus(l)")]
    close(got, expected, "bernoulli_log_density(logits, x)", 1e-4, 1e-2,
          diagnose(got, known, "sum over pixels of x * l - softplus(l)"))


def check_gaussian(run, i):
    mean, log_std, z = f64(i, "mean", "log_std", "sample")
    got = array(run, "gaussian", "value", None, "factorized_gaussian_log_density(mean, log_std, z)")
    square = ((z - mean) * np.exp(-log_std)) ** 2
    known = [((-0.5 * square - LOG_2PI / 2).sum(-1), "the -log_std term is missing (the density's normaliser)"),
             ((-0.5 * (z - mean) ** 2 / np.exp(log_std) - log_std - LOG_2PI / 2).sum(-1),
              "log_std was used as a log-variance: divide by exp(log_std)^2"),
             ((-0.5 * square - log_std).sum(-1), "the constant -log(2 pi) / 2 per dimension is missing")]
    close(got, gaussian(mean, log_std, z), "factorized_gaussian_log_density(mean, log_std, z)", 1e-4, 1e-3,
          diagnose(got, known, "each dimension: -(z - m)^2 / (2 s^2) - log s - log(2 pi) / 2, s = exp(log_std)"))


def check_top_half(run, i):
    logits, = f64(i, "logits")
    got = array(run, "top_half", "value", None, "top_half(x)")
    grid = logits.reshape(N, 28, 28)
    known = [(grid[:, :, :14].reshape(N, -1), "that is the left half (columns 0-13); the top half is rows 0-13"),
             (grid[:, 14:].reshape(N, -1), "that is the bottom half; the top half is rows 0-13"),
             (logits[:, :14], "the top half of a flattened image is its first 14 rows: entries 0-391")]
    close(got, logits[:, :TOP], "top_half(x)", 1e-6, 1e-6, diagnose(got, known, "rows 0-13: x[..., :392]"))


def check_elbo(run, i):
    logits, x, z, mean, log_std = f64(i, "logits", "x", "sample", "mean", "log_std")
    got = scalar(run, "elbo", "value", "elbo(...)")
    parts = bernoulli(logits, x), log_prior(z), gaussian(mean, log_std, z)
    expected = float(np.mean(parts[0] + parts[1] - parts[2]))
    known = [(np.mean(parts[0] + parts[1] + parts[2]), "log q(z|x) is added; the ELBO subtracts it"),
             (np.sum(parts[0] + parts[1] - parts[2]), "that is the sum over the batch; return the mean"),
             (-expected, "that is minus the ELBO"), (np.mean(parts[0] - parts[2]), "log p(z) is missing")]
    if not np.isclose(got, expected, rtol=ELBO_RTOL, atol=ELBO_ATOL):
        raise Fail(f"elbo returned {got:.6g}, expected {expected:.6g} (traced with the grader's densities, so those "
                   f"are not the cause). "
                   f"{next((w for v, w in known if np.isclose(got, v, ELBO_RTOL, ELBO_ATOL)), '')}".strip())


def check_likelihood(run, i):
    logits, x = f64(i, "logits", "x")
    got = array(run, "likelihood", "value", None, "log_likelihood_top(logits, x)")
    known = [(bernoulli(logits, x), "that sums over all 784 pixels; the bottom half is unobserved: top half only"),
             (bernoulli(logits[:, TOP:], x[:, TOP:]), "that is the bottom half; use the top half (rows 0-13)")]
    close(got, bernoulli(logits[:, :TOP], x[:, :TOP]), "log_likelihood_top(logits, x)", 1e-4, 1e-2,
          diagnose(got, known, "bernoulli_log_density of the top halves of logits and x") +
          " (traced with the grader's top_half and bernoulli_log_density)")


def check_joint(run, i):
    z, x = f64(i, "z", "x")
    got = array(run, "joint", "value", None, "log_joint_top(decode, z, x)")
    logits = logits_of(i, z)
    top = bernoulli(logits[:, :TOP], x[:, :TOP])
    known = [(top, "log p(z) is missing"), (top - log_prior(z), "log p(z) is subtracted; add it")]
    close(got, log_prior(z) + top, "log_joint_top(decode, z, x)", 1e-4, 1e-2,
          diagnose(got, known, "log_prior(z) + log_likelihood_top(decode(z), x)") +
          " (traced with the grader's log_prior and log_likelihood_top)")


def grid_points(grid):
    """Every point of grid x grid (a 1-D grid on each latent axis): [len(grid)^2, 2], the first axis slowest."""
    return np.stack([a.ravel() for a in np.meshgrid(grid, grid, indexing="ij")], 1)


def grid_joint(logits, x_top, z):
    """log p(z, top half) [B, G] of top halves x_top [B, 392] at codes z [G, 2] whose top-half logits are [G, 392]."""
    return x_top @ logits.T - softplus(logits).sum(1)[None] + log_prior(z)[None]


def posterior(joint, grid=GRID):
    """From joint [B, G] at grid_points(grid): (log p(top half) of each row [B], the posterior's weight on
    each point [B, G])."""
    top = joint.max(1, keepdims=True)
    weights = np.exp(joint - top)
    evidence = top[:, 0] + np.log(weights.sum(1) * (grid[1] - grid[0]) ** 2)
    return evidence, weights / weights.sum(1, keepdims=True)


def grid_posterior(i, x_top):
    """The judge's grid over the 2-D latent space, z [G, 2], for the top halves x_top [IMAGES, 392]:
    (log p(top half) of each image [IMAGES], the posterior's weight on each point [IMAGES, G], z)."""
    return stand_in_grid(i, x_top)[1:] + (grid_points(GRID),)


def stand_in_grid(i, x_top=None):
    """The stand-in's joint on the judge's grid for the images svi is given (or x_top):
    (joint [IMAGES, G], its weights: log p(top half) [IMAGES], posterior [IMAGES, G])."""
    x_top = i["images"][:, :TOP].astype(np.float64) if x_top is None else x_top
    z = grid_points(GRID)
    joint = grid_joint(logits_of(i, z, TOP), x_top, z)
    return (joint,) + posterior(joint)


def grid_elbo(joint, mean, log_std, grid=GRID):
    """Each row's ELBO of q = N(mean, diag(exp(log_std))^2) [B] computed on grid x grid, with joint [B, len(grid)^2]
    log p(z, top half) at grid_points(grid), and the moments the judge's fit needs: (elbo, E_q[d joint / dz],
    E_q[d^2 joint / dz^2]) [B], [B, 2], [B, 2] (Stein's identities; the Gaussian's weights on the grid factor
    by axis, so each moment is two batched products). Exact to many digits while each std is above 0.6 grid
    steps; joint is taken as it is between the points (a smooth decoder's is)."""
    b, n = len(joint), len(grid)
    table = joint.reshape(b, n, n)
    std = np.exp(log_std)
    u = (grid[None, :, None] - mean[:, None]) / std[:, None]  # [B, n, 2]
    w = np.exp(-0.5 * u ** 2)
    w /= w.sum(1, keepdims=True)
    along = [np.einsum("bij,bj->bi", table, w[:, :, 1]), np.einsum("bij,bi->bj", table, w[:, :, 0])]
    expected = (w[:, :, 0] * along[0]).sum(1)
    first = np.stack([((w[:, :, d] * u[:, :, d]) * along[d]).sum(1) - expected * (w[:, :, d] * u[:, :, d]).sum(1)
                      for d in range(Z)], 1) / std
    second = np.stack([((w[:, :, d] * u[:, :, d] ** 2) * along[d]).sum(1) - expected * (w[:, :, d] * u[:, :, d] ** 2).sum(1)
                       for d in range(Z)], 1) / std ** 2
    return expected + log_std.sum(1) + Z * (1 + LOG_2PI) / 2, first, second


def best_gaussian(joint, starts, grid=GRID, steps=40):
    """The judge's own optimum of the ELBO over diagonal Gaussians q, for each row of joint [B, len(grid)^2]
    (log p(z, top half) at grid_points(grid)): Newton steps on the grid ELBO (mean -= E[d joint] / E[d^2 joint],
    std^2 = -1 / E[d^2 joint], the optimum's own conditions), each kept only where it raises that row's ELBO,
    from each of `starts` ((mean, log_std) [B, 2] each); the best found per row. Stds stay in
    [0.6 grid steps, 3]. Returns (mean, log_std, grid ELBO)."""
    low, high = np.log(0.6 * (grid[1] - grid[0])), np.log(3.0)
    best = None
    for mean, log_std in starts:
        mean, log_std = np.clip(mean, grid[0], grid[-1]), np.clip(log_std, low, high)
        value, first, second = grid_elbo(joint, mean, log_std, grid)
        shrink, stalled = np.ones(len(joint)), 0
        for _ in range(steps):
            curved = second < 0
            safe = np.where(curved, second, -1.0)
            step_mean = np.where(curved, -first / safe, np.exp(2 * log_std) * first)
            step_mean = np.clip(step_mean, -2 * np.exp(log_std), 2 * np.exp(log_std))
            target = np.where(curved, -0.5 * np.log(-safe), log_std + 0.5)
            step_std = np.clip(target - log_std, -1.0, 1.0)
            new_mean = np.clip(mean + shrink[:, None] * step_mean, grid[0], grid[-1])
            new_log_std = np.clip(log_std + shrink[:, None] * step_std, low, high)
            new = grid_elbo(joint, new_mean, new_log_std, grid)
            better = new[0] > value
            stalled = 0 if np.any(new[0] > value + 1e-6) else stalled + 1
            if stalled == 3:  # three steps in which no row gained a micro-nat: every row is at its optimum
                break
            mean, log_std = np.where(better[:, None], new_mean, mean), np.where(better[:, None], new_log_std, log_std)
            value, first, second = (np.where(better if a.ndim == 1 else better[:, None], a, b) for a, b in
                                    zip(new, (value, first, second)))
            shrink = np.where(better, np.minimum(1.0, 2 * shrink), shrink / 4)
        if best is None:
            best = mean, log_std, value
        else:
            keep = value > best[2]
            best = (np.where(keep[:, None], mean, best[0]), np.where(keep[:, None], log_std, best[1]),
                    np.where(keep, value, best[2]))
    return best


def posterior_moments(weights, z):
    """The grid posterior's mean and log std per axis, [B, 2] each (weights [B, G] on z [G, 2])."""
    mean = weights @ z
    return mean, 0.5 * np.log(np.maximum(weights @ z ** 2 - mean ** 2, 1e-12))


def elbo_of(i, x_top, mean, log_std):
    """The judge's estimate of each image's ELBO for q = N(mean, diag(exp(log_std))^2) [IMAGES],
    with its own samples (the same for every q)."""
    eps = i["eps_judge"].astype(np.float64)
    z = mean[:, None] + np.exp(log_std)[:, None] * eps[None]  # [IMAGES, S, 2]
    logits = logits_of(i, z.reshape(-1, Z), TOP).reshape(len(mean), len(eps), TOP)
    joint = (x_top[:, None] * logits - softplus(logits)).sum(-1) + log_prior(z)
    return (joint - gaussian(mean[:, None], log_std[:, None], z)).mean(1)


def svi_gaps(i, *fits, grid=None):
    """For each (mean, log_std) of `fits`, the mean over the images of log p(top half) - ELBO(q)
    (0 for the exact posterior); grid: stand_in_grid(i), if computed already."""
    x_top = i["images"][:, :TOP].astype(np.float64)
    evidence = (grid or stand_in_grid(i))[1]
    return [float(np.mean(evidence - elbo_of(i, x_top, mean, log_std))) for mean, log_std in fits]


def best_fit(i, mean, log_std, grid=None):
    """The judge's own best Gaussian q on the stand-in for each image [IMAGES, 2] x 2: from the grid
    posterior's moments and from svi's q (mean, log_std), whichever the grid ELBO prefers."""
    joint, _, weights = grid or stand_in_grid(i)
    best_mean, best_log_std, _ = best_gaussian(joint, [posterior_moments(weights, grid_points(GRID)), (mean, log_std)])
    return best_mean, best_log_std


SVI_EXCESS, SVI_EXCESS_ZERO = 0.25, 0.30  # nats per image below the judge's best q: full points below, none at
# (README, part 10's calibration, 192 images: correct SVIs 0.01-0.17, noise drawn once 0.45-0.69, no - log q 0.93-1.2)


def check_svi(run, i):
    mean = array(run, "svi", "mean", (IMAGES, Z), "svi's mean")
    log_std = array(run, "svi", "log_std", (IMAGES, Z), "svi's log_std")
    if np.allclose(mean, 0) and np.allclose(log_std, 0):
        raise Fail("svi returned mean = 0 and log_std = 0, where it starts: it never moved. Each step must update "
                   "mean and log_std (and the loop must return the updated ones).")
    grid, start = stand_in_grid(i), (np.zeros_like(mean), np.zeros_like(log_std))
    gap, best, start = svi_gaps(i, (mean, log_std), best_fit(i, mean, log_std, grid), start, grid=grid)
    excess = gap - best
    detail = (f"the grader's ELBO of your q is {figure(excess)} nats per image below that of the best Gaussian q the "
              f"grader finds, on the grader's decoder and {IMAGES} images ({figure(gap)} below log p(top half); the best "
              f"q {figure(best)}; q = N(0, I), where SVI starts, {figure(start, 1)})")
    return below_bar(excess, SVI_EXCESS, SVI_EXCESS_ZERO, detail, ". Check the sign of the gradient step (raise the "
                     "ELBO), that mean and log_std are updated every step, that fresh noise is drawn at every step "
                     "(noise drawn once fits q to those few samples), that the objective keeps - log q (without it q "
                     "shrinks to a point), and that the steps converge (step size).")


def check_inpaint(run, i):
    x, z = f64(i, "x", "z")
    logits = logits_of(i, z)
    means = sigmoid(logits)
    got = array(run, "inpaint", "value", None, "inpaint(decode, x, z)")
    expected = np.concatenate([x[:, :TOP], means[:, TOP:]], 1)
    known = [(np.concatenate([x[:, :TOP], logits[:, TOP:]], 1), "the bottom half holds logits; the Bernoulli "
              "means are sigmoid(logits)"),
             (np.concatenate([means[:, :TOP], x[:, TOP:]], 1), "the halves are swapped: x's top, the decoder's bottom"),
             (means, "the top half must be x's own (the observed pixels)")]
    close(got, expected, "inpaint(decode, x, z)", 1e-4, 1e-4,
          diagnose(got, known, "rows 0-13 from x, rows 14-27 = sigmoid(decode(z))'s") + " (traced with the grader's top_half)")


TESTS = [
    Test("10.1", "log_prior: log N(z; 0, I), summed over the latent dimensions", 1, check_prior),
    Test("10.2", "bernoulli_log_density: from logits, finite for logits of +-200", 2, check_bernoulli),
    Test("10.3", "factorized_gaussian_log_density(mean, log_std, z)", 1, check_gaussian),
    Test("10.4", "elbo: mean of log p(x|z) + log p(z) - log q(z|x)", 2, check_elbo),
    Test("10.5", "top_half: rows 0-13 of each image", 1, check_top_half),
    Test("10.6", "log_likelihood_top: the top half's pixels only", 1, check_likelihood),
    Test("10.7", "log_joint_top: log p(z) + log p(top half | z)", 1, check_joint),
    Test("10.8", f"svi: the fitted q's ELBO is within {SVI_EXCESS:g} nats per image of the grader's best q's", 3, check_svi),
    Test("10.9", "inpaint: the true top half, the decoder's Bernoulli means below", 1, check_inpaint),
]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("10.1–10.9", "part 10 (`inference.py`)",
     "against the grader's numpy on secret inputs: `log_prior`; `bernoulli_log_density` from logits, also"
     " for logits of ±50 to ±200 (where the log of a sigmoid gives inf or NaN); "
     "`factorized_gaussian_log_density`; `elbo`; `top_half` (rows 0-13); `log_likelihood_top` (the top "
     "half's pixels only); `log_joint_top`, on the grader's own small decoder; `svi` on that decoder and "
     "192 images drawn from it (bottom halves blanked): the grader's own estimate of the ELBO of the q it "
     "returns (with its own 256 samples, the same for every q) must be within 0.25 nats per image, on "
     "average, of the ELBO of the best Gaussian q the grader finds on its 121 x 121 grid of the 2-D "
     "latent space (partial credit down to 0 at 0.30; correct SVIs measured 0.01-0.17; noise drawn once "
     "before the loop 0.45-0.69, an objective without `- log q` 0.93-1.2, q = N(0, I) 20-40); `inpaint`. "
     "Each function is traced with the grader's versions of the ones it builds on, so a mistake costs its"
     " own test"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "10.8": (r"your q is ([\d.]+) nats", lambda v: SVI_EXCESS - v),
}
