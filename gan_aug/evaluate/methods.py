"""The training sets each method builds: the baselines people would use instead of a GAN, and the GAN's mix.

Every method trains the same classifier with the same budget and seeds; only its training set
(and, for reweighting, its loss weights or, for ordinary augmentation, its batch transform)
differs. A method is a small function registered under a name, so a new baseline is one more
function, not a new loop. The GAN's method trains on the shipped mix as written: real, synthetic and
duplicated rows with their per-row weights (and synthetic rows deferred when the mix says so).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from imblearn.over_sampling import SMOTE

from gan_aug.classify import balanced_class_weights
from gan_aug.data.imageset import ImageSet
from gan_aug.data.resample import random_oversample
from gan_aug.mix import TrainingMix


@dataclass(frozen=True)
class TrainingSet:
    """What a method trains on: rows, optional per-class and per-row loss weights, rows drawn only
    after ``late_from`` of training, and whether batches get ordinary augmentation (random shifts
    and, when configured, horizontal flips)."""

    data: ImageSet
    class_weights: np.ndarray | None = None
    augment: bool = False
    sample_weights: np.ndarray | None = None
    late_rows: np.ndarray | None = None
    late_from: float = 0.0


# (real train, the GAN's training mix or None, seed) -> training set
MethodFn = Callable[[ImageSet, TrainingMix | None, int], TrainingSet]
METHOD_REGISTRY: dict[str, MethodFn] = {}
# Methods that use the GAN's rows; every other method is a baseline it must beat.
GAN_METHODS = ("gan",)


def register_method(name: str) -> Callable[[MethodFn], MethodFn]:
    """Decorator adding a training-set builder under ``name``."""

    def decorate(fn: MethodFn) -> MethodFn:
        if name in METHOD_REGISTRY:
            raise ValueError(f"evaluation method {name!r} is already registered")
        METHOD_REGISTRY[name] = fn
        return fn

    return decorate


def smote(train: ImageSet, seed: int, k_neighbors: int = 5) -> ImageSet:
    """SMOTE on raw pixels (imbalanced-learn): each new image interpolates a real one and one of its
    k nearest same-class neighbours. Every class is topped up to the largest class's count.

    k shrinks for classes with fewer than k + 1 images; a class with a single image is copied
    (SMOTE needs two points to interpolate). Originals come first; new rows get source index -1.
    """
    counts = train.class_counts()
    target = int(counts.max())
    single = [label for label, count in enumerate(counts) if count == 1]
    fillable = {label: target for label, count in enumerate(counts) if 1 < count < target}
    base = train
    if single:  # duplicate singletons first so SMOTE has two (identical) points to work between
        base = train.subset(np.concatenate([np.arange(len(train)), *[np.flatnonzero(train.labels == label)
                                                                        for label in single]]))
        fillable.update({label: target for label in single if target > 2})
    if not fillable:
        return random_oversample(train, seed)
    smallest = int(min(base.class_counts()[label] for label in fillable))
    sampler = SMOTE(sampling_strategy=fillable, k_neighbors=min(k_neighbors, smallest - 1), random_state=seed)
    flat = base.images.reshape(len(base), -1).astype(np.float32)
    x_new, y_new = sampler.fit_resample(flat, base.labels)
    added_images = np.clip(np.rint(x_new[len(base):]), 0, 255).astype(np.uint8).reshape(-1, *train.images.shape[1:])
    return ImageSet(
        np.concatenate([base.images, added_images]),
        np.concatenate([base.labels, np.asarray(y_new[len(base):], dtype=np.int64)]),
        train.class_names,
        np.concatenate([base.source_index, np.full(len(added_images), -1, dtype=np.int64)]),
    )


@register_method("plain")
def _plain(train: ImageSet, mix: TrainingMix | None, seed: int) -> TrainingSet:
    return TrainingSet(train)


@register_method("class_weighted")
def _class_weighted(train: ImageSet, mix: TrainingMix | None, seed: int) -> TrainingSet:
    return TrainingSet(train, balanced_class_weights(train.class_counts()))


@register_method("oversampled")
def _oversampled(train: ImageSet, mix: TrainingMix | None, seed: int) -> TrainingSet:
    return TrainingSet(random_oversample(train, seed))


@register_method("smote")
def _smote(train: ImageSet, mix: TrainingMix | None, seed: int) -> TrainingSet:
    return TrainingSet(smote(train, seed))


@register_method("standard_aug")
def _standard_aug(train: ImageSet, mix: TrainingMix | None, seed: int) -> TrainingSet:
    """Ordinary augmentation as people use it on imbalanced data: oversample, then shift (and flip)
    every batch, so the repeated minority images differ from one another."""
    return TrainingSet(random_oversample(train, seed), augment=True)


@register_method("gan")
def _gan(train: ImageSet, mix: TrainingMix | None, seed: int) -> TrainingSet:
    """The shipped mix: real rows, the chosen synthetic rows with their loss weight, duplicates."""
    if mix is None:
        raise ValueError("evaluation method 'gan' needs the GAN's training mix")
    weights = mix.weights if mix.synthetic_weight != 1.0 else None
    late = mix.is_synthetic if mix.late_from > 0 else None
    return TrainingSet(mix.data(), sample_weights=weights, late_rows=late, late_from=mix.late_from)


# Every method, in the order tables list them: the baselines, then the GAN.
METHODS: tuple[str, ...] = tuple(METHOD_REGISTRY)
