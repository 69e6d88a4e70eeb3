"""Reading the filter funnel out of the metrics: which filters ran in which order, how many
candidates each let through, and why FD acceptance judged a class as it did.

Tables, markdown, plots and the HTML all read the funnel through here, so they agree even on
metrics written before the filters were reported.
"""
from __future__ import annotations

from typing import Any

from gan_aug.filters.registry import RegistryView
from gan_aug.report.formatting import fmt

ACCEPTANCE_STATUSES = ("flagged", "dropped", "unjudged")
# Each filter's explanation and threshold name, as its module registered them (plug-ins included).
FILTER_TEXT = RegistryView("text")
THRESHOLD_NAMES = RegistryView("threshold_name")
CALIBRATION_TEXT = {"val": "the class's held-out images", "pooled": "held-out images of every class",
                    "val+train": "the class's held-out and training images"}


def filter_settings(metrics: dict) -> dict:
    """The run's filter settings; metrics written before the filters were reported have none."""
    return metrics.get("filters") or {}


def synthesised(metrics: dict) -> list[dict]:
    """Classes whose candidates went through the filters: those with a funnel."""
    return [entry for entry in metrics["classes"] if entry.get("funnel")]


def asked(entry: dict) -> Any:
    """Synthetic rows generation aimed for: enough for the largest dose the mix could choose (metrics
    written before the mix: every row the class needed to reach its target)."""
    return entry.get("asked", entry.get("needed"))


def funnel_stages(metrics: dict) -> list[str]:
    """Every stage in the order the filters ran ('generated' first); a class lacking one shows a dash."""
    stages: list[str] = []
    for entry in synthesised(metrics):
        stages += [stage for stage in entry["funnel"] if stage not in stages]
    return stages


def filter_names(metrics: dict) -> list[str]:
    """The filters in the order they ran: as the run recorded it, else as the funnels show it."""
    order = filter_settings(metrics).get("order")
    return list(order) if order else [stage for stage in funnel_stages(metrics) if stage != "generated"]


def stage_column(stage: str) -> str:
    """A row already has a 'label' (the class): the label filter's count is 'passed_label'."""
    return stage if stage == "generated" else f"passed_{stage}"


def acceptance_status(entry: dict, settings: dict) -> str | None:
    """The class's FD acceptance; older metrics may only list the labels at the top level."""
    if entry.get("acceptance"):
        return entry["acceptance"]
    return next((status for status in ACCEPTANCE_STATUSES if entry["label"] in settings.get(status, ())), None)


def acceptance_reason(entry: dict, settings: dict) -> str:
    """Why a class was judged as it was: its matched FD / floor ratio against the limit."""
    status, ratio, limit = acceptance_status(entry, settings), entry.get("fd_ratio"), settings.get("fd_max_ratio")
    against = f"matched FD / floor {fmt(ratio, 2)}"
    if status in ("flagged", "dropped"):
        against += f" > limit {fmt(limit, 1)}" if limit is not None else " above the limit"
        return against + ("; policy warn: rows kept" if status == "flagged"
                          else "; policy drop: synthetic rows removed")
    if status == "unjudged":
        minimum = settings.get("fd_min_real")
        return (f"{entry['real']} real images, fewer than the {minimum} needed to judge" if minimum is not None
                else "too few real images to judge")
    if status == "ok" and ratio is not None:
        return against + (f" ≤ limit {fmt(limit, 1)}" if limit is not None else "")
    return ""


def share(count: Any, total: Any) -> str:
    """Share of the generated candidates: '35%'; never a misleading 0% or 100%."""
    if count is None or not total:
        return ""
    percent = 100.0 * float(count) / float(total)
    return "<1%" if 0 < percent < 1 else (">99%" if 99 < percent < 100 else f"{percent:.0f}%")


def funnel_cells(funnel: dict, stages: list[str]) -> list[dict]:
    """Each stage's count with its share of the generated candidates and of those that reached it."""
    cells, total, before = [], funnel.get(stages[0]) if stages else None, None
    for index, stage in enumerate(stages):
        count = funnel.get(stage)
        of_total = share(count, total) if index else ""
        text = f"{fmt(count)} ({of_total})" if of_total else fmt(count)
        title = (f"{share(count, before)} of the {before} that reached this filter"
                 if index and count is not None and before else "")
        cells.append({"text": text, "title": title})
        before = count if count is not None else before
    return cells


def threshold_cell(settings: dict, fallback: Any = None) -> dict:
    """{'value': '0.120', 'details': 'q 0.05; val, 13 images'}: the threshold and how it was calibrated
    (shown under it, so the funnel table stays narrow)."""
    threshold = settings.get("threshold", fallback)
    details = []
    if settings.get("quantile") is not None:
        details.append(f"q {fmt(settings['quantile'], 2)}")
    if settings.get("calibration"):
        source = str(settings["calibration"])
        if settings.get("calibration_images") is not None:
            source += f", {fmt(settings['calibration_images'])} images"
        details.append(source)
    return {"value": fmt(threshold), "details": "; ".join(details) if threshold is not None else ""}
