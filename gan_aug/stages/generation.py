"""One class sampled from its generator and run through the filter chain until it is filled.

``generate_filtered`` and ``sample_unfiltered`` take a GAN's ``ClassSampler``; ``generate_with`` and
``sample_with`` take any ConditionalGenerator.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from gan_aug.config import FilterConfig, GenerateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.filters import FilterChain
from gan_aug.filters.build import build_chain
from gan_aug.generators.base import ConditionalGenerator
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.progress import Progress
from gan_aug.sampling import ClassGeneration, generate_class
from gan_aug.stages.gans import ClassSampler
from gan_aug.synthetic import SyntheticSet


def generate_filtered(
    sampler: ClassSampler,
    needed: int,
    *,
    filters: FilterConfig,
    generate: GenerateConfig,
    val: ImageSet,
    train: ImageSet,
    domain: DomainExtractor,
    train_features: Callable[[], np.ndarray],
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> tuple[SyntheticSet, ClassGeneration]:
    """Calibrate the class's filters on real images and generate until ``needed`` samples pass or the
    budget is spent, from the class's GAN (see ``generate_with``)."""
    return generate_with(sampler.generator(device), sampler.label, needed, filters=filters, generate=generate,
                         val=val, train=train, domain=domain, train_features=train_features, progress=progress)


def generate_with(
    generator: ConditionalGenerator,
    label: int,
    needed: int,
    *,
    filters: FilterConfig,
    generate: GenerateConfig,
    val: ImageSet,
    train: ImageSet,
    domain: DomainExtractor,
    train_features: Callable[[], np.ndarray],
    progress: Progress | None = None,
) -> tuple[SyntheticSet, ClassGeneration]:
    """Class ``label`` from any generator: its filters calibrated on real images (a filter needing a
    score the generator does not give is refused before anything is sampled), then generation until
    ``needed`` samples pass or the budget is spent.

    ``train`` holds every real row a sample must not copy; ``train_features()`` gives their domain
    features in the same order (asked for only by a filter that needs them: memorisation).
    """
    chain = build_chain(filters, label, generator=generator, val=val, train=train, domain=domain,
                        train_features=train_features)
    return generate_class(generator, label, needed, chain=chain, batch_size=generate.batch_size,
                          budget_factor=generate.budget_factor, seed=generate.seed, progress=progress,
                          give_up_share=generate.give_up_share)


def sample_unfiltered(sampler: ClassSampler, count: int, *, seed: int, batch_size: int = 256,
                      device: torch.device | str = "cpu") -> SyntheticSet:
    """``count`` samples of the class straight from its GAN, no filter: what the Classification
    Accuracy Score measures."""
    return sample_with(sampler.generator(device), sampler.label, count, seed=seed, batch_size=batch_size)


def sample_with(generator: ConditionalGenerator, label: int, count: int, *, seed: int,
                batch_size: int = 256) -> SyntheticSet:
    """``count`` samples of class ``label`` from any generator, no filter."""
    rows, _ = generate_class(generator, label, count, chain=FilterChain([]), batch_size=batch_size,
                             budget_factor=1.0, seed=seed)
    return rows


def shortfall_message(name: object, stats: ClassGeneration, kept: int, budget_factor: float) -> str | None:
    """Why a class got fewer synthetic rows than it asked for (None when it did not)."""
    if kept >= stats.needed:
        return None
    if stats.gave_up:
        return (f"class {name}: only {kept} of {stats.needed} synthetic samples passed the filters; {stats.gave_up}; "
                "duplicated real rows make up the rest of its target")
    return (f"class {name}: only {kept} of {stats.needed} synthetic samples passed the filters within the budget "
            f"({stats.generated} generated, generate.budget_factor {budget_factor:g}); duplicated real rows make "
            "up the rest of its target")
