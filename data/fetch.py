"""Fetch a course's data set into data/<file> and verify it by content.

    python data/fetch.py [--dataset mnist | --course FILE | --all] [--dest FILE]

The data set is the course file's (`dataset = ...`; default courses/default.toml or, in a
handout, course.toml), or --dataset. Its record (autograder/datasets/<name>.toml) names the file
and the sha256 of each array. Sources, in order: the destination itself if it verifies;
$MNIST_MIRROR/<file> (a folder holding copies, e.g. a course share); Keras' cache
(~/.keras/datasets/: mnist.npz, or the fashion-mnist/ folder of idx .gz files); Debian's
package folder of idx .gz files (/usr/share/datasets/...); finally Keras' download (online
machines only). Copies differ in their containers, so a file is accepted by the sha256 of
each array, never of the file. Exit status 0 with a verified file in place, 1 with a
one-paragraph explanation. Imports numpy only (TensorFlow is loaded for the download).
"""
import argparse
import gzip
import hashlib
import os
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from autograder.datasets import BY_NAME  # noqa: E402

KERAS_HOME = Path.home() / ".keras" / "datasets"
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}
IDX = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
       "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def course_dataset(course=None):
    """The record of the data set a course file names (default: the one a grading runs on,
    $GRADER_DATASET, else the course the grader uses)."""
    if course is None and os.environ.get("GRADER_DATASET") in BY_NAME:
        return BY_NAME[os.environ["GRADER_DATASET"]]
    if course is None:
        handout, repository = HERE.parent / "course.toml", HERE.parent / "courses" / "default.toml"
        course = handout if handout.is_file() else repository
    name = tomllib.loads(Path(course).read_text()).get("dataset", "mnist")
    if name not in BY_NAME:
        raise SystemExit(f"{course}: dataset {name!r} is not one of {', '.join(BY_NAME)}")
    return BY_NAME[name]


def check(arrays, record):
    """None if `arrays` ({key: array}) are the record's official arrays, else why not."""
    for key, digest in record.checksums.items():
        if key not in arrays:
            return f"has no array '{key}'"
        array = arrays[key]
        if array.shape != SHAPES[key] or array.dtype != np.uint8:
            return f"'{key}' is {array.dtype}{list(array.shape)}, expected uint8{list(SHAPES[key])}"
        if hashlib.sha256(array.tobytes()).hexdigest() != digest:
            return f"'{key}' has the right shape but different content"
    return None


def verify(path, record=None):
    """None if `path` (an .npz) holds the record's official arrays (default MNIST's), else the
    reason it does not."""
    record = record or BY_NAME["mnist"]
    try:
        with np.load(path, allow_pickle=False) as npz:
            return check({key: npz[key] for key in npz.files if key in SHAPES}, record)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        return f"is not a readable .npz file ({error})"


def read_idx(folder):
    """{key: array} from a folder of the four idx .gz files (Keras' cache, Debian's package)."""
    arrays = {}
    for key, name in IDX.items():
        with gzip.open(Path(folder) / name, "rb") as handle:
            raw = handle.read()
        offset = 16 if key.startswith("x") else 8  # the idx header: magic, counts (and rows, columns)
        arrays[key] = np.frombuffer(raw, np.uint8, offset=offset).reshape(SHAPES[key])
    return arrays


def candidates(record):
    """(description, path) of each local source, in the order they are tried."""
    mirror = os.environ.get("MNIST_MIRROR")
    if mirror:
        yield f"MNIST_MIRROR={mirror}", Path(mirror) / record.file
    yield "the Keras cache", KERAS_HOME / record.keras_cache
    if record.debian:
        yield "Debian's dataset package", Path(record.debian)


def load(path, record):
    """(arrays, None) from an .npz or an idx folder, or (None, why it cannot be used)."""
    if not path.exists():
        return None, f"nothing at {path}"
    if path.is_dir():
        try:
            arrays = read_idx(path)
        except (OSError, ValueError, EOFError) as error:
            return None, f"{path} has no readable idx files ({type(error).__name__}: {error})"
    else:
        problem = verify(path, record)
        if problem:
            return None, f"{path} {problem}"
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in SHAPES}
    problem = check(arrays, record)
    return (None, f"{path} {problem}") if problem else (arrays, None)


def download(record):
    """The arrays of Keras' own download (raises offline)."""
    import socket

    socket.setdefaulttimeout(20)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, record.name).load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def install(arrays, dest):
    """Write the arrays to `dest` atomically (owner-only: the grader's student processes must
    not read the test split), so an interrupted copy never leaves half a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part.npz", delete=False) as tmp:
        np.savez(tmp, **{key: arrays[key] for key in SHAPES})
    os.chmod(tmp.name, 0o600)
    os.replace(tmp.name, dest)


def fetch(dest=None, log=print, record=None):
    """Make `dest` (default data/<file>) a verified copy of the record's data set. Returns
    None on success, else an explanation."""
    record = record or BY_NAME["mnist"]
    dest = Path(dest or HERE / record.file)
    if dest.exists():
        problem = verify(dest, record)
        if problem is None:
            if dest.stat().st_mode & 0o077 and dest.stat().st_uid == getattr(os, "geteuid", lambda: -1)():
                os.chmod(dest, 0o600)  # an older copy: the grader's student processes must not read it
            return None
        log(f"{dest} {problem}; fetching it again.")
    tried = []
    for name, path in candidates(record):
        arrays, problem = load(path, record)
        if arrays is None:
            tried.append(f"{name}: {problem}")
            continue
        install(arrays, dest)
        log(f"{record.title} verified and copied from {name} to {dest}")
        return None
    try:
        arrays = download(record)
    except Exception as error:  # any failure of the download is reported the same way
        tried.append(f"Keras' download from {record.keras_url}: failed ({type(error).__name__}: {error})")
    else:
        problem = check(arrays, record)
        if problem is None:
            install(arrays, dest)
            log(f"{record.title} downloaded, verified and saved to {dest}")
            return None
        tried.append(f"Keras' download from {record.keras_url}: the data {problem}")
    return (
        f"Could not get a verified {record.title} for {dest}. Tried: " + "; ".join(tried) + ". "
        f"To fix it, put a copy of {record.file} (Keras' layout) in a folder and point MNIST_MIRROR at "
        "that folder (for example `MNIST_MIRROR=/path/to/folder make data`), or copy the "
        f"file to {dest} yourself; it must hold the official arrays x_train, y_train, "
        "x_test, y_test (their checksums are in autograder/datasets/<name>.toml)."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--dataset", choices=sorted(BY_NAME), help="a data set by name")
    which.add_argument("--course", type=Path, help="the course file whose data set to fetch")
    which.add_argument("--all", action="store_true", help="every data set (the project's tests use them all)")
    parser.add_argument("--dest", type=Path, default=None, help="where to put it (default: data/<file>)")
    args = parser.parse_args(argv)
    if args.all and args.dest:
        parser.error("--dest names one file: give --dataset or --course with it")
    records = BY_NAME.values() if args.all else [BY_NAME[args.dataset] if args.dataset else course_dataset(args.course)]
    problems = [problem for record in records if (problem := fetch(args.dest, record=record))]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
