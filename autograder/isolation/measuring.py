"""The measuring process: runs the student's exported graphs on the judge's secret inputs.

Runs inside its own limited process (child.py measure ...), which never imports student
code: it only loads the SavedModels the student's process wrote, after graphs.clean_copy()
has checked every operation in them. A part's measurements are plain functions
(endpoints, inputs) -> {key: value}; what they return goes to the judge as data.
"""
import re
import numpy as np

from autograder.isolation import graphs

CONVOLUTIONS = frozenset({"Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "Conv3D", "Conv3DBackpropInputV2"})
CALLS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})


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


def feeding(outputs):
    """The names of the operations whose values `outputs` (tensors of one graph) are computed from."""
    names, todo = set(), [tensor.op for tensor in outputs]
    while todo:
        op = todo.pop()
        if op.name not in names:
            names.add(op.name)
            todo.extend(tensor.op for tensor in op.inputs)
    return names


class Endpoints:
    """The student's exported functions. `endpoints.call(x)` runs the graph named call on
    numpy inputs and returns numpy outputs; `endpoints.function("call")` gives the raw
    TensorFlow function (for gradients). One that was not exported raises Missing.

    Every endpoint is loaded from its own copy of the SavedModel, so endpoints share no
    variables; only those named in `draws` may draw random numbers (and so hold a
    generator's state between their own calls); every other one must be stateless."""

    def __init__(self, tf, artifacts, exported, scratch, draws=()):
        self.tf, self.artifacts, self.exported, self.scratch = tf, artifacts, exported, scratch
        self.draws, self.loaded, self.lines = frozenset(draws), {}, {}

    def function(self, name):
        artifact = self.exported.get(name)
        if not isinstance(artifact, str) or not artifact.isidentifier() or not name.isidentifier():
            raise Missing(name)
        if name not in self.loaded:
            try:
                self.loaded[name] = graphs.load(self.artifacts / artifact, self.scratch / name, name, name in self.draws)
                self.lines.update(graphs.source_lines(self.scratch / name))
            except graphs.Refused as refusal:
                self.loaded[name] = refusal
        loaded = self.loaded[name]
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

    def convolutions(self, name):
        """[(op type, data format, shape of the data it convolves)] of every convolution that endpoint
        `name`'s outputs depend on, in its graph and the functions it calls, in the order they were
        made (one computed and thrown away does not count). A transposed convolution
        (Conv2DBackpropInput) convolves its third input."""
        found, walked = [], set()

        def walk(graph, depth):
            needed = feeding(graph.outputs)
            for op in graph.get_operations():
                if op.name not in needed:
                    continue
                if op.type in CONVOLUTIONS:
                    data = op.inputs[2] if op.type.endswith("BackpropInput") else op.inputs[0]
                    shape = tuple(data.shape.as_list()) if data.shape.rank is not None else ()
                    found.append((op.type, op.get_attr("data_format").decode(), shape))
                elif op.type in CALLS and depth < 8 and op.get_attr("f").name not in walked:
                    walked.add(op.get_attr("f").name)  # each function once, however often it is called
                    called = graph._get_function(op.get_attr("f").name)  # noqa: SLF001 - no public way in
                    if called is not None and hasattr(called, "graph"):
                        walk(called.graph, depth + 1)

        walk(self.function(name).concrete_functions[0].graph, 0)
        return found

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        function = self.function(name)
        tf = self.tf
        outputs = tf.nest.flatten(function.concrete_functions[0].structured_outputs)
        if not all(getattr(output, "shape", None) is not None and output.shape.is_fully_defined() for output in outputs):
            raise Missing(name, f"the shape of what '{name}' returns depends on the values of its inputs; for "
                                "inputs of a fixed shape it must return outputs of a fixed shape")
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
            results[name] = {"ok": False, "error": f"While {doing}: {type(error).__name__}: "
                                                   f"{first_lines(error, endpoints.lines)}"}
        else:
            scalars, problem = {}, ""
            for key, value in values.items():
                if isinstance(value, np.ndarray):
                    arrays[f"{name}.{key}"] = value
                elif value is None or isinstance(value, (bool, int, float, str)):
                    scalars[key] = value
                else:  # e.g. a tuple: a student's function that returned several outputs where one was expected
                    count = len(value) if isinstance(value, (tuple, list)) else "an unexpected kind of"
                    problem = f"While {doing}: your function returned {count} outputs, where one tensor was expected"
            results[name] = {"ok": False, "error": problem} if problem else {"ok": True, **scalars}
        yield results, arrays


NODE = re.compile(r"(?:Detected at node|\{\{node) '?([^\s'}]+)")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
ASSERTION = re.compile(r"assert|condition .* did not hold", re.IGNORECASE)


def made_at(node, lines):
    """(file, line, function) where operation `node` (or the scope around it) was made, or None."""
    while node:
        for name, where in lines.items():
            if name == node or name.startswith(node + "/"):
                return where
        node = node.rpartition("/")[0]
    return None


def first_lines(error, lines=None):
    """A run-time error of the student's graph, for the student: its reason, and where the
    failing operation was made in the student's file (`lines`: graphs.source_lines()). The
    graph ran on the judge's secret inputs, so no value may reach the message: numbers are
    masked, an assertion's data is left out."""
    text = str(error).strip()
    reasons = [line.strip() for line in text.splitlines()
               if line.strip() and not line.startswith((" ", "\t")) and not line.strip().startswith(("[[", "File "))
               and line.strip() not in ("Graph execution error:",) and not line.startswith("Detected at node")]
    reason = reasons[-1] if reasons else "the graph failed"
    if ASSERTION.search(reason):
        reason = "an assertion in your code failed (its data is not shown: it came from the judge's inputs)"
    node = NODE.search(text)
    spot = made_at(node[1], lines or {}) if node else None
    where = f" [{spot[0]}:{spot[1]} in {spot[2]}]" if spot else ""
    return NUMBER.sub("#", reason[:300]) + where
