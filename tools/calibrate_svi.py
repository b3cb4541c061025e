"""10.8's bar: correct and mistaken `svi`s on the judge's stand-in decoder, outside the grader.

    python tools/calibrate_svi.py [--seeds 6] [--variants reference,noise-once,...]

Each variant is solution/inference.py (or tests/submissions/inference_style's) with other SVI
settings (steps x samples near 1,600, as the docstring asks, other step sizes) or a planted
mistake. For every seed it draws 10.8's secret inputs as the judge does, runs the variant's svi
on the stand-in (TensorFlow, a tf.function as the grader traces it) and prints what 10.8 judges:
how far the judge's ELBO of the returned q is below that of the judge's best Gaussian q (the
same 256 samples), and below log p(top half). README, "Part 10, inference by SVI", gives the
results.
"""
import argparse
import importlib.util
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "solution"))  # inference.py imports vae
from autograder.parts import inference as judge  # noqa: E402

SOLUTION = (ROOT / "solution" / "inference.py").read_text()
STYLE = (ROOT / "tests" / "submissions" / "inference_style" / "inference.py").read_text()
NOISE_ONCE = [("    for step in tf.range(1, num_steps + 1):\n        with tf.GradientTape() as tape:\n"
               "            tape.watch(params)\n            mean, log_std = params[0], params[1]\n"
               "            eps = tf.random.normal(tf.concat([[num_samples], shape], 0))\n",
               "    eps = tf.random.normal(tf.concat([[num_samples], shape], 0))\n"
               "    for step in tf.range(1, num_steps + 1):\n        with tf.GradientTape() as tape:\n"
               "            tape.watch(params)\n            mean, log_std = params[0], params[1]\n")]
NO_LOG_Q = [("            objective = tf.reduce_sum(tf.reshape(joint, tf.shape(z)[:2])\n"
             "                                      - factorized_gaussian_log_density(mean, log_std, z)) / num_samples",
             "            objective = tf.reduce_sum(tf.reshape(joint, tf.shape(z)[:2])) / num_samples")]
VARIANTS = {  # name -> (source, changes, svi's keyword arguments)
    "reference": (SOLUTION, [], {}),
    "style": (STYLE, [], {}),
    "adam-1x1600": (SOLUTION, [], dict(num_steps=1600, num_samples=1)),
    "adam-4x400": (SOLUTION, [], dict(num_steps=400, num_samples=4)),
    "adam-16x100": (SOLUTION, [], dict(num_steps=100, num_samples=16)),
    "adam-32x50-lr0.1": (SOLUTION, [], dict(num_steps=50, num_samples=32, learning_rate=0.1)),
    "adam-lr0.1": (SOLUTION, [], dict(learning_rate=0.1)),
    "style-1x1600": (STYLE, [], dict(num_steps=1600, num_samples=1)),
    "noise-once": (SOLUTION, NOISE_ONCE, {}),
    "noise-once-16x100": (SOLUTION, NOISE_ONCE, dict(num_steps=100, num_samples=16)),
    "no-log-q": (SOLUTION, NO_LOG_Q, {}),
}


def load(name, folder):
    """The variant's module (written to `folder`: autograph reads the source) and svi's arguments."""
    text, changes, arguments = VARIANTS[name]
    for old, new in changes:
        assert text.count(old) == 1, (name, old)
        text = text.replace(old, new)
    path = Path(folder) / f"variant_{re.sub(r'[^a-z0-9]', '_', name)}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, arguments


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    import tensorflow as tf

    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            i = judge.inputs(np.random.default_rng(100 + seed))
            given = i["images"].copy()
            given[:, judge.TOP:] = 0.0
            grid = judge.stand_in_grid(i)
            for name in args.variants.split(","):
                module, arguments = load(name, folder)
                decode = judge.standin(tf, *[tf.constant(i[k]) for k in ("w1", "b1", "w2", "b2")])
                fitted = tf.function(lambda x: module.svi(decode, x, **arguments))(tf.constant(given))
                mean, log_std = (np.asarray(a, np.float64) for a in fitted)
                best = judge.best_fit(i, mean, log_std, grid)
                gap, best_gap = judge.svi_gaps(i, (mean, log_std), best, grid=grid)
                rows.setdefault(name, []).append(gap - best_gap)
                print(f"seed {seed} {name:<18} {gap - best_gap:.3f} below the best q, {gap:.3f} below log p(top half)",
                      flush=True)
    print()
    for name, values in rows.items():
        print(f"{name:<18} {min(values):.3f}-{max(values):.3f} nats below the judge's best q ({len(values)} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
