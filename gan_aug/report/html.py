"""The run's report as one self-contained HTML file: the template's views built from the metrics,
every image inline as a PNG data URI, written atomically.

The template ships in gan_aug/templates (package data) and is autoescaped: run names, class names and
file names come from users.
"""
from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import numpy as np
from jinja2 import Environment, StrictUndefined, Template

from gan_aug.data.imageset import ImageSet
from gan_aug.io import atomic_write_text
from gan_aug.report.formatting import fmt, fmt_short, fmt_signed, png_data_uri
from gan_aug.report.funnel import (
    CALIBRATION_TEXT,
    FILTER_TEXT,
    THRESHOLD_NAMES,
    acceptance_reason,
    acceptance_status,
    asked,
    filter_names,
    filter_settings,
    funnel_cells,
    funnel_stages,
    synthesised,
    threshold_cell,
)
from gan_aug.report.plots import confusion_matrices, confusion_png, funnel_png, sample_grid_png, training_curves_png
from gan_aug.report.provenance import provenance_view
from gan_aug.report.tables import (
    SCORES,
    class_table_rows,
    comparison_table_rows,
    downstream_table_rows,
    gain_table_rows,
    quality_table_rows,
    recall_table,
)
from gan_aug.report.views import (
    few_shot_view,
    methods_text,
    mix_view,
    training_view,
    usefulness_view,
    verdict_view,
)
from gan_aug.synthetic import SyntheticSet

TEMPLATE_PACKAGE, TEMPLATE_NAME = "gan_aug", "report.html.j2"  # gan_aug/templates/, shipped as package data


def _grids(metrics: dict, real_images: dict, synthetic_images: dict, rejected_images: dict) -> list[dict]:
    """Per class: a real grid and, where samples were made, a synthetic one, side by side, then what
    each filter rejected (filters in the order they ran)."""
    names = filter_names(metrics)
    grids = []
    for entry in metrics["classes"]:
        label = int(entry["label"])
        uris = {}
        for kind, images in (("real", real_images), ("synthetic", synthetic_images)):
            png = sample_grid_png(images[label]) if label in images else None
            uris[kind] = png_data_uri(png) if png else None
        by_filter = rejected_images.get(label) or {}
        rejected = []
        for name in sorted(by_filter, key=lambda n: names.index(n) if n in names else len(names)):
            png = sample_grid_png(by_filter[name])
            if png:
                rejected.append({"filter": name, "uri": png_data_uri(png)})
        grids.append({"label": label, "name": entry["name"], **uris, "rejected": rejected})
    return grids


def _filters_view(metrics: dict) -> dict | None:
    """The Filters section: what each filter does, in order, and per class its funnel and thresholds."""
    entries, settings = synthesised(metrics), filter_settings(metrics)
    if not entries:
        return None
    stages, names = funnel_stages(metrics), filter_names(metrics)
    rows = []
    for entry in entries:
        filters = entry.get("filters") or {}
        rows.append({
            "label": entry["label"], "name": entry["name"], "asked": asked(entry),
            "cells": funnel_cells(entry["funnel"], stages), "used": entry.get("used"),
            "status": acceptance_status(entry, settings), "reason": acceptance_reason(entry, settings),
            "thresholds": [threshold_cell(filters.get(name) or {},
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
            "min_real": settings.get("fd_min_real"), "rows": rows, "plot": png_data_uri(plot) if plot else None,
            "dropped": [f"{row['label']} ({row['name']})" for row in rows if row["status"] == "dropped"]}


def _confusion_view(metrics: dict) -> dict | None:
    """The confusion small multiples and the methods they show, in panel order."""
    png = confusion_png(metrics)
    return None if png is None else {"uri": png_data_uri(png), "methods": list(confusion_matrices(metrics))}


@functools.lru_cache(maxsize=1)
def _template() -> Template:
    """The shipped template, autoescaped: class names and run names come from users."""
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt, signed=fmt_signed, g=fmt_short)
    text = (resources.files(TEMPLATE_PACKAGE) / "templates" / TEMPLATE_NAME).read_text(encoding="utf-8")
    return env.from_string(text)


def render_report(metrics: dict, real_images: dict[int, np.ndarray],
                  synthetic_images: dict[int, np.ndarray], out_path: str | Path, *,
                  rejected_images: dict[int, dict[str, np.ndarray]] | None = None) -> Path:
    """Write the run's report as one self-contained HTML file (images inline), atomically.

    ``rejected_images``: per class, per filter, a few uint8 N×C×H×W samples that filter rejected.
    """
    recall_methods, recall_rows = recall_table(metrics)
    curves = training_curves_png(metrics)
    settings = filter_settings(metrics)
    quality = [{**row, "reason": acceptance_reason(row, settings), "acceptance": acceptance_status(row, settings)}
               for row in quality_table_rows(metrics)]
    html = _template().render(
        run=metrics["run"], dataset=metrics["dataset"], shards=metrics.get("shards") or {},
        verdict=verdict_view(metrics), classes=class_table_rows(metrics), quality=quality,
        filters=_filters_view(metrics), downstream=downstream_table_rows(metrics, None),
        comparisons=comparison_table_rows(metrics, None), evaluation=metrics.get("downstream", {}),
        methods=methods_text(metrics), few_shot=few_shot_view(metrics),
        gains=gain_table_rows(metrics, None), scores=SCORES, recall_methods=recall_methods,
        recall_rows=recall_rows, confusion=_confusion_view(metrics), usefulness=usefulness_view(metrics),
        mix=mix_view(metrics), grids=_grids(metrics, real_images, synthetic_images, rejected_images or {}),
        curves=png_data_uri(curves) if curves else None, training=metrics.get("training", {}),
        stops=training_view(metrics), provenance=provenance_view(metrics),
    )
    return atomic_write_text(out_path, html)


def render_run_report(metrics: dict, train: ImageSet, accepted: SyntheticSet, out_path: str | Path, *,
                      rejected_images: dict[int, dict[str, np.ndarray]] | None = None) -> Path:
    """The report of a run: its real training images and accepted synthetic rows, grouped by class."""
    real = {label: train.of_class(label) for label in range(train.num_classes)}
    synthetic = {int(label): accepted.images[accepted.labels == label] for label in np.unique(accepted.labels)}
    return render_report(metrics, real, synthetic, out_path, rejected_images=rejected_images)
