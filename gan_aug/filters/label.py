"""Label consistency: a sample must look like its class to a classifier trained on the real data.

A class-conditional generator can drift toward a neighbouring class (a 7 that reads as a 1); such
a sample would teach the downstream model the wrong label, which is worse than no sample.

A fixed threshold (0.9, as M2m) asks more of a hard class than its own real images give: a domain
classifier trained on 17 shirts gives most real held-out shirts well under 0.5. With
``label_quantile`` set, each class's threshold is lowered to that quantile of the classifier's
probability on the class's real held-out images, as the discriminator filter is calibrated: "at
least as recognisable as all but the least recognisable ``quantile`` of real images of the class".
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from gan_aug.filters.base import Candidates, SampleFilter
from gan_aug.filters.registry import FilterContext, register_filter

MIN_CALIBRATION = 5  # fewer held-out images: the class's training images are added (scored higher: stricter)


class ProbabilityModel(Protocol):
    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """uint8 N×C×H×W → N×classes softmax probabilities."""


class LabelConsistencyFilter(SampleFilter):
    name = "label"

    def __init__(self, classifier: ProbabilityModel, threshold: float, *, calibration: str = "fixed",
                 calibration_images: int = 0):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"label-consistency threshold must be a probability in [0, 1], got {threshold}")
        self.classifier = classifier
        self.threshold = float(threshold)
        self.calibration = calibration  # "fixed", "val" or "val+train": where a calibrated threshold came from
        self.calibration_images = calibration_images

    def score(self, batch: Candidates) -> np.ndarray:
        """The classifier's probability of the intended class."""
        return self.classifier.probabilities(batch.images)[:, batch.label]

    def describe(self) -> dict:
        found = {"threshold": self.threshold}
        if self.calibration != "fixed":
            found |= {"calibration": self.calibration, "calibration_images": self.calibration_images}
        return found


def calibrate_label(classifier: ProbabilityModel, label: int, ceiling: float, quantile: float,
                    held_out: np.ndarray, training: np.ndarray,
                    min_images: int = MIN_CALIBRATION) -> LabelConsistencyFilter:
    """The threshold is ``quantile`` of the classifier's probability for ``label`` on the class's real
    held-out images, never above ``ceiling`` (the fixed threshold). With fewer than ``min_images`` held-out
    images the training images join them: the classifier has fitted those and scores them higher, so the
    threshold errs on the strict side."""
    images, source = held_out, "val"
    if len(images) < min_images:
        images, source = np.concatenate([held_out, training]), "val+train"
    if len(images) == 0:
        raise ValueError(f"cannot calibrate the label filter for class {label}: no real images of it to score")
    probabilities = classifier.probabilities(images)[:, label]
    threshold = min(ceiling, float(np.quantile(probabilities, quantile)))
    return LabelConsistencyFilter(classifier, threshold, calibration=source, calibration_images=len(images))


@register_filter(
    "label", score="label_prob", short="label", threshold_name="τ (label)",
    settings=("label_threshold", "label_quantile"),
    text="label consistency: the domain classifier's probability for the intended class must be at least τ "
         "(with filter.label_quantile: τ per class, at most label_threshold, from real held-out images of the class)")
def build_label_filter(context: FilterContext) -> LabelConsistencyFilter:
    config = context.config
    if config.label_quantile is None:
        return LabelConsistencyFilter(context.domain, config.label_threshold)
    return calibrate_label(context.domain, context.label, config.label_threshold, config.label_quantile,
                           context.val.of_class(context.label), context.train.of_class(context.label))
