"""Variational autoencoders for MNIST: a plain VAE and a class-conditional CVAE.

Shape legend used in every docstring below:
    N  batch size            Z  latent size (latent_size)
    C  number of classes     H  hidden size (your choice, e.g. 400)
    D  flattened image size = input_size = 1 * 28 * 28 = 784

The autograder calls the pieces of each model separately, so keep these contracts:
    encoder       [N, D] (VAE) or [N, D + C] (CVAE)  ->  [N, H]
                  (a VAE encoder may take the images as call() hands them, e.g. [N, 1, 28, 28])
    mu_layer      [N, H]  ->  [N, Z]
    logvar_layer  [N, H]  ->  [N, Z]
    decoder       [N, Z] (VAE) or [N, Z + C] (CVAE)  ->  [N, 1, 28, 28], values in [0, 1]

Everything you write here must also work inside tf.function, where the autograder traces
it (and where a fast training step runs it): use TensorFlow operations on tensors, with no
.numpy(), no numpy and no Python `if` on a tensor's value.
"""
import tensorflow as tf

IMAGE_SHAPE = (1, 28, 28)


# BEGIN SOLUTION
def _build_layers(model, input_size, latent_size, hidden=512):
    """Give `model` the four layers shared by VAE and CVAE (2 hidden ReLU layers each)."""
    model.encoder = tf.keras.Sequential(
        [tf.keras.layers.Dense(hidden, activation="relu") for _ in range(2)]
    )
    model.mu_layer = tf.keras.layers.Dense(latent_size)
    model.logvar_layer = tf.keras.layers.Dense(latent_size)
    model.decoder = tf.keras.Sequential(
        [tf.keras.layers.Dense(hidden, activation="relu") for _ in range(2)]
        + [
            tf.keras.layers.Dense(input_size, activation="sigmoid"),
            tf.keras.layers.Reshape(IMAGE_SHAPE),
        ]
    )


# END SOLUTION
class VAE(tf.keras.Model):
    def __init__(self, input_size, latent_size=15):
        """A fully connected VAE.

        input_size:  D, the number of pixels of one image (784 for MNIST).
        latent_size: Z, the dimension of the latent code z.

        Define four attributes (the autograder uses each of them by name):
            self.encoder       flattened image [N, D] -> hidden features [N, H]
            self.mu_layer      one Dense layer [N, H] -> mean of q(z|x) [N, Z]
            self.logvar_layer  one Dense layer [N, H] -> log-variance of q(z|x) [N, Z]
            self.decoder       latent code [N, Z] -> image [N, 1, 28, 28] in [0, 1]
        Suggested architecture (one hidden size H = 256..512 for every layer):
            encoder: Dense(H) -> ReLU -> Dense(H) -> ReLU            (2 or 3 such pairs)
            decoder: Dense(H) -> ReLU -> Dense(H) -> ReLU            (2 or 3 such pairs)
                     -> Dense(D) -> Sigmoid -> Reshape to (1, 28, 28)
        """
        super().__init__()
        self.input_size = input_size  # D
        self.latent_size = latent_size  # Z
        # STENCIL: raise NotImplementedError("VAE.__init__: define self.encoder, self.mu_layer, self.logvar_layer and self.decoder")
        # BEGIN SOLUTION
        _build_layers(self, input_size, latent_size)
        # END SOLUTION

    def call(self, x):
        """Encode, sample with the reparameterization trick, decode.

        x: images [N, 1, 28, 28] with values in [0, 1].
        Returns (x_hat, mu, logvar):
            x_hat   reconstruction [N, 1, 28, 28] in [0, 1]
            mu      mean of q(z|x) [N, Z]
            logvar  log-variance of q(z|x) [N, Z]
        Steps: flatten x to [N, D]; encoder; mu_layer and logvar_layer;
        z = reparameterize(mu, logvar); x_hat = decoder(z).
        """
        # STENCIL: raise NotImplementedError("VAE.call: encode x, reparameterize, decode; return (x_hat, mu, logvar)")
        # BEGIN SOLUTION
        hidden = self.encoder(tf.reshape(x, (-1, self.input_size)))
        mu = self.mu_layer(hidden)
        logvar = self.logvar_layer(hidden)
        x_hat = self.decoder(reparameterize(mu, logvar))
        return x_hat, mu, logvar
        # END SOLUTION


class CVAE(tf.keras.Model):
    def __init__(self, input_size, num_classes=10, latent_size=15):
        """A conditional VAE: the VAE above, with a one-hot class vector c given to
        both the encoder and the decoder.

        input_size:  D (784).   num_classes: C (10).   latent_size: Z.

        Define the same four attributes as VAE, with these inputs:
            self.encoder       concat([flattened image, c]) [N, D + C] -> [N, H]
            self.mu_layer      [N, H] -> [N, Z]
            self.logvar_layer  [N, H] -> [N, Z]
            self.decoder       concat([z, c]) [N, Z + C] -> [N, 1, 28, 28] in [0, 1]
        """
        super().__init__()
        self.input_size = input_size  # D
        self.latent_size = latent_size  # Z
        self.num_classes = num_classes  # C
        # STENCIL: raise NotImplementedError("CVAE.__init__: define self.encoder, self.mu_layer, self.logvar_layer and self.decoder")
        # BEGIN SOLUTION
        _build_layers(self, input_size, latent_size)
        # END SOLUTION

    def call(self, x, c):
        """Conditional encode, sample, conditional decode.

        x: images [N, 1, 28, 28] in [0, 1].   c: one-hot labels [N, C].
        Returns (x_hat, mu, logvar) with the same shapes as VAE.call.
        Steps: encoder(concat([flatten(x), c])); mu_layer, logvar_layer;
        z = reparameterize(mu, logvar); x_hat = decoder(concat([z, c])).
        Hint: cast c to float32 before tf.concat.
        """
        # STENCIL: raise NotImplementedError("CVAE.call: encode concat([x, c]), reparameterize, decode concat([z, c]); return (x_hat, mu, logvar)")
        # BEGIN SOLUTION
        c = tf.cast(c, tf.float32)
        flat = tf.reshape(x, (-1, self.input_size))
        hidden = self.encoder(tf.concat([flat, c], axis=1))
        mu = self.mu_layer(hidden)
        logvar = self.logvar_layer(hidden)
        z = reparameterize(mu, logvar)
        x_hat = self.decoder(tf.concat([z, c], axis=1))
        return x_hat, mu, logvar
        # END SOLUTION


def reparameterize(mu, logvar):
    """Sample z ~ N(mu, exp(logvar)) in a way gradients can flow through.

    mu, logvar: [N, Z] float32.
    Returns z [N, Z] = mu + sigma * eps, with sigma = exp(0.5 * logvar) and a fresh
    eps ~ N(0, I) drawn on every call (tf.random.normal).
    """
    # STENCIL: raise NotImplementedError("reparameterize: return mu + exp(0.5 * logvar) * eps with eps ~ N(0, I)")
    # BEGIN SOLUTION
    eps = tf.random.normal(tf.shape(mu))
    return mu + tf.exp(0.5 * logvar) * eps
    # END SOLUTION


def bce_function(x_hat, x):
    """Binary cross-entropy, summed over every pixel of every image (given).

    x_hat: reconstructions [N, 1, 28, 28] in [0, 1].   x: targets, same shape.
    Returns a scalar: -sum(x * log(x_hat) + (1 - x) * log(1 - x_hat)).
    x_hat is clipped to [1e-7, 1 - 1e-7] so that log never sees 0.
    """
    x_hat = tf.clip_by_value(x_hat, 1e-7, 1.0 - 1e-7)
    return -tf.reduce_sum(x * tf.math.log(x_hat) + (1.0 - x) * tf.math.log(1.0 - x_hat))


def loss_function(x_hat, x, mu, logvar):
    """The negative evidence lower bound, averaged over the batch.

    x_hat, x: [N, 1, 28, 28].   mu, logvar: [N, Z].
    Returns a scalar: (bce_function(x_hat, x) + KL) / N, where
        KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))   (summed over batch and Z)
    is the KL divergence of q(z|x) = N(mu, exp(logvar)) from the prior N(0, I).
    """
    # STENCIL: raise NotImplementedError("loss_function: return (bce_function(x_hat, x) + KL) / batch_size")
    # BEGIN SOLUTION
    kl = -0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar))
    batch_size = tf.cast(tf.shape(x)[0], tf.float32)
    return (bce_function(x_hat, x) + kl) / batch_size
    # END SOLUTION
