"""Everything the judge fixes: seeds, training settings, thresholds and limits.

Course staff tune the homework here; the README's rubric quotes these values.
"""
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..datasets import BY_NAME as DATASETS, DEFAULT

PACKAGE = Path(__file__).resolve().parent.parent  # autograder/
ROOT = PACKAGE.parent  # the repository, or /autograder/source on Gradescope
PRISTINE_ASSIGNMENT = ROOT / "code" / "assignment.py"  # the stencil's given helpers

CURRENT = [DATASETS[os.environ.get("GRADER_DATASET") or DEFAULT]]  # the course's (use()); student processes: from the judge


def data():
    """The record of the data set being graded on (autograder/datasets/): its files, classes and bars."""
    return CURRENT[0]


def use(name):
    """Grade on data set `name` from now on (the course's); returns its record."""
    CURRENT[0] = DATASETS[name]
    return CURRENT[0]


def data_npz():
    """The data set's file: the judge's (root-only on Gradescope), or in a student's process the
    training split it is given ($MNIST_NPZ)."""
    return Path(os.environ.get("MNIST_NPZ") or ROOT / "data" / data().file)


def train_npz():
    """The training half of the data set's file: all a student's process may read."""
    return ROOT / "data" / f"{data().name}-train.npz"


def classifier():
    return PACKAGE / "classifier" / data().classifier


PROGRESS = "@@progress@@ "  # a line of training progress: shown on the judge's terminal, kept out of the results
SEED = int(os.environ.get("GRADER_SEED", 1470))  # tools/calibrate.py varies it
IMAGE_SIZE = 28 * 28
NUM_CLASSES = 10
LATENT_SIZE = 15

# End-to-end training: what the student's train_vae is run with.
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
EPOCHS = 5  # the loss checks (6.1, 6.2) are taken after this many epochs
EVAL_IMAGES = 2000  # MNIST test images, changed by a secret transformation (distort.py), the model is scored on
CLEAN_IMAGES = 500  # unchanged images (half test, half training split), mixed in: a model with MNIST stored shows there


# Generation: samples per class, and how many may be copies of training images (genuine.py).
# The bars that depend on the data (loss, recognition, copy distance) are in its record, autograder/datasets/<name>.toml.
SAMPLES_PER_CLASS = 100
MAX_COPY_FRACTION = 0.01


@dataclass(frozen=True)
class Limits:
    """Per-stage limits for student processes (seconds, megabytes, bytes)."""

    unit_timeout: float = 120.0  # the student's process of each of the parts 1-5
    training_budget: float = 30 * 60.0  # the two end-to-end parts together (shares in parts/e2e_*.py)
    measure_timeout: float = 300.0  # one measuring process (all parts: about 20 s on 2 cores)
    memory_mb: int = 3000  # memory of one process and all it started (shared memory included)
    measure_memory_mb: int = None  # the measuring process's, if not memory_mb (budget.memory_plan)
    disk_mb: int = 2000  # what one process writes to its folder and the shared temporary folders
    output_bytes: int = 20_000  # output kept for the student (head + tail)

    def scaled(self, unit_timeout=None, training_budget=None, memory_mb=None):
        """A copy with some limits replaced (tests use short ones)."""
        changes = {"unit_timeout": unit_timeout, "training_budget": training_budget,
                   "memory_mb": memory_mb}
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
