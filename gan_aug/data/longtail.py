"""Make a balanced set long-tailed, for experiments that know the ground truth."""
from __future__ import annotations

import numpy as np

from gan_aug.data.imageset import ImageSet


def long_tail_counts(
    available: np.ndarray, profile: str, imbalance_ratio: float, step_minority_classes: int = 5
) -> np.ndarray:
    """Per-class counts: class 0 is the head, the last class the tail (count = head / ratio).

    The head takes the smallest available count, so every class can supply its share.
    """
    num_classes = len(available)
    head = int(available.min())
    if profile == "exponential":
        exponents = np.arange(num_classes) / max(num_classes - 1, 1)
        counts = head * imbalance_ratio ** (-exponents)
    elif profile == "step":
        counts = np.full(num_classes, float(head))
        counts[num_classes - min(step_minority_classes, num_classes - 1):] = head / imbalance_ratio
    else:
        raise ValueError(f"unknown long-tail profile {profile!r}: use 'exponential' or 'step'")
    return np.maximum(np.rint(counts), 1).astype(np.int64)


def subsample_long_tail(
    data: ImageSet, profile: str, imbalance_ratio: float, seed: int, step_minority_classes: int = 5
) -> ImageSet:
    """Keep a seeded random subset of each class following the profile; rows keep their source index."""
    counts = long_tail_counts(data.class_counts(), profile, imbalance_ratio, step_minority_classes)
    return subsample_counts(data, counts, seed)


def subsample_counts(data: ImageSet, counts: list[int] | np.ndarray, seed: int) -> ImageSet:
    """Keep a seeded random subset of exactly ``counts[c]`` images of each class c (a published
    protocol's counts, e.g. GAMO's 4000/2000/.../40); rows keep their source index."""
    counts = np.asarray(counts, dtype=np.int64)
    available = data.class_counts()
    if len(counts) != len(available):
        raise ValueError(f"{len(counts)} counts given for {len(available)} classes")
    short = [f"class {label} ({data.class_names[label]}): {int(want)} wanted, {int(have)} available"
             for label, (want, have) in enumerate(zip(counts, available)) if want > have or want < 1]
    if short:
        raise ValueError("cannot subsample: " + "; ".join(short))
    rng = np.random.default_rng(seed)
    keep = [
        rng.choice(np.flatnonzero(data.labels == label), size=count, replace=False)
        for label, count in enumerate(counts)
    ]
    return data.subset(np.sort(np.concatenate(keep)))
