"""Which generated samples are good enough: discriminator score per class, and per-class FD."""
from __future__ import annotations

import numpy as np

from gan_aug.classify import embed
from gan_aug.data.imageset import ImageSet
from gan_aug.metrics.fid import frechet_distance
from gan_aug.models.classifier import SmallCNN
from gan_aug.synthetic import SyntheticSet


def discriminator_threshold(scores: np.ndarray, quantile: float) -> float:
    """Scores below this quantile of a class's calibration batch are rejected (rejection sampling)."""
    if len(scores) == 0:
        raise ValueError("cannot calibrate a threshold on no scores")
    return float(np.quantile(scores, quantile))


def fd_per_class(extractor: SmallCNN, real: ImageSet, synthetic: SyntheticSet) -> dict[int, float | None]:
    """Fréchet distance, in the domain extractor's feature space, of each synthesised class to its real images."""
    distances = {}
    for label in np.unique(synthetic.labels).tolist():
        real_features = embed(extractor, real.of_class(label))
        synthetic_features = embed(extractor, synthetic.images[synthetic.labels == label])
        distances[int(label)] = frechet_distance(real_features, synthetic_features)
    return distances
