"""The drawing toolkit of the parts' pictures, as kit.py is that of their checks: numpy, and
matplotlib imported only when drawing (a part module is imported in student processes too).
Each function returns PNG bytes; a part's pictures(run) returns [(title, PNG bytes, caption,
test number)] (report.py lays them out)."""
import io

import numpy as np

from ..config import settings

ROWS_SHOWN = 10  # samples per class in digit_grid


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
