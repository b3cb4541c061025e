"""A correct VAE/CVAE written the way the original handout suggests, not like the reference:
the VAE encoder starts with Flatten() and call() hands it the images unflattened; decoders
end without a Reshape and call() reshapes; the CVAE encoder is a functional model with
Dropout, switched by the `training` argument; the loss divides by x.shape[0]."""
import tensorflow as tf

layers = tf.keras.layers
HIDDEN = 400


def dense_stack(n):
    return [layers.Dense(HIDDEN, activation="relu") for _ in range(n)]


class VAE(tf.keras.Model):
    def __init__(self, input_size, latent_size=15):
        super().__init__()
        self.input_size = input_size
        self.latent_size = latent_size
        self.encoder = tf.keras.Sequential([layers.Flatten()] + dense_stack(2))
        self.mu_layer = layers.Dense(latent_size)
        self.logvar_layer = layers.Dense(latent_size)
        self.decoder = tf.keras.Sequential(dense_stack(2) + [layers.Dense(input_size, activation="sigmoid")])

    def call(self, x):
        h = self.encoder(x)
        mu, logvar = self.mu_layer(h), self.logvar_layer(h)
        z = reparameterize(mu, logvar)
        x_hat = tf.reshape(self.decoder(z), (-1, 1, 28, 28))
        return x_hat, mu, logvar


class CVAE(tf.keras.Model):
    def __init__(self, input_size, num_classes=10, latent_size=15):
        super().__init__()
        self.input_size = input_size
        self.latent_size = latent_size
        self.num_classes = num_classes
        inputs = tf.keras.Input(shape=(input_size + num_classes,))
        h = layers.Dense(HIDDEN, activation="relu")(inputs)
        h = layers.Dropout(0.1)(h)
        h = layers.Dense(HIDDEN, activation="relu")(h)
        self.encoder = tf.keras.Model(inputs, h)
        self.mu_layer = layers.Dense(latent_size)
        self.logvar_layer = layers.Dense(latent_size)
        self.decoder = tf.keras.Sequential(dense_stack(2) + [layers.Dense(input_size, activation="sigmoid")])

    def call(self, x, c, training=False):
        c = tf.cast(c, tf.float32)
        h = self.encoder(tf.concat([layers.Flatten()(x), c], axis=-1), training=training)
        mu, logvar = self.mu_layer(h), self.logvar_layer(h)
        z = reparameterize(mu, logvar)
        x_hat = self.decoder(tf.concat([z, c], axis=-1))
        return tf.reshape(x_hat, [-1, 1, 28, 28]), mu, logvar


def reparameterize(mu, logvar):
    std = tf.exp(logvar / 2)
    return mu + std * tf.random.normal(shape=mu.shape)


def bce_function(x_hat, x):
    x_hat = tf.clip_by_value(x_hat, 1e-7, 1.0 - 1e-7)
    return -tf.reduce_sum(x * tf.math.log(x_hat) + (1.0 - x) * tf.math.log(1.0 - x_hat))


def loss_function(x_hat, x, mu, logvar):
    kl_per_image = -0.5 * tf.reduce_sum(1 + logvar - mu ** 2 - tf.exp(logvar), axis=1)
    return (bce_function(x_hat, x) + tf.reduce_sum(kl_per_image)) / x.shape[0]
