"""Downstream evaluation: does training on the augmented set beat the real-data baselines?

Every method trains the same classifier with the same budget and seed on a different training
set, and is scored on the same real test set, so the only thing that changes is the data. A
method is a small named function in ``METHOD_REGISTRY`` that builds its training set; adding a
baseline (class weights, SMOTE, ...) is one more registered function, not a new loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score

from gan_aug.classify import predict, train_classifier
from gan_aug.config import EvaluateConfig
from gan_aug.data.imageset import ImageSet

# (method_name, step, total_steps, loss): lets a caller log long work without this module knowing how.
MethodProgressFn = Callable[[str, int, int, float], None]

HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """Headline scores plus per-class recall, as plain floats so the dict goes straight to JSON.

    Per-class recall is listed for every class (zero when a class is absent from ``y_true``),
    since the rare classes are the ones a user needs to see. Balanced accuracy follows
    scikit-learn: the mean recall over the classes present in ``y_true``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be equal-length non-empty 1-D arrays, "
                         f"got shapes {y_true.shape} and {y_pred.shape}")
    labels = list(range(num_classes))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class_recall": [float(value) for value in recall],
    }


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


@dataclass(frozen=True)
class TrainingSet:
    """What a method trains on: the rows, and optional per-class loss weights (for reweighting baselines)."""

    data: ImageSet
    class_weights: np.ndarray | None = None


# A method builds its training set from (real train, augmented, seed).
MethodFn = Callable[[ImageSet, ImageSet, int], TrainingSet]
METHOD_REGISTRY: dict[str, MethodFn] = {}


def register_method(name: str) -> Callable[[MethodFn], MethodFn]:
    """Decorator adding a training-set builder under ``name``."""

    def decorate(fn: MethodFn) -> MethodFn:
        if name in METHOD_REGISTRY:
            raise ValueError(f"evaluation method {name!r} is already registered")
        METHOD_REGISTRY[name] = fn
        return fn

    return decorate


@register_method("real")
def _real(train: ImageSet, augmented: ImageSet, seed: int) -> TrainingSet:
    return TrainingSet(train)


@register_method("oversampled")
def _oversampled(train: ImageSet, augmented: ImageSet, seed: int) -> TrainingSet:
    return TrainingSet(random_oversample(train, seed))


@register_method("augmented")
def _augmented(train: ImageSet, augmented: ImageSet, seed: int) -> TrainingSet:
    return TrainingSet(augmented)


# The methods evaluate_downstream runs by default; "augmented" is compared against each of the others.
METHODS: tuple[str, ...] = ("real", "oversampled", "augmented")


def _check_compatible(train: ImageSet, augmented: ImageSet, test: ImageSet) -> None:
    """Scores are only comparable when every set has the same classes (same order) and image shape."""
    for name, other in (("augmented", augmented), ("test", test)):
        if other.class_names != train.class_names:
            raise ValueError(f"{name} set's class_names {other.class_names} differ from the train set's "
                             f"{train.class_names}; labels would mean different classes")
        if other.images.shape[1:] != train.images.shape[1:]:
            raise ValueError(f"{name} set's images are C×H×W {other.images.shape[1:]}, "
                             f"the train set's are {train.images.shape[1:]}")
    if len(test) == 0:
        raise ValueError("the test set is empty; there is nothing to score on")


def _fit_and_score(
    method: str, training: TrainingSet, test: ImageSet, config: EvaluateConfig,
    device: torch.device | str, progress: MethodProgressFn | None,
) -> dict:
    """Train the shared classifier on one method's set (same budget and seed for all) and score it."""
    data = training.data
    model = train_classifier(
        data.images, data.labels, data.num_classes,
        steps=config.steps, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        device=device, class_weights=training.class_weights,
        progress=None if progress is None else (lambda step, total, loss: progress(method, step, total, loss)),
    )
    scores = classification_metrics(test.labels, predict(model, test.images), test.num_classes)
    return {**scores, "train_rows": len(data)}


def _gains(results: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Headline differences of "augmented" over each other method (positive = augmentation helped)."""
    if "augmented" not in results:
        return {}
    ours = results["augmented"]
    return {
        f"augmented_vs_{name}": {key: ours[key] - scores[key] for key in HEADLINE_METRICS}
        for name, scores in results.items()
        if name != "augmented"
    }


def evaluate_downstream(
    train: ImageSet,
    augmented: ImageSet,
    test: ImageSet,
    config: EvaluateConfig,
    device: torch.device | str = "cpu",
    progress: MethodProgressFn | None = None,
    methods: tuple[str, ...] = METHODS,
) -> dict:
    """Train one classifier per method, score each on the real test set, and report the gains.

    Returns ``{"methods": {name: {accuracy, balanced_accuracy, macro_f1, per_class_recall,
    train_rows}}, "gain": {"augmented_vs_<name>": {accuracy, balanced_accuracy, macro_f1}}}``.
    """
    _check_compatible(train, augmented, test)
    unknown = [name for name in methods if name not in METHOD_REGISTRY]
    if unknown:
        raise ValueError(f"unknown evaluation methods {unknown}; known: {sorted(METHOD_REGISTRY)}")
    results = {
        name: _fit_and_score(name, METHOD_REGISTRY[name](train, augmented, config.seed), test,
                             config, device, progress)
        for name in methods
    }
    return {"methods": results, "gain": _gains(results)}
