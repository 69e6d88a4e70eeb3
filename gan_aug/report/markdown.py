"""The report's key numbers as markdown, for the Prefect summary artifact.

Class names come from the user's data, so every cell is escaped for both HTML and table syntax.
"""
from __future__ import annotations

from typing import Any

from gan_aug.report.formatting import DASH, fmt, fmt_signed, interval_text
from gan_aug.report.funnel import ACCEPTANCE_STATUSES, acceptance_reason, funnel_cells, funnel_stages, synthesised
from gan_aug.report.tables import (
    SCORES,
    class_table_rows,
    comparison_table_rows,
    downstream_table_rows,
)
from gan_aug.report.verdict import verdict
from gan_aug.report.views import mix_text
from gan_aug.run_result import RunResult, Shards


def _md_cell(value: Any) -> str:
    """Class names come from the user's data: keep them from breaking the table or injecting HTML."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    align = [":---"] * text_columns + ["---:"] * (len(header) - text_columns)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(_md_cell(c) for c in line) + " |" for line in lines)


def _rows_text(shards: Shards) -> str:
    """'Training rows: 1260, of which 210 synthetic and 625 duplicated real …'."""
    return (f"Training rows: {shards.rows}, of which {shards.synthetic_rows} synthetic and {shards.duplicate_rows} "
            "duplicated real (flagged `is_synthetic` and `is_duplicate` in the shards; test data is real only).")


def summary_markdown(result: RunResult) -> str:
    """The report's key numbers as markdown: the verdict first, then downstream scores and comparisons,
    the mix, and the per-class tables."""
    shards = result.shards
    found = verdict(result)
    lead = f"**{_md_cell(found.lead)}.** " if found.lead else ""
    parts = [f"# gan-aug run {_md_cell(result.run.name)}", lead + _md_cell(f"{found.text} {found.headroom}"),
             _rows_text(shards)]
    parts += _downstream_markdown(result)
    parts += ["## Mix", _md_cell(mix_text(result)), _class_markdown(result)]
    funnel = _filter_markdown(result)
    if funnel:
        parts.append(funnel)
    written = ", ".join(f"{_md_cell(name)} {s.rows} rows" for name, s in shards.splits.items())
    parts.append(f"## Shards\n\n{shards.num_shards} Parquet file(s): {written}; validation and test are real only. "
                 f"`gan-aug verify DIR` checks every checksum against the manifest (content key "
                 f"`{shards.provenance.content_key[:16]}…`).")
    return "\n\n".join(parts) + "\n"


INTERVALS = ("balanced_accuracy", "few_shot_recall")


def _downstream_markdown(result: RunResult) -> list[str]:
    """The downstream table (means, intervals) and the paired comparisons with the best baseline."""
    parts, labels = [], [label for _, label in SCORES]
    downstream = downstream_table_rows(result, digits=None)
    if downstream:
        rows = [[r["method"], *(fmt(r[k]) for k, _ in SCORES),
                 *(interval_text(r[f"{k}_ci_low"], r[f"{k}_ci_high"]) for k in INTERVALS),
                 fmt(r["train_rows"]), fmt(r["steps"])] for r in downstream]
        parts += ["## Downstream classifier (means over seeds)",
                  _md_table(["method", *labels, "balanced acc. 95% interval", "few-shot 95% interval", "train rows",
                                   "steps (mean)"],
                            rows)]
    comparisons = comparison_table_rows(result, digits=None)
    if comparisons:
        rows = [[c["comparison"], c["metric"], fmt_signed(c["difference"]),
                 interval_text(c["ci_low"], c["ci_high"], signed=True), fmt(c["p_value"], 3), c["wins"], c["outcome"]]
                for c in comparisons]
        parts += ["## GAN against the best baseline (paired over seeds)",
                  _md_table(["comparison", "metric", "difference", "95% interval", "p", "seeds won", "outcome"], rows,
                            text_columns=2)]
    return parts


def _class_markdown(result: RunResult) -> str:
    """The per-class table (what shipped, and how useful the synthetic rows looked), and which classes
    generation left short of what they asked for (duplication still fills each to its target)."""
    classes = class_table_rows(result)
    header = ["label", "name", "real", "target", "generated", "accepted", "synthetic", "duplicated", "final",
              "agreement", "CAS", "D threshold", "FD"]
    counts = ("real", "target", "generated", "accepted", "used", "duplicates", "final")
    rows = [[fmt(c["label"]), c["name"], *(fmt(c[k]) for k in counts), fmt(entry.label_agreement, 2),
             fmt(entry.cas, 2), fmt(c["d_threshold"]), fmt(c["fd"], 2)]
            for c, entry in zip(classes, result.classes)]
    parts = ["## Per class", _md_table(header, rows, text_columns=2)]
    fell = [f"{_md_cell(c['name'])} ({c['accepted']} of {c['asked']})" for c in classes if c["asked_short_by"]]
    if fell:
        parts.append("Generation accepted fewer synthetic rows than it asked for (budget ran out): "
                     + ", ".join(fell) + ".")
    return "\n\n".join(parts)


def _filter_markdown(result: RunResult) -> str:
    """The funnel per synthesised class, and which classes FD acceptance flagged, dropped or left unjudged."""
    entries = synthesised(result)
    if not entries:
        return ""
    stages = funnel_stages(result)
    header = ["label", "name", "asked", *(s if s == "generated" else f"passed {s}" for s in stages), "used",
              "FD ratio", "acceptance"]
    rows = [[fmt(e.label), e.name, fmt(e.asked), *(cell["text"] for cell in funnel_cells(e.funnel, stages)),
             fmt(e.used), fmt(e.fd_ratio, 2), e.acceptance or DASH] for e in entries]
    parts = ["## Filters", "Filters in order: " + " → ".join(result.filters.order) + ".",
             _md_table(header, rows, text_columns=2)]
    for status in ACCEPTANCE_STATUSES:
        named = [e for e in entries if e.acceptance == status]
        if named:
            listed = "; ".join(f"{_md_cell(e.name)} ({_md_cell(acceptance_reason(e, result.filters))})"
                               for e in named)
            parts.append(f"FD acceptance {status}: {listed}.")
    return "\n\n".join(parts)
