"""Calibrate one class's filter chain from the settings, the class's real images and the GAN."""
from __future__ import annotations

import numpy as np

from gan_aug.config import FilterConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.filters.base import FilterChain, SampleFilter
from gan_aug.filters.discriminator import calibrate_discriminator
from gan_aug.filters.label import LabelConsistencyFilter
from gan_aug.filters.memorisation import MemorisationFilter, NearestReal
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.models.discriminator import Discriminator


def build_chain(
    config: FilterConfig,
    label: int,
    *,
    discriminator: Discriminator,
    model_label: int,
    shared: bool,
    val: ImageSet,
    train: ImageSet,
    domain: DomainExtractor,
    nearest: NearestReal | None = None,
) -> FilterChain:
    """The filters ``config.filters`` names, in that order, each calibrated on real images.

    ``shared``: the GAN is the conditional one over every class, so its discriminator scores all
    held-out images on one scale and can pool them when the class has too few; a one-class GAN's
    cannot, and falls back to the class's training images. ``nearest`` is the index over every
    training image's domain features (built once per run; built here when not given).
    """
    filters: list[SampleFilter] = []
    for name in config.filters:
        if name == "discriminator":
            pooled = (val.images, val.labels) if shared else None
            filters.append(calibrate_discriminator(
                discriminator, val.of_class(label), model_label, config.d_quantile, pooled=pooled,
                fallback=train.of_class(label)))
        elif name == "label":
            filters.append(LabelConsistencyFilter(domain, config.label_threshold))
        elif name == "memorisation":
            index = nearest if nearest is not None else NearestReal(domain.features(train.images))
            filters.append(MemorisationFilter(domain, index, np.flatnonzero(train.labels == label),
                                              config.memorisation_quantile))
    return FilterChain(filters)
