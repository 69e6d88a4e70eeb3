"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

FD and KID fold fidelity and diversity into one number; these split them. Each real (or fake)
sample gets a ball reaching its k-th nearest neighbour in its own set; the union of balls is an
estimate of that set's manifold:
  precision  share of fakes inside the real manifold (fidelity),
  recall     share of reals inside the fake manifold (diversity),
  density    how many real balls a fake falls in, over k (fidelity, robust to real outliers; ≈1
             when fake and real come from one distribution),
  coverage   share of reals whose ball holds at least one fake (diversity, robust to fake outliers).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances

_UNDEFINED = {"precision": None, "recall": None, "density": None, "coverage": None}


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (column 0 of the sort is itself)."""
    distances = pairwise_distances(features, features)
    return np.sort(distances, axis=1)[:, k]


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> dict:
    """The four numbers in [0, 1] (density can exceed 1) plus the k used; None values when either
    set has fewer than two rows. k is clipped to the smaller set's size minus one, so small classes
    get a smaller but defined neighbourhood rather than an error."""
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if len(real) < 2 or len(fake) < 2:
        return {**_UNDEFINED, "k": None}
    k = min(k, len(real) - 1, len(fake) - 1)
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    cross = pairwise_distances(real, fake)  # rows: real, columns: fake
    in_real_balls = cross <= real_radii[:, None]
    return {
        "precision": float(in_real_balls.any(axis=0).mean()),
        "recall": float((cross <= fake_radii[None, :]).any(axis=1).mean()),
        "density": float(in_real_balls.sum() / (k * len(fake))),
        "coverage": float((cross.min(axis=1) <= real_radii).mean()),
        "k": int(k),
    }
