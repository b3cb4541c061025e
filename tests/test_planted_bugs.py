"""Known bugs planted in the reference: each loses points on the item that owns it
(exact scores asserted) and keeps every point of a neighbouring item graded with it (the
reference's, or one with a bug of its own: PAIRS).
The end-to-end part depends on all parts by design; see test_end_to_end.py."""
import pytest

from autograder.config.course import load
from conftest import POINTS, ROOT, full, message


# name -> (stages graded, vae.py changes, assignment.py changes, {test: score}, {test: text in message})
BUGS = {
    "std is exp(logvar)": (
        ("reparameterize", "loss"),
        [("return mu + tf.exp(0.5 * logvar) * eps", "return mu + tf.exp(logvar) * eps")], [],
        {"1.2": 0, "1.3": 0}, {"1.2": "exp(0.5 * logvar)"}),
    "same eps on every call": (
        ("reparameterize", "loss"),
        [("eps = tf.random.normal(tf.shape(mu))", "eps = tf.random.stateless_normal(tf.shape(mu), seed=[1, 2])")], [],
        {"1.4": 0}, {"1.4": "draw a new eps"}),
    "no gradient to logvar": (
        ("reparameterize", "loss"),
        [("return mu + tf.exp(0.5 * logvar) * eps", "return mu + tf.stop_gradient(tf.exp(0.5 * logvar)) * eps")], [],
        {"1.3": 0}, {"1.3": "no gradient flows to logvar"}),
    "KL sign flipped": (
        ("loss", "reparameterize"),
        [("kl = -0.5 * tf.reduce_sum(", "kl = 0.5 * tf.reduce_sum(")], [],
        {"2.1": 0, "2.3": 0}, {"2.3": "KL term must be positive"}),
    "loss summed, not averaged": (
        ("loss", "reparameterize"),
        [("return (bce_function(x_hat, x) + kl) / batch_size", "return bce_function(x_hat, x) + kl")], [],
        {"2.1": 0, "2.2": 0, "2.3": 0}, {"2.2": "divide the sum by the batch size"}),
    "loss is NaN": (
        ("loss", "reparameterize"),
        [("return (bce_function(x_hat, x) + kl) / batch_size", "return (bce_function(x_hat, x) + kl) / 0.0 * 0.0")], [],
        {"2.1": 0, "2.2": 0, "2.3": 0}, {"2.1": "NaN or inf"}),
    "VAE encoder given unflattened images": (
        ("vae", "cvae"),
        [("hidden = self.encoder(tf.reshape(x, (-1, self.input_size)))", "hidden = self.encoder(x)")], [],
        {"3.2": 0, "3.3": 0, "3.4": 0}, {"3.2": "While calling model(x [16, 1, 28, 28])"}),
    "VAE.call uses .numpy(), which cannot be traced": (
        ("vae", "cvae"),
        [("hidden = self.encoder(tf.reshape(x, (-1, self.input_size)))",
          "hidden = self.encoder(tf.constant(tf.reshape(x, (-1, self.input_size)).numpy()))")], [],
        {"3.2": 0, "3.4": 0}, {"3.2": "inside tf.function", "3.4": "[vae.py:"}),
    "VAE ignores latent_size": (
        ("vae", "cvae"),
        [('''        super().__init__()
        self.input_size = input_size  # D
        self.latent_size = latent_size  # Z
        # STENCIL: raise NotImplementedError("VAE.__init__''', '''        super().__init__()
        self.input_size = input_size  # D
        self.latent_size = latent_size = 15  # Z
        # STENCIL: raise NotImplementedError("VAE.__init__''')], [],
        {"3.4": 0}, {"3.4": "expected [16, 7]"}),
    "VAE without mu_layer": (
        ("vae", "cvae"),
        [("""        # BEGIN SOLUTION
        _build_layers(self, input_size, latent_size)
        # END SOLUTION

    def call(self, x):""", """        # BEGIN SOLUTION
        _build_layers(self, input_size, latent_size)
        self.mean_layer = self.mu_layer
        del self.mu_layer
        # END SOLUTION

    def call(self, x):""")], [],
        {"3.1": 0, "3.2": 0, "3.3": 0, "3.4": 0}, {"3.1": "self.mu_layer"}),
    "CVAE decoder ignores c": (
        ("cvae", "vae"),
        [], [], {"4.5": 0}, {"4.5": "same image for different c"}),
    "CVAE encoder ignores c": (
        ("cvae", "vae"), [], [], {"4.6": 0}, {"4.6": "did not change with c"}),
    "train_vae never applies gradients": (
        ("train_vae", "loss"), [],
        [("    model.optimizer.apply_gradients(zip(grads, model.trainable_variables))\n", "")],
        {"5.2": 0, "5.3": 0}, {"5.2": "weights did not change"}),
    "train_vae returns the mean": (
        ("train_vae", "loss"), [], [("    return total_loss\n", "    return total_loss / 8\n")],
        {"5.1": 0, "5.4": 0}, {"5.1": "looks like the mean"}),
    "train_vae returns the per-batch losses": (
        ("train_vae", "loss"), [],
        [("    total_loss = 0.0\n", "    total_loss = []\n"),
         ("total_loss += float(_train_step(model, images, labels, is_cvae))",
          "total_loss.append(float(_train_step(model, images, labels, is_cvae)))")],
        {"5.1": 0, "5.4": 0}, {"5.1": "returned a list of shape [8]; expected one number"}),
    "train_vae gives the CVAE wrong labels": (
        ("train_vae", "loss"), [],
        [("one_hot(labels, NUM_CLASSES))", "one_hot(tf.zeros_like(labels), NUM_CLASSES))")],
        {"5.4": 0}, {"5.4": "one_hot(labels, 10)"}),
    "train_vae gives the CVAE zeros for c": (
        ("train_vae", "loss"), [],
        [("one_hot(labels, NUM_CLASSES))", "tf.zeros((tf.shape(labels)[0], NUM_CLASSES)))")],
        {"5.4": 0}, {"5.4": "one_hot(labels, 10)"}),
    "CVAE.call gives the decoder zeros instead of c": (
        ("cvae", "vae"),
        [("x_hat = self.decoder(tf.concat([z, c], axis=1))", "x_hat = self.decoder(tf.concat([z, 0 * c], axis=1))")],
        [], {"4.2": 0}, {"4.2": "same c?"}),
    "VAE.call decodes mu without sampling": (
        ("vae", "cvae"),
        [("x_hat = self.decoder(reparameterize(mu, logvar))", "x_hat = self.decoder(mu)")],
        [], {"3.2": 0}, {"3.2": "decode the sampled z"}),
}

# The two CVAE bugs put a slice that drops c in front of the layers the reference built.
IGNORE_C = """

class CVAE(CVAE):
    def __init__(self, input_size, num_classes=10, latent_size=15):
        super().__init__(input_size, num_classes, latent_size)
        keep = {keep}
        self.{part} = tf.keras.Sequential([tf.keras.layers.Lambda(lambda t: t[:, :keep])] + self.{part}.layers)
"""
EXTRA = {"CVAE decoder ignores c": IGNORE_C.format(part="decoder", keep="latent_size"),
         "CVAE encoder ignores c": IGNORE_C.format(part="encoder", keep="input_size")}


# Bugs graded together touch different functions, none of which the others' tests call: each
# must cost exactly its own points while the other is planted beside it (one mistake, one test).
# A bug of train_vae (which calls loss_function and the models) is graded with the reference's.
PAIRS = [("std is exp(logvar)", "KL sign flipped"), ("same eps on every call", "loss summed, not averaged"),
         ("no gradient to logvar", "loss is NaN"),
         ("VAE encoder given unflattened images", "CVAE decoder ignores c"),
         ("VAE.call uses .numpy(), which cannot be traced", "CVAE encoder ignores c"),
         ("VAE ignores latent_size", "CVAE.call gives the decoder zeros instead of c")]
PAIRED = {name for pair in PAIRS for name in pair}
GRADINGS = PAIRS + [(name,) for name in BUGS if name not in PAIRED]

# On Fashion-MNIST (courses/fashion-mnist.toml) the rows of train_vae, the one unit part whose inputs
# are the data set's images; parts 1-4 are judged on the same synthetic inputs on every data set
# (tests/test_course.py asserts it), so their rows would grade the same inputs twice.
FASHION = [((name,), "fashion-mnist.toml") for name, bug in BUGS.items() if "train_vae" in bug[0]]


def test_every_planted_bug_is_graded_once():
    graded = [name for names in GRADINGS for name in names]
    assert sorted(graded) == sorted(BUGS)
    for names in PAIRS:  # two different parts, so each is the other's neighbour
        assert len({BUGS[name][0][0] for name in names}) == 2, names


@pytest.mark.slow
@pytest.mark.parametrize("names, course", [(names, None) for names in GRADINGS] + FASHION,
                         ids=lambda value: " + ".join(value) if isinstance(value, tuple) else str(value))
def test_planted_bugs_cost_their_own_points(names, course, submission, grade_it):
    stages = tuple(dict.fromkeys(stage for name in names for stage in BUGS[name][0]))
    folder = submission(vae=[c for name in names for c in BUGS[name][1]],
                        assignment=[c for name in names for c in BUGS[name][2]],
                        vae_extra="".join(EXTRA.get(name, "") for name in names))
    results, scores = grade_it(folder, stages, course=load(ROOT / "courses" / course) if course else None)
    lost = {number: score for name in names for number, score in BUGS[name][3].items()}
    expected = {**full(*stages), **lost}
    assert scores == expected, f"{names}: {results['tests']}"
    for name in names:
        for number, text in BUGS[name][4].items():
            assert text in message(results, number), (name, message(results, number))
    assert results["score"] == sum(expected.values())
    assert all(POINTS[n] > 0 for n in lost)


# Stubs that return well-shaped but meaningless values earn nothing on the tests they target,
# and correct code written in other reasonable ways keeps every point.
STUBS = {
    "reparameterize returns pure noise": (
        ("reparameterize",), [("return mu + tf.exp(0.5 * logvar) * eps", "return eps")], [],
        {"1.2": 0, "1.3": 0, "1.4": 0}),
    "loss_function returns 0": (
        ("loss",), [("return (bce_function(x_hat, x) + kl) / batch_size", "return 0.0 * kl")], [],
        {"2.1": 0, "2.2": 0, "2.3": 0}),
    "VAE.call returns zeros of the right shapes": (
        ("vae",), [("x_hat = self.decoder(reparameterize(mu, logvar))\n        return x_hat, mu, logvar",
                     "x_hat = self.decoder(reparameterize(mu, logvar))\n        return 0 * x_hat, 0 * mu, 0 * logvar")],
        [], {"3.2": 0, "3.4": 0}),
    "train_vae imports loss_function under another name and reads model.num_classes": (
        ("train_vae",), [],
        [("from vae import CVAE, VAE, loss_function  # noqa: E402",
          "from vae import CVAE, VAE, loss_function  # noqa: E402\nfrom vae import loss_function as elbo"),
         ("            x_hat, mu, logvar = model(images, one_hot(labels, NUM_CLASSES))",
          "            x_hat, mu, logvar = model(images, one_hot(labels, model.num_classes))"),
         ("        loss = loss_function(x_hat, images, mu, logvar)", "        loss = elbo(x_hat, images, mu, logvar)")],
        {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", STUBS)
def test_stubs_earn_nothing_and_variants_lose_nothing(name, submission, grade_it):
    stages, vae_changes, assignment_changes, lost = STUBS[name]
    results, scores = grade_it(submission(vae=vae_changes, assignment=assignment_changes), stages)
    assert scores == {**full(*stages), **lost}, f"{name}: {results['tests']}"
