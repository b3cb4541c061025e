"""A correct conv_vae.py written differently from the reference (tests/test_conv_vae.py): 32 and
64 filters with 5 x 5 and 3 x 3 kernels, an extra Dense layer on each side, Permute for the
layout changes, the decoder's upsampling split into strides 2 and 2 after a stride-1 start,
log_normal_pdf with a scaled residual, and a Monte-Carlo loss that sums per image first."""
import numpy as np
import tensorflow as tf

from vae import reparameterize

L = tf.keras.layers


def first_deconv_shape(img_size, num_deconvs, stride, channels):
    side = img_size // (stride ** num_deconvs)
    return [side, side, channels]


class ConvVAE(tf.keras.Model):
    def __init__(self, input_size, latent_size=15):
        super().__init__()
        self.input_size, self.latent_size = input_size, latent_size
        self.encoder = tf.keras.Sequential([
            L.Permute((2, 3, 1)),
            L.Conv2D(32, 5, strides=2, padding="same", activation="relu"),
            L.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            L.Flatten(),
            L.Dense(128, activation="relu"),
        ])
        self.mu_layer = L.Dense(latent_size)
        self.logvar_layer = L.Dense(latent_size)
        start = first_deconv_shape(28, 2, 2, 64)
        self.decoder = tf.keras.Sequential([
            L.Dense(128, activation="relu"),
            L.Dense(int(np.prod(start)), activation="relu"),
            L.Reshape(tuple(start)),
            L.Conv2DTranspose(64, 3, strides=1, padding="same", activation="relu"),
            L.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
            L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
            L.Conv2DTranspose(1, 3, padding="same"),
            L.Activation("sigmoid"),
            L.Permute((3, 1, 2)),
        ])

    def call(self, x):
        features = self.encoder(x)
        mu = self.mu_layer(features)
        logvar = self.logvar_layer(features)
        z = reparameterize(mu, logvar)
        return self.decoder(z), mu, logvar


def log_normal_pdf(sample, mean, logvar):
    scaled = (sample - mean) * tf.exp(-0.5 * logvar)
    return -0.5 * tf.reduce_sum(tf.square(scaled) + logvar + tf.math.log(2.0 * np.pi), axis=-1)


def mc_loss_function(x_hat, x, z, mu, logvar):
    p = tf.clip_by_value(tf.reshape(x_hat, (tf.shape(x_hat)[0], -1)), 1e-7, 1.0 - 1e-7)
    target = tf.reshape(x, tf.shape(p))
    log_px = tf.reduce_sum(target * tf.math.log(p) + (1.0 - target) * tf.math.log(1.0 - p), axis=1)
    log_pz = log_normal_pdf(z, 0.0 * z, 0.0 * z)
    log_qz = log_normal_pdf(z, mu, logvar)
    return -tf.reduce_mean(log_px + log_pz - log_qz)
