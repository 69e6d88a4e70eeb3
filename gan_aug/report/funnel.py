"""Reading the filter funnel out of the run's result: which filters ran in which order, how many
candidates each let through, and why FD acceptance judged a class as it did. Tables, markdown, plots
and the HTML all read the funnel through here, so they agree."""
from __future__ import annotations

from typing import Any

from gan_aug.filters.registry import RegistryView
from gan_aug.report.formatting import fmt
from gan_aug.run_result import ClassResult, FilterSettings, RunResult

ACCEPTANCE_STATUSES = ("flagged", "dropped", "unjudged")
# Each filter's explanation and threshold name, as its module registered them (plug-ins included).
FILTER_TEXT = RegistryView("text")
THRESHOLD_NAMES = RegistryView("threshold_name")
CALIBRATION_TEXT = {"val": "the class's held-out images", "pooled": "held-out images of every class",
                    "val+train": "the class's held-out and training images",
                    "val (below pooled)": "the class's own few held-out images, which scored below the threshold "
                                          "pooled over every class's (filter.d_own_cap)"}


def synthesised(result: RunResult) -> list[ClassResult]:
    """Classes whose candidates went through the filters: those with a funnel."""
    return [entry for entry in result.classes if entry.funnel]


def funnel_stages(result: RunResult) -> list[str]:
    """Every stage in the order the filters ran ('generated' first); a class lacking one shows a dash."""
    stages: list[str] = []
    for entry in synthesised(result):
        stages += [stage for stage in entry.funnel if stage not in stages]
    return stages


def stage_column(stage: str) -> str:
    """A row already has a 'label' (the class): the label filter's count is 'passed_label'."""
    return stage if stage == "generated" else f"passed_{stage}"


def threshold(entry: ClassResult, name: str) -> Any:
    """The filter's threshold for the class (the discriminator's also sits on the entry)."""
    found = ((entry.filters or {}).get(name) or {}).get("threshold")
    return entry.d_threshold if found is None and name == "discriminator" else found


def acceptance_reason(entry: ClassResult, settings: FilterSettings) -> str:
    """Why a class was judged as it was: its matched FD / floor ratio against the limit."""
    status, ratio, limit = entry.acceptance, entry.fd_ratio, settings.fd_max_ratio
    against = f"matched FD / floor {fmt(ratio, 2)}"
    if status in ("flagged", "dropped"):
        return against + f" > limit {fmt(limit, 1)}" + ("; policy warn: rows kept" if status == "flagged"
                                                         else "; policy drop: synthetic rows removed")
    if status == "unjudged":
        return f"{entry.real} real images, fewer than the {settings.fd_min_real} needed to judge"
    if status == "ok" and ratio is not None:
        return against + f" ≤ limit {fmt(limit, 1)}"
    return ""


def share(count: Any, total: Any) -> str:
    """Share of the generated candidates: '35%'; never a misleading 0% or 100%."""
    if count is None or not total:
        return ""
    percent = 100.0 * float(count) / float(total)
    return "<1%" if 0 < percent < 1 else (">99%" if 99 < percent < 100 else f"{percent:.0f}%")


def funnel_cells(funnel: dict[str, int], stages: list[str]) -> list[dict]:
    """Each stage's count with its share of the generated candidates and of those that reached it."""
    cells, total, before = [], funnel.get(stages[0]) if stages else None, None
    for index, stage in enumerate(stages):
        count = funnel.get(stage)  # a stage another class's chain had and this one's did not: a dash
        of_total = share(count, total) if index else ""
        text = f"{fmt(count)} ({of_total})" if of_total else fmt(count)
        title = (f"{share(count, before)} of the {before} that reached this filter"
                 if index and count is not None and before else "")
        cells.append({"text": text, "title": title})
        before = count if count is not None else before
    return cells


def threshold_cell(settings: dict, value: Any) -> dict:
    """{'value': '0.120', 'details': 'q 0.05; val, 13 images'}: the threshold and how it was calibrated
    (shown under it, so the funnel table stays narrow). ``settings``: the filter's calibration record."""
    details = []
    if settings.get("quantile") is not None:
        details.append(f"q {fmt(settings['quantile'], 2)}")
    if settings.get("calibration"):
        source = str(settings["calibration"])
        if settings.get("calibration_images") is not None:
            source += f", {fmt(settings['calibration_images'])} images"
        details.append(source)
    return {"value": fmt(value), "details": "; ".join(details) if value is not None else ""}
