"""Part 3: the VAE class (encoder, mu_layer, logvar_layer, decoder, call)."""
from . import models

NAME = "vae"
FILES = ("vae.py",)


def build(s, ex, given):
    models.build(s, ex, False, given)


inputs = models.inputs
DRAWS = models.DRAWS
MEASURES = models.measures(False)
TESTS = models.tests("3", "VAE", False, (3, 5, 4, 3))


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("3.1–3.4", "`VAE`",
     "the encoder path and the decoder run; `call` returns `x_hat` [N, 1, 28, 28] in [0, 1] and `mu`, "
     "`logvar` equal to what `mu_layer(encoder(x))` and `logvar_layer(encoder(x))` give, and `x_hat` is "
     "distributed like `decoder(z)` for `z = mu + sigma·eps` (over 1,024 draws per image); the pieces "
     "work one by one with the shapes above; `latent_size=7` works"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "3.2": (r"sampling ratio ([\d.]+)", lambda v: models.SAMPLING_RATIO - v),
}
