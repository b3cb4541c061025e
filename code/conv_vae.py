"""A convolutional VAE for MNIST, and its loss written as a one-sample Monte-Carlo estimate.

Shape legend (as in vae.py):
    N  batch size     Z  latent size     D  784 = 1 * 28 * 28
    F  filters of a convolution (your choice, e.g. 16 or 32)

ConvVAE keeps VAE's contracts exactly (the autograder calls the same four pieces, and the
core's train_vae trains it unchanged):
    encoder       images [N, 1, 28, 28] (as call() hands them)  ->  features [N, H]
    mu_layer      [N, H] -> [N, Z]          logvar_layer  [N, H] -> [N, Z]
    decoder       [N, Z] -> [N, 1, 28, 28], values in [0, 1]

Where the layout changes: Keras convolutions are channels-last, [N, height, width, channels].
The images come channels-first, [N, 1, 28, 28], so the encoder's first layer turns them into
[N, 28, 28, 1] (with one channel a Reshape does it), and the decoder's last layer turns its
[N, 28, 28, 1] back into [N, 1, 28, 28]. The autograder reads the shapes each convolution
sees in your exported graph: the encoder's first convolution must see [N, 28, 28, 1].

As in vae.py, everything here must work inside tf.function: TensorFlow operations only.
"""
import math

import tensorflow as tf

from vae import bce_function, reparameterize


def first_deconv_shape(img_size, num_deconvs, stride, channels):
    """The shape of one example entering the decoder's first transposed convolution.

    The decoder has `num_deconvs` transposed convolutions, each with strides `stride` and
    padding="same" (so each one multiplies the height and the width of what it is given by
    `stride`), and must end at an `img_size` x `img_size` image. Work backwards from that
    image to the square the first of them must be given; it has `channels` channels
    (channels-last). Example: first_deconv_shape(28, 2, 2, 32) == (7, 7, 32).
    The shapes given are always possible (img_size is a multiple of what is needed).

    All four arguments are whole numbers: Python ints, or int32 scalar tensors (the autograder
    traces this function, so use // and ** only, no math.pow or int()).
    Returns (side, side, channels), a tuple of three whole numbers.
    """
    raise NotImplementedError("first_deconv_shape: return (side, side, channels), what the decoder's first transposed convolution is given")


class ConvVAE(tf.keras.Model):
    def __init__(self, input_size, latent_size=15):
        """A VAE whose encoder and decoder are convolutional.

        input_size: D (784).   latent_size: Z.

        Define the same four attributes as VAE (the autograder uses each by name):
            self.encoder       [N, 1, 28, 28] -> [N, H]: Reshape to [N, 28, 28, 1], then
                               Conv2D(F1, 3, strides=2, padding="same", ReLU)   -> [N, 14, 14, F1]
                               Conv2D(F2, 3, strides=2, padding="same", ReLU)   -> [N, 7, 7, F2]
                               Flatten                                          -> [N, 49 * F2]
            self.mu_layer      one Dense layer [N, H] -> [N, Z]
            self.logvar_layer  one Dense layer [N, H] -> [N, Z]
            self.decoder       [N, Z] -> [N, 1, 28, 28] in [0, 1]:
                               Dense(7 * 7 * F2, ReLU), Reshape to first_deconv_shape(28, 2, 2, F2),
                               Conv2DTranspose(F2, 3, strides=2, padding="same", ReLU) -> [N, 14, 14, F2]
                               Conv2DTranspose(F1, 3, strides=2, padding="same", ReLU) -> [N, 28, 28, F1]
                               Conv2DTranspose(1, 3, strides=1, padding="same", sigmoid) -> [N, 28, 28, 1]
                               Reshape to [N, 1, 28, 28]
        The last transposed convolution has ONE filter: one output channel, the grey level.
        Suggested: F1 = 16, F2 = 32. More filters train more slowly, and the grader gives this
        training 10 minutes: on 2 cores an epoch takes about 15 s with 16 and 32 filters, about
        45 s with 32 and 64 (the grader trains 5 epochs).
        """
        super().__init__()
        self.input_size = input_size  # D
        self.latent_size = latent_size  # Z
        raise NotImplementedError("ConvVAE.__init__: define self.encoder, self.mu_layer, self.logvar_layer and self.decoder")

    def call(self, x):
        """As VAE.call: x [N, 1, 28, 28] in [0, 1] -> (x_hat [N, 1, 28, 28], mu [N, Z], logvar [N, Z]),
        with z = reparameterize(mu, logvar) decoded into x_hat. Hand the encoder x as it is."""
        raise NotImplementedError("ConvVAE.call: encode x, reparameterize, decode; return (x_hat, mu, logvar)")


def log_normal_pdf(sample, mean, logvar):
    """log N(sample; mean, diag(exp(logvar))), one value per row.

    sample, mean, logvar: [N, Z] float32 (logvar is the log of the VARIANCE sigma^2).
    Returns [N]: the sum over the Z dimensions of
        -0.5 * ((sample - mean)^2 * exp(-logvar) + logvar + log(2 * pi)).
    """
    raise NotImplementedError("log_normal_pdf: return the per-row sum of -0.5 * ((sample - mean)^2 * exp(-logvar) + logvar + log(2 pi))")


def mc_loss_function(x_hat, x, z, mu, logvar):
    """The negative ELBO estimated with ONE sample z of q(z|x) per image, averaged over the batch.

    x_hat: decoder(z) [N, 1, 28, 28] in [0, 1].   x: the images, same shape.
    z: the sample [N, Z] that x_hat was decoded from.   mu, logvar: q(z|x)'s parameters [N, Z].
    Returns a scalar: mean over the batch of -(log p(x|z) + log p(z) - log q(z|x)), where
        log p(x|z)  = -(binary cross-entropy of x_hat against x, summed over the pixels)
                      (bce_function(x_hat, x) gives this summed over the whole batch)
        log p(z)    = log_normal_pdf(z, 0, 0)       (the prior N(0, I))
        log q(z|x)  = log_normal_pdf(z, mu, logvar)
    Its expectation over z is loss_function's closed form (the KL term becomes
    log q(z|x) - log p(z)); the autograder passes z in, so the value is fixed for given inputs.
    """
    raise NotImplementedError("mc_loss_function: return mean over the batch of -(log p(x|z) + log p(z) - log q(z|x))")
