"""The data step: sources in order, verification by content, clear failure offline."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "data"))
import fetch  # noqa: E402
from autograder.datasets import BY_NAME  # noqa: E402

MNIST = BY_NAME["mnist"]
FASHION = BY_NAME["fashion_mnist"]
DEST = ROOT / "data" / "mnist.npz"

MIRROR = os.environ.get("MNIST_MIRROR")
needs_mirror = pytest.mark.skipif(not MIRROR, reason="set MNIST_MIRROR to a folder holding mnist.npz")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No mirror, an empty Keras cache and a download that fails like an offline machine."""
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    monkeypatch.setattr(fetch, "KERAS_HOME", tmp_path / "no-cache")
    everywhere = fetch.candidates
    monkeypatch.setattr(fetch, "candidates", lambda record: [c for c in everywhere(record) if "Debian" not in c[0]])

    def no_network(record):
        raise OSError("network is unreachable")
    monkeypatch.setattr(fetch, "download", no_network)


def test_the_project_copy_verifies():
    assert fetch.verify(DEST) is None


@needs_mirror
def test_fetch_copies_a_verified_file_from_the_mirror(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "download", lambda record: pytest.fail("must not download"))
    dest = tmp_path / "mnist.npz"
    assert fetch.fetch(dest, log=lambda *a: None) is None
    # owner-only: the grader's student processes (other users) must not read the test split
    assert fetch.verify(dest) is None and oct(dest.stat().st_mode & 0o777) == "0o600"


@needs_mirror
def test_a_corrupt_file_is_fetched_again(tmp_path):
    dest = tmp_path / "mnist.npz"
    dest.write_bytes(b"PK\x03\x04 truncated")
    messages = []
    assert fetch.fetch(dest, log=messages.append) is None
    assert "is not a readable .npz file" in messages[0] and fetch.verify(dest) is None


def test_altered_arrays_are_rejected(tmp_path):
    with np.load(DEST) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["y_test"] = arrays["y_test"].copy()
    arrays["y_test"][0] ^= 1
    np.savez(tmp_path / "bad.npz", **arrays)
    assert fetch.verify(tmp_path / "bad.npz") == "'y_test' has the right shape but different content"
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    assert "expected uint8[60000, 28, 28]" in fetch.verify(tmp_path / "bad.npz")


def test_offline_without_sources_explains_how_to_fix_it(tmp_path, offline):
    problem = fetch.fetch(tmp_path / "mnist.npz", log=lambda *a: None)
    assert "MNIST_MIRROR" in problem and "network is unreachable" in problem
    assert not (tmp_path / "mnist.npz").exists()


def test_keras_cache_is_used_when_there_is_no_mirror(tmp_path, offline, monkeypatch):
    cache = tmp_path / "cache" / "mnist.npz"
    cache.parent.mkdir()
    shutil.copy(DEST, cache)
    monkeypatch.setattr(fetch, "KERAS_HOME", cache.parent)
    assert fetch.fetch(tmp_path / "mnist.npz", log=lambda *a: None) is None


def test_command_line_exit_status_and_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MNIST_MIRROR"}
    env["HOME"] = str(tmp_path)  # an empty Keras cache
    code = ("import sys; sys.path.insert(0, 'data'); import fetch;"
            "fetch.download = lambda r: (_ for _ in ()).throw(OSError('offline'));"
            f"sys.exit(fetch.main(['--dest', {str(tmp_path / 'm.npz')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "point MNIST_MIRROR at" in done.stderr


def write_idx(arrays, folder):
    """The four idx .gz files of Keras' cache and Debian's package, from arrays."""
    import gzip

    folder.mkdir(parents=True)
    for key, name in fetch.IDX.items():
        array = arrays[key]
        header = (b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape))
        with gzip.open(folder / name, "wb", compresslevel=1) as handle:
            handle.write(header + array.tobytes())


@pytest.mark.skipif(not MIRROR, reason="set MNIST_MIRROR to a folder holding fashion_mnist.npz")
def test_fashion_mnist_comes_from_the_mirror_or_an_idx_folder_and_is_verified(tmp_path, offline, monkeypatch):
    """Fashion-MNIST by its own checksums: from the mirror's npz, from a folder of idx .gz files
    (Debian's package, Keras' cache), never from altered arrays; the course file chooses it."""
    monkeypatch.setenv("MNIST_MIRROR", MIRROR)
    dest = tmp_path / "fashion_mnist.npz"
    assert fetch.fetch(dest, log=lambda *a: None, record=FASHION) is None and fetch.verify(dest, FASHION) is None
    assert fetch.verify(dest, MNIST) == "'x_train' has the right shape but different content"
    with np.load(dest) as data:
        arrays = {k: data[k] for k in data.files}
    monkeypatch.delenv("MNIST_MIRROR")
    write_idx(arrays, tmp_path / "debian")
    monkeypatch.setattr(fetch, "candidates", lambda record: [("Debian's dataset package", tmp_path / "debian")])
    again = tmp_path / "from-idx.npz"
    assert fetch.fetch(again, log=lambda *a: None, record=FASHION) is None and fetch.verify(again, FASHION) is None
    arrays["y_train"] = (arrays["y_train"] + 1) % 10
    write_idx(arrays, tmp_path / "altered")
    monkeypatch.setattr(fetch, "candidates", lambda record: [("Debian's dataset package", tmp_path / "altered")])
    problem = fetch.fetch(tmp_path / "never.npz", log=lambda *a: None, record=FASHION)
    assert "'y_train' has the right shape but different content" in problem and not (tmp_path / "never.npz").exists()
    course = tmp_path / "fashion.toml"
    course.write_text('dataset = "fashion_mnist"\nparts = ["loss"]\n')
    assert fetch.course_dataset(course) is FASHION and fetch.course_dataset(ROOT / "courses" / "default.toml") is MNIST


def test_training_data_stays_uint8_until_batched():
    """The given load_mnist hands uint8 arrays to tf.data and casts per batch."""
    script = """
import sys; sys.path.insert(0, 'code')
import tensorflow as tf
seen = []
original = tf.data.Dataset.from_tensor_slices
tf.data.Dataset.from_tensor_slices = staticmethod(lambda t: seen.append([a.dtype for a in t]) or original(t))
import assignment
images, labels = next(iter(assignment.load_mnist(64)))
assert [str(d) for d in seen[0]] == ['uint8', 'uint8'], seen
assert images.dtype == tf.float32 and tuple(images.shape) == (64, 1, 28, 28) and labels.dtype == tf.int32
assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
print('uint8 until batched')
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "uint8 until batched", done.stderr[-2000:]


def test_bad_training_arguments_print_help():
    done = subprocess.run([sys.executable, "assignment.py", "--batch_size", "many"], cwd=ROOT / "code",
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "--learning_rate" in done.stderr and "invalid int value: 'many'" in done.stderr
