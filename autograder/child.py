"""Entry point of a student process (started by sandbox.run_stage; not for direct use).

    python -I child.py STAGE WORKDIR MEMORY_MB   (nonce on stdin, cwd = WORKDIR/submission)

Reads the nonce before any student code exists, sets resource limits, imports the
submission, runs the stage's probes (autograder/probes.py) and writes
WORKDIR/report.json and WORKDIR/outputs.npz. It computes values only; the judge decides
what they are worth. Student modules are found last on sys.path, so a submission file
named like a library (numpy.py, autograder.py) cannot shadow it.
"""
import json
import os
import re
import resource
import sys
import traceback
from pathlib import Path


def set_limits(memory_mb):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**30, 2**30))  # no file over 1 GB
    # Address space: generous (TensorFlow reserves far more than it uses), but a single
    # absurd allocation fails at once with MemoryError instead of thrashing the machine.
    limit = max(8 * memory_mb, 16_000) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


ANSI = re.compile(r"\x1b\[[0-9;]*m")
ARRAY_DUMP = re.compile(r"\[\[[-0-9eE.+\s\[\]]*(?:\.\.\.[-0-9eE.+\s\[\]]*)*\]\]")  # printed tensors
MAX_MESSAGE = 1200


def describe(error, submission):
    """A short message about `error`, keeping only traceback frames from the student's files."""
    text = ARRAY_DUMP.sub("<array>", ANSI.sub("", explain(error, submission)))
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " ...[shortened]"


def explain(error, submission):
    if isinstance(error, NotImplementedError):
        return f"not implemented yet: {error}".rstrip(": ")
    if isinstance(error, SyntaxError):
        name = Path(error.filename or "?").name
        return f"SyntaxError in {name}, line {error.lineno}: {error.msg}"
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename.startswith(str(submission))]
    where = "".join(f"  {Path(f.filename).name}, line {f.lineno}, in {f.name}: {f.line}\n"
                    for f in frames[-4:])
    return f"{type(error).__name__}: {unwrap_keras(str(error))}" + (f"\n{where}" if where else "")


KERAS_WRAPPER = "Exception encountered when calling "


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


def save(workdir, report, arrays):
    """Write outputs.npz, then report.json, each atomically (the report names the arrays)."""
    import numpy as np

    np.savez(workdir / "outputs.tmp.npz", **arrays)
    os.replace(workdir / "outputs.tmp.npz", workdir / "outputs.npz")
    (workdir / "report.tmp").write_text(json.dumps(report))
    os.replace(workdir / "report.tmp", workdir / "report.json")


def main():
    stage, workdir, memory_mb = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    nonce = sys.stdin.readline().strip()
    set_limits(memory_mb)
    submission = Path.cwd().resolve()
    sys.path.insert(0, os.environ["GRADER_ROOT"])
    sys.path.append(str(submission))
    import numpy as np

    from autograder import probes

    with np.load(workdir / "inputs.npz") as npz:
        inputs = {key: npz[key] for key in npz.files}
    report = {"nonce": nonce, "probes": {}}
    arrays = {}
    try:
        modules = probes.import_submission()
    except BaseException as error:  # SystemExit at import is a crash of the stage too
        report["import_error"] = "Importing your code failed: " + describe(error, submission)
        modules = None
    if modules is not None:
        for name, probe, doing in probes.STAGES[stage]:
            needed = probes.NEEDS.get(name)
            if needed and not report["probes"].get(needed, {}).get("ok"):
                continue  # its prerequisite failed; the judge reports that failure
            try:
                values = probe(modules, inputs)
            except BaseException as error:  # a probe's failure is data for the judge
                if isinstance(error, KeyboardInterrupt):
                    raise
                report["probes"][name] = {"ok": False, "error": f"While {doing}: {describe(error, submission)}"}
                continue
            scalars = {}
            for key, value in values.items():
                if isinstance(value, np.ndarray):
                    arrays[f"{name}.{key}"] = value
                else:
                    scalars[key] = value
            report["probes"][name] = {"ok": True, **scalars}
            save(workdir, report, arrays)  # after each probe: a later timeout keeps what was measured
    report["complete"] = True
    save(workdir, report, arrays)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: TensorFlow's can take seconds


if __name__ == "__main__":
    main()
