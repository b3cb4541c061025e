"""Part 8 (conv_vae.py) graded on real code: planted bugs lose exactly the points in their row,
the stencil earns nothing; 8.5's measurement of which convolutions count, on correct ConvVAEs
of more styles exported in this process. A correct ConvVAE in another style, trained, and its
pictures: test_end_to_end.py (every part at once); the checks on fabricated
measurements: test_checks.py."""
from types import SimpleNamespace

import numpy as np
import pytest

from autograder.config.course import load
from autograder.isolation.measuring import CONVOLUTIONS
from autograder.isolation.measuring import Endpoints
from autograder.parts import conv_vae, models
from conftest import CONV, ROOT, assert_lost_exactly, message, numbers, stencil_submission

UNITS = tuple(numbers("conv_vae"))
REFERENCE = (ROOT / "solution" / "conv_vae.py").read_text()

# A dense VAE in disguise (issue 32): its encoder and decoder run convolutions, the reference's own
# among them, and throw each result away in another way. None may count for 8.5.
DISGUISE = '''L = tf.keras.layers


def rows(t):
    return tf.reshape(t, (tf.shape(t)[0], -1))


class DeadEncoder(L.Layer):
    def __init__(self, convolutional):
        super().__init__()
        self.convolutional = tf.keras.Sequential(convolutional)  # the reference's encoder: 2 convolutions
        self.dense = L.Dense(256, activation="relu")
        self.convs = [L.Conv2D(4, 3, padding="same") for _ in range(7)]
        self.hidden = [L.Dense(256) for _ in range(2)]

    def call(self, x):
        image = tf.reshape(x, (-1, 28, 28, 1))
        h = self.dense(rows(x))
        h = h + 0.0 * tf.reduce_sum(self.convolutional(x))
        h = h + 1e-12 * tf.reduce_sum(self.convs[0](image))
        h = h + 0.0 * tf.stop_gradient(tf.reduce_sum(self.convs[1](image)))
        h = tf.where(tf.reduce_sum(x) < -1.0, self.hidden[0](rows(self.convs[2](image))), h)
        c = self.hidden[1](rows(self.convs[3](image)))
        h = (h + c) - c
        h = h + self.hidden[1](rows(self.convs[4](image))) - self.hidden[1](rows(self.convs[4](image)))
        h = h + tf.reduce_mean(self.convs[5](image)) * (tf.reduce_sum(h) - tf.reduce_sum(h))
        return h + tf.reduce_mean(self.convs[6](tf.ones_like(image)))  # a convolution of no image


class DeadDecoder(L.Layer):
    def __init__(self, convolutional):
        super().__init__()
        self.convolutional = tf.keras.Sequential(convolutional)  # the reference's decoder: 3 transposed ones
        self.hidden, self.out = L.Dense(256, activation="relu"), L.Dense(784, activation="sigmoid")
        self.deconvs = [L.Conv2DTranspose(1, 3, padding="same") for _ in range(5)]

    def call(self, z):
        x_hat = tf.reshape(self.out(self.hidden(z)), (-1, 1, 28, 28))
        seed = tf.reshape(x_hat, (-1, 28, 28, 1))
        x_hat = x_hat + 0.0 * self.convolutional(z)  # the shape its output has, kept
        x_hat = tf.cond(tf.reduce_sum(z) > 1e9, lambda: x_hat + tf.reduce_mean(self.deconvs[0](seed)), lambda: x_hat)
        x_hat = x_hat + 1e-12 * tf.reduce_sum(self.deconvs[1](seed))
        x_hat = tf.where(tf.reduce_sum(z) > 1e9, tf.reshape(self.deconvs[2](seed), (-1, 1, 28, 28)), x_hat)
        c = tf.reshape(self.deconvs[3](seed), (-1, 1, 28, 28))
        x_hat = (x_hat + c) - c
        x_hat = x_hat + tf.reshape(self.deconvs[4](seed) - self.deconvs[4](seed), (-1, 1, 28, 28))
        return tf.clip_by_value(x_hat, 0.0, 1.0)


class ConvVAE(tf.keras.Model):'''

# name -> (conv_vae.py changes, {test: score}, {test: words in its message}). A decoder without a
# sigmoid breaks the [0, 1] contract that 8.2-8.4 each check; every other bug costs one test.
BUGS = {
    "channels-first images fed to Conv2D": (
        [("            layers.Reshape((28, 28, 1)),\n", "")], {"8.5": 0}, {"8.5": "with 28 channels"}),
    "no sigmoid at the end of the decoder": (
        [('layers.Conv2DTranspose(1, 3, strides=1, padding="same", activation="sigmoid")',
          'layers.Conv2DTranspose(1, 3, strides=1, padding="same")')],
        {"8.2": 0, "8.3": 0, "8.4": 0}, {"8.3": "sigmoid"}),
    "a decoder ending in 32 filters": (
        [('layers.Conv2DTranspose(1, 3, strides=1, padding="same", activation="sigmoid")',
          'layers.Conv2DTranspose(32, 3, strides=1, padding="same", activation="sigmoid")'),
         ("            layers.Reshape((1, 28, 28)),\n", "            layers.Permute((3, 1, 2)),\n")],
        {"8.2": 0, "8.3": 0, "8.4": 0}, {"8.3": "[16, 32, 28, 28], expected [16, 1, 28, 28]: 32 values per pixel"}),
    "stride times count in first_deconv_shape": (
        [("    side = img_size // stride ** num_deconvs", "    side = img_size // (stride * num_deconvs)")],
        {"8.6": 0}, {"8.6": "multiplies the side"}),
    "logvar taken as the standard deviation": (
        [("((sample - mean) ** 2 * tf.exp(-logvar) + logvar + log_2pi)",
          "(((sample - mean) / logvar) ** 2 + 2.0 * tf.math.log(tf.abs(logvar)) + log_2pi)")],
        {"8.7": 0}, {"8.7": "standard deviation"}),
    "the sign of log p(z) flipped": (
        [("- tf.reduce_sum(log_pz) + tf.reduce_sum(log_qz)", "+ tf.reduce_sum(log_pz) + tf.reduce_sum(log_qz)")],
        {"8.8": 0}, {"8.8": "sign of log p(z)"}),
    "a dense VAE with dead convolutions (times 0 or 1e-12, stop_gradient, tf.where, tf.cond, cancelled, twice)": (
        [("class ConvVAE(tf.keras.Model):", DISGUISE),
         ("        self.encoder = tf.keras.Sequential([", "        self.encoder = DeadEncoder(["),
         ("        self.decoder = tf.keras.Sequential([", "        self.decoder = DeadDecoder([")],
        {"8.5": 0}, {"8.5": "moved mu and logvar by 0.00% of what other images do (they count from 1%). Also, the "
                            "decoder's output does not depend on its 9 transposed convolution(s) (conv_vae.py:"}),
    # (the encoder's 10 convolutions, moved all at once, move its output by less than 0.005%, the decoder's 9 by less than 1%)
}
GRADINGS = [("channels-first images fed to Conv2D", "no sigmoid at the end of the decoder",
             "stride times count in first_deconv_shape", "logvar taken as the standard deviation",
             "the sign of log p(z) flipped"),
            ("a decoder ending in 32 filters", "a dense VAE with dead convolutions (times 0 or 1e-12, stop_gradient, "
                                               "tf.where, tf.cond, cancelled, twice)")]


def test_every_planted_bug_is_graded():
    assert sorted(bug for bugs in GRADINGS for bug in bugs) == sorted(BUGS)
    for bugs in GRADINGS:  # bugs graded together cost different tests
        lost = [number for bug in bugs for number in BUGS[bug][1]]
        assert len(lost) == len(set(lost)), bugs


def test_the_graph_reader_knows_keras_convolutions():
    assert {conv_vae.TRANSPOSED, *conv_vae.ENCODER_CONVOLUTIONS} <= CONVOLUTIONS


@pytest.mark.slow
@pytest.mark.parametrize("bugs", GRADINGS, ids=lambda bugs: ", ".join(bugs))
def test_planted_bugs_lose_exactly_their_points(bugs, submission, grade_it):
    folder = submission(conv=[change for bug in bugs for change in BUGS[bug][0]])
    results, scores = grade_it(folder, ["conv_vae"], course=load(CONV))
    assert_lost_exactly(results, scores, ["conv_vae"], BUGS, bugs)


@pytest.mark.slow
def test_the_stencil_earns_nothing_and_says_not_implemented(tmp_path, grade_it):
    folder = stencil_submission(tmp_path / "stencil", "conv_vae.py")
    results, scores = grade_it(folder, ["conv_vae"], course=load(CONV))
    assert scores == dict.fromkeys(UNITS, 0.0)
    for number in UNITS:
        assert "not implemented yet" in message(results, number), message(results, number)


def reference_style(tf):
    """The reference's layers: strided convolutions, transposed convolutions with strides 2, 2, 1."""
    L = tf.keras.layers
    return (tf.keras.Sequential([L.Reshape((28, 28, 1)), L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
                                 L.Conv2D(32, 3, strides=2, padding="same", activation="relu"), L.Flatten()]),
            tf.keras.Sequential([L.Dense(7 * 7 * 32, activation="relu"), L.Reshape((7, 7, 32)),
                                 L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
                                 L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
                                 L.Conv2DTranspose(1, 3, padding="same", activation="sigmoid"), L.Reshape((1, 28, 28))]))


def pooling_style(tf):
    """Stride-1 convolutions with max and average pooling, UpSampling2D before stride-1 transposed
    convolutions, each half's convolutions inside a tf.function of its own."""
    L = tf.keras.layers
    convolve = tf.keras.Sequential([L.Conv2D(8, 5, padding="same", activation="elu"), L.MaxPooling2D(2),
                                    L.Conv2D(16, 3, padding="same", activation="elu"), L.AveragePooling2D(2)])
    grow = tf.keras.Sequential([L.UpSampling2D(2), L.Conv2DTranspose(16, 3, padding="same", activation="elu"),
                                L.UpSampling2D(2), L.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")])
    dense, inner = L.Dense(7 * 7 * 16, activation="elu"), [tf.function(convolve), tf.function(grow)]
    return (lambda x: tf.reshape(inner[0](tf.transpose(x, (0, 2, 3, 1))), (-1, 7 * 7 * 16)),
            lambda z: tf.transpose(inner[1](tf.reshape(dense(z), (-1, 7, 7, 16))), (0, 3, 1, 2)))


def mixed_style(tf):
    """Keras' channels_first convolution on [N, 1, 28, 28], a separable convolution, a dense path beside
    the convolutional one in the encoder and a residual dense part in the decoder."""
    L = tf.keras.layers
    first = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", data_format="channels_first")
    separable, beside = L.SeparableConv2D(16, 3, strides=2, padding="same", activation="relu"), L.Dense(64, "relu")
    start, up, last = L.Dense(7 * 7 * 8, activation="relu"), L.Conv2DTranspose(8, 4, strides=4, padding="same"), L.Dense(784)

    def encoder(x):
        features = separable(tf.transpose(first(x), (0, 2, 3, 1)))
        return tf.concat([tf.reshape(features, (-1, 7 * 7 * 16)), beside(tf.reshape(x, (-1, 784)))], 1)

    def decoder(z):
        image = tf.reduce_mean(up(tf.reshape(start(z), (-1, 7, 7, 8))), -1)
        return tf.reshape(tf.sigmoid(tf.reshape(image, (-1, 784)) + 0.1 * last(z)), (-1, 1, 28, 28))
    return encoder, decoder


def measured_convolutions(folder, style):
    """conv_vae.convolutions on encode and decode exported as the student's process exports them
    (a SavedModel of traced functions and the variables they read), for a model in `style`."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    encoder, decoder = style(tf)
    mu, logvar = tf.keras.layers.Dense(15), tf.keras.layers.Dense(15)
    module = tf.Module()
    module.encode = tf.function(lambda x: models.encode_fn(SimpleNamespace(encoder=encoder, mu_layer=mu,
                                                                           logvar_layer=logvar))(x),
                                input_signature=[tf.TensorSpec((models.N, 1, 28, 28), tf.float32)])
    module.decode = tf.function(decoder, input_signature=[tf.TensorSpec((models.N, 15), tf.float32)])
    module.encode(tf.zeros((models.N, 1, 28, 28)))
    module.decode(tf.zeros((models.N, 15)))
    module.captured = [v for f in (module.encode, module.decode) for v in f.get_concrete_function().variables]
    tf.saved_model.save(module, str(folder / "model"))
    endpoints = Endpoints(tf, folder, dict.fromkeys(["encode", "decode"], "model"), folder / "scratch")
    return conv_vae.convolutions(endpoints, conv_vae.inputs(np.random.default_rng(0)))


@pytest.mark.parametrize("style", [reference_style, pooling_style, mixed_style], ids=lambda style: style.__name__)
def test_the_convolutions_of_correct_convvaes_count(style, tmp_path):
    """8.5's measurement on correct ConvVAEs of other styles: the first convolution of each half counts,
    by a margin (what it convolves moves the outputs about as much as other inputs do; 25% of it for
    mixed_style's encoder, whose dense path carries much of what it gives)."""
    found = measured_convolutions(tmp_path, style)
    assert min(found["encoder_together"], found["decoder_together"]) > 5 * conv_vae.LIVE, found
    assert len(found["encoder_effects"]) == 1 and found["encoder_effects"][0] > 5 * conv_vae.LIVE, found  # the first
    assert found["encoder_seen"][0].tolist() == [28, 28, 1], found


def conv_mc_distances(i):
    """8.8's wrong losses on the judge's inputs i, each as |wrong - right| / tolerance, in numpy written
    out again here (not conv_vae's): log p or log q with the wrong sign, at mu, or missing; summed; BCE alone."""
    z, mu, logvar = (i[k].astype(np.float64) for k in ("z_mc", "mean", "logvar_pdf"))
    p = np.clip(i["x_hat_mc"].astype(np.float64), 1e-7, 1 - 1e-7).reshape(len(z), -1)
    x = i["x"].astype(np.float64).reshape(len(z), -1)
    recon = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    density = lambda s, m, lv: -0.5 * ((s - m) ** 2 / np.exp(lv) + lv + np.log(2 * np.pi)).sum(1)  # noqa: E731
    log_p, log_q = density(z, 0, 0), density(z, mu, logvar)
    right = np.mean(recon - log_p + log_q)
    wrong = {"log p sign": recon + log_p + log_q, "log q sign": recon - log_p - log_q, "no log p": recon + log_q,
             "no log q": recon - log_p, "BCE alone": recon, "log p at mu": recon - density(mu, 0, 0) + log_q,
             "log q at mu": recon - log_p + density(mu, mu, logvar)}
    distances = {name: abs(np.mean(value) - right) for name, value in wrong.items()}
    distances["summed"] = abs(right * (len(z) - 1))
    return {name: d / (1e-3 + 1e-4 * abs(right)) for name, d in distances.items()}


# 22, 111 and 360: seeds whose first draw of z_mc left log p at mu within 5 tolerances (3 of the first 400)
@pytest.mark.parametrize("seed", list(range(17)) + [22, 111, 360])
def test_mc_loss_inputs_tell_every_wrong_loss_by_five_tolerances(seed):
    distances = conv_mc_distances(conv_vae.inputs(np.random.default_rng(seed)))
    assert min(distances.values()) >= 5, distances


def test_mc_loss_inputs_are_deterministic():
    first, again = (conv_vae.inputs(np.random.default_rng(22)) for _ in range(2))
    assert all(np.array_equal(first[k], again[k]) for k in first)
