"""The inputs the judge hands each stage. Each stage draws from its own seeded generator,
so a stage's inputs do not depend on which other stages run."""
import zlib

import numpy as np

from . import settings

N_SMALL = 16  # batch size of the shape checks
REPEATED_IMAGES, REPEATS = 8, 1024  # call() sampled this often per image (3.2, 4.2)


def rng_for(stage):
    return np.random.default_rng([settings.SEED, zlib.crc32(stage.encode())])


def one_hot(labels):
    return np.eye(settings.NUM_CLASSES, dtype=np.float32)[labels]


def images(rng, n):
    """Digit-like test images [n, 1, 28, 28] in [0, 1] (no MNIST needed)."""
    return rng.beta(0.3, 0.3, size=(n, 1, 28, 28)).astype(np.float32)


def reparameterize(rng):
    columns_mu = np.array([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0], np.float32)
    columns_logvar = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 1.5], np.float32)
    rows = 20000
    return {"mu": np.tile(columns_mu, (rows, 1)), "logvar": np.tile(columns_logvar, (rows, 1)),
            "mu_small": rng.normal(size=(64, 6)).astype(np.float32),
            "logvar_small": rng.normal(scale=0.5, size=(64, 6)).astype(np.float32)}


def loss(rng):
    n, z = 8, settings.LATENT_SIZE
    return {"x_hat": rng.uniform(0.05, 0.95, size=(n, 1, 28, 28)).astype(np.float32),
            "x": images(rng, n),
            "mu": rng.normal(size=(n, z)).astype(np.float32),
            "logvar": rng.normal(scale=0.7, size=(n, z)).astype(np.float32)}


def model(rng):
    labels = rng.integers(0, settings.NUM_CLASSES, N_SMALL)
    return {"x": images(rng, N_SMALL), "c": one_hot(labels),
            "c_other": one_hot((labels + 1 + rng.integers(0, 9, N_SMALL)) % settings.NUM_CLASSES),
            "z": rng.normal(size=(N_SMALL, settings.LATENT_SIZE)).astype(np.float32),
            "z_small": rng.normal(size=(N_SMALL, 7)).astype(np.float32),
            "x_rep": images(rng, REPEATED_IMAGES), "repeats": np.array(REPEATS),
            "eps_rep": rng.normal(size=(REPEATED_IMAGES * REPEATS, settings.LATENT_SIZE)).astype(np.float32)}


def train_vae(rng):
    with np.load(settings.MNIST_NPZ) as mnist:
        pick = rng.choice(len(mnist["y_train"]), 1024, replace=False)
        return {"images": mnist["x_train"][pick], "labels": mnist["y_train"][pick],
                "batch_size": np.array(128), "epochs": np.array(3)}


def end_to_end(rng, conditional):
    n, z = settings.EVAL_IMAGES, settings.LATENT_SIZE
    out = {"eps": rng.normal(size=(n, z)).astype(np.float32), "order": rng.permutation(n)}
    if conditional:
        per = settings.SAMPLES_PER_CLASS
        out["gen_labels"] = np.repeat(np.arange(settings.NUM_CLASSES), per)
        out["gen_z"] = rng.normal(size=(per * settings.NUM_CLASSES, z)).astype(np.float32)
    return out


MAKERS = {
    "reparameterize": reparameterize, "loss": loss, "vae": model, "cvae": model,
    "train_vae": train_vae,
    "e2e_vae": lambda rng: end_to_end(rng, False), "e2e_cvae": lambda rng: end_to_end(rng, True),
}


def for_stage(stage):
    return MAKERS[stage](rng_for(stage))
