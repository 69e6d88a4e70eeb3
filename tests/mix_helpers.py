"""A long-tailed digits split for tests that run the mix grid's real classifier runs."""
from __future__ import annotations

import numpy as np

from gan_aug.data.imageset import ImageSet


def long_tail(digits_set: ImageSet) -> tuple[ImageSet, ImageSet, np.ndarray]:
    """Digits 0-3 with 3 rare (12 train, 30 validation images), targets 100 a class."""
    rng = np.random.default_rng(0)
    four = digits_set.subset(np.flatnonzero(digits_set.labels < 4))
    keep = ImageSet(four.images, four.labels, four.class_names[:4])
    rows = [rng.permutation(np.flatnonzero(keep.labels == k)) for k in range(4)]
    train = keep.subset(np.sort(np.concatenate([r[:100] if k < 3 else r[:12] for k, r in enumerate(rows)])))
    val = keep.subset(np.sort(np.concatenate([r[100:130] if k < 3 else r[12:42] for k, r in enumerate(rows)])))
    return train, val, np.full(4, 100)
