"""Sample quality per synthesised class, measured in one feature extractor's space."""
from __future__ import annotations

import numpy as np

from gan_aug.data.imageset import ImageSet
from gan_aug.metrics.extractors import FeatureExtractor
from gan_aug.metrics.floors import class_quality
from gan_aug.synthetic import SyntheticSet

QUALITY_KEYS = ("fd", "fd_floor", "fd_ci_low", "fd_ci_high", "fd_matched", "fd_ratio", "kid", "kid_std",
                "kid_ci_low", "kid_ci_high", "kid_floor", "precision", "recall", "density", "coverage")


def quality_per_class(
    extractor: FeatureExtractor, real: ImageSet, synthetic: SyntheticSet, *, seed: int = 0,
    bootstrap_rounds: int = 50,
) -> dict[int, dict]:
    """FD with its real-vs-real floor and interval, KID with its floor, precision/recall/density/coverage.

    Each class is compared with its own real training images; the counts sit beside the numbers
    because on 5–20 real images every one of them is noisy.
    """
    results = {}
    for label in np.unique(synthetic.labels).tolist():
        real_features = extractor.features(real.of_class(label))
        fake_features = extractor.features(synthetic.images[synthetic.labels == label])
        quality = class_quality(real_features, fake_features, seed=seed + label, bootstrap_rounds=bootstrap_rounds)
        results[int(label)] = {**quality, "n_real": len(real_features), "n_synthetic": len(fake_features)}
    return results
