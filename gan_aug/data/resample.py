"""Balancing by duplication: the cheapest answer to imbalance, and the baseline a GAN must beat."""
from __future__ import annotations

import numpy as np

from gan_aug.data.imageset import ImageSet


def duplicate_rows(labels: np.ndarray, have: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices (into ``labels``) drawn with replacement, class by class in label order, to bring
    each class from ``have`` rows to its target; a class with no rows in ``labels`` stays short."""
    parts = [rng.choice(np.flatnonzero(labels == k), size=int(targets[k] - have[k]), replace=True)
             for k in range(len(have)) if targets[k] > have[k] and np.any(labels == k)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def random_oversample(train: ImageSet, seed: int) -> ImageSet:
    """The cheapest balancing baseline: GAN samples must beat plain duplication to be worth it.

    Every original row is kept (first, in order); each class is topped up to the largest class's
    count by drawing its rows with replacement. Classes with no rows stay empty.
    """
    counts = train.class_counts()
    targets = np.full(len(counts), counts.max() if len(counts) else 0)
    extra = duplicate_rows(train.labels, counts, targets, np.random.default_rng(seed))
    return train.subset(np.concatenate([np.arange(len(train), dtype=np.int64), extra]))
