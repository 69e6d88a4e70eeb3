"""Quality control while the GAN trains: per class, the EMA generator's Fréchet distance to held-out
images, and how many of its samples the domain classifier recognises as the class.

Losses say little about whether a rare class looks right; FD against real images the GAN never
saw does, and recognition is the cheap check that predicts whether a classifier can learn from the
samples (FD alone does not: Ravuri & Vinyals 2019). Fixed latents per class make successive checks
comparable, so "FD went down" means the generator improved, not that the draw was luckier.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from gan_aug.data.imageset import ImageSet
from gan_aug.device import to_uint8
from gan_aug.generators.gan import latents
from gan_aug.metrics.extractors import DomainExtractor, FeatureExtractor
from gan_aug.metrics.fid import frechet_distance
from gan_aug.models.generator import Generator
from gan_aug.sampling import sample_seeds

# Seeds for the monitor's latents: far from generation's (run seed × 10¹²), so the samples that
# chose the best checkpoint are not the ones that are then filtered and shipped.
MONITOR_SEED = 977
MIN_REFERENCE = 5  # fewer held-out images than this: FD against them is mostly noise


@dataclass
class QualityMonitor:
    """Measures FD per watched class; ``model_labels`` maps a data-set class to the label the GAN was
    trained with (itself for the shared GAN, 0 for a one-class GAN)."""

    extractor: FeatureExtractor
    references: dict[int, np.ndarray]  # class → real features (held out where possible)
    reference_source: dict[int, str]  # class → "val" or "val+train" (too few held-out images)
    model_labels: dict[int, int]
    samples: int = 256
    _latents: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def classes(self) -> list[int]:
        return sorted(self.references)

    @torch.no_grad()
    def measure(self, generator: Generator) -> tuple[dict[int, float | None], dict[int, float]]:
        """Per watched class, the FD of its samples from ``generator`` (in eval mode) and, when the
        extractor is a classifier, the share of them it gives the class."""
        device = next(generator.parameters()).device
        distances, agreement = {}, {}
        for label in self.classes:
            if label not in self._latents:
                seeds = sample_seeds(MONITOR_SEED, label, 0, self.samples)
                self._latents[label] = latents(seeds, generator.z_dim)
            z = self._latents[label].to(device)
            y = torch.full((len(z),), self.model_labels[label], dtype=torch.long, device=device)
            images = to_uint8(generator(z, y)).numpy()
            distances[label] = frechet_distance(self.extractor.features(images), self.references[label])
            if isinstance(self.extractor, DomainExtractor):
                agreement[label] = float((self.extractor.probabilities(images).argmax(axis=1) == label).mean())
        return distances, agreement


def build_monitor(
    extractor: FeatureExtractor,
    val: ImageSet,
    train: ImageSet,
    classes: Iterable[int],
    *,
    samples: int = 256,
    min_reference: int = MIN_REFERENCE,
    model_labels: dict[int, int] | None = None,
) -> QualityMonitor:
    """Reference features per class from the validation split; a class with fewer than
    ``min_reference`` validation images is topped up with its training images (noted in
    ``reference_source``), since FD against one or two images is mostly noise."""
    references, sources = {}, {}
    for label in classes:
        images = val.of_class(label)
        source = "val"
        if len(images) < min_reference:
            images, source = np.concatenate([images, train.of_class(label)]), "val+train"
        if len(images) < 2:
            continue  # no covariance: FD is undefined for this class
        references[label], sources[label] = extractor.features(images), source
    labels = model_labels or {label: label for label in references}
    return QualityMonitor(extractor, references, sources, {k: labels[k] for k in references}, samples)
