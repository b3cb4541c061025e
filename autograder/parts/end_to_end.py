"""What parts 6.1 (VAE) and 6.2/6.3 (CVAE) share: the student's model trained by the
student's train_vae on the training split of the course's data set, then scored by the judge.

The student's process sees only the training split. It exports the trained encoder path
and decoder; the measuring process runs them on test images the judge picked, with the
judge's own noise, decoding in a shuffled order, and the judge computes the loss. The
test split is public, so the scored images are changed by a secret transformation
(distort.py) first; a few unchanged ones, mixed in, show whether the model has seen the
public images (memorised()). For the CVAE, the model trained on to GENERATION_EPOCHS is
scored the same way, and the digits it draws come from that same decoder, in the same
shuffled calls: a generator that is not a working decoder of this VAE cannot pass.
"""
import time
from dataclasses import dataclass

import numpy as np

from ..judging.kit import Fail, array, fact, falling_credit, images, neg_elbo, one_hot, sigmoid
from ..judging import distort
from ..config import settings
from ..outputs.drawing import reconstruction_pairs
from . import models

CHUNK = 500  # images per call of the exported encoder and decoder
# The generation check (6.3) trains the same CVAE on to this many epochs. Measured: the
# reference is recognised 76.8% after 5 epochs, 91.2% after 10, 97.1% after 20; a CVAE with
# 2 x 256 LeakyReLU layers 89.9% after 20, 93.0% after 30. So 5 epochs cannot meet the
# > 90% bar reliably, and 30 keeps reasonable architectures clear of it (README, rubric).
GENERATION_EPOCHS = 30
STORED_NOTE = (  # the handout's paragraph about memorised(), with the data set's {fields}
    "A few upright {title} images (test and training) are mixed into the end-to-end scoring: a model "
    "whose loss on them is more than {max_clean_gap:.0f} below its loss on the turned ones, or whose loss "
    "on the turned ones is lower than any trained model reaches ({loss_floor:.0f} after 5 epochs, "
    "{final_loss_floor:.0f} after 30), has {title} images stored instead of learned, and earns no points there.")


def build(s, ex, conditional, given, make=None, epochs=settings.EPOCHS, suffix="", latent=settings.LATENT_SIZE):
    """Student process: train the model make() gives (default: vae.py's VAE or CVAE) with the
    student's train_vae, export it after `epochs` epochs as encode{suffix} and decode{suffix}
    (and, for the CVAE, again after GENERATION_EPOCHS). Returns the model (None if none was built)."""
    from autograder.isolation.student import call_recording_form, pristine_assignment

    tf, state = s.tf, {"reported": [], "seconds": []}

    def setup():
        tf.keras.utils.set_random_seed(settings.SEED)
        helpers = pristine_assignment()
        model = make() if make else models.make_model(s, conditional, settings.LATENT_SIZE)
        model.optimizer = tf.keras.optimizers.Adam(learning_rate=settings.LEARNING_RATE)
        # Build every weight with one dummy batch, then Adam for all of them, outside any
        # tf.function (a model that made some weights in __init__ would otherwise get an
        # optimizer that knows only those).
        state["form"] = {}
        dummy = [tf.zeros(shape) for shape in models.call_shapes(conditional, 2)]
        call_recording_form(model, dummy, state["form"])
        model.optimizer.build(model.trainable_variables)
        state["initial"] = [v.numpy() for v in model.trainable_variables]
        flags = ["--batch_size", str(settings.BATCH_SIZE), "--num_epochs", str(epochs),
                 "--latent_size", str(latent), "--learning_rate", str(settings.LEARNING_RATE)]
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
            done, last = len(state["reported"]), GENERATION_EPOCHS if conditional else epochs
            left = (last - done) * sum(state["seconds"]) / done
            print(f"{settings.PROGRESS}epoch {done}/{last}: loss per image {number / int(state['data'].cardinality()):.1f} "
                  f"(train_vae's own), {state['seconds'][-1]:.1f} s" + (f", about {left:.0f} s left" if left else ""),
                  flush=True)
            stopped_learning(state["model"].trainable_variables, state.pop("initial", None), done)

    ex.run("setup", "building the model and its optimizer", setup)
    ex.run("train", f"training with train_vae for {epochs} epochs", lambda: train(epochs), ["setup"])
    model = state.get("model")
    form = (settings.IMAGE_SIZE + settings.NUM_CLASSES,) if conditional else state.get("form", {}).get("form")
    code = latent + (settings.NUM_CLASSES if conditional else 0)
    ex.endpoint(f"encode{suffix}", models.encode_fn(model), [(CHUNK,) + (form or (settings.IMAGE_SIZE,))],
                "exporting the trained encoder, mu_layer and logvar_layer", ["train"])
    ex.endpoint(f"decode{suffix}", lambda z: model.decoder(z), [(CHUNK, code)], "exporting the trained decoder",
                ["train"])
    ex.save("trained")
    if conditional:
        ex.run("train_more", f"training on to {GENERATION_EPOCHS} epochs",
               lambda: train(GENERATION_EPOCHS), ["train"])
        ex.endpoint("encode_final", models.encode_fn(model), [(CHUNK,) + form],
                    f"exporting the encoder trained {GENERATION_EPOCHS} epochs", ["train_more"])
        ex.endpoint("decode_final", lambda z: model.decoder(z), [(CHUNK, code)],
                    f"exporting the decoder trained {GENERATION_EPOCHS} epochs", ["train_more"])
        ex.save("final")
    return model


def stopped_learning(variables, initial, done):
    """Raise after epoch `done` if the training has already failed every bar, so that it does not
    run on for 30 epochs: weights that are NaN or infinite (no later epoch can repair them), or,
    after the first epoch, weights all still equal to `initial` (an untrained model's loss is
    far above every bar, and a training that moved nothing in an epoch moves nothing later).
    A model without weights is left to the scoring (it is no trained VAE either way)."""
    if not all(np.all(np.isfinite(v.numpy())) for v in variables):
        raise FloatingPointError(f"after epoch {done} some of your model's weights are NaN or infinite, so "
                                 "training was stopped there (no later epoch can repair them). Check "
                                 "loss_function on a batch: a log of 0 or a division by 0 gives NaN.")
    if initial and all(np.array_equal(v.numpy(), w) for v, w in zip(variables, initial)):
        raise RuntimeError(f"after epoch {done} of train_vae no weight of your model had changed, so training was "
                           "stopped there: train_vae must apply the gradients of each batch's loss "
                           "(model.optimizer.apply_gradients(zip(grads, model.trainable_variables))).")


def returned_number(value):
    try:
        return float(np.asarray(value).reshape(()))
    except Exception:  # noqa: BLE001 - 6.x judge the model, not train_vae's return value
        return float("nan")


def inputs(rng, conditional):
    """The judge's secret images: EVAL_IMAGES test images changed by distort(), then
    CLEAN_IMAGES unchanged ones, half from the test split and half from the training split
    (x_eval, in that order), their labels, noise and decoding order; for the CVAE also the
    codes it generates from, the noise of the final scoring and the order in which its
    reconstructions and generations are decoded together."""
    changed, clean = settings.EVAL_IMAGES, settings.CLEAN_IMAGES
    with np.load(settings.data_npz()) as mnist:
        test = rng.choice(len(mnist["y_test"]), changed + clean // 2, replace=False)
        train = rng.choice(len(mnist["y_train"]), clean - clean // 2, replace=False)
        x = np.concatenate([mnist["x_test"][test], mnist["x_train"][train]])
        y = np.concatenate([mnist["y_test"][test], mnist["y_train"][train]])
    x_eval = np.concatenate([distort.distort(x[:changed], rng), x[changed:] / np.float32(255.0)]).astype(np.float32)
    n, z = changed + clean, settings.LATENT_SIZE
    out = {"x_eval": x_eval, "y_eval": y, "changed": np.array(changed),
           "eps": rng.normal(size=(n, z)).astype(np.float32), "order": rng.permutation(n)}
    if conditional:
        per = settings.SAMPLES_PER_CLASS
        out["gen_labels"] = np.repeat(np.arange(settings.NUM_CLASSES), per)
        out["gen_z"] = rng.normal(size=(per * settings.NUM_CLASSES, z)).astype(np.float32)
        out["eps_final"] = rng.normal(size=(n, z)).astype(np.float32)
        out["mixed"] = rng.permutation(n + len(out["gen_z"]))
    return out


def encoded(e, i, conditional, suffix=""):
    """(mu, logvar) of the judge's images by encode{suffix}, CHUNK rows a call: float64 [N, Z] each."""
    x = i["x_eval"].reshape(len(i["x_eval"]), -1)
    c = one_hot(i["y_eval"]) if conditional else None
    encode = getattr(e, f"encode{suffix}")
    stats = [encode(models.encoder_input(e, f"encode{suffix}", x[s:s + CHUNK], None if c is None else c[s:s + CHUNK]))
             for s in range(0, len(x), CHUNK)]
    return (np.concatenate([m for m, _ in stats]).astype(np.float64),
            np.concatenate([v for _, v in stats]).astype(np.float64))


def scored(e, i, conditional, suffix, eps, order, extra=None, stats=None):
    """Encode the judge's images with encode{suffix} (or take their `stats`, (mu, logvar)),
    sample z with the judge's `eps`, then decode the codes (and the `extra` codes after them)
    with decode{suffix} in the judge's shuffled `order`, CHUNK rows a call (so a decoder cannot
    echo back what the encoder saw, nor tell the extra codes from the others)."""
    c = one_hot(i["y_eval"]) if conditional else None
    decode = getattr(e, f"decode{suffix}")
    mu, logvar = stats or encoded(e, i, conditional, suffix)
    z = mu + np.exp(0.5 * logvar) * eps
    code = np.concatenate([z, c], 1) if conditional else z
    if extra is not None:
        code = np.concatenate([code, extra])
    decoded = [np.asarray(decode(code[order[s:s + CHUNK]])) for s in range(0, len(order), CHUNK)]
    return {"mu": mu, "logvar": logvar, "x_hat_shuffled": np.concatenate(decoded)}


def evaluate(conditional):
    """The measurement of the model trained EPOCHS epochs (6.1, 6.2)."""
    return lambda e, i: scored(e, i, conditional, "", i["eps"], i["order"])


def final(e, i):
    """The CVAE trained GENERATION_EPOCHS epochs: its reconstructions and its generated digits
    (decoder(concat([z, one_hot(digit)]))), decoded together in one shuffled order (6.3)."""
    generating = np.concatenate([i["gen_z"], one_hot(i["gen_labels"])], 1)
    return scored(e, i, True, "_final", i["eps_final"], i["mixed"], generating)


def decoded(run, name, order):
    """The decoder's outputs of measurement `name` put back in the judge's order: [rows, 784]."""
    shuffled = images(run, name, "x_hat_shuffled", len(order), "decoder's output")
    out = np.empty_like(shuffled)
    out[order] = shuffled
    return out


def losses(run, i, name, order, latent=settings.LATENT_SIZE, logits=False):
    """(mean loss per image on the changed test images, on the unchanged ones) of measurement
    `name`, computed here from its mu, logvar [N, latent] and decoded images (or, with `logits`,
    the decoder's logits [N, 784], taken through a sigmoid)."""
    n, changed = len(i["x_eval"]), int(i["changed"])
    mu = array(run, name, "mu", (n, latent))
    logvar = array(run, name, "logvar", (n, latent))
    if logits:
        x_hat = np.empty((n, settings.IMAGE_SIZE))
        x_hat[order] = array(run, name, "x_hat_shuffled", (n, settings.IMAGE_SIZE), "the decoder's logits")
        x_hat = sigmoid(x_hat)
    else:
        x_hat = decoded(run, name, order)[:n]
    x = i["x_eval"][:, None].astype(np.float64)
    return (neg_elbo(x_hat[:changed], x[:changed], mu[:changed], logvar[:changed]),
            neg_elbo(x_hat[changed:], x[changed:], mu[changed:], logvar[changed:]))


@dataclass(frozen=True)
class Bar:
    """A trained model's loss bar (from the data set's record): full points below `threshold`,
    partial credit linearly to 0 at `zero`; a loss below `floor` no model trained `epochs`
    epochs gets, nor a gap between changed and unchanged images above `max_gap` (memorised())."""

    threshold: float
    zero: float
    floor: float
    epochs: int
    max_gap: float


def vae_bar():
    """6.1's and 6.2's bar: vae.py's models after settings.EPOCHS epochs."""
    data = settings.data()
    return Bar(data.loss_threshold, data.loss_zero, data.loss_floor, settings.EPOCHS, data.max_clean_gap)


def memorised(changed, clean, epochs, floor=None, max_gap=None):
    """Fail when the losses show a model that has MNIST images stored (the test split is
    public, the training split is the student's): one far better on unchanged images than on
    the changed ones (by more than `max_gap`), or better on the changed ones than any model
    trained `epochs` epochs gets (`floor`); both by default vae.py's models', calibrated."""
    if floor is None:
        floor = settings.data().loss_floor if epochs <= settings.EPOCHS else settings.data().final_loss_floor
    max_gap = settings.data().max_clean_gap if max_gap is None else max_gap
    if changed - clean > max_gap:
        raise Fail(f"your model's loss is {clean:.1f} on {settings.CLEAN_IMAGES} unchanged {settings.data().title} "
                   f"images but {changed:.1f} on the judge's changed test images: trained models differ by at most "
                   f"{max_gap:.0f}, a model that has {settings.data().title} images stored does "
                   "not. No points.")
    if changed < floor:
        raise Fail(f"your model's loss on the judge's changed test images is {changed:.1f}, below {floor:.0f}, which no "
                   f"model of this homework reaches after {epochs} epochs of training: it cannot come from the "
                   "training. No points.")


def epoch_times(seconds):
    """" train_vae's epochs took 12.1-13.4 s each here." from the student process's timings ('' if none)."""
    if not isinstance(seconds, list) or not seconds or not all(isinstance(t, (int, float)) for t in seconds):
        return ""
    return f" train_vae's epochs took {min(seconds):.1f}-{max(seconds):.1f} s each here."


def check_loss(run, i, model, bar=None):
    bar = bar or vae_bar()
    report = fact(run, "train")
    reported = report.get("reported") or []
    batches = report.get("num_batches") or 1
    loss, clean = losses(run, i, "evaluate", i["order"])
    if loss < bar.zero:  # it would earn points: is it a model that has MNIST stored?
        memorised(loss, clean, bar.epochs, bar.floor, bar.max_gap)
    own = reported[bar.epochs - 1] if len(reported) >= bar.epochs else None
    said = f" (train_vae's own epoch {bar.epochs}: {own / batches:.1f})" if own is not None and np.isfinite(own) else ""
    timed = epoch_times(report.get("seconds")[:bar.epochs] if isinstance(report.get("seconds"), list) else None)
    credit = falling_credit(loss, bar.threshold, bar.zero)
    if credit == 1.0:
        return 1.0, (f"loss per image {loss:.1f} < {bar.threshold:.0f} on the judge's changed test images "
                     f"({clean:.1f} on unchanged ones){said}.{timed}")
    message = (f"after {bar.epochs} epochs your {model}'s loss per image on {settings.EVAL_IMAGES} test images "
               f"is {loss:.1f}; it must be below {bar.threshold:.0f}{said}")
    if not credit:
        raise Fail(message + f". Check the loss, the learning rate use and that every batch is trained on.{timed}")
    return credit, (f"{message}; partial credit runs linearly to 0 at {bar.zero:.0f}. "
                                 f"A larger hidden size or another layer usually gets below it.{timed}")


def reconstructions(run, model, number):
    """[The picture of the first 10 changed test images above what the trained `model` (VAE or
    CVAE) made of them], or [] when the measured values do not allow it."""
    if run.problem("evaluate"):
        return []
    shuffled = run.arrays.get("evaluate.x_hat_shuffled")
    if shuffled is None or shuffled.size != len(run.inputs["order"]) * settings.IMAGE_SIZE:
        return []
    x_hat = np.empty((len(shuffled), settings.IMAGE_SIZE))
    x_hat[run.inputs["order"]] = shuffled.reshape(len(shuffled), -1)
    return [(f"{model}: test images and their reconstructions",
             reconstruction_pairs(run.inputs["x_eval"][:10], np.clip(x_hat[:10], 0, 1)),
             f"The first 10 of the {settings.EVAL_IMAGES} changed {settings.data().title} test images {number} was "
             "scored on (turned and stretched by the judge's secret transformation), above what your trained model "
             "made of them.", number)]
