"""The run's report: one self-contained HTML file, a markdown summary and flat table rows.

Everything here reads the run's typed result (gan_aug.run_result.RunResult, serialised as metrics.json),
so the HTML report, the Prefect artifacts and the CLI show the same numbers. Modules:

- ``verdict``: the run's answer in one sentence (did synthetic rows help, how much, how sure, where)
- ``tables``: flat rows for table artifacts and the CLI
- ``markdown``: the summary artifact
- ``plots``: matplotlib figures and sample grids as PNG bytes; ``mix_plots``: usefulness, the mix's
  validation curve and the training split as shipped
- ``views``: the new sections' views (usefulness, mix, training stops) for the template and the CLI
- ``provenance``: what produced and what was written, for the Provenance section
- ``html``: the HTML report itself
- ``funnel`` / ``formatting``: shared readers of the filter funnel, and number formatting
- ``browser``: open a rendered report in headless Chromium (needs Playwright; imported on demand)
"""
from __future__ import annotations

from gan_aug.report.formatting import DASH
from gan_aug.report.funnel import ACCEPTANCE_STATUSES, CALIBRATION_TEXT, FILTER_TEXT, THRESHOLD_NAMES
from gan_aug.report.html import render_report, render_run_report
from gan_aug.report.markdown import summary_markdown
from gan_aug.report.mix_plots import distribution_png, headroom_png, mix_curve_png, usefulness_png
from gan_aug.report.plots import (
    MAX_GRID_SAMPLES,
    MIN_GRID_PX,
    confusion_png,
    funnel_png,
    sample_grid_png,
    training_curves_png,
)
from gan_aug.report.tables import (
    CLASS_COLUMNS,
    QUALITY_COLUMNS,
    SCORES,
    class_table_rows,
    comparison_table_rows,
    downstream_table_rows,
    filter_table_rows,
    gain_table_rows,
    mix_table_rows,
    quality_table_rows,
    shard_table_rows,
    usefulness_table_rows,
)
from gan_aug.report.verdict import Verdict, verdict, verdict_text
from gan_aug.report.views import mix_text

__all__ = [
    "ACCEPTANCE_STATUSES", "CALIBRATION_TEXT", "CLASS_COLUMNS", "DASH", "FILTER_TEXT", "MAX_GRID_SAMPLES",
    "MIN_GRID_PX", "QUALITY_COLUMNS", "SCORES", "THRESHOLD_NAMES", "Verdict", "class_table_rows",
    "comparison_table_rows", "confusion_png", "distribution_png", "downstream_table_rows", "filter_table_rows",
    "funnel_png", "gain_table_rows", "headroom_png", "mix_curve_png", "mix_table_rows", "quality_table_rows",
    "render_report", "mix_text", "render_run_report", "sample_grid_png", "shard_table_rows", "summary_markdown",
    "training_curves_png",
    "usefulness_png", "usefulness_table_rows", "verdict", "verdict_text",
]
