"""Part 4: the CVAE class: the VAE's contract with a one-hot c, which must matter to both
the encoder and the decoder (and to call())."""
import numpy as np

from ..judging.kit import Test
from . import models

NAME = "cvae"
FILES = ("vae.py",)


def build(s, ex, given):
    models.build(s, ex, True, given)


inputs = models.inputs
DRAWS = models.DRAWS


def decoder_c(e, i):
    """The decoder's output for (z, c), (z, another c) and (another z, c)."""
    code = {"c": (i["z"], i["c"]), "c_other": (i["z"], i["c_other"]), "other": (i["z_other"], i["c"])}
    return {f"decoded_{k}": e.decode(np.concatenate(pair, 1)) for k, pair in code.items()}


def encoder_c(e, i):
    """mu for (x, c), (x, another c) and (another x, c)."""
    pairs = {"c": (i["x"], i["c"]), "c_other": (i["x"], i["c_other"]), "other": (i["x_other"], i["c"])}
    return {f"mu_{k}": e.encode(models.encoder_input(e, "encode", x, c))[0] for k, (x, c) in pairs.items()}


MEASURES = models.measures(True) + [
    ("decoder_c", "calling decoder(concat([z, c])) with two different c", decoder_c),
    ("encoder_c", "calling mu_layer(encoder(concat([x, c]))) with two different c", encoder_c),
]


def cvae_decoder_c(run, i):
    return models.check_effect_of_c(
        run, "decoder_c", "decoded", len(i["x"]), "decoder's output",
        "decoder(concat([z, c])) gave the same image for different c: the decoder's first layer "
        "must see the one-hot vector")


def cvae_encoder_c(run, i):
    return models.check_effect_of_c(
        run, "encoder_c", "mu", len(i["x"]), "mu_layer's output",
        "mu_layer(encoder(concat([x, c]))) did not change with c: the encoder's first layer must "
        "see the one-hot vector")


TESTS = models.tests("4", "CVAE", True, (2, 4, 3, 2)) + [
    Test("4.5", "CVAE: the decoder's output depends on c", 2, cvae_decoder_c),
    Test("4.6", "CVAE: the encoder's output depends on c", 2, cvae_encoder_c),
]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("4.1–4.6", "`CVAE`",
     "the same with `c` (so `call` must give the decoder `concat([z, c])`), plus: a new `c` moves the "
     "decoder's image at least 2% as much as a new `z` does, and moves the encoder's `mu` at least 2% as "
     "much as a new image does"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "4.2": (r"sampling ratio ([\d.]+)", lambda v: models.SAMPLING_RATIO - v),
    "4.5": (r"a new c moves it (\d+)%", lambda v: v - 100 * models.C_EFFECT),
    "4.6": (r"a new c moves it (\d+)%", lambda v: v - 100 * models.C_EFFECT),
}
