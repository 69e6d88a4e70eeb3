"""Memorisation: no sample may be a near-copy of a real training image.

For medical data a generated image that reproduces a patient's scan leaks that patient. "Too
close" is measured against the data itself: a sample is rejected when its nearest real training
image (in feature space) is closer than a low quantile of the distances between real training
images and their own nearest real neighbours.
"""
from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from gan_aug.filters.base import Candidates, SampleFilter
from gan_aug.filters.registry import FilterContext, register_filter
from gan_aug.metrics.extractors import FeatureExtractor

# A floor for the radius, relative to the typical neighbour distance: when the real data hold
# duplicates the quantile is 0, and an exact copy (distance ~1e-7 after float noise) must still go.
MIN_RADIUS_FRACTION = 1e-4


class NearestReal:
    """Nearest-neighbour search over every real training image's features.

    scikit-learn's brute-force search works through the queries in chunks, so memory stays bounded
    however many training images there are.
    """

    def __init__(self, features: np.ndarray):
        if len(features) < 2:
            raise ValueError("the memorisation filter needs at least two real training images")
        self.features = np.asarray(features, dtype=np.float64)
        self._index = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(self.features)

    def distances(self, queries: np.ndarray) -> np.ndarray:
        """Distance from each query to its nearest real training image."""
        if len(queries) == 0:
            return np.zeros(0)
        return self._index.kneighbors(queries, n_neighbors=1)[0][:, 0]

    def real_to_real(self, rows: np.ndarray) -> np.ndarray:
        """Distance from each given training row to its nearest *other* training row."""
        distances, indices = self._index.kneighbors(self.features[rows], n_neighbors=2)
        # Column 0 is the row itself unless a duplicate tied with it; either way the nearest
        # other row is the one of the two that is not this row (a tie means distance 0).
        is_self = indices[:, 0] == rows
        return np.where(is_self, distances[:, 1], distances[:, 0])


def memorisation_radius(real_to_real: np.ndarray, quantile: float) -> float:
    """The ``quantile`` of the real-to-real distances, never below a small fraction of their median."""
    if len(real_to_real) == 0:
        raise ValueError("cannot calibrate the memorisation filter on no real images")
    floor = MIN_RADIUS_FRACTION * max(float(np.median(real_to_real)), 1e-12)
    return max(float(np.quantile(real_to_real, quantile)), floor)


class MemorisationFilter(SampleFilter):
    name = "memorisation"

    def __init__(self, extractor: FeatureExtractor, index: NearestReal, class_rows: np.ndarray, quantile: float):
        """``class_rows``: the class's rows in the index; the radius comes from their neighbour distances."""
        self.extractor, self.index, self.quantile = extractor, index, quantile
        self.threshold = memorisation_radius(index.real_to_real(np.asarray(class_rows)), quantile)

    def score(self, batch: Candidates) -> np.ndarray:
        """Distance to the nearest real training image of any class."""
        return self.index.distances(self.extractor.features(batch.images))

    def keep(self, scores: np.ndarray) -> np.ndarray:
        return scores > self.threshold

    def describe(self) -> dict:
        return {"threshold": self.threshold, "quantile": self.quantile}


@register_filter(
    "memorisation", score="nn_distance", short="memo", threshold_name="memorisation radius",
    settings=("memorisation_quantile",),
    text="a sample whose nearest real training image is closer than a low quantile of the real-to-real "
         "nearest-neighbour distances is rejected as a near-copy")
def build_memorisation_filter(context: FilterContext) -> MemorisationFilter:
    """The index covers every training image (any class); the radius comes from the class's own rows."""
    train = context.train
    features = context.train_features() if context.train_features is not None else context.domain.features(train.images)
    return MemorisationFilter(context.domain, NearestReal(features), np.flatnonzero(train.labels == context.label),
                              context.config.memorisation_quantile)
