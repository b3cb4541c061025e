"""The parts of the homework, in grading order: one module each, holding everything about
its part (see README.md, "Adding a part"):

    NAME, FILES          its name in course files; the student files it needs
    build(s, ex, given)  the student's process: build, train, export graphs (student.Exporter)
    inputs(rng)          the judge's secret measuring inputs (numpy); build_inputs(rng) if the
                         student's process needs some (nothing secret)
    MEASURES             [(name, what it does, measure(endpoints, inputs) -> {key: value})]
                         run by the measuring process on the exported graphs
    TESTS                [kit.Test(number, name, points, check)], judged on those values
    DRAWS                the endpoints that may draw random numbers (every other one must be
                         stateless: graphs.py)
    TRAINING_SHARE       for parts that train: their share of the training budget
    USES, USED_ENDPOINTS for a part that looks inside the model another part trained: that part,
    NO_HOST              its endpoints this part's measuring gets (grade.with_host), and what
                         the tests that need them say when that part exported none
"""
from importlib import import_module

NAMES = ("reparameterize", "loss", "vae", "cvae", "train_vae", "e2e_vae", "e2e_cvae", "explore", "conv_vae", "e2e_conv", "mmd", "e2e_mmd", "inference", "e2e_inference")
PARTS = tuple(import_module(f"{__name__}.{name}") for name in NAMES)
BY_NAME = {part.NAME: part for part in PARTS}
