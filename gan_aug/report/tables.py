"""Flat table rows (lists of plain dicts) for Prefect table artifacts, the CLI and the report.

Rows hold values, not text: ``digits`` rounds them for display, ``None`` keeps them exact so the
HTML and markdown can format from unrounded numbers.
"""
from __future__ import annotations

from gan_aug.report.formatting import round_or_none
from gan_aug.report.funnel import funnel_stages, stage_column, synthesised, threshold
from gan_aug.run_result import Comparison, RunResult

SCORES = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"),
          ("g_mean", "G-mean"), ("few_shot_recall", "few-shot recall"))
COMPARED = (("balanced_accuracy", "balanced accuracy"), ("few_shot_recall", "few-shot recall"))
# used: synthetic rows shipped; duplicates: real rows duplicated (flagged) up to the target.
CLASS_COLUMNS = ("real", "target", "needed", "asked", "generated", "accepted", "used", "duplicates", "final", "dose",
                 "d_threshold", "fd", "acceptance")
USEFULNESS_COLUMNS = ("label_agreement", "filter_val_recall", "cas", "real_recall", "fd_ratio")
MIX_COLUMNS = ("dose", "weight", "synthetic_rows", "balanced_accuracy", "vs_duplication", "duplication_se", "clears",
               "vs_top", "standard_error", "within_noise", "seeds")
OUTCOME_TEXT = {"win": "win", "loss": "loss", "tie": "tie", "unknown": "no interval"}  # tie: the interval holds 0
QUALITY_COLUMNS = ("fd", "fd_floor", "fd_ci_low", "fd_ci_high", "fd_matched", "fd_ratio", "acceptance", "kid",
                   "kid_ci_low", "kid_ci_high", "kid_floor", "precision", "recall", "density", "coverage")


def _comparison_name(key: str) -> str:
    """'gan_vs_class_weighted' -> 'gan vs class weighted'."""
    return key.replace("_vs_", " vs ").replace("_", " ")


def _ci_bounds(ci: tuple | None, digits: int | None) -> tuple:
    return (None, None) if not ci else (round_or_none(ci[0], digits), round_or_none(ci[1], digits))


def downstream_table_rows(result: RunResult, digits: int | None = 4) -> list[dict]:
    """One flat row per training method: means over seeds (steps too: runs stopped on validation train
    fewer), and the 95% intervals of balanced accuracy and few-shot recall (the mean recall of the rarest
    classes)."""
    rows = []
    for name, scores in result.downstream.methods.items():
        row = {"method": name, **{key: round_or_none(getattr(scores, key), digits) for key, _ in SCORES}}
        for key, _ in COMPARED:
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = _ci_bounds(scores.ci.get(key), digits)
        rows.append({**row, "train_rows": scores.train_rows, "steps": round(sum(scores.steps) / len(scores.steps))})
    return rows


def compared(result: RunResult) -> dict[str, dict[str, Comparison]]:
    """Per GAN method, its comparisons with the best baseline in each compared metric that was measured."""
    return {name: {key: c for key, c in (("balanced_accuracy", main), ("few_shot_recall", main.few_shot_recall))
                   if c is not None}
            for name, main in result.downstream.comparison.items()}


def comparison_table_rows(result: RunResult, digits: int | None = 4) -> list[dict]:
    """Each GAN method against the best baseline, seed by seed, in balanced accuracy and then few-shot
    recall: the numbers the whole run is for. ``outcome`` is the one gan_aug.evaluate decided."""
    rows = []
    for name, parts in compared(result).items():
        baseline = result.downstream.comparison[name].baseline
        for key, metric in COMPARED:
            if key in parts:
                c = parts[key]
                low, high = _ci_bounds(c.ci, digits)
                rows.append({"comparison": f"{name} vs {baseline}", "metric": metric,
                             "difference": round_or_none(c.mean_diff, digits), "ci_low": low, "ci_high": high,
                             "p_value": round_or_none(c.p_value, digits), "wins": f"{c.wins}/{len(c.per_seed)}",
                             "outcome": OUTCOME_TEXT[c.outcome]})
    return rows


def gain_table_rows(result: RunResult, digits: int | None = 4) -> list[dict]:
    """Difference of means of each GAN method over every baseline, for every headline score."""
    return [{"comparison": _comparison_name(key), **{k: round_or_none(values.get(k), digits) for k, _ in SCORES}}
            for key, values in result.downstream.gain.items()]


def recall_table(result: RunResult) -> tuple[list[str], list[dict]]:
    """Per-class recall, classes down and methods across: where the rare classes gain or lose
    (``few_shot``: the class counts in few-shot recall)."""
    methods, few_shot = result.downstream.methods, set(result.downstream.few_shot_classes)
    rows = [{"name": class_name, "few_shot": index in few_shot,
             "recall": [scores.per_class_recall[index] for scores in methods.values()]}
            for index, class_name in enumerate(result.dataset.class_names)]
    return list(methods), rows


def class_table_rows(result: RunResult) -> list[dict]:
    """One flat row per class. ``asked_short_by`` > 0: generation accepted fewer synthetic rows than it asked
    for (the budget ran out; duplicated real rows still fill the class to its target)."""
    return [{"label": entry.label, "name": entry.name, **{key: getattr(entry, key) for key in CLASS_COLUMNS},
             "asked_short_by": max(entry.asked - entry.accepted, 0)}
            for entry in result.classes]


def usefulness_table_rows(result: RunResult, digits: int | None = 4) -> list[dict]:
    """Per class: would a classifier learn from its synthetic rows? Label agreement (gates the mix),
    the label filter's validation recall, CAS beside the real-rows recall (test split, for no choice), the
    FD ratio for context, and what shipped: the dose, synthetic rows and duplicated real rows."""
    eligible = set(result.mix.eligible)
    return [{"label": entry.label, "name": entry.name, "real": entry.real, "accepted": entry.accepted,
             **{key: round_or_none(getattr(entry, key), digits) for key in USEFULNESS_COLUMNS},
             "eligible": entry.label in eligible, "dose": entry.dose, "synthetic": entry.used,
             "duplicates": entry.duplicates}
            for entry in result.classes]


def mix_table_rows(result: RunResult, digits: int | None = 4) -> list[dict]:
    """The validation curve the mix was chosen from, one row per (dose, weight) point in the order tried,
    the chosen one marked; a fixed policy has no curve, so its one row is the fixed choice."""
    mix = result.mix
    if not mix.curve:
        return [{"dose": mix.dose, "weight": mix.weight, "synthetic_rows": sum(e.used for e in result.classes),
                 **dict.fromkeys(MIX_COLUMNS[3:]), "chosen": True}]
    rounded = ("balanced_accuracy", "vs_duplication", "duplication_se", "vs_top", "standard_error")
    return [{**{key: round_or_none(getattr(p, key), digits) if key in rounded else getattr(p, key)
                for key in MIX_COLUMNS}, "chosen": mix.chosen(p)} for p in mix.curve]


def quality_table_rows(result: RunResult) -> list[dict]:
    """Synthesised classes, dropped ones included (their rows are gone, not their numbers): each
    distance beside its real-vs-real floor, for tables and artifacts."""
    return [{"label": entry.label, "name": entry.name, "real": entry.real, "used": entry.used,
             **{key: getattr(entry, key) for key in QUALITY_COLUMNS}}
            for entry in result.classes if entry.fd is not None or entry.funnel]


def filter_table_rows(result: RunResult, digits: int | None = 4) -> list[dict]:
    """One flat row per synthesised class: how many candidates survived each filter in the order they
    ran, how many were used, the FD acceptance and each filter's threshold, for artifacts and the CLI."""
    entries, stages, names = synthesised(result), funnel_stages(result), result.filters.order
    calibrated = [name for name in names
                  if any("calibration" in ((e.filters or {}).get(name) or {}) for e in entries)]
    rows = []
    for entry in entries:
        row = {"label": entry.label, "name": entry.name, "asked": entry.asked,
               **{stage_column(stage): entry.funnel.get(stage) for stage in stages},
               "accepted": entry.accepted, "used": entry.used, "acceptance": entry.acceptance,
               "fd_ratio": round_or_none(entry.fd_ratio, digits)}
        row.update({f"{name}_threshold": round_or_none(threshold(entry, name), digits) for name in names})
        row.update({f"{name}_calibration": ((entry.filters or {}).get(name) or {}).get("calibration")
                    for name in calibrated})
        rows.append(row)
    return rows


def shard_table_rows(result: RunResult, digits: int | None = 3) -> list[dict]:
    """One row per shard file as written: split, file, rows, size and sha256 (what `gan-aug verify` checks)."""
    return [{"split": f.split, "file": f.file, "rows": f.rows, "megabytes": round_or_none(f.bytes / 1e6, digits),
             "sha256": f.sha256} for f in result.shards.files]
