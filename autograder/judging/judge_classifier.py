"""The judge classifier: predicted classes for generated images.

classify() runs in the judge and starts this file as its own trusted process (the
judge itself never imports TensorFlow), forked by the grading's fork server where there is one
(isolation/forkserver.py); no student code ever runs in that process.
The classifier is the current data set's (settings.classifier()).

    python -I judge_classifier.py WEIGHTS.keras IMAGES.npy PREDICTIONS.npy
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def classify(images, weights=None):
    """images float32 [N, 1, 28, 28] in [0, 1] -> predicted classes int [N], by `weights`
    (default: the current data set's classifier)."""
    from autograder.config import settings  # here: run as a script (main), this file imports nothing of the package
    from autograder.isolation import forkserver

    weights = weights or settings.classifier()
    with tempfile.TemporaryDirectory(prefix="vae-judge-") as tmp:
        src, dst = Path(tmp) / "images.npy", Path(tmp) / "predictions.npy"
        np.save(src, np.ascontiguousarray(images, dtype=np.float32))
        env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
        if sys.platform == "win32":  # Python needs its system folders there
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, "-I", __file__, str(weights), str(src), str(dst)]
        done = forkserver.run_trusted(command, tmp, env)  # TensorFlow already loaded there: no 3 s import
        if done is None:
            subprocess.run(command, check=True, capture_output=True, env=env)
        elif done[1] != 0:
            raise subprocess.CalledProcessError(done[1], command, done[0])
        return np.load(dst, allow_pickle=False)


def main(weights, src, dst):
    import keras

    model = keras.saving.load_model(weights)  # safe_mode: no arbitrary code from the file
    images = np.load(src, allow_pickle=False)
    logits = model.predict(images, batch_size=1000, verbose=0)
    np.save(dst, np.argmax(logits, axis=1).astype(np.int64))


if __name__ == "__main__":
    main(*sys.argv[1:4])
