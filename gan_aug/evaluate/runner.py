"""Run every method on every seed with the same classifier and budget, score each on the real test
set, and compare the GAN against the best baseline seed by seed."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from gan_aug.classify import predict, train_classifier
from gan_aug.config import EvaluateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate.intervals import mean_interval, paired_comparison
from gan_aug.evaluate.methods import GAN_METHODS, METHOD_REGISTRY, TrainingSet
from gan_aug.evaluate.scores import HEADLINE_METRICS, classification_metrics
from gan_aug.models.classifier import build_classifier
from gan_aug.models.diffaugment import translation

# (method, seed, step, total_steps, loss): lets a caller log long work without this module knowing how.
MethodProgressFn = Callable[[str, int, int, int, float], None]
# What "best baseline" and the paired comparison are judged on.
PRIMARY_METRIC = "balanced_accuracy"


def evaluation_seeds(config: EvaluateConfig) -> list[int]:
    return [config.seed + i for i in range(config.seeds)]


def batch_augment(config: EvaluateConfig):
    """Ordinary augmentation for one batch: shifts of up to ``shift`` of the size (border repeated),
    and a horizontal flip of half the images when ``flip`` is on."""

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = translation(x, generator, ratio=config.shift, edge=True)
        if config.flip:
            flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator) < 0.5
            x = torch.where(flip, x.flip(3), x)
        return x

    return augment


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


def fit_and_score(
    method: str, training: TrainingSet, test: ImageSet, config: EvaluateConfig, seed: int,
    device: torch.device | str = "cpu", progress: MethodProgressFn | None = None,
) -> dict:
    """Train the configured classifier on one method's set with one seed and score it on ``test``."""
    data = training.data
    model = train_classifier(
        data.images, data.labels, data.num_classes,
        steps=config.steps, batch_size=config.batch_size, lr=config.lr, seed=seed, device=device,
        class_weights=training.class_weights, schedule=config.schedule,
        augment=batch_augment(config) if training.augment else None,
        progress=None if progress is None else (lambda step, total, loss: progress(method, seed, step, total, loss)),
        build_model=lambda: build_classifier(config.model, data.num_classes, data.channels, config.width),
    )
    return classification_metrics(test.labels, predict(model, test.images), test.num_classes)


def summarise_runs(runs: list[dict], train_rows: int, seconds: float) -> dict:
    """One method's seeds folded into means, 95% intervals, per-seed values, mean per-class recall and
    the confusion matrix summed over seeds."""
    entry: dict = {"train_rows": train_rows, "seconds": round(seconds, 2), "ci": {}, "per_seed": {}}
    for key in HEADLINE_METRICS:
        values = [run[key] for run in runs]
        summary = mean_interval(values)
        entry[key], entry["ci"][key], entry["per_seed"][key] = summary["mean"], summary["ci"], values
    entry["per_class_recall"] = np.mean([run["per_class_recall"] for run in runs], axis=0).tolist()
    entry["confusion_matrix"] = np.sum([run["confusion_matrix"] for run in runs], axis=0).astype(int).tolist()
    return entry


def compare_to_best_baseline(results: dict[str, dict]) -> tuple[str | None, dict[str, dict]]:
    """The baseline with the highest mean balanced accuracy, and each GAN method paired against it."""
    baselines = {name: entry for name, entry in results.items() if name not in GAN_METHODS}
    if not baselines:
        return None, {}
    best = max(baselines, key=lambda name: baselines[name][PRIMARY_METRIC])
    comparisons = {
        name: {"baseline": best, "metric": PRIMARY_METRIC,
               **paired_comparison(results[name]["per_seed"][PRIMARY_METRIC],
                                   baselines[best]["per_seed"][PRIMARY_METRIC])}
        for name in GAN_METHODS if name in results
    }
    return best, comparisons


def _gains(results: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Differences of means of each GAN method over each baseline (positive = the GAN helped)."""
    return {
        f"{ours}_vs_{name}": {key: results[ours][key] - scores[key] for key in HEADLINE_METRICS}
        for ours in GAN_METHODS if ours in results
        for name, scores in results.items() if name not in GAN_METHODS
    }


def evaluate_downstream(
    train: ImageSet,
    augmented: ImageSet,
    test: ImageSet,
    config: EvaluateConfig,
    device: torch.device | str = "cpu",
    progress: MethodProgressFn | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
) -> dict:
    """Train one classifier per (method, seed), score each on the real test set, compare.

    Returns ``{"classifier", "seeds", "methods": {name: {accuracy, balanced_accuracy, macro_f1,
    g_mean (means over seeds), ci, per_seed, per_class_recall, confusion_matrix, train_rows,
    seconds}}, "best_baseline", "comparison": {gan method: paired comparison with the best
    baseline}, "gain": {"<gan>_vs_<baseline>": differences of means}}``.
    """
    methods = tuple(config.methods if methods is None else methods)
    _check_compatible(train, augmented, test)
    unknown = [name for name in methods if name not in METHOD_REGISTRY]
    if unknown:
        raise ValueError(f"unknown evaluation methods {unknown}; known: {sorted(METHOD_REGISTRY)}")
    seeds = evaluation_seeds(config)
    results = {}
    for name in methods:
        runs, rows, started = [], 0, time.perf_counter()
        for seed in seeds:
            training = METHOD_REGISTRY[name](train, augmented, seed)
            rows = len(training.data)
            runs.append(fit_and_score(name, training, test, config, seed, device, progress))
        results[name] = summarise_runs(runs, rows, time.perf_counter() - started)
    best, comparison = compare_to_best_baseline(results)
    return {
        "classifier": {"model": config.model, "width": config.width, "steps": config.steps,
                       "batch_size": config.batch_size, "lr": config.lr, "schedule": config.schedule},
        "seeds": seeds, "metric": PRIMARY_METRIC, "methods": results, "best_baseline": best,
        "comparison": comparison, "gain": _gains(results),
    }
