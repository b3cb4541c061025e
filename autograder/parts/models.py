"""What parts 3 (VAE) and 4 (CVAE) share: building the model in the student's process,
measuring its exported pieces, and the checks of its shape contract.

The student's call() is run once to build the weights and to see in which form it hands
images to the encoder ([N, 784], [N, 1, 28, 28] or [N, 28, 28]); the encoder is then
traced, and later fed by the judge, in that same form.
"""
import numpy as np

from ..judging.kit import Fail, Test, array, close, images, in_unit_interval, one_hot, probe, relative_change
from ..isolation.measuring import Missing
from ..config import settings

# 3.2/4.2: how far the means of call()'s x_hat and of decoder(z) with the judge's own eps may
# drift apart, in units of their expected sampling difference (about 1 for a correct call();
# measured on untrained reference models: 0.99-1.22 when correct, 18-20 when call() gives the
# decoder zeros instead of c, above 300 when it decodes mu without sampling).
SAMPLING_RATIO = 4.0

# 4.5/4.6: a new c must move the decoder's image (the encoder's mu) by at least this share of
# what a new z (a new x) moves it. Measured on untrained correct models (calibration, several
# architectures): decoder 31-35%, encoder 10-12%; a model that adds 1e-4 * c to what it
# computes without c: 0.01%.
C_EFFECT = 0.02

ATTRIBUTES = ("encoder", "mu_layer", "logvar_layer", "decoder")
N = 16  # batch of the shape checks
REPEATED, REPEATS = 8, 1024  # call() sampled this often per image (3.2, 4.2)
IMAGE = (1, 28, 28)
DRAWS = ("call", "call7", "call_rep")  # call() samples z; every other endpoint must be stateless


def describe_call(conditional, n=N):
    return f"model(x [{n}, 1, 28, 28], c [{n}, 10])" if conditional else f"model(x [{n}, 1, 28, 28])"


def make_model(s, conditional, latent):
    if conditional:
        return s.vae.CVAE(settings.IMAGE_SIZE, num_classes=settings.NUM_CLASSES, latent_size=latent)
    return s.vae.VAE(settings.IMAGE_SIZE, latent_size=latent)


def call_fn(model, conditional):
    return (lambda x, c: model(x, c)) if conditional else (lambda x: model(x))


def call_shapes(conditional, n):
    return [(n,) + IMAGE, (n, settings.NUM_CLASSES)] if conditional else [(n,) + IMAGE]


def decode_fn(model):
    return lambda z: model.decoder(z)


def encode_fn(model):
    def encode(inputs):
        hidden = model.encoder(inputs)
        return model.mu_layer(hidden), model.logvar_layer(hidden)
    return encode


def build(s, ex, conditional, given, make=None, name=None):
    """Student process: build the model (latent 15 and 7) with make(latent) (default: the VAE or
    CVAE of vae.py; `name` names it); trace the decoder on [N, Z] first
    (so that it is built for the contract, whatever call() later gives it; for latent 7 after
    call(), so that call() shows what it makes of latent_size); run call() once,
    seeing in which form it hands images to the encoder; trace call() and the encoder path
    in that form; save them all."""
    from autograder.isolation.student import call_recording_form

    tf, name = s.tf, name or ("CVAE" if conditional else "VAE")
    make = make or (lambda latent: make_model(s, conditional, latent))
    for suffix, latent in (("", settings.LATENT_SIZE), ("7", 7)):
        seen, after = {}, [f"model{suffix}"]
        model = ex.run(f"model{suffix}", f"building {name}({settings.IMAGE_SIZE}, latent_size={latent})",
                       lambda latent=latent: make(latent))
        if model is not None and not suffix:
            ex.fact("attributes", **{a: callable(getattr(model, a, None)) for a in ATTRIBUTES})
        code = latent + (settings.NUM_CLASSES if conditional else 0)
        decode = (f"decode{suffix}", decode_fn(model), [(N, code)], f"calling decoder(z) with z [{N}, {code}]", after)
        if not suffix:  # 3.1 and 3.3 see the decoder on its own, 3.2 and 3.4 see what call() does
            ex.endpoint(*decode)
        zeros = [tf.zeros(shape) for shape in call_shapes(conditional, N)]
        ex.run(f"forward{suffix}", f"calling {describe_call(conditional)}",
               lambda model=model, seen=seen: call_recording_form(model, zeros, seen), after)
        ex.endpoint(f"call{suffix}", call_fn(model, conditional), call_shapes(conditional, N),
                    f"calling {describe_call(conditional)}", after)
        form = (settings.IMAGE_SIZE + settings.NUM_CLASSES,) if conditional else seen.get("form")
        ex.endpoint(f"encode{suffix}", encode_fn(model), [(N,) + (form or (settings.IMAGE_SIZE,))],
                    "calling encoder, mu_layer and logvar_layer one by one", after)
        if suffix:
            ex.endpoint(*decode)
        else:
            rows = REPEATS  # one image repeated REPEATS times a call (distribution())
            ex.endpoint("call_rep", call_fn(model, conditional), call_shapes(conditional, rows),
                        f"calling {describe_call(conditional, rows)}", after)
            ex.endpoint("decode_rep", decode_fn(model), [(rows, code)],
                        f"calling decoder(z) with z [{rows}, {code}]", after)
    ex.save("model")


def inputs(rng):
    labels = rng.integers(0, settings.NUM_CLASSES, N)
    beta = lambda n: rng.beta(0.3, 0.3, size=(n,) + IMAGE).astype(np.float32)  # noqa: E731 - digit-like pixels
    z = settings.LATENT_SIZE
    return {"x": beta(N), "x_other": beta(N), "c": one_hot(labels),
            "c_other": one_hot((labels + 1 + rng.integers(0, 9, N)) % settings.NUM_CLASSES),
            "z": rng.normal(size=(N, z)).astype(np.float32), "z_other": rng.normal(size=(N, z)).astype(np.float32),
            "z_small": rng.normal(size=(N, 7)).astype(np.float32),
            "x_rep": beta(REPEATED), "repeats": np.array(REPEATS),
            "eps_rep": rng.normal(size=(REPEATED * REPEATS, z)).astype(np.float32)}


# measuring process ------------------------------------------------------------------

def encoder_input(e, endpoint, x, c=None):
    """The judge's images (with c for a CVAE) in the form the encoder was traced with."""
    flat = x.reshape(len(x), -1)
    if c is not None:
        flat = np.concatenate([flat, c], 1)
    shape = e.shape(endpoint)
    return flat.reshape(shape) if int(np.prod(shape)) == flat.size else flat


def unpack3(result, what="call"):
    if not isinstance(result, tuple) or len(result) != 3:
        raise TypeError(f"{what} should return a tuple (x_hat, mu, logvar); it returned "
                        f"{len(result) if isinstance(result, tuple) else 1} value(s)")
    return dict(zip(("x_hat", "mu", "logvar"), result))


def measures(conditional):
    """The measurements of a VAE (conditional=False) or CVAE part."""
    def forward(suffix):
        return lambda e, i: unpack3(getattr(e, f"call{suffix}")(i["x"], *([i["c"]] if conditional else [])))

    def pieces(suffix, z_key):
        def measure(e, i):
            c = i["c"] if conditional else None
            mu, logvar = getattr(e, f"encode{suffix}")(encoder_input(e, f"encode{suffix}", i["x"], c))
            code = np.concatenate([i[z_key], c], 1) if conditional else i[z_key]
            return {"mu": mu, "logvar": logvar, "decoded": getattr(e, f"decode{suffix}")(code)}
        return measure

    def distribution(e, i):
        """x_hat of call() for each image repeated K times, next to the decoder's output for
        z = mu + sigma * eps with the judge's eps: samples of the same distribution when
        call() decodes concat([reparameterize(mu, logvar), c])."""
        k, x = int(i["repeats"]), i["x_rep"]
        stats = {f"{name}_{moment}": [] for name in ("call", "decoder") for moment in ("mean", "var")}
        for n in range(len(x)):  # one image a call: a wide convolutional decoder's activations stay small
            c = np.repeat(i["c"][n:n + 1], k, 0) if conditional else None
            called = unpack3(e.call_rep(np.repeat(x[n:n + 1], k, 0), *([c] if conditional else [])))
            z = called["mu"] + np.exp(0.5 * called["logvar"]) * i["eps_rep"][n * k:(n + 1) * k]
            decoded = e.decode_rep(np.concatenate([z, c], 1) if conditional else z)
            for name, value in (("call", called["x_hat"]), ("decoder", decoded)):
                value = np.asarray(value, np.float64).reshape(k, -1)
                stats[f"{name}_mean"].append(value.mean(0))
                stats[f"{name}_var"].append(value.var(0))
        return {key: np.stack(values) for key, values in stats.items()}

    def exist(e, i):
        """Do the encoder path and the decoder run at all (any numbers out)?"""
        out = {}
        c = i["c"] if conditional else None
        for piece, run in (("encode", lambda: e.encode(encoder_input(e, "encode", i["x"], c))),
                           ("decode", lambda: e.decode(np.concatenate([i["z"], c], 1) if conditional else i["z"]))):
            try:
                values = run()
                out[piece] = all(np.asarray(v).dtype.kind == "f" for v in (values if isinstance(values, tuple) else [values]))
            except Missing:
                out[piece] = False
        return out

    call = describe_call(conditional)
    return [
        ("exist", "calling encoder, mu_layer, logvar_layer and decoder", exist),
        ("forward", f"calling {call}", forward("")),
        ("pieces", "calling encoder, mu_layer, logvar_layer and decoder one by one", pieces("", "z")),
        ("distribution", f"calling the model on {REPEATED} images repeated {REPEATS} times, and the "
                         "decoder on z = mu + sigma * eps", distribution),
        ("latent", f"calling {call} with latent_size=7", forward("7")),
        ("latent_pieces", "calling the pieces of the latent_size=7 model one by one", pieces("7", "z_small")),
    ]


# checks (judge) -----------------------------------------------------------------------

def check_attributes(run):
    """Passes when the encoder path and the decoder ran in the measuring process (whatever
    their output shapes; 3.3 checks those). The student process's list of attributes only
    words the message."""
    ran = probe(run, "exist")
    if ran.get("encode") is True and ran.get("decode") is True:
        return
    present = run.facts.get("attributes") if isinstance(run.facts.get("attributes"), dict) else {}
    missing = [name for name in ATTRIBUTES if present.get(name) is False]
    if missing:
        raise Fail(f"missing or not callable: self.{', self.'.join(missing)} (define them in __init__)")
    broken = "encode" if ran.get("encode") is not True else "decode"
    raise Fail(run.built_error(broken) if broken in run.build_errors() else
               "the encoder, mu_layer, logvar_layer and decoder did not all run")


def check_forward(run, i, latent=settings.LATENT_SIZE, probe_name="forward", pieces_name="pieces"):
    """Shapes and range of call()'s outputs; its mu and logvar must be what mu_layer and
    logvar_layer give for the same images (both are deterministic)."""
    n = len(i["x"])
    x_hat = images(run, probe_name, "x_hat", n, "x_hat")
    for key in ("mu", "logvar"):
        value = array(run, probe_name, key, (n, latent), key)
        via_layers = array(run, pieces_name, key, (n, latent), f"{key}_layer(encoder(x))")
        close(value, via_layers, f"call()'s {key} against {key}_layer(encoder(flattened x))",
              rtol=1e-3, atol=1e-4, hint=f"call() must use self.encoder and self.{key}_layer")
    in_unit_interval(x_hat, "x_hat")


def check_pieces(run, i, conditional, latent=settings.LATENT_SIZE, probe_name="pieces"):
    n = len(i["x"])
    inputs_shape = "of shape [N, 784 + 10]" if conditional else "as call() hands them to the encoder"
    array(run, probe_name, "mu", (n, latent), f"mu_layer(encoder(x)) for images x {inputs_shape}")
    array(run, probe_name, "logvar", (n, latent), f"logvar_layer(encoder(x)) for images x {inputs_shape}")
    decoded = images(run, probe_name, "decoded", n,
                     f"decoder(z) for z of shape [N, {latent}{' + 10' if conditional else ''}]")
    in_unit_interval(decoded, "decoder's output")


def check_sampling(run, i, conditional):
    """call()'s x_hat must be distributed like decoder(concat([mu + sigma * eps, c])) with
    fresh eps: the means over K draws of the two may differ only as much as K samples
    allow (their squared difference, relative to its expected size, stays near 1)."""
    shape = (len(i["x_rep"]), settings.IMAGE_SIZE)
    stats = {k: array(run, "distribution", k, shape) for k in ("call_mean", "call_var", "decoder_mean", "decoder_var")}
    repeats = int(i["repeats"])
    noise = ((stats["call_var"] + stats["decoder_var"]) / repeats).sum() + 1e-12
    ratio = float(((stats["call_mean"] - stats["decoder_mean"]) ** 2).sum() / noise)
    if ratio > SAMPLING_RATIO:
        decoded = "decoder(concat([z, c]))" if conditional else "decoder(z)"
        raise Fail(f"call()'s x_hat is not distributed like {decoded} with z = reparameterize(mu, logvar): "
                   f"over {repeats} draws per image their means differ {ratio:.1f} times more than "
                   f"sampling noise explains (at most {SAMPLING_RATIO:g} passes). "
                   + ("Does call() give the decoder concat([z, c]) with the same c?" if conditional
                      else "Does call() decode the sampled z (not mu)?"))
    return ratio


def tests(base, model, conditional, points):
    """The shared VAE/CVAE tests (3.x or 4.x) with the given points."""
    shape = "x, c" if conditional else "x"

    def forward(run, i):
        check_forward(run, i)
        ratio = check_sampling(run, i, conditional)
        return 1.0, f"passed (x_hat against decoder(z): sampling ratio {ratio:.2f} <= {SAMPLING_RATIO:g})"

    def other_latent(run, i):
        latent = i["z_small"].shape[1]
        check_forward(run, i, latent, "latent", "latent_pieces")
        check_pieces(run, i, conditional, latent, "latent_pieces")

    return [
        Test(f"{base}.1", f"{model}: has encoder, mu_layer, logvar_layer, decoder", points[0],
             lambda run, i: check_attributes(run)),
        Test(f"{base}.2", f"{model}: call({shape}) returns x_hat [N,1,28,28] in [0,1], mu and logvar [N,Z]",
             points[1], forward),
        Test(f"{base}.3", f"{model}: encoder, mu_layer, logvar_layer and decoder work on their own", points[2],
             lambda run, i: check_pieces(run, i, conditional)),
        Test(f"{base}.4", f"{model}: works with latent_size=7", points[3], other_latent),
    ]


def effect_of_c(run, name, key, n, what):
    """(output for c, for another c, for other z or x): how the output moves with c."""
    read = ((lambda k: images(run, name, k, n, what)) if key == "decoded"
            else (lambda k: array(run, name, k, (n, settings.LATENT_SIZE), what)))
    return [read(f"{key}_{k}") for k in ("c", "c_other", "other")]


def check_effect_of_c(run, name, key, n, what, problem):
    """c must move the output by at least C_EFFECT of what a new z (or x) moves it."""
    same, changed, reference = effect_of_c(run, name, key, n, what)
    effect = relative_change(same, changed, reference)
    if effect < C_EFFECT:
        raise Fail(f"{problem} (a new c moved it {effect:.2%} as much as a new "
                   f"{'z' if key == 'decoded' else 'x'}; at least {C_EFFECT:.0%} is expected)")
    return 1.0, f"passed (a new c moves it {effect:.0%} as much as a new {'z' if key == 'decoded' else 'x'})"
