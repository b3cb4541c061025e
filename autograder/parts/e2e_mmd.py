"""Part 9 (9.4-9.5, extra credit): vae.py's VAE trained with mmd.py's loss by the student's own
train_vae, unchanged: in the student's process every name bound to loss_function means
mmd_training_loss while it trains (and mmd_training_loss's own calls of loss_function, if it
makes any, still reach loss_function). mmd is the judge's there, as in 9.3, so that 9.1-9.2's
slips cost 9.1-9.2 only; the loss, its codes, its prior samples and the training are the student's.

The measuring process encodes and decodes the judge's secret images as 6.1 does (with the
class-mean walks of part 7 in the same shuffled calls, for the report), with this model and
with the KL model 6.1 trained (USES, for the report's comparison only). 9.4 is the mean BCE of
the reconstructions of the changed test images; 9.5 the judge's MMD between the codes
z = mu + sigma * eps of the unchanged images (the data's aggregate, which the MMD term matches
to the prior: turned images' codes sit outside it for every model) and the judge's samples of
N(0, I), counted only while 9.4 earns credit (codes of a model that does not reconstruct say
nothing). Both count only when the training loss, exported too, is an MMD loss that training
feels: it gives two values for the same inputs (it draws its prior samples), and the gradient
the judge takes of it in the measuring process, with respect to the codes of a judge's batch,
shows an MMD term (mmd_force): a code is pushed outward, towards N(0, I), harder when the rest
of the batch crowds near the origin than when the rest is spread, which no per-image term
(KL, a constant or random offset) can do, and no term without a gradient (multiplied by 0, on
tf.stop_gradient'ed codes); and the loss as a whole pushes crowded codes outward, so no KL
term left in it outweighs the MMD term.
"""
import numpy as np

from ..outputs.drawing import image_rows, latent_scatter
from ..judging.kit import Fail, Test, array, bce, below_bar, fact, scalar
from ..config import settings
from ..isolation.steps import Step
from . import end_to_end, explore, models
from . import mmd as unit

NAME = "e2e_mmd"
FILES = ("vae.py", "mmd.py", "assignment.py")
USES = "e2e_vae"  # the KL model, drawn beside this one in the report
USED_ENDPOINTS = ("encode", "decode")
NO_HOST = "there is no KL model to compare with: the training of 6.1 (part e2e_vae) did not finish and export one"
EPOCHS = settings.EPOCHS
TRAINING_SHARE = 0.2  # of the training budget (scaled with the others' when they add up to more than 1): 5 dense epochs
SUFFIX = "_mmd"  # this part's endpoints: encode_mmd, decode_mmd (encode, decode are the KL model's)
DRAWS = ("training_loss",)  # mmd_training_loss draws eps and prior_z
N = 64  # the batch mmd_training_loss is called on by the judge
PROBE = 32  # of those, the codes whose gradient mmd_force reads; the other N - PROBE crowd or spread
CROWDED, SPREAD = 0.3, 1.5  # the scales of the judge's codes: probe and crowded rest, spread rest
PROBE_LOGVAR = -16.0  # q's log-variance on the probe batches: z = mu to 3e-4
CALLS = 4  # calls of mmd_training_loss per batch (it draws new samples each time)
MIN_WEIGHT = 0.5  # mmd_force: at least a weight-0.5 MMD term's push at bandwidth sqrt(Z) (weight 1 reads 0.92-1.07)


def reentrant_swap(original, replacement):
    """A function that is `replacement`, except inside its own call, where it is `original`: so
    an mmd_training_loss that calls loss_function (now bound to this) calls the KL loss."""
    active = []

    def swapped(*args, **kwargs):
        if active:
            return original(*args, **kwargs)
        active.append(True)
        try:
            return replacement(*args, **kwargs)
        finally:
            active.pop()
    return swapped


def build(s, ex, given):
    """Student process: train vae.py's VAE with mmd_training_loss through train_vae, export it."""
    from .train_vae import replace_everywhere

    replace_everywhere(s.mmd.mmd, getattr(s.judges, "mmd", None), s.mmd.mmd_loss_function)
    training = reentrant_swap(s.vae.loss_function, s.mmd.mmd_training_loss)
    replace_everywhere(s.vae.loss_function, training, s.assignment.train_vae)
    end_to_end.build(s, ex, False, given, epochs=EPOCHS, suffix=SUFFIX)
    z, image = settings.LATENT_SIZE, (N,) + models.IMAGE
    ex.endpoint("training_loss", training, [image, image, (N, z), (N, z)],
                f"calling mmd_training_loss(x_hat, x, mu, logvar) with images {list(image)} and [{N}, {z}] codes")
    ex.save("training_loss")


BUILD_STEPS = (Step(build, unit.JUDGED, "mmd"),)  # with the judge's mmd (steps.py)


def inputs(rng):
    """6.1's secret images, noise and decoding order with part 7's walks; the judge's prior samples."""
    z = settings.LATENT_SIZE
    return {**explore.inside_inputs(rng), "prior": rng.normal(size=(settings.EVAL_IMAGES, z)).astype(np.float32),
            "loss_x_hat": rng.uniform(0.05, 0.95, (N,) + models.IMAGE).astype(np.float32),
            "loss_x": rng.beta(0.3, 0.3, (N,) + models.IMAGE).astype(np.float32),
            "loss_mu": rng.normal(size=(N, z)).astype(np.float32),
            "loss_logvar": rng.uniform(-2.0, 0.0, (N, z)).astype(np.float32),
            "probe": (CROWDED * rng.normal(size=(PROBE, z))).astype(np.float32),
            "crowded": (CROWDED * rng.normal(size=(N - PROBE, z))).astype(np.float32),
            "spread": (SPREAD * rng.normal(size=(N - PROBE, z))).astype(np.float32)}


def training_losses(e, i):
    """mmd_training_loss twice on the same judge's batch."""
    batch = [i[f"loss_{k}"] for k in ("x_hat", "x", "mu", "logvar")]
    return {"first": e.training_loss(*batch), "second": e.training_loss(*batch)}


def pushes(e, i):
    """How hard mmd_training_loss pushes the judge's probe codes outward: -sum_i d loss / d mu_i . mu_i
    over the PROBE codes, by the judge's gradient of the exported loss, on a batch whose other codes
    crowd near the origin and on one whose other codes are spread (CALLS values each)."""
    tf, function = e.tf, e.function("training_loss")
    x_hat, x = tf.constant(i["loss_x_hat"]), tf.constant(i["loss_x"])
    logvar = tf.constant(np.full((N, settings.LATENT_SIZE), PROBE_LOGVAR, np.float32))
    out = {}
    for rest in ("crowded", "spread"):
        mu = tf.constant(np.concatenate([i["probe"], i[rest]]))
        values = []
        for _ in range(CALLS):
            with tf.GradientTape() as recorder:
                recorder.watch(mu)
                loss = function(x_hat, x, mu, logvar)
            gradient = recorder.gradient(loss, mu, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            values.append(-float(np.sum(np.asarray(gradient, np.float64)[:PROBE] * i["probe"])))
        out[rest] = np.array(values)
    return out


REPORT_ONLY = ("kl",)  # measured for the report's comparison; no test is graded on it
MEASURES = [
    ("evaluate", "encoding and decoding the judge's test images with your VAE trained with the MMD loss",
     lambda e, i: explore.inside(e, i, SUFFIX)),
    ("kl", "encoding and decoding them with the VAE 6.1 trained (the KL model), for the report",
     lambda e, i: explore.inside(e, i)),
    ("training_loss", "calling mmd_training_loss twice on the same batch", training_losses),
    ("push", "taking gradients of mmd_training_loss with respect to mu on the judge's batches", pushes),
]


# checks (judge) -----------------------------------------------------------------------

def bar():
    data = settings.data()
    return end_to_end.Bar(data.mmd_bce_threshold, data.mmd_bce_zero, data.mmd_bce_floor, EPOCHS, data.mmd_max_clean_gap)


def reconstruction(run, i):
    """(mean BCE per image of the changed test images' reconstructions, of the unchanged ones)."""
    n, changed = len(i["x_eval"]), int(i["changed"])
    x_hat = end_to_end.decoded(run, "evaluate", i["mixed"])[:n]
    per_image = bce(x_hat, i["x_eval"][:, None].astype(np.float64))
    return float(per_image[:changed].mean()), float(per_image[changed:].mean())


def codes(run, i, name):
    """z = mu + sigma * eps of the unchanged images (the codes the decoder was given): [CLEAN_IMAGES, Z]."""
    total, changed = len(i["x_eval"]), int(i["changed"])
    mu = array(run, name, "mu", (total, settings.LATENT_SIZE))[changed:]
    logvar = array(run, name, "logvar", (total, settings.LATENT_SIZE))[changed:]
    return mu + np.exp(0.5 * logvar) * i["eps"][changed:]


def prior_mmd(z, i):
    """The judge's biased MMD between codes z and its samples of N(0, I), bandwidth sqrt(Z)."""
    return float(unit.mmd_biased(z, i["prior"], np.sqrt(z.shape[1])))


def draws_its_samples(run):
    """Fail unless mmd_training_loss gave two finite, different values for the same inputs."""
    first = scalar(run, "training_loss", "first", "mmd_training_loss(...)")
    second = scalar(run, "training_loss", "second", "mmd_training_loss(...)")
    if first == second:
        raise Fail(f"mmd_training_loss returned {first:.6g} twice for the same inputs, so its value does not depend "
                   "on samples of the prior: it must draw new eps and prior_z ~ N(0, I) on every call "
                   "(tf.random.normal) and weigh the MMD term by a positive MMD_WEIGHT (a KL loss in its place gives "
                   "the same value every time). No points for 9.4-9.5.")


def unit_push(i, rest):
    """The outward push on the probe codes that the other codes `rest` give a weight-1 MMD term at
    bandwidth sqrt(Z) (the biased estimate's k(z, z) means over the batch of N): what a per-image
    term cannot give. The push of the prior samples does not depend on `rest`."""
    probe, rest, squared_bandwidth = i["probe"].astype(np.float64), i[rest].astype(np.float64), settings.LATENT_SIZE
    k = unit.kernel(probe, rest, np.sqrt(squared_bandwidth))  # -d k(p, r) / d p . p = k (|p|^2 - p . r) / bandwidth^2
    return float(2.0 / N ** 2 * (k * ((probe ** 2).sum(1)[:, None] - probe @ rest.T)).sum() / squared_bandwidth)


def mmd_force(run, i):
    """(the weight of the MMD term that mmd_training_loss acts like, its push on crowded codes); Fail
    unless the weight is at least MIN_WEIGHT and the push is outward."""
    crowded = array(run, "push", "crowded", (CALLS,), "the gradient of mmd_training_loss").mean()
    spread = array(run, "push", "spread", (CALLS,), "the gradient of mmd_training_loss").mean()
    weight = (crowded - spread) / (unit_push(i, "crowded") - unit_push(i, "spread"))
    z = settings.LATENT_SIZE
    if not weight >= MIN_WEIGHT:
        raise Fail(f"mmd_training_loss trains no MMD term: by the judge's gradient of it, the pull on a code does not "
                   f"depend on the other codes of the batch as an MMD term's does (it acts like an MMD term of weight "
                   f"{weight:.2g} at bandwidth sqrt({z}); at least {MIN_WEIGHT:g} is needed, MMD_WEIGHT = 100 gives "
                   f"about 100). A term that is multiplied by 0, computed on tf.stop_gradient'ed codes, or weighted by "
                   f"almost nothing does not train an MMD-VAE, and neither does a KL loss plus an offset. "
                   f"No points for 9.4-9.5.")
    if not crowded > 0:
        raise Fail(f"mmd_training_loss pulls codes crowded near the origin inward ({-crowded:.3g}, by the judge's gradient "
                   f"of it), where its MMD term (acting like weight {weight:.3g} at bandwidth sqrt({z})) pushes them "
                   f"out towards N(0, I): a per-image term such as the KL term outweighs the MMD term. mmd_training_loss "
                   f"is the reconstruction plus the MMD term only. No points for 9.4-9.5.")
    return weight, crowded


def trains_with_mmd(run, i):
    """Fail unless mmd_training_loss draws its samples and is an MMD loss training feels; its weight and push."""
    draws_its_samples(run)
    return mmd_force(run, i)


def check_reconstruction(run, i):
    weight, push = trains_with_mmd(run, i)
    b, seconds = bar(), fact(run, "train").get("seconds")
    loss, clean = reconstruction(run, i)
    if loss < b.zero:
        end_to_end.memorised(loss, clean, b.epochs, b.floor, b.max_gap)
    timed = end_to_end.epoch_times(seconds[:b.epochs] if isinstance(seconds, list) else None)
    detail = (f"your MMD-VAE's reconstruction loss (BCE per image) is {loss:.1f} on the judge's {settings.EVAL_IMAGES} "
              f"changed test images ({clean:.1f} on unchanged ones)")
    force = (f". mmd_training_loss acts like an MMD term of weight {weight:.1f} at bandwidth sqrt({settings.LATENT_SIZE}) "
             f"(it pushes crowded codes outward by {push:.4g})")
    return below_bar(loss, b.threshold, b.zero, detail, ". Check mmd_training_loss and that train_vae trains with it "
                     "(python assignment.py --mmd)", ".0f", f"{force}.{timed}")


def check_prior(run, i):
    trains_with_mmd(run, i)
    data = settings.data()
    loss, _ = reconstruction(run, i)
    if not loss < data.mmd_bce_zero:
        raise Fail(f"this test reads the codes of a model that reconstructs; yours has a reconstruction loss of "
                   f"{loss:.1f} (9.4 gives credit below {data.mmd_bce_zero:.0f}). No points.")
    value = prior_mmd(codes(run, i, "evaluate"), i)
    try:
        compared = f" (the KL model 6.1 trained: {prior_mmd(codes(run, i, 'kl'), i):.4f})"
    except Fail:
        compared = ""
    detail = (f"the judge's MMD between your MMD-VAE's codes of {settings.CLEAN_IMAGES} upright {settings.data().title} "
              f"images and {len(i['prior'])} samples of N(0, I) is {value:.4f}{compared}")
    return below_bar(value, data.mmd_prior_bar, data.mmd_prior_zero, detail, ": the codes' aggregate is far from "
                     "N(0, I). Check that prior_z in mmd_training_loss is drawn from N(0, I) (mean 0, standard deviation 1).")


TESTS = [
    Test("9.4", f"MMD-VAE trained {EPOCHS} epochs by your train_vae reconstructs: BCE < {{mmd_bce_threshold:.0f}}", 2,
         check_reconstruction, extra_credit=True),
    Test("9.5", "MMD-VAE: its codes' aggregate is close to N(0, I) by the judge's MMD (< {mmd_prior_bar:g})", 3,
         check_prior, extra_credit=True),
]


def pictures(run):
    """Part 9's pictures: the MMD-VAE's mean codes of the judge's changed test images beside the
    KL model's (6.1's), each in its own first two principal components, and the same walks
    between class means (part 7's) decoded by both; from what the judge measured."""
    n, total, data = int(run.inputs["changed"]), len(run.inputs["x_eval"]), settings.data()
    walked = slice(total + settings.NUM_CLASSES, total + settings.NUM_CLASSES + len(explore.WALKS) * explore.STEPS)
    drawn = []
    for name, title in (("kl", "KL (the VAE 6.1 trained)"), ("evaluate", "MMD (your VAE trained with mmd.py)")):
        try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
            mu = array(run, name, "mu", (total, settings.LATENT_SIZE))[:n]
            walks = end_to_end.decoded(run, name, run.inputs["mixed"])[walked]
        except Fail:
            continue
        drawn.append((title, explore.principal_components(mu), walks))
    if not drawn:
        return []
    rows = [walks[k * explore.STEPS:(k + 1) * explore.STEPS] for k in range(len(explore.WALKS)) for _, _, walks in drawn]
    labels = [f"{title.split()[0]} {data.label(a)} → {data.label(b)}" for a, b in explore.WALKS for title, _, _ in drawn]
    return [
        ("KL and MMD: the latent space by class", latent_scatter([(t, p) for t, p, _ in drawn], run.inputs["y_eval"][:n]),
         f"The mean codes of the {n} changed {data.title} test images by each model, on the first two principal axes "
         "of that model's codes (same scales). The KL term pulls each image's code towards N(0, I), the MMD term only "
         "the codes' aggregate (9.5 measures how close it is): compare how tightly each class gathers and how far apart "
         "the classes sit.", "9.5"),
        ("KL and MMD: the same walks between class means", image_rows(np.concatenate(rows), explore.STEPS, labels),
         f"Each pair of rows walks from the mean code of one class to that of another ({explore.STEPS} evenly spaced "
         f"codes, both ends included; the means of the judge's unchanged {data.title} images in each model's own "
         "latent space), decoded by that model's decoder.", "9.4"),
    ]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("9.4–9.5", "part 9: the MMD-VAE end to end, extra credit",
     "your `VAE` trained 5 epochs by your own `train_vae` (unchanged) with your `mmd_training_loss` in "
     "the place of `loss_function`: its reconstructions of the grader's 2,000 turned {title} test images "
     "have a mean BCE per image below {mmd_bce_threshold:.0f} (partial credit down to 0 at "
     "{mmd_bce_zero:.0f}; no points below {mmd_bce_floor:.0f}, or more than {mmd_max_clean_gap:.0f} above"
     " the upright images', as for 6.1); the grader's MMD between its codes `z = mu + sigma·eps` of the "
     "grader's 500 upright {title} images (test and training) and 2,000 samples of N(0, I) is below "
     "{mmd_prior_bar:g} (partial credit down to 0 at {mmd_prior_zero:g}; counted only while 9.4 earns "
     "credit). Both count only while `mmd_training_loss` trains an MMD term: by the grader's gradient of "
     "it with respect to the codes of the grader's own batches, the push on a code that depends on the "
     "batch's other codes (an MMD term's, which no per-image term such as KL has) is at least a "
     "weight-0.5 MMD term's at bandwidth `sqrt(Z)` (9.4's message gives yours), and codes crowded near 0 "
     "are pushed outward (no KL term outweighs it)"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "9.4": (r"\(BCE per image\) is ([\d.]+)",
        lambda v: min(settings.data().mmd_bce_threshold - v, v - settings.data().mmd_bce_floor)),
    "9.4 gap": (r"\(BCE per image\) is ([\d.]+) on the judge's \d+ changed test images \(([\d.]+)",
        lambda v: settings.data().mmd_max_clean_gap - v),
    "9.4 weight": (r"MMD term of weight ([\d.]+)",
        lambda v: v - MIN_WEIGHT),  # the MMD term's weight by the judge's gradient
    "9.4 push": (r"outward by ([\d.e+-]+)\)", lambda v: v),  # crowded codes pushed outward (> 0)
    "9.5": (r"samples of N\(0, I\) is ([\d.]+)", lambda v: settings.data().mmd_prior_bar - v),
}
