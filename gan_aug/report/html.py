"""The run's report as one self-contained HTML file: the template's views built from the run's result,
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
    funnel_cells,
    funnel_stages,
    synthesised,
    threshold,
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
from gan_aug.run_result import RunResult
from gan_aug.synthetic import SyntheticSet

TEMPLATE_PACKAGE, TEMPLATE_NAME = "gan_aug", "report.html.j2"  # gan_aug/templates/, shipped as package data


def _grids(result: RunResult, real_images: dict, synthetic_images: dict, rejected_images: dict) -> list[dict]:
    """Per class: a real grid and, where samples were made, a synthetic one, side by side, then what
    each filter rejected (filters in the order they ran)."""
    names = result.filters.order
    grids = []
    for entry in result.classes:
        uris = {}
        for kind, images in (("real", real_images), ("synthetic", synthetic_images)):
            png = sample_grid_png(images[entry.label]) if entry.label in images else None
            uris[kind] = png_data_uri(png) if png else None
        by_filter = rejected_images.get(entry.label) or {}
        rejected = []
        for name in sorted(by_filter, key=lambda n: names.index(n) if n in names else len(names)):
            png = sample_grid_png(by_filter[name])
            if png:
                rejected.append({"filter": name, "uri": png_data_uri(png)})
        grids.append({"label": entry.label, "name": entry.name, **uris, "rejected": rejected})
    return grids


def _filters_view(result: RunResult) -> dict | None:
    """The Filters section: what each filter does, in order, and per class its funnel and thresholds."""
    entries, settings = synthesised(result), result.filters
    if not entries:
        return None
    stages, names = funnel_stages(result), settings.order
    rows = [{"label": entry.label, "name": entry.name, "asked": entry.asked,
             "cells": funnel_cells(entry.funnel, stages), "used": entry.used, "status": entry.acceptance,
             "reason": acceptance_reason(entry, settings),
             "thresholds": [threshold_cell((entry.filters or {}).get(name) or {}, threshold(entry, name))
                            for name in names]}
            for entry in entries]
    sources = sorted({str(((e.filters or {}).get(name) or {}).get("calibration")) for e in entries for name in names}
                     & set(CALIBRATION_TEXT))
    plot = funnel_png(result)
    return {"order": [{"name": name, "text": FILTER_TEXT.get(name, name)} for name in names],
            "stages": [s if s == "generated" else f"passed {s}" for s in stages],
            "threshold_names": [THRESHOLD_NAMES.get(name, f"{name} threshold") for name in names],
            "calibrations": [f"{source}: {CALIBRATION_TEXT[source]}" for source in sources],
            "policy": settings.fd_policy, "max_ratio": settings.fd_max_ratio,
            "min_real": settings.fd_min_real, "rows": rows, "plot": png_data_uri(plot) if plot else None,
            "dropped": [f"{row['label']} ({row['name']})" for row in rows if row["status"] == "dropped"]}


def _confusion_view(result: RunResult) -> dict | None:
    """The confusion small multiples and the methods they show, in panel order."""
    png = confusion_png(result)
    return None if png is None else {"uri": png_data_uri(png), "methods": list(confusion_matrices(result))}


@functools.lru_cache(maxsize=1)
def _template() -> Template:
    """The shipped template, autoescaped: class names and run names come from users."""
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt, signed=fmt_signed, g=fmt_short)
    text = (resources.files(TEMPLATE_PACKAGE) / "templates" / TEMPLATE_NAME).read_text(encoding="utf-8")
    return env.from_string(text)


def render_report(result: RunResult, real_images: dict[int, np.ndarray],
                  synthetic_images: dict[int, np.ndarray], out_path: str | Path, *,
                  rejected_images: dict[int, dict[str, np.ndarray]] | None = None) -> Path:
    """Write the run's report as one self-contained HTML file (images inline), atomically.

    ``rejected_images``: per class, per filter, a few uint8 N×C×H×W samples that filter rejected.
    """
    recall_methods, recall_rows = recall_table(result)
    curves = training_curves_png(result)
    quality = [{**row, "reason": acceptance_reason(result.classes[row["label"]], result.filters)}
               for row in quality_table_rows(result)]
    html = _template().render(
        run=result.run, dataset=result.dataset, shards=result.shards,
        verdict=verdict_view(result), classes=class_table_rows(result), quality=quality,
        filters=_filters_view(result), downstream=downstream_table_rows(result, None),
        comparisons=comparison_table_rows(result, None), evaluation=result.downstream,
        methods=methods_text(result), few_shot=few_shot_view(result),
        gains=gain_table_rows(result, None), scores=SCORES, recall_methods=recall_methods,
        recall_rows=recall_rows, confusion=_confusion_view(result), usefulness=usefulness_view(result),
        mix=mix_view(result), grids=_grids(result, real_images, synthetic_images, rejected_images or {}),
        curves=png_data_uri(curves) if curves else None, training=result.training,
        stops=training_view(result), provenance=provenance_view(result),
    )
    return atomic_write_text(out_path, html)


def render_run_report(result: RunResult, train: ImageSet, accepted: SyntheticSet, out_path: str | Path, *,
                      rejected_images: dict[int, dict[str, np.ndarray]] | None = None) -> Path:
    """The report of a run: its real training images and accepted synthetic rows, grouped by class."""
    real = {label: train.of_class(label) for label in range(train.num_classes)}
    synthetic = {int(label): accepted.images[accepted.labels == label] for label in np.unique(accepted.labels)}
    return render_report(result, real, synthetic, out_path, rejected_images=rejected_images)
