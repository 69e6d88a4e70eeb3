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
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gan_aug.io import atomic_write_text

SCORES = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"),
          ("g_mean", "G-mean"))
CLASS_COLUMNS = ("real", "target", "needed", "generated", "accepted", "used", "final", "d_threshold", "fd",
                 "acceptance")
QUALITY_COLUMNS = ("fd", "fd_floor", "fd_ci_low", "fd_ci_high", "fd_matched", "fd_ratio", "acceptance", "kid",
                   "kid_ci_low", "kid_ci_high", "kid_floor", "precision", "recall", "density", "coverage")
FILTER_TEXT = {
    "discriminator": "the discriminator's score must reach a threshold calibrated on real held-out images of the "
                     "class (a low quantile of their scores, so most real images would pass)",
    "label": "label consistency: the domain classifier's probability for the intended class must be at least τ",
    "memorisation": "a sample whose nearest real training image is closer than a low quantile of "
                    "the real-to-real nearest-neighbour distances is rejected as a near-copy",
}
THRESHOLD_NAMES = {"discriminator": "D threshold", "label": "τ (label)", "memorisation": "memorisation radius"}
CALIBRATION_TEXT = {"val": "the class's held-out images", "pooled": "held-out images of every class",
                    "val+train": "the class's held-out and training images"}
ACCEPTANCE_STATUSES = ("flagged", "dropped", "unjudged")
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


def _interval_text(low: Any, high: Any, signed: bool = False) -> str:
    if low is None or high is None:
        return DASH
    fmt = _fmt_signed if signed else _fmt
    return f"[{fmt(low)}, {fmt(high)}]"


def _round(value: Any, digits: int | None) -> Any:
    """Rows for display are rounded; the report formats from unrounded values (no double rounding)."""
    if value is None or digits is None:
        return value
    return round(float(value), digits)


def _comparison_name(key: str) -> str:
    """'gan_vs_class_weighted' -> 'gan vs class weighted'."""
    return key.replace("_vs_", " vs ").replace("_", " ")


def _ci_bounds(ci: list | None, digits: int | None) -> tuple[Any, Any]:
    return (None, None) if not ci else (_round(ci[0], digits), _round(ci[1], digits))


def downstream_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """One flat row per training method: means over seeds and the balanced accuracy's 95% interval."""
    methods = metrics.get("downstream", {}).get("methods", {})
    rows = []
    for name, scores in methods.items():
        low, high = _ci_bounds(scores.get("ci", {}).get("balanced_accuracy"), digits)
        rows.append({"method": name, **{key: _round(scores.get(key), digits) for key, _ in SCORES},
                     "balanced_accuracy_ci_low": low, "balanced_accuracy_ci_high": high,
                     "train_rows": scores.get("train_rows")})
    return rows


def comparison_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """Each GAN method against the best baseline, seed by seed: the number the whole run is for."""
    downstream = metrics.get("downstream", {})
    rows = []
    for name, c in downstream.get("comparison", {}).items():
        low, high = _ci_bounds(c.get("ci"), digits)
        rows.append({"comparison": f"{name} vs {c['baseline']}", "metric": c["metric"].replace("_", " "),
                     "difference": _round(c["mean_diff"], digits), "ci_low": low, "ci_high": high,
                     "p_value": _round(c.get("p_value"), digits),
                     "wins": f"{c['wins']}/{len(c['per_seed'])}"})
    return rows


def gain_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """Difference of means of each GAN method over every baseline, for every headline score."""
    gains = metrics.get("downstream", {}).get("gain", {})
    return [
        {"comparison": _comparison_name(key), **{k: _round(values.get(k), digits) for k, _ in SCORES}}
        for key, values in gains.items()
    ]


def class_table_rows(metrics: dict) -> list[dict]:
    """One flat row per class; `short_by` > 0 flags a class left short (budget ran out, or rows dropped)."""
    rows = []
    for entry in metrics["classes"]:
        row = {"label": entry["label"], "name": entry["name"]}
        row.update({key: entry.get(key) for key in CLASS_COLUMNS})
        row["short_by"] = max(int(entry["target"]) - int(entry["final"]), 0)
        rows.append(row)
    return rows


def quality_table_rows(metrics: dict) -> list[dict]:
    """Synthesised classes, dropped ones included (their rows are gone, not their numbers): each
    distance beside its real-vs-real floor, for tables and artifacts."""
    return [{"label": entry["label"], "name": entry["name"], "real": entry["real"], "used": entry["used"],
             **{key: entry.get(key) for key in QUALITY_COLUMNS}}
            for entry in metrics["classes"] if entry.get("fd") is not None or entry.get("funnel")]


def _filter_settings(metrics: dict) -> dict:
    """The run's filter settings; metrics written before the filters were reported have none."""
    return metrics.get("filters") or {}


def _synthesised(metrics: dict) -> list[dict]:
    """Classes whose candidates went through the filters: those with a funnel."""
    return [entry for entry in metrics["classes"] if entry.get("funnel")]


def _funnel_stages(metrics: dict) -> list[str]:
    """Every stage in the order the filters ran ('generated' first); a class lacking one shows a dash."""
    stages: list[str] = []
    for entry in _synthesised(metrics):
        stages += [stage for stage in entry["funnel"] if stage not in stages]
    return stages


def _filter_names(metrics: dict) -> list[str]:
    """The filters in the order they ran: as the run recorded it, else as the funnels show it."""
    order = _filter_settings(metrics).get("order")
    return list(order) if order else [stage for stage in _funnel_stages(metrics) if stage != "generated"]


def _stage_column(stage: str) -> str:
    """A row already has a 'label' (the class): the label filter's count is 'passed_label'."""
    return stage if stage == "generated" else f"passed_{stage}"


def _status(entry: dict, settings: dict) -> str | None:
    """The class's FD acceptance; older metrics may only list the labels at the top level."""
    if entry.get("acceptance"):
        return entry["acceptance"]
    return next((status for status in ACCEPTANCE_STATUSES if entry["label"] in settings.get(status, ())), None)


def _acceptance_reason(entry: dict, settings: dict) -> str:
    """Why a class was judged as it was: its matched FD / floor ratio against the limit."""
    status, ratio, limit = _status(entry, settings), entry.get("fd_ratio"), settings.get("fd_max_ratio")
    against = f"matched FD / floor {_fmt(ratio, 2)}"
    if status in ("flagged", "dropped"):
        against += f" > limit {_fmt(limit, 1)}" if limit is not None else " above the limit"
        return against + ("; policy warn: rows kept" if status == "flagged"
                          else "; policy drop: synthetic rows removed")
    if status == "unjudged":
        minimum = settings.get("fd_min_real")
        return (f"{entry['real']} real images, fewer than the {minimum} needed to judge" if minimum is not None
                else "too few real images to judge")
    if status == "ok" and ratio is not None:
        return against + (f" ≤ limit {_fmt(limit, 1)}" if limit is not None else "")
    return ""


def filter_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """One flat row per synthesised class: how many candidates survived each filter in the order they
    ran, how many were used, the FD acceptance and each filter's threshold, for artifacts and the CLI."""
    entries, settings = _synthesised(metrics), _filter_settings(metrics)
    stages, names = _funnel_stages(metrics), _filter_names(metrics)
    calibrated = [name for name in names
                  if any("calibration" in ((e.get("filters") or {}).get(name) or {}) for e in entries)]
    rows = []
    for entry in entries:
        funnel, filters = entry["funnel"], entry.get("filters") or {}
        row = {"label": entry["label"], "name": entry["name"], "needed": entry.get("needed")}
        row.update({_stage_column(stage): funnel.get(stage) for stage in stages})
        row.update(accepted=entry.get("accepted", list(funnel.values())[-1]), used=entry.get("used"),
                   acceptance=_status(entry, settings), fd_ratio=_round(entry.get("fd_ratio"), digits))
        for name in names:
            threshold = (filters.get(name) or {}).get("threshold")
            if threshold is None and name == "discriminator":
                threshold = entry.get("d_threshold")
            row[f"{name}_threshold"] = _round(threshold, digits)
        row.update({f"{name}_calibration": (filters.get(name) or {}).get("calibration") for name in calibrated})
        rows.append(row)
    return rows


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
        rows = [[r["method"], *(_fmt(r[k]) for k, _ in SCORES),
                 _interval_text(r["balanced_accuracy_ci_low"], r["balanced_accuracy_ci_high"]), _fmt(r["train_rows"])]
                for r in downstream]
        parts += ["## Downstream classifier (means over seeds)",
                  _md_table(["method", *labels, "balanced acc. 95% interval", "train rows"], rows)]
    comparisons = comparison_table_rows(metrics, digits=None)
    if comparisons:
        rows = [[c["comparison"], _fmt_signed(c["difference"]), _interval_text(c["ci_low"], c["ci_high"], signed=True),
                 _fmt(c["p_value"], 3), c["wins"]] for c in comparisons]
        parts += ["## GAN against the best baseline (balanced accuracy, paired over seeds)",
                  _md_table(["comparison", "difference", "95% interval", "p", "seeds won"], rows)]
    parts.append(_class_markdown(metrics))
    funnel = _filter_markdown(metrics)
    if funnel:
        parts.append(funnel)
    return "\n\n".join(parts) + "\n"


def _class_markdown(metrics: dict) -> str:
    """The per-class table, and which classes the generation budget left short."""
    classes = class_table_rows(metrics)
    header = ["label", "name", "real", "target", "generated", "accepted", "used", "final", "D threshold", "FD"]
    rows = [[_fmt(c["label"]), c["name"], *(_fmt(c[k]) for k in header[2:8]),
             _fmt(c["d_threshold"]), _fmt(c["fd"], 2)] for c in classes]
    parts = ["## Per class", _md_table(header, rows, text_columns=2)]
    short = [f"{_md_cell(c['name'])} ({c['short_by']})" for c in classes
             if c["short_by"] and c["acceptance"] != "dropped"]
    if short:
        parts.append("Short of target (generation budget ran out): " + ", ".join(short) + ".")
    return "\n\n".join(parts)


def _share(count: Any, total: Any) -> str:
    """Share of the generated candidates: '35%'; never a misleading 0% or 100%."""
    if count is None or not total:
        return ""
    share = 100.0 * float(count) / float(total)
    return "<1%" if 0 < share < 1 else (">99%" if 99 < share < 100 else f"{share:.0f}%")


def _funnel_cells(funnel: dict, stages: list[str]) -> list[dict]:
    """Each stage's count with its share of the generated candidates and of those that reached it."""
    cells, total, before = [], funnel.get(stages[0]) if stages else None, None
    for index, stage in enumerate(stages):
        count = funnel.get(stage)
        share = _share(count, total) if index else ""
        text = f"{_fmt(count)} ({share})" if share else _fmt(count)
        title = (f"{_share(count, before)} of the {before} that reached this filter"
                 if index and count is not None and before else "")
        cells.append({"text": text, "title": title})
        before = count if count is not None else before
    return cells


def _filter_markdown(metrics: dict) -> str:
    """The funnel per synthesised class, and which classes FD acceptance flagged, dropped or left unjudged."""
    entries, settings = _synthesised(metrics), _filter_settings(metrics)
    if not entries:
        return ""
    stages = _funnel_stages(metrics)
    header = ["label", "name", "needed", *(s if s == "generated" else f"passed {s}" for s in stages), "used",
              "FD ratio", "acceptance"]
    rows = [[_fmt(e["label"]), e["name"], _fmt(e.get("needed")),
             *(cell["text"] for cell in _funnel_cells(e["funnel"], stages)), _fmt(e.get("used")),
             _fmt(e.get("fd_ratio"), 2), _status(e, settings) or DASH] for e in entries]
    parts = ["## Filters", "Filters in order: " + " → ".join(_filter_names(metrics)) + ".",
             _md_table(header, rows, text_columns=2)]
    for status in ACCEPTANCE_STATUSES:
        named = [e for e in entries if _status(e, settings) == status]
        if named:
            listed = "; ".join(f"{_md_cell(e['name'])} ({_md_cell(_acceptance_reason(e, settings))})" for e in named)
            parts.append(f"FD acceptance {status}: {listed}.")
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


def funnel_png(metrics: dict) -> bytes | None:
    """Per synthesised class, one row of overlaid bars: the candidates left after each filter (darker is
    later), the rows used, and a tick at the number needed; classes FD acceptance did not pass in red."""
    entries, settings = _synthesised(metrics), _filter_settings(metrics)
    if not entries:
        return None
    stages = _funnel_stages(metrics)
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
    statuses = [_status(e, settings) for e in entries]
    ax.set_yticks(y, [f"{e['label']}: {_plain_text(e['name'])}" + (f" ({s})" if s in ACCEPTANCE_STATUSES else "")
                      for e, s in zip(entries, statuses)], fontsize=8)
    for tick, status in zip(ax.get_yticklabels(), statuses):
        tick.set_color({"flagged": "#b42318", "dropped": "#b42318", "unjudged": "#777"}.get(status, "#222"))
    ax.invert_yaxis()
    ax.set_xlabel("candidates")
    handles, labels = ax.get_legend_handles_labels()  # bars in funnel order, the 'needed' tick last
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "needed")
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside upper center",
               ncols=min(len(labels), 6), fontsize=8, frameon=False)
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


def _grids(metrics: dict, real_images: dict, synthetic_images: dict, rejected_images: dict) -> list[dict]:
    """Per class: a real grid and, where samples were made, a synthetic one, side by side, then what
    each filter rejected (filters in the order they ran)."""
    names = _filter_names(metrics)
    grids = []
    for entry in metrics["classes"]:
        label = int(entry["label"])
        uris = {}
        for kind, images in (("real", real_images), ("synthetic", synthetic_images)):
            png = sample_grid_png(images[label]) if label in images else None
            uris[kind] = _png_data_uri(png) if png else None
        by_filter = rejected_images.get(label) or {}
        rejected = []
        for name in sorted(by_filter, key=lambda n: names.index(n) if n in names else len(names)):
            png = sample_grid_png(by_filter[name])
            if png:
                rejected.append({"filter": name, "uri": _png_data_uri(png)})
        grids.append({"label": label, "name": entry["name"], **uris, "rejected": rejected})
    return grids


def _threshold_text(settings: dict, fallback: Any = None) -> str:
    """'0.120 (q 0.05; val, 13 images)': the threshold with how it was calibrated."""
    threshold = settings.get("threshold", fallback)
    details = []
    if settings.get("quantile") is not None:
        details.append(f"q {_fmt(settings['quantile'], 2)}")
    if settings.get("calibration"):
        source = str(settings["calibration"])
        if settings.get("calibration_images") is not None:
            source += f", {_fmt(settings['calibration_images'])} images"
        details.append(source)
    return _fmt(threshold) + (f" ({'; '.join(details)})" if details and threshold is not None else "")


def _filters_view(metrics: dict) -> dict | None:
    """The Filters section: what each filter does, in order, and per class its funnel and thresholds."""
    entries, settings = _synthesised(metrics), _filter_settings(metrics)
    if not entries:
        return None
    stages, names = _funnel_stages(metrics), _filter_names(metrics)
    rows = []
    for entry in entries:
        filters = entry.get("filters") or {}
        rows.append({
            "label": entry["label"], "name": entry["name"], "needed": entry.get("needed"),
            "cells": _funnel_cells(entry["funnel"], stages), "used": entry.get("used"),
            "status": _status(entry, settings), "reason": _acceptance_reason(entry, settings),
            "thresholds": [_threshold_text(filters.get(name) or {},
                                           entry.get("d_threshold") if name == "discriminator" else None)
                           for name in names]})
    sources = sorted({str(((e.get("filters") or {}).get("discriminator") or {}).get("calibration"))
                      for e in entries} & set(CALIBRATION_TEXT))
    plot = funnel_png(metrics)
    return {"order": [{"name": name, "text": FILTER_TEXT.get(name, name)} for name in names],
            "stages": [s if s == "generated" else f"passed {s}" for s in stages],
            "threshold_names": [THRESHOLD_NAMES.get(name, f"{name} threshold") for name in names],
            "calibrations": [f"{source}: {CALIBRATION_TEXT[source]}" for source in sources],
            "policy": settings.get("fd_policy"), "max_ratio": settings.get("fd_max_ratio"),
            "min_real": settings.get("fd_min_real"), "rows": rows, "plot": _png_data_uri(plot) if plot else None}


@functools.lru_cache(maxsize=1)
def _template() -> Template:
    """The shipped template, autoescaped: class names and run names come from users."""
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_fmt, signed=_fmt_signed)
    text = (resources.files("gan_aug") / "templates" / "report.html.j2").read_text(encoding="utf-8")
    return env.from_string(text)


def render_report(metrics: dict, real_images: dict[int, np.ndarray],
                  synthetic_images: dict[int, np.ndarray], out_path: str | Path, *,
                  rejected_images: dict[int, dict[str, np.ndarray]] | None = None) -> Path:
    """Write the run's report as one self-contained HTML file (images inline), atomically.

    ``rejected_images``: per class, per filter, a few uint8 N×C×H×W samples that filter rejected.
    """
    recall_methods, recall_rows = _recall_rows(metrics)
    curves = training_curves_png(metrics)
    settings = _filter_settings(metrics)
    quality = [{**row, "reason": _acceptance_reason(row, settings), "acceptance": _status(row, settings)}
               for row in quality_table_rows(metrics)]
    html = _template().render(
        run=metrics["run"], dataset=metrics["dataset"], shards=metrics.get("shards", {}),
        classes=class_table_rows(metrics), quality=quality, filters=_filters_view(metrics),
        downstream=downstream_table_rows(metrics, None),
        comparisons=comparison_table_rows(metrics, None), evaluation=metrics.get("downstream", {}),
        gains=gain_table_rows(metrics, None), scores=SCORES, recall_methods=recall_methods,
        recall_rows=recall_rows, distribution=_png_data_uri(distribution_png(metrics)),
        grids=_grids(metrics, real_images, synthetic_images, rejected_images or {}),
        curves=_png_data_uri(curves) if curves else None, training=metrics.get("training", {}),
    )
    return atomic_write_text(out_path, html)
