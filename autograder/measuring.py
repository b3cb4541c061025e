"""The measuring process: runs the student's exported graphs on the judge's secret inputs.

Runs inside its own limited process (child.py measure ...), which never imports student
code: it only loads the SavedModels the student's process wrote, after graphs.clean_copy()
has checked every operation in them. A part's measurements are plain functions
(endpoints, inputs) -> {key: value}; what they return goes to the judge as data.
"""
import re
from pathlib import Path

import numpy as np

from autograder import graphs


class Missing(Exception):
    """A measurement needs an endpoint the student's process did not export."""

    def __init__(self, endpoint, reason=""):
        super().__init__(reason or endpoint)
        self.endpoint, self.reason = endpoint, reason


def to_numpy(value):
    """A loaded function's output as numpy: a tuple for several outputs, else one array."""
    if isinstance(value, (tuple, list)):
        return tuple(np.asarray(v) for v in value)
    if isinstance(value, dict):
        return tuple(np.asarray(value[k]) for k in sorted(value))
    return np.asarray(value)


class Endpoints:
    """The student's exported functions. `endpoints.call(x)` runs the graph named call on
    numpy inputs and returns numpy outputs; `endpoints.function("call")` gives the raw
    TensorFlow function (for gradients). One that was not exported raises Missing."""

    def __init__(self, tf, artifacts, exported, scratch):
        self.tf, self.artifacts, self.exported, self.scratch = tf, artifacts, exported, scratch
        self.loaded = {}

    def function(self, name):
        artifact = self.exported.get(name)
        if not isinstance(artifact, str) or not artifact.isidentifier():
            raise Missing(name)
        if artifact not in self.loaded:
            try:
                self.loaded[artifact] = graphs.load(self.artifacts / artifact, self.scratch / artifact)
            except graphs.Refused as refusal:
                self.loaded[artifact] = refusal
        loaded = self.loaded[artifact]
        if isinstance(loaded, graphs.Refused):
            raise Missing(name, str(loaded))
        function = getattr(loaded, name, None)
        if function is None:
            raise Missing(name, f"the exported graph has no function '{name}'")
        return function

    def shape(self, name, argument=0):
        """The input shape endpoint `name` was traced with, for argument `argument`."""
        spec = self.function(name).concrete_functions[0].structured_input_signature[0][argument]
        return tuple(int(d) for d in spec.shape)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        function = self.function(name)
        tf = self.tf
        return lambda *args: to_numpy(function(*(tf.constant(np.asarray(a, np.float32)) for a in args)))


def run(measures, endpoints, inputs):
    """Run each (name, doing, measure) in order, yielding ({name: result}, {"name.key": array})
    after each, where result is {"ok": True, **scalars}, {"ok": False, "missing": endpoint,
    "reason": ...} or {"ok": False, "error": message}."""
    results, arrays = {}, {}
    for name, doing, measure in measures:
        try:
            values = measure(endpoints, inputs)
        except Missing as missing:
            results[name] = {"ok": False, "missing": missing.endpoint, "reason": missing.reason}
        except Exception as error:  # noqa: BLE001 - a graph that fails at run time is data for the judge
            results[name] = {"ok": False, "error": f"While {doing}: {type(error).__name__}: {first_lines(error)}"}
        else:
            scalars = {}
            for key, value in values.items():
                if isinstance(value, np.ndarray):
                    arrays[f"{name}.{key}"] = value
                else:
                    scalars[key] = value
            results[name] = {"ok": True, **scalars}
        yield results, arrays


SOURCE = re.compile(r'File "([^"]*/submission/[^"]+)", line (\d+), in (\S+)')


def first_lines(error, lines=8):
    """TensorFlow's run-time errors are long: their reason, then where the failing operation was
    made in the student's file (saved with the graph as debug information), then the start."""
    text = str(error).strip()
    reasons = [line.strip() for line in text.splitlines()
               if line.strip() and not line.startswith((" ", "\t")) and not line.strip().startswith(("[[", "File "))
               and line.strip() not in ("Graph execution error:",) and not line.startswith("Detected at node")]
    spots = SOURCE.findall(text)
    where = f" [{Path(spots[-1][0]).name}:{spots[-1][1]} in {spots[-1][2]}]" if spots else ""
    head = (reasons[-1] if reasons else "") + where
    return (head + "\n" + "\n".join(text.splitlines()[:lines]))[:1500]
