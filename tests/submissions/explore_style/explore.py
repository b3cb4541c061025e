"""A correct explore.py written in other reasonable forms than the reference: encode_all
through call() (mu is its second output), PCA by SVD, class means by segment means, a walk
as start + t * (end - start), the dimensions by argsort, the grid by scattering into zeros,
and a probe of two tanh layers with softmax outputs trained by RMSprop."""
import tensorflow as tf


def encode_all(model, images, labels=None, batch_size=100):
    out = []
    n = int(images.shape[0])
    start = 0
    while start < n:
        stop = min(start + batch_size, n)
        if labels is None:
            _, mu, _ = model(images[start:stop])
        else:
            _, mu, _ = model(images[start:stop], labels[start:stop])
        out.append(mu)
        start = stop
    return tf.concat(out, 0)


def pca_2d(codes):
    centred = codes - tf.reduce_mean(codes, 0)
    _, _, v = tf.linalg.svd(centred)  # singular values in descending order
    return centred @ v[:, :2]


def class_means(codes, labels):
    ids = tf.argmax(labels, axis=1, output_type=tf.int32)
    return tf.math.unsorted_segment_mean(codes, ids, num_segments=labels.shape[1])


def interpolate(start, end, steps):
    rows = [start + (s / (steps - 1)) * (end - start) for s in range(steps)]
    return tf.stack(rows)


def top_variance_dims(codes, k):
    variance = tf.reduce_mean(tf.square(codes - tf.reduce_mean(codes, 0)), 0)
    return tf.cast(tf.argsort(variance, direction="DESCENDING")[:k], tf.int32)


def perturbation_codes(dims, latent_size, side=7):
    p = tf.linspace(0.05, 0.95, side)
    q = tf.sqrt(2.0) * tf.math.erfinv(2.0 * p - 1.0)  # the normal quantile, written with erfinv
    codes = []
    for r in range(side):
        for c in range(side):
            codes.append(tf.tensor_scatter_nd_update(tf.zeros([latent_size]), tf.reshape(dims, (2, 1)),
                                                     tf.stack([q[r], q[c]])))
    return tf.stack(codes)


def train_probe(codes, labels, num_classes=10):
    probe = tf.keras.Sequential([tf.keras.Input((codes.shape[1],)),
                                 tf.keras.layers.Dense(64, activation="tanh"),
                                 tf.keras.layers.Dense(64, activation="tanh"),
                                 tf.keras.layers.Dense(num_classes, activation="softmax")])
    probe.compile(optimizer=tf.keras.optimizers.RMSprop(1e-3), loss="sparse_categorical_crossentropy")
    probe.fit(codes, labels, batch_size=128, epochs=6, verbose=0, shuffle=True)
    return probe
