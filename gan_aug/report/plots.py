"""The report's figures, rendered to PNG bytes.

Matplotlib figures are drawn through the Agg canvas directly (Figure + FigureCanvasAgg, never
pyplot), so rendering a report touches no global backend or figure state and is safe in a worker.
"""
from __future__ import annotations

import io
import math

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gan_aug.report.funnel import (
    ACCEPTANCE_STATUSES,
    acceptance_status,
    filter_settings,
    funnel_stages,
    synthesised,
)

MAX_GRID_SAMPLES = 16
MIN_GRID_PX = 32
CONFUSION_NUMBERS_MAX_CLASSES = 12  # above this, numbers in the cells would be unreadable
CONFUSION_COLUMNS = 3  # panels per row of the confusion figure
CONFUSION_MAX_TICKS = 40  # more classes than this: label every n-th class only


def figure_png(fig: Figure) -> bytes:
    """Render through the Agg canvas directly: no pyplot, so no global backend or figure state."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def plain_text(name: str) -> str:
    """Matplotlib reads paired '$' as mathtext; class names are plain text."""
    return str(name).replace("$", r"\$")


def distribution_png(metrics: dict) -> bytes:
    """Class counts before (real only) and after (real + synthetic stacked), with the target line."""
    classes = metrics["classes"]
    names = [plain_text(c["name"]) for c in classes]
    real = np.array([c["real"] for c in classes])
    synthetic = np.array([c["used"] for c in classes])
    x = np.arange(len(classes))
    fig = Figure(figsize=(min(18.0, 4.0 + 0.7 * len(classes)), 3.6), dpi=100, layout="constrained")
    before, after = fig.subplots(1, 2, sharey=True)
    before.bar(x, real, color="#4c72b0", label="real")
    after.bar(x, real, color="#4c72b0", label="real")
    after.bar(x, synthetic, bottom=real, color="#dd8452", label="synthetic")
    target = metrics["dataset"]["target_count"]
    crowded = len(classes) > 12 or max(map(len, names), default=0) > 8
    for ax, title in ((before, "before"), (after, "after")):
        ax.axhline(target, color="#333", linestyle="--", linewidth=1, zorder=3, label="target")
        ax.set_title(title)
        ax.set_xticks(x, names, rotation=45 if crowded else 0, ha="right" if crowded else "center", fontsize=8)
    before.set_ylim(0, 1.15 * max(target, int((real + synthetic).max(initial=1))))
    before.set_ylabel("training images")
    after.legend(loc="upper right", ncols=3, fontsize=8, frameon=False)
    return figure_png(fig)


def training_curves_png(metrics: dict) -> bytes | None:
    """Per trained GAN: discriminator and generator losses, and each watched class's FD on held-out
    images at every check, with the check whose weights the class is sampled from marked."""
    runs = metrics.get("training", {}).get("runs", {})
    runs = {name: run for name, run in runs.items() if run.get("history")}
    if not runs:
        return None
    names = {str(c["label"]): plain_text(c["name"]) for c in metrics["classes"]}
    fig = Figure(figsize=(10.0, 3.2 * len(runs)), dpi=100, layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(runs), 2, squeeze=False))
    for row, (name, run) in zip(axes, runs.items()):
        title = "shared GAN" if name == "shared" else f"GAN of class {names.get(name, name)}"
        steps = [h["step"] for h in run["history"]]
        row[0].plot(steps, [h["loss_d"] for h in run["history"]], label="discriminator")
        row[0].plot(steps, [h["loss_g"] for h in run["history"]], label="generator")
        row[0].set_title(f"{title}: losses")
        row[0].set_xlabel("step")
        row[0].legend(fontsize=8, frameon=False)
        checks = run.get("quality_history") or []
        if checks:
            for label in checks[-1]["fd"]:
                points = [(q["step"], q["fd"].get(label)) for q in checks if q["fd"].get(label) is not None]
                if points:
                    line, = row[1].plot(*zip(*points), marker=".", label=names.get(label, label))
                    best = (run.get("best") or {}).get(label)
                    if best:
                        row[1].plot([best["step"]], [best["fd"]], marker="o", fillstyle="none", markersize=10,
                                    color=line.get_color())
            row[1].set_yscale("log")
            row[1].legend(fontsize=7, frameon=False, ncols=2, title="class", title_fontsize=7)
        row[1].set_title(f"{title}: FD on held-out images (circle: weights used)")
        row[1].set_xlabel("step")
    return figure_png(fig)


def funnel_png(metrics: dict) -> bytes | None:
    """Per synthesised class, one row of overlaid bars: the candidates left after each filter (darker is
    later), the rows used, and a tick at the number needed; classes FD acceptance did not pass in red."""
    entries, settings = synthesised(metrics), filter_settings(metrics)
    if not entries:
        return None
    stages = funnel_stages(metrics)
    y = np.arange(len(entries))
    fig = Figure(figsize=(9.0, 1.4 + 0.32 * len(entries)), dpi=100, layout="constrained")
    ax = fig.subplots()
    colors = colormaps["Blues"](np.linspace(0.25, 0.85, len(stages)))
    for stage, color in zip(stages, colors):  # counts only fall along the funnel: later bars lie on top
        counts = [np.nan if e["funnel"].get(stage) is None else float(e["funnel"][stage]) for e in entries]
        ax.barh(y, counts, height=0.75, color=color, label=stage if stage == "generated" else f"passed {stage}")
    ax.barh(y, [float(e.get("used") or 0) for e in entries], height=0.3, color="#dd8452", label="used")
    needed = [np.nan if e.get("needed") is None else float(e["needed"]) for e in entries]
    ax.plot(needed, y, linestyle="none", marker="|", markersize=14, markeredgewidth=2, color="#222",
            label="needed")
    statuses = [acceptance_status(e, settings) for e in entries]
    ax.set_yticks(y, [f"{e['label']}: {plain_text(e['name'])}" + (f" ({s})" if s in ACCEPTANCE_STATUSES else "")
                      for e, s in zip(entries, statuses)], fontsize=8)
    for tick, status in zip(ax.get_yticklabels(), statuses):
        tick.set_color({"flagged": "#b42318", "dropped": "#b42318", "unjudged": "#777"}.get(status, "#222"))
    ax.invert_yaxis()
    ax.set_xlabel("candidates")
    handles, labels = ax.get_legend_handles_labels()  # bars in funnel order, the 'needed' tick last
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "needed")
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside upper center",
               ncols=min(len(labels), 6), fontsize=8, frameon=False)
    return figure_png(fig)


def confusion_matrices(metrics: dict) -> dict[str, np.ndarray]:
    """Each downstream method's confusion matrix (rows: true class, columns: predicted; counts over
    all seeds); methods that recorded none, or a malformed one, are left out."""
    methods = (metrics.get("downstream") or {}).get("methods") or {}
    matrices = {}
    for name, scores in methods.items():
        matrix = np.asarray(scores.get("confusion_matrix") or [], dtype=float)
        if matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] and matrix.size:
            matrices[name] = matrix
    return matrices


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total, so the diagonal is the class's recall; a class absent from the
    test split (a zero row) is NaN, not a misleading 0."""
    matrix = np.asarray(matrix, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, matrix / np.where(totals > 0, totals, 1.0), np.nan)


def confusion_figure(metrics: dict) -> Figure | None:
    """Small multiples: one row-normalised confusion matrix per method, sharing one colour scale
    (0 to 1), class names on both axes and, for up to 12 classes, the rate written in each cell."""
    matrices = confusion_matrices(metrics)
    if not matrices:
        return None
    size = max(len(m) for m in matrices.values())
    class_names = list(metrics.get("dataset", {}).get("class_names") or [])
    names = [plain_text(n) for n in class_names] if len(class_names) == size else [str(i) for i in range(size)]
    columns = min(len(matrices), CONFUSION_COLUMNS)
    rows = math.ceil(len(matrices) / columns)
    panel = min(7.0, 1.6 + 0.32 * size)
    fig = Figure(figsize=(columns * panel + 1.0, rows * panel), dpi=100, layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(matrices):]:
        ax.remove()
    cmap = colormaps["Blues"].with_extremes(bad="#e6e6e6")
    step = max(1, math.ceil(size / CONFUSION_MAX_TICKS))
    ticks = np.arange(0, size, step)
    fontsize = 8 if size <= 20 else 6
    crowded = size > 6 or max(map(len, names), default=0) > 6
    image = None
    for ax, (method, matrix) in zip(axes, matrices.items()):
        rates = row_normalised(matrix)
        image = ax.imshow(np.ma.masked_invalid(rates), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(plain_text(method), fontsize=10)
        labels = [names[i] if i < len(names) else str(i) for i in ticks]
        ax.set_xticks(ticks, labels, rotation=90 if crowded else 0, fontsize=fontsize)
        ax.set_yticks(ticks, labels, fontsize=fontsize)
        ax.set_xlabel("predicted class", fontsize=8)
        ax.set_ylabel("true class", fontsize=8)
        if size <= CONFUSION_NUMBERS_MAX_CLASSES:
            for (i, j), rate in np.ndenumerate(rates):
                if not np.isnan(rate):
                    ax.text(j, i, f"{rate:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if rate > 0.6 else "#222")
    fig.colorbar(image, ax=list(axes[:len(matrices)]), shrink=0.8, label="share of the true class (row)")
    return fig


def confusion_png(metrics: dict) -> bytes | None:
    """The confusion small multiples as PNG bytes; None when no method recorded a matrix."""
    fig = confusion_figure(metrics)
    return None if fig is None else figure_png(fig)


def sample_grid_png(images: np.ndarray, max_samples: int = MAX_GRID_SAMPLES,
                    min_px: int = MIN_GRID_PX) -> bytes | None:
    """A grid of up to `max_samples` uint8 N×C×H×W images, tiny ones upscaled (nearest) to be seen."""
    import torch  # here, not at the top: the table and markdown helpers should not pay for torch
    from torchvision.utils import make_grid

    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        return None
    batch = torch.from_numpy(np.ascontiguousarray(images[:max_samples], dtype=np.uint8))
    scale = max(1, math.ceil(min_px / batch.shape[-1]))
    batch = batch.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    grid = make_grid(batch, nrow=8, padding=2, pad_value=255)
    buffer = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()
