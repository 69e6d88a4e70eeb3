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

from gan_aug.report.funnel import ACCEPTANCE_STATUSES, funnel_stages, synthesised
from gan_aug.run_result import BestCheck, QualityCheck, RunResult

MAX_GRID_SAMPLES = 16
MIN_GRID_PX = 64  # tiny images (8×8 digits) are blown up to at least this, pixel for pixel, to be seen
GRID_COLUMNS = 4  # images per row of a sample grid: 16 samples make a square
CONFUSION_NUMBERS_MAX_CLASSES = 12  # above this, numbers in the cells would be unreadable
CONFUSION_COLUMNS = 2  # panels per row of the confusion figure: wide enough to read on a laptop screen
CONFUSION_MAX_TICKS = 40  # more classes than this: label every n-th class only


def figure_png(fig: Figure) -> bytes:
    """Render through the Agg canvas directly: no pyplot, so no global backend or figure state."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def plain_text(name: str) -> str:
    """Matplotlib reads paired '$' as mathtext; class names are plain text."""
    return str(name).replace("$", r"\$")


def _check_lines(ax, checks: list[QualityCheck], key: str, names: dict,
                 best: dict[str, BestCheck] | None = None) -> None:
    """One line per watched class through its value under ``key`` ('fd' or 'agreement') at every check;
    where ``best`` has the class, a circle on the check whose weights it is sampled from."""
    values = [getattr(q, key) or {} for q in checks]  # a check may have measured no agreement
    for label in values[-1]:
        points = [(q.step, found[label]) for q, found in zip(checks, values) if found.get(label) is not None]
        if points:
            line, = ax.plot(*zip(*points), marker=".", label=names.get(label, label))
            chosen = (best or {}).get(label)
            if chosen:
                ax.plot([chosen.step], [chosen.fd], marker="o", fillstyle="none", markersize=10,
                        color=line.get_color())
    ax.legend(fontsize=7, frameon=False, ncols=2, title="class", title_fontsize=7)
    ax.set_xlabel("step")


def training_curves_png(result: RunResult) -> bytes | None:
    """Per trained GAN: discriminator and generator losses, each watched class's FD on held-out images at
    every check (the check whose weights the class is sampled from marked) and, where the checks recorded
    it, the share of the class's samples the domain classifier recognised."""
    runs = {name: run for name, run in result.training.runs.items() if run.history}
    if not runs:
        return None
    names = {str(c.label): plain_text(c.name) for c in result.classes}
    agreement = any(q.agreement for run in runs.values() for q in run.quality_history)
    columns = 3 if agreement else 2
    fig = Figure(figsize=(5.0 * columns, 3.2 * len(runs)), dpi=100, layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(runs), columns, squeeze=False))
    for row, (name, run) in zip(axes, runs.items()):
        title = "shared GAN" if name == "shared" else f"GAN of class {names.get(name, name)}"
        steps = [h["step"] for h in run.history]
        row[0].plot(steps, [h["loss_d"] for h in run.history], label="discriminator")
        row[0].plot(steps, [h["loss_g"] for h in run.history], label="generator")
        row[0].set_title(f"{title}: losses")
        row[0].set_xlabel("step")
        row[0].legend(fontsize=8, frameon=False)
        checks = run.quality_history
        if checks:
            _check_lines(row[1], checks, "fd", names, run.best)
            row[1].set_yscale("log")
        row[1].set_title(f"{title}: held-out FD (circle: weights used)")
        if agreement:
            if checks:
                _check_lines(row[2], checks, "agreement", names)
            row[2].set_ylim(0, 1.05)
            row[2].set_title(f"{title}: samples recognised")
    return figure_png(fig)


def funnel_png(result: RunResult) -> bytes | None:
    """Per synthesised class, one row of overlaid bars: the candidates left after each filter (darker is
    later), the rows used, and a tick at the number asked for; classes FD acceptance did not pass in red."""
    entries = synthesised(result)
    if not entries:
        return None
    stages = funnel_stages(result)
    y = np.arange(len(entries))
    fig = Figure(figsize=(9.0, 1.4 + 0.32 * len(entries)), dpi=100, layout="constrained")
    ax = fig.subplots()
    colors = colormaps["Blues"](np.linspace(0.25, 0.85, len(stages)))
    for stage, color in zip(stages, colors):  # counts only fall along the funnel: later bars lie on top
        counts = [np.nan if e.funnel.get(stage) is None else float(e.funnel[stage]) for e in entries]
        ax.barh(y, counts, height=0.75, color=color, label=stage if stage == "generated" else f"passed {stage}")
    ax.barh(y, [float(e.used) for e in entries], height=0.3, color="#dd8452", label="used")
    wanted = [float(e.asked) for e in entries]
    ax.plot(wanted, y, linestyle="none", marker="|", markersize=14, markeredgewidth=2, color="#222",
            label="asked")
    statuses = [e.acceptance for e in entries]
    ax.set_yticks(y, [f"{e.label}: {plain_text(e.name)}" + (f" ({s})" if s in ACCEPTANCE_STATUSES else "")
                      for e, s in zip(entries, statuses)], fontsize=8)
    for tick, status in zip(ax.get_yticklabels(), statuses):
        tick.set_color({"flagged": "#b42318", "dropped": "#b42318", "unjudged": "#777"}.get(status, "#222"))
    ax.invert_yaxis()
    ax.set_xlabel("candidates")
    handles, labels = ax.get_legend_handles_labels()  # bars in funnel order, the 'needed' tick last
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "asked")
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside upper center",
               ncols=min(len(labels), 6), fontsize=8, frameon=False)
    return figure_png(fig)


def confusion_matrices(result: RunResult) -> dict[str, np.ndarray]:
    """Each downstream method's confusion matrix (rows: true class, columns: predicted; counts over
    all seeds)."""
    return {name: np.asarray(scores.confusion_matrix, dtype=float)
            for name, scores in result.downstream.methods.items()}


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total, so the diagonal is the class's recall; a class absent from the
    test split (a zero row) is NaN, not a misleading 0."""
    matrix = np.asarray(matrix, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, matrix / np.where(totals > 0, totals, 1.0), np.nan)


def confusion_figure(result: RunResult) -> Figure | None:
    """Small multiples: one row-normalised confusion matrix per method, sharing one colour scale
    (0 to 100%), class names on both axes and, for up to 12 classes, the percentage in each cell."""
    matrices = confusion_matrices(result)
    if not matrices:
        return None
    size = max(len(m) for m in matrices.values())
    names = [plain_text(n) for n in result.dataset.class_names]
    columns = min(len(matrices), CONFUSION_COLUMNS)
    rows = math.ceil(len(matrices) / columns)
    panel = min(5.5, 1.8 + 0.36 * size)  # two panels a row fit the page (about 1150 px) unshrunk
    fig = Figure(figsize=(columns * panel + 1.0, rows * panel), dpi=100, layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(matrices):]:
        ax.remove()
    cmap = colormaps["Blues"].with_extremes(bad="#e6e6e6")
    step = max(1, math.ceil(size / CONFUSION_MAX_TICKS))
    ticks = np.arange(0, size, step)
    fontsize = 9 if size <= 20 else 6
    crowded = size > 6 or max(map(len, names), default=0) > 6
    image = None
    for ax, (method, matrix) in zip(axes, matrices.items()):
        rates = row_normalised(matrix)
        image = ax.imshow(np.ma.masked_invalid(rates), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(plain_text(method), fontsize=12)
        labels = [names[i] if i < len(names) else str(i) for i in ticks]
        ax.set_xticks(ticks, labels, rotation=90 if crowded else 0, fontsize=fontsize)
        ax.set_yticks(ticks, labels, fontsize=fontsize)
        ax.set_xlabel("predicted class", fontsize=9)
        ax.set_ylabel("true class", fontsize=9)
        if size <= CONFUSION_NUMBERS_MAX_CLASSES:
            for (i, j), rate in np.ndenumerate(rates):
                if not np.isnan(rate):
                    # Inside the axes: the layout need not measure them (600 texts for six methods).
                    ax.text(j, i, f"{100 * rate:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if rate > 0.6 else "#222", in_layout=False)
    bar = fig.colorbar(image, ax=list(axes[:len(matrices)]), shrink=0.8, label="% of the true class (row)")
    bar.set_ticks(np.linspace(0, 1, 6), labels=[f"{v}%" for v in range(0, 101, 20)])
    return fig


def confusion_png(result: RunResult) -> bytes | None:
    """The confusion small multiples as PNG bytes; None when no method ran."""
    fig = confusion_figure(result)
    return None if fig is None else figure_png(fig)


def sample_grid_png(images: np.ndarray, max_samples: int = MAX_GRID_SAMPLES,
                    min_px: int = MIN_GRID_PX) -> bytes | None:
    """A grid of up to `max_samples` uint8 N×C×H×W images, ``GRID_COLUMNS`` a row, each blown up by a whole
    factor (nearest neighbour: every pixel a crisp block) to at least `min_px`, so 8×8 digits can be seen."""
    import torch  # here, not at the top: the table and markdown helpers should not pay for torch
    from torchvision.utils import make_grid

    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        return None
    batch = torch.from_numpy(np.ascontiguousarray(images[:max_samples], dtype=np.uint8))
    scale = max(1, math.ceil(min_px / batch.shape[-1]))
    batch = batch.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    grid = make_grid(batch, nrow=GRID_COLUMNS, padding=2, pad_value=255)
    buffer = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()
