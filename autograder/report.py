"""Pictures of what the student's model drew, for the student (judge side: numpy and
matplotlib, no TensorFlow).

    figures(runs)          -> [(title, PNG bytes, caption, test number)] from what the measuring
                              process returned (a picture belongs to the test it illustrates)
    page(results, figures) -> a self-contained HTML page (outputs/report.html): images embedded,
                              nothing fetched from the network
    overview(results, figures, form) -> results.json's top-level output in Gradescope's "html"
                              or "md" format, or None for "text" (course setting results_format)
"""
import base64
import html
import io

import numpy as np

from . import settings

ROWS_SHOWN = 10  # samples per digit in the grid


def png(figure):
    """The figure as PNG bytes, in 256 colours (a third of the size: Gradescope's results.json
    holds 1 MB, pictures included; greys stay exact)."""
    import matplotlib.pyplot as plt
    from PIL import Image  # matplotlib's own dependency

    buffer, small = io.BytesIO(), io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    Image.open(buffer).convert("RGB").quantize(colors=256).save(small, format="PNG", optimize=True)
    return small.getvalue()


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def digit_grid(images, labels, predicted):
    """One row per requested class, its first samples; a sample the judge classifier read as
    another class is framed in red, with the class it read."""
    plt, data = pyplot(), settings.data()
    figure, axes = plt.subplots(settings.NUM_CLASSES, ROWS_SHOWN, figsize=(ROWS_SHOWN * 0.55, settings.NUM_CLASSES * 0.58))
    for digit in range(settings.NUM_CLASSES):
        for column, k in enumerate(np.flatnonzero(labels == digit)[:ROWS_SHOWN]):
            axis = axes[digit, column]
            axis.imshow(images[k].reshape(28, 28), cmap="gray", vmin=0.0, vmax=1.0)
            axis.set_xticks([])
            axis.set_yticks([])
            wrong = predicted[k] != digit
            for spine in axis.spines.values():
                spine.set_edgecolor("#e02020" if wrong else "#bbbbbb")
                spine.set_linewidth(2.5 if wrong else 0.5)
            if wrong:  # what the classifier read, in a red corner label
                axis.text(27, 1, data.label(predicted[k]), color="white", fontsize=8 if len(data.label(predicted[k])) < 3
                          else 4.5, ha="right", va="top", weight="bold",
                          bbox={"facecolor": "#e02020", "edgecolor": "none", "pad": 1.0})
        axes[digit, 0].set_ylabel(data.label(digit), rotation=0, ha="right", va="center", fontsize=8)
    figure.subplots_adjust(wspace=0.06, hspace=0.06)
    return png(figure)


def reconstruction_pairs(x, x_hat):
    """Test images (top) above their reconstructions (bottom)."""
    plt = pyplot()
    n = len(x)
    figure, axes = plt.subplots(2, n, figsize=(n * 0.55, 2 * 0.6))
    for row, images in enumerate((x, x_hat)):
        for k in range(n):
            axes[row, k].imshow(images[k].reshape(28, 28), cmap="gray", vmin=0.0, vmax=1.0)
            axes[row, k].set_xticks([])
            axes[row, k].set_yticks([])
        axes[row, 0].set_ylabel(("test", "yours")[row], rotation=0, labelpad=16, fontsize=8)
    figure.subplots_adjust(wspace=0.05, hspace=0.05)
    return png(figure)


def latent_scatter(panels, labels, axis="principal component"):
    """One scatter per (title, points [N, 2]) of `panels`, side by side on the same scales, each
    point coloured by its class in `labels` [N], with a legend of the class names; the axes are
    `axis` 1 and 2."""
    plt, data = pyplot(), settings.data()
    figure, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels) + 1.2, 5), sharex=True, sharey=True,
                                squeeze=False)
    colours = plt.get_cmap("tab10")
    axis_name = axis
    for axis, (title, points) in zip(axes[0], panels):
        for k in range(settings.NUM_CLASSES):
            chosen = labels == k
            axis.scatter(points[chosen, 0], points[chosen, 1], s=4, color=colours(k), label=data.label(k), alpha=0.7)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel(f"{axis_name} 1")
    axes[0, 0].set_ylabel(f"{axis_name} 2")
    axes[0, -1].legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return png(figure)


def image_rows(images, columns, row_labels=(), column_labels=()):
    """Images [N, ...784] in rows of `columns`, labelled at the left and at the top."""
    plt = pyplot()
    rows = len(images) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.55, rows * 0.58), squeeze=False)
    for k, axis in enumerate(axes.flat):
        axis.imshow(np.clip(images[k], 0, 1).reshape(28, 28), cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_xticks([])
        axis.set_yticks([])
    for r, label in enumerate(row_labels):
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    for c, label in enumerate(column_labels):
        axes[0, c].set_title(label, fontsize=6)
    figure.subplots_adjust(wspace=0.05, hspace=0.05)
    return png(figure)


def inside_figures(run):
    """Part 7's pictures of the VAE 6.1 trained, from what the judge measured: its mean codes of
    the judge's changed test images in their first two principal components (the judge's PCA),
    walks between class means and the perturbation grid (the judge's codes, 6.1's decoder)."""
    from .kit import Fail, array
    from .parts import end_to_end, explore

    n, total = int(run.inputs["changed"]), len(run.inputs["x_eval"])
    try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
        mu = array(run, "inside", "mu", (total, settings.LATENT_SIZE))
        pictured = end_to_end.decoded(run, "inside", run.inputs["mixed"])[total:total + explore.PICTURED]
    except Fail:
        return []
    codes, labels = mu[:n], run.inputs["y_eval"][:n]
    data, classes, steps = settings.data(), settings.NUM_CLASSES, explore.STEPS
    walks = pictured[classes:classes + len(explore.WALKS) * steps]
    grid = pictured[classes + len(walks):]
    dims = explore.grid_dims(mu)
    quantiles = [f"{q:+.1f}" for q in explore.QUANTILES]
    return [
        ("VAE: the latent space by class", latent_scatter([("", explore.principal_components(codes))], labels),
         f"The mean codes of the {n} changed {data.title} test images, by the VAE 6.1 trained, projected on their "
         f"two principal axes (the judge's PCA), coloured by class. Two of {codes.shape[1]} dimensions show only "
         "part of what 7.7's probe reads: classes that overlap here may still be apart in the others.", "7.7"),
        ("VAE: walks between class means", image_rows(walks, steps, [f"{data.label(a)} → {data.label(b)}"
                                                                      for a, b in explore.WALKS]),
         f"Each row decodes {steps} evenly spaced codes from the mean code of one class to that of another (both "
         f"ends included; the means of the judge's unchanged {data.title} images), with 6.1's decoder: a smooth morph "
         "shows a latent space without holes between classes.",
         "7.8"),
        ("VAE: the perturbation grid", image_rows(grid, explore.SIDE, quantiles, quantiles),
         f"Codes that are 0 except z[{dims[0]}] (down the rows) and z[{dims[1]}] (across), the two dimensions in which "
         f"the codes vary most, set to the normal quantiles of linspace(0.05, 0.95, {explore.SIDE}) (the labels), "
         "decoded by 6.1's decoder.", "7.8"),
    ]


def conv_figures(run):
    """Part 8.9's pictures of the trained ConvVAE: test images above their reconstructions, and its
    decoder's images of the judge's prior codes z ~ N(0, I), decoded in the same shuffled calls."""
    from .kit import Fail
    from .parts import e2e_conv, end_to_end

    n, data = len(run.inputs["x_eval"]), settings.data()
    try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
        decoded = end_to_end.decoded(run, "evaluate", run.inputs["order"])
    except Fail:
        return []
    samples = decoded[n:n + e2e_conv.PICTURED].reshape(-1, settings.IMAGE_SIZE)
    return [
        ("ConvVAE: test images and their reconstructions", reconstruction_pairs(run.inputs["x_eval"][:10],
                                                                                np.clip(decoded[:10], 0, 1)),
         f"The first 10 of the {settings.EVAL_IMAGES} changed {data.title} test images 8.9 was scored on, above what "
         "your trained ConvVAE made of them.", "8.9"),
        ("ConvVAE: samples z ~ N(0, I)", image_rows(samples, 10),
         f"Your trained ConvVAE's decoder on {len(samples)} codes z ~ N(0, I) of the judge's (decoded in the same "
         "shuffled calls as the scored images).", "8.9"),
    ]


def mmd_figures(run):
    """Part 9's pictures: the MMD-VAE's mean codes of the judge's changed test images beside the
    KL model's (6.1's), each in its own first two principal components, and the same walks
    between class means (part 7's) decoded by both; from what the judge measured."""
    from .kit import Fail, array
    from .parts import end_to_end, explore

    n, total, data = int(run.inputs["changed"]), len(run.inputs["x_eval"]), settings.data()
    walked = slice(total + settings.NUM_CLASSES, total + settings.NUM_CLASSES + len(explore.WALKS) * explore.STEPS)
    models = []
    for name, title in (("kl", "KL (the VAE 6.1 trained)"), ("evaluate", "MMD (your VAE trained with mmd.py)")):
        try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
            mu = array(run, name, "mu", (total, settings.LATENT_SIZE))[:n]
            walks = end_to_end.decoded(run, name, run.inputs["mixed"])[walked]
        except Fail:
            continue
        models.append((title, explore.principal_components(mu), walks))
    if not models:
        return []
    rows = [walks[k * explore.STEPS:(k + 1) * explore.STEPS] for k in range(len(explore.WALKS)) for _, _, walks in models]
    labels = [f"{title.split()[0]} {data.label(a)} → {data.label(b)}" for a, b in explore.WALKS for title, _, _ in models]
    return [
        ("KL and MMD: the latent space by class", latent_scatter([(t, p) for t, p, _ in models], run.inputs["y_eval"][:n]),
         f"The mean codes of the {n} changed {data.title} test images by each model, on the first two principal axes "
         "of that model's codes (same scales). The KL term pulls each image's code towards N(0, I), the MMD term only "
         "the codes' aggregate (9.5 measures how close it is): compare how tightly each class gathers and how far apart "
         "the classes sit.", "9.5"),
        ("KL and MMD: the same walks between class means", image_rows(np.concatenate(rows), explore.STEPS, labels),
         f"Each pair of rows walks from the mean code of one class to that of another ({explore.STEPS} evenly spaced "
         f"codes, both ends included; the means of the judge's unchanged {data.title} images in each model's own "
         "latent space), decoded by that model's decoder.", "9.4"),
    ]


def posterior_contours(grid, log_joint, mean, log_std):
    """Isocontours of log p(z, top half) [G, G] over grid [G] (both axes) with q = N(mean, diag(exp(log_std))^2)'s,
    at the same depths under their peaks."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    za, zb = np.meshgrid(grid, grid, indexing="ij")
    below = [40, 20, 10, 5, 2]  # log-density levels under the peak: every mode shows, however low
    axis.contour(za, zb, log_joint - log_joint.max(), levels=[-b for b in below], cmap="Blues")
    q = -0.5 * (((za - mean[0]) / np.exp(log_std[0])) ** 2 + ((zb - mean[1]) / np.exp(log_std[1])) ** 2)
    axis.contour(za, zb, q, levels=[-b for b in below], colors="red", linewidths=0.8, linestyles="solid")
    axis.plot([], [], color="tab:blue", label="log p(z, top half): 2 to 40 below its peak")
    axis.plot([], [], color="red", label="your q(z | top half)")
    axis.legend(fontsize=7, loc="upper right")
    axis.set_xlabel("z 1")
    axis.set_ylabel("z 2")
    return png(figure)


def inference_figures(run):
    """Part 10's pictures: the 2-D latent space by class, the joint and the fitted q for one digit,
    and completed digits beside the originals; from what the judge measured."""
    from .kit import Fail, array
    from .parts import e2e_inference, inference

    data, i, out = settings.data(), run.inputs, []
    n = int(i["changed"])
    try:  # read as the checks read them: missing, misshapen or non-finite values draw nothing
        mu = array(run, "evaluate", "mu", (len(i["x_eval"]), inference.Z))[:n]
        out.append(("InferenceVAE: the 2-D latent space by class", latent_scatter(
            [("your InferenceVAE's mean codes", mu)], i["y_eval"][:n], axis="z"),
            f"The encoder's mean codes of the {n} changed {data.title} test images 10.10 was scored on.", "10.10"))
    except Fail:
        pass
    try:
        completed = e2e_inference.completed(run, i)
        mean = array(run, "complete", "mean", (e2e_inference.COMPLETED, inference.Z))
        log_std = array(run, "complete", "log_std", (e2e_inference.COMPLETED, inference.Z))
        grid = e2e_inference.GRID
        logits = array(run, "grid", "logits", (len(grid) ** 2, inference.D))[:, :inference.TOP]
    except Fail:
        return out
    x, shown = e2e_inference.digits(run), 12
    z = inference.grid_points(grid)
    log_joint = inference.bernoulli(logits, x[0, :inference.TOP]) + inference.log_prior(z)
    top_only = x[:shown].copy()
    top_only[:, inference.TOP:] = 0.0
    out.append(("SVI: the joint and your q for one digit", posterior_contours(
        grid, log_joint.reshape(len(grid), len(grid)), mean[0], log_std[0]),
        f"Blue: isocontours of p(z, top half of x) over the 2-D latent space, for the first of the judge's "
        f"{e2e_inference.COMPLETED} {data.item}s 10.11 completes (from your trained decoder). Red: the q your svi "
        "fitted to it, at the same depths under its peak. SVI climbs to the nearest peak: where the top half fits "
        "more than one digit, the joint has several, and q sits in one of them, about as wide as it.", "10.11"))
    out.append(("SVI: completed digits beside the originals", image_rows(
        np.concatenate([x[:shown], top_only, completed[:shown]]), shown, ["original", "given to svi", "completed"]),
        f"The judge's {data.item}s (drawn from your trained decoder at secret codes), their top halves (what svi "
        "saw), and the top "
        "halves with your decoder's Bernoulli means at q's mean below (what the completion tests score).", "10.12"))
    return out


def figures(runs):
    """The pictures the measured values allow: reconstructions of test images by the trained
    VAE and CVAE, the CVAE's generated digits as the judge classifier read them, part 8's ConvVAE,
    part 7's look inside the VAE, part 9's MMD model beside the KL model and part 10's SVI."""
    out = []
    for name, model in (("e2e_vae", "VAE"), ("e2e_cvae", "CVAE")):
        run = runs.get(name)
        if run is None or run.problem("evaluate"):
            continue
        shuffled = run.arrays.get("evaluate.x_hat_shuffled")
        if shuffled is None or shuffled.size != len(run.inputs["order"]) * settings.IMAGE_SIZE:
            continue
        x_hat = np.empty((len(shuffled), settings.IMAGE_SIZE))
        x_hat[run.inputs["order"]] = shuffled.reshape(len(shuffled), -1)
        first = slice(0, 10)
        number = "6.1" if model == "VAE" else "6.2"
        out.append((f"{model}: test images and their reconstructions", reconstruction_pairs(
            run.inputs["x_eval"][first], np.clip(x_hat[first], 0, 1)),
            f"The first 10 of the {settings.EVAL_IMAGES} changed {settings.data().title} test images {number} was scored on (turned and "
            "stretched by the judge's secret transformation), above what your trained model made of them.", number))
    run = runs.get("e2e_cvae")
    predicted = run.extras.get("predicted") if run is not None else None
    if predicted is not None:
        images, labels = run.extras["generated"], run.inputs["gen_labels"]
        item = settings.data().item
        out.append((f"CVAE: generated {item}s, as the judge classifier read them", digit_grid(images, labels, predicted),
                    f"Row d: decoder(concat([z, one_hot(d)])) for {ROWS_SHOWN} of the 100 z ~ N(0, I) per {item}. "
                    f"Framed in red: read as another {item} (shown). {np.mean(predicted == labels):.1%} of all "
                    f"{len(labels)} were read as the {item} asked for.", "6.3"))
    for name, draw in (("e2e_conv", conv_figures), ("explore", inside_figures), ("e2e_mmd", mmd_figures),
                       ("e2e_inference", inference_figures)):
        if runs.get(name) is not None:
            try:
                out.extend(draw(runs[name]))
            except Exception:  # noqa: BLE001 - a newer part's pictures must not take 6.1's and 6.3's with them
                pass
    return out


def data_uri(data):
    return "data:image/png;base64," + base64.b64encode(data).decode()


STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;vertical-align:top;
text-align:left}td.s{white-space:nowrap}tr.failed td.s{color:#b00020;font-weight:bold}pre{white-space:pre-wrap;
margin:.2em 0;font-size:.85em}figure{margin:1.5em 0}figcaption{font-size:.9em;color:#555}"""


def visible(results, pictures):
    """(results, pictures) as a student sees them before the due date: the tests whose
    visibility is "visible", and only their pictures (a hidden test's picture or caption
    would tell its result; so would the picture of a test a handout's course leaves out)."""
    tests = [e for e in results["tests"] if e.get("visibility", "visible") == "visible"]
    shown = {e["number"] for e in tests}
    kept = {**results, "tests": tests, "score": round(sum(e["score"] for e in tests), 2)}
    return kept, [picture for picture in pictures if picture[3] in shown]  # not a test left out of a handout's either


def page(results, pictures, title="Autograder report", hidden=0):
    """A self-contained HTML page: the total, every test with its message, the pictures;
    `hidden`: how many tests this view leaves out (said on the page)."""
    total = sum(e["max_score"] for e in results["tests"])
    rows = "".join(
        f"<tr class='{e['status']}'><td>{html.escape(e['number'])}</td><td class='s'>{e['score']:g} / {e['max_score']:g}"
        f"</td><td>{html.escape(e['name'])}<pre>{html.escape(e['output'])}</pre></td></tr>" for e in results["tests"])
    shown = "".join(f"<figure><img alt='{html.escape(t)}' src='{data_uri(data)}'><figcaption><b>{html.escape(t)}</b>. "
                    f"{html.escape(c)}</figcaption></figure>" for t, data, c, _ in pictures)
    later = f" {hidden} more test(s) are shown after the due date." if hidden else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p><b>Total: {results['score']:g} / {total:g}</b> ({results['execution_time']:.0f} s).{later}</p>"
            f"{shown or '<p>No pictures: the training parts were not graded or did not finish.</p>'}"
            f"<table><tr><th>test</th><th>points</th><th>name and message</th></tr>{rows}</table>"
            f"<h2>Grading log</h2><pre>{html.escape(results['output'])}</pre></body></html>")


def overview(output, pictures, form):
    """results.json's top-level output for Gradescope: the grading log and the pictures, as
    "html" or "md"; None for "text" (the plain log stays as it is)."""
    if form == "html":
        shown = "".join(f"<p><b>{html.escape(t)}</b><br><img alt='{html.escape(t)}' src='{data_uri(data)}'><br>"
                        f"{html.escape(c)}</p>" for t, data, c, _ in pictures)
        return shown + f"<pre>{html.escape(output)}</pre>"
    if form == "md":
        shown = "".join(f"**{t}**\n\n![{t}]({data_uri(data)})\n\n{c}\n\n" for t, data, c, _ in pictures)
        return shown + "```\n" + output.replace("```", "'''") + "\n```\n"
    return None
