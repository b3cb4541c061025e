"""Looking inside a trained VAE: its codes, their PCA, class means, walks between classes,
a perturbation grid, and a probe that reads the class from a code.

Shape legend used in every docstring below:
    N  number of images or codes     Z  latent size      C  number of classes (10)
    S  steps of a walk               G  side of the perturbation grid (7)

The autograder traces every function here except train_probe into a graph in your process,
then runs those graphs in its own process on its own secret inputs: nothing your process
computes counts as an answer. So, as in vae.py, use TensorFlow operations on tensors: no
.numpy(), no numpy, no Python `if` on a tensor's value. Shapes (N, Z, S, ...) are known
while tracing, so Python loops over them are fine.

The plotting helpers at the end are given: after `make train` (the VAE), assignment.py
calls make_figures(), which saves what they draw in outputs/.
"""
import numpy as np
import tensorflow as tf


def encode_all(model, images, labels=None, batch_size=100):
    """The mean codes of many images, encoded batch_size images at a time.

    model:      a VAE or CVAE of vae.py (uses model.encoder and model.mu_layer).
    images:     [N, 1, 28, 28] float32 in [0, 1]. N need not be a multiple of batch_size:
                the last batch is then smaller; no image is dropped or encoded twice.
    labels:     one-hot [N, C] for a CVAE, concatenated to each flattened image as
                CVAE.call does; None for a VAE.
    batch_size: images per call of the encoder (a Python int).
    Returns mu [N, Z], the mean of q(z|x) (not a sampled z), in the order of `images`.
    Give model.encoder the images in the form your call() does (flattened [B, D] there).
    """
    # STENCIL: raise NotImplementedError("encode_all: mu_layer(encoder(batch)) for each batch of batch_size images, concatenated")
    # BEGIN SOLUTION
    codes = []
    for start in range(0, images.shape[0], batch_size):
        batch = tf.reshape(images[start:start + batch_size], (-1, 28 * 28))
        if labels is not None:
            batch = tf.concat([batch, tf.cast(labels[start:start + batch_size], tf.float32)], axis=1)
        codes.append(model.mu_layer(model.encoder(batch)))
    return tf.concat(codes, axis=0)
    # END SOLUTION


def pca_2d(codes):
    """Project codes onto their two principal axes.

    codes: [N, Z] float32.
    Returns [N, 2]: the centred codes (codes minus their mean over N) times the unit
    eigenvectors of their covariance matrix with the largest and the second largest
    eigenvalue, in that order. An eigenvector's sign is yours to choose: the grader
    compares each column up to sign. (tf.linalg.eigh sorts eigenvalues in ascending
    order; tf.linalg.svd of the centred codes gives the same axes.)
    """
    # STENCIL: raise NotImplementedError("pca_2d: centre the codes, project on the top-2 eigenvectors of their covariance")
    # BEGIN SOLUTION
    centred = codes - tf.reduce_mean(codes, axis=0, keepdims=True)
    covariance = tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(codes)[0] - 1, tf.float32)
    _, vectors = tf.linalg.eigh(covariance)  # ascending eigenvalues
    return tf.matmul(centred, tf.reverse(vectors[:, -2:], axis=[1]))
    # END SOLUTION


def class_means(codes, labels):
    """The average code of each class.

    codes:  [N, Z] float32.   labels: one-hot [N, C] float32 (every class occurs).
    Returns [C, Z]: row k is the mean of the codes whose label is k.
    """
    # STENCIL: raise NotImplementedError("class_means: for each class, the mean of its codes")
    # BEGIN SOLUTION
    totals = tf.matmul(labels, codes, transpose_a=True)  # [C, Z]
    return totals / tf.reduce_sum(labels, axis=0)[:, None]
    # END SOLUTION


def interpolate(start, end, steps):
    """Points evenly spaced on the segment from `start` to `end`, both included.

    start, end: [Z] float32.   steps: S >= 2, a Python int.
    Returns [S, Z]: row s is start + t_s * (end - start) with t_s = s / (S - 1), so row 0
    is `start` and row S - 1 is `end`.
    """
    # STENCIL: raise NotImplementedError("interpolate: S evenly spaced points from start to end, both included")
    # BEGIN SOLUTION
    t = tf.linspace(0.0, 1.0, steps)[:, None]  # [S, 1]
    return (1.0 - t) * start[None] + t * end[None]
    # END SOLUTION


def top_variance_dims(codes, k):
    """The k latent dimensions along which the codes vary most.

    codes: [N, Z] float32.   k: a Python int <= Z.
    Returns int32 [k]: indices into Z, the dimension with the largest variance first.
    """
    # STENCIL: raise NotImplementedError("top_variance_dims: indices of the k largest per-dimension variances, largest first")
    # BEGIN SOLUTION
    return tf.math.top_k(tf.math.reduce_variance(codes, axis=0), k=k).indices
    # END SOLUTION


def perturbation_codes(dims, latent_size, side=7):
    """The codes of a side x side grid that moves two latent dimensions and keeps the rest 0.

    dims:        int32 [2], the two dimensions moved (e.g. top_variance_dims(codes, 2)).
    latent_size: Z, a Python int.   side: G, a Python int.
    Returns [G * G, Z], row-major: row r * G + c is 0 everywhere except
        dimension dims[0] = q[r] and dimension dims[1] = q[c],
    where q = the standard normal quantiles (the inverse of the normal CDF, tf.math.ndtri)
    of linspace(0.05, 0.95, G): values of z, not probabilities.
    """
    # STENCIL: raise NotImplementedError("perturbation_codes: a G x G grid of codes, dims[0] and dims[1] set to normal quantiles")
    # BEGIN SOLUTION
    q = tf.math.ndtri(tf.linspace(0.05, 0.95, side))  # [G]
    rows, columns = tf.repeat(q, side), tf.tile(q, [side])  # [G * G] each
    return (rows[:, None] * tf.one_hot(dims[0], latent_size)
            + columns[:, None] * tf.one_hot(dims[1], latent_size))
    # END SOLUTION


def train_probe(codes, labels, num_classes=10):
    """Train a small classifier that tells the class of an image from its code alone.

    codes:  [N, Z] float32 numpy array, the mean codes of the training images.
    labels: int [N] numpy array, their classes.
    Returns a trained tf.keras.Model: codes [M, Z] -> class scores [M, C] (logits or
    probabilities; the grader takes the largest). Any small architecture will do; keep the
    training under about a minute on 2 CPUs. This function runs eagerly (model.fit is fine),
    but the model's call must be TensorFlow operations only: the grader exports it.
    """
    # STENCIL: raise NotImplementedError("train_probe: build, compile and fit a small Keras classifier of codes; return it")
    # BEGIN SOLUTION
    probe = tf.keras.Sequential([
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(num_classes),
    ])
    probe.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe.fit(codes, labels, batch_size=256, epochs=5, verbose=0)
    return probe
    # END SOLUTION


# Given: figures of the trained VAE in outputs/ (make_figures is called by assignment.py) ----

def make_figures(model, images, labels, class_names, folder, save_grid):
    """Save the latent scatter, a 2-D histogram, a walk between two classes, the perturbation
    grid and ancestral samples of `model` (a VAE) for `images` [N, 1, 28, 28] float32 with int
    `labels` [N], in `folder`; grids of images by save_grid(images, columns, path, title)
    (assignment.py's). A figure whose functions are not written yet is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    one_hot = tf.one_hot(labels, len(class_names))

    def save(name, draw):
        """draw() gives a figure, or (images, columns, title) for save_grid."""
        try:
            figure = draw()
        except NotImplementedError as missing:
            print(f"skipped outputs/{name}: {missing}")
            return
        if isinstance(figure, tuple):
            save_grid(figure[0], figure[1], folder / name, figure[2])
            return
        figure.savefig(folder / name, dpi=100, bbox_inches="tight")
        plt.close(figure)
        print(f"saved {folder / name}")

    try:
        codes = encode_all(model, tf.constant(images), batch_size=500)
    except NotImplementedError as missing:
        print(f"skipped the latent figures: {missing}")
        return

    def scatter():
        points = pca_2d(codes).numpy()
        figure, axis = plt.subplots(figsize=(6, 5))
        for k, name in enumerate(class_names):
            chosen = labels == k
            axis.scatter(points[chosen, 0], points[chosen, 1], s=3, label=name)
        axis.set(title="Mean codes, first two principal components", xlabel="PC 1", ylabel="PC 2")
        axis.legend(markerscale=4, fontsize=7)
        return figure

    def histogram():
        dims = top_variance_dims(codes, 2).numpy()
        figure, axis = plt.subplots(figsize=(5, 4.5))
        axis.hist2d(codes.numpy()[:, dims[0]], codes.numpy()[:, dims[1]], bins=60, cmap="viridis")
        axis.set(title="The two most varied code dimensions", xlabel=f"z[{dims[0]}]", ylabel=f"z[{dims[1]}]")
        return figure

    def walk():
        means = class_means(codes, one_hot)
        strip = model.decoder(interpolate(means[0], means[1], 10)).numpy()
        return strip, 10, f"From the mean code of {class_names[0]} to that of {class_names[1]}"

    def grid():
        dims = top_variance_dims(codes, 2)
        images_ = model.decoder(perturbation_codes(dims, codes.shape[1], 7)).numpy()
        return images_, 7, f"Moving z[{int(dims[0])}] (down) and z[{int(dims[1])}] (across)"

    def ancestral():  # z ~ N(0, I), then x ~ Bernoulli(decoder(z)): the means above their binary draws
        means = model.decoder(tf.random.normal((10, codes.shape[1]))).numpy().reshape(10, -1)
        draws = (np.random.default_rng(0).uniform(size=means.shape) < means).astype(np.float32)
        return np.concatenate([means, draws]), 10, "Ancestral samples: Bernoulli means (top), draws"

    for name, draw in (("latent_pca.png", scatter), ("latent_hist2d.png", histogram), ("latent_walk.png", walk),
                       ("latent_grid.png", grid), ("latent_ancestral.png", ancestral)):
        save(name, draw)

