"""Calibrate one class's filter chain from the settings, the class's real images and its generator."""
from __future__ import annotations

from typing import Callable

import numpy as np

from gan_aug.config import FilterConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.filters.base import FilterChain
from gan_aug.filters.registry import FilterContext, check_needs, filter_spec
from gan_aug.generators.base import ConditionalGenerator
from gan_aug.metrics.extractors import DomainExtractor


def build_chain(
    config: FilterConfig,
    label: int,
    *,
    generator: ConditionalGenerator,
    val: ImageSet,
    train: ImageSet,
    domain: DomainExtractor,
    train_features: Callable[[], np.ndarray] | None = None,
) -> FilterChain:
    """The filters ``config.filters`` names, in that order, each built by its registered module and
    calibrated on real images; a filter needing a score ``generator`` does not give is refused first.

    ``train_features()``: every training image's domain features in ``train``'s order (computed once
    per run; computed here when not given and a filter needs them).
    """
    check_needs(config.filters, generator.name, generator.scores)
    context = FilterContext(config, label, generator, val, train, domain, train_features)
    return FilterChain([filter_spec(name).build(context) for name in config.filters])
