"""Balancing by duplication: the cheapest answer to imbalance, and the baseline a GAN must beat."""
from __future__ import annotations

import numpy as np

from gan_aug.data.imageset import ImageSet


def random_oversample(train: ImageSet, seed: int) -> ImageSet:
    """The cheapest balancing baseline: GAN samples must beat plain duplication to be worth it.

    Every original row is kept (first, in order); each class is topped up to the largest class's
    count by drawing its rows with replacement. Classes with no rows stay empty.
    """
    rng = np.random.default_rng(seed)
    counts = train.class_counts()
    target = int(counts.max()) if len(counts) else 0
    extra = [
        rng.choice(np.flatnonzero(train.labels == label), size=target - int(count), replace=True)
        for label, count in enumerate(counts)
        if 0 < count < target
    ]
    rows = np.concatenate([np.arange(len(train), dtype=np.int64), *extra]).astype(np.int64)
    return train.subset(rows)
