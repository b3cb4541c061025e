"""Part 1: reparameterize(mu, logvar) -> z = mu + exp(0.5 * logvar) * eps, eps ~ N(0, I)."""
import numpy as np

from ..judging.kit import Fail, Test, array, close, probe

NAME = "reparameterize"
FILES = ("vae.py",)
BIG, SMALL = (20000, 6), (64, 6)  # 20,000 samples per column for the statistics; 64 x 6 otherwise
DRAWS = ("big", "small")  # the endpoints that may draw random numbers (measuring.Endpoints)


def build(s, ex, given):
    """Student process: trace reparameterize with the two input shapes the judge uses."""
    for name, shape in (("big", BIG), ("small", SMALL)):
        ex.endpoint(name, s.vae.reparameterize, [shape, shape],
                    f"calling reparameterize(mu, logvar) with mu, logvar {list(shape)}")
    ex.save("functions")


def inputs(rng):
    """The judge's secret mu and logvar: one (mu, logvar) pair per column of BIG."""
    columns_mu = np.sort(rng.uniform(-3.0, 3.0, BIG[1])).astype(np.float32)
    columns_logvar = np.sort(rng.uniform(-2.0, 1.5, BIG[1])).astype(np.float32)
    return {"mu": np.tile(columns_mu, (BIG[0], 1)), "logvar": np.tile(columns_logvar, (BIG[0], 1)),
            "mu_small": rng.normal(size=SMALL).astype(np.float32),
            "logvar_small": rng.normal(scale=0.5, size=SMALL).astype(np.float32)}


def gradients(e, i):
    tf = e.tf
    mu, logvar = tf.constant(i["mu_small"]), tf.constant(i["logvar_small"])
    with tf.GradientTape() as recorder:
        recorder.watch([mu, logvar])
        z = e.function("small")(mu, logvar)
        total = tf.reduce_sum(z)
    grad_mu, grad_logvar = recorder.gradient(total, [mu, logvar])
    out = {"z": np.asarray(z), "mu_reached": grad_mu is not None, "logvar_reached": grad_logvar is not None}
    if grad_mu is not None:
        out["grad_mu"] = np.asarray(grad_mu)
    if grad_logvar is not None:
        out["grad_logvar"] = np.asarray(grad_logvar)
    return out


MEASURES = [
    ("sample", "sampling 20,000 z per (mu, logvar)", lambda e, i: {"z": e.big(i["mu"], i["logvar"])}),
    ("again", "calling reparameterize twice with the same mu, logvar [64, 6]",
     lambda e, i: {"first": e.small(i["mu_small"], i["logvar_small"]),
                   "second": e.small(i["mu_small"], i["logvar_small"])}),
    ("grad", "taking gradients of sum(reparameterize(mu, logvar))", gradients),
]


def reparam_shape(run, i):
    array(run, "sample", "z", i["mu"].shape, "reparameterize(mu, logvar)")


def reparam_statistics(run, i):
    z = array(run, "sample", "z", i["mu"].shape, "reparameterize(mu, logvar)")
    mu, std = i["mu"][0], np.exp(0.5 * i["logvar"][0])
    mean, spread = z.mean(0), z.std(0)
    sem = std / np.sqrt(len(z))
    if np.any(np.abs(mean - mu) > 5 * sem + 1e-3):
        raise Fail(f"sample means {np.round(mean, 3)} should be mu {np.round(mu, 3)} "
                   "(is mu added to sigma * eps?)")
    if np.any(np.abs(spread / std - 1) > 0.05):
        raise Fail(f"sample stds {np.round(spread, 3)} should be exp(0.5 * logvar) = {np.round(std, 3)}"
                   " (sigma is exp(0.5 * logvar), not exp(logvar) or logvar)")


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


def reparam_random(run, i):
    first = array(run, "again", "first", i["mu_small"].shape)
    second = array(run, "again", "second", i["mu_small"].shape)
    if np.allclose(first, second):
        raise Fail("two calls with the same mu and logvar returned the same z: draw a new eps "
                   "(tf.random.normal) inside every call")
    mu = i["mu_small"].ravel()
    if min(np.corrcoef(first.ravel(), mu)[0, 1], np.corrcoef(second.ravel(), mu)[0, 1]) < 0.3:
        raise Fail("the samples are not centred on mu (z = mu + sigma * eps)")


TESTS = [
    Test("1.1", "reparameterize: output shape", 2, reparam_shape),
    Test("1.2", "reparameterize: samples have mean mu and std exp(0.5 * logvar)", 3, reparam_statistics),
    Test("1.3", "reparameterize: gradients reach mu and logvar", 3, reparam_gradients),
    Test("1.4", "reparameterize: each call draws fresh noise", 2, reparam_random),
]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("1.1–1.4", "`reparameterize`",
     "output shape; 20,000 samples have mean `mu` and std `exp(0.5·logvar)`; gradients reach `mu` (1) and"
     " `logvar` (`0.5·(z−mu)`); two calls draw different noise"),
]
