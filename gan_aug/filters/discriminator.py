"""Discriminator score, with the threshold calibrated on real held-out images (discriminator rejection).

A threshold taken from the generated samples' own scores always rejects the same share, however
good or bad they are. Calibrated on real images the discriminator never trained on, it means
"keep a sample only if the discriminator finds it at least as real as all but the least real
``quantile`` of genuine images of the class".
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
from torch import nn

from gan_aug.batched import batched, eval_mode, module_device
from gan_aug.device import to_model_input
from gan_aug.filters.base import Candidates, SampleFilter
from gan_aug.filters.registry import FilterContext, register_filter
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
        return batch.score("d_score")

    def describe(self) -> dict:
        return {"threshold": self.threshold, "quantile": self.quantile, "calibration": self.calibration,
                "calibration_images": self.calibration_images}


def calibrate_discriminator(
    discriminator: Discriminator | Callable[[np.ndarray, np.ndarray], np.ndarray],
    class_images: np.ndarray,
    model_label: int,
    quantile: float,
    *,
    pooled: tuple[np.ndarray, np.ndarray] | None = None,
    fallback: np.ndarray | None = None,
    min_images: int = MIN_CALIBRATION,
    own_cap: bool = False,
) -> DiscriminatorFilter:
    """The threshold is the ``quantile`` of D's scores on the class's held-out real images.

    ``discriminator``: the network, or a function scoring (images, labels) as a generator's critic
    does (``model_label`` and ``pooled``'s labels are then the labels that function takes).

    With fewer than ``min_images`` of them, ``pooled`` (every held-out image with its own network
    label; a shared conditional D scores all classes on one scale) is used instead, or else
    ``fallback`` (the class's training images, added to its held-out ones; D has seen them and
    scores them higher, so that threshold is stricter: the safe side).

    ``own_cap``: a pooled threshold is lowered to the quantile of the class's own few held-out images
    when those score lower. A D trained on 17 images of a class overfits them: on Fashion-MNIST-LT
    fewshot the pooled threshold rejected 93% of real left-out pullovers, whose 3 held-out images
    scored as low; one scale for all classes holds for the classes D generalises on.
    """
    own = np.full(len(class_images), model_label)
    images, labels, source = class_images, own, "val"
    if len(images) < min_images:
        if pooled is not None and len(pooled[0]) >= min_images:
            (images, labels), source = pooled, "pooled"
        elif fallback is not None:
            images = np.concatenate([class_images, fallback])
            labels, source = np.full(len(images), model_label), "val+train"
    if len(images) == 0:
        raise ValueError("cannot calibrate the discriminator filter: no real images of the class to score")
    critic = partial(discriminator_scores, discriminator) if isinstance(discriminator, nn.Module) else discriminator
    threshold, count = float(np.quantile(critic(images, labels), quantile)), len(images)
    if own_cap and source == "pooled" and len(class_images):
        floor = float(np.quantile(critic(class_images, own), quantile))
        if floor < threshold:
            threshold, source, count = floor, "val (below pooled)", len(class_images)
    return DiscriminatorFilter(threshold, quantile=quantile, calibration=source, calibration_images=count)


@register_filter(
    "discriminator", score="d_score", short="D", threshold_name="D threshold", settings=("d_quantile", "d_own_cap"),
    needs=("d_score",),
    text="the discriminator's score must reach a threshold calibrated on real held-out images of the class "
         "(a low quantile of their scores, so most real images would pass)")
def build_discriminator_filter(context: FilterContext) -> DiscriminatorFilter:
    """A generator whose scores share one scale across classes may pool every held-out image when the
    class has too few; otherwise the class's training images top them up."""
    generator, label = context.generator, context.label
    pooled = (context.val.images, context.val.labels) if generator.shared_scale else None
    return calibrate_discriminator(partial(generator.score_real, "d_score"), context.val.of_class(label), label,
                                   context.config.d_quantile, pooled=pooled, fallback=context.train.of_class(label),
                                   own_cap=context.config.d_own_cap)
