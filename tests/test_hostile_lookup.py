"""Models that carry MNIST's public test split in the submission and look their input up,
with no training at all. The judge scores 6.1/6.2 on test images changed by a secret
transformation, with unchanged ones mixed in: a stored copy no longer matches, and a model
far better on the unchanged images than on the changed ones has them stored. Each earns
nothing on 6.1/6.2, however the split is carried."""
import base64
import zlib

import numpy as np
import pytest

from autograder.config import settings
from autograder.config.course import load
from conftest import NO_TRAINING, ROOT, message

pytestmark = pytest.mark.slow  # each test runs the grader


# The helper module the submission carries: the bank of images, compressed and base64'd.
BANK_MODULE = '''"""Not a lookup table, honest."""
import base64, zlib
import numpy as np

_DATA = {data!r}
_SHAPE = {shape!r}
_KIND = {kind!r}


def images():
    """The stored test split as float32 [N, 784] in [0, 1]."""
    raw = zlib.decompress(base64.b64decode(_DATA))
    if _KIND == "uint8":
        return np.frombuffer(raw, np.uint8).reshape(_SHAPE).astype("float32") / 255.0
    rows, k = _SHAPE
    values = np.frombuffer(raw, np.float16).astype("float32")
    codes, basis, mean = values[:rows * k].reshape(rows, k), values[rows * k:-784].reshape(k, 784), values[-784:]
    return np.clip(codes @ basis + mean, 0.0, 1.0)
'''

# The lookup: the encoder finds the nearest stored image (trying the query moved by up to
# SHIFT pixels) and carries its index and shift in z with a tiny logvar; the decoder returns
# that image, moved back.
LOOKUP = '''
import bank as _bank

SHIFT = {shift}


class _Lookup:
    def __init__(self, latent_size, classes):
        self.bank = tf.constant(_bank.images())
        self.latent_size, self.classes = latent_size, classes
        self.shifts = [(dy, dx) for dy in range(-SHIFT, SHIFT + 1) for dx in range(-SHIFT, SHIFT + 1)]

    def encode(self, flat):
        images = tf.reshape(flat[:, :784], (-1, 28, 28))
        norms = tf.reduce_sum(tf.square(self.bank), 1)[None, :]
        best = []
        for dy, dx in self.shifts:
            moved = tf.reshape(tf.roll(images, (dy, dx), (1, 2)), (-1, 784))
            best.append(norms - 2.0 * moved @ tf.transpose(self.bank))
        distances = tf.stack([tf.reduce_min(d, 1) for d in best], 1)
        shift = tf.argmin(distances, 1)
        index = tf.gather(tf.stack([tf.argmin(d, 1) for d in best], 1), shift, batch_dims=1)
        code = tf.cast(index * len(self.shifts) + shift, tf.float32)[:, None] / 1e6
        return tf.concat([code, tf.zeros((tf.shape(flat)[0], self.latent_size - 1))], 1)

    def decode(self, z):
        code = tf.cast(tf.round(tf.clip_by_value(z[:, 0], 0.0, 0.999999) * 1e6), tf.int64)
        index, shift = tf.minimum(code // len(self.shifts), self.bank.shape[0] - 1), code % len(self.shifts)
        images = tf.reshape(tf.gather(self.bank, index), (-1, 28, 28))
        back = tf.stack([tf.roll(images, (-dy, -dx), (1, 2)) for dy, dx in self.shifts], 1)
        return tf.clip_by_value(tf.gather(back, shift, batch_dims=1), 0.001, 0.999)[:, None]


def _tiny_logvar(h):
    return tf.concat([tf.fill(tf.shape(h[:, :1]), -30.0), tf.zeros_like(h[:, 1:])], 1)


class VAE(tf.keras.Model):
    def __init__(self, input_size, latent_size=15):
        super().__init__()
        lookup = _Lookup(latent_size, 0)
        self.encoder, self.decoder, self.mu_layer, self.logvar_layer = lookup.encode, lookup.decode, (lambda h: h), _tiny_logvar

    def call(self, x):
        mu = self.encoder(tf.reshape(x, (-1, 784)))
        return self.decoder(mu), mu, self.logvar_layer(mu)


class CVAE(tf.keras.Model):
    def __init__(self, input_size, num_classes=10, latent_size=15):
        super().__init__()
        lookup = _Lookup(latent_size, num_classes)
        self.encoder, self.mu_layer, self.logvar_layer = lookup.encode, (lambda h: h), _tiny_logvar
        self.decoder = lambda code: lookup.decode(code[:, :latent_size])

    def call(self, x, c):
        mu = self.encoder(tf.concat([tf.reshape(x, (-1, 784)), c], 1))
        return self.decoder(tf.concat([mu, c], 1)), mu, self.logvar_layer(mu)
'''


def carried(kind):
    """The helper module's text: the whole test split (uint8), or its first 120 principal
    components with per-image codes (float16): about 2.3 and 3.5 MB."""
    with np.load(settings.data_npz()) as mnist:
        test = mnist["x_test"].reshape(-1, 784)
    if kind == "uint8":
        raw, shape = test.tobytes(), test.shape
    else:
        x = test / 255.0
        mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        basis = vt[:120]
        raw = np.concatenate([((x - mean) @ basis.T).ravel(), basis.ravel(), mean]).astype(np.float16).tobytes()
        shape = (len(x), 120)
    data = base64.b64encode(zlib.compress(raw, 9)).decode()
    return BANK_MODULE.format(data=data, shape=shape, kind=kind)


@pytest.mark.parametrize("kind, shift, stage, number, course", [
    ("uint8", 0, "e2e_vae", "6.1", None),  # the whole split, nearest neighbour
    ("pca", 0, "e2e_vae", "6.1", None),  # a compressed copy
    ("uint8", 1, "e2e_vae", "6.1", None),  # nearest neighbour over shifts of the query
    ("uint8", 0, "e2e_cvae", "6.2", None),
    ("uint8", 0, "e2e_vae", "6.1", "fashion-mnist.toml"),  # Fashion-MNIST's public test split, on its course
])
def test_a_model_carrying_the_public_test_split_earns_nothing(kind, shift, stage, number, course, submission, grade_it):
    course = load(ROOT / "courses" / course) if course else None
    settings.use(course.dataset if course else "mnist")  # carry that course's test split
    folder = submission(vae_extra=LOOKUP.format(shift=shift), assignment_extra=NO_TRAINING)
    (folder / "bank.py").write_text(carried(kind))
    assert (folder / "bank.py").stat().st_size < 10_000_000  # within what the grader reads of a file
    results, scores = grade_it(folder, [stage], course=course)
    assert scores[number] == 0.0, message(results, number)
    said = message(results, number)
    data = settings.data()
    assert f"unchanged {data.title} images" in said or f"must be below {data.loss_threshold:.0f}" in said, said
    if stage == "e2e_cvae":
        assert scores["6.3"] == 0.0, message(results, "6.3")
