"""One entry point from a data config to the splits a run uses."""
from __future__ import annotations

from gan_aug.config import DataConfig
from gan_aug.data.builtin import BUILTIN_SETS
from gan_aug.data.imageset import ImageSet
from gan_aug.data.longtail import subsample_long_tail
from gan_aug.data.split import Splits, stratified_split


def load_source(config: DataConfig) -> ImageSet:
    """The user's source as the in-memory contract (only built-in sets so far)."""
    try:
        return BUILTIN_SETS[config.source]()
    except KeyError:
        raise ValueError(f"data.source {config.source!r} is not known; choose one of {sorted(BUILTIN_SETS)}") from None


def make_splits(source: ImageSet, config: DataConfig) -> Splits:
    """Split first, then make train and validation long-tailed if asked.

    The test split keeps the source's distribution, so every class is measured on enough
    real images (the CIFAR-LT protocol); validation is cut down like training because a
    user with rare classes has few validation images of them too.
    """
    splits = stratified_split(source, config.val_fraction, config.test_fraction, config.split_seed)
    tail = config.long_tail
    if tail is None:
        return splits
    shrink = lambda part, offset: subsample_long_tail(  # noqa: E731
        part, tail.profile, tail.imbalance_ratio, tail.seed + offset, tail.step_minority_classes
    )
    return Splits(train=shrink(splits.train, 0), val=shrink(splits.val, 1), test=splits.test)
