"""Part 8 (8.1-8.8): the convolutional VAE of conv_vae.py, untrained.

8.1-8.4 are part 3's checks of the VAE contract, run on ConvVAE. 8.5 reads the exported
graphs: the encoder's first convolution must see the images channels-last, [N, 28, 28, 1],
and the decoder must contain a transposed convolution. 8.6-8.8 trace first_deconv_shape,
log_normal_pdf and mc_loss_function in the student's process and run them in the measuring
process on the judge's secret inputs, against the judge's numpy. mc_loss_function is traced
with the judge's own log_normal_pdf in place of the student's, so that a mistake in
log_normal_pdf costs 8.7 only. The trained ConvVAE is part e2e_conv (8.9).
"""
import numpy as np

from ..kit import Fail, Test, array, bce, close, probe, scalar
from .. import settings
from . import models
from .train_vae import replace_everywhere

NAME = "conv_vae"
FILES = ("vae.py", "conv_vae.py")
N = models.N
CASES = 6  # first_deconv_shape cases per call
LOG_2PI = np.log(2.0 * np.pi)
DRAWS = models.DRAWS
ENCODER_CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative")
TRANSPOSED = "Conv2DBackpropInput"  # what Keras' Conv2DTranspose runs


def make(s):
    return lambda latent: s.conv_vae.ConvVAE(settings.IMAGE_SIZE, latent_size=latent)


def shape_rows(s):
    """first_deconv_shape on each row (img_size, num_deconvs, stride, channels) of a [CASES, 4]
    input, as int32 scalars: [CASES, k], one row per case (k = how many values it returned)."""
    tf = s.tf

    def rows(cases):
        whole = tf.cast(tf.round(cases), tf.int32)
        out = [s.conv_vae.first_deconv_shape(*(whole[k, j] for j in range(4))) for k in range(CASES)]
        return tf.stack([tf.stack([tf.cast(v, tf.float32) for v in tf.nest.flatten(row)]) for row in out])
    return rows


def judge_log_normal_pdf(tf):
    """The judge's log_normal_pdf (what mc_loss_function is traced with): [N, Z] x 3 -> [N]."""
    def log_normal_pdf(sample, mean, logvar):
        squared = tf.square(sample - mean) / tf.exp(logvar)
        return -0.5 * tf.reduce_sum(squared + logvar, axis=1) - 0.5 * LOG_2PI * tf.cast(tf.shape(sample)[1], tf.float32)
    return log_normal_pdf


def build(s, ex, given):
    """Student process: ConvVAE as part 3 builds VAE; then the three functions."""
    models.build(s, ex, False, given, make(s), "ConvVAE")
    z, image = settings.LATENT_SIZE, (N,) + models.IMAGE
    ex.endpoint("deconv_shape", shape_rows(s), [(CASES, 4)],
                "calling first_deconv_shape(img_size, num_deconvs, stride, channels) with int32 scalar tensors")
    ex.endpoint("log_pdf", s.conv_vae.log_normal_pdf, [(N, z)] * 3,
                f"calling log_normal_pdf(sample, mean, logvar) with [{N}, {z}] each")
    replace_everywhere(s.conv_vae.log_normal_pdf, judge_log_normal_pdf(s.tf), s.conv_vae.mc_loss_function)
    ex.endpoint("mc_loss", s.conv_vae.mc_loss_function, [image, image, (N, z), (N, z), (N, z)],
                f"calling mc_loss_function(x_hat, x, z, mu, logvar) with images {list(image)} and [{N}, {z}] codes "
                "(with the grader's log_normal_pdf)")
    ex.save("functions")


def inputs(rng):
    """Part 3's inputs, and: shape cases whose image side is divisible by stride ** num_deconvs;
    Gaussian samples, means and log-variances (from -3 to 2); decoded images and targets."""
    out = models.inputs(rng)
    strides, count = rng.choice([1, 2, 3, 4], CASES), rng.integers(1, 4, CASES)
    strides[:2], count[:2] = rng.choice([2, 3], 2), (3, 2)  # stride ** count differs from stride * count there
    side, channels = rng.integers(1, 8, CASES), rng.choice([1, 8, 16, 32, 64, 128], CASES)
    out["cases"] = np.stack([side * strides ** count, count, strides, channels], 1).astype(np.float32)
    z = settings.LATENT_SIZE
    out["mean"] = rng.normal(scale=1.5, size=(N, z)).astype(np.float32)
    out["logvar_pdf"] = rng.uniform(-3.0, 2.0, (N, z)).astype(np.float32)
    out["sample"] = (out["mean"] + np.exp(0.5 * out["logvar_pdf"]) * rng.normal(size=(N, z)) * 1.5).astype(np.float32)
    out["x_hat_mc"] = rng.uniform(0.02, 0.98, (N,) + models.IMAGE).astype(np.float32)
    out["z_mc"] = rng.normal(scale=1.3, size=(N, z)).astype(np.float32)
    return out


# measuring process ------------------------------------------------------------------

def first_seen(found):
    """(height, width, channels) of the first convolution's input, whatever its data format."""
    kind, layout, shape = found[0]
    if len(shape) != 4 or None in shape:
        return np.array([-1, -1, -1])
    return np.array(shape[2:] + shape[1:2] if layout == "NCHW" else shape[1:])


def convolutions(e, i):
    """What 8.5 needs from the exported encoder and decoder graphs."""
    encoder = [c for c in e.convolutions("encode") if c[0] in ENCODER_CONVOLUTIONS]
    decoder = e.convolutions("decode")
    out = {"encoder_convolutions": len(encoder),
           "decoder_transposed": sum(c[0] == TRANSPOSED for c in decoder)}
    if encoder:
        out["encoder_first"] = first_seen(encoder)
        out["encoder_first_layout"] = f"{encoder[0][2]} ({encoder[0][1]})"
    return out


MEASURES = models.measures(False) + [
    ("convolutions", "reading the convolutions of the exported encoder and decoder", convolutions),
    ("deconv_shape", "calling first_deconv_shape on the judge's cases", lambda e, i: {"value": e.deconv_shape(i["cases"])}),
    ("log_pdf", "calling log_normal_pdf(sample, mean, logvar)",
     lambda e, i: {"value": e.log_pdf(i["sample"], i["mean"], i["logvar_pdf"])}),
    ("mc_loss", "calling mc_loss_function(x_hat, x, z, mu, logvar)",
     lambda e, i: {"value": e.mc_loss(i["x_hat_mc"], i["x"], i["z_mc"], i["mean"], i["logvar_pdf"])}),
]


# checks (judge) -----------------------------------------------------------------------

def log_normal(sample, mean, logvar):
    """log N(sample; mean, diag(exp(logvar))) per row [N], float64."""
    sample, mean, logvar = (np.asarray(v, np.float64) for v in (sample, mean, logvar))
    return -0.5 * ((sample - mean) ** 2 * np.exp(-logvar) + logvar + LOG_2PI).sum(1)


def mc_neg_elbo(i, prior_sign=1.0, posterior_sign=1.0):
    """The one-sample negative ELBO of the judge's inputs (the signs let diagnose() try the usual slips)."""
    z = i["z_mc"]
    log_p = log_normal(z, np.zeros_like(z), np.zeros_like(z))
    log_q = log_normal(z, i["mean"], i["logvar_pdf"])
    return float(np.mean(bce(i["x_hat_mc"].astype(np.float64), i["x"].astype(np.float64))
                         - prior_sign * log_p + posterior_sign * log_q))


def check_convolutions(run, i):
    found = probe(run, "convolutions")
    if not found.get("encoder_convolutions"):
        raise Fail("the exported encoder has no convolution (no Conv2D in its graph): ConvVAE's encoder must be "
                   "convolutional")
    seen = array(run, "convolutions", "encoder_first", (3,), "the first convolution's input")
    if tuple(seen.astype(int)) != (28, 28, 1):
        raise Fail(f"the encoder's first convolution sees its input as {found.get('encoder_first_layout', '?')}, "
                   f"i.e. {int(seen[0])} x {int(seen[1])} pixels with {int(seen[2])} channels; it must see the 28 x 28 "
                   "image with 1 channel. Keras' Conv2D reads [N, height, width, channels]: reshape the images to "
                   "[N, 28, 28, 1] before it (call() hands the encoder [N, 1, 28, 28]).")
    if not found.get("decoder_transposed"):
        raise Fail("the exported decoder has no transposed convolution (Conv2DTranspose): build the decoder from "
                   "Conv2DTranspose layers")
    return 1.0, (f"passed (the encoder's first of {found['encoder_convolutions']} convolution(s) sees [N, 28, 28, 1]; "
                 f"the decoder has {found['decoder_transposed']} transposed convolution(s))")


def check_deconv_shape(run, i):
    cases = i["cases"].astype(int)
    got = array(run, "deconv_shape", "value", None, "first_deconv_shape(...)")
    if got.shape != (CASES, 3):
        raise Fail(f"first_deconv_shape returned {got.shape[-1] if got.ndim == 2 else '?'} value(s) per call; expected "
                   "3: (side, side, channels)")
    side = cases[:, 0] // cases[:, 2] ** cases[:, 1]
    expected = np.stack([side, side, cases[:, 3]], 1)
    for case, row, want in zip(cases, got, expected):
        if not np.allclose(row, want):
            img, count, stride, channels = case
            hint = (" The channels come last (channels-last)." if row[0] == channels else
                    f" Each of the {count} transposed convolutions multiplies the side by {stride}: divide {img} by "
                    f"{stride} ** {count}.")
            raise Fail(f"first_deconv_shape({img}, {count}, {stride}, {channels}) returned {tuple(row.astype(int).tolist())}, "
                       f"expected {tuple(want.tolist())}.{hint}")


def check_log_pdf(run, i):
    expected = log_normal(i["sample"], i["mean"], i["logvar_pdf"])
    got = array(run, "log_pdf", "value", None, "log_normal_pdf(sample, mean, logvar)")
    if got.shape != expected.shape:
        raise Fail(f"log_normal_pdf returned shape {list(got.shape)}, expected [{N}]: one value per row (sum over axis 1)")
    as_std = -0.5 * (((i["sample"] - i["mean"]) / i["logvar_pdf"]) ** 2 + 2 * np.log(np.abs(i["logvar_pdf"])) + LOG_2PI).sum(1)
    known = [(expected + 0.5 * LOG_2PI * i["sample"].shape[1], "the -0.5 * log(2 pi) term is missing"),
             (-expected, "the sign is flipped: a log density is -0.5 * (...)"),
             (as_std, "logvar is used as the standard deviation; it is the log of the variance: sigma^2 = exp(logvar)"),
             (log_normal(i["sample"], i["mean"], 2 * i["logvar_pdf"]),
              "logvar is used as the log of the standard deviation; it is the log of the variance")]
    why = next((words for value, words in known if np.allclose(got, value, rtol=1e-4, atol=1e-3)),
               "check the formula: -0.5 * ((sample - mean)^2 * exp(-logvar) + logvar + log(2 pi)), summed over axis 1")
    close(got, expected, "log_normal_pdf(sample, mean, logvar)", rtol=1e-4, atol=1e-3, hint=why)


def check_mc_loss(run, i):
    expected = mc_neg_elbo(i)
    got = scalar(run, "mc_loss", "value", "mc_loss_function(...)")
    if np.isclose(got, expected, rtol=1e-4, atol=1e-3):
        return
    n = len(i["x"])
    known = [(mc_neg_elbo(i, prior_sign=-1.0), "the sign of log p(z) is flipped: the loss is -(log p(x|z) + log p(z) - log q(z|x))"),
             (mc_neg_elbo(i, posterior_sign=-1.0), "the sign of log q(z|x) is flipped"),
             (expected * n, f"{n}x the expected value: average over the batch, do not sum"),
             (float(np.mean(bce(i["x_hat_mc"], i["x"]))), "only the reconstruction term: add log q(z|x) - log p(z)")]
    why = next((words for value, words in known if np.isclose(got, value, rtol=1e-4, atol=1e-3)), "")
    raise Fail(f"mc_loss_function returned {got:.6g}, expected {expected:.6g} (traced with the grader's log_normal_pdf, "
               f"so your log_normal_pdf is not the cause). {why}".strip())


TESTS = models.tests("8", "ConvVAE", False, (2, 3, 2, 2)) + [
    Test("8.5", "ConvVAE: the encoder convolves the [N,28,28,1] image, the decoder uses transposed convolutions", 3,
         check_convolutions),
    Test("8.6", "first_deconv_shape: the decoder's first transposed-convolution input shape", 3, check_deconv_shape),
    Test("8.7", "log_normal_pdf: the log density of a diagonal Gaussian, per row", 3, check_log_pdf),
    Test("8.8", "mc_loss_function: the one-sample Monte-Carlo negative ELBO, averaged over the batch", 4, check_mc_loss),
]
