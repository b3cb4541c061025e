"""Test images that exist nowhere outside the judge (judge side, numpy only).

MNIST's test split is public, so a submission could carry it and look its input up. The
end-to-end parts therefore score the trained model on test images changed by a secret
transformation drawn from the judge's key: each digit is rotated by 8 to 18 degrees (either
way), scaled and sheared by up to 4%, and moved by a faint elastic displacement field
(random noise smoothed by a Gaussian), then given back its own pixel values by rank, so that
its strokes stay as sharp as before (interpolation alone would blur them and raise every
loss). Slant, width and size are the ways handwriting varies, so a trained VAE reconstructs
the changed digits about as well as the originals, while a stored copy of the split no
longer matches them (tools/calibrate.py and README, "Calibration", measure both).
"""
import numpy as np

SIZE = 28
DEGREES = (15.0, 20.0)  # the rotation's size, either way
AFFINE = 0.04  # scaling and shear, each up to this
ELASTIC, SIGMA = 0.25, 3.0  # RMS displacement and smoothing of the elastic field, in pixels


def smooth(fields, sigma):
    """Gaussian blur (std `sigma` pixels) of fields [..., 28, 28], circular, through the FFT."""
    frequencies = np.fft.fftfreq(SIZE)
    gain = np.exp(-2 * (np.pi * sigma) ** 2 * (frequencies[:, None] ** 2 + frequencies[None, :] ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(fields) * gain))


def bilinear(images, rows, cols):
    """images [N, 28, 28] sampled at float coordinates rows, cols [N, 28, 28] (zero outside)."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows, cols = np.clip(rows + 1, 0, SIZE + 0.999), np.clip(cols + 1, 0, SIZE + 0.999)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, SIZE + 1), np.minimum(c0 + 1, SIZE + 1)
    fr, fc = rows - r0, cols - c0
    n = np.arange(len(images))[:, None, None]
    return ((1 - fr) * (1 - fc) * padded[n, r0, c0] + (1 - fr) * fc * padded[n, r0, c1]
            + fr * (1 - fc) * padded[n, r1, c0] + fr * fc * padded[n, r1, c1])


def match_histograms(moved, original):
    """Each moved image [N, 784] given the original's pixel values, assigned by rank."""
    out = np.empty_like(moved)
    out[np.arange(len(moved))[:, None], np.argsort(moved, 1, kind="stable")] = np.sort(original, 1)
    return out


def transformations(n, rng, degrees=DEGREES):
    """The secret part: per image a 2 x 2 matrix [N, 2, 2] and an elastic field [N, 2, 28, 28]."""
    angle = np.deg2rad(rng.uniform(*degrees, n)) * rng.choice([-1.0, 1.0], n)
    zoom = 1 + rng.uniform(-AFFINE, AFFINE, (n, 2))
    shear = rng.uniform(-AFFINE, AFFINE, n)
    matrix = np.empty((n, 2, 2))
    matrix[:, 0, 0], matrix[:, 0, 1] = np.cos(angle) * zoom[:, 0], -np.sin(angle) + shear
    matrix[:, 1, 0], matrix[:, 1, 1] = np.sin(angle), np.cos(angle) * zoom[:, 1]
    field = smooth(rng.normal(size=(n, 2, SIZE, SIZE)), SIGMA)
    field *= ELASTIC / np.sqrt((field ** 2).mean((1, 2, 3), keepdims=True))
    return matrix, field


def apply(images, matrix, field):
    """images float [N, 28, 28] in [0, 1], moved by `matrix` about the centre and by `field`."""
    grid = np.stack(np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")).astype(np.float64) - (SIZE - 1) / 2
    source = np.einsum("nij,jhw->nihw", matrix, grid) + (SIZE - 1) / 2 + field
    moved = np.clip(bilinear(images, source[:, 0], source[:, 1]), 0.0, 1.0).reshape(len(images), -1)
    return match_histograms(moved, images.reshape(len(images), -1)).reshape(images.shape)


def distort(images, rng, degrees=DEGREES):
    """images uint8 [N, 28, 28] -> float32 [N, 28, 28] in [0, 1], each changed by its own
    secret transformation (drawn from `rng`; turned by `degrees`, a range, either way)."""
    return apply(images / 255.0, *transformations(len(images), rng, degrees)).astype(np.float32)
