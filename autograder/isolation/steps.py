"""A part's student process in steps, so that no process holds the judge's version of a
function it traces.

A function built on others (8.8's mc_loss_function on log_normal_pdf, 9.2's mmd on the kernel,
10.5's log_likelihood_top on top_half, ...) is traced with the judge's TensorFlow versions of
the others, so that a slip costs the test of the function it is in only. Those versions live in
judges/<part>.py, which no process of a grading can open (the private copy leaves judges/ out;
Landlock or, without it, file modes keep the original out of reach). A part lists BUILD_STEPS: each
step runs in its own student process and is handed, as WORKDIR/judges.py, only the judge
functions it names, never those of the functions it traces itself. A handout carries no judges/:
there every step runs with the student's own functions (and the grading log says so). So student code cannot call
the judge's version of a function to earn that function's points: the process that traces it
has no such version. The judge (this module's run()) merges the steps' reports, exported graphs
and arrays into one StageRun for the part.
"""
import ast
import shutil
from dataclasses import dataclass
from types import FunctionType, SimpleNamespace

from ..config import settings
from .sandbox import StageRun


@dataclass(frozen=True)
class Step:
    """One student process of a part: build(s, ex, given), given the judge's functions named
    `judges` of judges/<source>.py as s.judges."""

    build: object
    judges: tuple = ()
    source: str = ""


def of(part):
    """The steps of `part`: its BUILD_STEPS, or its build() alone."""
    return getattr(part, "BUILD_STEPS", None) or (Step(part.build),)


def judge_source(source, names):
    """Python source with the functions `names` of judges/<source>.py and the module's imports
    and constants, read as text (the judge never imports TensorFlow), or None where the file is
    not (a handout). Every judge function the chosen ones call must be among `names`: a step is
    never handed more than it says."""
    if not names:
        return ""
    path = settings.PACKAGE / "judges" / f"{source}.py"
    if not path.is_file():
        return None
    text = path.read_text()
    tree = ast.parse(text)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    unknown = set(names) - set(functions)
    if unknown:
        raise ValueError(f"judges/{source}.py has no {sorted(unknown)}")
    for name in names:
        called = {n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name)} & set(functions)
        if not called <= set(names):
            raise ValueError(f"judges/{source}.py: {name} calls {sorted(called - set(names))}, not handed over")
    kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign))
            or isinstance(node, ast.FunctionDef) and node.name in names]
    return "\n\n".join(ast.get_source_segment(text, node) for node in kept) + "\n"


def load(path):
    """In the student's process: the judge's functions handed over in `path` (or none), by name."""
    if not path.is_file():
        return SimpleNamespace()
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - the judge's own code
    return SimpleNamespace(**{k: v for k, v in namespace.items()
                              if isinstance(v, FunctionType) and v.__code__.co_filename == str(path)})


def run(box, part, given, timeout, files, echo, host):
    """Run `part`'s steps in turn, each within timeout() seconds (asked afresh: the platform's
    time runs on); a step that does not finish ends the part (the later steps' graphs are then
    missing, with its reason). Returns one StageRun."""
    runs, without = [], set()
    for k, step in enumerate(of(part)):
        source = judge_source(step.source or part.NAME, step.judges)
        if source is None:
            without |= set(step.judges)
        runs.append(box.build(part.NAME, given, timeout(), files, echo, host, k, source or ""))
        if runs[-1].status != "ok" or runs[-1].report.get("import_error"):
            break
    run = runs[0] if len(runs) == 1 else merged(runs, box.base / f"artifacts-{part.NAME}")
    if without:
        run.output = (f"(This grader has no judge's versions of {', '.join(sorted(without))}: a handout leaves them "
                      "out, so the functions built on them ran with yours, and a mistake in one of yours may cost "
                      "those tests here too. The official grading uses its own.)\n" + run.output)
    return run


def merged(runs, folder):
    """One StageRun of several steps' runs: their facts, errors, exported graphs and arrays
    together (the artifacts moved into `folder`), the first status that is not ok, the total time
    and the highest peak."""
    report = {"facts": {}, "errors": {}, "exported": {}}
    arrays, outputs = {}, []
    folder.mkdir(mode=0o700, exist_ok=True)
    for run in runs:
        for key in report:
            value = run.report.get(key)
            report[key].update(value if isinstance(value, dict) else {})
        if run.report.get("import_error"):
            report["import_error"] = run.report["import_error"]
        arrays.update(run.arrays)
        outputs.append(run.output.strip())
        if run.artifacts is not None and run.artifacts != folder:  # the first step's already are in `folder`
            for artifact in run.artifacts.iterdir():
                if not (folder / artifact.name).exists():
                    artifact.rename(folder / artifact.name)
            shutil.rmtree(run.artifacts, ignore_errors=True)
    report["complete"] = all(run.report.get("complete") is True for run in runs)
    last = next((run for run in runs if run.status != "ok"), runs[-1])
    return StageRun("build", last.status, sum(r.seconds for r in runs), max(r.peak_rss_mb for r in runs),
                    "\n".join(o for o in outputs if o), report, arrays,
                    folder if any(r.artifacts is not None for r in runs) else None, last.note)
