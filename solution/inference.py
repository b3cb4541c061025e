"""Inference without the encoder: fill in the bottom half of a digit from its top half.

A VAE with a 2-D latent space whose decoder gives Bernoulli logits is trained on MNIST as
vae.py's VAE is (your train_vae, your loss_function). Its encoder needs a whole image, so
for an image whose bottom half is missing we infer p(z | top half) ourselves: stochastic
variational inference (SVI) fits a Gaussian q(z) = N(mean, diag(exp(log_std))^2) to it by
gradient steps on a Monte-Carlo ELBO, and the decoder at q's mean paints the bottom half.

Shape legend:   N  images (or codes)   K  samples per image   Z = 2  latent size
                D = 784  pixels of a flattened image, row by row: pixel (r, c) is entry 28 r + c
                "..." any leading axes, the same for every argument (they broadcast)

Conventions (the autograder checks exactly these):
    images        binarized, {0, 1}, flattened to [..., 784] row by row
    top half      rows 0-13: entries 0-391 of a flattened image; the bottom half is rows 14-27
    logits        l = log(p / (1 - p)) of each pixel being 1; p = sigmoid(l)
    densities     summed over their last axis (pixels or latent dimensions), natural log

Run `python assignment.py --inference` (make train ARGS="--inference") to train the 2-D model
with your train_vae and save outputs/inference_completions.png. As in vae.py, use TensorFlow
operations only: every function here is traced into a graph by the autograder.
"""
import math

import tensorflow as tf

from vae import reparameterize

LATENT_SIZE = 2
HIDDEN_SIZE = 500
TOP_ROWS = 14  # the observed rows
SIDE = 28
# SVI's settings: yours to choose, as long as it converges in SVI_STEPS steps (the
# autograder runs svi with them on 300 images at a time; keep steps * samples near 1,600).
SVI_STEPS = 200
SVI_SAMPLES = 8
SVI_LEARNING_RATE = 0.05


def log_prior(z):
    """log p(z) under the prior N(0, I).   z: [..., Z] -> [...]."""
    # STENCIL: raise NotImplementedError("log_prior: return the log density of N(0, I) at z, summed over Z")
    # BEGIN SOLUTION
    size = tf.cast(tf.shape(z)[-1], z.dtype)
    return -0.5 * tf.reduce_sum(tf.square(z), -1) - 0.5 * size * math.log(2.0 * math.pi)
    # END SOLUTION


def bernoulli_log_density(logits, x):
    """log p(x) of binary x under independent Bernoullis with these logits, summed over pixels.

    logits, x: [..., D] -> [...].   sum_d x_d log sigmoid(l_d) + (1 - x_d) log(1 - sigmoid(l_d)).
    It must stay finite for any finite logits (l = +-200 included): never take the log of a
    sigmoid (it rounds to log(0) = -inf); log sigmoid(l) = -softplus(-l).
    """
    # STENCIL: raise NotImplementedError("bernoulli_log_density: sum x * l - softplus(l) over the last axis (stable form)")
    # BEGIN SOLUTION
    return tf.reduce_sum(x * logits - tf.nn.softplus(logits), -1)
    # END SOLUTION


def factorized_gaussian_log_density(mean, log_std, z):
    """log N(z; mean, diag(exp(log_std))^2), summed over the latent dimensions.

    mean, log_std, z: [..., Z] -> [...] (each dimension: -(z - m)^2 / (2 s^2) - log s - log(2 pi) / 2).
    """
    # STENCIL: raise NotImplementedError("factorized_gaussian_log_density: the Gaussian log density, summed over Z")
    # BEGIN SOLUTION
    scaled = (z - mean) * tf.exp(-log_std)
    return tf.reduce_sum(-0.5 * tf.square(scaled) - log_std - 0.5 * math.log(2.0 * math.pi), -1)
    # END SOLUTION


class InferenceVAE(tf.keras.Model):
    """vae.py's VAE contract with a 2-D latent space and a decoder that returns logits.

    encoder:       Dense(hidden_size, tanh) on images flattened to [N, D]
    mu_layer, logvar_layer: Dense(latent_size) each, on the encoder's output
    decoder:       Dense(hidden_size, tanh), then Dense(input_size): [N, Z] -> logits [N, D]
                   (no sigmoid: logits are what the densities above take)
    call(x):       x [N, 1, 28, 28] -> (x_hat [N, 1, 28, 28] = sigmoid of the decoder's logits at
                   z = reparameterize(mu, logvar), mu [N, Z], logvar [N, Z]), so that your
                   train_vae and loss_function train it as they train VAE.
    """

    def __init__(self, input_size=SIDE * SIDE, latent_size=LATENT_SIZE, hidden_size=HIDDEN_SIZE):
        super().__init__()
        self.input_size, self.latent_size = input_size, latent_size
        # STENCIL: raise NotImplementedError("InferenceVAE.__init__: define self.encoder, self.mu_layer, self.logvar_layer and self.decoder (see the docstring)")
        # BEGIN SOLUTION
        self.encoder = tf.keras.Sequential([tf.keras.layers.Dense(hidden_size, activation="tanh")])
        self.mu_layer = tf.keras.layers.Dense(latent_size)
        self.logvar_layer = tf.keras.layers.Dense(latent_size)
        self.decoder = tf.keras.Sequential([tf.keras.layers.Dense(hidden_size, activation="tanh"),
                                            tf.keras.layers.Dense(input_size)])
        # END SOLUTION

    def call(self, x):
        # STENCIL: raise NotImplementedError("InferenceVAE.call: return (sigmoid(decoder(z)) as [N, 1, 28, 28], mu, logvar)")
        # BEGIN SOLUTION
        hidden = self.encoder(tf.reshape(x, (-1, self.input_size)))
        mu = self.mu_layer(hidden)
        logvar = self.logvar_layer(hidden)
        logits = self.decoder(reparameterize(mu, logvar))
        return tf.reshape(tf.sigmoid(logits), tf.shape(x)), mu, logvar
        # END SOLUTION


def elbo(logits, x, z, mean, log_std):
    """A one-sample Monte-Carlo estimate of the ELBO, averaged over the batch (a scalar).

    logits: [N, D] the decoder's at z.   x: [N, D] binary images.   z: [N, Z], one sample of
    q(z | x) = N(mean, diag(exp(log_std))^2) per image; mean, log_std: [N, Z].
        mean over N of  log p(x | z) + log p(z) - log q(z | x)
    """
    # STENCIL: raise NotImplementedError("elbo: mean over the batch of log p(x|z) + log p(z) - log q(z|x)")
    # BEGIN SOLUTION
    return tf.reduce_mean(bernoulli_log_density(logits, x) + log_prior(z)
                          - factorized_gaussian_log_density(mean, log_std, z))
    # END SOLUTION


def top_half(x):
    """The top half of flattened images: rows 0-13.   x: [..., D] -> [..., D / 2].

    Works for logits as well as for images (anything laid out as 28 x 28 row by row).
    """
    # STENCIL: raise NotImplementedError("top_half: return rows 0-13 of each 28 x 28 image, flattened: [..., 392]")
    # BEGIN SOLUTION
    return x[..., :TOP_ROWS * SIDE]
    # END SOLUTION


def log_likelihood_top(logits, x):
    """log p(top half of x | z): the bottom half's pixels are unobserved and integrate out.

    logits: [..., D] the decoder's at z.   x: [..., D] whole binary images (only their top
    half is read).   Returns [...].
    """
    # STENCIL: raise NotImplementedError("log_likelihood_top: the Bernoulli log density of the top halves only")
    # BEGIN SOLUTION
    return bernoulli_log_density(top_half(logits), top_half(x))
    # END SOLUTION


def log_joint_top(decode, z, x):
    """log p(z, top half of x) = log p(z) + log p(top half of x | z).

    decode: a function, codes [M, Z] -> logits [M, D] (the decoder).   z: [M, Z].
    x: [M, D], row m the image of code m.   Returns [M].
    """
    # STENCIL: raise NotImplementedError("log_joint_top: log_prior(z) + log_likelihood_top(decode(z), x)")
    # BEGIN SOLUTION
    return log_prior(z) + log_likelihood_top(decode(z), x)
    # END SOLUTION


def svi(decode, x, num_steps=SVI_STEPS, num_samples=SVI_SAMPLES, learning_rate=SVI_LEARNING_RATE):
    """Fit q(z | top half of x) = N(mean, diag(exp(log_std))^2) to each image by SVI.

    decode: codes [M, Z] -> logits [M, D].   x: [N, D] binary images whose bottom halves are
    unknown (the autograder gives them as 0; only the top halves count).   Returns (mean, log_std), [N, Z] each.
    Start from mean = 0, log_std = 0. At each of num_steps steps draw eps [K, N, Z] ~ N(0, I)
    (K = num_samples), z = mean + exp(log_std) * eps, estimate each image's ELBO
        mean over the K samples of  log_joint_top(decode, z, x) - factorized_gaussian_log_density(mean, log_std, z)
    (log_joint_top takes rows: z reshaped to [K * N, Z] and x tiled to [K * N, D]; reshape its
    [K * N] back to [K, N]) and take a gradient step that raises it (tf.GradientTape; Adam's update written with tensors is robust).
    The loop must be a graph loop: `for step in tf.range(num_steps)` (with tensors, not
    Variables, as its state) is one under tf.function.
    """
    # STENCIL: raise NotImplementedError("svi: gradient steps on a K-sample ELBO; return (mean, log_std), [N, Z] each")
    # BEGIN SOLUTION
    shape = tf.stack([tf.shape(x)[0], LATENT_SIZE])
    params = tf.zeros(tf.concat([[2], shape], 0))  # [2, N, Z]: mean, log_std
    first, second = tf.zeros_like(params), tf.zeros_like(params)  # Adam's moment estimates
    beta1, beta2 = 0.9, 0.999
    for step in tf.range(1, num_steps + 1):
        with tf.GradientTape() as tape:
            tape.watch(params)
            mean, log_std = params[0], params[1]
            eps = tf.random.normal(tf.concat([[num_samples], shape], 0))
            z = mean + tf.exp(log_std) * eps
            joint = log_joint_top(decode, tf.reshape(z, (-1, LATENT_SIZE)), tf.tile(x, (num_samples, 1)))
            objective = tf.reduce_sum(tf.reshape(joint, tf.shape(z)[:2])
                                      - factorized_gaussian_log_density(mean, log_std, z)) / num_samples
        grad = tape.gradient(objective, params)
        first = beta1 * first + (1 - beta1) * grad
        second = beta2 * second + (1 - beta2) * tf.square(grad)
        t = tf.cast(step, tf.float32)
        params += learning_rate * (first / (1 - beta1 ** t)) / (tf.sqrt(second / (1 - beta2 ** t)) + 1e-8)
    return params[0], params[1]
    # END SOLUTION


def inpaint(decode, x, z):
    """Complete each image: its true top half, and below it the decoder's Bernoulli means at z.

    decode: codes [N, Z] -> logits [N, D].   x: [N, D] images.   z: [N, Z] (q's mean, say).
    Returns [N, D] in [0, 1]: rows 0-13 from x, rows 14-27 = sigmoid(decode(z))'s.
    """
    # STENCIL: raise NotImplementedError("inpaint: concatenate x's top half and sigmoid(decode(z))'s bottom half")
    # BEGIN SOLUTION
    means = tf.sigmoid(decode(z))
    return tf.concat([top_half(x), means[..., TOP_ROWS * SIDE:]], -1)
    # END SOLUTION
