"""Correct work in another reasonable form earns every point (issue: correct work must
never lose points). Each form is planted alone in the reference and graded on the parts it
touches; a whole submission written in the original handout's style is graded end to end."""
import pytest

from conftest import full

# name -> (stages graded, vae.py changes, assignment.py changes)
FORMS = {
    "VAE encoder starts with Flatten() and call() hands it the images": (
        ("vae",),
        [("model.encoder = tf.keras.Sequential(\n        [tf.keras.layers.Dense",
          "model.encoder = tf.keras.Sequential(\n        [tf.keras.layers.Flatten()] + [tf.keras.layers.Dense"),
         ("hidden = self.encoder(tf.reshape(x, (-1, self.input_size)))", "hidden = self.encoder(x)")], []),
    "VAE encoder takes [N, 28, 28]": (
        ("vae",),
        [("model.encoder = tf.keras.Sequential(\n        [tf.keras.layers.Dense",
          "model.encoder = tf.keras.Sequential(\n        [tf.keras.layers.Reshape((784,))] + [tf.keras.layers.Dense"),
         ("hidden = self.encoder(tf.reshape(x, (-1, self.input_size)))", "hidden = self.encoder(x[:, 0])")], []),
    "decoders return [N, 784] and call() reshapes": (
        ("vae", "cvae"),
        [("            tf.keras.layers.Reshape(IMAGE_SHAPE),\n", ""),
         ("x_hat = self.decoder(reparameterize(mu, logvar))",
          "x_hat = tf.reshape(self.decoder(reparameterize(mu, logvar)), (-1, 1, 28, 28))"),
         ("x_hat = self.decoder(tf.concat([z, c], axis=1))",
          "x_hat = tf.reshape(self.decoder(tf.concat([z, c], axis=1)), (-1,) + IMAGE_SHAPE)")], []),
    "encoders are functional models with Dropout, switched by training": (
        ("vae", "cvae"),
        [("    model.encoder = tf.keras.Sequential(\n        [tf.keras.layers.Dense(hidden, activation=\"relu\") for _ in range(2)]\n    )\n",
          "    inputs = tf.keras.Input(shape=(input_size + getattr(model, 'num_classes', 0),))\n"
          "    h = tf.keras.layers.Dropout(0.2)(tf.keras.layers.Dense(hidden, activation='relu')(inputs))\n"
          "    model.encoder = tf.keras.Model(inputs, tf.keras.layers.Dense(hidden, activation='relu')(h))\n"),
         ("    def call(self, x):", "    def call(self, x, training=False):"),
         ("hidden = self.encoder(tf.reshape(x, (-1, self.input_size)))",
          "hidden = self.encoder(tf.reshape(x, (-1, self.input_size)), training=training)"),
         ("        self.num_classes = num_classes  # C\n", ""),
         ("        super().__init__()\n        self.input_size = input_size  # D\n        self.latent_size = latent_size  # Z\n"
          "        # STENCIL: raise NotImplementedError(\"CVAE",
          "        super().__init__()\n        self.input_size = input_size  # D\n        self.latent_size = latent_size  # Z\n"
          "        self.num_classes = num_classes  # C\n        # STENCIL: raise NotImplementedError(\"CVAE"),
         ("    def call(self, x, c):", "    def call(self, x, c, training=False):"),
         ("hidden = self.encoder(tf.concat([flat, c], axis=1))",
          "hidden = self.encoder(tf.concat([flat, c], axis=1), training=training)")], []),
    "layers and models named with leading underscores, as Keras allows": (
        ("vae", "cvae"),
        [("    model.encoder = tf.keras.Sequential(\n        [tf.keras.layers.Dense(hidden, activation=\"relu\") for _ in range(2)]\n    )\n",
          "    model.encoder = tf.keras.Sequential(\n        [tf.keras.layers.Dense(hidden, activation=\"relu\", name=f\"__enc{k}\") "
          "for k in range(2)], name=\"__encoder\"\n    )\n"),
         ("    model.mu_layer = tf.keras.layers.Dense(latent_size)", "    model.mu_layer = tf.keras.layers.Dense(latent_size, name=\"_mu\")")],
        []),
    "reparameterize draws with keras.random.normal (a Keras seed generator)": (
        ("reparameterize", "vae"),
        [("    eps = tf.random.normal(tf.shape(mu))", "    eps = tf.keras.random.normal(tf.shape(mu))")], []),
    "reparameterize draws from a tf.random.Generator": (
        ("reparameterize", "vae"),
        [("    eps = tf.random.normal(tf.shape(mu))", "    eps = GENERATOR.normal(tf.shape(mu))"),
         ("def reparameterize(mu, logvar):", "GENERATOR = tf.random.Generator.from_seed(7)\n\n\ndef reparameterize(mu, logvar):")],
        []),
    "train_vae returns a 0-d tensor": (
        ("train_vae",), [],
        [("total_loss += float(_train_step(model, images, labels, is_cvae))",
          "total_loss += _train_step(model, images, labels, is_cvae)")]),
    "train_vae returns a numpy scalar": (
        ("train_vae",), [],
        [("    return total_loss\n", "    return np.float32(total_loss)\n")]),
}


# Forms that change different lines are planted together (correct code in several forms at once
# must lose nothing either); those that rewrite the same line go to different gradings.
GROUPS = [("VAE encoder starts with Flatten() and call() hands it the images", "decoders return [N, 784] and call() reshapes",
           "reparameterize draws with keras.random.normal (a Keras seed generator)", "train_vae returns a 0-d tensor"),
          ("VAE encoder takes [N, 28, 28]", "reparameterize draws from a tf.random.Generator",
           "train_vae returns a numpy scalar"),
          ("encoders are functional models with Dropout, switched by training",),
          ("layers and models named with leading underscores, as Keras allows",)]


def test_every_form_is_graded_once():
    assert sorted(name for group in GROUPS for name in group) == sorted(FORMS)


@pytest.mark.slow
@pytest.mark.parametrize("names", GROUPS, ids=" + ".join)
def test_correct_forms_lose_nothing(names, submission, grade_it):
    stages = tuple(dict.fromkeys(stage for name in names for stage in FORMS[name][0]))
    folder = submission(vae=[c for name in names for c in FORMS[name][1]],
                        assignment=[c for name in names for c in FORMS[name][2]])
    results, scores = grade_it(folder, stages)
    assert scores == full(*stages), f"{names}: {results['tests']}"
    if "decoders return [N, 784] and call() reshapes" in names:  # accepted, and the message says how it was read
        said = {e["number"]: e["output"] for e in results["tests"]}
        assert "decoder(z) for z of shape [N, 15] came as [16, 784] and was read as [16, 1, 28, 28]" in said["3.3"]
