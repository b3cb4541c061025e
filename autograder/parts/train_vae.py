"""Part 5: train_vae(model, train_loader, args, is_cvae), judged on its own.

The student's train_vae runs on small stand-in models (ToyVAE, ToyCVAE) whose starting
weights the judge chose, with a stand-in loss in place of the student's loss_function, so
only train_vae is judged. The student's process reports what train_vae returned and the
weights it left. The measuring process computes the stand-ins' outputs from the judge's
starting weights (5.1, 5.4: with learning rate 0 they never change), replays one epoch of
Adam itself (5.2) and evaluates the weights train_vae left (5.3); the judge recomputes
every loss from those outputs.
"""
import sys

import numpy as np

from ..judging.kit import Fail, Test, array, fact, one_hot
from ..isolation.measuring import Missing
from ..config import settings

NAME = "train_vae"
FILES = ("vae.py", "assignment.py")
TOY_LATENT = 4
IMAGES, BATCH, EPOCHS = 1024, 128, 3
C_SCALE = 8.0  # c's own weights on mu and logvar: large, so wrong labels change the loss a lot
SUM_TOLERANCE = 1e-3  # 5.1, 5.4: relative
# 5.2: a correct train_vae moves the weights as the judge's replay does, up to float error
# (correlation 1.0000, size 1.000x). Simulated over 100 draws, gradients summed across batches
# reach correlation 0.975 (size 1.08-1.40x), a new Adam per batch 0.965, batches in another order
# 0.992: the old bars (0.95, 0.8-1.25x) let the first pass 66% of draws and the second 13%.
MOVE_CORRELATION, MOVE_SIZE = 0.999, (0.97, 1.03)
SEPARATION = 5 * SUM_TOLERANCE  # every wrong c moves 5.4's sum by at least this, relative
SCENARIOS = {  # name: (conditional, optimizer, learning rate, epochs)
    "sum": (False, "SGD", 0.0, 1), "update": (False, "Adam", 1e-3, 1),
    "lower": (False, "Adam", 1e-2, EPOCHS), "cvae_sum": (True, "SGD", 0.0, 1)}


def toy_model(tf, conditional):
    """A deterministic stand-in with the VAE/CVAE call signature (not a VAE: no sampling).
    c has a fixed, strong effect on mu and logvar, so wrong labels change the loss a lot."""
    layers = tf.keras.layers

    class Toy(tf.keras.Model):
        def __init__(self):
            super().__init__()
            # the attributes the stencil's models carry, in case train_vae reads them
            self.input_size, self.latent_size = settings.IMAGE_SIZE, TOY_LATENT
            self.num_classes = settings.NUM_CLASSES
            self.encode = layers.Dense(2 * TOY_LATENT)
            self.decode = layers.Dense(settings.IMAGE_SIZE, activation="sigmoid")
            self.from_c = layers.Dense(2 * TOY_LATENT, use_bias=False, trainable=False)

        def build(self, *shapes):  # the layers build themselves on the first call
            self.built = True

        def outputs(self, x, c=None):
            flat = tf.reshape(x, (-1, settings.IMAGE_SIZE))
            stats = self.encode(flat if c is None else tf.concat([flat, c], 1))
            if c is not None:
                stats = stats + self.from_c(c)
            mu, logvar = stats[:, :TOY_LATENT], stats[:, TOY_LATENT:]
            image = self.decode(mu if c is None else tf.concat([mu, c], 1))
            return tf.reshape(image, (-1, 1, 28, 28)), mu, logvar

    class ToyVAE(Toy):
        def call(self, x):
            return self.outputs(x)

    class ToyCVAE(Toy):
        def call(self, x, c):
            return self.outputs(x, tf.cast(c, tf.float32))

    return (ToyCVAE if conditional else ToyVAE)()


def weight_shapes(conditional):
    extra = settings.NUM_CLASSES if conditional else 0
    return [(settings.IMAGE_SIZE + extra, 2 * TOY_LATENT), (2 * TOY_LATENT,),
            (TOY_LATENT + extra, settings.IMAGE_SIZE), (settings.IMAGE_SIZE,)] + (
        [(settings.NUM_CLASSES, 2 * TOY_LATENT)] if conditional else [])


def with_weights(tf, conditional, weights, x):
    """A stand-in built on one image and given `weights` (in weight_shapes order)."""
    model = toy_model(tf, conditional)
    model(*((x[:1], one_hot(np.zeros(1, int))) if conditional else (x[:1],)))
    layers = [model.encode.kernel, model.encode.bias, model.decode.kernel, model.decode.bias]
    for variable, value in zip(layers + ([model.from_c.kernel] if conditional else []), weights):
        variable.assign(value)
    return model


def draw_weights(rng, conditional):
    """Starting weights of a stand-in, in weight_shapes order (c's own effect on mu and
    logvar is strong: uniform in +-C_SCALE)."""
    return [rng.uniform(-scale, scale, shape).astype(np.float32)
            for k, shape in enumerate(weight_shapes(conditional))
            for scale in [C_SCALE if k == 4 else 1.0 / np.sqrt(shape[0])]]


def toy_cvae_numpy(weights, x, c):
    """The stand-in CVAE's outputs in numpy (twin of toy_model's ToyCVAE), for images x
    [N,1,28,28] and c [N,10]: x_hat [N,1,28,28], mu and logvar [N,4]."""
    flat = x.reshape(len(x), -1)
    stats = np.concatenate([flat, c], 1) @ weights[0] + weights[1] + c @ weights[4]
    mu, logvar = stats[:, :TOY_LATENT], stats[:, TOY_LATENT:]
    image = 1.0 / (1.0 + np.exp(-(np.concatenate([mu, c], 1) @ weights[2] + weights[3])))
    return image.reshape(-1, 1, 28, 28), mu, logvar


def wrong_cs(labels):
    """The wrong c's [N,10] a train_vae may give the CVAE: zeros, one class for every image,
    each label plus one. (Labels swapped between images of one batch change only the
    cross terms of a sum, so a sum cannot tell them: no test claims to.)"""
    n = len(labels)
    return ([np.zeros((n, settings.NUM_CLASSES), np.float32)]
            + [one_hot(np.full(n, k)) for k in range(settings.NUM_CLASSES)]
            + [one_hot((labels + 1) % settings.NUM_CLASSES)])


def telling_weights(rng, images, labels):
    """Starting weights of the stand-in CVAE under which every c of wrong_cs moves the sum
    of batch losses (5.4) by at least SEPARATION of itself, so no wrong c can pass by luck
    (with weights drawn at random about 3% of gradings could not tell zeros from labels)."""
    x = images[:, None].astype(np.float64) / 255.0

    def total(weights, c):
        x_hat, mu, logvar = toy_cvae_numpy(weights, x, c)
        return batch_sum(stand_in_per_image(x_hat, x, mu, logvar))

    for _ in range(100):  # about half the draws pass; 100 failures in a row do not happen
        weights = draw_weights(rng, True)
        right = total(weights, one_hot(labels))
        if all(abs(total(weights, c) - right) >= SEPARATION * right for c in wrong_cs(labels)):
            return weights
    raise RuntimeError("no stand-in CVAE weights tell wrong labels from right ones")


def build_inputs(rng):
    """What the student's process gets: 1024 training images with their labels and the
    stand-ins' starting weights (nothing secret)."""
    with np.load(settings.data_npz()) as mnist:
        pick = rng.choice(len(mnist["y_train"]), IMAGES, replace=False)
        images, labels = mnist["x_train"][pick], mnist["y_train"][pick]
    given = {"images": images, "labels": labels, "batch_size": np.array(BATCH), "epochs": np.array(EPOCHS)}
    for conditional, weights in ((False, draw_weights(rng, False)), (True, telling_weights(rng, images, labels))):
        given.update({f"w{int(conditional)}_{k}": w for k, w in enumerate(weights)})
    return given


def weights_of(given, conditional):
    return [given[f"w{int(conditional)}_{k}"] for k in range(len(weight_shapes(conditional)))]


def stand_in_loss(tf):
    """The loss train_vae is given in this part (stand_in_per_image is its twin)."""
    def loss(x_hat, x, mu, logvar):
        total = tf.reduce_sum(tf.square(x_hat - x)) + tf.reduce_sum(tf.square(mu)) \
            + tf.reduce_sum(tf.square(logvar))
        return total / tf.cast(tf.shape(x)[0], tf.float32)
    return loss


def stand_in_per_image(x_hat, x, mu, logvar):
    """Per-image values of stand_in_loss [N]."""
    n = len(x)
    return ((x_hat - x) ** 2).reshape(n, -1).sum(1) + (mu ** 2).sum(1) + (logvar ** 2).sum(1)


def batch_sum(per_image):
    """What train_vae returns for per-image losses [N]: the sum over batches of their means."""
    return sum(per_image[s:s + BATCH].mean() for s in range(0, len(per_image), BATCH))


def replace_everywhere(original, replacement, train_vae):
    """Point every module-level name bound to `original` (aliases and helper modules
    included) and train_vae's default arguments at `replacement` (None: keep `original`, as a
    handout does without the judge's functions: steps.py)."""
    if replacement is None or getattr(original, "stand_in", False):
        return
    replacement.stand_in = True
    for module in list(sys.modules.values()):
        for name, value in list(vars(module).items()) if module else ():
            if value is original:
                setattr(module, name, replacement)
    if train_vae.__defaults__:
        train_vae.__defaults__ = tuple(replacement if d is original else d for d in train_vae.__defaults__)


def returned(value):
    """How the judge sees train_vae's return value: its type, and its value when it is one
    number (a float, a numpy scalar or a 0-d tensor alike)."""
    out = {"type": type(value).__name__}
    try:
        value = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like is simply no number
        return out
    out["shape"] = list(value.shape)
    if value.dtype.kind in "fiu" and value.size == 1:
        out["value"] = float(value.reshape(()))
    return out


def build(s, ex, given):
    """Student process: run the student's train_vae on each scenario; report what it returned,
    the optimizer's step count and the weights it left."""
    from autograder.isolation.student import pristine_assignment

    tf = s.tf
    replace_everywhere(s.vae.loss_function, stand_in_loss(tf), s.assignment.train_vae)
    x = given["images"][:, None].astype(np.float32) / 255.0
    labels = given["labels"].astype(np.int32)
    args = pristine_assignment().parseArguments(["--batch_size", str(BATCH)])

    def scenario(name, conditional, optimizer, rate, epochs):
        tf.keras.utils.set_random_seed(settings.SEED)
        model = with_weights(tf, conditional, weights_of(given, conditional), x)
        model.optimizer = getattr(tf.keras.optimizers, optimizer)(learning_rate=rate)
        model.optimizer.build(model.trainable_variables)  # no variable creation inside a student's tf.function
        data = tf.data.Dataset.from_tensor_slices((x, labels)).batch(BATCH)
        for _ in range(epochs):
            value = s.assignment.train_vae(model, data, args, is_cvae=conditional)
        ex.fact(name, steps=int(model.optimizer.iterations.numpy()), **returned(value))
        if rate > 0:
            left = [model.encode.kernel, model.encode.bias, model.decode.kernel, model.decode.bias]
            ex.add_arrays(name, **{f"w{k}": np.asarray(w) for k, w in enumerate(left)})

    for name, (conditional, optimizer, rate, epochs) in SCENARIOS.items():
        cvae = ", is_cvae=True" if conditional else ""
        doing = (f"calling train_vae(...{cvae}) on a stand-in {'CVAE' if conditional else 'VAE'} "
                 + (f"for {epochs} epochs " if epochs > 1 else "") + f"with {optimizer} (learning rate {rate:g})")
        ex.run(name, doing, lambda n=name, a=(conditional, optimizer, rate, epochs): scenario(n, *a))


def inputs(rng):
    return {}


def toy_outputs(e, i, conditional, weights):
    tf = e.tf
    x = i["images"][:, None].astype(np.float32) / 255.0
    model = with_weights(tf, conditional, weights, x)
    result = model(x, one_hot(i["labels"])) if conditional else model(x)
    return dict(zip(("x_hat", "mu", "logvar"), (np.asarray(r) for r in result)))


def left_weights(i, name):
    """The trainable weights the student's train_vae left in scenario `name` (Missing when it
    left none: the judge then reports why that scenario failed)."""
    if any(f"student.{name}.w{k}" not in i for k in range(4)):
        raise Missing(name)
    return [i[f"student.{name}.w{k}"] for k in range(4)]


def flat(weights):
    return np.concatenate([np.ravel(w) for w in weights])


def replay(e, i, rate, epochs):
    """The judge's own training of the stand-in VAE from the starting weights: one Adam
    step per batch of the stand-in loss, batches in order. Returns the weights, flat."""
    tf = e.tf
    x = i["images"][:, None].astype(np.float32) / 255.0
    model = with_weights(tf, False, weights_of(i, False), x)
    optimizer = tf.keras.optimizers.Adam(learning_rate=rate)
    optimizer.build(model.trainable_variables)
    loss = stand_in_loss(tf)
    for _ in range(epochs):
        for start in range(0, len(x), BATCH):
            batch = tf.constant(x[start:start + BATCH])
            with tf.GradientTape() as recorder:
                x_hat, mu, logvar = model(batch)
                value = loss(x_hat, batch, mu, logvar)
            optimizer.apply_gradients(zip(recorder.gradient(value, model.trainable_variables), model.trainable_variables))
    return flat([model.encode.kernel, model.encode.bias, model.decode.kernel, model.decode.bias])


def measure_update(e, i):
    _, _, rate, epochs = SCENARIOS["update"]
    return {"before": flat(weights_of(i, False)[:4]), "after": flat(left_weights(i, "update")),
            "replay": replay(e, i, rate, epochs)}


def measure_lower(e, i):
    before = toy_outputs(e, i, False, weights_of(i, False))
    after = toy_outputs(e, i, False, left_weights(i, "lower"))
    return {**{f"before_{k}": v for k, v in before.items()}, **{f"after_{k}": v for k, v in after.items()}}


MEASURES = [  # 5.1 and 5.4: learning rate 0, so the judge's starting weights are the model's throughout
    ("sum", "computing the stand-in VAE's outputs", lambda e, i: toy_outputs(e, i, False, weights_of(i, False))),
    ("update", "replaying one epoch of Adam on the stand-in VAE", measure_update),
    ("lower", "computing the stand-in's outputs before and after training", measure_lower),
    ("cvae_sum", "computing the stand-in CVAE's outputs", lambda e, i: toy_outputs(e, i, True, weights_of(i, True))),
]


def expected_sum(run, name, i):
    """Sum over batches of the stand-in loss's batch mean, from the (unchanged) model's outputs."""
    n = len(i["images"])
    x = i["images"][:, None].astype(np.float64) / 255.0
    return batch_sum(stand_in_per_image(array(run, name, "x_hat", (n, 1, 28, 28)), x,
                                        array(run, name, "mu", (n, TOY_LATENT)),
                                        array(run, name, "logvar", (n, TOY_LATENT))))


def check_sum(run, i, name, is_cvae):
    report = fact(run, name)
    if "value" not in report:
        shape = f" of shape {report['shape']}" if report.get("shape") else ""
        raise Fail(f"train_vae returned a {report.get('type')}{shape}; expected one number, the sum of "
                   "the batch losses (e.g. return float(total))")
    expected = expected_sum(run, name, i)
    got = report["value"]
    if not np.isclose(got, expected, rtol=SUM_TOLERANCE):
        batches = -(-len(i["images"]) // BATCH)
        hint = (" It looks like the mean, not the sum." if np.isclose(got * batches, expected, rtol=SUM_TOLERANCE)
                else " Use one_hot(labels, 10) as c." if is_cvae else "")
        raise Fail(f"train_vae returned {got:.6g}; the sum of the {batches} batch losses is "
                   f"{expected:.6g}.{hint}")


def train_returns_sum(run, i):
    check_sum(run, i, "sum", False)


def train_updates(run, i):
    """The weights train_vae left must have moved like the judge's replay (one Adam step per
    batch, in the loader's order): the same direction and size (MOVE_CORRELATION, MOVE_SIZE)."""
    before = array(run, "update", "before")
    replayed = array(run, "update", "replay", before.shape)
    after = array(run, "update", "after", before.shape, "the weights after train_vae")
    moved, expected = after - before, replayed - before
    if np.max(np.abs(moved)) < 1e-7:
        raise Fail("the model's weights did not change: call model.optimizer.apply_gradients")
    correlation = float(moved @ expected / (np.linalg.norm(moved) * np.linalg.norm(expected)))
    size = float(np.linalg.norm(moved) / np.linalg.norm(expected))
    if correlation >= MOVE_CORRELATION and MOVE_SIZE[0] <= size <= MOVE_SIZE[1]:
        return 1.0, (f"passed (the weights moved like one Adam step per batch: correlation {correlation:.4f}, "
                     f"size {size:.3f}x)")
    steps, batches = fact(run, "update").get("steps"), -(-len(i["images"]) // BATCH)
    if steps != batches:
        raise Fail(f"model.optimizer took {steps} steps for {batches} batches; expected one per batch")
    raise Fail(f"the weights moved unlike one Adam step per batch of the given loss (correlation "
               f"{correlation:.4f} with the grader's replay, size {size:.3f}x; expected >= {MOVE_CORRELATION} and "
               f"{MOVE_SIZE[0]}-{MOVE_SIZE[1]}x)")


def train_lowers(run, i):
    x = i["images"][:, None].astype(np.float64) / 255.0
    losses = {}
    for when in ("before", "after"):
        n = len(x)
        parts = [array(run, "lower", f"{when}_{k}", shape)
                 for k, shape in (("x_hat", (n, 1, 28, 28)), ("mu", (n, TOY_LATENT)), ("logvar", (n, TOY_LATENT)))]
        losses[when] = stand_in_per_image(parts[0], x, *parts[1:]).mean()
    if not losses["after"] < 0.9 * losses["before"]:
        raise Fail(f"after {EPOCHS} epochs the loss went from {losses['before']:.4g} to "
                   f"{losses['after']:.4g}; expected a drop of 10% or more (descend the gradient of the loss)")


def train_cvae(run, i):
    check_sum(run, i, "cvae_sum", True)


TESTS = [
    Test("5.1", "train_vae: returns the sum of the batch losses as a float", 5, train_returns_sum),
    Test("5.2", "train_vae: applies one optimizer step per batch", 4, train_updates),
    Test("5.3", "train_vae: lowers the loss on a small fixed subset", 3, train_lowers),
    Test("5.4", "train_vae: trains a CVAE with one-hot labels", 3, train_cvae),
]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("5.1–5.4", "`train_vae`",
     "run on small stand-in models with a stand-in loss (so only `train_vae` is judged): returns the sum "
     "of the batch losses (one number: a float, numpy scalar or 0-d tensor); the weights move as the "
     "grader's replay of one Adam step per batch, in the loader's order, moves them (correlation at least "
     "0.999, size within 3%); the loss drops on 1,024 images; a CVAE gets `one_hot(labels, 10)`"),
]
