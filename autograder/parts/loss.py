"""Part 2: loss_function(x_hat, x, mu, logvar) = (summed BCE + KL) / batch size."""
import numpy as np

from ..judging.kit import Fail, Test, bce, close, kl, neg_elbo, scalar
from ..config import settings

NAME = "loss"
FILES = ("vae.py",)
N = 8  # the judge's batch; the same batch repeated twice is the other shape traced


def shapes(n):
    z = settings.LATENT_SIZE
    return [(n, 1, 28, 28), (n, 1, 28, 28), (n, z), (n, z)]


def build(s, ex, given):
    """Student process: trace loss_function for a batch of N and of 2N."""
    ex.endpoint("loss", s.vae.loss_function, shapes(N), f"calling loss_function(x_hat, x, mu, logvar) on a batch of {N}")
    ex.endpoint("loss_doubled", s.vae.loss_function, shapes(2 * N),
                f"calling loss_function on a batch of {2 * N}")
    ex.save("functions")


RTOL, ATOL = 1e-4, 1e-4  # 2.1's and 2.3's tolerance (np.isclose, kit.close)
SEPARATION = 5  # every wrong KL of wrong_kls misses 2.1's value, and 2.3's cases it changes, by this x tolerance
# With logvar ~ N(0, 0.7) and mu ~ N(0, 1), wrong KLs passed 2.1 and 2.3 by luck (over 2000 draws): no
# logvar term 12%, 0.5*logvar 23%, -logvar 6%, (sum mu)^2 0.7-2%. inputs() now redraws until none can
# (logvar ~ N(-1, 0.7), mu ~ N(0.5, 1): about 90% of draws are kept; at mean -0.7 exp(2*logvar) ~ exp(logvar)).


def wrong_kls(mu, logvar):
    """Plausible wrong KLs, summed over the batch as loss_function's is: [(name, value)] (float64)."""
    mu, lv = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    n, z = mu.shape
    right = 0.5 * (np.exp(lv) + mu ** 2 - 1 - lv).sum()
    rest = 0.5 * (np.exp(lv) - 1 - lv).sum()  # the KL without its mu term
    return [
        ("no logvar term", 0.5 * (np.exp(lv) + mu ** 2 - 1).sum()),
        ("0.5 * logvar", 0.5 * (np.exp(lv) + mu ** 2 - 1 - 0.5 * lv).sum()),
        ("logvar sign flipped", 0.5 * (np.exp(lv) + mu ** 2 - 1 + lv).sum()),
        ("exp(0.5 * logvar) for the variance", 0.5 * (np.exp(0.5 * lv) + mu ** 2 - 1 - lv).sum()),
        ("exp(2 * logvar) for the variance", 0.5 * (np.exp(2 * lv) + mu ** 2 - 1 - lv).sum()),
        ("logvar read as log std", 0.5 * (np.exp(2 * lv) + mu ** 2 - 1 - 2 * lv).sum()),
        ("logvar ** 2 for exp(logvar)", 0.5 * (lv ** 2 + mu ** 2 - 1 - lv).sum()),
        ("no -1 term", 0.5 * (np.exp(lv) + mu ** 2 - lv).sum()),
        ("(sum mu)^2 over the batch", rest + 0.5 * mu.sum() ** 2),
        ("(sum mu)^2 per image", rest + 0.5 * (mu.sum(1) ** 2).sum()),
        ("mu for mu^2", rest + 0.5 * mu.sum()),
        ("no -0.5 factor", -2 * right),
        ("mean over latent dims", right / z),
        ("mean over batch and latent dims", right / (n * z)),
        ("summed over the batch, not divided", n * right),  # diagnose()'s known mistakes from here on
        ("sign flipped", -right),
        ("factor 0.5 missing", 2 * right),
        ("0.25 for 0.5", 0.5 * right),
        ("missing", 0.0),
    ]


def separated(i):
    """Whether every wrong KL misses 2.1's value by SEPARATION x its tolerance, and misses each of
    2.3's cases (prior, mu only, logvar only) by that much or not at all, and at least one of them."""
    n = len(i["x"])
    recon = bce(i["x_hat"], i["x"]).sum()
    zeros = np.zeros_like(i["mu"])
    cases = [(i["mu"], i["logvar"]), (zeros, zeros), (i["mu"], zeros), (zeros, i["logvar"])]

    def gaps(mu, logvar):  # |wrong - right| / tolerance for each wrong KL
        k_right = kl(mu, logvar).sum()
        tolerance = ATOL + RTOL * abs((recon + k_right) / n)
        return np.array([abs(k - k_right) / n for _, k in wrong_kls(mu, logvar)]) / tolerance

    value, *kl_cases = [gaps(mu, logvar) for mu, logvar in cases]
    kl_cases = np.array(kl_cases)
    agree = kl_cases < 1e-3  # the same formula there (up to rounding): that case cannot tell
    return bool((value >= SEPARATION).all() and ((kl_cases >= SEPARATION) | agree).all()
                and (kl_cases >= SEPARATION).any(0).all())


def draw(rng):
    return {"x_hat": rng.uniform(0.05, 0.95, size=(N, 1, 28, 28)).astype(np.float32),
            "x": rng.beta(0.3, 0.3, size=(N, 1, 28, 28)).astype(np.float32),
            "mu": rng.normal(0.5, 1.0, size=(N, settings.LATENT_SIZE)).astype(np.float32),
            "logvar": rng.normal(-1.0, 0.7, size=(N, settings.LATENT_SIZE)).astype(np.float32)}


def inputs(rng):
    """The judge's inputs for 2.1-2.3: redrawn until no wrong KL of wrong_kls can pass by luck."""
    for _ in range(100):  # nearly every draw separates; 100 failures in a row do not happen
        i = draw(rng)
        if separated(i):
            return i
    raise RuntimeError("no loss inputs tell every wrong KL from the right one")


def doubled(e, i):
    twice = [np.concatenate([i[k], i[k]]) for k in ("x_hat", "x", "mu", "logvar")]
    return {"value": e.loss_doubled(*twice)}


def kl_cases(e, i):
    zeros = np.zeros_like(i["mu"])
    return {"prior": e.loss(i["x_hat"], i["x"], zeros, zeros),
            "mu_only": e.loss(i["x_hat"], i["x"], i["mu"], zeros),
            "logvar_only": e.loss(i["x_hat"], i["x"], zeros, i["logvar"])}


MEASURES = [
    ("value", f"calling loss_function(x_hat, x, mu, logvar) on a batch of {N}",
     lambda e, i: {"value": e.loss(i["x_hat"], i["x"], i["mu"], i["logvar"])}),
    ("doubled", "calling loss_function on that batch repeated twice", doubled),
    ("kl", "calling loss_function with mu and/or logvar set to 0", kl_cases),
]


def diagnose(got, expected, i):
    """The likeliest mistake behind a wrong loss value, in words ('' if none fits)."""
    n = len(i["x"])
    b, k = bce(i["x_hat"], i["x"]).sum(), kl(i["mu"], i["logvar"]).sum()
    known = [
        (b + k, f"{n}x the expected value: the sum is not divided by the batch size ({n})"),
        (b / n + k, f"the KL term is {n}x too large: it is summed over the batch but not divided by the batch size ({n})"),
        (b + k / n, f"the reconstruction term is {n}x too large: bce_function's sum is not divided by the batch size ({n})"),
        ((b - k) / n, "the KL term has the wrong sign"),
        ((b + 2 * k) / n, "the KL term is twice too large: the factor 0.5 is missing"),
        ((b + 0.25 * k) / n, "the KL term is half as large as it should be: use 0.5, not 0.25"),
        (b / n, "the KL term is missing"),
        (k / n, "the reconstruction term is missing: add bce_function(x_hat, x)"),
    ]
    for value, words in known:
        if np.isclose(got, value, rtol=1e-3):
            return words
    ratio = got / expected if expected else 0.0
    if ratio > 1.5 and abs(ratio - round(ratio)) < 0.01:
        return f"{round(ratio)}x the expected value"
    return ""


def loss_closed_form(run, i):
    expected = neg_elbo(i["x_hat"], i["x"], i["mu"], i["logvar"])
    got = scalar(run, "value", "value")
    if not np.isclose(got, expected, rtol=RTOL, atol=ATOL):
        parts = bce(i["x_hat"], i["x"]).mean(), kl(i["mu"], i["logvar"]).mean()
        why = diagnose(got, expected, i) or "check the KL sign and the 0.5 factor"
        raise Fail(f"loss_function returned {got:.6g}, expected {expected:.6g}: {why}\n"
                   f"(the expected value is mean BCE {parts[0]:.2f} + mean KL {parts[1]:.2f} over a batch of {len(i['x'])})")


def loss_batch_mean(run, i):
    once, twice = scalar(run, "value", "value"), scalar(run, "doubled", "value")
    if not once > 0.5 * bce(i["x_hat"], i["x"]).mean():
        raise Fail(f"the loss {once:.4g} is far below the reconstruction term alone "
                   f"({bce(i['x_hat'], i['x']).mean():.4g} per image): use bce_function(x_hat, x)")
    if not np.isclose(once, twice, rtol=1e-4):
        raise Fail(f"the loss of a batch repeated twice was {twice:.4g}, but {once:.4g} for the batch "
                   f"alone (ratio {twice / once if once else float('nan'):.3g}); divide the sum by the batch size")


def loss_kl_zero(run, i):
    recon = bce(i["x_hat"], i["x"]).mean()
    close(scalar(run, "kl", "prior"), recon, "loss at mu = 0, logvar = 0 (should be the BCE term alone)", RTOL, ATOL)
    zeros = np.zeros_like(i["mu"])
    for key, mu, logvar in (("mu_only", i["mu"], zeros), ("logvar_only", zeros, i["logvar"])):
        got = scalar(run, "kl", key)
        if got <= recon + 1e-3:
            raise Fail(f"with {key.replace('_only', '')} away from 0 the loss ({got:.4g}) should exceed "
                       f"the BCE term ({recon:.4g}): the KL term must be positive")
        close(got, recon + kl(mu, logvar).mean(), f"loss with only {key.replace('_only', '')} nonzero", RTOL, ATOL)


TESTS = [
    Test("2.1", "loss_function: equals summed BCE + KL, averaged over the batch", 7, loss_closed_form),
    Test("2.2", "loss_function: averaged over the batch, not summed", 4, loss_batch_mean),
    Test("2.3", "loss_function: the KL term vanishes exactly at mu = 0, logvar = 0", 4, loss_kl_zero),
]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("2.1–2.3", "`loss_function`",
     "equals summed BCE + KL averaged over the batch; a batch repeated twice gives the same loss; the KL "
     "term is 0 at `mu = 0, logvar = 0` and positive otherwise"),
]
