"""Part 2's secret inputs: no plausible wrong KL can pass 2.1 or 2.3 by luck (numpy only, no TensorFlow).

Every wrong KL is written here again, apart from loss.wrong_kls and loss.separated, and judged as
2.1 (np.isclose, rtol = atol = 1e-4) and 2.3 (kit.close, the same tolerance) judge it."""
import numpy as np
import pytest

from autograder.parts import loss

RTOL = ATOL = 1e-4  # 2.1's and 2.3's tolerance, as the handout's checks state it
SEEDS = range(20)


def bce_sum(x_hat, x):
    p = np.clip(x_hat.astype(np.float64), 1e-7, 1 - 1e-7)
    x = x.astype(np.float64)
    return float(-(x * np.log(p) + (1 - x) * np.log(1 - p)).sum())


def right_kl(mu, lv):
    return float((-0.5 * (1 + lv - mu ** 2 - np.exp(lv))).sum())


def without_mu(lv):
    return float((-0.5 * (1 + lv - np.exp(lv))).sum())


# name -> KL summed over the batch, as a student's loss_function might write it
WRONG = {
    "no logvar term": lambda mu, lv: float((-0.5 * (1 - mu ** 2 - np.exp(lv))).sum()),
    "0.5 * logvar": lambda mu, lv: float((-0.5 * (1 + 0.5 * lv - mu ** 2 - np.exp(lv))).sum()),
    "-logvar": lambda mu, lv: float((-0.5 * (1 - lv - mu ** 2 - np.exp(lv))).sum()),
    "exp(0.5 * logvar)": lambda mu, lv: float((-0.5 * (1 + lv - mu ** 2 - np.exp(0.5 * lv))).sum()),
    "exp(2 * logvar)": lambda mu, lv: float((-0.5 * (1 + lv - mu ** 2 - np.exp(2 * lv))).sum()),
    "logvar as log std": lambda mu, lv: float((-0.5 * (1 + 2 * lv - mu ** 2 - np.exp(2 * lv))).sum()),
    "logvar ** 2 for exp(logvar)": lambda mu, lv: float((-0.5 * (1 + lv - mu ** 2 - lv ** 2)).sum()),
    "no 1": lambda mu, lv: float((-0.5 * (lv - mu ** 2 - np.exp(lv))).sum()),
    "(sum mu)^2": lambda mu, lv: without_mu(lv) + 0.5 * float(mu.sum()) ** 2,
    "(sum mu)^2 per image": lambda mu, lv: without_mu(lv) + 0.5 * float((mu.sum(1) ** 2).sum()),
    "mu for mu^2": lambda mu, lv: without_mu(lv) + 0.5 * float(mu.sum()),
    "no -0.5": lambda mu, lv: float((1 + lv - mu ** 2 - np.exp(lv)).sum()),
    "mean over latent dims": lambda mu, lv: float((-0.5 * (1 + lv - mu ** 2 - np.exp(lv))).mean(1).sum()),
    "mean over everything": lambda mu, lv: float((-0.5 * (1 + lv - mu ** 2 - np.exp(lv))).mean()),
    "summed over the batch": lambda mu, lv: len(mu) * right_kl(mu, lv),
    "sign flipped": lambda mu, lv: -right_kl(mu, lv),
    "no 0.5": lambda mu, lv: 2 * right_kl(mu, lv),
    "0.25": lambda mu, lv: 0.5 * right_kl(mu, lv),
    "missing": lambda mu, lv: 0.0,
}


def cases(i):
    """2.1's value and 2.3's three cases: name -> (mu, logvar), in float64."""
    mu, lv = i["mu"].astype(np.float64), i["logvar"].astype(np.float64)
    zero = np.zeros_like(mu)
    return {"value": (mu, lv), "prior": (zero, zero), "mu_only": (mu, zero), "logvar_only": (zero, lv)}


def misses(i):
    """name -> {case: |wrong loss - right loss| / the check's tolerance}."""
    n, recon = len(i["x"]), bce_sum(i["x_hat"], i["x"])
    out = {}
    for name, wrong in WRONG.items():
        out[name] = {}
        for case, (mu, lv) in cases(i).items():
            right = (recon + right_kl(mu, lv)) / n
            out[name][case] = abs((recon + wrong(mu, lv)) / n - right) / (ATOL + RTOL * abs(right))
    return out


def unseparated(i):
    """The wrong KLs that 2.1 or 2.3 could let through: within 5x tolerance of the right value in
    2.1, or in a case of 2.3 the wrong KL changes, or equal in every case of 2.3."""
    bad = []
    for name, gaps in misses(i).items():
        tells = [gaps[c] >= 5 for c in ("prior", "mu_only", "logvar_only")]
        unclear = [1e-3 <= gaps[c] < 5 for c in ("prior", "mu_only", "logvar_only")]
        if gaps["value"] < 5 or any(unclear) or not any(tells):
            bad.append((name, {c: round(g, 2) for c, g in gaps.items()}))
    return bad


@pytest.mark.parametrize("seed", SEEDS)
def test_no_wrong_kl_can_pass_by_luck(seed):
    i = loss.inputs(np.random.default_rng(seed))
    assert unseparated(i) == []


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_correct_forms_pass(seed):
    """Correct loss_functions computed in float32 (sum / N, mean of per-image sums, summed BCE +
    summed KL / N) are well inside 2.1's and 2.3's tolerance, and 2.3's KL is clearly positive."""
    i = loss.inputs(np.random.default_rng(seed))
    n = len(i["x"])
    x_hat, x = np.clip(i["x_hat"], 1e-7, 1 - 1e-7), i["x"]
    b = -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(n, -1).astype(np.float32)
    recon = bce_sum(i["x_hat"], x) / n
    for case, (mu, lv) in cases(i).items():
        mu, lv = mu.astype(np.float32), lv.astype(np.float32)
        k = -0.5 * (1 + lv - mu ** 2 - np.exp(lv))
        right = (bce_sum(i["x_hat"], x) + right_kl(mu.astype(np.float64), lv.astype(np.float64))) / n
        for got in ((b.sum() + k.sum()) / np.float32(n), (b.sum(1) + k.sum(1)).mean(), b.sum() / n + k.sum() / n):
            assert np.isclose(got, right, rtol=RTOL / 10, atol=ATOL / 10), (case, got, right)
        if case in ("mu_only", "logvar_only"):
            assert right > recon + 0.1


def test_the_draw_is_deterministic_and_bounded(monkeypatch):
    a, b = (loss.inputs(np.random.default_rng(3)) for _ in range(2))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert (loss.RTOL, loss.ATOL) == (RTOL, ATOL)
    monkeypatch.setattr(loss, "separated", lambda i: False)
    with pytest.raises(RuntimeError):
        loss.inputs(np.random.default_rng(0))
