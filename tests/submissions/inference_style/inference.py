"""A correct inference.py in another style than the reference's: log-sigmoid for the Bernoulli
density, the top half by reshaping to rows, a joint Dense layer split in two for the encoder,
an explicit tf.while_loop, RMSProp with momentum in place of Adam (another step size, more
steps, fewer samples), inpainting by a mask."""
import numpy as np
import tensorflow as tf

from vae import reparameterize

LATENT_SIZE = 2
HIDDEN_SIZE = 500
HALF = 14 * 28
SVI_STEPS = 300
SVI_SAMPLES = 5
SVI_LEARNING_RATE = 0.02
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def log_prior(z):
    return tf.reduce_sum(-0.5 * z * z - HALF_LOG_2PI, axis=-1)


def bernoulli_log_density(logits, x):
    return tf.reduce_sum(x * tf.math.log_sigmoid(logits) + (1.0 - x) * tf.math.log_sigmoid(-logits), axis=-1)


def factorized_gaussian_log_density(mean, log_std, z):
    variance = tf.exp(2.0 * log_std)
    return tf.reduce_sum(-tf.square(z - mean) / (2.0 * variance) - log_std - HALF_LOG_2PI, axis=-1)


class InferenceVAE(tf.keras.Model):
    def __init__(self, input_size=784, latent_size=LATENT_SIZE, hidden_size=HIDDEN_SIZE):
        super().__init__()
        self.input_size = input_size
        self.encoder = tf.keras.layers.Dense(hidden_size, activation=tf.tanh)
        self.mu_layer = tf.keras.layers.Dense(latent_size)
        self.logvar_layer = tf.keras.layers.Dense(latent_size)
        self.decoder = tf.keras.Sequential([tf.keras.layers.Dense(hidden_size), tf.keras.layers.Activation("tanh"),
                                            tf.keras.layers.Dense(input_size)])

    def call(self, x):
        flat = tf.reshape(x, (-1, self.input_size))
        hidden = self.encoder(flat)
        mu, logvar = self.mu_layer(hidden), self.logvar_layer(hidden)
        probabilities = tf.nn.sigmoid(self.decoder(reparameterize(mu, logvar)))
        return tf.reshape(probabilities, tf.shape(x)), mu, logvar


def elbo(logits, x, z, mean, log_std):
    reconstruction = -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=1)
    return tf.reduce_mean(reconstruction + log_prior(z) - factorized_gaussian_log_density(mean, log_std, z))


def top_half(x):
    lead = tf.shape(x)[:-1]
    rows = tf.reshape(x, tf.concat([lead, [28, 28]], 0))
    return tf.reshape(rows[..., :14, :], tf.concat([lead, [HALF]], 0))


def log_likelihood_top(logits, x):
    return bernoulli_log_density(top_half(logits), top_half(x))


def log_joint_top(decode, z, x):
    return log_likelihood_top(decode(z), x) + log_prior(z)


def svi(decode, x, num_steps=SVI_STEPS, num_samples=SVI_SAMPLES, learning_rate=SVI_LEARNING_RATE):
    n = tf.shape(x)[0]
    tiled = tf.tile(x, [num_samples, 1])

    def negative_elbo(mean, log_std):
        eps = tf.random.normal([num_samples, n, LATENT_SIZE])
        z = mean[None] + tf.exp(log_std)[None] * eps
        joint = tf.reshape(log_joint_top(decode, tf.reshape(z, [-1, LATENT_SIZE]), tiled), [num_samples, n])
        return -tf.reduce_sum(tf.reduce_mean(joint - factorized_gaussian_log_density(mean[None], log_std[None], z), 0))

    def step(k, mean, log_std, velocity, square):
        with tf.GradientTape() as tape:
            tape.watch([mean, log_std])
            loss = negative_elbo(mean, log_std)
        grads = tf.stack(tape.gradient(loss, [mean, log_std]))
        square = 0.9 * square + 0.1 * grads * grads
        velocity = 0.5 * velocity + learning_rate * grads / (tf.sqrt(square) + 1e-6)
        return k + 1, mean - velocity[0], log_std - velocity[1], velocity, square

    zeros = tf.zeros([n, LATENT_SIZE])
    _, mean, log_std, _, _ = tf.while_loop(lambda k, *rest: k < num_steps, step,
                                           [tf.constant(0), zeros, zeros, tf.stack([zeros, zeros]),
                                            tf.stack([zeros, zeros])])
    return mean, log_std


def inpaint(decode, x, z):
    mask = tf.concat([tf.ones([HALF]), tf.zeros([784 - HALF])], 0)
    return mask * x + (1.0 - mask) * tf.sigmoid(decode(z))
