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
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type
from joblib import effective_n_jobs
from pydantic import BaseModel, ValidationError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from gan_aug.code_digest import code_digest
from gan_aug.config import (
    AugmentConfig,
    EvaluateConfig,
    FilterConfig,
    GANConfig,
    GenerateConfig,
    MixConfig,
)
from gan_aug.data.arrays import CHANNEL_ORDERS, ImageLayout
from gan_aug.data.imageset import ImageSet
from gan_aug.device import resolve_device
from gan_aug.evaluate.mix_choice import choose_mix
from gan_aug.hashing import chunks_sha256
from gan_aug.metrics.extractors import DomainExtractor, build_extractor
from gan_aug.mix import TrainingMix
from gan_aug.mix.policy import MixChoice
from gan_aug.parallel import shared_pools
from gan_aug.pipeline import synthesise
from gan_aug.progress import MIX_STAGE, generation_log, progress_bars, publish, training_log
from gan_aug.stages import (
    AcceptanceReport,
    ClassSampler,
    GANJob,
    TrainedGAN,
    accept,
    assess,
    check_extractor,
    domain_model,
    generate_filtered,
    shortfall_message,
    train_job,
)
from gan_aug.synthetic import SyntheticSet
from gan_aug.warn import warn_caller

logger = logging.getLogger("gan_aug.oversampler")


# The config sections GANOverSampler takes, by parameter name: its settings are an AugmentConfig with
# these sections (the others at their defaults, unused).
SECTIONS = {"gan": GANConfig, "generate": GenerateConfig, "filter": FilterConfig, "mix": MixConfig,
            "evaluate": EvaluateConfig}


class GANOverSampler(BaseOverSampler):
    """Brings the classes ``sampling_strategy`` targets (imbalanced-learn's meanings) to their counts with
    GAN samples, at most ``mix.dose`` per real image of a class (chosen on held-out rows by default),
    and duplicated real rows for the rest; ``sample_weight_`` holds each returned row's loss weight.

    X holds images as people load them: flattened rows (2-D, as an imbalanced-learn ``Pipeline`` passes
    them; ``image_shape`` says how to fold a row, a square grayscale image by default), N×H×W, or
    N×C×H×W (``channel_order="last"``: N×H×W×C, and (H, W, C) rows); uint8, other integers or floats,
    whose ``pixel_range`` (black, white) maps onto 0..255 (detected, with a warning, when not given).
    Generated rows come back in X's shape, dtype and units; real rows unchanged.

    ``gan``/``generate``/``filter``/``mix``/``evaluate``: the config sections (model or dict); ``evaluate``
    sets the classifier the mix is chosen with. ``val_fraction`` of each class is held out from the GAN to
    calibrate the discriminator filter, check FD and choose the mix (every real row is still returned).
    ``random_state`` seeds that hold-out and the feature extractor (an int; None or a RandomState draws
    one); the GAN and sampling seeds are ``gan.seed`` and ``generate.seed``. ``device`` overrides
    ``gan.device``. ``n_jobs`` as in scikit-learn: classifier runs of the mix grid side by side in that
    many processes (None: one, unless a ``joblib.parallel_config`` block says otherwise; -1: every
    core). ``verbose`` as in scikit-learn: 0 is silent (the ``gan_aug.oversampler`` logger still logs),
    1 and more show progress bars (terminal or notebook) and the log lines on stderr.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "image_shape": [tuple, list, None],
        "channel_order": [StrOptions(set(CHANNEL_ORDERS))],
        "pixel_range": [tuple, list, None],
        **{name: [dict, model, None] for name, model in SECTIONS.items()},
        "val_fraction": [Interval(Real, 0, 1, closed="left")],
        "device": [str],
        "work_dir": [str, os.PathLike, None],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, sampling_strategy="auto", *, image_shape=None, channel_order="first", pixel_range=None,
                 gan=None, generate=None, filter=None, mix=None, evaluate=None, val_fraction=0.15, device="auto",
                 random_state=0, work_dir=None, n_jobs=None, verbose=0):
        super().__init__(sampling_strategy=sampling_strategy)
        self.image_shape, self.channel_order, self.pixel_range = image_shape, channel_order, pixel_range
        self.gan, self.generate, self.filter, self.mix, self.evaluate = gan, generate, filter, mix, evaluate
        self.val_fraction, self.device, self.random_state = val_fraction, device, random_state
        self.work_dir, self.n_jobs, self.verbose = work_dir, n_jobs, verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # pixels: a sparse matrix of images is not a use case
        tags.input_tags.three_d_array = True  # N×H×W and 4-D image arrays too
        tags.non_deterministic = False
        return tags

    def _settings(self) -> AugmentConfig:
        sections = {name: _section(model, getattr(self, name), name) for name, model in SECTIONS.items()}
        try:
            settings = AugmentConfig(**sections)
        except ValidationError as error:  # across sections: a filter needing a score gan.generator cannot give
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())) from None
        if settings.generate.target_count is not None:
            raise ValueError("generate.target_count is not used by GANOverSampler: give the targets as "
                             "sampling_strategy={class: count, ...}")
        if _given(self.evaluate, "workers"):
            raise ValueError("evaluate.workers is not used by GANOverSampler: set n_jobs (or a "
                             "joblib.parallel_config block) for the processes of its classifier runs")
        workers = effective_n_jobs(self.n_jobs)
        evaluate = settings.evaluate.model_copy(update={"workers": max(workers, 1)})
        return settings.model_copy(update={"evaluate": evaluate})

    def _check_X_y(self, X, y, accept_sparse=None):
        """imbalanced-learn's checks, for image arrays too (N×H×W, 4-D), keeping X's numeric dtype."""
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X, y = validate_data(self, X=X, y=y, reset=True, accept_sparse=False, allow_nd=True, dtype="numeric")
        return X, y, binarize_y

    def fit_resample(self, X, y, **params):
        """Real rows first (unchanged, in order), then the synthetic rows grouped by class, then the
        duplicated real rows grouped by class; their loss weights are in ``sample_weight_``."""
        return super().fit_resample(X, y, **params)

    def _fit_resample(self, X, y):
        settings, self.random_state_ = self._settings(), _seed(self.random_state)
        layout = ImageLayout.of(X, self.image_shape, self.channel_order, self.pixel_range)
        classes, encoded = _classes(y)
        labels = classes.tolist()
        self.sampling_strategy_ = {_plain(k): int(n) for k, n in self.sampling_strategy_.items()}
        index = {label: i for i, label in enumerate(labels)}
        needed = {index[k]: n for k, n in self.sampling_strategy_.items() if n > 0}
        self.generation_, self.gan_, self.quality_, self.acceptance_ = {}, None, {}, {}
        self.usefulness_, self.mix_, self.sample_weight_ = {}, None, np.ones(len(y), np.float32)
        self.headroom_ = None
        if not needed:
            return X.copy(), y.copy()
        full = ImageSet(np.ascontiguousarray(layout.to_images(X)), encoded, tuple(map(str, labels)))
        with tempfile.TemporaryDirectory(prefix="gan-aug-") as tmp, _shown(bool(self.verbose)), shared_pools():
            mix = self._synthesise(full, labels, needed, settings, Path(self.work_dir or tmp))
        self.sample_weight_ = mix.weights
        # Duplicates are the caller's own rows, unchanged; only the synthetic ones are converted.
        return (np.concatenate([X, layout.from_images(mix.synthetic.images), X[mix.duplicates]]),
                np.concatenate([y, classes[mix.labels[len(full):]]]))

    def _synthesise(self, full: ImageSet, labels: list, needed: dict[int, int], settings: AugmentConfig,
                    folder: Path) -> TrainingMix:
        """The pipeline's stages (gan_aug.pipeline) in memory on a held-out split, then the mix built over
        every real row."""
        check_extractor(settings.filter)  # before training: missing Inception weights fail now, not after it
        val_rows = _hold_out(full.labels, self.val_fraction, self.random_state_)
        train, val = full.subset(np.setdiff1d(np.arange(len(full)), val_rows)), full.subset(val_rows)
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():  # resolve_device names gan.device
            raise RuntimeError(f"device={self.device!r} but no CUDA device is available; use 'auto' or 'cpu'")
        # In work_dir, files are named by what made them: a rerun reuses them, other data never does.
        digest = _sha(full.images.shape, full.images, full.labels, val_rows) if self.work_dir else None
        counts = full.class_counts()
        targets = counts + np.array([needed.get(k, 0) for k in range(len(counts))])
        steps = _InMemory(full, train, val, targets, settings, str(resolve_device(self.device)), folder,
                          digest, self.random_state_)
        found = synthesise(steps, counts, targets, list(needed), settings.gan.strategy, settings.mix)
        logger.info("mix: %s", found.choice.reason)
        self.usefulness_, self.mix_ = found.usefulness.to_dict(), found.choice.to_dict()
        self.headroom_ = found.choice.headroom
        if self.headroom_ is not None:
            logger.info("headroom: %s", self.headroom_.says)
            if self.headroom_.worth is not None:
                logger.info("worth: %s", self.headroom_.worth.says)
        mix = found.choice.build(full, found.accepted, targets, settings.mix.seed)
        trained = {label: gan for gan in found.trained for label in gan.job.classes}
        stats = {label: made for label, (_, made) in zip(found.makes, found.generated)}
        self._record(full, labels, needed, trained, stats, found.acceptance, found.accepted, mix,
                     settings.generate.budget_factor)
        return mix

    def _record(self, full: ImageSet, labels: list, needed: dict[int, int], trained: dict[int, TrainedGAN],
                stats: dict, report: AcceptanceReport, accepted: SyntheticSet, mix: TrainingMix,
                budget_factor: float) -> None:
        """The fitted attributes (keyed by the caller's labels), and a warning for each class the filters
        left short of what it asked for."""
        shipped = mix.class_counts("synthetic")
        if report.message:
            logger.warning(report.message)
            warn_caller(report.message)
        runs = {labels[k]: {**run.result.to_dict(), "checkpoint": str(run.result.checkpoint) if self.work_dir else None}
                for k, run in trained.items()}  # a temporary checkpoint is gone by now
        self.gan_ = next(iter(runs.values())) if next(iter(trained.values())).job.shared else runs
        self.quality_ = {labels[k]: q for k, q in report.quality.items()}
        self.acceptance_ = {labels[k]: s for k, s in report.status.items()}
        duplicates = mix.class_counts("duplicate")
        for k in stats:
            kept = int(np.sum(accepted.labels == k))
            self.generation_[labels[k]] = {**stats[k].to_dict(), "used": int(shipped[k]), "kept": kept,
                                           "duplicates": int(duplicates[k])}
            message = shortfall_message(repr(labels[k]), stats[k], kept, budget_factor)
            if k not in report.dropped and message:
                warn_caller(message)


@dataclass(frozen=True)
class _InMemory:
    """``GANOverSampler``'s way of running each pipeline step: a plain call on arrays. GANs train on
    ``training`` (the ``held_out`` rows check them); generation and acceptance index every real row (``full``),
    so no sample may copy a row the caller gets back. With a ``digest`` (a work_dir), files are named by
    the data, settings and code that made them."""

    full: ImageSet
    training: ImageSet
    held_out: ImageSet
    targets: np.ndarray
    settings: AugmentConfig  # the sections GANOverSampler takes (SECTIONS) as given, the others unused
    device: str
    folder: Path
    digest: str | None
    seed: int

    def features(self) -> DomainExtractor:
        filt = self.settings.filter
        made_by = (self.digest, filt.feature_steps, self.seed, code_digest(domain_model))
        path = self.folder / f"extractor-{_sha(*made_by)[:16]}.pt" if self.digest else None
        return DomainExtractor(domain_model(self.training, filt.feature_steps, seed=self.seed, device=self.device,
                                            path=path))

    def train_gans(self, jobs: list[GANJob], domain: DomainExtractor) -> list[TrainedGAN]:
        gan = self.settings.gan
        base_hash, trained = _sha(self.digest or "temporary", gan.identity_json()), []
        for job in jobs:
            name = job.name(self.training.class_names)
            path = self.folder / f"{gan.generator}-{_sha(job.config_hash(base_hash), code_digest(train_job))[:16]}.pt"
            run = train_job(job, self.training, self.held_out, gan, path, base_hash=base_hash, domain=domain,
                            device=self.device, progress=training_log(logger, name), warn=logger.warning)
            logger.info("%s ready after %d steps (%d of them from %s) in %.1f s", name, run.result.steps,
                        run.result.resumed_from, path, run.result.seconds)
            trained.append(run)
        return trained

    def generate(self, asks: list[tuple[ClassSampler, int]], domain: DomainExtractor):
        features = functools.cache(lambda: domain.features(self.full.images))
        return [generate_filtered(sampler, wanted, filters=self.settings.filter, generate=self.settings.generate,
                                  val=self.held_out, train=self.full, domain=domain, train_features=features,
                                  device=self.device,
                                  progress=generation_log(logger, self.full.class_names[sampler.label]))
                for sampler, wanted in asks]

    def accept(self, generated: list, domain: DomainExtractor) -> tuple[SyntheticSet, AcceptanceReport]:
        filt = self.settings.filter
        judge = build_extractor(filt.extractor, domain_model=domain.model, inception_weights=filt.inception_weights,
                                device=self.device)
        parts = [part for part, _ in generated]
        rows = SyntheticSet.concat(parts) if parts else SyntheticSet.empty(self.full.images.shape[1:], "")
        acceptance = accept(rows, self.full, judge, filt, seed=self.settings.generate.seed)
        return acceptance.accepted, acceptance.report

    def usefulness(self, accepted: SyntheticSet, samplers: list[ClassSampler], domain: DomainExtractor):
        return assess(self.training, self.held_out, None, accepted, None, domain, self.settings.evaluate,
                      device=self.device)

    def choose_mix(self, accepted: SyntheticSet, eligible: list[int]) -> MixChoice:
        held_out = self.full.class_counts() - self.training.class_counts()
        return choose_mix(self.training, self.held_out, accepted, self.targets - held_out, eligible, self.settings.mix,
                          self.settings.evaluate, device=self.device,
                          progress=lambda done, total: publish(MIX_STAGE, done, total))


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


def _classes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes (y's dtype) and y encoded 0..K-1; every class needs two images."""
    classes, encoded, counts = np.unique(y, return_inverse=True, return_counts=True)
    if (counts < 2).any():
        few = {_plain(c): int(n) for c, n in zip(classes, counts) if n < 2}
        raise ValueError(f"every class needs at least 2 images (one is held out, and a GAN cannot learn a class "
                         f"from none); too few: {few}")
    return classes, encoded.reshape(-1).astype(np.int64)


def _plain(label):
    """A numpy scalar label as the Python value it holds, so messages and dict keys read as the user's."""
    return label.item() if isinstance(label, np.generic) else label


def _seed(random_state) -> int:
    """An int as it is; None or a RandomState draws one (scikit-learn's meanings)."""
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _given(section, name: str) -> bool:
    """Whether the caller set ``name`` in a config section (a dict's key, or a model's set field)."""
    if isinstance(section, BaseModel):
        return name in section.model_fields_set
    return isinstance(section, dict) and name in section


def _hold_out(encoded: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Rows held out per class: about ``fraction`` of it, at least one (when fraction > 0) and never all."""
    rng, held = np.random.default_rng(seed), []
    for label in range(int(encoded.max()) + 1):
        rows = rng.permutation(np.flatnonzero(encoded == label))
        held.append(rows[: min(len(rows) - 1, max(1, round(fraction * len(rows))))] if fraction > 0 else rows[:0])
    return np.sort(np.concatenate(held))


def _sha(*parts) -> str:
    """Content hash of arrays (their bytes, not copied) and small values (their repr)."""
    return chunks_sha256(np.ascontiguousarray(part).data if isinstance(part, np.ndarray) else repr(part).encode()
                         for part in parts)
