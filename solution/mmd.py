"""Extra credit: the Maximum Mean Discrepancy (MMD) in place of loss_function's KL term.

The KL term pulls every image's q(z|x) towards the prior N(0, I) on its own. The MMD term
looks at the codes of a whole batch together instead: it compares them, as a set, with as
many samples of the prior, and is about 0 when both sets look drawn from one distribution
(InfoVAE; "MMD-VAE"). Here you write it and train vae.py's VAE with it.

Shape legend:   N, M  numbers of codes     Z  latent size

The conventions are pinned (the autograder checks exactly these):
    kernel  k(a, b) = exp(-||a - b||^2 / (2 * bandwidth^2))      squared Euclidean distance
    MMD     the BIASED estimate: means over ALL pairs (i = j included)
                mean_ij k(a_i, a_j) + mean_ij k(b_i, b_j) - 2 * mean_ij k(a_i, b_j)
    loss    bce_function(x_hat, x) / N + weight * MMD(z, prior_z)        (no KL term)

Training with it: `python assignment.py --mmd` (make train ARGS="--mmd") runs YOUR train_vae
unchanged, with mmd_training_loss in the place of loss_function (it has the same arguments),
and so does the autograder. As in vae.py, use TensorFlow operations only.
"""
import tensorflow as tf

from vae import bce_function

MMD_WEIGHT = 100.0  # the weight of the MMD term in training (your choice; this one is calibrated)


def gaussian_kernel(a, b, bandwidth):
    """The Gaussian kernel between every code of `a` and every code of `b`.

    a: [N, Z].   b: [M, Z].   bandwidth: a positive scalar (float or 0-d tensor).
    Returns [N, M]: entry (i, j) = exp(-||a_i - b_j||^2 / (2 * bandwidth^2)).
    """
    # STENCIL: raise NotImplementedError("gaussian_kernel: return exp(-squared distances / (2 * bandwidth^2)), [N, M]")
    # BEGIN SOLUTION
    squared = (tf.reduce_sum(a * a, 1)[:, None] + tf.reduce_sum(b * b, 1)[None, :]
               - 2.0 * tf.matmul(a, b, transpose_b=True))
    return tf.exp(-tf.maximum(squared, 0.0) / (2.0 * bandwidth ** 2))
    # END SOLUTION


def mmd(a, b, bandwidth):
    """The biased MMD estimate between the sets of codes a [N, Z] and b [M, Z] (a scalar).

    mean(k(a, a)) + mean(k(b, b)) - 2 * mean(k(a, b)), each mean over every entry of the
    kernel matrix (gaussian_kernel), the diagonal included. It is 0 for a = b, at least 0
    always, symmetric in a and b, and grows as the two sets move apart.
    """
    # STENCIL: raise NotImplementedError("mmd: return mean k(a, a) + mean k(b, b) - 2 mean k(a, b)")
    # BEGIN SOLUTION
    mean_kernel = lambda u, v: tf.reduce_mean(gaussian_kernel(u, v, bandwidth))  # noqa: E731
    return mean_kernel(a, a) + mean_kernel(b, b) - 2.0 * mean_kernel(a, b)
    # END SOLUTION


def mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, weight, bandwidth):
    """The MMD-VAE loss of a batch: reconstruction per image plus weight * MMD (no KL term).

    x_hat, x: [N, 1, 28, 28].   mu, logvar: q(z|x)'s parameters [N, Z].
    eps: [N, Z] noise ~ N(0, I) for the codes.   prior_z: [M, Z] samples of the prior N(0, I).
    weight, bandwidth: positive scalars.
    The codes are z = mu + exp(0.5 * logvar) * eps (reparameterize with the noise given, so
    the value is fixed for given inputs). Returns a scalar:
        bce_function(x_hat, x) / N + weight * mmd(z, prior_z, bandwidth)
    """
    # STENCIL: raise NotImplementedError("mmd_loss_function: return bce_function(x_hat, x) / N + weight * mmd(z, prior_z, bandwidth)")
    # BEGIN SOLUTION
    z = mu + tf.exp(0.5 * logvar) * eps
    batch_size = tf.cast(tf.shape(x)[0], tf.float32)
    return bce_function(x_hat, x) / batch_size + weight * mmd(z, prior_z, bandwidth)
    # END SOLUTION


def mmd_training_loss(x_hat, x, mu, logvar):
    """What training minimises in place of loss_function (same arguments, same shapes).

    Draw fresh eps ~ N(0, I) and as many prior samples prior_z ~ N(0, I) as there are codes,
    both [N, Z] (tf.random.normal), and return
        mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, MMD_WEIGHT, sqrt(Z)).
    The bandwidth sqrt(Z) puts two independent prior samples at kernel value exp(-1) on
    average; another heuristic (the median distance, say) is yours to choose here. Fresh
    samples on every call: the autograder calls it twice on one batch, and the values must differ.
    """
    # STENCIL: raise NotImplementedError("mmd_training_loss: draw eps and prior_z ~ N(0, I), [N, Z], and call mmd_loss_function")
    # BEGIN SOLUTION
    eps = tf.random.normal(tf.shape(mu))
    prior_z = tf.random.normal(tf.shape(mu))
    bandwidth = tf.sqrt(tf.cast(tf.shape(mu)[1], tf.float32))
    return mmd_loss_function(x_hat, x, mu, logvar, eps, prior_z, MMD_WEIGHT, bandwidth)
    # END SOLUTION
