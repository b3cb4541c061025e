"""One source of truth: code/ is generated from solution/ and holds no solution text."""
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import stencil  # noqa: E402
from autograder.datasets import BY_NAME as DATASETS  # noqa: E402
from autograder.parts import PARTS  # noqa: E402


def test_code_is_in_sync_with_solution():
    done = subprocess.run([sys.executable, "tools/stencil.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_no_solution_line_reaches_the_stencil():
    for name in stencil.FILES:
        student = {line.strip() for line in (ROOT / "code" / name).read_text().splitlines()}
        leaked = [l for l in stencil.solution_lines((ROOT / "solution" / name).read_text()) if l in student]
        assert not leaked, f"code/{name} contains solution lines: {leaked}"
        assert "SOLUTION" not in (ROOT / "code" / name).read_text()


@pytest.mark.parametrize("text, problem", [
    ("a\n# BEGIN SOLUTION\nb\n", "never closed"),
    ("# END SOLUTION\n", "without BEGIN"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside the block"),
])
def test_unbalanced_markers_are_errors(text, problem):
    with pytest.raises(ValueError, match=problem):
        stencil.strip(text)


def test_strip_keeps_stencil_lines_at_their_indentation():
    text = "def f():\n    # STENCIL: raise NotImplementedError('f')\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n"
    assert stencil.strip(text) == "def f():\n    raise NotImplementedError('f')\n"


def test_every_todo_raises_not_implemented_naming_the_function():
    script = """
import sys; sys.path.insert(0, 'code')
import tensorflow as tf, vae, assignment
x = tf.zeros((2, 1, 28, 28)); mu = tf.zeros((2, 15))
calls = {
    'VAE.__init__': lambda: vae.VAE(784),
    'CVAE.__init__': lambda: vae.CVAE(784),
    'VAE.call': lambda: vae.VAE.call(object.__new__(vae.VAE), x),
    'CVAE.call': lambda: vae.CVAE.call(object.__new__(vae.CVAE), x, tf.zeros((2, 10))),
    'reparameterize': lambda: vae.reparameterize(mu, mu),
    'loss_function': lambda: vae.loss_function(x, x, mu, mu),
    'train_vae': lambda: assignment.train_vae(None, [], None),
}
for name, call in calls.items():
    try:
        call()
    except NotImplementedError as error:
        assert str(error).startswith(name), (name, str(error))
    else:
        raise AssertionError(name + ' did not raise')
print('all', len(calls))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "all 7", done.stderr[-2000:]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_each_part_owns_its_rubric_rows_and_they_render_on_every_data_set(dataset):
    """Every test of every part is in exactly one of its RUBRIC rows, with its points; the
    rubric (rows and notes) renders with each data set's bars and says nothing unfilled."""
    for part in PARTS:
        covered = [n for tests, _, _ in part.RUBRIC for n in stencil.span(tests)]
        assert covered == [t.number for t in part.TESTS], part.NAME
    text = stencil.rubric(DATASETS[dataset], PARTS)
    record = DATASETS[dataset]
    assert "{" not in text and f"< {record.loss_threshold:.0f} on 2,000 {record.title} test images" in text
    assert "| 9.1–9.3 part 9 (`mmd.py`), extra credit | 1+2+2 |" in text
    assert text.count("<!-- ONLY") == text.count("<!-- END ONLY -->") == 2
    table = text.split("\n\n")[0].splitlines()  # one table: no blank line splits it
    assert len(table) == 2 + sum(len(part.RUBRIC) for part in PARTS)

