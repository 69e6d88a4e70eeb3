"""Figures of what shipped and why: per class usefulness of the synthetic rows, the validation curve the
mix was chosen from, and the training split as shipped (real, synthetic and duplicated rows).

Drawn like every report figure through the Agg canvas (plots.figure_png), never pyplot.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gan_aug.report.plots import figure_png, plain_text
from gan_aug.run_result import CurvePoint, RunResult

REAL, SYNTHETIC, DUPLICATE, AGREEMENT = "#4c72b0", "#dd8452", "#b8b8b8", "#222222"
INELIGIBLE = "#b42318"


def _class_axis(ax, result: RunResult, x: np.ndarray, flagged: set[int] = frozenset()) -> None:
    """Class names under the bars, slanted when crowded; ``flagged`` labels (no synthetic rows) in red."""
    classes = result.classes
    names = [plain_text(c.name) for c in classes]
    crowded = len(classes) > 12 or max(map(len, names), default=0) > 8
    ax.set_xticks(x, names, rotation=45 if crowded else 0, ha="right" if crowded else "center", fontsize=8)
    for tick, entry in zip(ax.get_xticklabels(), classes):
        if entry.label in flagged:
            tick.set_color(INELIGIBLE)


def _figure(result: RunResult, height: float) -> Figure:
    return Figure(figsize=(min(18.0, 4.0 + 0.7 * len(result.classes)), height), dpi=100, layout="constrained")


def distribution_png(result: RunResult) -> bytes:
    """The training split as shipped, per class: real rows, synthetic rows and duplicated real rows
    stacked, with the target line (a kind no class has is left out)."""
    classes = result.classes
    parts = {"real": [c.real for c in classes], "synthetic": [c.used for c in classes],
             "duplicated real": [c.duplicates for c in classes]}
    x, bottom = np.arange(len(classes)), np.zeros(len(classes))
    fig = _figure(result, 3.6)
    ax = fig.subplots()
    for (label, counts), color in zip(parts.items(), (REAL, SYNTHETIC, DUPLICATE)):
        if label == "real" or any(counts):
            ax.bar(x, counts, bottom=bottom, color=color, label=label, hatch="//" if color == DUPLICATE else None,
                   edgecolor="white", linewidth=0.5)
            bottom = bottom + np.asarray(counts, dtype=float)
    target = result.dataset.target_count
    ax.axhline(target, color="#333", linestyle="--", linewidth=1, zorder=3, label="target")
    _class_axis(ax, result, x)
    ax.set_ylim(0, 1.15 * max(target, float(bottom.max(initial=1))))
    ax.set_ylabel("training rows")
    ax.legend(loc="upper right", ncols=4, fontsize=8, frameon=False)
    return figure_png(fig)


def usefulness_png(result: RunResult) -> bytes | None:
    """Per class: CAS beside the real-rows recall (grouped bars, test split) and the label agreement of its
    synthetic rows (markers) against the agreement a class needs to ship any; None without measures."""
    classes = result.classes
    cas, real, agreement = ([getattr(c, key) for c in classes] for key in ("cas", "real_recall", "label_agreement"))
    if not any(v is not None for v in cas + real + agreement):
        return None
    x, width = np.arange(len(classes)), 0.38
    fig = _figure(result, 3.8)
    ax = fig.subplots()
    as_float = lambda values: [np.nan if v is None else float(v) for v in values]  # noqa: E731
    if any(v is not None for v in cas):
        ax.bar(x - width / 2, as_float(cas), width, color=SYNTHETIC, label="CAS: trained on synthetic only")
    ax.bar(x + width / 2 if any(v is not None for v in cas) else x, as_float(real), width, color=REAL,
           label="trained on real rows")
    ax.plot(x, as_float(agreement), linestyle="none", marker="D", markersize=7, color=AGREEMENT,
            label="label agreement of its synthetic rows")
    mix = result.mix
    ax.axhline(mix.min_agreement, color=AGREEMENT, linestyle=":", linewidth=1,
               label=f"agreement needed to ship ({mix.min_agreement:g})")
    _class_axis(ax, result, x, {c.label for c in classes if c.label_agreement is not None
                                and c.label not in mix.eligible})
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall on the real test split / agreement")
    fig.legend(loc="outside upper center", ncols=4, fontsize=8, frameon=False)
    return figure_png(fig)


def _curve_lines(curve: list[CurvePoint]) -> dict[float, list[CurvePoint]]:
    """One line per weight, each starting from the dose-0 point (no synthetic rows: the weight is moot)."""
    start = [p for p in curve if not p.dose]
    weights = sorted({p.weight for p in curve if p.dose}, reverse=True)
    return {w: start + sorted((p for p in curve if p.dose and p.weight == w), key=lambda p: p.dose)
            for w in weights}


def mix_curve_png(result: RunResult) -> bytes | None:
    """Balanced accuracy on validation against the dose, one line per weight, error bars one standard
    error (of the difference from the top point), dose 0 (duplication only) and the chosen point marked;
    None for a fixed policy (no curve)."""
    mix = result.mix
    curve = mix.curve
    if not curve:
        return None
    fig = Figure(figsize=(7.5, 3.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    for weight, points in _curve_lines(curve).items():
        ax.errorbar([p.dose for p in points], [p.balanced_accuracy for p in points],
                    yerr=[p.standard_error for p in points], marker="o", markersize=5, capsize=3,
                    label=f"synthetic weight {weight:g}")
    for p in curve:
        if not p.dose:
            ax.plot([0], [p.balanced_accuracy], marker="s", markersize=9, color="#555", linestyle="none",
                    label="dose 0: duplication only", zorder=4)
        if mix.chosen(p):
            ax.plot([p.dose], [p.balanced_accuracy], marker="*", markersize=20, color="#d62728",
                    markeredgecolor="#222", linestyle="none", label="chosen", zorder=5)
    top = max(p.balanced_accuracy for p in curve)
    ax.axhline(top, color="#888", linestyle="--", linewidth=1, label=f"top score ({top:.3f})")
    ax.set_xticks(sorted({p.dose for p in curve}))
    ax.set_xlabel("dose: synthetic rows per real image of a class, at most")
    ax.set_ylabel("balanced accuracy on validation")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return figure_png(fig)


def headroom_png(result: RunResult) -> bytes | None:
    """The real rows' learning curve (pooled minority-class recall on validation against the real rows, a
    log2 axis; 95% bootstrap bars), its straight line carried one doubling on, and the valued mix: a star at
    the real rows it was worth, or a bar across at its score where that cannot be told."""
    room = result.headroom
    if room is None:
        return None
    fig = Figure(figsize=(7.5, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    x, y = np.log2(room.real_rows), np.asarray(room.score)
    low, high = np.asarray(room.score_ci).T
    ax.errorbar(room.real_rows, y, yerr=[y - low, high - y], marker="o", capsize=3, color="#4c72b0",
                label="real rows only (cut, then duplicated)")
    reach = np.array([x[0], x[-1] + 1])
    line = y.mean() + room.per_doubling * (reach - x.mean())
    ax.plot(np.exp2(reach), line, linestyle="--", color="#888",
            label=f"{100 * room.per_doubling:+.1f} points per doubling")
    worth = room.worth
    if worth is not None:
        what = "shipped mix" if worth.shipped else "best synthetic point (not shipped)"
        if worth.real_images is not None:
            at = room.real_rows[-1] + worth.real_images
            ax.plot([at], [worth.score], marker="*", markersize=16, color="#d62728", markeredgecolor="#222",
                    linestyle="none", label=f"{what}: worth {worth.real_images:+.0f} real images", zorder=5)
        else:
            ax.axhline(worth.score, color="#d62728", linewidth=1.2, label=f"{what}: worth cannot be told")
    ax.set_xscale("log", base=2)
    ax.set_xticks(room.real_rows, [str(n) for n in room.real_rows])
    ax.set_xlabel("real training rows of the minority classes (log scale)")
    ax.set_ylabel("minority-class recall, validation")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return figure_png(fig)
