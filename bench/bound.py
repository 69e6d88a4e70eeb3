"""The perfect-generator bound of bench/gain.py: what any generator could add at a dose, measured by
letting real images play the generator's part.

Fashion-MNIST's training set holds 6,000 images per class; a long-tailed protocol keeps a few of them
(its subset, from which train and validation are split). The images of a minority class the subset
left out are real, of the class, and never seen in train, validation or test: a generator that made
exactly such images is the best one could hope for. ``left_out`` wraps them as a SyntheticSet
(seeds = their source index, generator "real-left-out", no filter scores) in a seeded random order,
so ``build_mix`` takes the first rows of a class as it takes a generator's, and a larger dose's rows
hold a smaller one's.

``recovery`` reads a lever against that bound at its dose: (lever − duplication) / (perfect −
duplication), undefined where the bound is under MIN_BOUND (too small to divide by).
"""
from __future__ import annotations

import math

import numpy as np

from gan_aug.data.imageset import ImageSet
from gan_aug.synthetic import SyntheticSet

LEFT_OUT_SHA256 = "real-left-out"  # the generator_sha256 of every left-out row
MIN_BOUND = 0.005  # perfect − duplication under half a point: recovery is not divided out
NO_GAIN = 0.01  # the largest bound under one point: no generator can show a gain
METRICS = ("balanced_accuracy", "few_shot_recall")
NAMES = {"balanced_accuracy": "balanced accuracy", "few_shot_recall": "few-shot recall"}


def left_out(full: ImageSet, used: np.ndarray, classes: list[int], seed: int = 0) -> SyntheticSet:
    """Per class of ``classes``, the images of ``full`` whose source index is not in ``used`` (the
    subset's, train and validation together), each class in a seeded random order."""
    free = ~np.isin(full.source_index, np.asarray(used))
    rng = np.random.default_rng(seed)
    rows = [rng.permutation(np.flatnonzero(free & (full.labels == k))) for k in classes]
    rows = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return SyntheticSet(full.images[rows], full.labels[rows], full.source_index[rows].astype(np.int64),
                        LEFT_OUT_SHA256)


def minority(train: ImageSet, targets: np.ndarray) -> list[int]:
    """Classes below their target: each gets left-out rows (no agreement gate)."""
    return [int(k) for k in np.flatnonzero(np.asarray(targets) > train.class_counts())]


def fill_dose(counts: np.ndarray, targets: np.ndarray) -> float:
    """The smallest whole dose that lets every class reach its target with left-out rows alone (as far
    as there are enough): no duplicates are left where the images suffice."""
    need = np.maximum(np.asarray(targets) - np.asarray(counts), 0)
    return float(max((math.ceil(n / c) for n, c in zip(need, counts) if n > 0), default=0))


def points(grid_doses: list[float], fill: float) -> list[tuple[str, float]]:
    """(results.json key, dose) of each perfect mix: every positive dose a lever ships at, then "fill"."""
    return [(f"d{d:g}", float(d)) for d in sorted({d for d in grid_doses if d > 0})] + [("fill", fill)]


def recovery(lever: float, duplication: float, perfect: float) -> float | None:
    """The share of the perfect generator's gain over duplication the lever has; None where that gain
    is under MIN_BOUND."""
    gap = perfect - duplication
    return None if gap < MIN_BOUND else (lever - duplication) / gap


def bound_lines(bounds: dict[str, dict[str, float]]) -> list[str]:
    """What the bound says, per dose and overall. ``bounds`` maps a key of ``points`` to its dose and
    perfect − duplication per metric ("dose", "balanced_accuracy", "few_shot_recall")."""
    lines = [f"bound at dose {'fill (' + format(b['dose'], 'g') + ')' if key == 'fill' else format(b['dose'], 'g')}: "
             f"perfect − duplication = {100 * b['balanced_accuracy']:+.1f} points balanced accuracy, "
             f"{100 * b['few_shot_recall']:+.1f} few-shot recall" for key, b in bounds.items()]
    grid = {key: b for key, b in bounds.items() if key != "fill"}
    if not grid:
        return lines
    largest = {m: max(b[m] for b in grid.values()) for m in METRICS}
    fill = bounds.get("fill")
    short = [m for m in METRICS if largest[m] < NO_GAIN]
    if len(short) == len(METRICS):
        lines.append(f"largest bound at the levers' doses {100 * largest['balanced_accuracy']:+.1f} points balanced "
                     f"accuracy, {100 * largest['few_shot_recall']:+.1f} few-shot recall (under 1 point): "
                     "no generator can show a gain on this protocol at this classifier budget")
    elif short:
        lines.append(f"largest bound in {NAMES[short[0]]} at the levers' doses {100 * largest[short[0]]:+.1f} points "
                     f"(under 1 point): no generator can show a gain in {NAMES[short[0]]} on this protocol at this "
                     "classifier budget")
    if short and fill is not None and any(fill[m] >= NO_GAIN for m in short):
        lines.append("  (filling the classes with real images would: " + ", ".join(
            f"{100 * fill[m]:+.1f} points {NAMES[m]}" for m in short) + ")")
    return lines
