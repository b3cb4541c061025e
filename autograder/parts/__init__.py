"""The parts of the homework, in grading order: one module each, holding everything about
its part (see README.md, "Adding a part"):

    NAME, FILES          its name in course files; the student files it needs
    build(s, ex, given)  the student's process: build, train, export graphs (student.Exporter);
    or BUILD_STEPS       steps.Step(build, judges): each build its own process, given those of the
                         judge's functions in judges/ (s.judges; steps.py)
    inputs(rng)          the judge's secret measuring inputs (numpy); build_inputs(rng) if the
                         student's process needs some (nothing secret)
    MEASURES             [(name, what it does, measure(endpoints, inputs) -> {key: value})]
                         run by the measuring process on the exported graphs
    TESTS                [kit.Test(number, name, points, check)], judged on those values
    DRAWS                the endpoints that may draw random numbers (every other one must be
                         stateless: graphs.py)
    pictures(run)        optional: [(title, PNG, caption, test number)] drawn from what was
                         measured (drawing.py's toolkit), laid out by report.py
    RUBRIC               [(tests, label, what is checked)]: its rows of the rubric, with the data
                         set's {bars} (tools/stencil.py renders them); RUBRIC_NOTES [(tests, text)]
                         optional paragraphs after the rubric, shown while one of those tests is shown
    CALIBRATION          optional {key: (regex, margin(value) or None)}: what tools/calibrate.py
                         reads from the message of test key.split()[0] ("6.1 gap": two groups, their
                         difference), and the value's distance to its bar
    TRAINING_SHARE       for parts that train: their share of the training budget
    USES, USED_ENDPOINTS for a part that looks inside the model another part trained: that part,
    NO_HOST              its endpoints this part's measuring gets (grade.with_host), and what
                         the tests that need them say when that part exported none

Modules are imported when first asked for: a handout or a Gradescope image holds only its
course's parts (and the modules they import: needed()).
"""
import ast
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path

NAMES = ("reparameterize", "loss", "vae", "cvae", "train_vae", "e2e_vae", "e2e_cvae", "explore", "conv_vae", "e2e_conv",
         "mmd", "e2e_mmd", "inference", "e2e_inference")
FOLDER = Path(__file__).parent


def present():
    """The parts whose modules are here (all of them in the repository), in grading order."""
    return tuple(name for name in NAMES if (FOLDER / f"{name}.py").is_file())


class Parts(Mapping):
    """{name: part module} for the parts that are here, each imported on first use."""

    def __getitem__(self, name):
        if name not in present():
            raise KeyError(name)
        return import_module(f"{__name__}.{name}")

    def __iter__(self):
        return iter(present())

    def __len__(self):
        return len(present())


BY_NAME = Parts()


def __getattr__(name):
    if name == "PARTS":  # every part here, imported (the repository's tests and tools)
        return tuple(BY_NAME.values())
    raise AttributeError(name)


def needed(names):
    """The modules of this package that the parts `names` import, themselves included (read from
    their source, nothing imported): [module name], sorted."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        tree = ast.parse((FOLDER / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                todo += [node.module] if node.module else [alias.name for alias in node.names]
    return sorted(found)
