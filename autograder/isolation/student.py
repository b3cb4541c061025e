"""The student's process: import the submission, build and train, export graphs. No measuring.

Runs inside the limited student process (child.py build ...). A part's build() gets a
Student (the imported modules) and an Exporter. It may build models and run train_vae,
but everything the judge scores is computed later, by another process that never
imports student code, from what is exported here: each student function traced into a
graph with the exact input shapes the judge will use (Endpoint), saved as a SavedModel
without Python. A few structural facts (does the model have a mu_layer?) and the values
train_vae returned are reported as data; the judge never takes a score from them alone.
"""
import importlib
import importlib.util
import json
import os
import re
import traceback
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from autograder.config import settings

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ARRAY_DUMP = re.compile(r"\[\[[-0-9eE.+\s\[\]]*(?:\.\.\.[-0-9eE.+\s\[\]]*)*\]\]")  # printed tensors
MAX_MESSAGE = 1500
KERAS_WRAPPER = "Exception encountered when calling "


def import_submission(files):
    """Import TensorFlow (seeded; child.py has set its threads), then the student's modules
    named by `files` (vae.py -> modules.vae), in order."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(settings.SEED)
    modules = SimpleNamespace(tf=tf)
    for name in files:
        setattr(modules, Path(name).stem, importlib.import_module(Path(name).stem))
    return modules


def pristine_assignment():
    """The stencil's own assignment.py, for the given helpers (load_mnist, parseArguments)
    that a student may have edited."""
    spec = importlib.util.spec_from_file_location("pristine_assignment", settings.PRISTINE_ASSIGNMENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def describe(error, submission):
    """A short message about `error`, keeping only traceback frames from the student's files."""
    text = ARRAY_DUMP.sub("<array>", ANSI.sub("", explain(error, submission)))
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " ...[shortened]"


def explain(error, submission):
    if isinstance(error, NotImplementedError):
        text = str(error)
        if text.startswith("in user code:"):  # raised while tracing: the student's message comes last
            text = unwrap_traced(text, [])[0]
        return f"not implemented yet: {text}".rstrip(": ")
    if isinstance(error, SyntaxError):
        name = Path(error.filename or "?").name
        return f"SyntaxError in {name}, line {error.lineno}: {error.msg}"
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(error.__traceback__)]
    text = str(error)
    if text.startswith("in user code:"):  # an error while tracing: TensorFlow lists the frames in the text
        text, frames = unwrap_traced(text, frames)
    frames = list(dict.fromkeys(f for f in frames if f[0].startswith(str(submission))))  # each once
    headline, _, details = unwrap_keras(text).partition("\n")
    if frames:  # where in the student's files: the innermost frame on the first line, all below
        name, line, function, _ = frames[-1]
        headline += f" [{Path(name).name}:{line} in {function}]"
        details += "\nIn your code (innermost last):\n" + "".join(
            f"  {Path(name).name}:{line} in {function}: {code}\n" for name, line, function, code in frames[-4:])
    if any(sign in text for sign in ("SymbolicTensor", "inside tf.function", "symbolic tf.Tensor")) \
            or "OperatorNotAllowedInGraph" in type(error).__name__:
        details = ("The grader runs your code inside tf.function, as a fast training step does: use "
                   "TensorFlow operations, no .numpy(), no numpy, no Python `if` on a tensor's value.\n" + details)
    return f"{type(error).__name__}: {headline}" + (f"\n{details.strip()}" if details.strip() else "")


TRACED_FRAME = re.compile(r'^\s*File "(.+)", line (\d+), in (\S+)')


def unwrap_traced(text, frames):
    """TensorFlow's 'in user code:' message: (the original error's text, frames + the traced
    frames it lists)."""
    lines = text.splitlines()[1:]
    traced, last = [], 0
    for k, line in enumerate(lines):
        match = TRACED_FRAME.match(line)
        if match:
            code = lines[k + 1].strip() if k + 1 < len(lines) else ""
            traced.append((match[1], int(match[2]), match[3], code))
            last = k + 2
    body = "\n".join(lines[last:]).strip()
    error_type, _, message = body.partition(": ")
    return (message if error_type.isidentifier() else body), frames + traced


def unwrap_keras(text):
    """Keras wraps a layer's error as 'Exception encountered when calling Layer.call().' and puts
    the explanation (expected and received shapes) on later lines: put that first."""
    if not text.startswith(KERAS_WRAPPER):
        return text
    first, _, rest = text.partition("\n")
    reason, _, arguments = ANSI.sub("", rest).strip().partition("\n\nArguments received by")
    where = first[len(KERAS_WRAPPER):].rstrip(". ")
    text = f"{reason.strip() or first} (raised in {where})"
    return text + (f"\nArguments received by{arguments.rstrip()}" if arguments else "")


class Exporter:
    """Collects what a part's build() produces and writes it for the judge:

        WORKDIR/artifacts/<name>/   SavedModels of traced endpoints (written atomically)
        WORKDIR/report.json         facts, errors by step or endpoint name, what was exported
        WORKDIR/arrays.npz          arrays reported by build() (train_vae's weights)
    """

    def __init__(self, workdir, submission, tf):
        self.workdir, self.submission, self.tf = Path(workdir), Path(submission), tf
        self.report = {"facts": {}, "errors": {}, "exported": {}, "complete": False}
        self.arrays = {}
        self.pending = {}  # endpoint name -> tf.function, until the next save()

    def fail(self, name, doing, error):
        self.report["errors"][name] = f"While {doing}: {describe(error, self.submission)}"

    def blocked(self, after):
        """The message of the first failed step among `after`, or ''."""
        return next((self.report["errors"][a] for a in after if a in self.report["errors"]), "")

    def run(self, name, doing, fn, after=()):
        """fn() for build(); an exception is recorded under `name` (and None returned).
        When a step in `after` failed, fn is not run and its message is recorded instead."""
        reason = self.blocked(after)
        if reason:
            self.report["errors"][name] = reason
            return None
        try:
            return fn()
        except (Exception, SystemExit) as error:  # noqa: BLE001 - sys.exit() costs only this step
            self.fail(name, doing, error)
            return None
        finally:
            self.flush()

    def endpoint(self, name, fn, shapes, doing, after=()):
        """Trace fn with float32 inputs of exactly `shapes` (one per argument) into a graph,
        to be saved by the next save(). Returns True when it traced."""
        reason = self.blocked(after)
        if reason:
            self.report["errors"][name] = reason
            return False
        tf = self.tf

        def scoped(*args):  # Keras names a layer's scope after the layer: '__enc' is fine only below a root
            with tf.name_scope("endpoint"):
                return fn(*args)

        function = tf.function(scoped, input_signature=[tf.TensorSpec(s, tf.float32) for s in shapes])
        try:
            function.get_concrete_function()
        except (Exception, SystemExit) as error:  # noqa: BLE001 - sys.exit() costs only this endpoint
            self.fail(name, doing, error)
            return False
        self.pending[name] = function
        return True

    def fact(self, name, **values):
        self.report["facts"][name] = values

    def add_arrays(self, name, **arrays):
        self.arrays.update({f"{name}.{k}": np.asarray(v) for k, v in arrays.items()})

    def save(self, artifact):
        """Write the pending endpoints as the SavedModel artifacts/<artifact> (with the
        variables they read, as their values are now)."""
        tf, functions, self.pending = self.tf, self.pending, {}
        if not functions:
            return
        module = tf.Module()
        captured, seen = [], set()
        for name, function in functions.items():
            setattr(module, name, function)
            for variable in function.get_concrete_function().variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    captured.append(variable)
        module.captured_variables = captured
        final = self.workdir / "artifacts" / artifact
        partial = final.with_name(f".{artifact}.partial")
        renamed = valid_names(captured)
        try:
            tf.saved_model.save(module, str(partial), options=tf.saved_model.SaveOptions(save_debug_info=True))
            partial.rename(final)
        except Exception as error:  # noqa: BLE001 - e.g. a variable the graphs use but nothing tracks
            for name in functions:
                self.fail(name, f"saving your traced functions ({', '.join(functions)})", error)
            return
        finally:
            for variable, name in renamed:
                variable._handle_name = name
        self.report["exported"].update({name: artifact for name in functions})
        self.flush()

    def flush(self):
        """Write arrays.npz, then report.json, each atomically (the report names the arrays)."""
        np.savez(self.workdir / "arrays.tmp.npz", **self.arrays)
        os.replace(self.workdir / "arrays.tmp.npz", self.workdir / "arrays.npz")
        (self.workdir / "report.tmp").write_text(json.dumps(self.report))
        os.replace(self.workdir / "report.tmp", self.workdir / "report.json")


ROOT_SCOPE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")  # TensorFlow's rule for a graph's first scope


def valid_names(variables):
    """Saving re-creates each variable under its name as a root scope, which TensorFlow refuses
    for names Keras accepts ('__enc/kernel'): prefix those for the save. Returns [(variable,
    its own name)] to put back afterwards."""
    renamed = []
    for variable in variables:
        name = getattr(variable, "_handle_name", None)
        if isinstance(name, str) and not ROOT_SCOPE.match(name.split(":")[0]):
            renamed.append((variable, name))
            variable._handle_name = "v" + name
    return renamed


class FormRecorder:
    """Stands in for model.encoder while the student's call() runs once: remembers the
    shape of what call() hands the encoder ([N, 784], [N, 1, 28, 28], ...), then calls it."""

    def __init__(self, encoder):
        self.encoder, self.shape = encoder, None

    def __call__(self, *args, **kwargs):
        if self.shape is None and args and hasattr(args[0], "shape"):
            self.shape = tuple(int(d) for d in args[0].shape[1:])
        return self.encoder(*args, **kwargs)


def call_recording_form(model, args, seen):
    """model(*args); seen["form"] becomes the per-example shape call() gave the encoder
    (None if unknown), known even when call() fails later on. The recorder bypasses Keras'
    attribute tracking, so nothing about the model changes."""
    encoder = model.encoder
    recorder = FormRecorder(encoder)
    object.__setattr__(model, "encoder", recorder)
    try:
        return model(*args)
    finally:
        object.__setattr__(model, "encoder", encoder)
        seen["form"] = recorder.shape
