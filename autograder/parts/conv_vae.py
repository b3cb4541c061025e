"""Part 8 (8.1-8.8): the convolutional VAE of conv_vae.py, untrained.

8.1-8.4 are part 3's checks of the VAE contract, run on ConvVAE. 8.5 reads the exported
graphs: the encoder's first convolution must see the images channels-last, [N, 28, 28, 1],
and the decoder must contain a transposed convolution, counting only the convolutions that the
outputs depend on (the measuring process gives each its batch in another order and sees the
outputs move: live_convolutions). 8.6-8.8 trace first_deconv_shape, log_normal_pdf and
mc_loss_function in the student's process and run them in the measuring process on the judge's
secret inputs, against the judge's numpy. mc_loss_function is traced
with the judge's own log_normal_pdf in place of the student's (judges/conv_vae.py, in a process
of its own: steps.py), so that a mistake in log_normal_pdf costs 8.7 only. The trained ConvVAE
is part e2e_conv (8.9).
"""
import os
import shutil

import numpy as np

from ..judging.kit import Fail, Test, array, bce, close, probe, relative_change, scalar
from ..isolation.measuring import CONVOLUTIONS, feeding, made_at, to_numpy
from ..isolation import graphs
from ..config import settings
from . import models
from ..isolation.steps import Step
from .train_vae import replace_everywhere

NAME = "conv_vae"
FILES = ("vae.py", "conv_vae.py")
N = models.N
CASES = 6  # first_deconv_shape cases per call
LOG_2PI = np.log(2.0 * np.pi)
DRAWS = models.DRAWS
ENCODER_CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative")
TRANSPOSED = "Conv2DBackpropInput"  # what Keras' Conv2DTranspose runs
DATA_INPUT = {TRANSPOSED: 2}  # which input a convolution convolves (else its first)
CALLED = ("f", "then_branch", "else_branch", "branches")  # the attributes that name the functions an op runs
LIVE = 0.01  # a convolution counts when what it convolves moves the outputs this much (of what other inputs do)
TRIED = 8  # convolutions tried per endpoint, in the order made, up to the first that counts
MC_RTOL, MC_ATOL = 1e-4, 1e-3  # 8.8
MC_SEPARATION = 5  # every wrong loss of mc_variants is at least this many tolerances from the right one


def make(s):
    return lambda latent: s.conv_vae.ConvVAE(settings.IMAGE_SIZE, latent_size=latent)


def shape_rows(s):
    """first_deconv_shape on each row (img_size, num_deconvs, stride, channels) of a [CASES, 4]
    input, as int32 scalars: [CASES, k], one row per case (k = how many values it returned)."""
    tf = s.tf

    def rows(cases):
        whole = tf.cast(tf.round(cases), tf.int32)
        out = [s.conv_vae.first_deconv_shape(*(whole[k, j] for j in range(4))) for k in range(CASES)]
        return tf.stack([tf.stack([tf.cast(v, tf.float32) for v in tf.nest.flatten(row)]) for row in out])
    return rows


def build(s, ex, given):
    """Student process, step 1: ConvVAE as part 3 builds VAE; then first_deconv_shape and log_normal_pdf."""
    models.build(s, ex, False, given, make(s), "ConvVAE")
    z = settings.LATENT_SIZE
    ex.endpoint("deconv_shape", shape_rows(s), [(CASES, 4)],
                "calling first_deconv_shape(img_size, num_deconvs, stride, channels) with int32 scalar tensors")
    ex.endpoint("log_pdf", s.conv_vae.log_normal_pdf, [(N, z)] * 3,
                f"calling log_normal_pdf(sample, mean, logvar) with [{N}, {z}] each")
    ex.save("functions")


def build_loss(s, ex, given):
    """Step 2: mc_loss_function, with the judge's log_normal_pdf (judges/conv_vae.py)."""
    z, image = settings.LATENT_SIZE, (N,) + models.IMAGE
    replace_everywhere(s.conv_vae.log_normal_pdf, getattr(s.judges, "log_normal_pdf", None), s.conv_vae.mc_loss_function)
    ex.endpoint("mc_loss", s.conv_vae.mc_loss_function, [image, image, (N, z), (N, z), (N, z)],
                f"calling mc_loss_function(x_hat, x, z, mu, logvar) with images {list(image)} and [{N}, {z}] codes "
                "(with the grader's log_normal_pdf)")
    ex.save("mc_loss")


# Two processes: the one that traces mc_loss_function is handed the judge's log_normal_pdf, the
# one that traces log_normal_pdf is not (steps.py).
BUILD_STEPS = (Step(build), Step(build_loss, ("log_normal_pdf",)))


def inputs(rng):
    """Part 3's inputs, and: shape cases whose image side is divisible by stride ** num_deconvs;
    Gaussian samples, means and log-variances (from -3 to 2); decoded images and targets."""
    out = models.inputs(rng)
    strides, count = rng.choice([1, 2, 3, 4], CASES), rng.integers(1, 4, CASES)
    strides[:2], count[:2] = rng.choice([2, 3], 2), (3, 2)  # stride ** count differs from stride * count there
    side, channels = rng.integers(1, 8, CASES), rng.choice([1, 8, 16, 32, 64, 128], CASES)
    out["cases"] = np.stack([side * strides ** count, count, strides, channels], 1).astype(np.float32)
    z = settings.LATENT_SIZE
    out["mean"] = rng.normal(scale=1.5, size=(N, z)).astype(np.float32)
    out["logvar_pdf"] = rng.uniform(-3.0, 2.0, (N, z)).astype(np.float32)
    out["sample"] = (out["mean"] + np.exp(0.5 * out["logvar_pdf"]) * rng.normal(size=(N, z)) * 1.5).astype(np.float32)
    out["x_hat_mc"] = rng.uniform(0.02, 0.98, (N,) + models.IMAGE).astype(np.float32)
    out["z_mc"] = rng.normal(scale=1.3, size=(N, z)).astype(np.float32)
    return telling_codes(rng, out)


def mc_variants(i):
    """8.8 on inputs i, the judge's formulas: (the loss, its tolerance, [(a wrong loss's value, what it does)]),
    the wrong ones being check_mc_loss's known slips and log p or log q at the mean mu, or missing."""
    z, mean, logvar = i["z_mc"], i["mean"], i["logvar_pdf"]
    recon = bce(i["x_hat_mc"].astype(np.float64), i["x"].astype(np.float64))
    log_p, log_q = log_normal(z, np.zeros_like(z), np.zeros_like(z)), log_normal(z, mean, logvar)
    expected = float(np.mean(recon - log_p + log_q))
    return expected, MC_ATOL + MC_RTOL * abs(expected), [
        (float(np.mean(recon + log_p + log_q)), "log p sign flipped"),
        (float(np.mean(recon - log_p - log_q)), "log q sign flipped"),
        (expected * len(z), "summed"), (float(np.mean(recon)), "only the reconstruction"),
        (float(np.mean(recon + log_q)), "no log p"), (float(np.mean(recon - log_p)), "no log q"),
        (float(np.mean(recon - log_normal(mean, np.zeros_like(z), np.zeros_like(z)) + log_q)), "log p at mu"),
        (float(np.mean(recon - log_p + log_normal(mean, mean, logvar))), "log q at mu")]


def telling_codes(rng, out):
    """inputs' out with z_mc drawn again until every wrong loss of mc_variants is MC_SEPARATION tolerances or
    more from the right one, so none can pass 8.8 by luck (before, log p at mu passed 7 of 3,000 draws and was
    within 5 tolerances in 27; now about 1 draw in 100 is drawn again)."""
    for _ in range(100):
        expected, tolerance, wrong = mc_variants(out)
        if all(abs(value - expected) >= MC_SEPARATION * tolerance for value, _ in wrong):
            return out
        out["z_mc"] = rng.normal(scale=1.3, size=out["z_mc"].shape).astype(np.float32)
    raise RuntimeError("no codes tell a wrong mc_loss_function from the right one")


# measuring process ------------------------------------------------------------------

def first_seen(found):
    """(height, width, channels) of the first convolution's input, whatever its data format."""
    kind, layout, shape = found[0]
    if len(shape) != 4 or None in shape:
        return np.array([-1, -1, -1])
    return np.array(shape[2:] + shape[1:2] if layout == "NCHW" else shape[1:])


def convolution_sites(e, name):
    """[(op type, data format, shape it convolves, site)] of every convolution that endpoint `name`'s
    outputs depend on by the graph's edges, in the order made, nested functions and the branches of
    If / Case included; site = (function in the cleaned SavedModel, node name, data input index), where
    moved_variant() can change what it convolves."""
    from tensorflow.core.protobuf import saved_model_pb2

    loaded = e.function(name).concrete_functions  # (its cleaned copy is written on loading)
    model = saved_model_pb2.SavedModel.FromString((e.scratch / name / "saved_model.pb").read_bytes())
    meta = model.meta_graphs[0]
    library = {f.signature.name: f for f in meta.graph_def.library.function}
    top = graphs.endpoint_functions(meta.object_graph_def, name)
    found, walked = [], set()

    def walk(graph, function, depth):
        nodes = {node.name: node for node in library[function].node_def}
        needed = feeding(graph.outputs)
        for op in graph.get_operations():
            node = nodes.get(op.name)
            if op.name not in needed or node is None or node.op != op.type:
                continue
            if op.type in CONVOLUTIONS:
                data = DATA_INPUT.get(op.type, 0)
                shape = tuple(op.inputs[data].shape.as_list()) if op.inputs[data].shape.rank is not None else ()
                found.append((op.type, op.get_attr("data_format").decode(), shape, (function, op.name, data)))
            for attribute in CALLED:
                if depth >= 8 or attribute not in node.attr:
                    continue
                own = [node.attr[attribute].func] if node.attr[attribute].HasField("func") else node.attr[attribute].list.func
                theirs = op.get_attr(attribute)
                for mine, called in zip(own, theirs if isinstance(theirs, list) else [theirs]):
                    if mine.name in library and mine.name not in walked:
                        walked.add(mine.name)  # each function once, however often it is called
                        inner = graph._get_function(called.name)  # noqa: SLF001 - no public way in
                        if inner is not None and hasattr(inner, "graph"):
                            walk(inner.graph, mine.name, depth + 1)

    if len(loaded) == 1 and len(top) == 1 and top[0] in library:
        walk(loaded[0].graph, top[0], 0)
    return found


def moved_variant(e, name, sites, tag):
    """Endpoint `name` loaded again, through graphs.load (so checked again), with each convolution
    at `sites` given its batch moved by one: example k convolves what example k-1 would (the first,
    the last's). Moved by one, not reversed, so that two convolutions in a row do not undo each
    other. Returns the loaded object (its attribute `name` runs it; the object must be kept)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    clean = e.scratch / name
    model = saved_model_pb2.SavedModel.FromString((clean / "saved_model.pb").read_bytes())
    library = {f.signature.name: f for f in model.meta_graphs[0].graph_def.library.function}
    for k, (function_name, node_name, data) in enumerate(sites):
        function = library[function_name]
        taken = {n.name for n in function.node_def}
        prefix = next(f"judge{k}_{j}" for j in range(len(taken) + 1)
                      if not any(t.startswith(f"judge{k}_{j}") for t in taken))
        node = next(n for n in function.node_def if n.name == node_name)
        for what, value in (("shift", 1), ("axis", 0)):
            constant = function.node_def.add(name=f"{prefix}_{what}", op="Const")
            constant.attr["dtype"].type = tf.int32.as_datatype_enum
            constant.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.int32(value)))
        moved = function.node_def.add(name=f"{prefix}_moved", op="Roll",
                                      input=[node.input[data], f"{prefix}_shift:output:0", f"{prefix}_axis:output:0"])
        moved.attr["T"].CopyFrom(node.attr["T"])
        moved.attr["Tshift"].type = moved.attr["Taxis"].type = tf.int32.as_datatype_enum
        node.input[data] = f"{moved.name}:output:0"
    only(model.meta_graphs[0].object_graph_def, name)
    source, target = e.scratch / f"{name}.{tag}.source", e.scratch / f"{name}.{tag}"
    (source / "variables").mkdir(parents=True)
    for path in (clean / "variables").iterdir():  # the cleaned copy's own files: linked, not copied again
        os.link(path, source / "variables" / path.name)
    (source / "saved_model.pb").write_bytes(model.SerializeToString())
    try:
        return graphs.load(source, target, name)
    finally:
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)  # the variables are read on loading


def only(objects, name):
    """Make the other functions of the object graph `objects` plain objects, so that loading it
    loads (and graphs.clean_copy keeps) only what endpoint `name` runs: a fraction of the time."""
    keep = set(graphs.endpoint_functions(objects, name))
    for node in objects.nodes:
        kind = node.WhichOneof("kind")
        if kind == "function" and not keep.issuperset(node.function.concrete_functions) or \
                kind == "bare_concrete_function" and node.bare_concrete_function.concrete_function_name not in keep:
            node.Clear()
            node.user_object.identifier = "_generic_user_object"
            node.user_object.version.producer = 1
    for function in set(objects.concrete_functions) - keep:
        del objects.concrete_functions[function]


def flat(values):
    """An endpoint's outputs (one array or a tuple) as one float64 vector."""
    return np.concatenate([np.asarray(v, np.float64).ravel() for v in (values if isinstance(values, tuple) else [values])])


def live_convolutions(e, name, kinds, given, other, prefix, one_by_one):
    """Whether endpoint `name`'s outputs depend on its convolutions of `kinds`, and (`one_by_one`)
    which is the first that counts. The outputs for `given` inputs, with what the convolutions
    convolve moved by one example (moved_variant), are measured against the outputs for the `other`
    inputs (kit.relative_change): about 1 when everything flows through convolutions, 0 when their
    results are multiplied by 0, selected away or cancelled, or when they convolve no input. First all
    of them at once (so that two that cancel each other are moved alike and still cancel), then, if
    that counts, each in turn in the order made (at most TRIED, up to the first that counts).
    Returns {prefix_count: how many there are, prefix_together: the effect of all at once,
    prefix_effects: [tried one by one], prefix_seen: [tried, 3] what each saw (first_seen),
    prefix_layouts and prefix_dead_at: words for the messages}."""
    tf = e.tf
    sites = [site for site in convolution_sites(e, name) if site[0] in kinds]
    out = {f"{prefix}_count": len(sites)}
    if not sites:
        return out
    run = lambda function, args: flat(to_numpy(function(*(tf.constant(a) for a in args))))  # noqa: E731
    base, reference = run(e.function(name), given), run(e.function(name), other)

    def effect(chosen, tag):
        varied = moved_variant(e, name, [site for _, _, _, site in chosen], tag)
        value = relative_change(base, run(getattr(varied, name), given), reference)
        return value if np.isfinite(value) else 0.0

    def where(kind, shape, site):
        spot = made_at(site[1], e.lines)
        return f"{spot[0]}:{spot[1]}" if spot else f"{kind} on {shape}"

    together = effect(sites, "all")
    effects, seen, layouts, dead = [], [], [], []
    if together < LIVE:
        dead = [where(kind, shape, site) for kind, _, shape, site in sites]
    elif one_by_one:
        for k, (kind, layout, shape, site) in enumerate(sites[:TRIED]):
            effects.append(effect([sites[k]], f"one{k}"))
            seen.append(first_seen([(kind, layout, shape)]))
            layouts.append(f"{shape} ({layout})")
            if effects[-1] >= LIVE:
                break
            dead.append(where(kind, shape, site))
    counted = {place: dead.count(place) for place in dead}  # in order, each place once
    return {**out, f"{prefix}_together": together, f"{prefix}_effects": np.array(effects, np.float64),
            f"{prefix}_seen": np.array(seen, np.int64).reshape(-1, 3), f"{prefix}_layouts": "; ".join(layouts),
            f"{prefix}_dead_at": ", ".join(place + (f" (x{n})" if n > 1 else "") for place, n in counted.items())}


def convolutions(e, i):
    """What 8.5 needs from the exported encoder and decoder graphs: their convolutions, and which
    of them the outputs depend on (live_convolutions)."""
    images = [models.encoder_input(e, "encode", i[key]) for key in ("x", "x_other")]
    encoder = live_convolutions(e, "encode", ENCODER_CONVOLUTIONS, images[:1], images[1:], "encoder", True)
    decoder = live_convolutions(e, "decode", (TRANSPOSED,), [i["z"]], [i["z_other"]], "decoder", False)
    encoder["encoder_convolutions"] = encoder.pop("encoder_count")
    decoder["decoder_transposed"] = decoder.pop("decoder_count")
    return {**encoder, **decoder}


MEASURES = models.measures(False) + [
    ("convolutions", "reading the convolutions of the exported encoder and decoder", convolutions),
    ("deconv_shape", "calling first_deconv_shape on the judge's cases", lambda e, i: {"value": e.deconv_shape(i["cases"])}),
    ("log_pdf", "calling log_normal_pdf(sample, mean, logvar)",
     lambda e, i: {"value": e.log_pdf(i["sample"], i["mean"], i["logvar_pdf"])}),
    ("mc_loss", "calling mc_loss_function(x_hat, x, z, mu, logvar)",
     lambda e, i: {"value": e.mc_loss(i["x_hat_mc"], i["x"], i["z_mc"], i["mean"], i["logvar_pdf"])}),
]


# checks (judge) -----------------------------------------------------------------------

def log_normal(sample, mean, logvar):
    """log N(sample; mean, diag(exp(logvar))) per row [N], float64."""
    sample, mean, logvar = (np.asarray(v, np.float64) for v in (sample, mean, logvar))
    return -0.5 * ((sample - mean) ** 2 * np.exp(-logvar) + logvar + LOG_2PI).sum(1)


def mc_neg_elbo(i, prior_sign=1.0, posterior_sign=1.0):
    """The one-sample negative ELBO of the judge's inputs (the signs let diagnose() try the usual slips)."""
    z = i["z_mc"]
    log_p = log_normal(z, np.zeros_like(z), np.zeros_like(z))
    log_q = log_normal(z, i["mean"], i["logvar_pdf"])
    return float(np.mean(bce(i["x_hat_mc"].astype(np.float64), i["x"].astype(np.float64))
                         - prior_sign * log_p + posterior_sign * log_q))


def together(run, found, prefix):
    """The effect of all of a half's convolutions at once, checked for being a finite number."""
    value = found.get(f"{prefix}_together")
    if not isinstance(value, (int, float)) or not np.isfinite(value):
        raise Fail("what the convolutions change: no numeric value came back")
    return float(value)


def dead_words(found, prefix, count, moved, effect, inputs):
    """Why none of the `count` convolutions of a half counts (all moved at once, they moved the
    outputs by `effect`), and where they were made."""
    where = f" ({found[f'{prefix}_dead_at']})" if found.get(f"{prefix}_dead_at") else ""
    kind = "transposed convolution" if prefix == "decoder" else "convolution"
    return (f"the {prefix}'s output does not depend on its {count} {kind}(s){where}: given their batches moved by "
            f"one image (each example convolving the one before), all of them at once moved {moved} by "
            f"{effect:.2%} of what other {inputs} do (they count from {LIVE:.0%}).")


DEAD = ("A convolution whose result is multiplied by 0 or a tiny number, selected away (tf.where, tf.cond) or added "
        "and taken away again (a layer called twice, say), or that convolves something else than the input, does not "
        "count: compute the output from the convolutions' results.")


def check_convolutions(run, i):
    """The encoder's first convolution that counts sees the image as [N, 28, 28, 1]; the decoder has
    transposed convolutions that count. Convolutions count when the outputs depend on what they
    convolve (live_convolutions): all of a half's at once, and the encoder's first one by one. Every
    problem of the encoder and the decoder is told at once."""
    found = probe(run, "convolutions")
    if not found.get("encoder_convolutions"):
        raise Fail("the exported encoder has no convolution (no Conv2D in its graph): ConvVAE's encoder must be "
                   "convolutional")
    problems, passed, dead = [], [], False
    count, effect = found["encoder_convolutions"], together(run, found, "encoder")
    effects = array(run, "convolutions", "encoder_effects", None, "what the convolutions change")
    first = next((k for k, value in enumerate(effects) if value >= LIVE), None)
    if effect < LIVE:
        problems.append(dead_words(found, "encoder", count, "mu and logvar", effect, "images"))
        dead = True
    elif first is None:
        tried = f"the first {len(effects)}" if count > len(effects) else f"all {count}"
        problems.append(f"the encoder's {count} convolutions together move mu and logvar by {effect:.0%} of what other "
                        f"images do, but none of them alone counts ({tried} tried, each at most "
                        f"{max(effects, default=0):.2%}; one counts from {LIVE:.0%}): make the encoder's output depend "
                        "on each convolution's result.")
    else:
        seen = array(run, "convolutions", "encoder_seen", (len(effects), 3), "the convolutions' inputs")[first]
        layout = str(found.get("encoder_layouts", "")).split("; ")
        if tuple(seen.astype(int)) != (28, 28, 1):
            problems.append(
                f"the encoder's first convolution sees its input as {layout[first] if first < len(layout) else '?'}, "
                f"i.e. {int(seen[0])} x {int(seen[1])} pixels with {int(seen[2])} channels; it must see the 28 x 28 "
                "image with 1 channel. Keras' Conv2D reads [N, height, width, channels]: reshape the images to "
                "[N, 28, 28, 1] before it (call() hands the encoder [N, 1, 28, 28]).")
        ignored = f", {first} before it changing nothing" if first else ""
        passed.append(f"the encoder's first of {count} convolution(s) that counts sees [N, 28, 28, 1]{ignored}; "
                      f"they move mu and logvar {effect:.0%} as much as other images do, it alone {effects[first]:.0%}")
    transposed = found.get("decoder_transposed")
    if not transposed:
        problems.append("the exported decoder has no transposed convolution (Conv2DTranspose): build the decoder "
                        "from Conv2DTranspose layers")
    else:
        effect = together(run, found, "decoder")
        if effect < LIVE:
            problems.append(dead_words(found, "decoder", transposed, "x_hat", effect, "codes"))
            dead = True
        else:
            passed.append(f"the decoder's {transposed} transposed convolution(s) move x_hat {effect:.0%} as much as "
                          "other codes do")
    if problems:
        raise Fail(" Also, ".join(problems) + (f" {DEAD}" if dead else ""))
    return 1.0, (f"passed ({'; '.join(passed)}; the convolutions' input moved by one image, a convolution counts "
                 f"from {LIVE:.0%})")


def check_deconv_shape(run, i):
    cases = i["cases"].astype(int)
    got = array(run, "deconv_shape", "value", None, "first_deconv_shape(...)")
    if got.shape != (CASES, 3):
        raise Fail(f"first_deconv_shape returned {got.shape[-1] if got.ndim == 2 else '?'} value(s) per call; expected "
                   "3: (side, side, channels)")
    side = cases[:, 0] // cases[:, 2] ** cases[:, 1]
    expected = np.stack([side, side, cases[:, 3]], 1)
    for case, row, want in zip(cases, got, expected):
        if not np.allclose(row, want):
            img, count, stride, channels = case
            hint = (" The channels come last (channels-last)." if row[0] == channels else
                    f" Each of the {count} transposed convolutions multiplies the side by {stride}: divide {img} by "
                    f"{stride} ** {count}.")
            raise Fail(f"first_deconv_shape({img}, {count}, {stride}, {channels}) returned {tuple(row.astype(int).tolist())}, "
                       f"expected {tuple(want.tolist())}.{hint}")


def check_log_pdf(run, i):
    expected = log_normal(i["sample"], i["mean"], i["logvar_pdf"])
    got = array(run, "log_pdf", "value", None, "log_normal_pdf(sample, mean, logvar)")
    if got.shape != expected.shape:
        raise Fail(f"log_normal_pdf returned shape {list(got.shape)}, expected [{N}]: one value per row (sum over axis 1)")
    as_std = -0.5 * (((i["sample"] - i["mean"]) / i["logvar_pdf"]) ** 2 + 2 * np.log(np.abs(i["logvar_pdf"])) + LOG_2PI).sum(1)
    known = [(expected + 0.5 * LOG_2PI * i["sample"].shape[1], "the -0.5 * log(2 pi) term is missing"),
             (-expected, "the sign is flipped: a log density is -0.5 * (...)"),
             (as_std, "logvar is used as the standard deviation; it is the log of the variance: sigma^2 = exp(logvar)"),
             (log_normal(i["sample"], i["mean"], 2 * i["logvar_pdf"]),
              "logvar is used as the log of the standard deviation; it is the log of the variance")]
    why = next((words for value, words in known if np.allclose(got, value, rtol=1e-4, atol=1e-3)),
               "check the formula: -0.5 * ((sample - mean)^2 * exp(-logvar) + logvar + log(2 pi)), summed over axis 1")
    close(got, expected, "log_normal_pdf(sample, mean, logvar)", rtol=1e-4, atol=1e-3, hint=why)


def check_mc_loss(run, i):
    expected = mc_neg_elbo(i)
    got = scalar(run, "mc_loss", "value", "mc_loss_function(...)")
    if np.isclose(got, expected, rtol=MC_RTOL, atol=MC_ATOL):
        return
    n = len(i["x"])
    known = [(mc_neg_elbo(i, prior_sign=-1.0), "the sign of log p(z) is flipped: the loss is -(log p(x|z) + log p(z) - log q(z|x))"),
             (mc_neg_elbo(i, posterior_sign=-1.0), "the sign of log q(z|x) is flipped"),
             (expected * n, f"{n}x the expected value: average over the batch, do not sum"),
             (float(np.mean(bce(i["x_hat_mc"], i["x"]))), "only the reconstruction term: add log q(z|x) - log p(z)")]
    why = next((words for value, words in known if np.isclose(got, value, rtol=MC_RTOL, atol=MC_ATOL)), "")
    raise Fail(f"mc_loss_function returned {got:.6g}, expected {expected:.6g} (traced with the grader's log_normal_pdf, "
               f"so your log_normal_pdf is not the cause). {why}".strip())


TESTS = models.tests("8", "ConvVAE", False, (2, 3, 2, 2)) + [
    Test("8.5", "ConvVAE: the encoder convolves the [N,28,28,1] image, the decoder uses transposed convolutions", 3,
         check_convolutions),
    Test("8.6", "first_deconv_shape: the decoder's first transposed-convolution input shape", 3, check_deconv_shape),
    Test("8.7", "log_normal_pdf: the log density of a diagonal Gaussian, per row", 3, check_log_pdf),
    Test("8.8", "mc_loss_function: the one-sample Monte-Carlo negative ELBO, averaged over the batch", 4, check_mc_loss),
]


RUBRIC = [  # (tests, label, what is checked): the handout's rubric rows, with the data set's {fields}
    ("8.1–8.4", "part 8 (`conv_vae.py`): `ConvVAE`",
     "part 3's checks, on your `ConvVAE`: the encoder path and the decoder run; `call` returns `x_hat` "
     "[N, 1, 28, 28] in [0, 1] with the `mu`, `logvar` of its layers and `x_hat` distributed like "
     "`decoder(z)`; the pieces work one by one; `latent_size=7` works"),
    ("8.5–8.8", "part 8: convolutions and densities",
     "read from your exported graphs: the encoder's first convolution sees the image as [N, 28, 28, 1] "
     "(channels-last, one channel) and the decoder has a transposed convolution; `first_deconv_shape` on "
     "6 secret (size, count, stride, channels) cases; `log_normal_pdf` per row against the grader's numpy"
     " on secret inputs (log-variances from -3 to 2); `mc_loss_function` equals the mean over the batch "
     "of BCE - log p(z) + log q(z\\|x) for the grader's `z` (traced with the grader's own "
     "`log_normal_pdf`, so 8.7's mistakes do not cost 8.8)"),
]
