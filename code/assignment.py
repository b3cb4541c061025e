"""Train a VAE or CVAE on the course's data set (MNIST, or what course.toml names, e.g.
Fashion-MNIST) and save figures of what it generates.

    python assignment.py              # VAE
    python assignment.py --is_cvae    # conditional VAE
    python assignment.py --conv       # the convolutional VAE of conv_vae.py (if the course has it)
    python assignment.py --mmd        # vae.py's VAE trained with mmd.py's loss (if the course has it)
    python assignment.py --inference  # inference.py's 2-D VAE; SVI completes test digits (if the course has it)
    python assignment.py --help       # every option

Only train_vae is yours to write; everything else here is given.
"""
import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def quiet_stderr():
    """Send what C++ code prints to stderr to /dev/null for a while: TensorFlow announces its
    oneDNN options at import whatever TF_CPP_MIN_LOG_LEVEL says. Python errors still show."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter
with quiet_stderr():
    import tensorflow as tf

from vae import CVAE, VAE, loss_function  # noqa: E402

HERE = Path(__file__).resolve().parent
OUTPUTS = HERE.parent / "outputs"
NUM_CLASSES = 10


def dataset():
    """The record of the course's data set (title, file, class names): autograder/datasets."""
    sys.path.insert(0, str(HERE.parent / "data"))
    import fetch

    return fetch.course_dataset()


class HelpfulParser(argparse.ArgumentParser):
    """Shows the whole help, not just a usage line, when an argument is wrong."""

    def error(self, message):
        self.print_help(sys.stderr)
        self.exit(2, f"\nerror: {message}\n")


def parseArguments(argv=None):
    parser = HelpfulParser(description="Train a VAE or CVAE on the course's data set (make data fetches it).")
    parser.add_argument("--is_cvae", action="store_true", help="train the conditional VAE")
    parser.add_argument("--conv", action="store_true", help="train conv_vae.py's ConvVAE (not with --is_cvae)")
    parser.add_argument("--mmd", action="store_true",
                        help="train vae.py's VAE with mmd.py's mmd_training_loss in place of loss_function")
    parser.add_argument("--inference", action="store_true",
                        help="train inference.py's 2-D InferenceVAE and complete test digits from their top halves by SVI")
    parser.add_argument("--load_weights", action="store_true",
                        help="skip training and load weights saved by an earlier run")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--num_epochs", type=int, default=5)
    parser.add_argument("--latent_size", type=int, default=15)
    parser.add_argument("--input_size", type=int, default=28 * 28)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    return parser.parse_args(argv)


def one_hot(labels, class_size):
    """Integer labels [N] -> float32 one-hot matrix [N, class_size]."""
    return tf.one_hot(tf.cast(labels, tf.int32), class_size, dtype=tf.float32)


def data_file(record):
    """The data set's file: data/<its file>, or the path in the environment variable MNIST_NPZ."""
    return Path(os.environ.get("MNIST_NPZ") or HERE.parent / "data" / record.file)


def test_split(count):
    """The first `count` test images, float32 [count, 1, 28, 28] in [0, 1], and their int32 labels
    [count]; None when the data file holds no test split."""
    with np.load(data_file(dataset())) as data:
        if "x_test" not in data:
            return None
        images = (data["x_test"][:count, None] / np.float32(255.0)).astype(np.float32)
        return images, data["y_test"][:count].astype(np.int32)


def load_mnist(batch_size, buffer_size=1024):
    """The training split of the course's data set as a shuffled, batched tf.data.Dataset.

    Each element is (images, labels): images float32 [B, 1, 28, 28] in [0, 1],
    labels int32 [B]. Pixels stay uint8 until a batch is formed, so the dataset
    holds 47 MB rather than 188 MB. The file is data/mnist.npz, or the course's (run
    `make data`), or the path in the environment variable MNIST_NPZ.
    """
    record = dataset()
    path = data_file(record)
    if not path.is_file():
        raise SystemExit(
            f"{record.title} not found at {path}. From the repository root run `make data` "
            "(see README.md, section 'Getting MNIST')."
        )
    with np.load(path) as mnist:
        images, labels = mnist["x_train"], mnist["y_train"]

    def to_float(x, y):
        x = tf.cast(x, tf.float32)[:, tf.newaxis] / 255.0
        return x, tf.cast(y, tf.int32)

    return (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(buffer_size)
        .batch(batch_size)
        .map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def train_vae(model, train_loader, args, is_cvae=False):
    """Train `model` for one epoch; return the sum of the per-batch losses.

    model:        a VAE or CVAE whose optimizer is already attached as model.optimizer.
    train_loader: a tf.data.Dataset of (images [B, 1, 28, 28], labels [B]).
    args:         the parsed command-line arguments (you may not need them).
    is_cvae:      if True, call model(images, one_hot(labels, 10)); else model(images).

    For each batch: run the model under tf.GradientTape, compute
    loss_function(x_hat, images, mu, logvar), then apply the gradients with
    model.optimizer.apply_gradients. Return the sum of the batch losses as one number;
    float(total) is the simplest (a 0-d tensor is accepted too). Tip: a per-batch step function with
    @tf.function makes an epoch several times faster; define it once, outside
    train_vae, or TensorFlow traces it again (and keeps the copy) every epoch.
    """
    raise NotImplementedError("train_vae: loop over train_loader, apply gradients, return the summed loss as a float")


def build_model(args):
    """The model named by the arguments, with its Adam optimizer attached."""
    if args.conv and args.is_cvae:
        raise SystemExit("--conv trains conv_vae.py's ConvVAE, which is not conditional: leave out --is_cvae.")
    if args.mmd and (args.conv or args.is_cvae):
        raise SystemExit("--mmd trains vae.py's VAE with the MMD loss: leave out --conv and --is_cvae.")
    if args.inference and (args.conv or args.is_cvae or args.mmd):
        raise SystemExit("--inference trains inference.py's InferenceVAE: leave out --conv, --is_cvae and --mmd.")
    if args.inference:
        from inference import InferenceVAE

        model = InferenceVAE(args.input_size)
    elif args.conv:
        from conv_vae import ConvVAE

        model = ConvVAE(args.input_size, latent_size=args.latent_size)
    elif args.is_cvae:
        model = CVAE(args.input_size, num_classes=NUM_CLASSES, latent_size=args.latent_size)
    else:
        model = VAE(args.input_size, latent_size=args.latent_size)
    model.optimizer = tf.keras.optimizers.Adam(learning_rate=args.learning_rate)
    return model


def test_elbo(model, count=2000):
    """The ELBO of a ConvVAE (conv_vae.py) per test image: -mc_loss_function with one sample z of
    q(z|x) per image, averaged over the test split's first `count` images. None when the data
    file has no test split or mc_loss_function is not written yet."""
    from conv_vae import mc_loss_function
    from vae import reparameterize

    split = test_split(count)
    if split is None:
        return None
    images, total = split[0], 0.0
    for start in range(0, len(images), 500):
        x = tf.constant(images[start:start + 500])
        hidden = model.encoder(x)
        mu = model.mu_layer(hidden)
        logvar = model.logvar_layer(hidden)
        sample = reparameterize(mu, logvar)
        try:
            total += float(mc_loss_function(model.decoder(sample), x, sample, mu, logvar)) * len(x)
        except NotImplementedError:
            return None
    return -total / len(images)


def show_vae_images(model, latent_size, path=None):
    """Decode 100 draws z ~ N(0, I) and save them as a 10 x 10 grid."""
    z = tf.random.normal((100, latent_size))
    images = model.decoder(z).numpy()
    _save_grid(images, 10, path or OUTPUTS / "vae_samples.png", "VAE samples, z ~ N(0, I)")


def show_vae_interpolation(model, latent_size, path=None):
    """Decode a 10 x 10 sweep between random latent codes (corners are random z)."""
    corners = tf.random.normal((4, latent_size))
    steps = tf.linspace(0.0, 1.0, 10)
    left = corners[0] + steps[:, None] * (corners[1] - corners[0])  # [10, Z]
    right = corners[2] + steps[:, None] * (corners[3] - corners[2])
    grid = left[:, None] + steps[None, :, None] * (right - left)[:, None]  # [10, 10, Z]
    images = model.decoder(tf.reshape(grid, (100, latent_size))).numpy()
    _save_grid(images, 10, path or OUTPUTS / "vae_interpolation.png", "VAE latent interpolation")


def show_cvae_images(model, latent_size, path=None):
    """Decode 10 samples of each class; row d shows the class d (a digit, or a Fashion-MNIST item)."""
    labels = np.repeat(np.arange(NUM_CLASSES), 10)
    z = tf.random.normal((len(labels), latent_size))
    images = model.decoder(tf.concat([z, one_hot(labels, NUM_CLASSES)], axis=1)).numpy()
    rows = ", ".join(dataset().classes)
    _save_grid(images, 10, path or OUTPUTS / "cvae_samples.png", f"CVAE samples, rows from the top: {rows}")


def show_completions(model, count=20):
    """inference.py's SVI on the top halves of the first `count` test images (binarized), then
    inpaint at q's means: the originals above their completions, saved as one grid."""
    import inference

    split = test_split(count)
    if split is None:
        return
    x = tf.constant((split[0].reshape(count, -1) > 0.5).astype(np.float32))
    blank = tf.concat([inference.top_half(x), tf.zeros_like(inference.top_half(x))], 1)  # svi sees no bottom half
    mean, _ = tf.function(lambda x: inference.svi(model.decoder, x))(blank)
    completed = inference.inpaint(model.decoder, x, mean).numpy()
    _save_grid(np.concatenate([x.numpy(), completed]), count, OUTPUTS / "inference_completions.png",
               "Test images (top row) and their bottom halves filled in by SVI (bottom row)")


def show_latent_figures(model, count=5000):
    """explore.py's figures of a trained VAE (if the course has that file), for the first
    `count` test images of the course's data set."""
    try:
        import explore
    except ImportError:
        return
    split = test_split(count)
    if split is not None:
        explore.make_figures(model, *split, list(dataset().classes), OUTPUTS, _save_grid)


def _save_grid(images, columns, path, title):
    """Save images [N, 1, 28, 28] as one PNG grid with `columns` images per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = int(np.ceil(len(images) / columns))
    canvas = np.ones((rows * 28, columns * 28), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = image.reshape(28, 28)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt.figure(figsize=(columns / 2, rows / 2 + 0.4))
    plt.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0)
    plt.title(title, fontsize=8)
    plt.axis("off")
    plt.savefig(path, dpi=100, bbox_inches="tight")
    plt.close()
    print(f"saved {path}")


def use_mmd_loss():
    """Make train_vae train with mmd.py's mmd_training_loss: it calls loss_function by this file's
    name, which now means the MMD loss (as the autograder does for 9.4-9.5)."""
    global loss_function
    from mmd import mmd_training_loss

    loss_function = mmd_training_loss


def weights_path(args):
    # Keras 3 insists on the .weights.h5 suffix for save_weights / load_weights.
    name = ("inference_vae" if args.inference else "conv_vae" if args.conv else "cvae" if args.is_cvae
            else "mmd_vae" if args.mmd else "vae")
    return OUTPUTS / f"{name}.weights.h5"


def save_model_weights(model, args):
    path = weights_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)
    print(f"saved {path}")


def load_weights(model, args):
    """Build `model`'s variables (and its optimizer's) with one dummy batch, then load."""
    path = weights_path(args)
    if not path.is_file():
        raise SystemExit(f"No saved weights at {path}: train once without --load_weights first.")
    images = tf.zeros((1, 1, 28, 28))
    if args.is_cvae:
        model(images, one_hot([0], NUM_CLASSES))
    else:
        model(images)
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return model


def main(args):
    model = build_model(args)
    if args.mmd:
        use_mmd_loss()
    if args.load_weights:
        load_weights(model, args)
    else:
        train_loader = load_mnist(args.batch_size)
        num_batches = int(train_loader.cardinality())
        began = time.perf_counter()
        for epoch in range(1, args.num_epochs + 1):
            start = time.perf_counter()
            total_loss = train_vae(model, train_loader, args, is_cvae=args.is_cvae)
            # train_vae sums batch means, so dividing by the batch count gives a per-image mean.
            seconds = time.perf_counter() - start
            elbo = test_elbo(model) if args.conv else None  # the seed handout's per-epoch test ELBO
            left = (args.num_epochs - epoch) * (time.perf_counter() - began) / epoch
            print(
                f"epoch {epoch}/{args.num_epochs}  loss per image {float(total_loss) / num_batches:8.3f}"
                + (f"  test ELBO {elbo:8.3f}" if elbo is not None else "")
                + f"  ({seconds:.1f} s" + (f", about {left:.0f} s left)" if left else ")"),
                flush=True,
            )
        save_model_weights(model, args)
    if args.inference:
        show_completions(model)
    elif args.conv:
        show_vae_images(model, args.latent_size, OUTPUTS / "conv_vae_samples.png")
    elif args.mmd:
        show_vae_images(model, args.latent_size, OUTPUTS / "mmd_vae_samples.png")
        show_vae_interpolation(model, args.latent_size, OUTPUTS / "mmd_vae_interpolation.png")
    elif args.is_cvae:
        show_cvae_images(model, args.latent_size)
    else:
        show_vae_images(model, args.latent_size)
        show_vae_interpolation(model, args.latent_size)
        show_latent_figures(model)


if __name__ == "__main__":
    main(parseArguments())
