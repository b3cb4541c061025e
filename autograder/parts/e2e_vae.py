"""Part 6.1: the student's VAE, trained by the student's train_vae, reaches the loss bar."""
from ..kit import Test
from .. import settings
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
