"""Discriminator score, with the threshold calibrated on real held-out images (discriminator rejection).

A threshold taken from the generated samples' own scores always rejects the same share, however
good or bad they are. Calibrated on real images the discriminator never trained on, it means
"keep a sample only if the discriminator finds it at least as real as all but the least real
``quantile`` of genuine images of the class".
"""
from __future__ import annotations

import numpy as np

from gan_aug.batched import batched, eval_mode, module_device
from gan_aug.device import to_model_input
from gan_aug.filters.base import Candidates, SampleFilter
from gan_aug.models.discriminator import Discriminator

MIN_CALIBRATION = 5  # fewer held-out images than this: a class's own quantile is mostly noise


def discriminator_scores(discriminator: Discriminator, images: np.ndarray, labels: np.ndarray,
                         batch_size: int = 512) -> np.ndarray:
    """D's score of real uint8 images under the given (network) labels, in eval mode."""
    with eval_mode(discriminator):
        return batched(lambda x, y: discriminator(to_model_input(x), y).float().flatten(), images, batch_size,
                       module_device(discriminator), labels)


class DiscriminatorFilter(SampleFilter):
    name = "discriminator"

    def __init__(self, threshold: float, *, quantile: float, calibration: str, calibration_images: int):
        self.threshold = float(threshold)
        self.quantile = quantile
        self.calibration = calibration  # "val", "pooled" or "val+train": where the real scores came from
        self.calibration_images = calibration_images

    def score(self, batch: Candidates) -> np.ndarray:
        return batch.d_scores

    def describe(self) -> dict:
        return {"threshold": self.threshold, "quantile": self.quantile, "calibration": self.calibration,
                "calibration_images": self.calibration_images}


def calibrate_discriminator(
    discriminator: Discriminator,
    class_images: np.ndarray,
    model_label: int,
    quantile: float,
    *,
    pooled: tuple[np.ndarray, np.ndarray] | None = None,
    fallback: np.ndarray | None = None,
    min_images: int = MIN_CALIBRATION,
) -> DiscriminatorFilter:
    """The threshold is the ``quantile`` of D's scores on the class's held-out real images.

    With fewer than ``min_images`` of them, ``pooled`` (every held-out image with its own network
    label; a shared conditional D scores all classes on one scale) is used instead, or else
    ``fallback`` (the class's training images, added to its held-out ones; D has seen them and
    scores them higher, so that threshold is stricter: the safe side).
    """
    images, labels, source = class_images, np.full(len(class_images), model_label), "val"
    if len(images) < min_images:
        if pooled is not None and len(pooled[0]) >= min_images:
            (images, labels), source = pooled, "pooled"
        elif fallback is not None:
            images = np.concatenate([class_images, fallback])
            labels, source = np.full(len(images), model_label), "val+train"
    if len(images) == 0:
        raise ValueError("cannot calibrate the discriminator filter: no real images of the class to score")
    scores = discriminator_scores(discriminator, images, labels)
    return DiscriminatorFilter(float(np.quantile(scores, quantile)), quantile=quantile, calibration=source,
                               calibration_images=len(images))
