"""Part 8.9: the student's ConvVAE, trained by the student's own train_vae (unchanged) for
EPOCHS epochs, reaches the data set's loss bar on the judge's changed test images, scored
as 6.1 is (end_to_end). The same shuffled decoder calls decode SAMPLES codes z ~ N(0, I) of the
judge's, for the report's picture of what the model generates."""
import numpy as np

from ..outputs.drawing import image_rows, reconstruction_pairs
from ..judging.kit import Fail, Test
from ..config import settings
from . import conv_vae, end_to_end

NAME = "e2e_conv"
FILES = ("vae.py", "conv_vae.py", "assignment.py")
# The ConvVAE of conv_vae.py, trained by the same train_vae with the same batch size and
# learning rate. A convolutional epoch costs about 4 times a dense one on 2 cores (README, part 8).
EPOCHS = 5  # trained here (the judge foresees the time they take)
TRAINING_SHARE = 0.5  # of the training budget (scaled with the others' when they add up to more than 1)
SAMPLES = end_to_end.CHUNK  # prior codes decoded (the decoder takes CHUNK rows a call); the report shows 100
PICTURED = 100


def build(s, ex, given):
    end_to_end.build(s, ex, False, given, lambda: conv_vae.make(s)(settings.LATENT_SIZE), EPOCHS)


def inputs(rng):
    """6.1's secret images and noise; the decoding order covers the SAMPLES prior codes too."""
    out = end_to_end.inputs(rng, False)
    out["prior_z"] = rng.normal(size=(SAMPLES, settings.LATENT_SIZE)).astype(np.float32)
    out["order"] = rng.permutation(len(out["x_eval"]) + SAMPLES)
    return out


def bar():
    data = settings.data()
    return end_to_end.Bar(data.conv_loss_threshold, data.conv_loss_zero, data.conv_loss_floor, EPOCHS,
                          data.conv_max_clean_gap)


MEASURES = [("evaluate", "scoring the trained ConvVAE on the judge's test images and decoding z ~ N(0, I)",
             lambda e, i: end_to_end.scored(e, i, False, "", i["eps"], i["order"], i["prior_z"]))]
TESTS = [Test("8.9", f"ConvVAE trained {EPOCHS} epochs by your train_vae reaches loss < {{conv_loss_threshold:.0f}}", 8,
              lambda run, i: end_to_end.check_loss(run, i, "ConvVAE", bar()))]


def pictures(run):
    """Part 8.9's pictures of the trained ConvVAE: test images above their reconstructions, and its
    decoder's images of the judge's prior codes z ~ N(0, I), decoded in the same shuffled calls."""
    n, data = len(run.inputs["x_eval"]), settings.data()
    try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
        decoded = end_to_end.decoded(run, "evaluate", run.inputs["order"])
    except Fail:
        return []
    samples = decoded[n:n + PICTURED].reshape(-1, settings.IMAGE_SIZE)
    return [
        ("ConvVAE: test images and their reconstructions", reconstruction_pairs(run.inputs["x_eval"][:10],
                                                                                np.clip(decoded[:10], 0, 1)),
         f"The first 10 of the {settings.EVAL_IMAGES} changed {data.title} test images 8.9 was scored on, above what "
         "your trained ConvVAE made of them.", "8.9"),
        ("ConvVAE: samples z ~ N(0, I)", image_rows(samples, 10),
         f"Your trained ConvVAE's decoder on {len(samples)} codes z ~ N(0, I) of the judge's (decoded in the same "
         "shuffled calls as the scored images).", "8.9"),
    ]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("8.9", "part 8: ConvVAE end to end",
     "your `ConvVAE` trained by your own `train_vae` (unchanged) for 5 epochs, as 6.1: mean loss per "
     "image < {conv_loss_threshold:.0f} on the grader's 2,000 turned {title} test images (partial credit "
     "down to 0 at {conv_loss_zero:.0f}); the message gives your epochs' times. No points below "
     "{conv_loss_floor:.0f}, which no trained ConvVAE reaches, nor when the loss on the upright images is"
     " more than {conv_max_clean_gap:.0f} below it"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "8.9": (r"loss per image ([\d.]+)",
        lambda v: min(settings.data().conv_loss_threshold - v, v - settings.data().conv_loss_floor)),
    "8.9 gap": (r"loss per image ([\d.]+) < [\d.]+ on the judge's changed test images \(([\d.]+)",
        lambda v: settings.data().conv_max_clean_gap - v),
    "8.9 epoch": (r"epochs took [\d.]+-([\d.]+) s", None),  # the slowest epoch, seconds: shown, not a bar
}
