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
