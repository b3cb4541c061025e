"""The judge classifier that ships with the package."""
import time

import numpy as np

import pytest

from autograder.judging import judge_classifier
from autograder.config import settings
from autograder.datasets import BY_NAME as DATASETS


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_data_sets_committed_classifier_is_small_and_accurate(name):
    """The judge classifier of every data set record: at most 1 MB, at least the record's
    accuracy on the test split (MNIST 99.3%, Fashion-MNIST 91%), seconds for 10,000 images."""
    record = DATASETS[name]
    weights = settings.PACKAGE / "classifier" / record.classifier
    assert weights.stat().st_size <= 1_000_000
    with np.load(settings.ROOT / "data" / record.file) as data:
        images = data["x_test"][:, None].astype(np.float32) / 255.0
        labels = data["y_test"]
    start = time.monotonic()
    accuracy = float(np.mean(judge_classifier.classify(images, weights) == labels))
    assert accuracy >= record.classifier_accuracy, f"{record.title} test accuracy {accuracy:.4f}"
    assert time.monotonic() - start < 60, "rating 10,000 images should take seconds"


def test_each_digits_average_image_is_read_as_that_digit():
    """A blurry average digit, much like a VAE's sample, is still read right: a classifier
    that answered one class for everything (or only for sharp digits) would fail."""
    with np.load(settings.data_npz()) as mnist:
        means = np.stack([mnist["x_train"][mnist["y_train"] == d].mean(0) for d in range(10)])
    predicted = judge_classifier.classify((means[:, None] / 255.0).astype(np.float32))
    assert predicted.tolist() == list(range(10))
