"""Flat table rows (lists of plain dicts) for Prefect table artifacts, the CLI and the report.

Rows hold values, not text: ``digits`` rounds them for display, ``None`` keeps them exact so the
HTML and markdown can format from unrounded numbers.
"""
from __future__ import annotations

from gan_aug.report.formatting import round_or_none
from gan_aug.report.funnel import (
    acceptance_status,
    filter_names,
    filter_settings,
    funnel_stages,
    stage_column,
    synthesised,
)

SCORES = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"),
          ("g_mean", "G-mean"))
CLASS_COLUMNS = ("real", "target", "needed", "generated", "accepted", "used", "final", "d_threshold", "fd",
                 "acceptance")
QUALITY_COLUMNS = ("fd", "fd_floor", "fd_ci_low", "fd_ci_high", "fd_matched", "fd_ratio", "acceptance", "kid",
                   "kid_ci_low", "kid_ci_high", "kid_floor", "precision", "recall", "density", "coverage")


def _comparison_name(key: str) -> str:
    """'gan_vs_class_weighted' -> 'gan vs class weighted'."""
    return key.replace("_vs_", " vs ").replace("_", " ")


def _ci_bounds(ci: list | None, digits: int | None) -> tuple:
    return (None, None) if not ci else (round_or_none(ci[0], digits), round_or_none(ci[1], digits))


def downstream_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """One flat row per training method: means over seeds and the balanced accuracy's 95% interval."""
    methods = metrics.get("downstream", {}).get("methods", {})
    rows = []
    for name, scores in methods.items():
        low, high = _ci_bounds(scores.get("ci", {}).get("balanced_accuracy"), digits)
        rows.append({"method": name, **{key: round_or_none(scores.get(key), digits) for key, _ in SCORES},
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
                     "difference": round_or_none(c["mean_diff"], digits), "ci_low": low, "ci_high": high,
                     "p_value": round_or_none(c.get("p_value"), digits),
                     "wins": f"{c['wins']}/{len(c['per_seed'])}"})
    return rows


def gain_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """Difference of means of each GAN method over every baseline, for every headline score."""
    gains = metrics.get("downstream", {}).get("gain", {})
    return [
        {"comparison": _comparison_name(key), **{k: round_or_none(values.get(k), digits) for k, _ in SCORES}}
        for key, values in gains.items()
    ]


def recall_table(metrics: dict) -> tuple[list[str], list[dict]]:
    """Per-class recall, classes down and methods across: where the rare classes gain or lose."""
    methods = metrics.get("downstream", {}).get("methods", {})
    names = list(methods)
    rows = []
    for index, class_name in enumerate(metrics["dataset"]["class_names"]):
        recalls = [methods[m].get("per_class_recall", []) for m in names]
        rows.append({"name": class_name,
                     "recall": [r[index] if index < len(r) else None for r in recalls]})
    return names, rows


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


def filter_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """One flat row per synthesised class: how many candidates survived each filter in the order they
    ran, how many were used, the FD acceptance and each filter's threshold, for artifacts and the CLI."""
    entries, settings = synthesised(metrics), filter_settings(metrics)
    stages, names = funnel_stages(metrics), filter_names(metrics)
    calibrated = [name for name in names
                  if any("calibration" in ((e.get("filters") or {}).get(name) or {}) for e in entries)]
    rows = []
    for entry in entries:
        funnel, filters = entry["funnel"], entry.get("filters") or {}
        row = {"label": entry["label"], "name": entry["name"], "needed": entry.get("needed")}
        row.update({stage_column(stage): funnel.get(stage) for stage in stages})
        row.update(accepted=entry.get("accepted", list(funnel.values())[-1]), used=entry.get("used"),
                   acceptance=acceptance_status(entry, settings),
                   fd_ratio=round_or_none(entry.get("fd_ratio"), digits))
        for name in names:
            threshold = (filters.get(name) or {}).get("threshold")
            if threshold is None and name == "discriminator":
                threshold = entry.get("d_threshold")
            row[f"{name}_threshold"] = round_or_none(threshold, digits)
        row.update({f"{name}_calibration": (filters.get(name) or {}).get("calibration") for name in calibrated})
        rows.append(row)
    return rows


def shard_table_rows(metrics: dict, digits: int | None = 3) -> list[dict]:
    """One row per shard file as written: split, file, rows, size and sha256 (what `gan-aug verify` checks)."""
    files = (metrics.get("shards") or {}).get("files") or []
    return [{"split": f.get("split"), "file": f.get("file"), "rows": f.get("rows"),
             "megabytes": None if f.get("bytes") is None else round_or_none(f["bytes"] / 1e6, digits),
             "sha256": f.get("sha256")}
            for f in files]
