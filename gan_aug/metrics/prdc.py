"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

FD and KID fold fidelity and diversity into one number; these split them. Each real (or fake)
sample gets a ball reaching its k-th nearest neighbour in its own set; the union of balls is an
estimate of that set's manifold:
  precision  share of fakes inside the real manifold (fidelity),
  recall     share of reals inside the fake manifold (diversity),
  density    how many real balls a fake falls in, over k (fidelity, robust to real outliers; ≈1
             when fake and real come from one distribution),
  coverage   share of reals whose ball holds at least one fake (diversity, robust to fake outliers).

Every number takes all pairs of rows, so time and memory grow with the square of a class's size (a
class of 30,000 real rows needs a 7 GB distance matrix). Above ``MAX_ROWS`` rows, a set is replaced
by a seeded random sample of ``MAX_ROWS`` of its rows: the numbers are shares and means, which a
sample of thousands estimates closely, and the cost stops growing with the class (Naeem et al.
evaluate on 10,000 rows for the same reason).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances

MAX_ROWS = 5000  # per set: at most a 5,000 × 5,000 float64 matrix (200 MB) at a time
_UNDEFINED = {"precision": None, "recall": None, "density": None, "coverage": None}


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (column 0 of the sort is itself)."""
    distances = pairwise_distances(features, features)
    return np.partition(distances, k, axis=1)[:, k]


def at_most(features: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``features`` itself up to ``rows`` rows, else a random ``rows`` of them (without replacement)."""
    if len(features) <= rows:
        return features
    return features[np.sort(rng.choice(len(features), rows, replace=False))]


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, *, k: int = 5,
                                      max_rows: int = MAX_ROWS, seed: int = 0) -> dict:
    """The four numbers in [0, 1] (density can exceed 1) plus the k used; None values when either
    set has fewer than two rows. k is clipped to the smaller set's size minus one, so small classes
    get a smaller but defined neighbourhood rather than an error. A set over ``max_rows`` rows is
    measured on a random ``max_rows`` of them (seeded by ``seed``): bounded time and memory."""
    rng = np.random.default_rng(seed)
    real = at_most(np.asarray(real, dtype=np.float64), max_rows, rng)
    fake = at_most(np.asarray(fake, dtype=np.float64), max_rows, rng)
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
