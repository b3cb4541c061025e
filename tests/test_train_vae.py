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


def moved_weights(given, how):
    """The stand-in VAE's weights after one epoch of Adam (1e-3) on the stand-in loss, trained
    `how`: "right" (a step per batch, in order, written with tf.function), "summed" (each step
    takes the gradients of every batch so far), "new Adam" (a fresh optimizer per batch) or
    "reordered" (the batches in another order)."""
    x = given["images"][:, None].astype(np.float32) / 255.0
    model = train_vae.with_weights(tf, False, train_vae.weights_of(given, False), x)
    loss, batches = train_vae.stand_in_loss(tf), [x[s:s + train_vae.BATCH] for s in range(0, len(x), train_vae.BATCH)]
    if how == "reordered":
        batches = batches[1:] + batches[:1]
    optimizer, total = tf.keras.optimizers.Adam(1e-3), None

    @tf.function
    def gradients(batch):
        with tf.GradientTape() as tape:
            x_hat, mu, logvar = model(batch)
            value = loss(x_hat, batch, mu, logvar)
        return tape.gradient(value, model.trainable_variables)

    for batch in batches:
        grads = gradients(tf.constant(batch))
        if how == "summed":
            total = grads if total is None else [a + b for a, b in zip(total, grads)]
            grads = total
        if how == "new Adam":
            optimizer = tf.keras.optimizers.Adam(1e-3)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return train_vae.flat([model.encode.kernel, model.encode.bias, model.decode.kernel, model.decode.bias])


def test_5_2_tells_one_adam_step_per_batch_from_near_misses():
    """On several draws, Keras training the stand-in the right way passes 5.2, and summed
    gradients, a new Adam per batch or the batches in another order fail it (with the old bars,
    0.95 and 0.8-1.25x, the first two passed many draws)."""
    from autograder.grade import PartRun
    from autograder.isolation.sandbox import StageRun

    judge = type("Endpoints", (), {"tf": tf})  # what replay() uses of the measuring process's endpoints
    for seed in range(3):
        given = train_vae.build_inputs(np.random.default_rng(seed))
        before = train_vae.flat(train_vae.weights_of(given, False)[:4])
        replayed = train_vae.replay(judge, given, 1e-3, 1)
        for how in ("right", "summed", "new Adam", "reordered"):
            arrays = {"update.before": before, "update.replay": replayed, "update.after": moved_weights(given, how)}
            run = PartRun("train_vae", StageRun("build", "ok", 1, 1, "", {"facts": {"update": {"steps": 8}}}),
                          StageRun("measure", "ok", 1, 1, "", {"results": {"update": {"ok": True}}}, arrays), given)
            try:
                verdict = train_vae.train_updates(run, given)
            except kit.Fail as failure:
                verdict = (0.0, str(failure))
            assert (verdict[0] == 1.0) == (how == "right"), (seed, how, verdict)
