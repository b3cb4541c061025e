"""What parts 6.1 (VAE) and 6.2/6.3 (CVAE) share: the student's model trained by the
student's train_vae on the MNIST training split, then scored by the judge.

The student's process sees only the training split. It exports the trained encoder path
and decoder; the measuring process runs them on MNIST test images the judge picked, with
the judge's own noise, decoding in a shuffled order, and the judge computes the loss.
"""
import time

import numpy as np

from ..kit import Fail, array, fact, images, neg_elbo, one_hot
from .. import settings
from . import models

CHUNK = 500  # images per call of the exported encoder and decoder


def build(s, ex, conditional, given):
    """Student process: train with the student's train_vae, export after EPOCHS epochs
    (and, for the CVAE, again after GENERATION_EPOCHS)."""
    from autograder.student import call_recording_form, pristine_assignment

    tf, state = s.tf, {"reported": [], "seconds": []}

    def setup():
        tf.keras.utils.set_random_seed(settings.SEED)
        helpers = pristine_assignment()
        model = models.make_model(s, conditional, settings.LATENT_SIZE)
        model.optimizer = tf.keras.optimizers.Adam(learning_rate=settings.LEARNING_RATE)
        # Build every weight with one dummy batch, then Adam for all of them, outside any
        # tf.function (a model that made some weights in __init__ would otherwise get an
        # optimizer that knows only those).
        state["form"] = {}
        dummy = [tf.zeros(shape) for shape in models.call_shapes(conditional, 2)]
        call_recording_form(model, dummy, state["form"])
        model.optimizer.build(model.trainable_variables)
        flags = ["--batch_size", str(settings.BATCH_SIZE), "--num_epochs", str(settings.EPOCHS),
                 "--latent_size", str(settings.LATENT_SIZE), "--learning_rate", str(settings.LEARNING_RATE)]
        state["args"] = helpers.parseArguments(flags + (["--is_cvae"] if conditional else []))
        state["data"] = helpers.load_mnist(settings.BATCH_SIZE)
        state["model"] = model

    def train(epochs):
        while len(state["reported"]) < epochs:
            start = time.perf_counter()
            value = s.assignment.train_vae(state["model"], state["data"], state["args"], is_cvae=conditional)
            state["seconds"].append(time.perf_counter() - start)
            number = returned_number(value)
            state["reported"].append(number)
            ex.fact("train", reported=state["reported"], seconds=state["seconds"],
                    num_batches=int(state["data"].cardinality()))
            ex.flush()
            done, last = len(state["reported"]), settings.GENERATION_EPOCHS if conditional else settings.EPOCHS
            left = (last - done) * sum(state["seconds"]) / done
            print(f"{settings.PROGRESS}epoch {done}/{last}: loss per image {number / int(state['data'].cardinality()):.1f} "
                  f"(train_vae's own), {state['seconds'][-1]:.1f} s" + (f", about {left:.0f} s left" if left else ""),
                  flush=True)

    ex.run("setup", "building the model and its optimizer", setup)
    ex.run("train", f"training with train_vae for {settings.EPOCHS} epochs", lambda: train(settings.EPOCHS), ["setup"])
    model = state.get("model")
    form = (settings.IMAGE_SIZE + settings.NUM_CLASSES,) if conditional else state.get("form", {}).get("form")
    code = settings.LATENT_SIZE + (settings.NUM_CLASSES if conditional else 0)
    ex.endpoint("encode", models.encode_fn(model), [(CHUNK,) + (form or (settings.IMAGE_SIZE,))],
                "exporting the trained encoder, mu_layer and logvar_layer", ["train"])
    ex.endpoint("decode", lambda z: model.decoder(z), [(CHUNK, code)], "exporting the trained decoder", ["train"])
    ex.save("trained")
    if conditional:
        ex.run("train_more", f"training on to {settings.GENERATION_EPOCHS} epochs",
               lambda: train(settings.GENERATION_EPOCHS), ["train"])
        rows = settings.SAMPLES_PER_CLASS * settings.NUM_CLASSES
        ex.endpoint("generate", lambda z: model.decoder(z), [(rows, code)],
                    f"exporting the decoder trained {settings.GENERATION_EPOCHS} epochs", ["train_more"])
        ex.save("generator")


def returned_number(value):
    try:
        return float(np.asarray(value).reshape(()))
    except Exception:  # noqa: BLE001 - 6.x judge the model, not train_vae's return value
        return float("nan")


def inputs(rng, conditional):
    """The judge's secret test images (a random subset of the MNIST test split), noise and
    decoding order, and for the CVAE the codes it generates from."""
    with np.load(settings.MNIST_NPZ) as mnist:
        pick = np.sort(rng.choice(len(mnist["y_test"]), settings.EVAL_IMAGES, replace=False))
        out = {"x_test": mnist["x_test"][pick], "y_test": mnist["y_test"][pick]}
    n, z = settings.EVAL_IMAGES, settings.LATENT_SIZE
    out.update(eps=rng.normal(size=(n, z)).astype(np.float32), order=rng.permutation(n))
    if conditional:
        per = settings.SAMPLES_PER_CLASS
        out["gen_labels"] = np.repeat(np.arange(settings.NUM_CLASSES), per)
        out["gen_z"] = rng.normal(size=(per * settings.NUM_CLASSES, z)).astype(np.float32)
    return out


def evaluate(conditional):
    """Encode the judge's test images, sample z with the judge's eps, and decode in the
    judge's shuffled order (so a decoder cannot echo back what the encoder just saw)."""
    def measure(e, i):
        x = i["x_test"].reshape(len(i["x_test"]), -1).astype(np.float32) / 255.0
        c = one_hot(i["y_test"]) if conditional else None
        stats = [e.encode(models.encoder_input(e, "encode", x[s:s + CHUNK], None if c is None else c[s:s + CHUNK]))
                 for s in range(0, len(x), CHUNK)]
        mu = np.concatenate([m for m, _ in stats]).astype(np.float64)
        logvar = np.concatenate([v for _, v in stats]).astype(np.float64)
        z = mu + np.exp(0.5 * logvar) * i["eps"]
        code = np.concatenate([z, c], 1) if conditional else z
        order = i["order"]
        decoded = [np.asarray(e.decode(code[order[s:s + CHUNK]])) for s in range(0, len(order), CHUNK)]
        return {"mu": mu, "logvar": logvar, "x_hat_shuffled": np.concatenate(decoded)}
    return measure


def generate(e, i):
    return {"images": e.generate(np.concatenate([i["gen_z"], one_hot(i["gen_labels"])], 1))}


def judged_loss(run, i):
    """The trained model's mean loss per image on the judge's test images, computed here."""
    n = len(i["eps"])
    mu = array(run, "evaluate", "mu", (n, settings.LATENT_SIZE))
    logvar = array(run, "evaluate", "logvar", (n, settings.LATENT_SIZE))
    shuffled = images(run, "evaluate", "x_hat_shuffled", n, "decoder's output")
    x_hat = np.empty_like(shuffled)
    x_hat[i["order"]] = shuffled
    x = i["x_test"][:, None].astype(np.float64) / 255.0
    return neg_elbo(x_hat, x, mu, logvar)


def check_loss(run, i, model):
    report = fact(run, "train")
    reported = report.get("reported") or []
    batches = report.get("num_batches") or 1
    loss = judged_loss(run, i)
    own = reported[settings.EPOCHS - 1] if len(reported) >= settings.EPOCHS else None
    said = f" (train_vae's own epoch {settings.EPOCHS}: {own / batches:.1f})" if own is not None and np.isfinite(own) else ""
    if loss < settings.LOSS_THRESHOLD:
        return 1.0, f"loss per image {loss:.1f} < {settings.LOSS_THRESHOLD:.0f}{said}"
    message = (f"after {settings.EPOCHS} epochs your {model}'s loss per image on {len(i['eps'])} test images "
               f"is {loss:.1f}; it must be below {settings.LOSS_THRESHOLD:.0f}{said}")
    fraction = (settings.LOSS_ZERO - loss) / (settings.LOSS_ZERO - settings.LOSS_THRESHOLD)
    if not fraction > 0:
        raise Fail(message + ". Check the loss, the learning rate use and that every batch is trained on.")
    return min(fraction, 0.99), (f"{message}; partial credit runs linearly to 0 at {settings.LOSS_ZERO:.0f}. "
                                 "A larger hidden size or another layer usually gets below it.")
