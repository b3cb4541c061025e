"""Train the judge: the classifier that rates CVAE-generated images of a data set.

    python -m autograder.classifier.train [--course FILE | --dataset NAME] [--epochs N] [--data FILE] [--out FILE]

A small CNN (about 200k parameters, under 1 MB on disk) trained on the data set's training
split with small random shifts, so that it also reads slightly off-centre, blurry images.
Seeds and op determinism make a rerun on the same machine reproduce the file, written to
the record's classifier (datasets.py). The test split is used only to report accuracy
(the committed file must reach the record's classifier_accuracy: MNIST 99.3%, Fashion-MNIST 91%).
Input: images float32 [N, 1, 28, 28] in [0, 1]. Output: logits [N, 10].
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from autograder.config.course import load  # noqa: E402
from autograder.datasets import BY_NAME  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "data"


def build():
    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((1, 28, 28)),
        layers.Reshape((28, 28, 1)),
        layers.RandomTranslation(0.08, 0.08, fill_mode="constant"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(10),
    ])


def as_float(x):
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [0, 1]."""
    return x[:, None].astype(np.float32) / 255.0


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the judge classifier of a data set.")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--dataset", choices=sorted(BY_NAME), help="default: the course's")
    which.add_argument("--course", type=Path, help="the course file whose data set to use (default: courses/default.toml)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the record's classifier_epochs")
    parser.add_argument("--seed", type=int, default=1470)
    parser.add_argument("--data", type=Path, default=None, help="default: data/<the record's file>")
    parser.add_argument("--out", type=Path, default=None, help="default: autograder/classifier/<the record's classifier>")
    args = parser.parse_args(argv)
    record = BY_NAME[args.dataset] if args.dataset else BY_NAME[load(args.course).dataset]
    args.epochs = args.epochs or record.classifier_epochs
    args.data = args.data or DATA / record.file
    args.out = args.out or HERE / record.classifier

    tf.keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    with np.load(args.data) as data:
        x_train, y_train = data["x_train"], data["y_train"]
        x_test, y_test = as_float(data["x_test"]), data["y_test"]
    train = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(60000, seed=args.seed)
        .batch(128)
        .map(lambda x, y: (tf.cast(x, tf.float32)[:, None] / 255.0, y))
        .prefetch(tf.data.AUTOTUNE)
    )
    model = build()
    steps = args.epochs * int(train.cardinality())
    schedule = tf.keras.optimizers.schedules.CosineDecay(2e-3, steps)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(schedule),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train, epochs=args.epochs, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    judge = build()  # an uncompiled copy: the file keeps the weights, not Adam's state
    judge.set_weights(model.get_weights())
    judge.save(args.out)
    print(f"test accuracy {accuracy:.4f}; saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
