"""Every check, on fabricated measurements, in milliseconds: no TensorFlow, no student code.

For each part, `fabricate` plays a correct submission: it computes in numpy what the
measuring process would hand the judge. The checks must give full points on it, and
nothing (never a crash) when a measurement is missing, an array holds NaN or has the
wrong shape."""
import re

import numpy as np
import pytest

from autograder.judging import distort, kit
from autograder.config import settings
from autograder.grade import PartRun, run_check
from autograder.parts import (BY_NAME, conv_vae, e2e_conv, e2e_cvae, e2e_inference, e2e_mmd, e2e_vae, explore,
                              inference, loss, mmd, models, reparameterize, train_vae)
from autograder.isolation.sandbox import StageRun

RNG = np.random.default_rng(0)


def run_of(part, inputs, results, arrays, facts=None, errors=None):
    built = StageRun("build", "ok", 1.0, 1.0, "", {"facts": facts or {}, "errors": errors or {}, "complete": True})
    measured = StageRun("measure", "ok", 1.0, 1.0, "", {"results": results, "complete": True}, arrays)
    return PartRun(part.NAME, built, measured, inputs)


def flatten(values):
    """{"measurement": {key: value}} -> (results, arrays) as the measuring process reports them."""
    results, arrays = {}, {}
    for name, found in values.items():
        results[name] = {"ok": True, **{k: v for k, v in found.items() if not isinstance(v, np.ndarray)}}
        arrays.update({f"{name}.{k}": v for k, v in found.items() if isinstance(v, np.ndarray)})
    return results, arrays


def fake_reparameterize(i):
    draw = lambda mu, logvar: mu + np.exp(0.5 * logvar) * RNG.normal(size=mu.shape)  # noqa: E731
    z = draw(i["mu_small"], i["logvar_small"])
    return {"sample": {"z": draw(i["mu"], i["logvar"])},
            "again": {"first": draw(i["mu_small"], i["logvar_small"]), "second": z},
            "grad": {"z": z, "grad_mu": np.ones_like(z), "grad_logvar": 0.5 * (z - i["mu_small"]),
                     "mu_reached": True, "logvar_reached": True}}, {}


def fake_loss(i):
    value = lambda mu, logvar: np.array(kit.neg_elbo(i["x_hat"], i["x"], mu, logvar))  # noqa: E731
    zeros = np.zeros_like(i["mu"])
    return {"value": {"value": value(i["mu"], i["logvar"])}, "doubled": {"value": value(i["mu"], i["logvar"])},
            "kl": {"prior": value(zeros, zeros), "mu_only": value(i["mu"], zeros),
                   "logvar_only": value(zeros, i["logvar"])}}, {}


def fake_model(conditional):
    def fake(i):
        n, z = len(i["x"]), settings.LATENT_SIZE
        image = lambda: RNG.uniform(0, 1, (n, 1, 28, 28))  # noqa: E731
        mu, logvar = RNG.normal(size=(n, z)), RNG.normal(size=(n, z))
        mean = RNG.uniform(0, 1, (models.REPEATED, 784))
        values = {
            "exist": {"encode": True, "decode": True},
            "forward": {"x_hat": image(), "mu": mu, "logvar": logvar},
            "pieces": {"mu": mu, "logvar": logvar, "decoded": image()},
            "distribution": {"call_mean": mean, "decoder_mean": mean + 0.001, "call_var": np.full_like(mean, 0.05),
                             "decoder_var": np.full_like(mean, 0.05)},
            "latent": {"x_hat": image(), "mu": mu[:, :7], "logvar": logvar[:, :7]},
            "latent_pieces": {"mu": mu[:, :7], "logvar": logvar[:, :7], "decoded": image()}}
        if conditional:
            base = image()
            values["decoder_c"] = {"decoded_c": base, "decoded_c_other": base * 0.7, "decoded_other": base * 0.2}
            values["encoder_c"] = {"mu_c": mu, "mu_c_other": mu + 0.3, "mu_other": mu + 1.0}
        return values, {"attributes": dict.fromkeys(models.ATTRIBUTES, True)}
    return fake


def fake_train_vae(i):
    n = len(i["images"])
    outputs = lambda: {"x_hat": RNG.uniform(0, 1, (n, 1, 28, 28)), "mu": RNG.normal(size=(n, 4)),  # noqa: E731
                       "logvar": RNG.normal(size=(n, 4))}
    values = {"sum": outputs(), "cvae_sum": outputs()}
    before = RNG.normal(size=100)
    values["update"] = {"before": before, "after": before + 0.01, "replay": before + 0.0101}
    values["lower"] = {**{f"before_{k}": v for k, v in outputs().items()},
                       **{f"after_{k}": v * 0.1 for k, v in outputs().items()}}
    x = i["images"][:, None] / 255.0
    facts = {"update": {"steps": 8}}
    for name in ("sum", "cvae_sum"):
        total = train_vae.batch_sum(
            train_vae.stand_in_per_image(values[name]["x_hat"], x, values[name]["mu"], values[name]["logvar"]))
        facts[name] = {"type": "float", "shape": [], "value": float(total), "steps": 8}
    return values, facts


def fake_end_to_end(i, blur=0.9, offset=0.02):
    """What a trained model measures: its reconstructions blurred copies of the judge's
    images (a loss of about 125)."""
    n = len(i["eps"])
    x = distort.smooth(i["x_eval"].astype(np.float64), blur)[:, None]
    shuffled = np.clip(x, offset, 1 - offset)[i["order"]]
    rng = np.random.default_rng(3)
    mu, logvar = rng.normal(0, 1.5, (n, settings.LATENT_SIZE)), rng.normal(-3, 0.3, (n, settings.LATENT_SIZE))
    return ({"evaluate": {"mu": mu, "logvar": logvar, "x_hat_shuffled": shuffled}},
            {"train": {"reported": [110.0 * 469] * 5, "num_batches": 469}})


def fake_explore(i):
    """A correct explore.py and a trained VAE: numpy's answers (PCA with its first axis
    flipped, as another eigen-solver may give it), a probe right on 95% of the images."""
    z = settings.LATENT_SIZE
    values = {"encode_all": {
        "got": explore.stand_in_codes(i["x_enc"], None, explore.weights_of(i, "vae"))[0],
        "got_cvae": explore.stand_in_codes(i["x_enc"], i["c_enc"], explore.weights_of(i, "cvae"))[0]}}
    centred = i["codes"] - i["codes"].mean(0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:2].T
    labels = i["labels"].argmax(1)
    values.update(
        pca={"value": centred @ axes * [-1.0, 1.0]},
        means={"value": np.stack([i["codes"][labels == k].mean(0) for k in range(10)])},
        interpolate={"value": i["start"] + np.linspace(0, 1, explore.STEPS)[:, None] * (i["end"] - i["start"])},
        top_dims={"value": np.argsort(-i["varied"].var(0))[:explore.TOP_K].astype(np.int32)},
        grid={"value": explore.grid_codes(i["dims"].astype(int), z)},
        inside=fake_inside(i))
    n = int(i["changed"])
    right = RNG.uniform(size=n) < 0.95
    guess = np.where(right, i["y_eval"][:n], (i["y_eval"][:n] + 1) % 10)
    values["probe"] = {"scores": np.eye(10)[guess] * 4.0 + RNG.normal(0, 0.1, (n, 10))}
    return values, {}


def fake_inside(i):
    """6.1's trained VAE as part 7 measures it: its reconstructions and the pictured codes' images,
    decoded together in the judge's `mixed` order."""
    evaluated = fake_end_to_end(i)[0]["evaluate"]
    unshuffled = np.empty_like(evaluated["x_hat_shuffled"])
    unshuffled[i["order"]] = evaluated["x_hat_shuffled"]
    everything = np.concatenate([unshuffled, RNG.uniform(0, 1, (explore.PICTURED + explore.FILLER, 1, 28, 28))])
    return {**evaluated, "x_hat_shuffled": everything[i["mixed"]]}


@pytest.fixture(autouse=True)
def classifier_reads_class_means(monkeypatch):
    """7.8's judge classifier, played: it reads the class-mean images as their classes."""
    monkeypatch.setattr(explore.judge_classifier, "classify", lambda images: np.arange(len(images)) % 10)


def fake_inputs(part):
    given = part.build_inputs(np.random.default_rng(1)) if hasattr(part, "build_inputs") else {}
    return {**given, **part.inputs(np.random.default_rng(2))}


def fake_conv_vae(i):
    """A correct conv_vae.py: part 3's fake model, the convolutions Keras makes of the reference
    (channels-last), and numpy's answers."""
    values, facts = fake_model(False)(i)
    cases = i["cases"].astype(int)
    side = cases[:, 0] // cases[:, 2] ** cases[:, 1]
    values.update(
        convolutions={"encoder_convolutions": 2, "encoder_together": 0.99, "encoder_effects": np.array([1.03]),
                      "encoder_seen": np.array([[28, 28, 1]]), "encoder_layouts": "(16, 28, 28, 1) (NHWC)",
                      "encoder_dead_at": "", "decoder_transposed": 3, "decoder_together": 0.88,
                      "decoder_effects": np.zeros(0), "decoder_seen": np.zeros((0, 3)), "decoder_layouts": "",
                      "decoder_dead_at": ""},
        deconv_shape={"value": np.stack([side, side, cases[:, 3]], 1).astype(np.float32)},
        log_pdf={"value": conv_vae.log_normal(i["sample"], i["mean"], i["logvar_pdf"])},
        mc_loss={"value": np.array(conv_vae.mc_neg_elbo(i))})
    return values, facts


def fake_e2e_conv(i):
    """A trained ConvVAE: 6.1's fake, its decoder's output covering the prior codes too."""
    values, facts = fake_end_to_end({**i, "order": np.arange(len(i["eps"]))})  # unshuffled
    samples = np.full((e2e_conv.SAMPLES, 1, 28, 28), 0.1)
    values["evaluate"]["x_hat_shuffled"] = np.concatenate([values["evaluate"]["x_hat_shuffled"], samples])[i["order"]]
    facts["train"]["seconds"] = [14.0, 13.2, 13.5, 13.1, 13.3]
    return values, facts


def fake_mmd(i):
    """A correct mmd.py: numpy's answers."""
    bandwidth = i["bandwidth"]
    sets = {f"shift{k}": np.array(mmd.mmd_biased(i["base"], other, bandwidth)) for k, other in enumerate(i["others"])}
    return {"kernel": {"value": mmd.kernel(i["a"], i["b"], bandwidth)},
            "mmd": {"value": np.array(mmd.mmd_biased(i["a"], i["b"], bandwidth))},
            "mmd_sets": {**sets, "swapped": np.array(mmd.mmd_biased(i["others"][0], i["base"], bandwidth))},
            "loss": {"value": np.array(mmd.mmd_loss(i))}}, {}


def fake_e2e_mmd(i, blur=0.5, spread=1.0):
    """A VAE trained with the MMD loss (codes about N(0, spread^2 I), sharp reconstructions) and
    the KL model, both measured as part 7 measures 6.1's VAE."""
    values, facts = fake_end_to_end({**i, "order": np.arange(len(i["eps"]))}, blur=blur)  # unshuffled
    evaluated = values["evaluate"]
    rng = np.random.default_rng(4)
    evaluated["mu"] = rng.normal(0, spread, evaluated["mu"].shape)
    evaluated["logvar"] = np.full_like(evaluated["mu"], -12.0)
    pictured = rng.uniform(0, 1, (explore.PICTURED + explore.FILLER, 1, 28, 28))
    evaluated["x_hat_shuffled"] = np.concatenate([evaluated["x_hat_shuffled"], pictured])[i["mixed"]]
    kl_model = fake_inside(i)
    facts["train"]["seconds"] = [6.0, 5.1, 5.2, 5.0, 5.3]
    return {"evaluate": evaluated, "kl": kl_model,
            "training_loss": {"first": np.array(120.5), "second": np.array(120.7)}, "push": fake_push(i)}, facts


def fake_push(i, weight=100.0, kl=0.0):
    """e2e_mmd's push measurement for a training loss of `weight` x the biased MMD (bandwidth sqrt(Z),
    as many prior samples as codes) plus `kl` x the KL loss: -sum of d loss / d mu_i . mu_i over the
    probe codes, by numpy's gradient (the codes z = mu: q's log-variance is -16)."""
    probe, n, z = i["probe"].astype(np.float64), e2e_mmd.N, settings.LATENT_SIZE
    prior = np.random.default_rng(5).normal(size=(n, z))
    out = {}
    for rest in ("crowded", "spread"):
        codes = np.concatenate([probe, i[rest]])

        def pull(others, scale):  # sum_j d k(z_i, o_j) / d z_i, as a term of scale x mean k(z, o)
            k = mmd.kernel(codes[:len(probe)], others, np.sqrt(z))
            return scale * (-(k[:, :, None] * (probe[:, None] - others[None])).sum(1) / z)
        gradient = weight * (pull(codes, 2.0 / n ** 2) + pull(prior, -2.0 / (n * n))) + kl * probe / n
        out[rest] = np.full(e2e_mmd.CALLS, -(gradient * probe).sum())
    return out


def grid_posterior(i):
    """The judge's grid posterior of each of 10.8's images: (mean, log of the std per axis), [IMAGES, 2] each."""
    _, weights, z = inference.grid_posterior(i, i["images"][:, :inference.TOP].astype(np.float64))
    mean = weights @ z
    return mean, 0.5 * np.log(weights @ z ** 2 - mean ** 2)


def fake_inference(i):
    """A correct inference.py: numpy's answers, and the grid posterior's mean and spread for svi."""
    logits, x, z, mean, log_std, sample = (i[k].astype(np.float64) for k in ("logits", "x", "z", "mean", "log_std",
                                                                           "sample"))
    decoded = inference.logits_of(i, z)
    fitted_mean, fitted_log_std = grid_posterior(i)
    elbo = np.mean(inference.bernoulli(logits, x) + inference.log_prior(sample) - inference.gaussian(mean, log_std, sample))
    return {"log_prior": {"value": inference.log_prior(z)}, "bernoulli": {"value": inference.bernoulli(logits, x)},
            "gaussian": {"value": inference.gaussian(mean, log_std, sample)},
            "top_half": {"value": logits[:, :inference.TOP]}, "elbo": {"value": np.array(elbo)},
            "likelihood": {"value": inference.bernoulli(logits[:, :inference.TOP], x[:, :inference.TOP])},
            "joint": {"value": inference.log_prior(z) + inference.bernoulli(decoded[:, :inference.TOP],
                                                                            x[:, :inference.TOP])},
            "svi": {"mean": fitted_mean, "log_std": fitted_log_std},
            "inpaint": {"value": np.concatenate([x[:, :inference.TOP], 1 / (1 + np.exp(-decoded[:, inference.TOP:]))],
                                                1)}}, {}


def fake_gate(i, shift=0.0, narrow=0.0, width=0.2):
    """e2e_inference's gate measurements for a decoder whose top halves tell z as a Gaussian likelihood
    of std `width` around the judge's codes: the best Gaussian q is the exact posterior, and svi's q
    is it with its mean moved by `shift` and its log std by `narrow`."""
    c = i["codes"].astype(np.float64)
    precision = 1 / width ** 2 + 1
    best_mean, best_log_std = c / width ** 2 / precision, np.full_like(c, -0.5 * np.log(precision))
    mean, log_std = best_mean + shift, best_log_std + narrow
    eps = i["eps_gate"].astype(np.float64)

    def likelihood(m, s):
        z = m[None] + np.exp(s)[None] * eps
        return -0.5 * (((z - c[None]) / width) ** 2).sum(-1)
    evidence = (-0.5 * c ** 2 / (1 + width ** 2) + 0.5 * np.log(width ** 2 / (1 + width ** 2))).sum(1)
    return {"mean": mean, "log_std": log_std, "best_mean": best_mean, "best_log_std": best_log_std,
            "likelihood": likelihood(mean, log_std), "best_likelihood": likelihood(best_mean, best_log_std),
            "evidence": evidence}


def fake_e2e_inference(i, blur=2.0, hint=0.6, **gate):
    """A trained 2-D model: 6.1's fake reconstructions as logits; the judge's digits drawn from
    its decoder at blurred test images' means; completions whose bottom halves are `hint` of the
    drawn digit blurred plus the rest of the decoder's mean image; svi's q and the judge's best (fake_gate)."""
    values, facts = fake_end_to_end({**i, "order": np.arange(len(i["eps"]))}, blur=blur, offset=0.05)
    evaluated = values["evaluate"]
    p = evaluated["x_hat_shuffled"].reshape(len(i["eps"]), -1)[i["order"]]
    evaluated["x_hat_shuffled"] = np.log(p / (1 - p))
    evaluated["mu"], evaluated["logvar"] = evaluated["mu"][:, :inference.Z], evaluated["logvar"][:, :inference.Z]
    n = e2e_inference.COMPLETED
    means = np.clip(distort.smooth(i["x_eval"][:n].astype(np.float64), 0.7).reshape(n, -1), 0.02, 0.98)
    truth = np.log(means / (1 - means))
    x = e2e_inference.drawn(i["pixels"], truth).astype(np.float64)
    guess = np.clip(hint * distort.smooth(x.reshape(-1, 28, 28), 1.0).reshape(n, -1)
                    + (1 - hint) * means.mean(0), 0.02, 0.98)
    rng = np.random.default_rng(5)
    facts["train"]["seconds"] = [4.0] * e2e_inference.EPOCHS
    facts["train"]["reported"] = [160.0 * 469] * e2e_inference.EPOCHS
    return {"evaluate": evaluated,
            "complete": {"drawn": truth, "logits": np.log(guess / (1 - guess)), **fake_gate(i, **gate)},
            "grid": {"logits": rng.normal(size=(len(e2e_inference.GRID) ** 2, inference.D))}}, facts


FAKES = {"reparameterize": fake_reparameterize, "loss": fake_loss, "vae": fake_model(False),
         "cvae": fake_model(True), "train_vae": fake_train_vae, "e2e_vae": fake_end_to_end, "explore": fake_explore,
         "conv_vae": fake_conv_vae, "e2e_conv": fake_e2e_conv, "mmd": fake_mmd, "e2e_mmd": fake_e2e_mmd,
         "inference": fake_inference, "e2e_inference": fake_e2e_inference}
SKIP = {"6.2", "6.3", "10.12"}  # they need images the shipped classifier reads: see the end-to-end tests (10.12: below)


def graded(part, values, facts, inputs, errors=None):
    results, arrays = flatten(values)
    run = run_of(part, inputs, results, arrays, facts, errors)
    return {test.number: run_check(test, run) for test in part.TESTS if test.number not in SKIP}


@pytest.fixture(scope="module")
def cases():
    out = {}
    for name, fake in FAKES.items():
        inputs = fake_inputs(BY_NAME[name])
        out[name] = (inputs,) + fake(inputs)
    return out


@pytest.mark.parametrize("name", FAKES)
def test_correct_measurements_earn_every_point(name, cases):
    inputs, values, facts = cases[name]
    verdicts = graded(BY_NAME[name], values, facts, inputs)
    assert all(fraction == 1.0 for fraction, _ in verdicts.values()), verdicts


@pytest.mark.parametrize("name", [name for name in FAKES if hasattr(BY_NAME[name], "CALIBRATION")])
def test_calibration_reads_its_values_from_the_messages_correct_work_gets(name, cases):
    """tools/calibrate.py reads each CALIBRATION pattern of a part from its tests' messages: each
    finds its number in what a correct measurement is told, and that number clears its bar."""
    inputs, values, facts = cases[name]
    messages = {number: message for number, (_, message) in graded(BY_NAME[name], values, facts, inputs).items()}
    for key, (pattern, bar) in BY_NAME[name].CALIBRATION.items():
        if key.split()[0] in SKIP:
            continue
        found = re.search(pattern, messages[key.split()[0]])
        assert found, (key, messages[key.split()[0]])
        value = float(found[1]) - float(found[2]) if key.endswith("gap") else float(found[1])
        assert bar is None or bar(value) > 0, (key, value)


@pytest.mark.parametrize("name", FAKES)
def test_a_missing_measurement_fails_with_the_students_error(name, cases):
    inputs, values, facts = cases[name]
    results = {k: {"ok": False, "missing": "call"} for k in values}
    run = run_of(BY_NAME[name], inputs, results, {}, {}, {"call": "While calling model(x): ValueError: boom"})
    for test in BY_NAME[name].TESTS:
        if test.number not in SKIP:
            fraction, message = run_check(test, run)
            assert fraction == 0 and ("boom" in message or "did not produce" in message), (test.number, message)


def mutated(values, how, report_only=()):
    """Every (measurement, key) with an array, and `values` with that one array changed by `how`
    (but not those of the measurements only the report draws)."""
    for name, found in values.items():
        if name in report_only:
            continue
        for key, value in found.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 1:
                yield f"{name}.{key}", {**values, name: {**found, key: how(value)}}


def with_nan(value):
    value = value.copy()
    value.flat[value.size // 2] = np.nan
    return value


@pytest.fixture
def svi_once(monkeypatch):
    """10.8's check spends about 3 s on the judge's ELBO of three q's (256 samples each): a test that
    breaks other measurements one at a time computes it once per q it is given."""
    known, original = {}, inference.svi_gaps

    def gaps(i, *fits, grid=None):
        arrays = [np.asarray(a) for fit in fits for a in fit]
        key = (id(i), *((a.shape, a.dtype.str, a.tobytes()) for a in arrays))
        if key not in known:
            known[key] = original(i, *fits, grid=grid)
        return known[key]
    monkeypatch.setattr(inference, "svi_gaps", gaps)


@pytest.mark.parametrize("how", [with_nan, lambda v: v[..., :-1], lambda v: v.reshape(-1)[:-3]],
                         ids=["NaN", "one column short", "flattened and short"])
@pytest.mark.parametrize("name", FAKES)
def test_broken_arrays_cost_points_and_never_crash_a_check(name, how, cases, svi_once):
    inputs, values, facts = cases[name]
    for where, broken in mutated(values, how, getattr(BY_NAME[name], "REPORT_ONLY", ())):
        verdicts = graded(BY_NAME[name], broken, facts, inputs)
        assert not any("internal error" in message for _, message in verdicts.values()), (where, verdicts)
        assert any(fraction < 1 for fraction, _ in verdicts.values()), f"{where} broken, yet every test passed"


def test_the_sampling_check_catches_call_decoding_something_else(cases):
    inputs, values, facts = cases["vae"]
    shifted = dict(values, distribution={**values["distribution"],
                                         "decoder_mean": values["distribution"]["call_mean"] + 0.05})
    fraction, message = graded(BY_NAME["vae"], shifted, facts, inputs)["3.2"]
    assert fraction == 0 and "not distributed like decoder(z)" in message


def test_c_must_move_the_output_not_just_touch_it(cases):
    inputs, values, facts = cases["cvae"]
    base = values["decoder_c"]["decoded_c"]
    barely = dict(values, decoder_c={"decoded_c": base, "decoded_c_other": base + 1e-4, "decoded_other": base * 0.2})
    fraction, message = graded(BY_NAME["cvae"], barely, facts, inputs)["4.5"]
    assert fraction == 0 and "same image for different c" in message


def test_train_vae_returning_the_mean_or_the_wrong_moves_is_caught(cases):
    inputs, values, facts = cases["train_vae"]
    mean = {**facts, "sum": {**facts["sum"], "value": facts["sum"]["value"] / 8}}
    assert "looks like the mean" in graded(BY_NAME["train_vae"], values, mean, inputs)["5.1"][1]
    twice = dict(values, update={**values["update"], "after": values["update"]["before"] + 0.02})
    verdict = graded(BY_NAME["train_vae"], twice, {**facts, "update": {"steps": 16}}, inputs)["5.2"]
    assert verdict[0] == 0 and "16 steps for 8 batches" in verdict[1]


def test_the_end_to_end_loss_is_the_judges_own(cases):
    inputs, values, facts = cases["e2e_vae"]
    blurry = dict(values, evaluate={**values["evaluate"], "x_hat_shuffled": np.full_like(
        values["evaluate"]["x_hat_shuffled"], 0.5)})
    fraction, message = graded(e2e_vae, blurry, facts, inputs)["6.1"]
    assert fraction == 0 and f"must be below {settings.data().loss_threshold:.0f}" in message


def lookup(i, registered=False, split="x_test"):
    """A model that has an MNIST split stored: it returns the nearest stored image, or,
    `registered`, the judge's image itself, slightly blurred (as if it undid each rotation).
    (One that blurs every image it returns can pass: README, "What remains possible".)"""
    with np.load(settings.data_npz()) as mnist:
        originals = mnist[split] / 255.0
    flat = originals.reshape(len(originals), -1).astype(np.float32)
    queries = i["x_eval"].reshape(len(i["x_eval"]), -1).astype(np.float32)
    nearest = np.argmin((flat ** 2).sum(1)[None, :] - 2 * queries @ flat.T, 1)
    source = originals[nearest]
    if registered:
        source = i["x_eval"].astype(np.float64)
    x_hat = np.clip(distort.smooth(source, 0.5) if registered else source, 1e-3, 1 - 1e-3)[:, None]
    n = len(x_hat)
    mu = np.zeros((n, settings.LATENT_SIZE))
    logvar = np.zeros((n, settings.LATENT_SIZE))
    logvar[:, 0] = -23.0  # the index carried in z: about 11 nats of KL
    return mu, logvar, x_hat


@pytest.mark.parametrize("registered, split, expect", [(False, "x_test", "unchanged MNIST images"),
                                                       (False, "x_train", "unchanged MNIST images"),
                                                       (True, "x_test", "which no model")])
def test_a_model_that_has_mnist_stored_earns_nothing(registered, split, expect, cases):
    inputs, values, facts = cases["e2e_vae"]
    mu, logvar, x_hat = lookup(inputs, registered, split)
    stored = {"evaluate": {"mu": mu, "logvar": logvar, "x_hat_shuffled": x_hat[inputs["order"]]}}
    fraction, message = graded(e2e_vae, stored, facts, inputs)["6.1"]
    assert fraction == 0 and (expect in message or f"must be below {settings.data().loss_threshold:.0f}" in message), message


def final_measurement(i, drawn, reconstruction=None):
    """The 'final' measurement of 6.3: a trained model's reconstructions (or `reconstruction`)
    and the `drawn` digits, decoded together in the judge's mixed order."""
    values, _ = fake_end_to_end(i)
    evaluate = values["evaluate"]
    x_hat = np.empty_like(evaluate["x_hat_shuffled"])
    x_hat[i["order"]] = evaluate["x_hat_shuffled"]
    if reconstruction is not None:
        x_hat = reconstruction
    rows = np.concatenate([x_hat.reshape(len(x_hat), -1), drawn.reshape(len(drawn), -1)])
    return {"final": {"mu": evaluate["mu"], "logvar": evaluate["logvar"], "x_hat_shuffled": rows[i["mixed"]]}}


@pytest.mark.parametrize("kind, expect", [("constant", "barely vary with z"), ("copies", "near-copies"),
                                          ("not the decoder", "must be the trained CVAE's")])
def test_generated_digits_must_vary_be_new_and_come_from_the_trained_decoder(kind, expect):
    inputs = fake_inputs(e2e_cvae)
    with np.load(settings.data_npz()) as mnist:
        bank = mnist["x_train"][:2000] / 255.0
    reconstruction = None
    if kind == "constant":
        drawn = np.repeat(bank[:10], 100, 0)[:, None]
    elif kind == "copies":
        drawn = np.roll(bank[:1000], (2, -1), (1, 2))[:, None]
    else:  # blends of two training digits: a generator that does not reconstruct anything
        drawn = (0.5 * bank[:1000] + 0.5 * bank[1000:])[:, None]
        reconstruction = np.full((len(inputs["x_eval"]), 1, 28, 28), 0.2)
    results, arrays = flatten(final_measurement(inputs, drawn, reconstruction))
    fraction, message = run_check(e2e_cvae.TESTS[1], run_of(e2e_cvae, inputs, results, arrays))
    assert fraction == 0 and expect in message, message


def test_kit_helpers():
    assert kit.relative_change(np.zeros(3), np.ones(3), 2 * np.ones(3)) == 0.5
    assert kit.relative_change(np.zeros(3), np.ones(3), np.zeros(3)) == 0.0
    assert np.allclose(kit.kl(np.zeros((2, 3)), np.zeros((2, 3))), 0)
    x = np.array([[0.0, 1.0]])
    assert kit.bce(np.array([[0.5, 0.5]]), x)[0] == pytest.approx(2 * np.log(2))
    with pytest.raises(kit.Fail, match="largest difference"):
        kit.close(np.ones(3), np.zeros(3), "thing")


def explore_verdict(cases, number, measurement, key, value):
    """7.x's verdict when measurement.key is `value` instead of the correct answer."""
    inputs, values, facts = cases["explore"]
    changed = {**values, measurement: {**values[measurement], key: value}}
    return graded(BY_NAME["explore"], changed, facts, inputs)[number]


def sampled(i):
    mu, logvar = explore.stand_in_codes(i["x_enc"], None, explore.weights_of(i, "vae"))
    return mu + np.exp(0.5 * logvar) * RNG.normal(size=mu.shape)


def uncentred(i):
    centred = i["codes"] - i["codes"].mean(0)
    return i["codes"] @ np.linalg.eigh(np.cov(centred.T))[1][:, ::-1][:, :2]


EXPLORE_BUGS = {  # name -> (test, measurement, key, wrong value from the inputs and the correct values, words)
    "sampled z, not mu": ("7.1", "encode_all", "got", lambda i, v: sampled(i), "return mu"),
    "last batch dropped": ("7.1", "encode_all", "got_cvae", lambda i, v: v["encode_all"]["got_cvae"][:256], "dropped"),
    "last batch repeated": ("7.1", "encode_all", "got", lambda i, v: np.concatenate(
        [v["encode_all"]["got"], v["encode_all"]["got"][-20:]]), "repeated"),
    "PCA without centring": ("7.2", "pca", "value", lambda i, v: uncentred(i), "not centred"),
    "PCA axes swapped": ("7.2", "pca", "value", lambda i, v: v["pca"]["value"][:, ::-1], "largest first"),
    "class sums, not means": ("7.3", "means", "value", lambda i, v: v["means"]["value"] * 40, "class_means"),
    "walk without its end": ("7.4", "interpolate", "value", lambda i, v: i["start"] + np.linspace(
        0, 1, explore.STEPS + 1)[:-1, None] * (i["end"] - i["start"]), "both endpoints"),
    "dimensions in ascending order": ("7.5", "top_dims", "value", lambda i, v: v["top_dims"]["value"][::-1].copy(),
                                      "wrong order"),
    "probabilities, not quantiles": ("7.6", "grid", "value", lambda i, v: explore.grid_codes(
        i["dims"].astype(int), settings.LATENT_SIZE, explore.PROBABILITIES), "not the normal quantiles"),
    "probe ignores its input": ("7.7", "probe", "scores", lambda i, v: np.tile(np.eye(10)[3], (2000, 1)), "10."),
}


@pytest.mark.parametrize("bug", EXPLORE_BUGS)
def test_each_planted_explore_bug_fails_its_own_test_only(bug, cases):
    number, measurement, key, wrong, words = EXPLORE_BUGS[bug]
    inputs, values, facts = cases["explore"]
    changed = {**values, measurement: {**values[measurement], key: wrong(inputs, values)}}
    verdicts = graded(BY_NAME["explore"], changed, facts, inputs)
    assert {n for n, (fraction, _) in verdicts.items() if fraction < 1} == {number}, verdicts
    assert verdicts[number][0] == 0 and words in verdicts[number][1], verdicts[number]


def test_explore_accepts_other_correct_forms(cases):
    """PCA by eigh with either sign per column, a walk computed as start + t (end - start)."""
    inputs, values, facts = cases["explore"]
    centred = inputs["codes"] - inputs["codes"].mean(0)
    axes = np.linalg.eigh(np.cov(centred.T))[1][:, ::-1][:, :2]
    for signs in ([1, 1], [1, -1], [-1, -1]):
        assert explore_verdict(cases, "7.2", "pca", "value", centred @ axes * signs)[0] == 1.0
    t = np.linspace(0, 1, explore.STEPS)[:, None]
    assert explore_verdict(cases, "7.4", "interpolate", "value", (1 - t) * inputs["start"] + t * inputs["end"])[0] == 1


def test_the_look_inside_counts_only_on_a_trained_vae(cases):
    """7.7-7.8 on a VAE whose reconstructions are grey (no training): no points, however good
    the probe looks."""
    inputs, values, facts = cases["explore"]
    grey = {**values, "inside": {**values["inside"], "x_hat_shuffled": np.full_like(values["inside"]["x_hat_shuffled"], 0.5)}}
    verdicts = graded(BY_NAME["explore"], grey, facts, inputs)
    for number in ("7.7", "7.8"):
        assert verdicts[number][0] == 0 and "looks inside the VAE 6.1 trained" in verdicts[number][1]


def test_part_7s_pictures_are_drawn_from_the_measured_values(cases):
    """The latent scatter (7.7), the walks and the perturbation grid (7.8), as PNGs; none when
    6.1's decoder gave NaN."""

    inputs, values, facts = cases["explore"]
    results, arrays = flatten(values)
    pictures = explore.pictures(run_of(explore, inputs, results, arrays))
    assert [(title, number) for title, _, _, number in pictures] == [
        ("VAE: the latent space by class", "7.7"), ("VAE: walks between class means", "7.8"),
        ("VAE: the perturbation grid", "7.8")]
    assert all(data.startswith(b"\x89PNG") for _, data, _, _ in pictures)
    broken = {**arrays, "inside.x_hat_shuffled": with_nan(arrays["inside.x_hat_shuffled"])}
    assert explore.pictures(run_of(explore, inputs, results, broken)) == []


def channels_first_layout(i, v):
    return {**v["convolutions"], "encoder_seen": np.array([[1, 28, 28]]), "encoder_layouts": "(16, 1, 28, 28) (NHWC)"}


def dead(prefix, together, where, **more):
    """The measurements of convolutions that the outputs do not depend on (all moved at once, they move
    the outputs by `together`; made at `where`): none was tried one by one."""
    return lambda i, v: {**v["convolutions"], f"{prefix}_together": together, f"{prefix}_dead_at": where,
                         f"{prefix}_effects": np.zeros(0), f"{prefix}_seen": np.zeros((0, 3)), f"{prefix}_layouts": "",
                         **more}


def conv_value(function):
    return lambda i, v: {"value": np.asarray(function(i), np.float64)}


LOG_2PI = np.log(2 * np.pi)
CONV_BUGS = {  # name -> (test, measurement, its values from the inputs and the correct values, words)
    "no convolution in the encoder": ("8.5", "convolutions", lambda i, v: {**v["convolutions"], "encoder_convolutions": 0},
                                      "no convolution"),
    "channels-first images fed to Conv2D": ("8.5", "convolutions", channels_first_layout, "with 28 channels"),
    "an upsampling decoder without transposed convolutions": (
        "8.5", "convolutions", lambda i, v: {**v["convolutions"], "decoder_transposed": 0}, "no transposed convolution"),
    "dead convolutions in the encoder (times 0, cancelled)": (
        "8.5", "convolutions", dead("encoder", 9e-8, "conv_vae.py:40, conv_vae.py:41"),
        "the encoder's output does not depend on its 2 convolution(s) (conv_vae.py:40, conv_vae.py:41)"),
    "a dead transposed convolution in the decoder (selected away)": (
        "8.5", "convolutions", dead("decoder", 0.0, "conv_vae.py:52", decoder_transposed=1),
        "the decoder's output does not depend on its 1 transposed convolution(s) (conv_vae.py:52)"),
    "transposed convolutions that barely matter (times 0.01)": (
        "8.5", "convolutions", dead("decoder", 0.0025, ""), "moved x_hat by 0.25% of what other codes do"),
    "convolutions that only count together": (
        "8.5", "convolutions", lambda i, v: {**v["convolutions"], "encoder_together": 0.5,
                                             "encoder_effects": np.zeros(2), "encoder_seen": np.array([[28, 28, 1]] * 2)},
        "but none of them alone counts (all 2 tried"),
    "stride times count": ("8.6", "deconv_shape", conv_value(lambda i: np.stack([
        i["cases"][:, 0] // (i["cases"][:, 2] * i["cases"][:, 1])] * 2 + [i["cases"][:, 3]], 1)), "multiplies the side"),
    "channels first in the shape": ("8.6", "deconv_shape", lambda i, v: {
        "value": v["deconv_shape"]["value"][:, ::-1].copy()}, "channels-last"),
    "two values, not three": ("8.6", "deconv_shape", lambda i, v: {"value": v["deconv_shape"]["value"][:, :2]},
                              "expected 3"),
    "logvar as the standard deviation": ("8.7", "log_pdf", conv_value(lambda i: -0.5 * (
        ((i["sample"] - i["mean"]) / i["logvar_pdf"]) ** 2 + 2 * np.log(np.abs(i["logvar_pdf"])) + LOG_2PI).sum(1)),
        "standard deviation"),
    "no log(2 pi) term": ("8.7", "log_pdf", conv_value(lambda i: conv_vae.log_normal(
        i["sample"], i["mean"], i["logvar_pdf"]) + 0.5 * LOG_2PI * i["sample"].shape[1]), "log(2 pi)"),
    "summed over the batch too": ("8.7", "log_pdf", conv_value(lambda i: conv_vae.log_normal(
        i["sample"], i["mean"], i["logvar_pdf"]).sum()), "one value per row"),
    "log p(z) sign flipped": ("8.8", "mc_loss", conv_value(lambda i: conv_vae.mc_neg_elbo(i, prior_sign=-1.0)),
                              "sign of log p(z)"),
    "log q(z|x) sign flipped": ("8.8", "mc_loss", conv_value(lambda i: conv_vae.mc_neg_elbo(i, posterior_sign=-1.0)),
                                "sign of log q"),
    "summed, not averaged": ("8.8", "mc_loss", conv_value(lambda i: conv_vae.mc_neg_elbo(i) * len(i["x"])),
                             "average over the batch"),
}


def test_conv_accepts_the_channels_first_convolution_keras_can_run(cases):
    """Conv2D(data_format="channels_first") on [N, 1, 28, 28] is a correct layout (NCHW: one channel)."""
    inputs, values, facts = cases["conv_vae"]
    layout = {**values["convolutions"], "encoder_seen": np.array([[28, 28, 1]]), "encoder_layouts": "(16, 1, 28, 28) (NCHW)"}
    assert conv_vae.first_seen([("Conv2D", "NCHW", (16, 1, 28, 28))]).tolist() == [28, 28, 1]
    assert graded(BY_NAME["conv_vae"], {**values, "convolutions": layout}, facts, inputs)["8.5"][0] == 1.0


def test_conv_counts_the_first_convolution_the_outputs_depend_on(cases):
    """8.5: a half's convolutions count from conv_vae.LIVE of what other inputs move the outputs, all at
    once; the encoder's first that counts alone is the one whose input is read, dead ones before it
    are passed over, whatever they see (so a dead correct one in front of a live wrong one does not
    help), and all of the encoder's and the decoder's problems are told together."""
    inputs, values, facts = cases["conv_vae"]
    part, found, live = BY_NAME["conv_vae"], values["convolutions"], conv_vae.LIVE

    def verdict(**changes):
        return graded(part, {**values, "convolutions": {**found, **changes}}, facts, inputs)["8.5"]

    assert verdict(encoder_together=live, encoder_effects=np.array([live]), decoder_together=live)[0] == 1.0
    assert verdict(decoder_together=live * 0.99)[0] == 0
    fraction, words = verdict(encoder_effects=np.array([0.0, 0.9]), encoder_seen=np.array([[1, 28, 28], [28, 28, 1]]),
                              encoder_layouts="(16, 1, 28, 28) (NHWC); (16, 28, 28, 1) (NHWC)")
    assert fraction == 1.0 and ", 1 before it changing nothing" in words, words
    fraction, words = verdict(encoder_effects=np.array([0.0, 0.9]), encoder_seen=np.array([[28, 28, 1], [1, 28, 28]]),
                              encoder_layouts="(16, 28, 28, 1) (NHWC); (16, 1, 28, 28) (NHWC)")
    assert fraction == 0 and "sees its input as (16, 1, 28, 28) (NHWC)" in words, words
    fraction, words = verdict(encoder_together=0.0, encoder_effects=np.zeros(0), decoder_together=0.0)
    assert fraction == 0 and "moved mu and logvar by 0.00%" in words and "Also, the decoder's output does not" in words
    fraction, words = verdict(encoder_convolutions=9, encoder_effects=np.zeros(conv_vae.TRIED),
                              encoder_seen=np.array([[28, 28, 1]] * conv_vae.TRIED))
    assert fraction == 0 and f"(the first {conv_vae.TRIED} tried" in words, words
    assert verdict(encoder_together=float("nan"))[0] == 0


def test_the_convvae_bar_gives_partial_credit_and_its_pictures_are_drawn(cases):
    """8.9 reads its own bar from the data set's record; a loss between the bar and its zero earns
    partial credit; the report draws reconstructions and prior samples, and nothing from NaN."""

    inputs, values, facts = cases["e2e_conv"]
    fraction, words = graded(BY_NAME["e2e_conv"], values, facts, inputs)["8.9"]
    assert fraction == 1.0 and "took 13.1-14.0 s" in words, words
    bar = e2e_conv.bar()
    assert bar.threshold == settings.data().conv_loss_threshold and bar.epochs == e2e_conv.EPOCHS
    results, arrays = flatten(values)
    pictures = e2e_conv.pictures(run_of(e2e_conv, inputs, results, arrays))
    assert [(title, number) for title, _, _, number in pictures] == [
        ("ConvVAE: test images and their reconstructions", "8.9"), ("ConvVAE: samples z ~ N(0, I)", "8.9")]
    broken = {**arrays, "evaluate.x_hat_shuffled": with_nan(arrays["evaluate.x_hat_shuffled"])}
    assert e2e_conv.pictures(run_of(e2e_conv, inputs, results, broken)) == []


def mmd_value(function):
    return lambda i, v: {"value": np.asarray(function(i), np.float64)}


def biased_sets(**keywords):
    """mmd_sets' values when mmd is mmd_biased(..., **keywords)."""
    def values(i, v):
        bandwidth = i["bandwidth"]
        out = {f"shift{k}": np.array(mmd.mmd_biased(i["base"], other, bandwidth, **keywords))
               for k, other in enumerate(i["others"])}
        return {**out, "swapped": np.array(mmd.mmd_biased(i["others"][0], i["base"], bandwidth, **keywords))}
    return values


def squared(i):
    return mmd.squared_distances(i["a"], i["b"])


MMD_BUGS = {  # name -> (test, measurement, its values from the inputs and the correct values, words)
    "no square in the distance": ("9.1", "kernel", mmd_value(lambda i: np.exp(-np.sqrt(squared(i)) / (
        2 * i["bandwidth"] ** 2))), "not squared"),
    "no factor 2": ("9.1", "kernel", mmd_value(lambda i: np.exp(-squared(i) / i["bandwidth"] ** 2)), "factor 2"),
    "the bandwidth not squared": ("9.1", "kernel", mmd_value(lambda i: np.exp(-squared(i) / (2 * i["bandwidth"]))),
                                  "bandwidth is not squared"),
    "the kernel transposed": ("9.1", "kernel", lambda i, v: {"value": v["kernel"]["value"].T.copy()}, "row i is a_i"),
    "the cross term missing": ("9.2", "mmd_sets", biased_sets(cross=0.0), "cross term -2"),
    "the cross term without its 2": ("9.2", "mmd_sets", biased_sets(cross=1.0), "needs the factor 2"),
    "the unbiased estimate": ("9.2", "mmd", mmd_value(lambda i: mmd.mmd_biased(i["a"], i["b"], i["bandwidth"],
                                                                             unbiased=True)), "unbiased"),
    "not symmetric": ("9.2", "mmd_sets", lambda i, v: {**v["mmd_sets"], "swapped": v["mmd_sets"]["swapped"] + 0.1},
                      "symmetric"),
    "the KL term left in": ("9.3", "loss", mmd_value(lambda i: mmd.mmd_loss(i, kl_weight=1.0)), "KL term is still in"),
    "the codes are mu": ("9.3", "loss", mmd_value(lambda i: mmd.mmd_loss(i, codes=i["mu"])), "codes are mu"),
    "summed over the batch": ("9.3", "loss", mmd_value(lambda i: mmd.mmd_loss(i, per_batch=False)), "divide it by N"),
    "no weight": ("9.3", "loss", mmd_value(lambda i: mmd.mmd_loss(i, weight=1.0)), "not multiplied by weight"),
}


def test_the_judges_mmd_is_about_0_for_one_distribution_and_grows_with_a_shift(cases):
    inputs = cases["mmd"][0]
    values = [mmd.mmd_biased(inputs["base"], other, inputs["bandwidth"]) for other in inputs["others"]]
    assert values[0] < 0.02 and values == sorted(values) and values[-1] > 10 * values[0], values


def test_the_mmd_models_codes_must_be_near_the_prior_and_reconstruct(cases):
    """9.5 fails codes of N(0, 4 I), and counts nothing from a model that does not reconstruct;
    9.4 gives partial credit between its bar and its zero."""
    inputs = cases["e2e_mmd"][0]
    wide = graded(e2e_mmd, *fake_e2e_mmd(inputs, spread=2.0), inputs)
    assert wide["9.4"][0] == 1.0 and wide["9.5"][0] == 0 and "far from N(0, I)" in wide["9.5"][1], wide
    blurred = graded(e2e_mmd, *fake_e2e_mmd(inputs, blur=3.0), inputs)
    assert blurred["9.4"][0] < 1.0 and blurred["9.5"][0] == 0 and "reconstructs" in blurred["9.5"][1], blurred


def test_a_training_loss_that_draws_no_samples_earns_nothing_end_to_end(cases):
    inputs, values, facts = cases["e2e_mmd"]
    same = {**values, "training_loss": {"first": np.array(120.5), "second": np.array(120.5)}}
    verdicts = graded(e2e_mmd, same, facts, inputs)
    assert all(fraction == 0 and "twice for the same inputs" in words for fraction, words in verdicts.values())


# name -> (the push measurement of a training loss, words in 9.4's and 9.5's message); every row earns
# neither 9.4 nor 9.5, whatever the model it trained (the fake's reconstructs and matches N(0, I)).
E2E_MMD_ATTACKS = {
    "the KL loss plus an offset without a gradient": (lambda i: fake_push(i, weight=0.0, kl=1.0), "trains no MMD term"),
    "the KL loss plus a tiny MMD term (weight 1e-6)": (lambda i: fake_push(i, weight=1e-6, kl=1.0), "trains no MMD term"),
    "the MMD term multiplied by 0 (the reconstruction alone)": (lambda i: fake_push(i, weight=0.0),
                                                                "trains no MMD term"),
    "the MMD term of tf.stop_gradient'ed codes beside the KL loss": (lambda i: fake_push(i, weight=0.0, kl=1.0),
                                                                    "trains no MMD term"),
    "the KL loss plus an MMD term it outweighs (weight 5)": (lambda i: fake_push(i, weight=5.0, kl=1.0),
                                                           "outweighs the MMD term"),
}


@pytest.mark.parametrize("attack", E2E_MMD_ATTACKS)
def test_a_training_loss_without_a_working_mmd_term_earns_nothing_end_to_end(attack, cases):
    pushes, words = E2E_MMD_ATTACKS[attack]
    inputs, values, facts = cases["e2e_mmd"]
    verdicts = graded(e2e_mmd, {**values, "push": pushes(inputs)}, facts, inputs)
    assert all(fraction == 0 and words in message for fraction, message in verdicts.values()), verdicts


@pytest.mark.parametrize("weight, kl", [(100.0, 1.0), (1.5, 0.0), (1000.0, 0.0)],
                         ids=["the KL term left in beside weight 100", "weight 1.5", "weight 1000"])
def test_an_mmd_training_loss_of_any_real_weight_keeps_9_4_and_9_5(weight, kl, cases):
    """The KL term left in mmd_loss_function costs 9.3 only; the weight is the student's choice (the
    judge reads it back: the push that depends on the other codes, over a weight-1 term's)."""
    inputs, values, facts = cases["e2e_mmd"]
    verdicts = graded(e2e_mmd, {**values, "push": fake_push(inputs, weight, kl)}, facts, inputs)
    assert all(fraction == 1.0 for fraction, _ in verdicts.values()), verdicts
    assert f"MMD term of weight {weight:.1f}" in verdicts["9.4"][1], verdicts["9.4"][1]


def test_the_mmd_pictures_show_both_models_and_nothing_from_nan(cases):

    inputs, values, facts = cases["e2e_mmd"]
    results, arrays = flatten(values)
    pictures = e2e_mmd.pictures(run_of(e2e_mmd, inputs, results, arrays))
    assert [(title, number) for title, _, _, number in pictures] == [
        ("KL and MMD: the latent space by class", "9.5"), ("KL and MMD: the same walks between class means", "9.4")]
    broken = {k: with_nan(v) if k.endswith(".mu") else v for k, v in arrays.items()}
    assert e2e_mmd.pictures(run_of(e2e_mmd, inputs, results, broken)) == []


def inference_value(how):
    """A measurement of part 10 whose value is how(inputs as float64)."""
    return lambda i, v: {"value": how({k: np.asarray(a, np.float64) for k, a in i.items()})}


def left_half(i):
    return i["logits"].reshape(-1, 28, 28)[:, :, :14].reshape(len(i["logits"]), -1)


INFERENCE_BUGS = {  # name -> (test, measurement, its values from the inputs and the correct values, words)
    "log_prior without its constant": ("10.1", "log_prior", inference_value(lambda i: -0.5 * (i["z"] ** 2).sum(1)),
                                       "constant"),
    "the log of a sigmoid": ("10.2", "bernoulli", inference_value(lambda i: np.where(
        np.abs(i["logits"]) > 40, np.nan, 0.0).sum(1) + inference.bernoulli(i["logits"], i["x"])), "NaN or inf"),
    "a clipped sigmoid": ("10.2", "bernoulli", inference_value(lambda i: (
        i["x"] * np.log(np.clip(1 / (1 + np.exp(-np.clip(i["logits"], -30, 30))), 1e-7, 1))
        + (1 - i["x"]) * np.log(np.clip(1 - 1 / (1 + np.exp(-np.clip(i["logits"], -30, 30))), 1e-7, 1))).sum(1)),
        "clipping the sigmoid"),
    "q's density without the log-std term": ("10.3", "gaussian", inference_value(lambda i: (
        -0.5 * ((i["sample"] - i["mean"]) * np.exp(-i["log_std"])) ** 2 - inference.LOG_2PI / 2).sum(1)),
        "-log_std term is missing"),
    "log q added in the ELBO": ("10.4", "elbo", inference_value(lambda i: np.array(np.mean(
        inference.bernoulli(i["logits"], i["x"]) + inference.log_prior(i["sample"])
        + inference.gaussian(i["mean"], i["log_std"], i["sample"])))), "subtracts it"),
    "the left half": ("10.5", "top_half", inference_value(left_half), "left half"),
    "the likelihood over all pixels": ("10.6", "likelihood", inference_value(
        lambda i: inference.bernoulli(i["logits"], i["x"])), "all 784 pixels"),
    "the joint without the prior": ("10.7", "joint", lambda i, v: {"value": v["joint"]["value"]
                                                                   - inference.log_prior(i["z"].astype(np.float64))},
                                    "log p(z) is missing"),
    "an SVI that never moves": ("10.8", "svi", lambda i, v: {"mean": np.zeros((inference.IMAGES, 2)),
                                                             "log_std": np.zeros((inference.IMAGES, 2))}, "never moved"),
    "an SVI that stops far away": ("10.8", "svi", lambda i, v: {"mean": v["svi"]["mean"] + 1.5,
                                                                "log_std": v["svi"]["log_std"]}, "must be below"),
    "an SVI without - log q (q shrinks)": ("10.8", "svi", lambda i, v: {"mean": v["svi"]["mean"],
                                                                         "log_std": v["svi"]["log_std"] - 1.0},
                                           "keeps - log q"),
    "noise drawn once (q fitted to its few samples)": ("10.8", "svi", lambda i, v: {
        "mean": v["svi"]["mean"] + 0.7 * np.exp(v["svi"]["log_std"]), "log_std": v["svi"]["log_std"]}, "fresh noise"),
    "logits in the bottom half": ("10.9", "inpaint", lambda i, v: {"value": np.concatenate([
        v["inpaint"]["value"][:, :inference.TOP], np.log(v["inpaint"]["value"][:, inference.TOP:]
                                                        / (1 - v["inpaint"]["value"][:, inference.TOP:]))], 1)},
        "holds logits"),
}


def test_the_judges_best_q_is_below_the_grid_bound_and_at_least_as_good_as_the_posteriors_moments(cases):
    """log p(top half) on the grid is above the ELBO of the judge's best Gaussian q, by little; the
    grid posterior's moment-matched Gaussian is no better than it, and q = N(0, I) far worse: the
    scale 10.8's bar sits on."""
    inputs, values, _ = cases["inference"]
    moments, start = (values["svi"]["mean"], values["svi"]["log_std"]), np.zeros((inference.IMAGES, 2))
    fitted, best, prior = inference.svi_gaps(inputs, moments, inference.best_fit(inputs, *moments), (start, start))
    assert 0 < best <= fitted < best + inference.SVI_EXCESS and prior > 20, (fitted, best, prior)


E2E_INFERENCE_ATTACKS = {  # name -> (svi's q on the trained decoder: its shift and narrowing from the best q)
    "the encoder's q of the blanked digits": dict(shift=0.5, narrow=0.5),
    "the encoder's q of a training image found by its top half": dict(shift=0.3, narrow=-1.5),
    "the best q's mean with the prior's spread": dict(narrow=1.6),
}


@pytest.mark.parametrize("attack", E2E_INFERENCE_ATTACKS)
def test_a_q_svi_did_not_infer_on_the_trained_decoder_costs_10_10_to_10_12(attack, cases):
    inputs = cases["e2e_inference"][0]
    verdicts = graded(e2e_inference, *fake_e2e_inference(inputs, **E2E_INFERENCE_ATTACKS[attack]), inputs)
    assert all(fraction == 0 and "best Gaussian q the judge finds" in words for fraction, words in verdicts.values())


def test_a_q_near_the_judges_best_keeps_10_10_to_10_12(cases):
    """Noise drawn once, or a few steps short: q a little off its best costs 10.8 only."""
    inputs = cases["e2e_inference"][0]
    verdicts = graded(e2e_inference, *fake_e2e_inference(inputs, shift=0.1, narrow=-0.2), inputs)
    assert all(fraction == 1 for fraction, _ in verdicts.values()), verdicts


def test_completions_must_beat_the_mean_image_and_tell_the_classifier_more(cases, monkeypatch):
    """10.11 fails completions no better than the mean image; 10.12 compares the classifier's
    reading of the completions with its reading of the mean-image baseline (played here)."""
    inputs, values, facts = cases["e2e_inference"]
    n, labels = e2e_inference.COMPLETED, np.arange(e2e_inference.COMPLETED) % 10

    def reads(right, baseline):  # the classifier, played: `right` of the completions, `baseline` of the
        wrong = (labels + 1) % 10  # others, read as it reads the decoder's image at the judge's code
        return lambda images: np.concatenate([np.where(np.arange(n) < right * n, labels, wrong),
                                              np.where(np.arange(n) < baseline * n, labels, wrong), labels])
    for (right, baseline), expected in [((0.80, 0.60), 1.0), ((0.65, 0.60), 0.5), ((0.55, 0.60), 0.0)]:
        monkeypatch.setattr(e2e_inference.judge_classifier, "classify", reads(right, baseline))
        results, arrays = flatten(values)
        fraction, words = run_check(e2e_inference.TESTS[2], run_of(e2e_inference, inputs, results, arrays, facts))
        assert np.isclose(fraction, expected, atol=0.02) and "completed with the decoder's mean image" in words
    poor = graded(e2e_inference, *fake_e2e_inference(inputs, hint=0.0), inputs)
    assert poor["10.11"][0] == 0 and "no better than the mean image" in poor["10.11"][1], poor
    assert graded(e2e_inference, values, facts, inputs)["10.11"][0] == 1.0


def test_part_10s_pictures_are_drawn_from_the_measured_values(cases):

    inputs, values, facts = cases["e2e_inference"]
    results, arrays = flatten(values)
    pictures = e2e_inference.pictures(run_of(e2e_inference, inputs, results, arrays, facts))
    assert [(title, number) for title, _, _, number in pictures] == [
        ("InferenceVAE: the 2-D latent space by class", "10.10"), ("SVI: the joint and your q for one digit", "10.11"),
        ("SVI: completed digits beside the originals", "10.12")]
    broken = {k: with_nan(v) if k == "grid.logits" else v for k, v in arrays.items()}
    assert [t for t, _, _, _ in e2e_inference.pictures(run_of(e2e_inference, inputs, results, broken, facts))] == [
        "InferenceVAE: the 2-D latent space by class"]


def test_svi_never_sees_the_bottom_halves_it_is_to_predict(cases):
    """The measuring process gives the student's svi the judge's digits, drawn from the trained
    decoder, with their bottom halves set to 0 (an svi that ran the encoder on whole images would
    otherwise read the answer)."""
    inputs = cases["e2e_inference"][0]
    seen = []

    class Endpoints:
        def svi_2d(self, x):
            seen.append(x.copy())
            return np.zeros((len(x), 2)), np.zeros((len(x), 2))

        def decode_2d(self, z):
            return np.tile(np.where(np.arange(inference.D) % 3 == 0, 2.0, -2.0), (len(z), 1)).astype(np.float32)

    measured = e2e_inference.completions(Endpoints(), inputs)
    given, x = np.concatenate(seen), e2e_inference.drawn(inputs["pixels"], measured["drawn"])
    assert len(given) == e2e_inference.COMPLETED and not given[:, inference.TOP:].any()
    assert np.array_equal(given[:, :inference.TOP], x[:, :inference.TOP])
    assert x[:, inference.TOP:].any()  # there was something to hide


BUG_TABLES = {"conv_vae": CONV_BUGS, "mmd": MMD_BUGS, "inference": INFERENCE_BUGS}


@pytest.mark.parametrize("part, bug", [(part, bug) for part, table in BUG_TABLES.items() for bug in table])
def test_each_planted_bug_of_a_table_fails_its_own_test_only(part, bug, cases):
    """CONV_BUGS, MMD_BUGS, INFERENCE_BUGS: each wrong measurement costs its own test, fully, with its words."""
    number, measurement, wrong, words = BUG_TABLES[part][bug]
    inputs, values, facts = cases[part]
    verdicts = graded(BY_NAME[part], {**values, measurement: wrong(inputs, values)}, facts, inputs)
    assert {n for n, (fraction, _) in verdicts.items() if fraction < 1} == {number}, verdicts
    assert verdicts[number][0] == 0 and words in verdicts[number][1], verdicts[number]


def test_huge_figures_in_messages_read_as_numbers():
    """10.8's and the gate's messages: a diverged svi gives 1.452e+16 nats, not 17 digits and 3 decimals."""
    from autograder.judging.kit import figure

    assert figure(14514502917020458.0) == "1.451e+16" and figure(0.0934) == "0.093" and figure(-2.5, 1) == "-2.5"
