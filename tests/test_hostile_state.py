"""Hostile graphs that keep state: a value passed from one call of an exported function to
another (through a variable, a random generator's state or a random kernel's hidden state)
would let an untrained model echo the judge's secret inputs back, or pass a check that
compares two calls. Every endpoint is loaded on its own and must be stateless unless it
samples; each attack below earns exactly what its honest parts earn."""
import re

import pytest

from conftest import NO_TRAINING, full, message, numbers

pytestmark = pytest.mark.slow  # each test runs the grader


# The encoder writes each chunk of the judge's test images into a variable and hands the
# decoder the row's index in z (with a tiny logvar); the decoder reads the image back.
STASH = '''

class VAE(tf.keras.Model):
    def __init__(self, input_size, latent_size=15):
        super().__init__()
        self.stash = tf.Variable(tf.zeros((4000, 784)), trainable=False)
        self.filled = tf.Variable(0.0, trainable=False)
        latent = latent_size

        def encoder(flat):
            start = self.filled.read_value()
            rows = tf.cast(start, tf.int32) + tf.range(tf.shape(flat)[0])
            self.stash.assign(tf.tensor_scatter_nd_update(self.stash, rows[:, None] % 4000, flat))
            self.filled.assign_add(tf.cast(tf.shape(flat)[0], tf.float32))
            index = tf.cast(rows % 4000, tf.float32)[:, None] / 10000.0
            return tf.concat([index, tf.zeros((tf.shape(flat)[0], latent - 1))], 1)

        def decoder(z):
            index = tf.cast(tf.round(tf.clip_by_value(z[:, 0], 0.0, 0.3999) * 10000.0), tf.int32)
            return tf.reshape(tf.clip_by_value(tf.gather(self.stash, index), 0.001, 0.999), (-1, 1, 28, 28))

        self.encoder, self.decoder, self.mu_layer = encoder, decoder, (lambda h: h)
        self.logvar_layer = lambda h: tf.concat([tf.fill(tf.shape(h[:, :1]), -23.0), tf.zeros_like(h[:, 1:])], 1)

    def call(self, x):
        mu = self.mu_layer(self.encoder(tf.reshape(x, (-1, 784))))
        return self.decoder(mu), mu, self.logvar_layer(mu)
'''


def test_an_encoder_that_stores_the_judges_images_for_the_decoder_earns_nothing(submission, grade_it):
    results, scores = grade_it(submission(vae_extra=STASH, assignment_extra=NO_TRAINING), ["e2e_vae"])
    assert scores == {"6.1": 0.0}, message(results, "6.1")
    assert "keeps state between calls" in message(results, "6.1"), message(results, "6.1")


# A CVAE that throws c away but changes its output from its 4th call on: the calls 4.5 and
# 4.6 compare would differ although c does nothing. Three ways to count the calls.
COUNTERS = {
    "a variable": ('COUNT = tf.Variable(0.0, trainable=False)\n',
                   'COUNT.assign_add(1.0)\n            late = tf.cast(COUNT.read_value() >= 4.0, tf.float32)'),
    "a random generator's state": ('GEN = tf.random.Generator.from_seed(3)\n',
                                   'late = tf.cast(GEN.uniform([]) > 0.5, tf.float32)'),
    "a random kernel's hidden state": ('', 'late = tf.cast(tf.random.uniform([], seed=5) > 0.5, tf.float32)'),
}
COUNTING_CVAE = '''
{setup}

class CVAE(CVAE):
    """Ignores c; what it returns changes with the number of calls made so far."""
    def __init__(self, input_size, num_classes=10, latent_size=15):
        super().__init__(input_size, num_classes, latent_size)
        decoder, encoder, z = self.decoder, self.encoder, latent_size

        def counting_decoder(code):
            {count}
            return decoder(tf.concat([code[:, :z], 0 * code[:, z:]], 1)) * (1.0 - 0.5 * late)

        def counting_encoder(flat):
            {count}
            return encoder(tf.concat([flat[:, :784], 0 * flat[:, 784:]], 1)) * (1.0 + late)

        self.decoder, self.encoder = counting_decoder, counting_encoder
'''


@pytest.mark.parametrize("channel", COUNTERS)
def test_a_cvae_that_counts_its_calls_earns_nothing_for_using_c(channel, submission, grade_it):
    setup, count = COUNTERS[channel]
    folder = submission(vae_extra=COUNTING_CVAE.format(setup=setup, count=count))
    results, scores = grade_it(folder, ["cvae"])
    assert scores["4.5"] == 0 and scores["4.6"] == 0, results["tests"]
    assert "keeps state between calls" in message(results, "4.5"), message(results, "4.5")


# An encoder and a decoder passing a value through one shared generator: the encoder skips
# the generator ahead by an amount computed from its input, the decoder reads the state.
SHARED_GENERATOR = '''

GEN = tf.random.Generator.from_seed(11)


class VAE(VAE):
    def __init__(self, input_size, latent_size=15):
        super().__init__(input_size, latent_size)
        encoder, decoder = self.encoder, self.decoder

        def skipping_encoder(flat):
            GEN.skip(tf.cast(tf.reduce_sum(flat[0]) * 100.0, tf.int64))
            return encoder(flat)

        def reading_decoder(z):
            return decoder(z) * 0.0 + tf.cast(GEN.state[0] % 2, tf.float32) * 0.5

        self.encoder, self.decoder = skipping_encoder, reading_decoder
'''


def test_a_generator_shared_by_encoder_and_decoder_is_refused(submission, grade_it):
    results, scores = grade_it(submission(vae_extra=SHARED_GENERATOR), ["vae"])
    assert scores == {n: 0.0 for n in numbers("vae")}, results["tests"]
    assert "keeps state between calls" in message(results, "3.3"), message(results, "3.3")


# A loss_function that asserts something about the judge's secret inputs, so that TensorFlow
# copies their values into the error message (and so into results.json).
EXFILTRATE = [("    # BEGIN SOLUTION\n    kl = -0.5 * tf.reduce_sum(",
               "    tf.debugging.Assert(tf.reduce_all(x < 0.0), [x[0, 0, 0, :20], tf.strings.as_string(mu)])\n"
               "    # BEGIN SOLUTION\n    kl = -0.5 * tf.reduce_sum(")]


def test_an_assertion_cannot_copy_the_judges_inputs_into_the_results(submission, grade_it):
    results, scores = grade_it(submission(vae=EXFILTRATE), ["loss", "reparameterize"])
    assert scores == {**{n: 0.0 for n in numbers("loss")}, **full("reparameterize")}, results["tests"]
    said = message(results, "2.1")
    assert "assertion in your code failed" in said and "vae.py:" in said, said
    assert not re.search(r"\d\.\d{3}", said), said  # no value of x or mu
