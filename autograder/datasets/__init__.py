"""The data sets a course can grade on: one record each (<name>.toml here), and nothing about
a data set anywhere else.

A record gives the file and its array checksums (data/fetch.py verifies by them), where
copies are found, the class names, the judge classifier and every bar that depends on the
data (calibrated per data set: README, "Calibration"). A course file picks one by name
(`dataset = "fashion_mnist"`); adding a data set is a record plus a classifier made by
`make classifier COURSE=...`; a handout or Gradescope zip carries its course's record only.
Imports nothing but the standard library (the data step reads it too).
"""
import tomllib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Dataset:
    name: str  # as a course file names it
    title: str  # as messages and pictures name it
    file: str  # data/<file>, Keras' layout: x_train [60000, 28, 28] uint8, y_train, x_test, y_test
    checksums: dict  # array -> sha256 of array.tobytes()
    keras_url: str  # the download, for online machines
    keras_cache: str  # under ~/.keras/datasets/: an npz, or a folder of Keras' idx .gz files
    debian: str  # Debian's package folder of idx .gz files ("" if there is none)
    classes: tuple  # class names, by label
    item: str  # what one image shows ("digit", "item"), for messages
    classifier: str  # the judge classifier, in autograder/classifier/
    classifier_accuracy: float  # what the committed classifier must reach on the test split
    classifier_epochs: int  # how long make classifier trains it
    # 6.1/6.2 (and 6.3's decoder): the loss bar on the judge's changed test images, partial credit to LOSS_ZERO
    loss_threshold: float
    loss_zero: float
    # a model with the public images stored: gap between changed and unchanged, floors no training reaches
    max_clean_gap: float
    loss_floor: float  # after settings.EPOCHS epochs
    final_loss_floor: float  # after parts/end_to_end.GENERATION_EPOCHS epochs
    # 6.3: the judge classifier's recognition rate of generated images (full points above, none at or below the floor)
    accuracy_bar: float
    accuracy_floor: float
    min_sample_spread: float  # mean per-pixel std across one class's samples
    copy_distance: float  # L2 (pixels in [0, 1]) under which a sample is a copy of a (shifted) training image
    # 7.7: the probe's accuracy on the judge's changed test images (full points above, none at or below the floor)
    probe_bar: float
    probe_floor: float
    walk_bar: int  # 7.8: of the 10 decoded class-mean codes, how many the judge classifier must recognise
    # 8.9: the ConvVAE's loss bar after parts/e2e_conv.EPOCHS epochs, its partial-credit end, and what no
    # trained ConvVAE shows (memorised()): a loss below the floor, a larger changed-unchanged gap
    conv_loss_threshold: float
    conv_loss_zero: float
    conv_loss_floor: float
    conv_max_clean_gap: float
    # 9.4: the MMD-VAE's reconstruction BCE per image after settings.EPOCHS epochs (full points below the
    # threshold, none at zero) and what no trained one shows (a BCE below the floor, a larger gap)
    mmd_bce_threshold: float
    mmd_bce_zero: float
    mmd_bce_floor: float
    mmd_max_clean_gap: float
    # 9.5: the judge's MMD between its codes of the changed test images and N(0, I) samples
    mmd_prior_bar: float
    mmd_prior_zero: float
    # 10.10: the 2-D InferenceVAE's loss per image after e2e_inference.EPOCHS epochs, its partial-credit end,
    # and what no trained one shows (memorised())
    inference_loss_threshold: float
    inference_loss_zero: float
    inference_loss_floor: float
    inference_max_clean_gap: float
    # 10.11: the completed bottom halves' BCE over the training mean image's (full points below the bar, none at 1);
    # 10.12: how much more often the judge classifier reads the completed images right than the top halves
    # completed with the mean image (full points above the bar, none at or below the floor)
    inpaint_ratio_bar: float
    inpaint_gain_bar: float
    inpaint_gain_floor: float
    notes: dict  # sentences about this data set's bars, for the parts' RUBRIC (tools/stencil.py)

    def label(self, k):
        """The name of class k, e.g. "7" or "Sneaker"."""
        return self.classes[int(k)]


def load(path):
    """The record in the TOML file `path` (a file per data set, named after it)."""
    data = tomllib.loads(Path(path).read_text())
    return Dataset(name=Path(path).stem, classes=tuple(data.pop("classes")), **data.pop("bars"), **data)


BY_NAME = {path.stem: load(path) for path in sorted(Path(__file__).parent.glob("*.toml"))}
# A course file that names no data set means MNIST; a zip carries its course's record only.
DEFAULT = "mnist" if "mnist" in BY_NAME else next(iter(BY_NAME))
