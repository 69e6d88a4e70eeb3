"""Which generator(s) a run trains, training one, and per class where its samples come from.

``gan.strategy: shared`` trains one conditional model over every class (majority classes teach the
rare ones); ``per_class`` trains one per class to fill, on that class alone. That rule lives here, in
``GANJob``, and nowhere else: everything downstream asks a ``ClassSampler`` which generator, which
label inside it and which weights make a class. ``gan.generator`` picks the kind: the conditional
GAN (trained here, with FD checks and resumable checkpoints), or any registered ConditionalGenerator,
trained by its own ``fit``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from gan_aug.checkpoint import best_snapshot_step, load_checkpoint, load_sampler
from gan_aug.code_digest import code_digest
from gan_aug.config import GANConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.generators import ConditionalGenerator, generator_class
from gan_aug.generators.gan import GANGenerator
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.models.discriminator import Discriminator
from gan_aug.models.generator import Generator
from gan_aug.monitor import MIN_REFERENCE, build_monitor
from gan_aug.progress import Progress
from gan_aug.train import TrainResult, budget, train_gan
from gan_aug.train.guide import ClassifierGuide

STRATEGIES = ("shared", "per_class")


@dataclass(frozen=True)
class GANJob:
    """One GAN to train: the shared conditional one (``single_class`` None) or one class's own."""

    classes: tuple[int, ...]  # the data-set classes it makes, watched by the FD checks
    single_class: int | None = None

    @property
    def shared(self) -> bool:
        return self.single_class is None

    @property
    def key(self) -> str:
        """How metrics.json names its run: 'shared', or the class's label."""
        return "shared" if self.shared else str(self.single_class)

    def name(self, class_names: Sequence[str]) -> str:
        return "GAN" if self.shared else f"GAN of class {str(class_names[self.single_class])!r}"

    def model_label(self, label: int) -> int:
        """The class as the networks know it: a one-class GAN is trained with the single label 0."""
        return label if self.shared else 0

    def training_set(self, train: ImageSet) -> ImageSet:
        return train if self.shared else train.single_class(self.single_class)

    def config_hash(self, base: str) -> str:
        """What its checkpoint must have been made with: the data and GAN settings (``base``), and the class."""
        return base if self.shared else f"{base}:class-{self.single_class}"


def plan_gans(strategy: str, classes: Sequence[int]) -> list[GANJob]:
    """The GANs that make ``classes``: one shared, or one per class."""
    if strategy not in STRATEGIES:
        raise ValueError(f"gan.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy == "shared":
        return [GANJob(tuple(classes))]
    return [GANJob((label,), single_class=label) for label in classes]


@dataclass(frozen=True)
class ClassSampler:
    """Where one class's samples come from: the generator's kind and saved file, the label inside it and,
    for a GAN, the training step whose EMA weights are sampled (the class's best FD check, else the final
    weights; 0 for a generator without steps)."""

    label: int
    checkpoint: str
    sha256: str
    model_label: int
    step: int
    shared: bool  # one model over every class: its scores of all classes are on one scale
    kind: str = GANGenerator.name  # gan.generator: the registered generator that reads ``checkpoint``

    def load(self, device: torch.device | str = "cpu") -> tuple[Generator, Discriminator]:
        """A GAN's networks (the GAN's monitor and benchmarks look inside it)."""
        return load_sampler(self.checkpoint, device, label=self.label)

    def generator(self, device: torch.device | str = "cpu") -> ConditionalGenerator:
        """The class's weights as a ConditionalGenerator: what generation and the filters use."""
        return generator_class(self.kind).load(self.checkpoint, device=device, label=self.label, sha256=self.sha256,
                                               single_class=None if self.shared else self.label)


@dataclass(frozen=True)
class TrainedGAN:
    job: GANJob
    result: TrainResult
    samplers: dict[int, ClassSampler]


def samplers_of(job: GANJob, result: TrainResult) -> dict[int, ClassSampler]:
    """Per class the GAN can make, the weights ``load_sampler`` will give it (read once from the
    checkpoint): the job's classes, and for the shared GAN every other class too (its final weights),
    which the Classification Accuracy Score samples."""
    state = load_checkpoint(result.checkpoint)
    classes = range(state["arch"]["num_classes"]) if job.shared else job.classes
    steps = {label: best_snapshot_step(state, label) for label in classes}
    return {label: ClassSampler(label, str(result.checkpoint), result.sha256, job.model_label(label),
                                int(state["step"]) if steps[label] is None else steps[label], job.shared)
            for label in classes}


def train_job(job: GANJob, train: ImageSet, val: ImageSet, cfg: GANConfig, checkpoint: str | Path, *,
              base_hash: str, domain: DomainExtractor | None, device: torch.device | str = "cpu",
              progress: Progress | None = None, warn: Callable[[str], None] | None = None) -> TrainedGAN:
    """Train (or resume, or reuse) one job's GAN; with ``gan.eval_every`` and a ``domain`` extractor,
    FD is checked per class on held-out images and each class keeps its best weights. A generator
    other than the GAN (``cfg.generator``) is trained by its own ``fit`` instead (``fit_generator``).

    ``warn`` hears about classes whose FD checks must fall back on training images, and about a
    checkpoint of other code set aside; the checkpoint records this function's code (its digest
    covers the one-class relabelling and monitor set-up here as well as the training loop)."""
    if cfg.generator != GANGenerator.name:
        return fit_generator(job, train, val, cfg, checkpoint, domain=domain, device=device, progress=progress,
                             warn=warn)
    monitor = None
    if cfg.eval_every and domain is not None:
        monitor = build_monitor(domain, val, train, job.classes, samples=cfg.eval_samples,
                                model_labels={label: job.model_label(label) for label in job.classes})
        short = [label for label, source in monitor.reference_source.items() if source != "val"]
        if short and warn is not None:  # named as the user names them (a list's repr shows np.int64(1))
            names = ", ".join(repr(str(train.class_names[int(label)])) for label in short)
            which = (f"classes {names} have", "their") if len(short) > 1 else (f"class {names} has", "its")
            warn(f"{job.name(train.class_names)}: {which[0]} fewer than {MIN_REFERENCE} validation images; "
                 f"{which[1]} FD checks also use training images")
    guide, base = None, base_hash
    if cfg.classifier_weight:
        if not isinstance(domain, DomainExtractor):
            raise ValueError(f"gan.classifier_weight is {cfg.classifier_weight}: the generator's auxiliary loss needs "
                             "the domain classifier, and train_job was given none (domain=None)")
        # the classifier's class for each label the networks know (a one-class GAN's 0 is its class)
        guide = ClassifierGuide(domain.model, range(train.num_classes) if job.shared else [job.single_class])
        base = f"{base_hash}:guide-{guide.fingerprint()}"
    data = job.training_set(train)
    # A loss record every 50 steps, or each tenth of a shorter run, so progress has ten lines to show.
    log_every = max(1, min(50, budget(cfg, torch.device(device), len(data), data.image_size).steps // 10))
    result = train_gan(data, cfg, checkpoint, config_hash=job.config_hash(base), device=device,
                       progress=progress, monitor=monitor, log_every=log_every, warn=warn,
                       code=code_digest(train_job), guide=guide)
    return TrainedGAN(job, result, samplers_of(job, result))


def fit_generator(job: GANJob, train: ImageSet, val: ImageSet, cfg: GANConfig, checkpoint: str | Path, *,
                  domain: DomainExtractor | None, device: torch.device | str = "cpu",
                  progress: Progress | None = None, warn: Callable[[str], None] | None = None) -> TrainedGAN:
    """Train a registered generator other than the GAN by its ``fit`` and save it to ``checkpoint``.

    It sees data-set labels: a per-class job trains it on that class's rows alone, labels unchanged.
    ``fit`` gets the GAN section (``config``) for the budget, seed and device, and what train_job gets;
    a generator takes the settings it uses and ignores the rest."""
    kind = generator_class(cfg.generator)
    data = train if job.shared else train.subset(np.flatnonzero(train.labels == job.single_class))
    started = time.perf_counter()
    model = kind.fit(data, val, checkpoint, config=cfg, device=str(device), domain=domain, progress=progress,
                     warn=warn)
    seconds = time.perf_counter() - started
    result = TrainResult(Path(checkpoint), model.sha256, steps=0, seconds=seconds, resumed_from=0,
                         train_seconds=seconds, budget={"steps": None, "seconds": None})  # no steps, no budget
    classes = range(train.num_classes) if job.shared else job.classes
    return TrainedGAN(job, result, {label: ClassSampler(label, str(checkpoint), model.sha256, label, 0, job.shared,
                                                        cfg.generator) for label in classes})
