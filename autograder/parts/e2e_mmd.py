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
nothing). Both count only when the training loss, exported too, gives two values for the same
inputs, as one that draws its prior samples must (a KL loss in its place is deterministic).
"""
import numpy as np

from ..kit import Fail, Test, array, bce, below_bar, fact, scalar
from .. import settings
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

    replace_everywhere(s.mmd.mmd, unit.judge_mmd(s.tf), s.mmd.mmd_loss_function)
    training = reentrant_swap(s.vae.loss_function, s.mmd.mmd_training_loss)
    replace_everywhere(s.vae.loss_function, training, s.assignment.train_vae)
    end_to_end.build(s, ex, False, given, epochs=EPOCHS, suffix=SUFFIX)
    z, image = settings.LATENT_SIZE, (N,) + models.IMAGE
    ex.endpoint("training_loss", training, [image, image, (N, z), (N, z)],
                f"calling mmd_training_loss(x_hat, x, mu, logvar) with images {list(image)} and [{N}, {z}] codes")
    ex.save("training_loss")


def inputs(rng):
    """6.1's secret images, noise and decoding order with part 7's walks; the judge's prior samples."""
    z = settings.LATENT_SIZE
    return {**explore.inside_inputs(rng), "prior": rng.normal(size=(settings.EVAL_IMAGES, z)).astype(np.float32),
            "loss_x_hat": rng.uniform(0.05, 0.95, (N,) + models.IMAGE).astype(np.float32),
            "loss_x": rng.beta(0.3, 0.3, (N,) + models.IMAGE).astype(np.float32),
            "loss_mu": rng.normal(size=(N, z)).astype(np.float32),
            "loss_logvar": rng.uniform(-2.0, 0.0, (N, z)).astype(np.float32)}


def training_losses(e, i):
    """mmd_training_loss twice on the same judge's batch."""
    batch = [i[f"loss_{k}"] for k in ("x_hat", "x", "mu", "logvar")]
    return {"first": e.training_loss(*batch), "second": e.training_loss(*batch)}


REPORT_ONLY = ("kl",)  # measured for the report's comparison; no test is graded on it
MEASURES = [
    ("evaluate", "encoding and decoding the judge's test images with your VAE trained with the MMD loss",
     lambda e, i: explore.inside(e, i, SUFFIX)),
    ("kl", "encoding and decoding them with the VAE 6.1 trained (the KL model), for the report",
     lambda e, i: explore.inside(e, i)),
    ("training_loss", "calling mmd_training_loss twice on the same batch", training_losses),
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


def check_reconstruction(run, i):
    draws_its_samples(run)
    b, seconds = bar(), fact(run, "train").get("seconds")
    loss, clean = reconstruction(run, i)
    if loss < b.zero:
        end_to_end.memorised(loss, clean, b.epochs, b.floor, b.max_gap)
    timed = end_to_end.epoch_times(seconds[:b.epochs] if isinstance(seconds, list) else None)
    detail = (f"your MMD-VAE's reconstruction loss (BCE per image) is {loss:.1f} on the judge's {settings.EVAL_IMAGES} "
              f"changed test images ({clean:.1f} on unchanged ones)")
    return below_bar(loss, b.threshold, b.zero, detail, ". Check mmd_training_loss and that train_vae trains with it "
                     "(python assignment.py --mmd)", ".0f", f".{timed}")


def check_prior(run, i):
    draws_its_samples(run)
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
