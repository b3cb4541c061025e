"""Part 8 (conv_vae.py) graded on real code: planted bugs lose exactly the points in their row,
a correct ConvVAE in another style loses nothing, the stencil earns nothing. The trained
reference's 8.9 and its pictures: test_end_to_end.py; the checks on fabricated measurements:
test_checks.py."""
import pytest

from autograder.course import load
from autograder.measuring import CONVOLUTIONS
from autograder.parts import conv_vae
from conftest import CONV, POINTS, ROOT, assert_lost_exactly, full, message, numbers, stencil_submission

UNITS = tuple(numbers("conv_vae"))
REFERENCE = (ROOT / "solution" / "conv_vae.py").read_text()
STYLE = ROOT / "tests" / "submissions" / "conv_style" / "conv_vae.py"

# name -> (conv_vae.py changes, {test: score}, {test: words in its message}). A decoder without a
# sigmoid breaks the [0, 1] contract that 8.2-8.4 each check; every other bug costs one test.
BUGS = {
    "channels-first images fed to Conv2D": (
        [("            layers.Reshape((28, 28, 1)),\n", "")], {"8.5": 0}, {"8.5": "with 28 channels"}),
    "no sigmoid at the end of the decoder": (
        [('layers.Conv2DTranspose(1, 3, strides=1, padding="same", activation="sigmoid")',
          'layers.Conv2DTranspose(1, 3, strides=1, padding="same")')],
        {"8.2": 0, "8.3": 0, "8.4": 0}, {"8.3": "sigmoid"}),
    "a decoder ending in 32 filters": (
        [('layers.Conv2DTranspose(1, 3, strides=1, padding="same", activation="sigmoid")',
          'layers.Conv2DTranspose(32, 3, strides=1, padding="same", activation="sigmoid")'),
         ("            layers.Reshape((1, 28, 28)),\n", "            layers.Permute((3, 1, 2)),\n")],
        {"8.2": 0, "8.3": 0, "8.4": 0}, {"8.3": "[16, 32, 28, 28], expected [16, 1, 28, 28]: 32 values per pixel"}),
    "stride times count in first_deconv_shape": (
        [("    side = img_size // stride ** num_deconvs", "    side = img_size // (stride * num_deconvs)")],
        {"8.6": 0}, {"8.6": "multiplies the side"}),
    "logvar taken as the standard deviation": (
        [("((sample - mean) ** 2 * tf.exp(-logvar) + logvar + log_2pi)",
          "(((sample - mean) / logvar) ** 2 + 2.0 * tf.math.log(tf.abs(logvar)) + log_2pi)")],
        {"8.7": 0}, {"8.7": "standard deviation"}),
    "the sign of log p(z) flipped": (
        [("- tf.reduce_sum(log_pz) + tf.reduce_sum(log_qz)", "+ tf.reduce_sum(log_pz) + tf.reduce_sum(log_qz)")],
        {"8.8": 0}, {"8.8": "sign of log p(z)"}),
}
GRADINGS = [("channels-first images fed to Conv2D", "no sigmoid at the end of the decoder",
             "stride times count in first_deconv_shape", "logvar taken as the standard deviation",
             "the sign of log p(z) flipped"),
            ("a decoder ending in 32 filters",)]


def test_every_planted_bug_is_graded():
    assert sorted(bug for bugs in GRADINGS for bug in bugs) == sorted(BUGS)
    for bugs in GRADINGS:  # bugs graded together cost different tests
        lost = [number for bug in bugs for number in BUGS[bug][1]]
        assert len(lost) == len(set(lost)), bugs


def test_the_graph_reader_knows_keras_convolutions():
    assert {conv_vae.TRANSPOSED, *conv_vae.ENCODER_CONVOLUTIONS} <= CONVOLUTIONS


@pytest.mark.slow
@pytest.mark.parametrize("bugs", GRADINGS, ids=lambda bugs: ", ".join(bugs))
def test_planted_bugs_lose_exactly_their_points(bugs, submission, grade_it):
    folder = submission(conv=[change for bug in bugs for change in BUGS[bug][0]])
    results, scores = grade_it(folder, ["conv_vae"], course=load(CONV))
    assert_lost_exactly(results, scores, ["conv_vae"], BUGS, bugs)


@pytest.mark.slow
def test_the_stencil_earns_nothing_and_says_not_implemented(tmp_path, grade_it):
    folder = stencil_submission(tmp_path / "stencil", "conv_vae.py")
    results, scores = grade_it(folder, ["conv_vae"], course=load(CONV))
    assert scores == dict.fromkeys(UNITS, 0.0)
    for number in UNITS:
        assert "not implemented yet" in message(results, number), message(results, number)


@pytest.mark.slow
def test_a_correct_convvae_in_another_style_earns_every_point(submission, grade_it):
    """tests/submissions/conv_style: other filters and kernels, extra Dense layers, Permute for the
    layouts, a stride-1 transposed convolution first, other forms of log_normal_pdf and the loss."""
    results, scores = grade_it(submission(conv_text=STYLE.read_text()), ["conv_vae"], course=load(CONV))
    assert scores == full("conv_vae"), results["tests"]
