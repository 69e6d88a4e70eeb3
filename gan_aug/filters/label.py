"""Label consistency: a sample must look like its class to a classifier trained on the real data.

A class-conditional generator can drift toward a neighbouring class (a 7 that reads as a 1); such
a sample would teach the downstream model the wrong label, which is worse than no sample.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from gan_aug.filters.base import Candidates, SampleFilter
from gan_aug.filters.registry import FilterContext, register_filter


class ProbabilityModel(Protocol):
    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """uint8 N×C×H×W → N×classes softmax probabilities."""


class LabelConsistencyFilter(SampleFilter):
    name = "label"

    def __init__(self, classifier: ProbabilityModel, threshold: float):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"label-consistency threshold must be a probability in [0, 1], got {threshold}")
        self.classifier = classifier
        self.threshold = float(threshold)

    def score(self, batch: Candidates) -> np.ndarray:
        """The classifier's probability of the intended class."""
        return self.classifier.probabilities(batch.images)[:, batch.label]


@register_filter(
    "label", score="label_prob", short="label", threshold_name="τ (label)", settings=("label_threshold",),
    text="label consistency: the domain classifier's probability for the intended class must be at least τ")
def build_label_filter(context: FilterContext) -> LabelConsistencyFilter:
    return LabelConsistencyFilter(context.domain, context.config.label_threshold)
