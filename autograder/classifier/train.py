"""Train the judge: the MNIST classifier that rates CVAE-generated digits.

    python -m autograder.classifier.train [--epochs 8] [--out autograder/classifier/mnist_classifier.keras]

A small CNN (about 200k parameters, under 1 MB on disk) trained on the MNIST training
set with small random shifts, so that it also reads slightly off-centre, blurry digits.
Seeds and op determinism make a rerun on the same machine reproduce the file.
The test set is used only to report accuracy (the committed file must reach >= 99.3%).
Input: images float32 [N, 1, 28, 28] in [0, 1]. Output: logits [N, 10].
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "mnist_classifier.keras"
MNIST = HERE.parent.parent / "data" / "mnist.npz"


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
    parser = argparse.ArgumentParser(description="Train the judge MNIST classifier.")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1470)
    parser.add_argument("--data", type=Path, default=MNIST)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)

    tf.keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    with np.load(args.data) as mnist:
        x_train, y_train = mnist["x_train"], mnist["y_train"]
        x_test, y_test = as_float(mnist["x_test"]), mnist["y_test"]
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
