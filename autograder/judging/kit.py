"""The judge's toolkit for checks: numpy only, no TensorFlow, no student code.

A check receives the PartRun of its part (what the measuring process computed, plus the
few facts the student process reported) and the judge's inputs, and either returns
(fraction, message) or None for full points, or raises Fail(message). Anything missing,
malformed or non-finite earns nothing.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..config import settings


class Fail(Exception):
    """A failed check; the message is shown to the student."""


@dataclass(frozen=True)
class Test:
    number: str
    name: str
    points: float
    check: Callable
    visibility: str = "visible"  # or hidden / after_due_date / after_published
    extra_credit: bool = False  # its points do not count towards the maximum


NOTES = []  # remarks about accepted forms, added to the current test's "passed" message


def probe(run, name):
    """The result of measurement `name`, or Fail with the reason it has none."""
    reason = run.problem(name)
    if reason:
        raise Fail(reason)
    return run.results[name]


def fact(run, name):
    """What the student's process reported under `name` (structure, or what train_vae
    returned: never a value that earns points on its own), or Fail with the reason it has none."""
    reason = run.fact_problem(name)
    if reason:
        raise Fail(reason)
    return run.facts[name]


def array(run, name, key, shape=None, what=None):
    """Measurement `name`'s array `key` as float64, checked for presence, shape and finiteness."""
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


def images(run, name, key, n, what=None):
    """Measurement `name`'s images `key` as [n, 1, 28, 28]. Any layout of n * 784 values with
    n first ([n, 784], [n, 28, 28], ...) is the same images: reshaped here, and said so."""
    value = array(run, name, key, None, what)
    what = what or key
    if value.shape != (n, 1, 28, 28):
        if value.ndim < 2 or value.shape[0] != n or value.size != n * settings.IMAGE_SIZE:
            per_pixel = value.size // (n * settings.IMAGE_SIZE) if value.size % (n * settings.IMAGE_SIZE) == 0 else 0
            hint = (f": {per_pixel} values per pixel, where an image has one channel (a convolutional decoder's last "
                    "layer needs 1 filter)") if value.shape[0] == n and per_pixel > 1 else ""
            raise Fail(f"{what} has shape {list(value.shape)}, expected {[n, 1, 28, 28]}{hint}")
        note = f"{what} came as {list(value.shape)} and was read as [{n}, 1, 28, 28]"
        if note not in NOTES:
            NOTES.append(note)
        value = value.reshape(n, 1, 28, 28)
    return value


def scalar(run, name, key, what="loss_function(...)"):
    value = array(run, name, key, what=what)
    if value.size != 1:
        raise Fail(f"{what} returned shape {list(value.shape)}, expected a scalar (reduce over the batch)")
    return float(value.reshape(()))


def linear_credit(value, floor, bar, detail):
    """(fraction, message) for a rate `value` that earns full points above `bar`, none at or below
    `floor`, and partial credit linearly between (never full below the bar)."""
    if value > bar:
        return 1.0, detail
    fraction = max(0.0, (value - floor) / (bar - floor))
    return min(fraction, 0.99), f"{detail}; full points need more than {bar:.0%}, partial credit runs linearly from {floor:.0%}"


def falling_credit(value, bar, zero):
    """The fraction earned by a value that gets full points below `bar`, none at or above `zero`,
    and partial credit linearly between (never full at or above the bar): 1.0, (0, 0.99] or 0.0."""
    if value < bar:
        return 1.0
    fraction = (zero - value) / (zero - bar)
    return min(fraction, 0.99) if fraction > 0 else 0.0


def figure(value, digits=3):
    """`value` with `digits` decimals while that reads well, else in 4 significant digits
    (1.452e+16, not 14514502917020458.000)."""
    return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.4g}"


def below_bar(value, bar, zero, detail, advice, form="g", after=""):
    """(fraction, message) for a `value` judged by falling_credit(value, bar, zero): "detail < bar",
    or partial credit saying where it runs to; raises Fail(detail, "it must be below bar" + advice)
    when it earns nothing. `form` formats bar and zero; `after` ends every message."""
    credit, shown = falling_credit(value, bar, zero), format(bar, form)
    if credit == 1.0:
        return 1.0, f"{detail} < {shown}{after}"
    if not credit:
        raise Fail(f"{detail}; it must be below {shown}{advice}{after}")
    return credit, f"{detail}; full points below {shown}, none at {format(zero, form)}{after}"


def close(observed, expected, what, rtol=1e-4, atol=1e-4, hint=""):
    observed, expected = np.asarray(observed), np.asarray(expected)
    if observed.shape != expected.shape:
        raise Fail(f"{what} has shape {list(observed.shape)}, expected {list(expected.shape)}")
    if not np.allclose(observed, expected, rtol=rtol, atol=atol):
        worst = np.max(np.abs(np.asarray(observed) - expected))
        raise Fail(f"{what}: expected {np.ravel(expected)[:3]}..., got {np.ravel(observed)[:3]}... "
                   f"(largest difference {worst:.4g}, tolerance {rtol:g} relative). {hint}".strip())


def in_unit_interval(value, what):
    if value.min() < -1e-6 or value.max() > 1 + 1e-6:
        raise Fail(f"{what} has values in [{value.min():.3g}, {value.max():.3g}], expected [0, 1] "
                   "(end the decoder with a sigmoid)")


def bce(x_hat, x):
    """Binary cross-entropy per image [N], summed over pixels (x_hat clipped as bce_function does)."""
    p = np.clip(x_hat, 1e-7, 1 - 1e-7).reshape(len(x), -1)
    x = x.reshape(len(x), -1)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)


def sigmoid(logits):
    """1 / (1 + exp(-logits)), elementwise, without overflow for any logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per row [N]."""
    return 0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar).sum(1)


def neg_elbo(x_hat, x, mu, logvar):
    """The expected value of loss_function: mean over the batch of BCE + KL."""
    return float(np.mean(bce(x_hat, x) + kl(mu, logvar)))


def one_hot(labels, classes=settings.NUM_CLASSES):
    """Integer labels [N] -> float32 one-hot [N, classes]."""
    return np.eye(classes, dtype=np.float32)[labels]


def relative_change(base, changed, reference):
    """How much `changed` differs from `base`, relative to how much `reference` does:
    mean |changed - base| / mean |reference - base| (0 when nothing changes)."""
    scale = np.mean(np.abs(reference - base))
    return float(np.mean(np.abs(changed - base)) / scale) if scale > 0 else 0.0
