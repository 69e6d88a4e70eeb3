"""``GANOverSampler``: the augment pipeline (features → train GAN → generate and filter → FD acceptance →
usefulness → the mix chosen on validation) as one imbalanced-learn-style call, so ``fit_resample(X, y)``
drops in where SMOTE is used today.

In memory, no Prefect, no shards. The GAN lives in a temporary folder unless ``work_dir`` is given;
there files are named by a hash of the data and settings, so a rerun reuses them and other settings
never collide with them.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import sys
import tempfile
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from imblearn.utils import check_sampling_strategy
from pydantic import BaseModel, ValidationError
from sklearn.base import BaseEstimator

from gan_aug.config import EvaluateConfig, FilterConfig, GANConfig, GenerateConfig, MixConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.device import resolve_device
from gan_aug.metrics.extractors import DomainExtractor, build_extractor
from gan_aug.mix import TrainingMix
from gan_aug.mix.policy import choose_mix, most_wanted
from gan_aug.parallel import shared_pools
from gan_aug.progress import MIX_STAGE, generation_log, progress_bars, publish, training_log
from gan_aug.stages import (
    Acceptance,
    GANJob,
    TrainedGAN,
    accept,
    assess,
    check_extractor,
    domain_model,
    generate_filtered,
    plan_gans,
    shortfall_message,
    train_job,
)
from gan_aug.synthetic import SyntheticSet

logger = logging.getLogger("gan_aug.oversampler")


class Settings(NamedTuple):
    gan: GANConfig
    generate: GenerateConfig
    filter: FilterConfig
    mix: MixConfig
    evaluate: EvaluateConfig


class GANOverSampler(BaseEstimator):
    """Brings the classes ``sampling_strategy`` targets (imbalanced-learn's meanings) to their counts with
    GAN samples, at most ``mix.dose`` per real image of a class (chosen on held-out rows by default),
    and duplicated real rows for the rest; ``sample_weight_`` holds each returned row's loss weight.

    ``gan``/``generate``/``filter``/``mix``/``evaluate``: the config sections (model or dict); ``evaluate``
    sets the classifier the mix is chosen with. ``val_fraction`` of each class is held out from the GAN to
    calibrate the discriminator filter, check FD and choose the mix (every real row is still returned).
    ``random_state`` seeds that hold-out and the feature extractor; the GAN and sampling seeds are
    ``gan.seed`` and ``generate.seed``. ``device`` overrides ``gan.device``. ``verbose`` as in
    scikit-learn: 0 is silent (the ``gan_aug.oversampler`` logger still logs), 1 and more show progress
    bars (terminal or notebook) and the log lines on stderr.
    """

    def __init__(self, sampling_strategy="auto", *, gan=None, generate=None, filter=None, mix=None, evaluate=None,
                 val_fraction=0.15, device="auto", random_state=0, work_dir=None, verbose=0):
        self.sampling_strategy, self.gan, self.generate, self.filter = sampling_strategy, gan, generate, filter
        self.mix, self.evaluate, self.verbose = mix, evaluate, verbose
        self.val_fraction, self.device, self.random_state, self.work_dir = val_fraction, device, random_state, work_dir
        self._settings()  # fail at construction on a bad setting; the stored values stay as given (clone)

    def _settings(self) -> Settings:
        settings = Settings(_section(GANConfig, self.gan, "gan"), _section(GenerateConfig, self.generate, "generate"),
                            _section(FilterConfig, self.filter, "filter"), _section(MixConfig, self.mix, "mix"),
                            _section(EvaluateConfig, self.evaluate, "evaluate"))
        if settings.generate.target_count is not None:
            raise ValueError("generate.target_count is not used by GANOverSampler: give the targets as "
                             "sampling_strategy={class: count, ...}")
        return settings

    def fit_resample(self, X, y):
        """Real rows first (unchanged, in order), then the synthetic rows grouped by class, then the
        duplicated real rows grouped by class; their loss weights are in ``sample_weight_``."""
        settings = self._settings()
        X, y = np.asarray(X), np.asarray(y)
        images, classes, encoded = _check_inputs(X, y)
        if not isinstance(self.val_fraction, Real) or not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be a number in [0, 1), got {self.val_fraction!r}")
        if not isinstance(self.random_state, Integral):
            raise TypeError(f"random_state must be an int, got {self.random_state!r}")
        labels = classes.tolist()
        targets = _targets(self.sampling_strategy, y, classes, encoded)
        self.sampling_strategy_ = {labels[k]: int(n) for k, n in targets.items()}
        self.generation_, self.gan_, self.quality_, self.acceptance_ = {}, None, {}, {}
        self.usefulness_, self.mix_, self.sample_weight_ = {}, None, np.ones(len(y), np.float32)
        needed = {k: int(n) for k, n in targets.items() if n > 0}
        if not needed:
            return X.copy(), y.copy()
        full = ImageSet(np.ascontiguousarray(images), encoded, tuple(map(str, labels)))
        with tempfile.TemporaryDirectory(prefix="gan-aug-") as tmp, _shown(bool(self.verbose)), shared_pools():
            mix = self._synthesise(full, labels, needed, settings, Path(self.work_dir or tmp))
        self.sample_weight_ = mix.weights
        new = mix.data().images[len(full):]
        return (np.concatenate([X, new if X.ndim == 4 else new[:, 0]]),
                np.concatenate([y, classes[mix.labels[len(full):]]]))

    def _synthesise(self, full: ImageSet, labels: list, needed: dict[int, int], settings: Settings,
                    folder: Path) -> TrainingMix:
        """The library's stages in memory: features → GAN(s) → generate and filter per class → acceptance →
        usefulness → the mix chosen on the held-out rows."""
        gan, gen, filt = settings.gan, settings.generate, settings.filter
        check_extractor(filt)  # before training: missing Inception weights fail now rather than after it
        val_rows = _hold_out(full.labels, self.val_fraction, int(self.random_state))
        train, val = full.subset(np.setdiff1d(np.arange(len(full)), val_rows)), full.subset(val_rows)
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():  # resolve_device names gan.device
            raise RuntimeError(f"device={self.device!r} but no CUDA device is available; use 'auto' or 'cpu'")
        device = str(resolve_device(self.device))
        # In work_dir, files are named by what made them: a rerun reuses them, other data never does.
        digest = _sha(full.images.shape, full.images, full.labels, val_rows) if self.work_dir else "temporary"
        model = domain_model(train, filt.feature_steps, seed=int(self.random_state), device=device,
                             path=folder / f"extractor-{_sha(digest, filt.feature_steps, self.random_state)[:16]}.pt"
                             if self.work_dir else None)
        judge = build_extractor(filt.extractor, domain_model=model, inception_weights=filt.inception_weights,
                                device=device)
        domain, names = DomainExtractor(model), full.class_names
        counts = full.class_counts()
        targets = counts + np.array([needed.get(k, 0) for k in range(len(counts))])
        wanted = most_wanted(counts, targets, settings.mix)
        makes = [k for k in needed if wanted[k] > 0]
        trained = self._train(plan_gans(gan.strategy, makes), train, val, gan, domain, folder, digest, device)
        # Index and class rows over every real row (train=full): no sample may copy a row the caller gets back.
        features = functools.cache(lambda: domain.features(full.images))
        parts, stats = [], {}
        for k in makes:  # in label order, so the output is grouped by class
            part, stats[k] = generate_filtered(
                trained[k].samplers[k], int(wanted[k]), filters=filt, generate=gen, val=val, train=full, domain=domain,
                train_features=features, device=device, progress=generation_log(logger, names[k]))
            parts.append(part)
        empty = SyntheticSet.empty(full.images.shape[1:], "")
        acceptance = accept(SyntheticSet.concat(parts) if parts else empty, full, judge, filt, seed=gen.seed)
        mix = self._choose(full, train, val, acceptance.accepted, targets, makes, domain, settings, device)
        self._record(full, labels, needed, trained, stats, acceptance, mix, gen.budget_factor)
        return mix

    def _choose(self, full: ImageSet, train: ImageSet, val: ImageSet, accepted: SyntheticSet, targets: np.ndarray,
                makes: list[int], domain: DomainExtractor, settings: Settings, device: str) -> TrainingMix:
        """Usefulness gates the classes, the validation grid (or the fixed dose) picks the dose; the mix is
        then built over every real row."""
        found = assess(train, val, None, accepted, None, domain, settings.evaluate, device=device)
        eligible = found.eligible(makes, settings.mix.min_agreement)
        choice = choose_mix(train, val, accepted, targets - (full.class_counts() - train.class_counts()), eligible,
                            settings.mix, settings.evaluate, device=device,
                            progress=lambda done, total: publish(MIX_STAGE, done, total))
        logger.info("mix: %s", choice.reason)
        self.usefulness_, self.mix_ = found.to_dict(), choice.to_dict()
        return choice.build(full, accepted, targets, settings.mix.seed)

    def _train(self, jobs: list[GANJob], train: ImageSet, val: ImageSet, gan: GANConfig, domain: DomainExtractor,
               folder: Path, digest: str, device: str) -> dict[int, TrainedGAN]:
        """Each planned GAN, its checkpoint named by the data and settings; class → the GAN that makes it."""
        base_hash, trained = _sha(digest, gan.model_dump_json()), {}
        for job in jobs:
            name = job.name(train.class_names)
            path = folder / f"gan-{_sha(job.config_hash(base_hash))[:16]}.pt"
            run = train_job(job, train, val, gan, path, base_hash=base_hash, domain=domain, device=device,
                            progress=training_log(logger, name), warn=logger.warning)
            logger.info("%s ready after %d steps (%d of them from %s) in %.1f s", name, run.result.steps,
                        run.result.resumed_from, path, run.result.seconds)
            trained.update({label: run for label in job.classes})
        return trained

    def _record(self, full: ImageSet, labels: list, needed: dict[int, int], trained: dict[int, TrainedGAN],
                stats: dict, acceptance: Acceptance, mix: TrainingMix, budget_factor: float) -> None:
        """The fitted attributes (keyed by the caller's labels), and a warning for each class the filters
        left short of what it asked for."""
        report, shipped = acceptance.report, mix.class_counts("synthetic")
        if report.message:
            logger.warning(report.message)
            warnings.warn(report.message, stacklevel=4)
        runs = {labels[k]: {**run.result.to_dict(), "checkpoint": str(run.result.checkpoint) if self.work_dir else None}
                for k, run in trained.items()}  # a temporary checkpoint is gone by now
        self.gan_ = next(iter(runs.values())) if next(iter(trained.values())).job.shared else runs
        self.quality_ = {labels[k]: q for k, q in report.quality.items()}
        self.acceptance_ = {labels[k]: s for k, s in report.status.items()}
        duplicates = mix.class_counts("duplicate")
        for k in stats:
            kept = int(np.sum(acceptance.accepted.labels == k))
            self.generation_[labels[k]] = {**stats[k].to_dict(), "used": int(shipped[k]), "kept": kept,
                                           "duplicates": int(duplicates[k])}
            message = shortfall_message(repr(labels[k]), stats[k], kept, budget_factor)
            if k not in report.dropped and message:
                warnings.warn(message, stacklevel=4)


@contextlib.contextmanager
def _shown(verbose: bool):
    """Progress bars and the log lines on stderr while fitting, when ``verbose``."""
    if not verbose:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s  %(message)s", "%H:%M:%S"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        with progress_bars(enabled=True):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _section(model: type[BaseModel], value, name: str) -> BaseModel:
    """None → defaults; a model or dict → (re)validated; errors name each bad setting as ``name.field``."""
    if value is not None and not isinstance(value, (dict, model)):
        raise TypeError(f"{name} must be a {model.__name__} or a dict of its settings, got {type(value).__name__}")
    raw = value.model_dump() if isinstance(value, model) else value or {}
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, (name, *e['loc'])))}: {e['msg']}" for e in error.errors())
        raise ValueError(f"invalid {name} settings: {problems}") from None


def _check_inputs(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N×C×H×W images, the sorted classes (y's dtype) and y encoded 0..K-1; errors say what to change."""
    if X.dtype != np.uint8:
        raise ValueError(f"X must be uint8 pixels 0..255, got {X.dtype}; convert it first, e.g. "
                         "np.clip(np.rint(X * 255), 0, 255).astype(np.uint8) for floats in [0, 1]")
    if not (X.ndim == 3 or (X.ndim == 4 and X.shape[1] in (1, 3))):
        hint = "; channels last? pass X.transpose(0, 3, 1, 2)" if X.ndim == 4 and X.shape[3] in (1, 3) else ""
        raise ValueError(f"X must be N×H×W (grayscale) or N×C×H×W with C = 1 or 3 channels, got shape {X.shape}{hint}")
    images = X[:, None] if X.ndim == 3 else X
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be square (H = W), got {images.shape[2]}×{images.shape[3]}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be 1-D with one label per image: len(X) = {len(X)}, y has shape {y.shape}")
    classes, encoded, counts = np.unique(y, return_inverse=True, return_counts=True)
    if (counts < 2).any():
        few = {c: int(n) for c, n in zip(classes.tolist(), counts) if n < 2}
        raise ValueError(f"every class needs at least 2 images (one is held out, and a GAN cannot learn a class "
                         f"from none); too few: {few}")
    return images, classes, encoded.reshape(-1).astype(np.int64)


def _targets(strategy, y: np.ndarray, classes: np.ndarray, encoded: np.ndarray) -> dict[int, int]:
    """Encoded class → samples to add, by imblearn's rules; user labels are translated first so that
    errors name them (a callable, as in imblearn, sees the user's ``y``)."""
    index = {label: i for i, label in enumerate(classes.tolist())}
    if callable(strategy):
        strategy = strategy(y)
    if isinstance(strategy, dict):
        unknown = [k for k in strategy if k not in index]
        if unknown:
            raise ValueError(f"sampling_strategy names class(es) {unknown} not in y; y's classes: {list(index)}")
        counts = np.bincount(encoded, minlength=len(classes))
        for label, target in strategy.items():
            if target < counts[index[label]]:
                raise ValueError(f"sampling_strategy asks for {target} images of class {label!r}, which already "
                                 f"has {counts[index[label]]}; an over-sampler can only add images")
        strategy = {index[k]: v for k, v in strategy.items()}
    try:
        return dict(check_sampling_strategy(strategy, encoded, "over-sampling"))
    except ValueError as error:
        raise ValueError(f"sampling_strategy: {error}") from None


def _hold_out(encoded: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Rows held out per class: about ``fraction`` of it, at least one (when fraction > 0) and never all."""
    rng, held = np.random.default_rng(seed), []
    for label in range(int(encoded.max()) + 1):
        rows = rng.permutation(np.flatnonzero(encoded == label))
        held.append(rows[: min(len(rows) - 1, max(1, round(fraction * len(rows))))] if fraction > 0 else rows[:0])
    return np.sort(np.concatenate(held))


def _sha(*parts) -> str:
    """Content hash of arrays (their bytes, not copied) and small values (their repr)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(np.ascontiguousarray(part).data if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()
