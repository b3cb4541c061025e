"""The rubric: every test with its number, points, visibility and check, side by side.

A check receives the StageRun of its stage and the inputs the judge gave that stage,
and returns (fraction of the points earned, message). It runs in the judge's process
on values the student process handed over; anything missing, malformed or non-finite
earns nothing. A check signals failure by raising Fail(message).
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import genuine, judge_classifier, settings
from .probes import NEEDS


class Fail(Exception):
    """A failed check; the message is shown to the student."""


@dataclass(frozen=True)
class Test:
    number: str
    name: str
    points: float
    stage: str
    check: Callable
    visibility: str = "visible"  # or hidden / after_due_date / after_published


TESTS = []


def test(number, name, points, stage, visibility="visible"):
    def register(check):
        TESTS.append(Test(number, name, points, stage, check, visibility))
        return check
    return register


# helpers -----------------------------------------------------------------------

def probe(run, name):
    """The report of probe `name`, or Fail with the reason it has none."""
    if run.problem(name):
        raise Fail(run.problem(name))
    if name in NEEDS:
        probe(run, NEEDS[name])
    report = run.report.get(name)
    if report is None:
        raise Fail(f"the grader's '{name}' step did not run (your code stopped the stage early)")
    if not report.get("ok"):
        raise Fail(str(report.get("error", "failed")))
    return report


def array(run, name, key, shape=None, what=None):
    """Probe `name`'s array `key` as float64, checked for presence, shape and finiteness."""
    probe(run, name)
    what = what or key
    value = run.arrays.get(f"{name}.{key}")
    if value is None or value.dtype.kind not in "fiub":
        raise Fail(f"{what}: no numeric value came back")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise Fail(f"{what} has shape {list(value.shape)}, expected {list(shape)}")
    if not np.all(np.isfinite(value)):
        raise Fail(f"{what} contains NaN or inf")
    return value.astype(np.float64)


NOTES = []  # remarks about accepted forms, added to the current test's "passed" message


def images(run, name, key, n, what=None):
    """Probe `name`'s images `key` as [n, 1, 28, 28]. Any layout of n * 784 values with n
    first ([n, 784], [n, 28, 28], ...) is the same images: reshaped here, and said so."""
    value = array(run, name, key, None, what)
    what = what or key
    if value.shape != (n, 1, 28, 28):
        if value.ndim < 2 or value.shape[0] != n or value.size != n * settings.IMAGE_SIZE:
            raise Fail(f"{what} has shape {list(value.shape)}, expected {[n, 1, 28, 28]}")
        note = f"{what} came as {list(value.shape)} and was read as [{n}, 1, 28, 28]"
        if note not in NOTES:
            NOTES.append(note)
        value = value.reshape(n, 1, 28, 28)
    return value


def close(observed, expected, what, rtol=1e-4, atol=1e-4, hint=""):
    if not np.allclose(observed, expected, rtol=rtol, atol=atol):
        worst = np.max(np.abs(np.asarray(observed) - expected))
        raise Fail(f"{what}: expected {np.ravel(expected)[:3]}..., got {np.ravel(observed)[:3]}... "
                   f"(largest difference {worst:.4g}, tolerance {rtol:g} relative). {hint}".strip())


def bce(x_hat, x):
    """Binary cross-entropy per image [N], summed over pixels (x_hat clipped as bce_function does)."""
    p = np.clip(x_hat, 1e-7, 1 - 1e-7).reshape(len(x), -1)
    x = x.reshape(len(x), -1)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)


def kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per row [N]."""
    return 0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar).sum(1)


def neg_elbo(x_hat, x, mu, logvar):
    """The expected value of loss_function: mean over the batch of BCE + KL."""
    return float(np.mean(bce(x_hat, x) + kl(mu, logvar)))


def stand_in_loss(x_hat, x, mu, logvar):
    """Per-image values of probes.stand_in_loss (the loss train_vae is given in part 5)."""
    n = len(x)
    return (((x_hat - x) ** 2).reshape(n, -1).sum(1) + (mu ** 2).sum(1) + (logvar ** 2).sum(1))


def in_unit_interval(value, what):
    if value.min() < -1e-6 or value.max() > 1 + 1e-6:
        raise Fail(f"{what} has values in [{value.min():.3g}, {value.max():.3g}], expected [0, 1] "
                   "(end the decoder with a sigmoid)")


# 1. reparameterize -----------------------------------------------------------------

@test("1.1", "reparameterize: output shape", 2, "reparameterize")
def reparam_shape(run, i):
    array(run, "sample", "z", i["mu"].shape, "reparameterize(mu, logvar)")


@test("1.2", "reparameterize: samples have mean mu and std exp(0.5 * logvar)", 3, "reparameterize")
def reparam_statistics(run, i):
    z = array(run, "sample", "z", i["mu"].shape, "reparameterize(mu, logvar)")
    mu, std = i["mu"][0], np.exp(0.5 * i["logvar"][0])
    mean, spread = z.mean(0), z.std(0)
    sem = std / np.sqrt(len(z))
    if np.any(np.abs(mean - mu) > 5 * sem + 1e-3):
        raise Fail(f"sample means {np.round(mean, 3)} should be mu {mu} "
                   "(is mu added to sigma * eps?)")
    if np.any(np.abs(spread / std - 1) > 0.05):
        raise Fail(f"sample stds {np.round(spread, 3)} should be exp(0.5 * logvar) = {np.round(std, 3)}"
                   " (sigma is exp(0.5 * logvar), not exp(logvar) or logvar)")


@test("1.3", "reparameterize: gradients reach mu and logvar", 3, "reparameterize")
def reparam_gradients(run, i):
    report = probe(run, "grad")
    if not (report.get("mu_reached") and report.get("logvar_reached")):
        missing = [k for k in ("mu", "logvar") if not report.get(f"{k}_reached")]
        raise Fail(f"no gradient flows to {' and '.join(missing)}: build z from mu and logvar "
                   "with TensorFlow ops (no numpy, no tf.stop_gradient)")
    z = array(run, "grad", "z", i["mu_small"].shape)
    close(array(run, "grad", "grad_mu"), np.ones_like(z), "d sum(z) / d mu")
    close(array(run, "grad", "grad_logvar"), 0.5 * (z - i["mu_small"]), "d sum(z) / d logvar",
          hint="it should be 0.5 * sigma * eps")


@test("1.4", "reparameterize: each call draws fresh noise", 2, "reparameterize")
def reparam_random(run, i):
    first = array(run, "again", "first", i["mu_small"].shape)
    second = array(run, "again", "second", i["mu_small"].shape)
    if np.allclose(first, second):
        raise Fail("two calls with the same mu and logvar returned the same z: draw a new eps "
                   "(tf.random.normal) inside every call")
    mu = i["mu_small"].ravel()
    if min(np.corrcoef(first.ravel(), mu)[0, 1], np.corrcoef(second.ravel(), mu)[0, 1]) < 0.3:
        raise Fail("the samples are not centred on mu (z = mu + sigma * eps)")


# 2. loss_function ---------------------------------------------------------------------

def scalar(run, name, key, what="loss_function(...)"):
    value = array(run, name, key, what=what)
    if value.size != 1:
        raise Fail(f"{what} returned shape {list(value.shape)}, expected a scalar (reduce over the batch)")
    return float(value.reshape(()))


@test("2.1", "loss_function: equals summed BCE + KL, averaged over the batch", 7, "loss")
def loss_closed_form(run, i):
    expected = neg_elbo(i["x_hat"], i["x"], i["mu"], i["logvar"])
    got = scalar(run, "value", "value")
    parts = bce(i["x_hat"], i["x"]).mean(), kl(i["mu"], i["logvar"]).mean()
    close(got, expected, "loss", hint=f"(mean BCE {parts[0]:.2f} + mean KL {parts[1]:.2f}; "
          "check the KL sign and the 0.5 factor)")


@test("2.2", "loss_function: averaged over the batch, not summed", 4, "loss")
def loss_batch_mean(run, i):
    once, twice = scalar(run, "value", "value"), scalar(run, "doubled", "value")
    if not once > 0.5 * bce(i["x_hat"], i["x"]).mean():
        raise Fail(f"the loss {once:.4g} is far below the reconstruction term alone "
                   f"({bce(i['x_hat'], i['x']).mean():.4g} per image): use bce_function(x_hat, x)")
    if not np.isclose(once, twice, rtol=1e-4):
        raise Fail(f"the loss of a batch repeated twice was {twice:.4g}, but {once:.4g} for the batch "
                   f"alone (ratio {twice / once if once else float('nan'):.3g}); divide the sum by the batch size")


@test("2.3", "loss_function: the KL term vanishes exactly at mu = 0, logvar = 0", 4, "loss")
def loss_kl_zero(run, i):
    recon = bce(i["x_hat"], i["x"]).mean()
    close(scalar(run, "kl", "prior"), recon, "loss at mu = 0, logvar = 0 (should be the BCE term alone)")
    zeros = np.zeros_like(i["mu"])
    for key, mu, logvar in (("mu_only", i["mu"], zeros), ("logvar_only", zeros, i["logvar"])):
        got = scalar(run, "kl", key)
        if got <= recon + 1e-3:
            raise Fail(f"with {key.replace('_only', '')} away from 0 the loss ({got:.4g}) should exceed "
                       f"the BCE term ({recon:.4g}): the KL term must be positive")
        close(got, recon + kl(mu, logvar).mean(), f"loss with only {key.replace('_only', '')} nonzero")


# 3-4. VAE and CVAE ------------------------------------------------------------------------

def check_attributes(run):
    report = probe(run, "build")
    missing = [name for name in ("encoder", "mu_layer", "logvar_layer", "decoder")
               if not report.get(f"has_{name}")]
    if missing:
        raise Fail(f"missing or not callable: self.{', self.'.join(missing)} (define them in __init__)")


def check_forward(run, i, latent=settings.LATENT_SIZE, probe_name="forward", pieces_name="pieces"):
    """Shapes and range of call()'s outputs; its mu and logvar must be what mu_layer and
    logvar_layer give for the same images (both are deterministic)."""
    n = len(i["x"])
    x_hat = images(run, probe_name, "x_hat", n, "x_hat")
    for key in ("mu", "logvar"):
        value = array(run, probe_name, key, (n, latent), key)
        via_layers = array(run, pieces_name, key, (n, latent), f"{key}_layer(encoder(x))")
        close(value, via_layers, f"call()'s {key} against {key}_layer(encoder(flattened x))",
              rtol=1e-3, atol=1e-4, hint=f"call() must use self.encoder and self.{key}_layer")
    in_unit_interval(x_hat, "x_hat")


def check_pieces(run, i, conditional, latent=settings.LATENT_SIZE, probe_name="pieces"):
    n = len(i["x"])
    inputs = f"[N, 784{' + 10' if conditional else ''}]"
    array(run, probe_name, "mu", (n, latent), f"mu_layer(encoder(x)) for x of shape {inputs}")
    array(run, probe_name, "logvar", (n, latent), f"logvar_layer(encoder(x)) for x of shape {inputs}")
    decoded = images(run, probe_name, "decoded", n,
                     f"decoder(z) for z of shape [N, {latent}{' + 10' if conditional else ''}]")
    in_unit_interval(decoded, "decoder's output")


def check_sampling(run, i, conditional):
    """call()'s x_hat must be distributed like decoder(concat([mu + sigma * eps, c])) with
    fresh eps: the means over K draws of the two may differ only as much as K samples
    allow (their squared difference, relative to its expected size, stays near 1)."""
    stats = {k: array(run, "distribution", k) for k in ("call_mean", "call_var", "decoder_mean", "decoder_var")}
    repeats = int(i["repeats"])
    noise = ((stats["call_var"] + stats["decoder_var"]) / repeats).sum() + 1e-12
    ratio = float(((stats["call_mean"] - stats["decoder_mean"]) ** 2).sum() / noise)
    if ratio > settings.SAMPLING_RATIO:
        decoded = "decoder(concat([z, c]))" if conditional else "decoder(z)"
        raise Fail(f"call()'s x_hat is not distributed like {decoded} with z = reparameterize(mu, logvar): "
                   f"over {repeats} draws per image their means differ {ratio:.1f} times more than "
                   f"sampling noise explains (at most {settings.SAMPLING_RATIO:g} passes). "
                   + ("Does call() give the decoder concat([z, c]) with the same c?" if conditional
                      else "Does call() decode the sampled z (not mu)?"))
    return ratio


def model_tests(base, model, stage, conditional, points):
    """Register the shared VAE/CVAE tests (3.x or 4.x) with the given points."""
    shape = "x, c" if conditional else "x"
    test(f"{base}.1", f"{model}: has encoder, mu_layer, logvar_layer, decoder", points[0], stage)(
        lambda run, i: check_attributes(run))
    def forward(run, i):
        check_forward(run, i)
        ratio = check_sampling(run, i, conditional)
        return 1.0, f"passed (x_hat against decoder(z): sampling ratio {ratio:.2f} <= {settings.SAMPLING_RATIO:g})"
    test(f"{base}.2", f"{model}: call({shape}) returns x_hat [N,1,28,28] in [0,1], mu and logvar [N,Z]",
         points[1], stage)(forward)
    test(f"{base}.3", f"{model}: encoder, mu_layer, logvar_layer and decoder work on their own",
         points[2], stage)(lambda run, i: check_pieces(run, i, conditional))

    def other_latent(run, i):
        latent = i["z_small"].shape[1]
        check_forward(run, i, latent, "latent", "latent_pieces")
        check_pieces(run, i, conditional, latent, "latent_pieces")
    test(f"{base}.4", f"{model}: works with latent_size=7", points[3], stage)(other_latent)


model_tests("3", "VAE", "vae", False, (3, 5, 4, 3))
model_tests("4", "CVAE", "cvae", True, (2, 4, 3, 2))


@test("4.5", "CVAE: the decoder's output depends on c", 2, "cvae")
def cvae_decoder_c(run, i):
    a, b = (images(run, "decoder_c", f"decoded_{k}", len(i["x"]), "decoder's output") for k in ("c", "c_other"))
    if np.max(np.abs(a - b)) < 1e-5:
        raise Fail("decoder(concat([z, c])) gave the same image for different c: the decoder's "
                   "first layer must see the one-hot vector")


@test("4.6", "CVAE: the encoder's output depends on c", 2, "cvae")
def cvae_encoder_c(run, i):
    shape = (len(i["x"]), settings.LATENT_SIZE)
    a, b = (array(run, "encoder_c", f"mu_{k}", shape) for k in ("c", "c_other"))
    if np.max(np.abs(a - b)) < 1e-6:
        raise Fail("mu_layer(encoder(concat([x, c]))) did not change with c: the encoder's first "
                   "layer must see the one-hot vector")


# 5. train_vae ----------------------------------------------------------------------------

def expected_sum(run, name, i):
    """Sum over batches of the stand-in loss's batch mean, from the (unchanged) model's outputs."""
    n = len(i["images"])
    x = i["images"][:, None].astype(np.float64) / 255.0
    per_image = stand_in_loss(array(run, name, "x_hat", (n, 1, 28, 28)), x,
                              array(run, name, "mu"), array(run, name, "logvar"))
    size = int(i["batch_size"])
    return sum(per_image[s:s + size].mean() for s in range(0, n, size))


def check_sum(run, i, name, is_cvae):
    report = probe(run, name)
    if "value" not in report:
        shape = f" of shape {report['shape']}" if report.get("shape") else ""
        raise Fail(f"train_vae returned a {report.get('type')}{shape}; expected one number, the sum of "
                   "the batch losses (e.g. return float(total))")
    expected = expected_sum(run, name, i)
    got = report["value"]
    if not np.isclose(got, expected, rtol=1e-3):
        batches = -(-len(i["images"]) // int(i["batch_size"]))
        hint = (" It looks like the mean, not the sum." if np.isclose(got * batches, expected, rtol=1e-3)
                else " Use one_hot(labels, 10) as c." if is_cvae else "")
        raise Fail(f"train_vae returned {got:.6g}; the sum of the {batches} batch losses is "
                   f"{expected:.6g}.{hint}")


@test("5.1", "train_vae: returns the sum of the batch losses as a float", 5, "train_vae")
def train_returns_sum(run, i):
    check_sum(run, i, "sum", False)


@test("5.2", "train_vae: applies one optimizer step per batch", 4, "train_vae")
def train_updates(run, i):
    before, after = array(run, "update", "before"), array(run, "update", "after", None)
    if before.shape != after.shape or np.max(np.abs(after - before)) < 1e-7:
        raise Fail("the model's weights did not change: call model.optimizer.apply_gradients")
    steps, batches = probe(run, "update").get("steps"), -(-len(i["images"]) // int(i["batch_size"]))
    if steps != batches:
        raise Fail(f"model.optimizer took {steps} steps for {batches} batches; expected one per batch")


@test("5.3", "train_vae: lowers the loss on a small fixed subset", 3, "train_vae")
def train_lowers(run, i):
    x = i["images"][:, None].astype(np.float64) / 255.0
    losses = {}
    for when in ("before", "after"):
        parts = [array(run, "lower", f"{when}_{k}") for k in ("x_hat", "mu", "logvar")]
        losses[when] = stand_in_loss(parts[0], x, *parts[1:]).mean()
    if not losses["after"] < 0.9 * losses["before"]:
        raise Fail(f"after {int(i['epochs'])} epochs the loss went from {losses['before']:.4g} to "
                   f"{losses['after']:.4g}; expected a drop of 10% or more (descend the gradient of the loss)")


@test("5.4", "train_vae: trains a CVAE with one-hot labels", 3, "train_vae")
def train_cvae(run, i):
    check_sum(run, i, "cvae_sum", True)


# 6. end to end --------------------------------------------------------------------------

def mnist():
    """The judge's own copy of MNIST (uint8)."""
    with np.load(settings.MNIST_NPZ) as data:
        return {k: data[k] for k in data.files}


def judged_loss(run, i):
    """The trained model's mean loss per image on the first test images, computed here."""
    n = len(i["eps"])
    mu = array(run, "evaluate", "mu", (n, settings.LATENT_SIZE))
    logvar = array(run, "evaluate", "logvar", (n, settings.LATENT_SIZE))
    shuffled = images(run, "evaluate", "x_hat_shuffled", n, "decoder's output")
    x_hat = np.empty_like(shuffled)
    x_hat[i["order"]] = shuffled
    x = mnist()["x_test"][:n, None].astype(np.float64) / 255.0
    return neg_elbo(x_hat, x, mu, logvar)


def check_e2e_loss(run, i, model):
    report = probe(run, "train")
    reported = run.arrays.get("train.reported", np.array([]))
    batches = report.get("num_batches") or 1
    loss = judged_loss(run, i)
    said = f" (train_vae's own last epoch: {reported[-1] / batches:.1f})" if len(reported) else ""
    if not loss < settings.LOSS_THRESHOLD:
        raise Fail(f"after {settings.EPOCHS} epochs your {model}'s loss per image on "
                   f"{len(i['eps'])} test images is {loss:.1f}; it must be below "
                   f"{settings.LOSS_THRESHOLD:.0f}{said}. Check the loss, the learning rate use "
                   "and that every batch is trained on.")
    return 1.0, f"loss per image {loss:.1f} < {settings.LOSS_THRESHOLD:.0f}{said}"


@test("6.1", f"VAE trained {settings.EPOCHS} epochs reaches loss < {settings.LOSS_THRESHOLD:.0f}", 8, "e2e_vae")
def e2e_vae_loss(run, i):
    return check_e2e_loss(run, i, "VAE")


@test("6.2", f"CVAE trained {settings.EPOCHS} epochs reaches loss < {settings.LOSS_THRESHOLD:.0f}", 8, "e2e_cvae")
def e2e_cvae_loss(run, i):
    return check_e2e_loss(run, i, "CVAE")


@test("6.3", f"CVAE trained {settings.GENERATION_EPOCHS} epochs generates digits the judge "
      "classifier recognises (> 90%)", 14, "e2e_cvae")
def e2e_generation(run, i):
    probe(run, "train_more")
    drawn = images(run, "generate", "images", len(i["gen_labels"]), "generated images")
    in_unit_interval(drawn, "generated images")
    genuine.check(drawn, i["gen_labels"], mnist(), Fail)
    predicted = judge_classifier.classify(drawn.astype(np.float32))
    accuracy = float(np.mean(predicted == i["gen_labels"]))
    per_class = [float(np.mean(predicted[i["gen_labels"] == d] == d)) for d in range(settings.NUM_CLASSES)]
    detail = (f"{accuracy:.1%} of {len(predicted)} generated digits recognised as the requested digit "
              f"(per digit: {', '.join(f'{d}: {a:.0%}' for d, a in enumerate(per_class))})")
    if accuracy > settings.ACCURACY_BAR:
        return 1.0, detail
    fraction = max(0.0, (accuracy - settings.ACCURACY_FLOOR) / (settings.ACCURACY_BAR - settings.ACCURACY_FLOOR))
    return min(fraction, 0.99), (f"{detail}; full points need more than {settings.ACCURACY_BAR:.0%}, "
                                 f"partial credit runs linearly from {settings.ACCURACY_FLOOR:.0%}")


STAGE_ORDER = ("reparameterize", "loss", "vae", "cvae", "train_vae", "e2e_vae", "e2e_cvae")
TOTAL = sum(t.points for t in TESTS)
