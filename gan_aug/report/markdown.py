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
    filter_names,
    filter_settings,
    funnel_cells,
    funnel_stages,
    synthesised,
)
from gan_aug.report.tables import SCORES, class_table_rows, comparison_table_rows, downstream_table_rows


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
    run, shards = metrics["run"], metrics.get("shards") or {}
    parts = [f"# gan-aug run {_md_cell(run['name'])}",
             f"Synthetic rows: {shards.get('synthetic_rows', DASH)} of {shards.get('rows', DASH)} "
             "(flagged `is_synthetic` in the shards; test data is real only)."]
    labels = [label for _, label in SCORES]
    downstream = downstream_table_rows(metrics, digits=None)
    if downstream:
        rows = [[r["method"], *(fmt(r[k]) for k, _ in SCORES),
                 interval_text(r["balanced_accuracy_ci_low"], r["balanced_accuracy_ci_high"]), fmt(r["train_rows"])]
                for r in downstream]
        parts += ["## Downstream classifier (means over seeds)",
                  _md_table(["method", *labels, "balanced acc. 95% interval", "train rows"], rows)]
    comparisons = comparison_table_rows(metrics, digits=None)
    if comparisons:
        rows = [[c["comparison"], fmt_signed(c["difference"]), interval_text(c["ci_low"], c["ci_high"], signed=True),
                 fmt(c["p_value"], 3), c["wins"]] for c in comparisons]
        parts += ["## GAN against the best baseline (balanced accuracy, paired over seeds)",
                  _md_table(["comparison", "difference", "95% interval", "p", "seeds won"], rows)]
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


def _class_markdown(metrics: dict) -> str:
    """The per-class table, and which classes the generation budget left short."""
    classes = class_table_rows(metrics)
    header = ["label", "name", "real", "target", "generated", "accepted", "used", "final", "D threshold", "FD"]
    rows = [[fmt(c["label"]), c["name"], *(fmt(c[k]) for k in header[2:8]),
             fmt(c["d_threshold"]), fmt(c["fd"], 2)] for c in classes]
    parts = ["## Per class", _md_table(header, rows, text_columns=2)]
    short = [f"{_md_cell(c['name'])} ({c['short_by']})" for c in classes
             if c["short_by"] and c["acceptance"] != "dropped"]
    if short:
        parts.append("Short of target (generation budget ran out): " + ", ".join(short) + ".")
    return "\n\n".join(parts)


def _filter_markdown(metrics: dict) -> str:
    """The funnel per synthesised class, and which classes FD acceptance flagged, dropped or left unjudged."""
    entries, settings = synthesised(metrics), filter_settings(metrics)
    if not entries:
        return ""
    stages = funnel_stages(metrics)
    header = ["label", "name", "needed", *(s if s == "generated" else f"passed {s}" for s in stages), "used",
              "FD ratio", "acceptance"]
    rows = [[fmt(e["label"]), e["name"], fmt(e.get("needed")),
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
