"""Is a batch of generated digits really generated? (judge side, numpy only)

Two properties, both measured against settings' thresholds:
  * spread: the samples of one digit must vary with z (a decoder that ignores z draws the
    same image every time);
  * novelty: a sample must not be a near-copy of an MNIST image, shifted or not (a decoder
    that looks real digits up would fool any classifier). Distances are Euclidean, on
    pixels in [0, 1], to every training and test image moved by up to SHIFT pixels.

Searching every shift of every pair directly would be slow, so a cheap bound comes first:
the distance between the magnitudes of two images' Fourier transforms is the same for any
(circular) shift and never exceeds their pixel distance under any shift. Only the pairs it
cannot rule out are compared shift by shift.
"""
from functools import lru_cache

import numpy as np

from ..config import settings

SHIFT = 3  # pixels, in each direction
CHUNK = 10000  # MNIST images compared at once
CANDIDATES = 32  # per sample, the MNIST images the bound leaves to compare shift by shift


@lru_cache(maxsize=1)
def dft_matrices():
    n = np.arange(28)
    full = np.exp(-2j * np.pi * np.outer(n, n) / 28)
    return full.astype(np.complex64), full[:15].T.astype(np.complex64)  # rows, columns (real input)


def spectra(images):
    """|DFT| of images [N, 28, 28] in [0, 1], scaled so that distances between them are lower
    bounds of pixel distances: float32 [N, 420]."""
    rows, columns = dft_matrices()
    transformed = rows @ images.astype(np.complex64) @ columns  # [N, 28, 15]
    weight = np.ones(15, np.float32)
    weight[1:14] = np.sqrt(2.0)  # the columns a real input's transform leaves out mirror these
    return (np.abs(transformed) * weight / 28.0).reshape(len(images), -1).astype(np.float32)


def references():
    """Every image of the data set graded on (training and test) as uint8 [70000, 28, 28], and
    their spectra (float16 keeps them at 59 MB; prefilter() allows for its rounding)."""
    return loaded(settings.data_npz())


@lru_cache(maxsize=1)
def loaded(path):
    with np.load(path) as data:
        images = np.concatenate([data["x_train"], data["x_test"]])
    return images, np.concatenate([spectra(images[s:s + CHUNK] / np.float32(255.0)).astype(np.float16)
                                   for s in range(0, len(images), CHUNK)])


def spreads(images, labels):
    """Per digit, the mean over pixels of the std across that digit's samples."""
    flat = images.reshape(len(images), -1)
    return np.array([flat[labels == d].std(0).mean() for d in range(settings.NUM_CLASSES)])


def prefilter(samples, radius):
    """For each sample, the indices of up to CANDIDATES MNIST images that the spectral bound
    cannot rule out (bound below radius), nearest bound first: [N, CANDIDATES], -1 = none."""
    _, reference_spectra = references()
    query = spectra(samples)
    q_sq = (query ** 2).sum(1)
    best_bound = np.full((len(samples), CANDIDATES), np.inf, np.float32)
    best_index = np.full((len(samples), CANDIDATES), -1)
    for start in range(0, len(reference_spectra), CHUNK):
        block = reference_spectra[start:start + CHUNK].astype(np.float32)
        bound = q_sq[:, None] + (block ** 2).sum(1)[None, :] - 2.0 * query @ block.T
        keep = np.argpartition(bound, CANDIDATES, axis=1)[:, :CANDIDATES]
        merged_bound = np.concatenate([best_bound, np.take_along_axis(bound, keep, 1)], 1)
        merged_index = np.concatenate([best_index, keep + start], 1)
        order = np.argsort(merged_bound, axis=1)[:, :CANDIDATES]
        best_bound = np.take_along_axis(merged_bound, order, 1)
        best_index = np.take_along_axis(merged_index, order, 1)
    best_index[best_bound > (radius * 1.01) ** 2] = -1  # 1%: float16 rounding of the spectra
    return best_index


def nearest_copies(samples, radius=None):
    """For samples [N, 28, 28] in [0, 1]: the smallest distance to an image of the data set
    moved by up to SHIFT pixels, where it is below `radius` (default: the record's copy_distance),
    else inf."""
    radius = settings.data().copy_distance if radius is None else radius
    images, _ = references()
    samples = samples.astype(np.float32)
    candidates = prefilter(samples, radius)
    rows, slots = np.nonzero(candidates >= 0)
    best = np.full(len(samples), np.inf)
    if len(rows):
        a = samples[rows]
        b = images[candidates[rows, slots]].astype(np.float32) / 255.0
        distance = np.full(len(rows), np.inf, np.float32)
        for dy in range(-SHIFT, SHIFT + 1):
            for dx in range(-SHIFT, SHIFT + 1):
                moved = np.roll(a, (dy, dx), (1, 2))
                distance = np.minimum(distance, np.sqrt(((moved - b) ** 2).sum((1, 2))))
        np.minimum.at(best, rows, distance)
    best[best >= radius] = np.inf
    return best


def check(images, labels, fail):
    """Raise `fail(message)` unless the samples vary with z and are not (shifted) copies of the
    data set's images. Returns (how many samples are within copy_distance, the smallest such
    distance (inf when every sample is farther than 2 x copy_distance), each class's spread [10])."""
    data = settings.data()
    spread = spreads(images, labels)
    if spread.min() < data.min_sample_spread:
        k = int(spread.argmin())
        raise fail(f"the {np.sum(labels == k)} samples of {data.item} {data.label(k)!r} barely vary with z "
                   f"(spread {spread.min():.4f} < {data.min_sample_spread}): the decoder must "
                   "turn different z into different images. No generation points.")
    distances = nearest_copies(images.reshape(-1, 28, 28), radius=2 * data.copy_distance)
    copies = int(np.sum(distances < data.copy_distance))
    if copies > settings.MAX_COPY_FRACTION * len(images):
        raise fail(f"{copies} of {len(images)} samples are within distance {data.copy_distance} "
                   f"of a {data.title} image moved by up to {SHIFT} pixels (near-copies, not generated "
                   f"{data.item}s). No generation points.")
    return copies, float(distances.min()), spread
