"""Entry point of the two processes of a part (started by sandbox.Sandbox.run; not for direct use).

    python -I child.py build PART:STEP WORKDIR MEMORY_MB            (cwd WORKDIR/submission)
    python -I child.py measure PART[,PART...] WORKDIR MEMORY_MB     (cwd WORKDIR)

build: imports the student's code and runs the part's build() or its step STEP (steps.py, with
the judge's functions handed over in WORKDIR/judges.py as s.judges), which exports
graphs to WORKDIR/artifacts and writes WORKDIR/report.json and arrays.npz.
measure: imports no student code; for each part in turn, loads its checked graphs and runs
its measurements (measuring.py) on WORKDIR/parts/PART/inputs.npz, writing report.json and
arrays.npz there.
Limits are set before anything else runs. Student modules are found last on sys.path, so a
submission file named like a library (numpy.py, autograder.py) cannot shadow it.
"""
import json
import os
import sys
import time
from pathlib import Path


def set_limits(memory_mb):
    try:
        import resource
    except ImportError:  # Windows: the judge's time and memory watch still applies
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**30, 2**30))  # no file over 1 GB
    # Address space: generous (TensorFlow reserves far more than it uses), but a single
    # absurd allocation fails at once with MemoryError instead of thrashing the machine.
    limit = max(8 * memory_mb, 16_000) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    nproc = int(os.environ.get("GRADER_NPROC", "0"))
    if nproc:  # only for a sandbox user: the count is per user
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def set_threads():
    """Import TensorFlow and give it as many threads per operation as the CPUs the grading
    really has (a container may show 64 cores and allow one), before any operation runs."""
    import tensorflow as tf

    threads = int(os.environ.get("GRADER_THREADS", "0"))
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, threads))


def load_inputs(workdir):
    import numpy as np

    with np.load(workdir / "inputs.npz", allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def build(part, step, workdir):
    submission = Path.cwd().resolve()
    sys.path.append(str(submission))
    from autograder.isolation import steps, student

    given = load_inputs(workdir)
    try:
        modules = student.import_submission(part.FILES)
    except BaseException as error:  # SystemExit at import is a crash of the stage too
        exporter = student.Exporter(workdir, submission, None)
        exporter.report["import_error"] = "Importing your code failed: " + student.describe(error, submission)
        exporter.report["complete"] = True
        exporter.flush()
        return
    exporter = student.Exporter(workdir, submission, modules.tf)
    exporter.flush()
    modules.judges = steps.load(workdir / "judges.py")  # the judge's functions this step may use
    steps.of(part)[step].build(modules, exporter, given)
    exporter.report["complete"] = True
    exporter.flush()


def measure(parts, workdir):
    import tensorflow as tf

    from autograder.isolation import measuring

    for part in parts:
        tf.keras.utils.set_random_seed(1)
        folder = workdir / "parts" / part.NAME
        inputs = load_inputs(folder)
        exported = json.loads((folder / "exported.json").read_text())
        endpoints = measuring.Endpoints(tf, folder / "artifacts", exported, folder / "tmp",
                                        getattr(part, "DRAWS", ()))
        report, arrays = {"results": {}, "complete": False}, {}
        for results, arrays in measuring.run(part.MEASURES, endpoints, inputs):
            report["results"] = results
            save(folder, report, arrays)
        report["complete"] = True
        save(folder, report, arrays)


def save(folder, report, arrays):
    """Write arrays.npz, then report.json, each atomically (the report names the arrays)."""
    import numpy as np

    np.savez(folder / "arrays.tmp.npz", **arrays)
    os.replace(folder / "arrays.tmp.npz", folder / "arrays.npz")
    (folder / "report.tmp").write_text(json.dumps(report))
    os.replace(folder / "report.tmp", folder / "report.json")


def main():
    kind, names, workdir, memory_mb = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    set_limits(memory_mb)
    sys.path.insert(0, os.environ["GRADER_ROOT"])
    from autograder.parts import BY_NAME

    set_threads()  # a measuring process started early loads TensorFlow here, while the parts build
    if kind == "build":
        name, _, step = names.partition(":")
        build(BY_NAME[name], int(step or 0), workdir)
    else:
        if names == "-":  # started early: the judge writes jobs.json when the parts are built
            while not (workdir / "jobs.json").exists():
                time.sleep(0.02)
            names = ",".join(json.loads((workdir / "jobs.json").read_text()))
        measure([BY_NAME[name] for name in names.split(",")], workdir)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: TensorFlow's can take seconds


if __name__ == "__main__":
    main()
