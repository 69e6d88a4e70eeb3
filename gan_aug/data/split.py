"""Stratified train/validation/test splits; validation and test are never touched by synthesis."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from gan_aug.data.imageset import ImageSet


@dataclass(frozen=True)
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet


def stratified_split(data: ImageSet, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Two seeded stratified cuts, so every class keeps its share in each split."""
    rows = np.arange(len(data))
    try:
        rest, test = train_test_split(rows, test_size=test_fraction, stratify=data.labels, random_state=seed)
        train, val = train_test_split(
            rest, test_size=val_fraction / (1.0 - test_fraction), stratify=data.labels[rest], random_state=seed
        )
    except ValueError as error:
        counts = dict(zip(data.class_names, data.class_counts().tolist()))
        raise ValueError(
            f"cannot split stratified with data.val_fraction={val_fraction}, data.test_fraction={test_fraction}: "
            f"{error}; class counts: {counts}"
        ) from None
    return Splits(*(data.subset(np.sort(part)) for part in (train, val, test)))
