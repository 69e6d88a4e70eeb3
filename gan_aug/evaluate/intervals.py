"""Means, 95% intervals over seeds, and the paired comparison of two methods run on the same seeds.

Seeds are few (3–5), so intervals use Student's t, not a normal approximation or a bootstrap
(which would be degenerate with so few values). Methods share seeds, so comparing two of them
pairs the runs seed by seed: the variation the seed causes in both cancels out.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_interval(values: list[float] | np.ndarray, level: float = 0.95) -> dict:
    """``{"mean", "ci": [low, high] or None, "n"}``; no interval from a single value."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no values to summarise")
    mean = float(values.mean())
    if values.size < 2:
        return {"mean": mean, "ci": None, "n": 1}
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return {"mean": mean, "ci": [mean - half, mean + half], "n": int(values.size)}


def outcome(ci: list[float] | None) -> str:
    """The call a comparison makes, decided here once: 'win' or 'loss' only when the whole interval lies
    above or below zero, 'tie' when it contains zero (whatever the mean's sign), 'unknown' without one."""
    if ci is None:
        return "unknown"
    return "win" if ci[0] > 0 else ("loss" if ci[1] < 0 else "tie")


def paired_comparison(ours: list[float], baseline: list[float], level: float = 0.95) -> dict:
    """Per-seed differences ``ours - baseline``: their mean, t interval, paired t-test p-value, wins and
    the ``outcome`` the interval supports."""
    ours, baseline = np.asarray(ours, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if ours.shape != baseline.shape:
        raise ValueError(f"paired runs need the same seeds: {ours.size} values against {baseline.size}")
    diffs = ours - baseline
    summary = mean_interval(diffs, level)
    p_value = None
    if diffs.size >= 2:
        p_value = 1.0 if np.all(diffs == diffs[0]) and diffs[0] == 0 else float(stats.ttest_rel(ours, baseline).pvalue)
    return {
        "mean_diff": summary["mean"],
        "ci": summary["ci"],
        "p_value": None if p_value is None or math.isnan(p_value) else p_value,
        "per_seed": [float(d) for d in diffs],
        "wins": int((diffs > 0).sum()),
        "outcome": outcome(summary["ci"]),
    }
