"""One class sampled from its generator and run through the filter chain until it is filled."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from gan_aug.config import FilterConfig, GenerateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.filters import FilterChain, NearestReal
from gan_aug.filters.build import build_chain
from gan_aug.generate import ClassGeneration, ProgressFn, generate_class
from gan_aug.metrics.extractors import DomainExtractor
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
    progress: ProgressFn | None = None,
) -> tuple[SyntheticSet, ClassGeneration]:
    """Calibrate the class's filters on real images and generate until ``needed`` samples pass or the
    budget is spent.

    ``train`` holds every real row a sample must not copy; ``train_features()`` gives their domain
    features in the same order (asked for only when the memorisation filter is on).
    """
    generator, discriminator = sampler.load(device)
    nearest = NearestReal(train_features()) if "memorisation" in filters.filters else None
    chain = build_chain(filters, sampler.label, discriminator=discriminator, model_label=sampler.model_label,
                        shared=sampler.shared, val=val, train=train, domain=domain, nearest=nearest)
    return generate_class(generator, discriminator, sampler.label, needed, chain=chain,
                          generator_sha256=sampler.sha256, batch_size=generate.batch_size,
                          budget_factor=generate.budget_factor, seed=generate.seed,
                          model_label=sampler.model_label, progress=progress)


def sample_unfiltered(sampler: ClassSampler, count: int, *, seed: int, batch_size: int = 256,
                      device: torch.device | str = "cpu") -> SyntheticSet:
    """``count`` samples of the class straight from its generator, no filter: what the Classification
    Accuracy Score measures."""
    generator, discriminator = sampler.load(device)
    rows, _ = generate_class(generator, discriminator, sampler.label, count, chain=FilterChain([]),
                             generator_sha256=sampler.sha256, batch_size=batch_size, budget_factor=1.0, seed=seed,
                             model_label=sampler.model_label)
    return rows


def shortfall_message(name: object, stats: ClassGeneration, kept: int, budget_factor: float) -> str | None:
    """Why a class got fewer synthetic rows than it asked for (None when it did not)."""
    if kept >= stats.needed:
        return None
    return (f"class {name}: only {kept} of {stats.needed} synthetic samples passed the filters within the budget "
            f"({stats.generated} generated, generate.budget_factor {budget_factor:g}); duplicated real rows make "
            "up the rest of its target")
