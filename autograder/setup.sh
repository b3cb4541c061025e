#!/usr/bin/env bash
# Gradescope image setup (runs once, as root, in /autograder/source).
# Installs Python and the pinned packages into /autograder/venv and bakes a verified
# MNIST into data/mnist.npz with the same data step students use.
set -euo pipefail
cd /autograder/source
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
/autograder/venv/bin/pip install --quiet -r requirements.txt
MNIST_MIRROR=/autograder/source/data /autograder/venv/bin/python data/mnist.py
# The unprivileged student processes must not read the judge classifier, the judge's secret
# key or the MNIST test split (they get data/mnist-train.npz, made by the first grading).
chmod 700 autograder/classifier
chmod 600 autograder/judge.key data/mnist.npz
