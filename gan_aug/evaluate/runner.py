"""Run every method on every seed with the same classifier and budget, score each on the real test
set, and compare the GAN against the best baseline seed by seed, in balanced accuracy and in the
recall of the rarest classes (few-shot recall), where synthetic rows are meant to help."""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from gan_aug.classify import EarlyStop, predict, train_classifier
from gan_aug.config import EvaluateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate.intervals import mean_interval, paired_comparison
from gan_aug.evaluate.methods import GAN_METHODS, METHOD_REGISTRY, TrainingSet
from gan_aug.evaluate.scores import FEW_SHOT, HEADLINE_METRICS, classification_metrics
from gan_aug.mix import TrainingMix
from gan_aug.models.diffaugment import translation
from gan_aug.parallel import classifier_workers, run_all, worker_id
from gan_aug.progress import Progress, with_details

# What "best baseline" and the paired comparison are judged on.
PRIMARY_METRIC = "balanced_accuracy"


# Unset evaluate.steps: about this many passes over the real training rows, within bounds. Small images
# and sets then train in seconds (the demo's 357 8×8 digits: 150 steps of 256), large ones long enough.
EPOCHS, MIN_STEPS, MAX_STEPS = 40, 150, 3000


def evaluation_seeds(config: EvaluateConfig) -> list[int]:
    return [config.seed + i for i in range(config.seeds)]


def with_steps(config: EvaluateConfig, train_rows: int) -> EvaluateConfig:
    """The config with its step count resolved for a training set of ``train_rows`` real rows."""
    if config.steps is not None:
        return config
    steps = min(max(math.ceil(EPOCHS * train_rows / config.batch_size), MIN_STEPS), MAX_STEPS)
    return config.model_copy(update={"steps": steps})


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


def _check_compatible(train: ImageSet, mix: TrainingMix | None, test: ImageSet) -> None:
    """Scores are only comparable when every set has the same classes (same order) and image shape."""
    others = [("test", test)] + ([("mix", mix.real)] if mix is not None else [])
    for name, other in others:
        if other.class_names != train.class_names:
            raise ValueError(f"{name} set's class_names {other.class_names} differ from the train set's "
                             f"{train.class_names}; labels would mean different classes")
        if other.images.shape[1:] != train.images.shape[1:]:
            raise ValueError(f"{name} set's images are C×H×W {other.images.shape[1:]}, "
                             f"the train set's are {train.images.shape[1:]}")
    if len(test) == 0:
        raise ValueError("the test set is empty; there is nothing to score on")


def rarest_classes(train: ImageSet, count: int = FEW_SHOT) -> list[int]:
    """The classes with the fewest real training rows (ties by label): few-shot recall's classes."""
    counts = train.class_counts()
    return sorted(np.argsort(counts, kind="stable")[:count].tolist())


def early_stop(config: EvaluateConfig, val: ImageSet | None) -> EarlyStop | None:
    """The config's stop on ``val`` for one run (a fresh record each), or None: patience 0 or no
    validation rows. ``config.steps`` must be resolved (``with_steps``)."""
    if not config.patience or val is None or len(val) == 0:
        return None
    every = config.check_every or max(25, config.steps // 20)
    return EarlyStop(val.images, val.labels, every=every, patience=config.patience)


def fit_method(method: str, training: TrainingSet, config: EvaluateConfig, seed: int,
               device: torch.device | str = "cpu", progress: Progress | None = None,
               stop: EarlyStop | None = None) -> torch.nn.Module:
    """The configured classifier trained on one method's set with one seed (``progress`` hears the
    trainer's steps with the ``method`` and ``seed`` added); ``stop`` ends it on validation."""
    data, config = training.data, with_steps(config, len(training.data))
    return train_classifier(
        data.images, data.labels, data.num_classes,
        steps=config.steps, batch_size=config.batch_size, lr=config.lr, seed=seed, device=device,
        class_weights=training.class_weights, sample_weights=training.sample_weights,
        late_rows=training.late_rows, late_from=training.late_from, schedule=config.schedule,
        augment=batch_augment(config) if training.augment else None,
        progress=None if progress is None else with_details(progress, method=method, seed=seed),
        model=config.model, width=config.width, stop=stop,
    )


def fit_and_score(method: str, training: TrainingSet, test: ImageSet, config: EvaluateConfig, seed: int,
                  device: torch.device | str = "cpu", progress: Progress | None = None,
                  rare: list[int] | None = None, val: ImageSet | None = None) -> dict:
    """Train on one method's set with one seed (stopped on ``val`` by the config's patience) and score on
    ``test``; ``rare`` are few-shot recall's classes. The scores also hold the run's ``seconds``,
    ``final_loss``, ``steps`` (the steps that ran) and ``worker`` (``host:pid`` of the process it ran in)."""
    started, losses = time.perf_counter(), []
    config = with_steps(config, len(training.data))
    stop = early_stop(config, val)

    def record(step: int, total: int, /, **details) -> None:
        losses.append(details["loss"])
        if progress is not None:
            progress(step, total, **details)

    model = fit_method(method, training, config, seed, device, record, stop)
    scores = classification_metrics(test.labels, predict(model, test.images), test.num_classes)
    recall = np.asarray(scores["per_class_recall"])
    scores["few_shot_recall"] = float(recall[rare].mean()) if rare else None
    return {**scores, "seconds": time.perf_counter() - started, "final_loss": losses[-1] if losses else None,
            "steps": stop.steps_run if stop is not None else config.steps, "worker": worker_id()}


def _run(job: tuple, test: ImageSet, val: ImageSet | None) -> dict:
    """One (method, seed) run in a worker process: fit_and_score of a picklable job; ``test`` and
    ``val`` are every run's (run_all's ``shared``: sent to a cluster once, not with each job)."""
    method, training, config, seed, device, rare = job
    return fit_and_score(method, training, test, config, seed, device, rare=rare, val=val)


def summarise_runs(runs: list[dict], train_rows: int, seconds: float) -> dict:
    """One method's seeds folded into means, 95% intervals, per-seed values, mean per-class recall and
    the confusion matrix summed over seeds; per seed, the steps that ran and the worker that ran it."""
    entry: dict = {"train_rows": train_rows, "seconds": round(seconds, 2), "ci": {}, "per_seed": {},
                   "steps": [run["steps"] for run in runs], "workers": [run.get("worker") or "" for run in runs]}
    for key in HEADLINE_METRICS:
        values = [run[key] for run in runs]
        if any(value is None for value in values):
            continue
        summary = mean_interval(values)
        entry[key], entry["ci"][key], entry["per_seed"][key] = summary["mean"], summary["ci"], values
    entry["per_class_recall"] = np.mean([run["per_class_recall"] for run in runs], axis=0).tolist()
    entry["confusion_matrix"] = np.sum([run["confusion_matrix"] for run in runs], axis=0).astype(int).tolist()
    return entry


def compare_to_best_baseline(results: dict[str, dict]) -> tuple[str | None, dict[str, dict]]:
    """The baseline with the highest mean balanced accuracy, and each GAN method paired against it, in
    balanced accuracy (the top-level fields) and in few-shot recall (``few_shot_recall``)."""
    baselines = {name: entry for name, entry in results.items() if name not in GAN_METHODS}
    if not baselines:
        return None, {}
    best = max(baselines, key=lambda name: baselines[name][PRIMARY_METRIC])
    comparisons = {}
    for name in (n for n in GAN_METHODS if n in results):
        ours, theirs = results[name]["per_seed"], baselines[best]["per_seed"]
        comparisons[name] = {"baseline": best, "metric": PRIMARY_METRIC,
                             **paired_comparison(ours[PRIMARY_METRIC], theirs[PRIMARY_METRIC])}
        if "few_shot_recall" in ours and "few_shot_recall" in theirs:
            comparisons[name]["few_shot_recall"] = paired_comparison(ours["few_shot_recall"], theirs["few_shot_recall"])
    return best, comparisons


def _gains(results: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Differences of means of each GAN method over each baseline (positive = the GAN helped)."""
    return {
        f"{ours}_vs_{name}": {key: results[ours][key] - scores[key] for key in HEADLINE_METRICS
                              if key in results[ours] and key in scores}
        for ours in GAN_METHODS if ours in results
        for name, scores in results.items() if name not in GAN_METHODS
    }


def evaluate_downstream(
    train: ImageSet,
    mix: TrainingMix | None,
    test: ImageSet,
    config: EvaluateConfig,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    methods: tuple[str, ...] | list[str] | None = None,
    val: ImageSet | None = None,
) -> dict:
    """Train one classifier per (method, seed), score each on the real test set, compare. Given ``val``,
    each run stops once validation stops improving (``config.patience``) and keeps its best weights.

    ``mix`` is the GAN's training split as shipped (None: baselines only). Returns ``{"classifier",
    "seeds", "few_shot_classes", "methods": {name: {accuracy, balanced_accuracy, macro_f1, g_mean,
    few_shot_recall (means over seeds), ci, per_seed, per_class_recall, confusion_matrix, train_rows,
    seconds, steps (per seed: the steps that ran), workers (per seed: the host:pid it ran in)}},
    "best_baseline", "comparison": {gan method: paired comparison with the best baseline}, "gain":
    {"<gan>_vs_<baseline>": differences of means}}``.
    """
    methods = tuple(config.methods if methods is None else methods)
    config = with_steps(config, len(train))
    if mix is None:
        methods = tuple(name for name in methods if name not in GAN_METHODS)
    _check_compatible(train, mix, test)
    unknown = [name for name in methods if name not in METHOD_REGISTRY]
    if unknown:
        raise ValueError(f"unknown evaluation methods {unknown}; known: {sorted(METHOD_REGISTRY)}")
    seeds, rare = evaluation_seeds(config), rarest_classes(train)
    jobs = [(name, METHOD_REGISTRY[name](train, mix, seed), config, seed, device, rare)
            for name in methods for seed in seeds]
    runs: dict[str, list[dict]] = {name: [] for name in methods}
    workers = classifier_workers(config, device, len(jobs), train.images.shape[1:])
    runs_done = run_all(_run, jobs, workers, what="evaluation classifier run", shared=(test, val))
    for (name, _training, _config, seed, _device, _rare), run in zip(jobs, runs_done):
        runs[name].append(run)
        if progress is not None:
            progress(config.steps, config.steps, method=name, seed=seed, loss=run["final_loss"], steps=run["steps"])
    rows = {name: len(training.data) for name, training, *_ in jobs}
    results = {name: summarise_runs(runs[name], rows[name], sum(run["seconds"] for run in runs[name]))
               for name in methods}
    best, comparison = compare_to_best_baseline(results)
    return {
        "classifier": {"model": config.model, "width": config.width, "steps": config.steps,
                       "batch_size": config.batch_size, "lr": config.lr, "schedule": config.schedule,
                       "patience": config.patience if val is not None else 0, "check_every": config.check_every},
        "seeds": seeds, "metric": PRIMARY_METRIC, "few_shot_classes": rare, "methods": results,
        "best_baseline": best, "comparison": comparison, "gain": _gains(results),
    }
