"""Part 7: looking inside the trained VAE (explore.py): mean codes in batches, PCA, class means,
walks, the most varied dimensions, the perturbation grid, and a probe of the class.

7.1-7.6 trace each function in the student's process and run it in the measuring process on
the judge's secret synthetic inputs, against the judge's numpy (encode_all on stand-in models
whose weights are secret inputs too). 7.7-7.8 look inside the VAE
that 6.1 trained (part e2e_vae, USES): the judge hands that part's exported encoder and
decoder to this part's measuring, unchanged (the student's process here can neither see nor
replace them), encodes its own secret changed test images with them, and counts the points
only while that VAE's loss on them earns 6.1 some credit. The student's process gets a copy of
the same graphs to encode the training split for train_probe; the probe is exported and run
by the judge on the judge's codes.
"""
from statistics import NormalDist

import numpy as np

from ..judging.kit import Fail, Test, array, close, linear_credit, one_hot
from ..judging import judge_classifier
from ..config import settings
from ..outputs.drawing import image_rows, latent_scatter
from . import end_to_end, models

NAME = "explore"
FILES = ("vae.py", "explore.py")
USES = "e2e_vae"  # the part whose exported graphs (its trained VAE) this part looks inside
USED_ENDPOINTS = ("encode", "decode")  # names that are that part's, whatever this one exports
HOST_ARTIFACT = "trained"  # where that part saves them (end_to_end.build)
NO_HOST = ("there is no trained VAE to look inside: the training of 6.1 (part e2e_vae) did not finish and "
           "export one; see 6.1")
N_ENCODE, BATCH = 300, 64  # 7.1: 300 images in batches of 64 leave a last batch of 44
HIDDEN = 32  # units of the judge's stand-in models for encode_all
N_CODES, STEPS, TOP_K, SIDE = 400, 9, 3, 7
PROBABILITIES = np.linspace(0.05, 0.95, SIDE)
QUANTILES = np.array([NormalDist().inv_cdf(p) for p in PROBABILITIES])  # of the standard normal
WALKS = ((0, 1), (3, 8), (4, 9), (2, 7))  # class pairs walked in the report's morph picture
PICTURED = settings.NUM_CLASSES + len(WALKS) * STEPS + SIDE * SIDE  # codes decoded for 7.8 and the pictures
SCORED = settings.EVAL_IMAGES + settings.CLEAN_IMAGES
FILLER = -(SCORED + PICTURED) % end_to_end.CHUNK  # codes z ~ N(0, I) that fill the last call of the decoder
DRAWS = ("encode_all", "encode_all_cvae")  # may sample: then 7.1 can say it returned a sampled z
CHUNK = end_to_end.CHUNK


def build(s, ex, given):
    """Student process: trace each function of explore.py with the judge's shapes (encode_all on
    stand-in models whose weights the judge gives at measuring time); train the probe on the
    training split's codes by the trained VAE of 6.1 (host/), export it."""
    tf, z, c = s.tf, settings.LATENT_SIZE, settings.NUM_CLASSES
    images, weights = (N_ENCODE,) + models.IMAGE, lambda width: [(width, HIDDEN), (HIDDEN,), (HIDDEN, z), (z,), (HIDDEN, z), (z,)]
    ex.endpoint("encode_all", lambda x, *w: s.explore.encode_all(StandIn(tf, w), x, None, BATCH),
                [images] + weights(settings.IMAGE_SIZE),
                f"calling encode_all(model, images {list(images)}, None, batch_size={BATCH}) on a VAE of the grader's")
    ex.endpoint("encode_all_cvae", lambda x, y, *w: s.explore.encode_all(StandIn(tf, w), x, y, BATCH),
                [images, (N_ENCODE, c)] + weights(settings.IMAGE_SIZE + c),
                f"calling encode_all(model, images {list(images)}, labels [{N_ENCODE}, {c}], batch_size={BATCH}) on a "
                "CVAE of the grader's")
    ex.endpoint("pca", s.explore.pca_2d, [(N_CODES, z)], f"calling pca_2d(codes [{N_CODES}, {z}])")
    ex.endpoint("means", s.explore.class_means, [(N_CODES, z), (N_CODES, c)],
                f"calling class_means(codes [{N_CODES}, {z}], labels [{N_CODES}, {c}])")
    ex.endpoint("interpolate", lambda a, b: s.explore.interpolate(a, b, STEPS), [(z,), (z,)],
                f"calling interpolate(start [{z}], end [{z}], {STEPS})")
    ex.endpoint("top_dims", lambda codes: s.explore.top_variance_dims(codes, TOP_K), [(N_CODES, z)],
                f"calling top_variance_dims(codes [{N_CODES}, {z}], {TOP_K})")
    ex.endpoint("grid", lambda dims: s.explore.perturbation_codes(tf.cast(dims, tf.int32), z, SIDE), [(2,)],
                f"calling perturbation_codes(dims [2], {z}, {SIDE})")
    ex.save("functions")
    if not (ex.workdir / "host" / HOST_ARTIFACT).is_dir():
        for name in USED_ENDPOINTS:
            ex.report["errors"][name] = NO_HOST
    probe = ex.run("probe_model", "training the probe with train_probe(codes, labels)", lambda: train_probe(s, ex))
    ex.endpoint("probe", lambda codes: probe(codes), [(CHUNK, z)], f"calling your probe on codes [{CHUNK}, {z}]",
                ["probe_model"])
    ex.save("probe")


class StandIn:
    """A VAE (or CVAE) of the judge's for encode_all, with the attributes and call() of vae.py's:
    one ReLU layer of HIDDEN units, whatever form of image it is given (flattened first), and
    the weights (w, b, w_mu, b_mu, w_logvar, b_logvar) of the judge's secret inputs, so that
    what encode_all returns is a function of values the student's process never saw."""

    def __init__(self, tf, weights):
        self.tf, (w, b, w_mu, b_mu, w_logvar, b_logvar) = tf, weights
        self.input_size, self.latent_size, self.num_classes = settings.IMAGE_SIZE, settings.LATENT_SIZE, settings.NUM_CLASSES
        flat = lambda h: tf.reshape(h, (tf.shape(h)[0], -1))  # noqa: E731
        self.encoder = lambda h: tf.nn.relu(tf.matmul(flat(h), w) + b)
        self.mu_layer = lambda h: tf.matmul(h, w_mu) + b_mu
        self.logvar_layer = lambda h: tf.matmul(h, w_logvar) + b_logvar
        self.decoder = lambda code: tf.zeros((tf.shape(code)[0],) + models.IMAGE)

    def __call__(self, x, c=None):
        tf = self.tf
        flat = tf.reshape(x, (tf.shape(x)[0], -1))
        hidden = self.encoder(flat if c is None else tf.concat([flat, tf.cast(c, tf.float32)], 1))
        mu, logvar = self.mu_layer(hidden), self.logvar_layer(hidden)
        return self.decoder(mu), mu, logvar


def stand_in_weights(rng, width):
    """Secret weights of a StandIn for inputs of `width`: float32, logvar in about [-1.5, 0.5]."""
    z = settings.LATENT_SIZE
    normal = lambda *shape, scale=1.0: (rng.normal(size=shape) * scale).astype(np.float32)  # noqa: E731
    return [normal(width, HIDDEN, scale=width ** -0.5 * 3), normal(HIDDEN, scale=0.1), normal(HIDDEN, z, scale=0.4),
            normal(z, scale=0.2), normal(HIDDEN, z, scale=0.05), normal(z, scale=0.2) - 0.5]


def stand_in_codes(x, c, weights):
    """(mu, logvar) of StandIn on x [N, 1, 28, 28] (and one-hot c) in numpy: float64 [N, Z] each."""
    w, b, w_mu, b_mu, w_logvar, b_logvar = (np.asarray(v, np.float64) for v in weights)
    flat = x.reshape(len(x), -1).astype(np.float64)
    hidden = np.maximum((flat if c is None else np.concatenate([flat, c], 1)) @ w + b, 0)
    return hidden @ w_mu + b_mu, hidden @ w_logvar + b_logvar


def train_probe(s, ex):
    """The student's train_probe on the training split's mean codes, computed with the encoder
    6.1 exported (a copy of it, in host/)."""
    host = ex.workdir / "host" / HOST_ARTIFACT
    if not host.is_dir():
        raise RuntimeError(NO_HOST)
    trained = s.tf.saved_model.load(str(host))  # kept: its functions need its variables
    encode = trained.encode
    form = tuple(int(d) for d in encode.concrete_functions[0].structured_input_signature[0][0].shape)
    with np.load(settings.data_npz()) as data:
        images, labels = data["x_train"], data["y_train"]
    codes = np.concatenate([encode(s.tf.constant(np.reshape(images[k:k + CHUNK] / np.float32(255.0), form)))[0]
                            for k in range(0, len(images), CHUNK)])
    return s.explore.train_probe(codes, labels.astype(np.int64), settings.NUM_CLASSES)


def inputs(rng):
    """The judge's secret inputs: synthetic images and codes for 7.1-7.6 (codes with a mean far
    from 0 and distinct variances, so that centring and the order of axes matter), and 6.1's
    secret changed test images for 7.7-7.8."""
    z, c = settings.LATENT_SIZE, settings.NUM_CLASSES
    labels = np.concatenate([np.arange(c), rng.integers(0, c, N_CODES - c)])
    scales = np.concatenate([[5.0, 3.5, 2.5], rng.uniform(0.3, 1.5, z - 3)])
    rotation = np.linalg.qr(rng.normal(size=(z, z)))[0]
    return {**inside_inputs(rng),
            "x_enc": rng.beta(0.3, 0.3, size=(N_ENCODE,) + models.IMAGE).astype(np.float32),
            "c_enc": one_hot(rng.integers(0, c, N_ENCODE)),
            **{f"vae_w{k}": w for k, w in enumerate(stand_in_weights(rng, settings.IMAGE_SIZE))},
            **{f"cvae_w{k}": w for k, w in enumerate(stand_in_weights(rng, settings.IMAGE_SIZE + c))},
            "codes": (rng.normal(2.0, 1.0, z) + (rng.normal(size=(N_CODES, z)) * scales) @ rotation).astype(np.float32),
            "labels": one_hot(rng.permutation(labels)),
            "varied": varied_codes(rng, rng.permutation(scales)),
            "start": rng.normal(size=z).astype(np.float32), "end": rng.normal(size=z).astype(np.float32),
            "dims": rng.choice(z, 2, replace=False).astype(np.float32)}


def top_dims(values):
    """The TOP_K dimensions of the largest `values` [Z], largest first."""
    return np.argsort(-values, kind="stable")[:TOP_K]


def varied_codes(rng, scales):
    """7.5's codes [N_CODES, Z]: dimension d varies with std scales[d]; the others than the TOP_K most
    varied sit far from 0, drawn until the mean square, the largest |mean| and the largest |value|
    each rank other dimensions first, so only the variance about each dimension's mean finds them.
    (With one offset for all, the mean square ranked as the variance does on every draw.)"""
    for _ in range(100):
        offsets = rng.uniform(4.0, 8.0, len(scales)) * rng.choice([-1.0, 1.0], len(scales))
        offsets[top_dims(scales)] = 0.0
        codes = (rng.normal(size=(N_CODES, len(scales))) * scales + offsets).astype(np.float32)
        wide = codes.astype(np.float64)
        right = top_dims(wide.var(0))
        if all(not np.array_equal(top_dims(wrong), right)
               for wrong in ((wide ** 2).mean(0), np.abs(wide.mean(0)), np.abs(wide).max(0))):
            return codes
    raise RuntimeError("no codes for 7.5 tell the variance from other statistics")


# measuring process ------------------------------------------------------------------

def weights_of(i, model):
    return [i[f"{model}_w{k}"] for k in range(6)]


def encoded(e, i):
    """encode_all on the judge's stand-in VAE and CVAE (the weights given now)."""
    return {"got": e.encode_all(i["x_enc"], *weights_of(i, "vae")),
            "got_cvae": e.encode_all_cvae(i["x_enc"], i["c_enc"], *weights_of(i, "cvae"))}


def inside(e, i, suffix=""):
    """6.1's VAE (or the one exported as encode{suffix}, decode{suffix}) on the judge's images as
    6.1 scores them, the judge's class means, walks and grid of their mean codes decoded in the
    same shuffled calls (`mixed`), so that a decoder cannot tell the codes it is judged on from
    the others."""
    stats = end_to_end.encoded(e, i, False, suffix)
    extra = np.concatenate([pictured_codes(stats[0], i), i["filler"]])
    return end_to_end.scored(e, i, False, suffix, i["eps"], i["mixed"], extra, stats)


def inside_inputs(rng):
    """What inside() needs: 6.1's secret images and noise, the decoding order and the filler."""
    return {**end_to_end.inputs(rng, False), "mixed": rng.permutation(SCORED + PICTURED + FILLER),
            "filler": rng.normal(size=(FILLER, settings.LATENT_SIZE)).astype(np.float32)}


def changed_codes(mu, i):
    """The mean codes of the judge's changed test images: float32 [EVAL_IMAGES, Z]."""
    return np.asarray(mu)[:int(i["changed"])].astype(np.float32)


def probed(e, i):
    """The student's probe on 6.1's mean codes of the judge's changed test images, CHUNK a call
    (encoded again: the same codes as "inside", 6.1's encoder being stateless)."""
    codes = changed_codes(end_to_end.encoded(e, i, False)[0], i)
    return {"scores": np.concatenate([np.asarray(e.probe(codes[k:k + CHUNK])) for k in range(0, len(codes), CHUNK)])}


def pictured_codes(mu, i):
    """The codes the judge decodes, from the mean codes `mu` of all its images: each class's mean
    code [C] over the unchanged images (turned ones where a class has none there: a turned item's
    code is no longer a typical one, and on Fashion-MNIST their means decode to the wrong class
    half the time), the WALKS between those means [len(WALKS) * STEPS], and the perturbation grid
    of the two dimensions in which the codes vary most [SIDE ** 2]."""
    changed, labels = int(i["changed"]), i["y_eval"]
    means = np.stack([mu[changed:][labels[changed:] == k].mean(0) if np.any(labels[changed:] == k)
                      else mu[:changed][labels[:changed] == k].mean(0) for k in range(settings.NUM_CLASSES)])
    walks = [interpolated(means[a], means[b]) for a, b in WALKS]
    return np.concatenate([means, *walks, grid_codes(grid_dims(mu), mu.shape[1])]).astype(np.float32)


def grid_dims(mu):
    """The two dimensions in which the codes `mu` [N, Z] vary most, the largest first."""
    return np.argsort(-np.var(mu, 0))[:2]


def principal_components(codes):
    """What pca_2d(codes) returns (up to each column's sign), in float64: [N, 2]."""
    centred = codes.astype(np.float64) - codes.mean(0)
    return centred @ np.linalg.eigh(np.cov(centred.T))[1][:, ::-1][:, :2]


def interpolated(start, end, steps=STEPS):
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) * start + t * end


def grid_codes(dims, latent, values=QUANTILES):
    """What perturbation_codes(dims, latent, SIDE) returns: [SIDE ** 2, latent]."""
    codes = np.zeros((SIDE * SIDE, latent))
    codes[:, dims[0]] = np.repeat(values, SIDE)
    codes[:, dims[1]] = np.tile(values, SIDE)
    return codes


MEASURES = [
    ("encode_all", f"calling encode_all on {N_ENCODE} images in batches of {BATCH}", encoded),
    ("pca", "calling pca_2d on the judge's codes", lambda e, i: {"value": e.pca(i["codes"])}),
    ("means", "calling class_means on the judge's codes", lambda e, i: {"value": e.means(i["codes"], i["labels"])}),
    ("interpolate", "calling interpolate", lambda e, i: {"value": e.interpolate(i["start"], i["end"])}),
    ("top_dims", "calling top_variance_dims", lambda e, i: {"value": e.top_dims(i["varied"])}),
    ("grid", "calling perturbation_codes", lambda e, i: {"value": e.grid(i["dims"])}),
    ("inside", "encoding and decoding the judge's test images with 6.1's VAE", inside),
    ("probe", "running your probe on 6.1's codes of the judge's test images", probed),
]


# checks ------------------------------------------------------------------------------

def check_encode_all(run, i):
    z = settings.LATENT_SIZE
    for suffix, name, model, c in (("", "a VAE", "vae", None), ("_cvae", "a CVAE, with labels", "cvae", i["c_enc"])):
        mu, logvar = stand_in_codes(i["x_enc"], c, weights_of(i, model))
        got = array(run, "encode_all", f"got{suffix}", None, f"encode_all({name})")
        if got.shape != mu.shape:
            rows = got.shape[0] if got.ndim else 0
            why = {N_ENCODE - N_ENCODE % BATCH: f": the last, smaller batch ({N_ENCODE % BATCH} images) was dropped",
                   N_ENCODE + BATCH - N_ENCODE % BATCH: ": the last batch was padded or repeated"}.get(rows, "")
            raise Fail(f"encode_all({name}) on {N_ENCODE} images in batches of {BATCH} returned shape "
                       f"{list(got.shape)}, expected {[N_ENCODE, z]}{why}")
        if not np.allclose(got, mu, rtol=1e-4, atol=1e-4):
            noise = (got - mu) / np.exp(0.5 * logvar)
            if 0.8 < noise.std() < 1.2 and abs(noise.mean()) < 0.1:
                raise Fail(f"encode_all({name}) returned sampled codes z = mu + sigma * eps: return mu, the mean of q(z|x)")
            close(got, mu, f"encode_all({name}) compared with mu_layer(encoder(x)) image by image",
                  hint="Keep the images' order; give model.encoder each flattened batch (with its labels for a CVAE).")


def check_pca(run, i):
    got = array(run, "pca", "value", (N_CODES, 2), "pca_2d(codes)")
    expected = principal_components(i["codes"])
    for k in range(2):
        sign = 1.0 if np.dot(got[:, k], expected[:, k]) >= 0 else -1.0
        if not np.allclose(sign * got[:, k], expected[:, k], rtol=1e-3, atol=2e-3 * np.abs(expected).max()):
            hint = ("the codes were not centred: subtract their mean first"
                    if np.allclose(np.abs(got[:, k] - got[:, k].mean()), np.abs(expected[:, k]), atol=1e-2 * np.abs(expected).max())
                    else "project the centred codes on the eigenvectors of the two largest eigenvalues, largest first")
            raise Fail(f"column {k} of pca_2d(codes) is not the projection on principal axis {k + 1} "
                       f"(compared up to sign): {hint}")


def check_means(run, i):
    labels = i["labels"].argmax(1)
    expected = np.stack([i["codes"][labels == k].mean(0) for k in range(settings.NUM_CLASSES)])
    got = array(run, "means", "value", None, "class_means(codes, labels)")
    close(got, expected, "class_means(codes, labels)", rtol=1e-4, atol=1e-4,
          hint="Row k is the mean of the codes labelled k.")


def check_interpolate(run, i):
    got = array(run, "interpolate", "value", None, f"interpolate(start, end, {STEPS})")
    expected = interpolated(i["start"].astype(np.float64), i["end"].astype(np.float64))
    if got.shape == expected.shape:
        for row, what in ((0, "start"), (-1, "end")):
            if not np.allclose(got[row], expected[row], atol=1e-5):
                raise Fail(f"row {row % STEPS} of interpolate(start, end, {STEPS}) is not `{what}`: both "
                           "endpoints belong to the walk (t = 0 and t = 1 included)")
    close(got, expected, f"interpolate(start, end, {STEPS})", atol=1e-5,
          hint=f"Row s is start + s / {STEPS - 1} * (end - start).")


def check_top_dims(run, i):
    got = array(run, "top_dims", "value", (TOP_K,), f"top_variance_dims(codes, {TOP_K})")
    expected = top_dims(i["varied"].astype(np.float64).var(0))
    if not np.array_equal(got, expected):
        said = ("the right dimensions, in the wrong order: the largest variance first" if set(got) == set(expected)
                else "the dimensions with the largest variance of the codes (over the batch, per dimension)")
        raise Fail(f"top_variance_dims returned {got.astype(int).tolist()}, expected {expected.tolist()}: {said}")


def check_grid(run, i):
    z = settings.LATENT_SIZE
    got = array(run, "grid", "value", (SIDE * SIDE, z), f"perturbation_codes(dims, {z}, {SIDE})")
    dims = i["dims"].astype(int)
    expected = grid_codes(dims, z)
    if np.allclose(got, grid_codes(dims, z, PROBABILITIES), atol=1e-4):
        raise Fail("perturbation_codes holds the probabilities linspace(0.05, 0.95, 7), not the normal quantiles "
                   "of them: apply the inverse normal CDF (tf.math.ndtri)")
    others = np.delete(got, dims, axis=1)
    if np.abs(others).max() > 1e-6:
        raise Fail(f"perturbation_codes: every dimension but dims {dims.tolist()} must be 0")
    close(got, expected, f"perturbation_codes(dims={dims.tolist()}, {z}, {SIDE})", atol=2e-3,
          hint="Row r * 7 + c has dims[0] = q[r] and dims[1] = q[c].")


def trained_vae(run, i):
    """Fail unless 6.1's VAE, as measured here, would earn 6.1 some credit (the model looked inside)."""
    loss, clean = end_to_end.losses(run, i, "inside", i["mixed"])
    data = settings.data()
    if not loss < data.loss_zero:
        raise Fail(f"this test looks inside the VAE 6.1 trained, whose loss per image on the judge's changed test "
                   f"images is {loss:.1f} (it must be below {data.loss_zero:.0f} for any credit in 6.1). No points.")
    end_to_end.memorised(loss, clean, settings.EPOCHS)
    return loss


def check_probe(run, i):
    data, n = settings.data(), int(i["changed"])
    scores = array(run, "probe", "scores", None, "your probe's class scores")
    if scores.shape != (n, settings.NUM_CLASSES):
        raise Fail(f"your probe returned shape {list(scores.shape)} for {CHUNK} codes a call, expected "
                   f"[{CHUNK}, {settings.NUM_CLASSES}] (one score per class)")
    loss = trained_vae(run, i)
    accuracy = float(np.mean(scores.argmax(1) == i["y_eval"][:n]))
    detail = (f"your probe read the class of {accuracy:.1%} of {n} changed test images from their mean codes "
              f"(by the VAE 6.1 trained; its loss there {loss:.1f})")
    return linear_credit(accuracy, data.probe_floor, data.probe_bar, detail)


def check_walk(run, i):
    trained_vae(run, i)
    data, classes = settings.data(), settings.NUM_CLASSES
    pictured = end_to_end.decoded(run, "inside", i["mixed"])[SCORED:SCORED + PICTURED]
    predicted = judge_classifier.classify(np.clip(pictured[:classes], 0, 1).astype(np.float32))
    run.extras.update(pictured=pictured, mean_predicted=predicted)
    right = int(np.sum(predicted == np.arange(classes)))
    read = ", ".join(f"{data.label(k)} as {data.label(p)}" for k, p in enumerate(predicted) if p != k)
    detail = (f"the judge classifier recognised {right} of the {classes} decoded class-mean codes of the judge's "
              f"unchanged {data.title} images (the ends of every class-to-class walk)" + (f"; it read {read}" if read else ""))
    if right < data.walk_bar:
        raise Fail(f"{detail}; at least {data.walk_bar} are needed")
    return 1.0, detail


TESTS = [
    Test("7.1", "encode_all: mean codes of every image, batch by batch (VAE and CVAE)", 3, check_encode_all),
    Test("7.2", "pca_2d: centred codes on the two principal axes", 3, check_pca),
    Test("7.3", "class_means: the mean code of each class", 2, check_means),
    Test("7.4", "interpolate: evenly spaced, both endpoints included", 2, check_interpolate),
    Test("7.5", "top_variance_dims: the most varied dimensions, largest first", 2, check_top_dims),
    Test("7.6", "perturbation_codes: normal quantiles on two dimensions, 0 elsewhere", 3, check_grid),
    Test("7.7", "probe: reads the class from 6.1's codes of the judge's test images (> {probe_bar:.0%})", 3,
         check_probe),
    Test("7.8", "6.1's class-mean codes decode to their classes (at least {walk_bar} of 10)", 2, check_walk),
]


def pictures(run):
    """Part 7's pictures of the VAE 6.1 trained, from what the judge measured: its mean codes of
    the judge's changed test images in their first two principal components (the judge's PCA),
    walks between class means and the perturbation grid (the judge's codes, 6.1's decoder)."""
    n, total = int(run.inputs["changed"]), len(run.inputs["x_eval"])
    try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
        mu = array(run, "inside", "mu", (total, settings.LATENT_SIZE))
        pictured = end_to_end.decoded(run, "inside", run.inputs["mixed"])[total:total + PICTURED]
    except Fail:
        return []
    codes, labels = mu[:n], run.inputs["y_eval"][:n]
    data, classes, steps = settings.data(), settings.NUM_CLASSES, STEPS
    walks = pictured[classes:classes + len(WALKS) * steps]
    grid = pictured[classes + len(walks):]
    dims = grid_dims(mu)
    quantiles = [f"{q:+.1f}" for q in QUANTILES]
    return [
        ("VAE: the latent space by class", latent_scatter([("", principal_components(codes))], labels),
         f"The mean codes of the {n} changed {data.title} test images, by the VAE 6.1 trained, projected on their "
         f"two principal axes (the judge's PCA), coloured by class. Two of {codes.shape[1]} dimensions show only "
         "part of what 7.7's probe reads: classes that overlap here may still be apart in the others.", "7.7"),
        ("VAE: walks between class means", image_rows(walks, steps, [f"{data.label(a)} → {data.label(b)}"
                                                                      for a, b in WALKS]),
         f"Each row decodes {steps} evenly spaced codes from the mean code of one class to that of another (both "
         f"ends included; the means of the judge's unchanged {data.title} images), with 6.1's decoder: a smooth morph "
         "shows a latent space without holes between classes.",
         "7.8"),
        ("VAE: the perturbation grid", image_rows(grid, SIDE, quantiles, quantiles),
         f"Codes that are 0 except z[{dims[0]}] (down the rows) and z[{dims[1]}] (across), the two dimensions in which "
         f"the codes vary most, set to the normal quantiles of linspace(0.05, 0.95, {SIDE}) (the labels), "
         "decoded by 6.1's decoder.", "7.8"),
    ]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("7.1–7.6", "part 7 (`explore.py`), on the grader's own codes",
     "`encode_all` on 300 images in batches of 64 (a VAE, and a CVAE with labels) equals "
     "`mu_layer(encoder(x))` image by image: no image dropped or repeated, `mu` not a sampled `z`; "
     "`pca_2d` equals the centred codes on the two principal axes, largest first (each column up to "
     "sign); `class_means`; `interpolate` with both endpoints; `top_variance_dims`, largest first; "
     "`perturbation_codes`: the normal quantiles of `linspace(0.05, 0.95, 7)` on the two dimensions, 0 "
     "elsewhere"),
    ("7.7", "part 7: probe",
     "your `train_probe`, trained on the codes of the {title} training images by the VAE 6.1 trained, "
     "reads the class of the 2,000 turned test images from their mean codes (by that same VAE): more than"
     " {probe_bar:.0%} right (partial credit from {probe_floor:.0%})"),
    ("7.8", "part 7: class means",
     "each class's mean code of the grader's upright {title} images (500, test and training), decoded by "
     "6.1's decoder: the shipped classifier recognises at least {walk_bar} of the 10 as their class. 7.7 "
     "and 7.8 count only while 6.1's VAE earns 6.1 some credit on the grader's images (loss below "
     "{loss_zero:.0f})"),
]
CALIBRATION = {  # what tools/calibrate.py reads from a message, and its margin to the bar
    "7.7": (r"probe read the class of ([\d.]+)%", lambda v: v - 100 * settings.data().probe_bar),
    "7.8": (r"recognised (\d+) of the", lambda v: v - settings.data().walk_bar),
}
