"""Part 5's inputs, with Keras: the stand-in CVAE tells wrong labels from right ones on every draw."""
import numpy as np
import pytest
import tensorflow as tf

from autograder.judging import kit
from autograder.config import settings
from autograder.parts import train_vae


@pytest.mark.parametrize("dataset", sorted(settings.DATASETS))
def test_no_wrong_c_can_pass_5_4_by_luck(dataset):
    """On every draw of the judge's inputs, the stand-in CVAE (Keras, as the measuring process
    runs it) gives a sum of batch losses with zeros, any one class or labels + 1 as c that is
    at least 5x 5.4's tolerance from the sum with the right labels; its numpy twin agrees."""
    settings.use(dataset)
    try:
        for seed in range(4):
            given = train_vae.build_inputs(np.random.default_rng(seed))
            weights = train_vae.weights_of(given, True)
            x = given["images"][:, None].astype(np.float32) / 255.0
            model = train_vae.with_weights(tf, True, weights, x)

            def total(c):
                x_hat, mu, logvar = (np.asarray(t, np.float64) for t in model(x, c))
                twin = train_vae.toy_cvae_numpy(weights, x.astype(np.float64), c)
                assert all(np.allclose(a, b, atol=1e-4) for a, b in zip((x_hat, mu, logvar), twin))
                return train_vae.batch_sum(train_vae.stand_in_per_image(x_hat, x, mu, logvar))

            right = total(kit.one_hot(given["labels"]))
            for c in train_vae.wrong_cs(given["labels"]):
                assert abs(total(c) - right) >= 5 * train_vae.SUM_TOLERANCE * right * 0.99, (seed, c[:3])
    finally:
        settings.use("mnist")
