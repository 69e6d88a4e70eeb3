"""``GANOverSampler``: the augment pipeline (features → train GAN → generate and filter → FD acceptance) as
one imbalanced-learn-style call, so ``fit_resample(X, y)`` drops in where SMOTE is used today.

In memory, no Prefect, no shards. The GAN lives in a temporary folder unless ``work_dir`` is given;
there files are named by a hash of the data and settings, so a rerun reuses them and other settings
never collide with them.
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from imblearn.utils import check_sampling_strategy
from pydantic import BaseModel, ValidationError
from sklearn.base import BaseEstimator

from gan_aug.checkpoint import load_sampler
from gan_aug.config import FilterConfig, GANConfig, GenerateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.device import resolve_device
from gan_aug.filters import NearestReal, decide
from gan_aug.filters.build import build_chain
from gan_aug.generate import generate_class
from gan_aug.metrics.extractors import DomainExtractor, build_extractor
from gan_aug.metrics.features import load_extractor, save_extractor, train_domain_extractor
from gan_aug.metrics.per_class import quality_per_class
from gan_aug.monitor import build_monitor
from gan_aug.synthetic import SyntheticSet
from gan_aug.train import train_gan

logger = logging.getLogger("gan_aug.oversampler")


class GANOverSampler(BaseEstimator):
    """Adds GAN samples to the classes ``sampling_strategy`` targets (imbalanced-learn's meanings).

    ``gan``/``generate``/``filter``: the config sections (model or dict). ``val_fraction`` of each class
    is held out from the GAN to calibrate the discriminator filter and check FD (every real row is still
    returned). ``random_state`` seeds that hold-out and the feature extractor; the GAN and sampling
    seeds are ``gan.seed`` and ``generate.seed``. ``device`` overrides ``gan.device``.
    """

    def __init__(self, sampling_strategy="auto", *, gan=None, generate=None, filter=None, val_fraction=0.15,
                 device="auto", random_state=0, work_dir=None):
        self.sampling_strategy, self.gan, self.generate, self.filter = sampling_strategy, gan, generate, filter
        self.val_fraction, self.device, self.random_state, self.work_dir = val_fraction, device, random_state, work_dir
        self._settings()  # fail at construction on a bad setting; the stored values stay as given (clone)

    def _settings(self) -> tuple[GANConfig, GenerateConfig, FilterConfig]:
        gan, generate = _section(GANConfig, self.gan, "gan"), _section(GenerateConfig, self.generate, "generate")
        filt = _section(FilterConfig, self.filter, "filter")
        if generate.target_count is not None:
            raise ValueError("generate.target_count is not used by GANOverSampler: give the targets as "
                             "sampling_strategy={class: count, ...}")
        return gan, generate, filt

    def fit_resample(self, X, y):
        """Real rows first (unchanged, in order), then the synthetic rows grouped by class."""
        gan, gen, filt = self._settings()
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
        needed = {k: int(n) for k, n in targets.items() if n > 0}
        if not needed:
            return X.copy(), y.copy()
        full = ImageSet(np.ascontiguousarray(images), encoded, tuple(map(str, labels)))
        with tempfile.TemporaryDirectory(prefix="gan-aug-") as tmp:
            candidates, stats, runs, judge = self._synthesise(full, needed, gan, gen, filt, Path(self.work_dir or tmp))
        quality = quality_per_class(judge, full, candidates, seed=gen.seed, bootstrap_rounds=filt.bootstrap_rounds)
        decision = decide(quality, full.class_names, policy=filt.fd_policy, max_ratio=filt.fd_max_ratio,
                          min_real=filt.fd_min_real)  # raises FDAcceptanceError under fd_policy "fail"
        if decision.message:
            logger.warning(decision.message)
            warnings.warn(decision.message, stacklevel=2)
        accepted = candidates.select(~np.isin(candidates.labels, decision.drop))
        runs = {labels[k]: {**r.to_dict(), "checkpoint": str(r.checkpoint) if self.work_dir else None}
                for k, r in runs.items()}  # a temporary checkpoint is gone by now
        self.gan_ = next(iter(runs.values())) if gan.strategy == "shared" else runs
        self.quality_ = {labels[k]: q for k, q in quality.items()}
        self.acceptance_ = {labels[k]: s for k, s in decision.status.items()}
        for k, n in needed.items():
            used, have = int(np.sum(accepted.labels == k)), int(np.sum(encoded == k))
            self.generation_[labels[k]] = {**stats[k].to_dict(), "used": used}
            if k not in decision.drop and used < n:
                warnings.warn(f"class {labels[k]!r}: only {used} of {n} synthetic samples passed the filters within "
                              f"the budget ({stats[k].generated} generated, generate.budget_factor "
                              f"{gen.budget_factor:g}); it ends with {have + used} rows, not {have + n}", stacklevel=2)
        new = accepted.images if X.ndim == 4 else accepted.images[:, 0]
        return np.concatenate([X, new]), np.concatenate([y, classes[accepted.labels]])

    def _synthesise(self, full: ImageSet, needed: dict[int, int], gan: GANConfig, gen: GenerateConfig,
                    filt: FilterConfig, folder: Path):
        """features → train GAN(s) → generate and filter per class, as flows/augment.py composes them."""
        val_rows = _hold_out(full.labels, self.val_fraction, int(self.random_state))
        train, val = full.subset(np.setdiff1d(np.arange(len(full)), val_rows)), full.subset(val_rows)
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():  # resolve_device names gan.device
            raise RuntimeError(f"device={self.device!r} but no CUDA device is available; use 'auto' or 'cpu'")
        device = str(resolve_device(self.device))
        # In work_dir, files are named by what made them: a rerun reuses them, other data never does.
        digest = _sha(full.images.shape, full.images, full.labels, val_rows) if self.work_dir else "temporary"
        extractor_path = folder / f"extractor-{_sha(digest, filt.feature_steps, self.random_state)[:16]}.pt"
        model = self._domain_model(train, filt.feature_steps, extractor_path, device)
        # Built before training, so missing Inception weights fail now rather than after it.
        judge = build_extractor(filt.extractor, domain_model=model, inception_weights=filt.inception_weights,
                                device=device)
        domain, shared = DomainExtractor(model), gan.strategy == "shared"
        runs = _train_gans(gan, train, val, list(needed), domain, folder, digest, device)
        # Index and class rows over every real row (train=full): no sample may copy a row the caller gets back.
        nearest = NearestReal(domain.features(full.images)) if "memorisation" in filt.filters else None
        parts, stats = [], {}
        for k, n in needed.items():  # in label order, so the output is grouped by class
            generator, discriminator = load_sampler(runs[k].checkpoint, device, label=k)
            chain = build_chain(filt, k, discriminator=discriminator, model_label=k if shared else 0, shared=shared,
                                val=val, train=full, domain=domain, nearest=nearest)
            part, stats[k] = generate_class(
                generator, discriminator, k, n, chain=chain, generator_sha256=runs[k].sha256,
                batch_size=gen.batch_size, budget_factor=gen.budget_factor, seed=gen.seed,
                model_label=k if shared else 0, progress=_generation_progress(full.class_names[k]))
            parts.append(part)
        return SyntheticSet.concat(parts), stats, runs, judge

    def _domain_model(self, train: ImageSet, steps: int, path: Path, device: str):
        """The domain classifier (FD checks and the label/memorisation filters), kept in ``work_dir``."""
        if self.work_dir and path.exists():
            return load_extractor(path, device)
        logger.info("training the domain feature extractor (%d steps)", steps)
        model = train_domain_extractor(train, steps=steps, seed=int(self.random_state), device=device)
        if self.work_dir:
            save_extractor(model, path)
        return model


def _train_gans(gan: GANConfig, train: ImageSet, val: ImageSet, targeted: list[int], domain: DomainExtractor,
                folder: Path, digest: str, device: str) -> dict:
    """One shared conditional GAN, or one GAN per targeted class (``gan.strategy``); class → TrainResult."""
    shared = gan.strategy == "shared"
    jobs = [(None, targeted)] if shared else [(k, [k]) for k in targeted]
    runs = {}
    for key, watched in jobs:
        name = "GAN" if shared else f"GAN of class {train.class_names[key]!r}"
        config_hash = _sha(digest, gan.model_dump_json(), "shared" if shared else f"class-{key}")
        monitor = build_monitor(domain, val, train, watched, samples=gan.eval_samples,
                                model_labels={k: k if shared else 0 for k in watched}) if gan.eval_every else None
        path = folder / f"gan-{config_hash[:16]}.pt"
        result = train_gan(train if shared else train.single_class(key), gan, path, config_hash=config_hash,
                           device=device, monitor=monitor, progress=_training_progress(name),
                           log_every=max(gan.steps // 10, 1))
        logger.info("%s ready after %d steps (%d of them from %s) in %.1f s", name, result.steps,
                    result.resumed_from, path, result.seconds)
        runs.update({k: result for k in watched})
    return runs


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


def _training_progress(name: str):
    """A line at each tenth of training (train_gan reports every ``log_every`` steps) and at each FD check."""

    def progress(step: int, total: int, record: dict) -> None:
        if "loss_d" in record:
            logger.info("%s step %d/%d  loss_d %.3f  loss_g %.3f", name, step, total, record["loss_d"],
                        record["loss_g"])
        if "fd" in record:
            logger.info("%s step %d: FD per class %s", name, step, record["fd"])

    return progress


def _generation_progress(label):
    """A line at each tenth of the class's target."""
    reported: set[int] = set()

    def progress(accepted: int, needed: int, generated: int) -> None:
        decile = 10 * accepted // max(needed, 1)
        if decile not in reported:
            reported.add(decile)
            logger.info("class %s: %d/%d accepted of %d generated", label, accepted, needed, generated)

    return progress
