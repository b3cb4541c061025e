"""The judge's TensorFlow versions of part 10's densities, top half, likelihood and joint, which
the later functions of part 10 are traced with and its trained model's svi runs with.

Never in a process that traces the function itself: steps.py hands a process only the
functions its step names."""
import numpy as np
import tensorflow as tf

LOG_2PI = np.log(2.0 * np.pi)
TOP = 392  # the top half of a 28 x 28 image: its first 14 rows


def log_prior(z):
    """log N(z; 0, I) per row: [..., Z] -> [...]."""
    return -0.5 * tf.reduce_sum(tf.square(z), -1) - LOG_2PI * tf.cast(tf.shape(z)[-1], tf.float32) / 2


def bernoulli_log_density(logits, x):
    """log Bernoulli(x; sigmoid(logits)) summed over the last axis: [..., D] x 2 -> [...]."""
    return tf.reduce_sum(logits * x - tf.math.softplus(logits), axis=-1)


def factorized_gaussian_log_density(mean, log_std, z):
    """log N(z; mean, exp(log_std)^2) summed over the last axis: [..., Z] x 3 -> [...]."""
    return tf.reduce_sum(-0.5 * tf.square((z - mean) * tf.exp(-log_std)) - log_std - LOG_2PI / 2, -1)


def top_half(x):
    """The first TOP pixels: [..., 784] -> [..., 392]."""
    return x[..., :TOP]


def log_likelihood_top(logits, x):
    """log p(top half of x | logits): [..., 784] x 2 -> [...]."""
    return bernoulli_log_density(top_half(logits), top_half(x))


def log_joint_top(decode, z, x):
    """log p(top half of x | z) + log p(z): decode maps [..., 2] codes to [..., 784] logits."""
    return log_likelihood_top(decode(z), x) + log_prior(z)
