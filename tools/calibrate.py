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
from autograder.config import settings  # noqa: E402
from autograder.config.course import load  # noqa: E402

STYLES = ROOT / "tests" / "submissions"  # <name>_style/: files of a correct submission written in another style
VARIANTS = {  # name -> (layers, hidden, activation), or a folder of a whole submission
    "reference": (2, 512, "relu"),
    "3x256-relu": (3, 256, "relu"),
    "3x512-leaky": (3, 512, "leaky_relu"),
    "2x256-leaky": (2, 256, "leaky_relu"),
    # every folder of STYLES, its files over the reference's (a part's style folder needs no line here)
    **{folder.name.replace("_", "-"): folder for folder in sorted(STYLES.glob("*_style")) if folder.is_dir()},
}
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
    for number, (pattern, _) in measured(course, stages).items():
        test = tests[number.split()[0]]
        found = re.search(pattern, test["output"])
        value = None if not found else float(found[1]) - float(found[2]) if number.endswith("gap") else float(found[1])
        row[number] = {"passed": test["score"] == test["max_score"], "value": value}
    return row


def measured(course, stages):
    """{key: (pattern, margin)} of the CALIBRATION of the parts graded in `stages`: what each
    part reads from its tests' messages ("6.1", "6.1 gap", ...; a gap's pattern has two groups,
    its value is their difference) and the margin of a value to its bar (None: shown only)."""
    return {key: entry for part in course.parts if part.NAME in stages.split(",")
            for key, entry in getattr(part, "CALIBRATION", {}).items()}


def margin(bar, value):
    """Distance of a measured value to its bar (negative: the bar was missed)."""
    return None if value is None or bar is None else bar(value)


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
        for number, (_, bar) in measured(course, args.stages).items():
            values = [r[number]["value"] for r in rows]
            margins = [margin(bar, v) for v in values]
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
