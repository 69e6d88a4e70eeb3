"""The run's report: one self-contained HTML file, a markdown summary and flat table rows.

Everything here reads the metrics dict (the metrics.json schema), so the HTML report, the Prefect
artifacts and the CLI show the same numbers.
"""
from __future__ import annotations

import base64
import functools
import io
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, StrictUndefined, Template
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gan_aug.io import atomic_write_text

SCORES = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"))
CLASS_COLUMNS = ("real", "target", "needed", "generated", "accepted", "used", "final", "d_threshold", "fd")
DASH = "—"
MAX_GRID_SAMPLES = 16
MIN_GRID_PX = 32


def _fmt(value: Any, digits: int = 3) -> str:
    """Numbers as the reader wants them: ints whole, floats rounded, missing values as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def _fmt_signed(value: Any, digits: int = 3) -> str:
    """Gains carry their sign, so a loss is never mistaken for a gain."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{float(value):+.{digits}f}"


def _round(value: Any, digits: int | None) -> Any:
    """Rows for display are rounded; the report formats from unrounded values (no double rounding)."""
    if value is None or digits is None:
        return value
    return round(float(value), digits)


def _comparison_name(key: str) -> str:
    """'augmented_vs_real' -> 'augmented vs real'."""
    return key.replace("_vs_", " vs ").replace("_", " ")


def downstream_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """One flat row per training method (real, oversampled, augmented), for artifacts and the CLI."""
    methods = metrics.get("downstream", {}).get("methods", {})
    return [
        {"method": name, **{key: _round(scores.get(key), digits) for key, _ in SCORES},
         "train_rows": scores.get("train_rows")}
        for name, scores in methods.items()
    ]


def gain_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """One flat row per comparison (augmented vs real, ...): the number the whole run is for."""
    gains = metrics.get("downstream", {}).get("gain", {})
    return [
        {"comparison": _comparison_name(key), **{k: _round(values.get(k), digits) for k, _ in SCORES}}
        for key, values in gains.items()
    ]


def class_table_rows(metrics: dict) -> list[dict]:
    """One flat row per class; `short_by` > 0 flags a class the generation budget left short."""
    rows = []
    for entry in metrics["classes"]:
        row = {"label": entry["label"], "name": entry["name"]}
        row.update({key: entry.get(key) for key in CLASS_COLUMNS})
        row["short_by"] = max(int(entry["target"]) - int(entry["final"]), 0)
        rows.append(row)
    return rows


def quality_table_rows(metrics: dict) -> list[dict]:
    """Synthesised classes only: each distance beside its real-vs-real floor, for tables and artifacts."""
    keys = ("fd", "fd_floor", "fd_ci_low", "fd_ci_high", "kid", "kid_floor", "precision", "recall",
            "density", "coverage")
    return [{"label": entry["label"], "name": entry["name"], "real": entry["real"], "used": entry["used"],
             **{key: entry.get(key) for key in keys}}
            for entry in metrics["classes"] if entry.get("used")]


def _recall_rows(metrics: dict) -> tuple[list[str], list[dict]]:
    """Per-class recall, classes down and methods across: where the rare classes gain or lose."""
    methods = metrics.get("downstream", {}).get("methods", {})
    names = list(methods)
    rows = []
    for index, class_name in enumerate(metrics["dataset"]["class_names"]):
        recalls = [methods[m].get("per_class_recall", []) for m in names]
        rows.append({"name": class_name,
                     "recall": [r[index] if index < len(r) else None for r in recalls]})
    return names, rows


def _md_cell(value: Any) -> str:
    """Class names come from the user's data: keep them from breaking the table or injecting HTML."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    align = [":---"] * text_columns + ["---:"] * (len(header) - text_columns)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(_md_cell(c) for c in line) + " |" for line in lines)


def summary_markdown(metrics: dict) -> str:
    """The report's key numbers as markdown: downstream scores, gains and the per-class table."""
    run, shards = metrics["run"], metrics.get("shards", {})
    parts = [f"# gan-aug run {_md_cell(run['name'])}",
             f"Synthetic rows: {shards.get('synthetic_rows', DASH)} of {shards.get('rows', DASH)} "
             "(flagged `is_synthetic` in the shards; test data is real only)."]
    labels = [label for _, label in SCORES]
    downstream = downstream_table_rows(metrics, digits=None)
    if downstream:
        rows = [[r["method"], *(_fmt(r[k]) for k, _ in SCORES), _fmt(r["train_rows"])] for r in downstream]
        parts += ["## Downstream classifier", _md_table(["method", *labels, "train rows"], rows)]
    gains = gain_table_rows(metrics, digits=None)
    if gains:
        rows = [[g["comparison"], *(_fmt_signed(g[k]) for k, _ in SCORES)] for g in gains]
        parts += ["## Gains", _md_table(["comparison", *labels], rows)]
    return "\n\n".join([*parts, _class_markdown(metrics)]) + "\n"


def _class_markdown(metrics: dict) -> str:
    """The per-class table, and which classes the generation budget left short."""
    classes = class_table_rows(metrics)
    header = ["label", "name", "real", "target", "generated", "accepted", "used", "final", "D threshold", "FD"]
    rows = [[_fmt(c["label"]), c["name"], *(_fmt(c[k]) for k in header[2:8]),
             _fmt(c["d_threshold"]), _fmt(c["fd"], 2)] for c in classes]
    parts = ["## Per class", _md_table(header, rows, text_columns=2)]
    short = [f"{_md_cell(c['name'])} ({c['short_by']})" for c in classes if c["short_by"]]
    if short:
        parts.append("Short of target (generation budget ran out): " + ", ".join(short) + ".")
    return "\n\n".join(parts)


def _png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure_png(fig: Figure) -> bytes:
    """Render through the Agg canvas directly: no pyplot, so no global backend or figure state."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def _plain_text(name: str) -> str:
    """Matplotlib reads paired '$' as mathtext; class names are plain text."""
    return str(name).replace("$", r"\$")


def distribution_png(metrics: dict) -> bytes:
    """Class counts before (real only) and after (real + synthetic stacked), with the target line."""
    classes = metrics["classes"]
    names = [_plain_text(c["name"]) for c in classes]
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
    return _figure_png(fig)


def training_curves_png(metrics: dict) -> bytes | None:
    """Per trained GAN: discriminator and generator losses, and each watched class's FD on held-out
    images at every check, with the check whose weights the class is sampled from marked."""
    runs = metrics.get("training", {}).get("runs", {})
    runs = {name: run for name, run in runs.items() if run.get("history")}
    if not runs:
        return None
    names = {str(c["label"]): _plain_text(c["name"]) for c in metrics["classes"]}
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
    return _figure_png(fig)


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


def _grids(metrics: dict, real_images: dict, synthetic_images: dict) -> list[dict]:
    """Per class: a real grid and, where samples were made, a synthetic one, side by side."""
    grids = []
    for entry in metrics["classes"]:
        label = int(entry["label"])
        uris = {}
        for kind, images in (("real", real_images), ("synthetic", synthetic_images)):
            png = sample_grid_png(images[label]) if label in images else None
            uris[kind] = _png_data_uri(png) if png else None
        grids.append({"label": label, "name": entry["name"], **uris})
    return grids


@functools.lru_cache(maxsize=1)
def _template() -> Template:
    """The shipped template, autoescaped: class names and run names come from users."""
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_fmt, signed=_fmt_signed)
    text = (resources.files("gan_aug") / "templates" / "report.html.j2").read_text(encoding="utf-8")
    return env.from_string(text)


def render_report(metrics: dict, real_images: dict[int, np.ndarray],
                  synthetic_images: dict[int, np.ndarray], out_path: str | Path) -> Path:
    """Write the run's report as one self-contained HTML file (images inline), atomically."""
    recall_methods, recall_rows = _recall_rows(metrics)
    curves = training_curves_png(metrics)
    html = _template().render(
        run=metrics["run"], dataset=metrics["dataset"], shards=metrics.get("shards", {}),
        classes=class_table_rows(metrics), quality=quality_table_rows(metrics),
        downstream=downstream_table_rows(metrics, None),
        gains=gain_table_rows(metrics, None), scores=SCORES, recall_methods=recall_methods,
        recall_rows=recall_rows, distribution=_png_data_uri(distribution_png(metrics)),
        grids=_grids(metrics, real_images, synthetic_images), curves=_png_data_uri(curves) if curves else None,
        training=metrics.get("training", {}),
    )
    return atomic_write_text(out_path, html)
