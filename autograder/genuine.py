"""Is a batch of generated digits really generated? (judge side, numpy only)

Two properties, both measured against settings' thresholds:
  * spread: the samples of one digit must vary with z (a decoder that ignores z
    draws the same image every time);
  * novelty: a sample must not be a near-copy of an MNIST image (a decoder that
    looks real digits up would fool any classifier). Distances are Euclidean, on
    pixels in [0, 1], to every training and test image.
"""
import numpy as np

from . import settings

CHUNK = 10000  # MNIST images compared at once (keeps the float32 copy at 31 MB)


def spreads(images, labels):
    """Per digit, the mean over pixels of the std across that digit's samples."""
    flat = images.reshape(len(images), -1)
    return np.array([flat[labels == d].std(0).mean() for d in range(settings.NUM_CLASSES)])


def nearest_distances(images, references):
    """Distance from each image [N, 784] to its nearest reference (uint8 [M, 28, 28])."""
    a = images.reshape(len(images), -1).astype(np.float32)
    a_sq = (a ** 2).sum(1)
    best = np.full(len(a), np.inf, dtype=np.float32)
    for start in range(0, len(references), CHUNK):
        b = references[start:start + CHUNK].reshape(-1, a.shape[1]).astype(np.float32) / 255.0
        d2 = a_sq[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
        best = np.minimum(best, d2.min(1))
    return np.sqrt(np.maximum(best, 0.0))


def check(images, labels, mnist, fail):
    """Raise `fail(message)` unless the samples vary with z and are not MNIST copies."""
    spread = spreads(images, labels)
    if spread.min() < settings.MIN_SAMPLE_SPREAD:
        digit = int(spread.argmin())
        raise fail(f"the {np.sum(labels == digit)} samples of digit {digit} barely vary with z "
                   f"(spread {spread.min():.4f} < {settings.MIN_SAMPLE_SPREAD}): the decoder must "
                   "turn different z into different images. No generation points.")
    distances = np.minimum(nearest_distances(images, mnist["x_train"]),
                           nearest_distances(images, mnist["x_test"]))
    copies = int(np.sum(distances < settings.COPY_DISTANCE))
    if copies > settings.MAX_COPY_FRACTION * len(images):
        raise fail(f"{copies} of {len(images)} samples are within distance {settings.COPY_DISTANCE} "
                   "of an MNIST image (near-copies, not generated digits). No generation points.")
    return spread, distances
