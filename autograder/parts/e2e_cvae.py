"""Parts 6.2 and 6.3: the student's CVAE, trained by the student's train_vae, reaches the
loss bar after EPOCHS epochs and, trained on to GENERATION_EPOCHS, draws the digit asked for."""
import numpy as np

from ..judging.kit import Fail, Test, in_unit_interval, linear_credit
from ..judging import genuine, judge_classifier
from ..config import settings
from ..outputs.drawing import ROWS_SHOWN, digit_grid
from . import end_to_end

NAME = "e2e_cvae"
FILES = ("vae.py", "assignment.py")
EPOCHS = end_to_end.GENERATION_EPOCHS  # trained here (the judge foresees the time they take)
TRAINING_SHARE = 0.55  # of the training budget


def build(s, ex, given):
    end_to_end.build(s, ex, True, given)


def inputs(rng):
    return end_to_end.inputs(rng, True)


MEASURES = [
    ("evaluate", "scoring the trained model on the judge's test images", end_to_end.evaluate(True)),
    ("final", f"scoring the model trained {end_to_end.GENERATION_EPOCHS} epochs and decoding "
              "concat([z, one_hot(digit)]) for 100 z per digit", end_to_end.final),
]


def e2e_generation(run, i):
    """The digits the final decoder drew count only if that decoder, in the same calls, also
    reconstructs the judge's changed test images as a trained VAE does."""
    data = settings.data()
    loss, clean = end_to_end.losses(run, i, "final", i["mixed"])
    if not loss < data.loss_threshold:
        raise Fail(f"the decoder that draws the {data.item}s must be the trained CVAE's: after "
                   f"{end_to_end.GENERATION_EPOCHS} epochs its loss per image on the judge's test images is {loss:.1f}, "
                   f"not below {data.loss_threshold:.0f}. No generation points.")
    end_to_end.memorised(loss, clean, end_to_end.GENERATION_EPOCHS)
    drawn = end_to_end.decoded(run, "final", i["mixed"])[len(i["x_eval"]):].reshape(-1, 1, 28, 28)
    in_unit_interval(drawn, "generated images")
    near, closest, spread = genuine.check(drawn, i["gen_labels"], Fail)
    predicted = judge_classifier.classify(drawn.astype(np.float32))
    run.extras.update(generated=drawn, predicted=predicted)  # for the report's picture
    accuracy = float(np.mean(predicted == i["gen_labels"]))
    per_class = [float(np.mean(predicted[i["gen_labels"] == d] == d)) for d in range(settings.NUM_CLASSES)]
    detail = (f"{accuracy:.1%} of {len(predicted)} generated {data.item}s recognised as the requested {data.item} "
              f"(per class: {', '.join(f'{data.label(d)}: {a:.0%}' for d, a in enumerate(per_class))}); {near} samples "
              f"within {data.copy_distance:g} of a shifted {data.title} image (at most "
              f"{int(settings.MAX_COPY_FRACTION * len(drawn))} allowed), the closest at {closest:.2f}; the least varied "
              f"{data.item}: {data.label(spread.argmin())} (spread {spread.min():.3f}, at least {data.min_sample_spread} "
              "needed); the same "
              f"decoder's loss after {end_to_end.GENERATION_EPOCHS} epochs: {loss:.1f} on the judge's changed test images")
    return linear_credit(accuracy, data.accuracy_floor, data.accuracy_bar, detail)


TESTS = [
    Test("6.2", f"CVAE trained {settings.EPOCHS} epochs reaches loss < {{loss_threshold:.0f}}", 8,
         lambda run, i: end_to_end.check_loss(run, i, "CVAE")),
    Test("6.3", f"CVAE trained {end_to_end.GENERATION_EPOCHS} epochs generates {{item}}s the judge "
         "classifier recognises (> {accuracy_bar:.0%})", 14, e2e_generation),
]


def pictures(run):
    """The CVAE's reconstructions (6.2), and its generated digits as the judge classifier read
    them (6.3)."""
    out = end_to_end.reconstructions(run, "CVAE", "6.2")
    predicted = run.extras.get("predicted")
    if predicted is not None:
        images, labels, item = run.extras["generated"], run.inputs["gen_labels"], settings.data().item
        out.append((f"CVAE: generated {item}s, as the judge classifier read them", digit_grid(images, labels, predicted),
                    f"Row d: decoder(concat([z, one_hot(d)])) for {ROWS_SHOWN} of the 100 z ~ N(0, I) per {item}. "
                    f"Framed in red: read as another {item} (shown). {np.mean(predicted == labels):.1%} of all "
                    f"{len(labels)} were read as the {item} asked for.", "6.3"))
    return out


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("6.2", "CVAE end to end",
     "the same for your `CVAE`"),
    ("6.3", "CVAE generation",
     "the CVAE, trained on to **30 epochs**, decodes 100 `z ~ N(0, I)` per {item}; the shipped classifier"
     " must recognise more than {accuracy_bar:.0%} as the requested {item}. Partial credit runs linearly "
     "from {accuracy_floor:.0%} (0 points) to {accuracy_bar:.0%}. The same decoder, in the same calls, "
     "also reconstructs the turned test images, and must score below {loss_threshold:.0f} there. No "
     "points if a {item}'s samples do not vary with `z` or more than 1% of samples are near-copies of "
     "{title} images (also when moved by up to 3 pixels)"),
]
RUBRIC_NOTES = [  # (tests, paragraph): shown after the rubric while one of those tests is shown
    (("6.2", "6.3"), end_to_end.STORED_NOTE),
    (("6.3",), "{generation_note}"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "6.2": (r"loss per image ([\d.]+)", lambda v: settings.data().loss_threshold - v),
    "6.2 gap": (r"loss per image ([\d.]+) < [\d.]+ on the judge's changed test images \(([\d.]+)",
        lambda v: settings.data().max_clean_gap - v),
    "6.3": (r"([\d.]+)% of", lambda v: v - 100 * settings.data().accuracy_bar),
    "6.3 final": (r"after \d+ epochs: ([\d.]+) on the judge's changed",
        lambda v: min(settings.data().loss_threshold - v, v - settings.data().final_loss_floor)),
    "6.3 copies": (r"(\d+) samples within",
        lambda v: settings.MAX_COPY_FRACTION * settings.SAMPLES_PER_CLASS * settings.NUM_CLASSES - v),
    "6.3 closest": (r"the closest at ([\d.]+|inf)",
        None),  # the closest sample to a shifted training image: shown, not a bar (copies are)
    "6.3 spread": (r"\(spread ([\d.]+), at least",
        lambda v: v - settings.data().min_sample_spread),  # the least varied class's samples
}
