"""Flat table rows (lists of plain dicts) for Prefect table artifacts, the CLI and the report.

Rows hold values, not text: ``digits`` rounds them for display, ``None`` keeps them exact so the
HTML and markdown can format from unrounded numbers.
"""
from __future__ import annotations

from gan_aug.report.formatting import round_or_none
from gan_aug.report.funnel import (
    acceptance_status,
    asked,
    filter_names,
    filter_settings,
    funnel_stages,
    stage_column,
    synthesised,
)
from gan_aug.report.verdict import COMPARED, outcome

SCORES = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"),
          ("g_mean", "G-mean"), ("few_shot_recall", "few-shot recall"))
# used: synthetic rows shipped; duplicates: real rows duplicated (flagged) up to the target.
CLASS_COLUMNS = ("real", "target", "needed", "asked", "generated", "accepted", "used", "duplicates", "final", "dose",
                 "d_threshold", "fd", "acceptance")
USEFULNESS_COLUMNS = ("label_agreement", "filter_val_recall", "cas", "real_recall", "fd_ratio")
MIX_COLUMNS = ("dose", "weight", "synthetic_rows", "balanced_accuracy", "vs_top", "standard_error", "within_noise")
OUTCOME_TEXT = {"win": "win", "loss": "loss", "tie": "tie", "unknown": "no interval"}  # tie: the interval holds 0
QUALITY_COLUMNS = ("fd", "fd_floor", "fd_ci_low", "fd_ci_high", "fd_matched", "fd_ratio", "acceptance", "kid",
                   "kid_ci_low", "kid_ci_high", "kid_floor", "precision", "recall", "density", "coverage")


def _comparison_name(key: str) -> str:
    """'gan_vs_class_weighted' -> 'gan vs class weighted'."""
    return key.replace("_vs_", " vs ").replace("_", " ")


def _ci_bounds(ci: list | None, digits: int | None) -> tuple:
    return (None, None) if not ci else (round_or_none(ci[0], digits), round_or_none(ci[1], digits))


def downstream_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """One flat row per training method: means over seeds, and the 95% intervals of balanced accuracy and
    few-shot recall (the mean recall of the rarest classes)."""
    methods = metrics.get("downstream", {}).get("methods", {})
    rows = []
    for name, scores in methods.items():
        row = {"method": name, **{key: round_or_none(scores.get(key), digits) for key, _ in SCORES}}
        for key in ("balanced_accuracy", "few_shot_recall"):
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = _ci_bounds(scores.get("ci", {}).get(key), digits)
        rows.append({**row, "train_rows": scores.get("train_rows")})
    return rows


def comparison_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """Each GAN method against the best baseline, seed by seed, in balanced accuracy and then few-shot
    recall: the numbers the whole run is for. ``outcome`` is a win or loss only when the interval
    excludes 0."""
    downstream = metrics.get("downstream", {})
    rows = []
    for name, main in downstream.get("comparison", {}).items():
        parts = {main.get("metric", "balanced_accuracy"): main, "few_shot_recall": main.get("few_shot_recall")}
        for key, metric in COMPARED:
            c = parts.get(key)
            if not c:
                continue
            low, high = _ci_bounds(c.get("ci"), digits)
            rows.append({"comparison": f"{name} vs {main['baseline']}", "metric": metric,
                         "difference": round_or_none(c["mean_diff"], digits), "ci_low": low, "ci_high": high,
                         "p_value": round_or_none(c.get("p_value"), digits),
                         "wins": f"{c['wins']}/{len(c['per_seed'])}", "outcome": OUTCOME_TEXT[outcome(c)]})
    return rows


def gain_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """Difference of means of each GAN method over every baseline, for every headline score."""
    gains = metrics.get("downstream", {}).get("gain", {})
    return [
        {"comparison": _comparison_name(key), **{k: round_or_none(values.get(k), digits) for k, _ in SCORES}}
        for key, values in gains.items()
    ]


def recall_table(metrics: dict) -> tuple[list[str], list[dict]]:
    """Per-class recall, classes down and methods across: where the rare classes gain or lose
    (``few_shot``: the class counts in few-shot recall)."""
    downstream = metrics.get("downstream", {})
    methods, few_shot = downstream.get("methods", {}), set(downstream.get("few_shot_classes") or [])
    names = list(methods)
    rows = []
    for index, class_name in enumerate(metrics["dataset"]["class_names"]):
        recalls = [methods[m].get("per_class_recall", []) for m in names]
        rows.append({"name": class_name, "few_shot": index in few_shot,
                     "recall": [r[index] if index < len(r) else None for r in recalls]})
    return names, rows


def class_table_rows(metrics: dict) -> list[dict]:
    """One flat row per class. ``short_by`` > 0: the class ended short of its target (metrics written
    before duplication filled every class); ``asked_short_by`` > 0: generation accepted fewer synthetic
    rows than it asked for (the budget ran out)."""
    rows = []
    for entry in metrics["classes"]:
        row = {"label": entry["label"], "name": entry["name"]}
        row.update({key: entry.get(key) for key in CLASS_COLUMNS})
        row["short_by"] = max(int(entry["target"]) - int(entry["final"]), 0)
        row["asked_short_by"] = max(int(entry.get("asked") or 0) - int(entry.get("accepted") or 0), 0)
        rows.append(row)
    return rows


def usefulness_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """Per class: would a classifier learn from its synthetic rows? Label agreement (gates the mix),
    the label filter's validation recall, CAS beside the real-rows recall (test split, for no choice), the
    FD ratio for context, and what shipped: the dose, synthetic rows and duplicated real rows."""
    mix = metrics.get("mix")
    eligible = set((mix or {}).get("eligible") or [])
    rows = []
    for entry in metrics["classes"]:
        rows.append({"label": entry["label"], "name": entry["name"], "real": entry["real"],
                     "accepted": entry.get("accepted"),
                     **{key: round_or_none(entry.get(key), digits) for key in USEFULNESS_COLUMNS},
                     "eligible": entry["label"] in eligible if mix else None, "dose": entry.get("dose"),
                     "synthetic": entry.get("used"), "duplicates": entry.get("duplicates")})
    return rows


def mix_table_rows(metrics: dict, digits: int | None = 4) -> list[dict]:
    """The validation curve the mix was chosen from, one row per (dose, weight) point in the order tried,
    the chosen one marked; a fixed policy has no curve, so its one row is the fixed choice."""
    mix = metrics.get("mix") or {}
    if not mix:
        return []
    curve = mix.get("curve") or [{"dose": mix.get("dose"), "weight": mix.get("weight"),
                                  "synthetic_rows": sum(int(e.get("used") or 0) for e in metrics["classes"])}]
    rows = []
    for point in curve:
        row = {key: point.get(key) for key in MIX_COLUMNS}
        row.update({key: round_or_none(row[key], digits) for key in ("balanced_accuracy", "vs_top", "standard_error")})
        rows.append({**row, "chosen": is_chosen(point, mix)})
    return rows


def is_chosen(point: dict, mix: dict) -> bool:
    """The point the mix shipped; at dose 0 its weight does not matter (there are no synthetic rows to weigh)."""
    if not point.get("dose") and not mix.get("dose"):
        return True
    return (point.get("dose"), point.get("weight")) == (mix.get("dose"), mix.get("weight"))


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
        row = {"label": entry["label"], "name": entry["name"], "asked": asked(entry)}
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
