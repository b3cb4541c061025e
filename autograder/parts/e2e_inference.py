"""Part 10 (10.10-10.12): inference.py's 2-D InferenceVAE trained by the student's own train_vae
(unchanged, with loss_function), then used to fill in the bottom halves of digits it draws itself.

The student's process trains it EPOCHS epochs and exports its encoder path and its decoder
(logits) as 6.1 does, and svi traced on that decoder (with the judge's densities, as in 10.8).
The measuring process scores the model on 6.1's changed test images (10.10: the judge's loss
from its logits, with 6.1's memorisation checks). It then draws the judge's COMPLETED digits
from the trained decoder itself (Bernoulli pixels at the judge's secret codes and uniforms: no
public split holds them, so no lookup of stored images can find them) and runs svi on them with
their bottom halves blanked (svi never sees what it is to predict). The gate (gate()) that
10.10-10.12 all require: the ELBO of the q svi returns, estimated with the judge's samples, must
be within GATE nats per digit of the judge's own best Gaussian q on that decoder (found on a
91 x 91 grid of the 2-D latent space, from the grid posterior's moments and from svi's q). The
judge completes each digit from the decoder's Bernoulli means at q's mean (10.11: the mean BCE of
the bottom halves against the decoder's mean image's; 10.12: the judge classifier reads
the completed digits as it reads the decoder's own image at the judge's code more often than it
reads those completed with the mean image). It also decodes a grid of codes, for the report's
picture of the joint.
"""
import numpy as np

from ..outputs.drawing import image_rows, latent_scatter, posterior_contours
from ..judging.kit import Fail, Test, array, bce, below_bar, fact, falling_credit, figure, sigmoid
from ..judging import judge_classifier
from ..config import settings
from ..isolation.steps import Step
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
GATE_SAMPLES = 8  # the judge's samples of each q for the gate's ELBOs (the same for both q's)
GATE = 3.0  # nats per digit: svi's q's ELBO below the judge's best Gaussian q's, on average (gate())
GATE_GRID = np.linspace(-4.5, 4.5, 91)  # the judge's grid for its best q on the trained decoder (steps 0.1)
GRID = np.linspace(-4.0, 4.0, 81)  # codes decoded for the report's joint


def build(s, ex, given):
    """Student process: train InferenceVAE with train_vae, export it and svi on its decoder."""
    model = end_to_end.build(s, ex, False, given, lambda: s.inference.InferenceVAE(settings.IMAGE_SIZE),
                             EPOCHS, SUFFIX, unit.Z)
    unit.use_judges(s, unit.NAMES)
    ex.endpoint("svi_2d", lambda x: s.inference.svi(model.decoder, x), [(BATCH, unit.D)],
                f"calling svi(decoder, x [{BATCH}, {unit.D}]) on your trained InferenceVAE (with the grader's "
                "log_joint_top and factorized_gaussian_log_density)", ["train"])
    ex.save("svi")


BUILD_STEPS = (Step(build, unit.NAMES, "inference"),)  # with the judge's part-10 functions (steps.py)


def inputs(rng):
    """6.1's secret images (with noise for 2-D codes); the codes where the judge draws the COMPLETED
    digits from the trained decoder, its uniforms for their pixels and its samples for the ELBOs of
    10.10-10.12's gate."""
    out = end_to_end.inputs(rng, False)
    out["eps"] = rng.normal(size=(len(out["x_eval"]), unit.Z)).astype(np.float32)
    out["codes"] = rng.normal(size=(COMPLETED, unit.Z)).astype(np.float32)
    out["pixels"] = rng.random((COMPLETED, unit.D)).astype(np.float32)
    out["eps_gate"] = rng.normal(size=(GATE_SAMPLES, COMPLETED, unit.Z)).astype(np.float32)
    return out


def drawn(pixels, logits):
    """The judge's digits: pixel d of image n is 1 where pixels[n, d] < sigmoid(logits[n, d]), float32 [N, 784]."""
    return (pixels < sigmoid(np.asarray(logits, np.float64))).astype(np.float32)


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


def top_likelihoods(e, x_top, mean, log_std, eps):
    """log p(top half | z) [S, N] at the judge's samples z = mean + exp(log_std) * eps of each q."""
    z = mean[None] + np.exp(log_std)[None] * eps.astype(np.float64)
    logits = decode(e, z.reshape(-1, unit.Z))[:, :unit.TOP].astype(np.float64).reshape(len(eps), len(mean), unit.TOP)
    return unit.bernoulli(logits, x_top[None])


def completions(e, i):
    """The judge's digits drawn from the trained decoder at its codes; svi on them with their bottom
    halves blanked; the decoder at q's means; and the judge's own best Gaussian q on this decoder
    (grid ELBO, from the grid posterior's moments and from svi's q) with both q's likelihoods at the
    judge's samples, for the gate."""
    truth = decode(e, i["codes"])
    x = drawn(i["pixels"], truth)
    given = blanked(x)
    fitted = [e.svi_2d(given[s:s + BATCH]) for s in range(0, COMPLETED, BATCH)]
    mean = np.concatenate([np.asarray(m) for m, _ in fitted]).astype(np.float64)
    log_std = np.concatenate([np.asarray(v) for _, v in fitted]).astype(np.float64)
    x_top = x[:, :unit.TOP].astype(np.float64)
    z = unit.grid_points(GATE_GRID)
    joint = unit.grid_joint(decode(e, z)[:, :unit.TOP].astype(np.float64), x_top, z)
    evidence, weights = unit.posterior(joint, GATE_GRID)
    usable = mean.shape == log_std.shape == (COMPLETED, unit.Z)  # else the checks say what came back
    starts = [unit.posterior_moments(weights, z)]
    if usable and np.all(np.isfinite(mean)) and np.all(np.isfinite(log_std)):
        starts.append((mean, log_std))
    best_mean, best_log_std, _ = unit.best_gaussian(joint, starts, GATE_GRID)
    out = {"drawn": truth, "mean": mean, "log_std": log_std, "evidence": evidence, "best_mean": best_mean,
           "best_log_std": best_log_std,
           "best_likelihood": top_likelihoods(e, x_top, best_mean, best_log_std, i["eps_gate"])}
    if usable:
        out.update(logits=decode(e, mean), likelihood=top_likelihoods(e, x_top, mean, log_std, i["eps_gate"]))
    return out


REPORT_ONLY = ("grid",)  # measured for the report's picture of the joint; no test is graded on it
MEASURES = [
    ("evaluate", "scoring the trained InferenceVAE on the judge's test images",
     lambda e, i: end_to_end.scored(e, i, False, SUFFIX, i["eps"], i["order"])),
    ("complete", "running your svi on the top halves of digits drawn from your decoder and decoding q's means",
     completions),
    ("grid", "decoding a grid of codes, for the report", lambda e, i: {"logits": decode(e, unit.grid_points(GRID))}),
]


# checks (judge) -----------------------------------------------------------------------

def bar():
    data = settings.data()
    return end_to_end.Bar(data.inference_loss_threshold, data.inference_loss_zero, data.inference_loss_floor, EPOCHS,
                          data.inference_max_clean_gap)


def svi_elbos(run, i):
    """The judge's estimates of each drawn digit's ELBO on the trained decoder, with its own samples
    (the same for both q's): (svi's q's, the judge's best q's) [COMPLETED] each, and log p(top half)."""
    eps, out = i["eps_gate"].astype(np.float64), []
    for mean, log_std, likelihood in (("mean", "log_std", "likelihood"),
                                      ("best_mean", "best_log_std", "best_likelihood")):
        m = array(run, "complete", mean, (COMPLETED, unit.Z), f"svi's {mean}".replace("best_", "best q's "))
        s = array(run, "complete", log_std, (COMPLETED, unit.Z), f"svi's {log_std}".replace("best_", "best q's "))
        z = m[None] + np.exp(s)[None] * eps
        if not np.all(np.isfinite(z)):
            raise Fail("svi's q on your trained decoder has a std that overflows (exp(log_std) is inf)")
        log_likelihood = array(run, "complete", likelihood, (len(eps), COMPLETED), "the top halves' likelihood at q's samples")
        out.append((log_likelihood + unit.log_prior(z) - unit.gaussian(m[None], s[None], z)).mean(0))
    return out[0], out[1], array(run, "complete", "evidence", (COMPLETED,), "log p(top half)")


def gate(run, i):
    """What 10.10-10.12 all require: on the COMPLETED digits the judge drew from the trained decoder
    (no public split holds them), the q svi returns must reach the judge's own best Gaussian q on that
    decoder (found on its grid), within GATE nats per digit on average. An svi that returns anything
    but the inference of q on this decoder (the encoder's q, a lookup) earns nothing of part 10's
    second half. Returns the words for a passing test's message."""
    ours, best, evidence = svi_elbos(run, i)
    excess, gap = float(np.mean(best - ours)), float(np.mean(evidence - ours))
    detail = (f"your svi's q, on the judge's {COMPLETED} {settings.data().item}s drawn from your trained decoder (bottom "
              f"halves blanked), is {figure(excess)} nats per {settings.data().item} below the best Gaussian q the judge "
              f"finds on that decoder ({figure(gap, 2)} below log p(top half))")
    if not excess < GATE:
        raise Fail(f"{detail}; it must be within {GATE:g}. 10.10-10.12 count only a model whose q svi itself infers "
                   "on its decoder (SVI on log_joint_top with that decoder, as in 10.8): no points. Check svi (10.8).")
    return f" ({detail}, within {GATE:g})"


def check_model(run, i):
    """10.10: the judge's loss per image (BCE of sigmoid(logits) + KL) on the changed images, once svi passes the gate."""
    inferred = gate(run, i)
    b, changed = bar(), int(i["changed"])
    loss, clean = end_to_end.losses(run, i, "evaluate", i["order"], unit.Z, logits=True)
    if loss < b.zero:
        end_to_end.memorised(loss, clean, b.epochs, b.floor, b.max_gap)
    seconds = fact(run, "train").get("seconds")
    timed = end_to_end.epoch_times(seconds[:b.epochs] if isinstance(seconds, list) else None)
    detail = (f"your InferenceVAE's loss per image (BCE of sigmoid(logits) + KL) after {b.epochs} epochs is {loss:.1f} "
              f"on the judge's {changed} changed test images ({clean:.1f} on unchanged ones)")
    return below_bar(loss, b.threshold, b.zero, detail, ". Check that the decoder returns logits and call() returns "
                     "sigmoid of them, and that train_vae trains it (python assignment.py --inference)", ".0f",
                     f".{timed}{inferred}")


def digits(run):
    """The judge's digits [COMPLETED, 784] (float64), drawn from the trained decoder at the judge's codes."""
    truth = array(run, "complete", "drawn", (COMPLETED, unit.D), "the decoder's logits at the judge's codes")
    return drawn(run.inputs["pixels"], truth).astype(np.float64)


def completed(run, i):
    """The completed digits [COMPLETED, 784]: the drawn top halves, the decoder's Bernoulli means below."""
    logits = array(run, "complete", "logits", (COMPLETED, unit.D), "the decoder's logits at svi's means")
    array(run, "complete", "mean", (COMPLETED, unit.Z), "svi's mean")
    array(run, "complete", "log_std", (COMPLETED, unit.Z), "svi's log_std")
    return np.concatenate([digits(run)[:, :unit.TOP], sigmoid(logits[:, unit.TOP:])], 1)


def bottom_bce(run, i):
    """(mean BCE of the completed bottom halves, of the decoder's mean image's) per digit."""
    x = digits(run)
    ours = bce(completed(run, i)[:, unit.TOP:], x[:, unit.TOP:])
    baseline = bce(with_mean_image(run, i)[:, unit.TOP:], x[:, unit.TOP:])
    return float(ours.mean()), float(baseline.mean())


def check_completion(run, i):
    inferred = gate(run, i)
    data = settings.data()
    ours, baseline = bottom_bce(run, i)
    ratio = ours / baseline
    detail = (f"the bottom halves your svi and decoder filled in have a mean BCE of {ours:.1f} per {data.item} on the "
              f"judge's {COMPLETED} {data.item}s drawn from your decoder; the decoder's mean image gives "
              f"{baseline:.1f} (ratio {ratio:.3f})")
    credit = falling_credit(ratio, data.inpaint_ratio_bar, 1.0)
    if credit == 1.0:
        return 1.0, f"{detail} < {data.inpaint_ratio_bar:g}{inferred}"
    if not credit:
        raise Fail(f"{detail}; no better than the mean image. Check svi (10.8) and the trained model (10.10).")
    return credit, f"{detail}; full points below a ratio of {data.inpaint_ratio_bar:g}, none at 1{inferred}"


def with_mean_image(run, i):
    """The judge's baseline: each digit's drawn top half above the bottom half of the decoder's mean
    image (the mean of its Bernoulli means at the judge's codes: what its digits are on average)."""
    x = digits(run)
    truth = sigmoid(array(run, "complete", "drawn", (COMPLETED, unit.D), "the decoder's logits at the judge's codes"))
    return np.concatenate([x[:, :unit.TOP], np.broadcast_to(truth.mean(0)[unit.TOP:], (len(x), unit.D - unit.TOP))], 1)


def check_recognised(run, i):
    """10.12: how much more often the judge classifier reads the completed digits as it reads the
    decoder's own image at the judge's code (its Bernoulli means) than the baseline's."""
    inferred = gate(run, i)
    data = settings.data()
    completions = completed(run, i)
    truth = sigmoid(array(run, "complete", "drawn", (COMPLETED, unit.D), "the decoder's logits at the judge's codes"))
    predicted = judge_classifier.classify(np.concatenate([completions, with_mean_image(run, i), truth])
                                          .reshape(-1, 1, 28, 28).astype(np.float32))
    labels = predicted[2 * COMPLETED:]
    run.extras.update(completed=completions, predicted=predicted[:COMPLETED])  # for the report
    rate, baseline = (float(np.mean(p == labels)) for p in (predicted[:COMPLETED], predicted[COMPLETED:2 * COMPLETED]))
    gain = rate - baseline
    detail = (f"the judge classifier reads {rate:.1%} of your {COMPLETED} completed {data.item}s as the {data.item} "
              f"your decoder draws at the judge's code, {baseline:.1%} of them completed with the decoder's mean "
              f"image: {100 * gain:+.1f} points")
    if gain > data.inpaint_gain_bar:
        return 1.0, f"{detail} (more than {100 * data.inpaint_gain_bar:+.0f} needed){inferred}"
    fraction = max(0.0, (gain - data.inpaint_gain_floor) / (data.inpaint_gain_bar - data.inpaint_gain_floor))
    if not fraction:
        raise Fail(f"{detail}; your completions must tell the classifier more than the mean image does "
                   f"(full points above {100 * data.inpaint_gain_bar:+.0f}). Check svi (10.8) and the trained model (10.10).")
    return min(fraction, 0.99), (f"{detail}; full points above {100 * data.inpaint_gain_bar:+.0f}, partial credit "
                                 f"from {100 * data.inpaint_gain_floor:+.0f}{inferred}")


TESTS = [
    Test("10.10", f"InferenceVAE trained {EPOCHS} epochs by your train_vae: loss < {{inference_loss_threshold:.0f}}", 2,
         check_model),
    Test("10.11", "completed bottom halves: BCE below {inpaint_ratio_bar:g} x the mean image's", 3, check_completion),
    Test("10.12", "completed digits: the judge classifier reads them better than with the mean image's bottom", 2,
         check_recognised),
]


def pictures(run):
    """Part 10's pictures: the 2-D latent space by class, the joint and the fitted q for one digit,
    and completed digits beside the originals; from what the judge measured."""
    data, i, out = settings.data(), run.inputs, []
    n = int(i["changed"])
    try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
        mu = array(run, "evaluate", "mu", (len(i["x_eval"]), unit.Z))[:n]
        out.append(("InferenceVAE: the 2-D latent space by class", latent_scatter(
            [("your InferenceVAE's mean codes", mu)], i["y_eval"][:n], axis="z"),
            f"The encoder's mean codes of the {n} changed {data.title} test images 10.10 was scored on.", "10.10"))
    except Fail:
        pass
    try:
        filled = completed(run, i)
        mean = array(run, "complete", "mean", (COMPLETED, unit.Z))
        log_std = array(run, "complete", "log_std", (COMPLETED, unit.Z))
        grid = GRID
        logits = array(run, "grid", "logits", (len(grid) ** 2, unit.D))[:, :unit.TOP]
    except Fail:
        return out
    x, shown = digits(run), 12
    z = unit.grid_points(grid)
    log_joint = unit.bernoulli(logits, x[0, :unit.TOP]) + unit.log_prior(z)
    top_only = x[:shown].copy()
    top_only[:, unit.TOP:] = 0.0
    out.append(("SVI: the joint and your q for one digit", posterior_contours(
        grid, log_joint.reshape(len(grid), len(grid)), mean[0], log_std[0]),
        f"Blue: isocontours of p(z, top half of x) over the 2-D latent space, for the first of the judge's "
        f"{COMPLETED} {data.item}s 10.11 completes (from your trained decoder). Red: the q your svi "
        "fitted to it, at the same depths under its peak. SVI climbs to the nearest peak: where the top half fits "
        "more than one digit, the joint has several, and q sits in one of them, about as wide as it.", "10.11"))
    out.append(("SVI: completed digits beside the originals", image_rows(
        np.concatenate([x[:shown], top_only, filled[:shown]]), shown, ["original", "given to svi", "completed"]),
        f"The judge's {data.item}s (drawn from your trained decoder at secret codes), their top halves (what svi "
        "saw), and the top "
        "halves with your decoder's Bernoulli means at q's mean below (what the completion tests score).", "10.12"))
    return out


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("10.10–10.12", "part 10: the 2-D model and its completions",
     "your `InferenceVAE` trained 10 epochs by your own `train_vae` (unchanged): mean loss per image (BCE"
     " of `sigmoid(logits)` + KL) below {inference_loss_threshold:.0f} on the grader's 2,000 turned "
     "{title} test images (partial credit down to 0 at {inference_loss_zero:.0f}; no points below "
     "{inference_loss_floor:.0f}, or more than {inference_max_clean_gap:.0f} above the upright images', "
     "as for 6.1); all three count only while your `svi` infers q on your trained decoder: the grader "
     "draws 600 {item}s from that decoder (Bernoulli pixels at secret codes, so no public split holds "
     "them), gives them to your `svi` (with the grader's densities) with their bottom halves blanked, and"
     " the ELBO of the q it returns must be within 3 nats per {item}, on average, of that of the best "
     "Gaussian q the grader finds on a 91 x 91 grid of your decoder's latent space (an `svi` that returns"
     " the encoder's q, or looks the top half up in the training split, is 6-15 below). The grader "
     "completes each {item} with your decoder's Bernoulli means at q's mean: the bottom halves' mean BCE "
     "must be below {inpaint_ratio_bar:g} times that of your decoder's mean image (none at 1); the "
     "shipped classifier must read more of the completed {item}s as it reads your decoder's own image at "
     "the secret code than of the top halves completed with the mean image, by more than "
     "{inpaint_gain_bar:.0%} of them (partial credit from {inpaint_gain_floor:.0%})"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "10.10 svi": (r"is ([\d.]+) nats per \w+ below the best Gaussian q", lambda v: GATE - v),
    "10.10": (r"after \d+ epochs is ([\d.]+)",
        lambda v: min(settings.data().inference_loss_threshold - v, v - settings.data().inference_loss_floor)),
    "10.10 gap": (r"after \d+ epochs is ([\d.]+) on the judge's \d+ changed test images \(([\d.]+)",
        lambda v: settings.data().inference_max_clean_gap - v),
    "10.11": (r"\(ratio ([\d.]+)\)", lambda v: settings.data().inpaint_ratio_bar - v),
    "10.12": (r": ([+-][\d.]+) points", lambda v: v - 100 * settings.data().inpaint_gain_bar),
}
