"""The judge classifier that ships with the package."""
import time

import numpy as np

from autograder import judge_classifier, settings


def test_committed_classifier_is_small_and_accurate():
    assert judge_classifier.WEIGHTS.stat().st_size <= 1_000_000
    with np.load(settings.MNIST_NPZ) as mnist:
        images = mnist["x_test"][:, None].astype(np.float32) / 255.0
        labels = mnist["y_test"]
    start = time.monotonic()
    accuracy = float(np.mean(judge_classifier.classify(images) == labels))
    assert accuracy >= 0.993, f"MNIST test accuracy {accuracy:.4f} < 0.993"
    assert time.monotonic() - start < 60, "rating 10,000 digits should take seconds"


def test_each_digits_average_image_is_read_as_that_digit():
    """A blurry average digit, much like a VAE's sample, is still read right: a classifier
    that answered one class for everything (or only for sharp digits) would fail."""
    with np.load(settings.MNIST_NPZ) as mnist:
        means = np.stack([mnist["x_train"][mnist["y_train"] == d].mean(0) for d in range(10)])
    predicted = judge_classifier.classify((means[:, None] / 255.0).astype(np.float32))
    assert predicted.tolist() == list(range(10))
