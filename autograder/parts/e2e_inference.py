"""Part 10 (10.10-10.12): inference.py's 2-D InferenceVAE trained by the student's own train_vae
(unchanged, with loss_function), then used to fill in the bottom halves of secret test digits.

The student's process trains it INFERENCE_EPOCHS epochs and exports its encoder path and its
decoder (logits) as 6.1 does, and svi traced on that decoder (with the judge's densities, as in
10.8). The measuring process scores the model on 6.1's changed test images (10.10: the judge's
loss from its logits, with 6.1's memorisation checks), and runs svi on the top halves of other
test digits, changed by the same kind of secret transformation turned less (0-10 degrees:
a 2-D model completes upright digits; a stored copy of the split still matches none of them) and
binarized, with their bottom halves blanked: svi never sees what it is to predict. The judge
completes each digit from the decoder's Bernoulli means at q's mean (10.11: the mean BCE of the
bottom halves against the training split's mean image's; 10.12: the judge classifier reads the
completed digits better than those completed with the mean image). It also decodes a grid of codes, for the report's picture of the joint.
"""
import numpy as np

from ..kit import Fail, Test, array, bce, below_bar, fact, falling_credit, sigmoid
from .. import distort, judge_classifier, settings
from . import end_to_end
from . import inference as unit

NAME = "e2e_inference"
FILES = ("vae.py", "inference.py", "assignment.py")
EPOCHS = 10  # a dense 784-500-2 epoch takes a few seconds
TRAINING_SHARE = 0.1  # of the training budget
SUFFIX = "_2d"
DRAWS = ("svi_2d",)
BATCH = 300  # images per svi call
COMPLETED = 600  # digits completed (two svi calls)
DEGREES = (0.0, 10.0)  # the completed digits' turn
GRID = np.linspace(-4.0, 4.0, 81)  # codes decoded for the report's joint


def build(s, ex, given):
    """Student process: train InferenceVAE with train_vae, export it and svi on its decoder."""
    model = end_to_end.build(s, ex, False, given, lambda: s.inference.InferenceVAE(settings.IMAGE_SIZE),
                             EPOCHS, SUFFIX, unit.Z)
    unit.use_judges(s.inference, unit.NAMES, s.tf)
    ex.endpoint("svi_2d", lambda x: s.inference.svi(model.decoder, x), [(BATCH, unit.D)],
                f"calling svi(decoder, x [{BATCH}, {unit.D}]) on your trained InferenceVAE (with the grader's "
                "log_joint_top and factorized_gaussian_log_density)", ["train"])
    ex.save("svi")


def inputs(rng):
    """6.1's secret images (with noise for 2-D codes); COMPLETED other test digits, turned less,
    binarized; the training split's mean image (float64 [784])."""
    out = end_to_end.inputs(rng, False)
    out["eps"] = rng.normal(size=(len(out["x_eval"]), unit.Z)).astype(np.float32)
    with np.load(settings.data_npz()) as data:
        pick = rng.choice(len(data["y_test"]), COMPLETED, replace=False)
        moved = distort.distort(data["x_test"][pick], rng, DEGREES)
        out["mean_image"] = (data["x_train"].reshape(len(data["x_train"]), -1).mean(0) / 255.0).astype(np.float64)
        out["complete_y"] = data["y_test"][pick]
    out["complete_x"] = (moved.reshape(COMPLETED, -1) > 0.5).astype(np.float32)
    return out


def blanked(x):
    """Images with their bottom halves set to 0: what svi is given."""
    out = x.copy()
    out[:, unit.TOP:] = 0.0
    return out


def decode(e, codes):
    """decode_2d on codes [M, 2], CHUNK rows a call (the last padded): logits [M, 784]."""
    chunk = end_to_end.CHUNK
    padded = np.concatenate([codes, np.zeros((-len(codes) % chunk, unit.Z))]).astype(np.float32)
    return np.concatenate([np.asarray(e.decode_2d(padded[s:s + chunk])) for s in range(0, len(padded), chunk)])[:len(codes)]


def completions(e, i):
    """svi on the blanked digits, then the decoder at q's means."""
    x = blanked(i["complete_x"])
    fitted = [e.svi_2d(x[s:s + BATCH]) for s in range(0, COMPLETED, BATCH)]
    mean = np.concatenate([np.asarray(m) for m, _ in fitted])
    log_std = np.concatenate([np.asarray(v) for _, v in fitted])
    return {"mean": mean, "log_std": log_std, "logits": decode(e, mean.astype(np.float64))}


REPORT_ONLY = ("grid",)  # measured for the report's picture of the joint; no test is graded on it
MEASURES = [
    ("evaluate", "scoring the trained InferenceVAE on the judge's test images",
     lambda e, i: end_to_end.scored(e, i, False, SUFFIX, i["eps"], i["order"])),
    ("complete", "running your svi on the top halves of the judge's test digits and decoding q's means", completions),
    ("grid", "decoding a grid of codes, for the report", lambda e, i: {"logits": decode(e, unit.grid_points(GRID))}),
]


# checks (judge) -----------------------------------------------------------------------

def bar():
    data = settings.data()
    return end_to_end.Bar(data.inference_loss_threshold, data.inference_loss_zero, data.inference_loss_floor, EPOCHS,
                          data.inference_max_clean_gap)


def check_model(run, i):
    """10.10: the judge's loss per image (BCE of sigmoid(logits) + KL) on the changed images."""
    b, changed = bar(), int(i["changed"])
    loss, clean = end_to_end.losses(run, i, "evaluate", i["order"], unit.Z, logits=True)
    if loss < b.zero:
        end_to_end.memorised(loss, clean, b.epochs, b.floor, b.max_gap)
    seconds = fact(run, "train").get("seconds")
    timed = end_to_end.epoch_times(seconds[:b.epochs] if isinstance(seconds, list) else None)
    detail = (f"your InferenceVAE's loss per image (BCE of sigmoid(logits) + KL) after {b.epochs} epochs is {loss:.1f} "
              f"on the judge's {changed} changed test images ({clean:.1f} on unchanged ones)")
    return below_bar(loss, b.threshold, b.zero, detail, ". Check that the decoder returns logits and call() returns "
                     "sigmoid of them, and that train_vae trains it (python assignment.py --inference)", ".0f", f".{timed}")


def completed(run, i):
    """The completed digits [COMPLETED, 784]: the true top halves, the decoder's Bernoulli means below."""
    logits = array(run, "complete", "logits", (COMPLETED, unit.D), "the decoder's logits at svi's means")
    array(run, "complete", "mean", (COMPLETED, unit.Z), "svi's mean")
    array(run, "complete", "log_std", (COMPLETED, unit.Z), "svi's log_std")
    return np.concatenate([i["complete_x"][:, :unit.TOP], sigmoid(logits[:, unit.TOP:])], 1)


def bottom_bce(run, i):
    """(mean BCE of the completed bottom halves, of the training split's mean image's) per digit."""
    x = i["complete_x"].astype(np.float64)
    ours = bce(completed(run, i)[:, unit.TOP:], x[:, unit.TOP:])
    baseline = bce(with_mean_image(i)[:, unit.TOP:], x[:, unit.TOP:])
    return float(ours.mean()), float(baseline.mean())


def check_completion(run, i):
    data = settings.data()
    ours, baseline = bottom_bce(run, i)
    ratio = ours / baseline
    detail = (f"the bottom halves your svi and decoder filled in have a mean BCE of {ours:.1f} per digit on the judge's "
              f"{COMPLETED} test digits; the training split's mean image gives {baseline:.1f} (ratio {ratio:.3f})")
    credit = falling_credit(ratio, data.inpaint_ratio_bar, 1.0)
    if credit == 1.0:
        return 1.0, f"{detail} < {data.inpaint_ratio_bar:g}"
    if not credit:
        raise Fail(f"{detail}; no better than the mean image. Check svi (10.8) and the trained model (10.10).")
    return credit, f"{detail}; full points below a ratio of {data.inpaint_ratio_bar:g}, none at 1"


def with_mean_image(i):
    """The judge's baseline: each digit's true top half above the training split's mean image's bottom half."""
    x = i["complete_x"].astype(np.float64)
    return np.concatenate([x[:, :unit.TOP], np.broadcast_to(i["mean_image"][unit.TOP:], (len(x), unit.D - unit.TOP))], 1)


def check_recognised(run, i):
    """10.12: how much more often the judge classifier reads the completed digits right than the
    baseline's (the top half alone tells the classifier much: measured, MNIST 59%)."""
    data = settings.data()
    digits = completed(run, i)
    predicted = judge_classifier.classify(np.concatenate([digits, with_mean_image(i)]).reshape(-1, 1, 28, 28)
                                          .astype(np.float32))
    run.extras.update(completed=digits, predicted=predicted[:COMPLETED])  # for the report
    rate, baseline = (float(np.mean(p == i["complete_y"])) for p in (predicted[:COMPLETED], predicted[COMPLETED:]))
    gain = rate - baseline
    detail = (f"the judge classifier reads {rate:.1%} of your {COMPLETED} completed {data.item}s as the {data.item} "
              f"they were, {baseline:.1%} of them completed with the training split's mean image: "
              f"{100 * gain:+.1f} points")
    if gain > data.inpaint_gain_bar:
        return 1.0, f"{detail} (more than {100 * data.inpaint_gain_bar:+.0f} needed)"
    fraction = max(0.0, (gain - data.inpaint_gain_floor) / (data.inpaint_gain_bar - data.inpaint_gain_floor))
    if not fraction:
        raise Fail(f"{detail}; your completions must tell the classifier more than the mean image does "
                   f"(full points above {100 * data.inpaint_gain_bar:+.0f}). Check svi (10.8) and the trained model (10.10).")
    return min(fraction, 0.99), (f"{detail}; full points above {100 * data.inpaint_gain_bar:+.0f}, partial credit "
                                 f"from {100 * data.inpaint_gain_floor:+.0f}")


TESTS = [
    Test("10.10", f"InferenceVAE trained {EPOCHS} epochs by your train_vae: loss < {{inference_loss_threshold:.0f}}", 2,
         check_model),
    Test("10.11", "completed bottom halves: BCE below {inpaint_ratio_bar:g} x the mean image's", 3, check_completion),
    Test("10.12", "completed digits: the judge classifier reads them better than with the mean image's bottom", 2,
         check_recognised),
]
