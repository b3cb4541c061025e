"""A correct mmd.py written another way: the kernel by broadcasting, the MMD from one kernel
matrix of both sets together, the codes by reparameterize's formula written with sqrt, and a
training loss with the median-distance bandwidth heuristic and another weight."""
import tensorflow as tf

from vae import bce_function

MMD_WEIGHT = 200.0


def gaussian_kernel(a, b, bandwidth):
    difference = tf.expand_dims(a, 1) - tf.expand_dims(b, 0)  # [N, M, Z]
    return tf.exp(-tf.reduce_sum(difference * difference, axis=-1) / (2.0 * tf.square(bandwidth)))


def mmd(a, b, bandwidth):
    n, m = tf.shape(a)[0], tf.shape(b)[0]
    k = gaussian_kernel(tf.concat([a, b], 0), tf.concat([a, b], 0), bandwidth)
    k_aa, k_bb, k_ab = k[:n, :n], k[n:, n:], k[:n, n:]
    n, m = tf.cast(n, tf.float32), tf.cast(m, tf.float32)
    return tf.reduce_sum(k_aa) / (n * n) + tf.reduce_sum(k_bb) / (m * m) - 2.0 * tf.reduce_sum(k_ab) / (n * m)


def mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, weight, bandwidth):
    z = mu + tf.sqrt(tf.exp(logvar)) * eps
    reconstruction = bce_function(x_hat, x) / tf.cast(tf.shape(x)[0], x.dtype)
    return reconstruction + weight * mmd(z, prior_z, bandwidth)


def median_bandwidth(codes):
    """sqrt(median squared distance / 2) between the codes given (the median heuristic), held constant."""
    squared = tf.reshape(tf.reduce_sum(tf.square(codes[:, None] - codes[None]), -1), [-1])
    middle = tf.shape(squared)[0] // 2
    return tf.sqrt(tf.stop_gradient(tf.sort(squared)[middle]) / 2.0 + 1e-6)


def mmd_training_loss(x_hat, x, mu, logvar):
    eps = tf.random.normal(tf.shape(logvar))
    prior_z = tf.random.normal(tf.shape(mu), mean=0.0, stddev=1.0)
    return mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, MMD_WEIGHT, median_bandwidth(tf.concat([mu, prior_z], 0)))
