"""Part 6.1: the student's VAE, trained by the student's train_vae, reaches the loss bar."""
from ..judging.kit import Test
from ..config import settings
from . import end_to_end

NAME = "e2e_vae"
FILES = ("vae.py", "assignment.py")
EPOCHS = settings.EPOCHS  # trained here (the judge foresees the time they take)
TRAINING_SHARE = 0.45  # of the training budget


def build(s, ex, given):
    end_to_end.build(s, ex, False, given)


def inputs(rng):
    return end_to_end.inputs(rng, False)


MEASURES = [("evaluate", "scoring the trained model on the judge's test images", end_to_end.evaluate(False))]
TESTS = [Test("6.1", f"VAE trained {settings.EPOCHS} epochs reaches loss < {{loss_threshold:.0f}}", 8,
              lambda run, i: end_to_end.check_loss(run, i, "VAE"))]


def pictures(run):
    """The VAE's reconstructions of the changed test images 6.1 was scored on."""
    return end_to_end.reconstructions(run, "VAE", "6.1")


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("6.1", "VAE end to end",
     "your `VAE` trained by your `train_vae` for 5 epochs (batch 128, Adam 1e-3, latent 15) on the "
     "{title} training images: mean loss per image < {loss_threshold:.0f} on 2,000 {title} test images "
     "that the grader first **turns by 15-20 degrees** (and stretches slightly, a secret change per "
     "image), computed by the grader (partial credit from {loss_threshold:.0f} down to 0 at "
     "{loss_zero:.0f}). {loss_note}"),
]
RUBRIC_NOTES = [  # (tests, paragraph): shown after the rubric while one of those tests is shown
    (("6.1",), end_to_end.STORED_NOTE),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "6.1": (r"loss per image ([\d.]+)", lambda v: settings.data().loss_threshold - v),
    "6.1 gap": (r"loss per image ([\d.]+) < [\d.]+ on the judge's changed test images \(([\d.]+)",
        lambda v: settings.data().max_clean_gap - v),
}
