"""Calibrate the grader's statistical bars: grade correct solutions over several seeds.

    python tools/calibrate.py [--seeds 10] [--variants reference,3x256-relu] [--course FILE] [--stages PARTS]
                              [--out outputs/calibration.json]

The course file (default courses/default.toml) gives the data set, whose record holds the bars.

Each variant is the reference with another architecture a student might reasonably
choose (hidden 256-512, 2-3 layers, ReLU or LeakyReLU), or a whole correct submission
in another style. For every seed the grader runs the model parts (3.2/4.2's sampling
ratio) and both training stages with GRADER_SEED set; the table gives each test's pass
rate and the worst margin between the measured value and its threshold ("gap": the loss
on the changed test images minus the loss on unchanged ones, against MAX_CLEAN_GAP; "6.3
final": the 30-epoch loss on the changed images, between FINAL_LOSS_FLOOR and the bar).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder import settings  # noqa: E402
from autograder.course import load  # noqa: E402
from autograder.parts import e2e_inference, e2e_mmd, inference  # noqa: E402

VARIANTS = {  # name -> (layers, hidden, activation), or a folder of a whole submission
    "reference": (2, 512, "relu"),
    "3x256-relu": (3, 256, "relu"),
    "3x512-leaky": (3, 512, "leaky_relu"),
    "2x256-leaky": (2, 256, "leaky_relu"),
    "handout-style": ROOT / "tests" / "submissions" / "handout_style",  # 2 x 400, Flatten, Dropout
    "explore-style": ROOT / "tests" / "submissions" / "explore_style",  # the reference VAE; part 7 in other forms, a 2 x 64 tanh probe
    "conv-style": ROOT / "tests" / "submissions" / "conv_style",  # a ConvVAE with 32/64 filters, extra Dense layers (part 8)
    "mmd-style": ROOT / "tests" / "submissions" / "mmd_style",  # part 9 in other forms: median bandwidth, weight 200
    "inference-style": ROOT / "tests" / "submissions" / "inference_style",  # part 10: log-sigmoid, RMSProp SVI
}
MEASURE = {"3.2": r"sampling ratio ([\d.]+)", "4.2": r"sampling ratio ([\d.]+)",
           "4.5": r"a new c moves it (\d+)%", "4.6": r"a new c moves it (\d+)%",
           "6.1": r"loss per image ([\d.]+)", "6.2": r"loss per image ([\d.]+)", "6.3": r"([\d.]+)% of",
           "6.1 gap": r"loss per image ([\d.]+) < [\d.]+ on the judge's changed test images \(([\d.]+)",
           "6.2 gap": r"loss per image ([\d.]+) < [\d.]+ on the judge's changed test images \(([\d.]+)",
           "6.3 final": r"after \d+ epochs: ([\d.]+) on the judge's changed",
           "6.3 copies": r"(\d+) samples within", "6.3 closest": r"the closest at ([\d.]+|inf)",
           "6.3 spread": r"\(spread ([\d.]+), at least",
           "7.7": r"probe read the class of ([\d.]+)%", "7.8": r"recognised (\d+) of the",
           "8.9": r"loss per image ([\d.]+)",
           "8.9 gap": r"loss per image ([\d.]+) < [\d.]+ on the judge's changed test images \(([\d.]+)",
           "8.9 epoch": r"epochs took [\d.]+-([\d.]+) s",
           "9.4": r"\(BCE per image\) is ([\d.]+)",
           "9.4 gap": r"\(BCE per image\) is ([\d.]+) on the judge's \d+ changed test images \(([\d.]+)",
           "9.4 weight": r"MMD term of weight ([\d.]+)", "9.4 push": r"outward by ([\d.e+-]+)\)",
           "9.5": r"samples of N\(0, I\) is ([\d.]+)",
           "10.8": r"your q is ([\d.]+) nats", "10.10 svi": r"is ([\d.]+) nats per \w+ below the best Gaussian q",
           "10.10": r"after \d+ epochs is ([\d.]+)",
           "10.10 gap": r"after \d+ epochs is ([\d.]+) on the judge's \d+ changed test images \(([\d.]+)",
           "10.11": r"\(ratio ([\d.]+)\)", "10.12": r": ([+-][\d.]+) points"}
BARS = {"3.2": lambda v: settings.SAMPLING_RATIO - v, "4.2": lambda v: settings.SAMPLING_RATIO - v,
        "4.5": lambda v: v - 100 * settings.C_EFFECT, "4.6": lambda v: v - 100 * settings.C_EFFECT,
        "6.1": lambda v: settings.data().loss_threshold - v, "6.2": lambda v: settings.data().loss_threshold - v,
        "6.1 gap": lambda v: settings.data().max_clean_gap - v, "6.2 gap": lambda v: settings.data().max_clean_gap - v,
        "6.3 final": lambda v: min(settings.data().loss_threshold - v, v - settings.data().final_loss_floor),
        "6.3": lambda v: v - 100 * settings.data().accuracy_bar,
        "6.3 copies": lambda v: settings.MAX_COPY_FRACTION * settings.SAMPLES_PER_CLASS * settings.NUM_CLASSES - v,
        "6.3 closest": None,  # the closest sample to a shifted training image: shown, not a bar (copies are)
        "6.3 spread": lambda v: v - settings.data().min_sample_spread,  # the least varied class's samples
        "7.7": lambda v: v - 100 * settings.data().probe_bar, "7.8": lambda v: v - settings.data().walk_bar,
        "8.9": lambda v: min(settings.data().conv_loss_threshold - v, v - settings.data().conv_loss_floor),
        "8.9 gap": lambda v: settings.data().conv_max_clean_gap - v,
        "8.9 epoch": None,  # the slowest epoch, seconds: shown, not a bar
        "9.4": lambda v: min(settings.data().mmd_bce_threshold - v, v - settings.data().mmd_bce_floor),
        "9.4 gap": lambda v: settings.data().mmd_max_clean_gap - v,
        "9.4 weight": lambda v: v - e2e_mmd.MIN_WEIGHT,  # the MMD term's weight by the judge's gradient
        "9.4 push": lambda v: v,  # crowded codes pushed outward (> 0)
        "9.5": lambda v: settings.data().mmd_prior_bar - v,
        "10.8": lambda v: inference.SVI_EXCESS - v,
        "10.10 svi": lambda v: e2e_inference.GATE - v,
        "10.10": lambda v: min(settings.data().inference_loss_threshold - v, v - settings.data().inference_loss_floor),
        "10.10 gap": lambda v: settings.data().inference_max_clean_gap - v,
        "10.11": lambda v: settings.data().inpaint_ratio_bar - v,
        "10.12": lambda v: v - 100 * settings.data().inpaint_gain_bar}


def variant_folder(name, folder):
    folder.mkdir(parents=True)
    for source in (ROOT / "solution").glob("*.py"):  # what a variant does not write itself: the reference's
        (folder / source.name).write_text(source.read_text())
    if isinstance(VARIANTS[name], Path):
        for source in VARIANTS[name].glob("*.py"):
            (folder / source.name).write_text(source.read_text())
        return folder
    layers, hidden, activation = VARIANTS[name]
    text = (ROOT / "solution" / "vae.py").read_text()
    text = text.replace("hidden=512", f"hidden={hidden}").replace(
        'activation="relu") for _ in range(2)', f'activation="{activation}") for _ in range({layers})')
    (folder / "vae.py").write_text(text)
    return folder


def grade_once(folder, seed, results, course, stages):
    env = {**os.environ, "GRADER_SEED": str(seed)}
    subprocess.run([sys.executable, "-m", "autograder", "--submission", str(folder), "--results", str(results),
                    "--stages", stages, "--quiet", "--course", str(course.path)], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    tests = {e["number"]: e for e in json.loads(results.read_text())["tests"]}
    row = {}
    for number, pattern in measured(course, stages):
        test = tests[number.split()[0]]
        found = re.search(pattern, test["output"])
        value = None if not found else float(found[1]) - float(found[2]) if number.endswith("gap") else float(found[1])
        row[number] = {"passed": test["score"] == test["max_score"], "value": value}
    return row


def measured(course, stages):
    """(number, pattern) of MEASURE for the tests of the parts graded in `stages`."""
    graded = {t.number for part in course.parts if part.NAME in stages.split(",") for t in course.tests[part.NAME]}
    return [(number, pattern) for number, pattern in MEASURE.items() if number.split()[0] in graded]


def margin(number, value):
    """Distance of a measured value to its bar (negative: the bar was missed)."""
    return None if value is None or BARS[number] is None else BARS[number](value)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Grade correct solutions over several seeds.")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--course", default=None, help="course file (default: courses/default.toml)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "calibration.json")
    parser.add_argument("--stages", default="vae,cvae,e2e_vae,e2e_cvae",
                        help="the parts graded (e.g. e2e_vae,explore for part 7 with a course that has it)")
    args = parser.parse_args(argv)
    course = load(args.course)
    settings.use(course.dataset)  # the bars of its data set
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the sandbox user reads the submission copies made from here
        for name in args.variants.split(","):
            folder = variant_folder(name, Path(tmp) / name)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                row = grade_once(folder, seed, Path(tmp) / "results.json", course, args.stages)
                table.setdefault(name, []).append({"seed": seed, **row})
                print(name, seed, {k: v["value"] for k, v in row.items()}, flush=True)
    print(f"\n{'variant':<13} {'test':<5} {'pass rate':>9} {'worst value':>12} {'worst margin':>13}")
    summary = {}
    for name, rows in table.items():
        for number, _ in measured(course, args.stages):
            values = [r[number]["value"] for r in rows]
            margins = [margin(number, v) for v in values]
            worst = min(range(len(rows)), key=lambda k: margins[k] if margins[k] is not None else -1e9)
            rate = sum(r[number]["passed"] for r in rows) / len(rows)
            summary[f"{name} {number}"] = {"pass_rate": rate, "worst_value": values[worst],
                                           "worst_margin": margins[worst]}
            print(f"{name:<13} {number:<5} {rate:>9.0%} {values[worst]!s:>12} {margins[worst]!s:>13}")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"runs": table, "summary": summary}, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
