"""The report's key numbers as markdown, for the Prefect summary artifact.

Class names come from the user's data, so every cell is escaped for both HTML and table syntax.
"""
from __future__ import annotations

from typing import Any

from gan_aug.report.formatting import DASH, fmt, fmt_signed, interval_text
from gan_aug.report.funnel import (
    ACCEPTANCE_STATUSES,
    acceptance_reason,
    acceptance_status,
    asked,
    filter_names,
    filter_settings,
    funnel_cells,
    funnel_stages,
    synthesised,
)
from gan_aug.report.tables import (
    SCORES,
    class_table_rows,
    comparison_table_rows,
    downstream_table_rows,
)
from gan_aug.report.verdict import verdict
from gan_aug.report.views import mix_text


def _md_cell(value: Any) -> str:
    """Class names come from the user's data: keep them from breaking the table or injecting HTML."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    align = [":---"] * text_columns + ["---:"] * (len(header) - text_columns)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(_md_cell(c) for c in line) + " |" for line in lines)


def _rows_text(shards: dict) -> str:
    """'Training rows: 1260, of which 210 synthetic and 625 duplicated real …' (older shards: no duplicates)."""
    train = (shards.get("splits") or {}).get("train") or {}
    duplicated = train.get("duplicate_rows", shards.get("duplicate_rows"))
    flags = "`is_synthetic`" + (" and `is_duplicate`" if duplicated is not None else "")
    counts = f"{shards.get('synthetic_rows', DASH)} synthetic" + (f" and {duplicated} duplicated real"
                                                                   if duplicated is not None else "")
    return (f"Training rows: {shards.get('rows', DASH)}, of which {counts} (flagged {flags} in the shards; "
            "test data is real only).")


def summary_markdown(metrics: dict) -> str:
    """The report's key numbers as markdown: the verdict first, then downstream scores and comparisons,
    the mix, and the per-class tables."""
    run, shards = metrics["run"], metrics.get("shards") or {}
    found = verdict(metrics)
    lead = f"**{_md_cell(found.lead)}.** " if found.lead else ""
    parts = [f"# gan-aug run {_md_cell(run['name'])}", lead + _md_cell(found.text), _rows_text(shards)]
    parts += _downstream_markdown(metrics)
    mix = mix_text(metrics)
    if mix:
        parts += ["## Mix", _md_cell(mix)]
    parts.append(_class_markdown(metrics))
    funnel = _filter_markdown(metrics)
    if funnel:
        parts.append(funnel)
    if shards.get("splits"):
        written = ", ".join(f"{_md_cell(name)} {s.get('rows', DASH)} rows" for name, s in shards["splits"].items())
        key = (shards.get("provenance") or {}).get("content_key")
        parts.append(f"## Shards\n\n{shards.get('num_shards', DASH)} Parquet file(s): {written}; validation and "
                     "test are real only. `gan-aug verify DIR` checks every checksum against the manifest"
                     + (f" (content key `{key[:16]}…`)." if key else "."))
    return "\n\n".join(parts) + "\n"


INTERVALS = ("balanced_accuracy", "few_shot_recall")


def _downstream_markdown(metrics: dict) -> list[str]:
    """The downstream table (means, intervals) and the paired comparisons with the best baseline."""
    parts, labels = [], [label for _, label in SCORES]
    downstream = downstream_table_rows(metrics, digits=None)
    if downstream:
        rows = [[r["method"], *(fmt(r[k]) for k, _ in SCORES),
                 *(interval_text(r[f"{k}_ci_low"], r[f"{k}_ci_high"]) for k in INTERVALS),
                 fmt(r["train_rows"])] for r in downstream]
        parts += ["## Downstream classifier (means over seeds)",
                  _md_table(["method", *labels, "balanced acc. 95% interval", "few-shot 95% interval", "train rows"],
                            rows)]
    comparisons = comparison_table_rows(metrics, digits=None)
    if comparisons:
        rows = [[c["comparison"], c["metric"], fmt_signed(c["difference"]),
                 interval_text(c["ci_low"], c["ci_high"], signed=True), fmt(c["p_value"], 3), c["wins"], c["outcome"]]
                for c in comparisons]
        parts += ["## GAN against the best baseline (paired over seeds)",
                  _md_table(["comparison", "metric", "difference", "95% interval", "p", "seeds won", "outcome"], rows,
                            text_columns=2)]
    return parts


def _class_markdown(metrics: dict) -> str:
    """The per-class table (what shipped, and how useful the synthetic rows looked), and which classes
    the generation budget left short."""
    classes = class_table_rows(metrics)
    header = ["label", "name", "real", "target", "generated", "accepted", "synthetic", "duplicated", "final",
              "agreement", "CAS", "D threshold", "FD"]
    counts = ("real", "target", "generated", "accepted", "used", "duplicates", "final")
    rows = [[fmt(c["label"]), c["name"], *(fmt(c[k]) for k in counts), fmt(entry.get("label_agreement"), 2),
             fmt(entry.get("cas"), 2), fmt(c["d_threshold"]), fmt(c["fd"], 2)]
            for c, entry in zip(classes, metrics["classes"])]
    parts = ["## Per class", _md_table(header, rows, text_columns=2)]
    short = [f"{_md_cell(c['name'])} ({c['short_by']})" for c in classes
             if c["short_by"] and c["acceptance"] != "dropped"]
    if short:
        parts.append("Short of target (generation budget ran out): " + ", ".join(short) + ".")
    fell = [f"{_md_cell(c['name'])} ({c['accepted']} of {c['asked']})" for c in classes if c["asked_short_by"]]
    if fell:
        parts.append("Generation accepted fewer synthetic rows than it asked for (budget ran out): "
                     + ", ".join(fell) + ".")
    return "\n\n".join(parts)


def _filter_markdown(metrics: dict) -> str:
    """The funnel per synthesised class, and which classes FD acceptance flagged, dropped or left unjudged."""
    entries, settings = synthesised(metrics), filter_settings(metrics)
    if not entries:
        return ""
    stages = funnel_stages(metrics)
    header = ["label", "name", "asked", *(s if s == "generated" else f"passed {s}" for s in stages), "used",
              "FD ratio", "acceptance"]
    rows = [[fmt(e["label"]), e["name"], fmt(asked(e)),
             *(cell["text"] for cell in funnel_cells(e["funnel"], stages)), fmt(e.get("used")),
             fmt(e.get("fd_ratio"), 2), acceptance_status(e, settings) or DASH] for e in entries]
    parts = ["## Filters", "Filters in order: " + " → ".join(filter_names(metrics)) + ".",
             _md_table(header, rows, text_columns=2)]
    for status in ACCEPTANCE_STATUSES:
        named = [e for e in entries if acceptance_status(e, settings) == status]
        if named:
            listed = "; ".join(f"{_md_cell(e['name'])} ({_md_cell(acceptance_reason(e, settings))})" for e in named)
            parts.append(f"FD acceptance {status}: {listed}.")
    return "\n\n".join(parts)
