"""What each stage computes inside the student process (run by child.py).

A probe calls the student's code on inputs the judge chose and returns plain values
(numpy arrays, numbers, booleans). It decides nothing: the judge's checks.py does,
in its own process. STAGES maps a stage to its probes, run in order; state shared
by later probes of a stage (a built or trained model) lives in STATE.

Where a part is tested on its own, the others are replaced by stand-ins, so one bug
costs only its own points: train_vae is run on tiny deterministic models (ToyVAE,
ToyCVAE) with a simple stand-in loss instead of the student's VAE and loss_function.
"""
import importlib
import importlib.util
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

from autograder import settings

STATE = {}


def import_submission():
    """Import TensorFlow (seeded), then the student's vae and assignment modules."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(settings.SEED)
    vae = importlib.import_module("vae")
    assignment = importlib.import_module("assignment")
    return SimpleNamespace(tf=tf, vae=vae, assignment=assignment)


def pristine_assignment():
    """The stencil's own assignment.py, for the given helpers (load_mnist, parseArguments)
    that a student may have edited."""
    spec = importlib.util.spec_from_file_location("pristine_assignment",
                                                  settings.PRISTINE_ASSIGNMENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_array(value, what):
    """A float32 numpy copy of a tensor or array, or a TypeError naming `what`."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} should be a tensor, got {type(value).__name__} ({error})")
    return array


def unpack3(result, what):
    """(x_hat, mu, logvar) as arrays, or a TypeError describing what came back."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise TypeError(f"{what} should return a tuple (x_hat, mu, logvar); "
                        f"it returned {type(result).__name__}")
    return {key: as_array(v, f"{what}'s {key}") for key, v in zip(("x_hat", "mu", "logvar"), result)}


# 1. reparameterize ---------------------------------------------------------------

def reparam_sample(m, inputs):
    z = m.vae.reparameterize(m.tf.constant(inputs["mu"]), m.tf.constant(inputs["logvar"]))
    return {"z": as_array(z, "reparameterize's result")}


def reparam_again(m, inputs):
    mu, logvar = m.tf.constant(inputs["mu_small"]), m.tf.constant(inputs["logvar_small"])
    first = as_array(m.vae.reparameterize(mu, logvar), "reparameterize's result")
    second = as_array(m.vae.reparameterize(mu, logvar), "reparameterize's result")
    return {"first": first, "second": second}


def reparam_grad(m, inputs):
    tf = m.tf
    mu, logvar = tf.Variable(inputs["mu_small"]), tf.Variable(inputs["logvar_small"])
    with tf.GradientTape() as recorder:
        z = m.vae.reparameterize(mu, logvar)
        total = tf.reduce_sum(z)
    grad_mu, grad_logvar = recorder.gradient(total, [mu, logvar])
    out = {"z": as_array(z, "reparameterize's result"),
           "mu_reached": grad_mu is not None, "logvar_reached": grad_logvar is not None}
    if grad_mu is not None:
        out["grad_mu"] = as_array(grad_mu, "the gradient")
    if grad_logvar is not None:
        out["grad_logvar"] = as_array(grad_logvar, "the gradient")
    return out


# 2. loss_function ----------------------------------------------------------------

def loss_of(m, x_hat, x, mu, logvar):
    c = m.tf.constant
    return as_array(m.vae.loss_function(c(x_hat), c(x), c(mu), c(logvar)), "loss_function's result")


def loss_value(m, i):
    return {"value": loss_of(m, i["x_hat"], i["x"], i["mu"], i["logvar"])}


def loss_doubled(m, i):
    twice = {k: np.concatenate([i[k], i[k]]) for k in ("x_hat", "x", "mu", "logvar")}
    return {"value": loss_of(m, **twice)}


def loss_kl_cases(m, i):
    zeros = np.zeros_like(i["mu"])
    return {"prior": loss_of(m, i["x_hat"], i["x"], zeros, zeros),
            "mu_only": loss_of(m, i["x_hat"], i["x"], i["mu"], zeros),
            "logvar_only": loss_of(m, i["x_hat"], i["x"], zeros, i["logvar"])}


# 3-4. VAE and CVAE ---------------------------------------------------------------

ATTRIBUTES = ("encoder", "mu_layer", "logvar_layer", "decoder")


def make_model(m, conditional, latent_size=settings.LATENT_SIZE):
    if conditional:
        return m.vae.CVAE(settings.IMAGE_SIZE, num_classes=settings.NUM_CLASSES,
                          latent_size=latent_size)
    return m.vae.VAE(settings.IMAGE_SIZE, latent_size=latent_size)


def model_build(conditional):
    def probe(m, i):
        model = STATE["model"] = make_model(m, conditional)
        return {f"has_{name}": callable(getattr(model, name, None)) for name in ATTRIBUTES}
    return probe


class FormRecorder:
    """Stands in for model.encoder during one call of the student's call(): remembers the
    shape of what call() hands the encoder ([N, 784], [N, 1, 28, 28], ...), then calls it."""

    def __init__(self, encoder):
        self.encoder, self.shape = encoder, None

    def __call__(self, *args, **kwargs):
        if self.shape is None and args and hasattr(args[0], "shape"):
            self.shape = tuple(int(d) for d in args[0].shape[1:])
        return self.encoder(*args, **kwargs)


def call_recording_form(model, args, key):
    """model(*args); STATE[f"form_{key}"] becomes the per-example shape its call() gave the
    encoder (None if unknown), kept even if call() fails later. The recorder bypasses Keras'
    attribute tracking, so nothing about the model changes."""
    encoder = model.encoder
    recorder = FormRecorder(encoder)
    object.__setattr__(model, "encoder", recorder)
    try:
        return model(*args)
    finally:
        object.__setattr__(model, "encoder", encoder)
        STATE[f"form_{key}"] = recorder.shape


def encoder_input(flat, form):
    """The judge's flat encoder input [N, F] in the form the student's call() uses."""
    if form and int(np.prod(form)) == flat.shape[1]:
        return flat.reshape((len(flat),) + tuple(form))
    return flat


def model_forward(conditional, key="model"):
    def probe(m, i):
        model = STATE[key]
        args = (i["x"], i["c"]) if conditional else (i["x"],)
        return unpack3(call_recording_form(model, tuple(map(m.tf.constant, args)), key), "call")
    return probe


def call_distribution(conditional):
    """x_hat of call() for each image repeated K times, next to the decoder's output for
    z = mu + sigma * eps drawn here: both are samples of the same distribution when call()
    decodes concat([reparameterize(mu, logvar), c]). Means and variances over the K draws."""
    def probe(m, i):
        tf, model = m.tf, STATE["model"]
        x, k = i["x_rep"], int(i["repeats"])
        c = np.repeat(i["c"][:len(x)], k, 0)
        x_all = np.repeat(x, k, 0)
        result = model(*((tf.constant(x_all), tf.constant(c)) if conditional else (tf.constant(x_all),)))
        called = unpack3(result, "call")
        z = called["mu"] + np.exp(0.5 * called["logvar"]) * i["eps_rep"].reshape(len(x_all), -1)
        code = np.concatenate([z, c], 1) if conditional else z
        decoded = as_array(model.decoder(tf.constant(code.astype(np.float32))), "decoder's output")
        out = {}
        for name, value in (("call", called["x_hat"]), ("decoder", decoded)):
            if value.size != len(x_all) * settings.IMAGE_SIZE:
                raise TypeError(f"{name} returned {list(value.shape)}, expected [{len(x_all)}, 1, 28, 28]")
            value = value.reshape(len(x), k, -1)
            out[f"{name}_mean"], out[f"{name}_var"] = value.mean(1), value.var(1)
        return out
    return probe


def pieces(m, model, i, conditional, z, form=None):
    """The autograder's own path through the model: encoder -> mu/logvar layers, decoder.
    The encoder gets the images in the form the student's call() gives it."""
    tf = m.tf
    flat = i["x"].reshape(len(i["x"]), -1)
    c = i.get("c")
    hidden = model.encoder(tf.constant(np.concatenate([flat, c], 1) if conditional else encoder_input(flat, form)))
    code = np.concatenate([z, c], 1) if conditional else z
    return {"mu": as_array(model.mu_layer(hidden), "mu_layer's output"),
            "logvar": as_array(model.logvar_layer(hidden), "logvar_layer's output"),
            "decoded": as_array(model.decoder(tf.constant(code)), "decoder's output")}


def model_pieces(conditional):
    def probe(m, i):
        return pieces(m, STATE["model"], i, conditional, i["z"], STATE.get("form_model"))
    return probe


def model_other_latent(conditional):
    def probe(m, i):
        STATE["small"] = make_model(m, conditional, latent_size=int(i["z_small"].shape[1]))
        return model_forward(conditional, "small")(m, i)
    return probe


def model_other_latent_pieces(conditional):
    def probe(m, i):
        return pieces(m, STATE["small"], i, conditional, i["z_small"], STATE.get("form_small"))
    return probe


def decoder_uses_c(m, i):
    model, tf = STATE["model"], m.tf
    return {f"decoded_{k}": as_array(model.decoder(tf.constant(np.concatenate([i["z"], i[k]], 1))),
                                     "decoder's output") for k in ("c", "c_other")}


def encoder_uses_c(m, i):
    model, tf = STATE["model"], m.tf
    flat = i["x"].reshape(len(i["x"]), -1)
    return {f"mu_{k}": as_array(model.mu_layer(model.encoder(tf.constant(np.concatenate([flat, i[k]], 1)))),
                                "mu_layer's output") for k in ("c", "c_other")}


# 5. train_vae on stand-in models ---------------------------------------------------

def toy_models(tf):
    """Deterministic stand-ins with the VAE/CVAE call signatures (not VAEs: no sampling)."""
    layers = tf.keras.layers

    class Toy(tf.keras.Model):
        def __init__(self):
            super().__init__()
            # the attributes the stencil's models carry, in case train_vae reads them
            self.input_size, self.latent_size = settings.IMAGE_SIZE, 4
            self.num_classes = settings.NUM_CLASSES
            self.encode = layers.Dense(8)
            self.decode = layers.Dense(settings.IMAGE_SIZE, activation="sigmoid")
            # A fixed, strong effect of c on mu and logvar: with wrong labels (or zeros) the
            # stand-in loss differs by far more than 5.4's tolerance.
            self.from_c = layers.Dense(8, use_bias=False, trainable=False,
                                       kernel_initializer=tf.keras.initializers.RandomUniform(-2.0, 2.0, seed=7))

        def outputs(self, x, c=None):
            flat = tf.reshape(x, (-1, settings.IMAGE_SIZE))
            stats = self.encode(flat if c is None else tf.concat([flat, c], 1))
            if c is not None:
                stats = stats + self.from_c(c)
            mu, logvar = stats[:, :4], stats[:, 4:]
            image = self.decode(mu if c is None else tf.concat([mu, c], 1))
            return tf.reshape(image, (-1, 1, 28, 28)), mu, logvar

    class ToyVAE(Toy):
        def call(self, x):
            return self.outputs(x)

    class ToyCVAE(Toy):
        def call(self, x, c):
            return self.outputs(x, tf.cast(c, tf.float32))

    return ToyVAE, ToyCVAE


def stand_in_loss(tf):
    """The loss train_vae is given in this stage (checks.stand_in_loss is its twin)."""
    def loss(x_hat, x, mu, logvar):
        total = tf.reduce_sum(tf.square(x_hat - x)) + tf.reduce_sum(tf.square(mu)) \
            + tf.reduce_sum(tf.square(logvar))
        return total / tf.cast(tf.shape(x)[0], tf.float32)
    return loss


def replace_everywhere(original, replacement, train_vae):
    """Point every module-level name bound to `original` (aliases and helper modules
    included) and train_vae's default arguments at `replacement`."""
    if getattr(original, "stand_in", False):
        return
    replacement.stand_in = True
    for module in list(sys.modules.values()):
        for name, value in list(vars(module).items()) if module else ():
            if value is original:
                setattr(module, name, replacement)
    if train_vae.__defaults__:
        train_vae.__defaults__ = tuple(replacement if d is original else d for d in train_vae.__defaults__)


def train_setup(m, i, conditional, optimizer):
    """A seeded stand-in model with `optimizer`, its data and the patched loss."""
    tf = m.tf
    tf.keras.utils.set_random_seed(settings.SEED)
    replace_everywhere(m.vae.loss_function, stand_in_loss(tf), m.assignment.train_vae)
    model = toy_models(tf)[conditional]()
    x = i["images"][:, None].astype(np.float32) / 255.0
    labels = i["labels"].astype(np.int32)
    model(*((x[:1], np.eye(settings.NUM_CLASSES, dtype=np.float32)[labels[:1]]) if conditional else (x[:1],)))
    model.optimizer = optimizer
    optimizer.build(model.trainable_variables)  # no variable creation inside a student's tf.function
    data = tf.data.Dataset.from_tensor_slices((x, labels)).batch(int(i["batch_size"]))
    args = pristine_assignment().parseArguments(["--batch_size", str(int(i["batch_size"]))])
    return model, data, args, x, labels


def outputs_of(model, x, labels, conditional):
    result = model(x, np.eye(settings.NUM_CLASSES, dtype=np.float32)[labels]) if conditional else model(x)
    return {k: np.asarray(v) for k, v in zip(("x_hat", "mu", "logvar"), result)}


def returned(value):
    """How the judge sees train_vae's return value: its type, and its value when it is one
    number (a float, a numpy scalar or a 0-d tensor alike)."""
    out = {"type": type(value).__name__}
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like is simply no number
        return out
    out["shape"] = list(array.shape)
    if array.dtype.kind in "fiu" and array.size == 1:
        out["value"] = float(array.reshape(()))
    return out


def train_sum(conditional):
    def probe(m, i):
        sgd = m.tf.keras.optimizers.SGD(learning_rate=0.0)  # weights stay put: losses are known
        model, data, args, x, labels = train_setup(m, i, conditional, sgd)
        value = m.assignment.train_vae(model, data, args, is_cvae=conditional)
        return {**returned(value), **outputs_of(model, x, labels, conditional)}
    return probe


def train_update(m, i):
    model, data, args, x, labels = train_setup(m, i, False, m.tf.keras.optimizers.Adam(1e-3))
    before = np.concatenate([w.numpy().ravel() for w in model.trainable_variables])
    m.assignment.train_vae(model, data, args, is_cvae=False)
    after = np.concatenate([w.numpy().ravel() for w in model.trainable_variables])
    return {"before": before, "after": after, "steps": int(model.optimizer.iterations.numpy())}


def train_lower(m, i):
    model, data, args, x, labels = train_setup(m, i, False, m.tf.keras.optimizers.Adam(1e-2))
    before = outputs_of(model, x, labels, False)
    for _ in range(int(i["epochs"])):
        m.assignment.train_vae(model, data, args, is_cvae=False)
    after = outputs_of(model, x, labels, False)
    return {**{f"before_{k}": v for k, v in before.items()},
            **{f"after_{k}": v for k, v in after.items()}}


# 6. end to end: the student's models, trained by the student's train_vae ----------------

def e2e_train(conditional, epochs):
    """Train the student's model to `epochs` epochs in total (a later call continues)."""
    def probe(m, i):
        tf = m.tf
        if "model" not in STATE:
            tf.keras.utils.set_random_seed(settings.SEED)
            given = pristine_assignment()
            model = STATE["model"] = make_model(m, conditional)
            model.optimizer = tf.keras.optimizers.Adam(learning_rate=settings.LEARNING_RATE)
            # Build every weight with one dummy batch, then Adam for all of them, outside any
            # tf.function (a model that made some weights in __init__ would otherwise get an
            # optimizer that knows only those).
            dummy = tf.zeros((2, 1, 28, 28))
            model(*((dummy, tf.one_hot([0, 1], settings.NUM_CLASSES)) if conditional else (dummy,)))
            model.optimizer.build(model.trainable_variables)
            flags = ["--batch_size", str(settings.BATCH_SIZE), "--num_epochs", str(settings.EPOCHS),
                     "--latent_size", str(settings.LATENT_SIZE),
                     "--learning_rate", str(settings.LEARNING_RATE)] + (["--is_cvae"] if conditional else [])
            STATE["args"] = given.parseArguments(flags)
            STATE["data"] = given.load_mnist(settings.BATCH_SIZE)
            STATE["epochs"] = 0
        reported, seconds = [], []
        while STATE["epochs"] < epochs:
            start = time.perf_counter()
            value = m.assignment.train_vae(STATE["model"], STATE["data"], STATE["args"], is_cvae=conditional)
            seconds.append(time.perf_counter() - start)
            reported.append(returned(value).get("value", np.nan))
            STATE["epochs"] += 1
            print(f"epoch {STATE['epochs']}: train_vae returned {value!r} in {seconds[-1]:.1f} s", flush=True)
        return {"reported": np.array(reported), "seconds": np.array(seconds),
                "num_batches": int(STATE["data"].cardinality())}
    return probe


def e2e_evaluate(conditional):
    """Encode the judge's test images, sample z with the judge's eps, and decode in the
    judge's shuffled order (so a decoder cannot echo back what the encoder just saw)."""
    def probe(m, i):
        tf, model = m.tf, STATE["model"]
        with np.load(os.environ["MNIST_NPZ"]) as mnist:
            x = mnist["x_test"][:len(i["eps"])].reshape(len(i["eps"]), -1).astype(np.float32) / 255.0
            c = np.eye(settings.NUM_CLASSES, dtype=np.float32)[mnist["y_test"][:len(i["eps"])]]
        if conditional:
            encoded = np.concatenate([x, c], 1)
        else:
            call_recording_form(model, (tf.constant(x[:2].reshape(2, 1, 28, 28)),), "trained")
            encoded = encoder_input(x, STATE["form_trained"])
        hidden = model.encoder(tf.constant(encoded))
        mu = as_array(model.mu_layer(hidden), "mu_layer's output")
        logvar = as_array(model.logvar_layer(hidden), "logvar_layer's output")
        z = mu + np.exp(0.5 * logvar) * i["eps"]
        code = np.concatenate([z, c], 1) if conditional else z
        order = i["order"]
        decoded = [as_array(model.decoder(tf.constant(code[order[s:s + 500]])), "decoder's output")
                   for s in range(0, len(order), 500)]
        return {"mu": mu, "logvar": logvar, "x_hat_shuffled": np.concatenate(decoded)}
    return probe


def e2e_generate(m, i):
    model, tf = STATE["model"], m.tf
    c = np.eye(settings.NUM_CLASSES, dtype=np.float32)[i["gen_labels"]]
    images = model.decoder(tf.constant(np.concatenate([i["gen_z"], c], 1)))
    return {"images": as_array(images, "decoder's output")}


# A probe that needs an earlier one's result (a built or trained model) is skipped when
# that one failed, and its tests report the earlier failure.
NEEDS = {"forward": "build", "distribution": "build", "pieces": "build", "latent_pieces": "latent", "decoder_c": "build",
         "encoder_c": "build", "evaluate": "train", "train_more": "train", "generate": "train_more"}

# stage -> [(probe name, function, what it does: quoted to the student if it fails)]
X = "x [16, 1, 28, 28]"
STAGES = {
    "reparameterize": [
        ("sample", reparam_sample, "calling reparameterize(mu, logvar) with mu, logvar [20000, 6]"),
        ("again", reparam_again, "calling reparameterize twice with the same mu, logvar [64, 6]"),
        ("grad", reparam_grad, "taking gradients of sum(reparameterize(mu, logvar))")],
    "loss": [
        ("value", loss_value, "calling loss_function(x_hat, x, mu, logvar) on a batch of 8"),
        ("doubled", loss_doubled, "calling loss_function on that batch repeated twice"),
        ("kl", loss_kl_cases, "calling loss_function with mu and/or logvar set to 0")],
    "train_vae": [
        ("sum", train_sum(False), "calling train_vae on a stand-in VAE (learning rate 0)"),
        ("update", train_update, "calling train_vae on a stand-in VAE with Adam"),
        ("lower", train_lower, "calling train_vae for 3 epochs on a stand-in VAE"),
        ("cvae_sum", train_sum(True), "calling train_vae(..., is_cvae=True) on a stand-in CVAE")],
}
for _stage, _conditional, _name in (("vae", False, "VAE"), ("cvae", True, "CVAE")):
    _call = f"model({X}, c [16, 10])" if _conditional else f"model({X})"
    STAGES[_stage] = [
        ("build", model_build(_conditional), f"building {_name}(784, latent_size=15)"),
        ("forward", model_forward(_conditional), f"calling {_call}"),
        ("pieces", model_pieces(_conditional), "calling encoder, mu_layer, logvar_layer and decoder one by one"),
        ("distribution", call_distribution(_conditional),
         f"calling the model on 8 images repeated 1024 times, and the decoder on z = mu + sigma * eps"),
        ("latent", model_other_latent(_conditional), f"building {_name} with latent_size=7 and calling {_call}"),
        ("latent_pieces", model_other_latent_pieces(_conditional),
         "calling the pieces of the latent_size=7 model one by one")]
STAGES["cvae"] += [
    ("decoder_c", decoder_uses_c, "calling decoder(concat([z, c])) with two different c"),
    ("encoder_c", encoder_uses_c, "calling mu_layer(encoder(concat([x, c]))) with two different c")]
for _stage, _conditional in (("e2e_vae", False), ("e2e_cvae", True)):
    STAGES[_stage] = [
        ("train", e2e_train(_conditional, settings.EPOCHS), f"training with train_vae for {settings.EPOCHS} epochs"),
        ("evaluate", e2e_evaluate(_conditional), "scoring the trained model on MNIST test images")]
STAGES["e2e_cvae"] += [
    ("train_more", e2e_train(True, settings.GENERATION_EPOCHS),
     f"training on to {settings.GENERATION_EPOCHS} epochs"),
    ("generate", e2e_generate, "decoding concat([z, one_hot(digit)]) for 100 z per digit")]
