#!/usr/bin/env bash
# Gradescope image setup (runs once, as root, in /autograder/source).
# Installs Python and the pinned packages into /autograder/venv and bakes a verified
# MNIST into data/mnist.npz with the same data step students use.
# AUTOGRADER_ROOT (default /autograder) builds the same image in another folder: make gradescope-local.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"
export DEBIAN_FRONTEND=noninteractive
# A supported Python: the system's if it is one, else one installed from Ubuntu's archive
# (the default image, Ubuntu 22.04, ships 3.10; Keras 3.15 needs 3.11 or later).
PYTHON=$(bash install/choose_python.sh) || exit 1
echo "setup.sh: building $ROOT/venv with $PYTHON ($("$PYTHON" --version 2>&1))"
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --quiet --upgrade pip
"$ROOT/venv/bin/pip" install --quiet -r requirements.txt
# The course's data set (course.toml): a zip built with --with-data carries it in data/; otherwise
# MNIST_MIRROR (if the image sets it), Keras' cache, Debian's package or the download.
MNIST_MIRROR="${MNIST_MIRROR:-$ROOT/source/data}" "$ROOT/venv/bin/python" data/fetch.py
# The unprivileged student processes must not read the judge classifier, the judge's own
# TensorFlow functions (each process is handed those it may use), the judge's secret key or
# the MNIST test split (they get data/mnist-train.npz, made by the first grading).
chmod 700 autograder/classifier
if [ -d autograder/judges ]; then chmod -R go-rwx autograder/judges; fi
chmod 600 autograder/judge.key data/*.npz
# The image must be able to grade: a stub submission is graded now, and the build fails with
# one line unless its code ran as an unprivileged user (zeros for every student otherwise).
"$ROOT/venv/bin/python" -m autograder.smoke
