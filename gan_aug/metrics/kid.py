"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel (Bińkowski et al. 2018).

Computed on any features (not only Inception's), following torch-fidelity's `metric_kid.py`:
the estimate is averaged over seeded random subsets, so the same seed gives the same number.
"""
from __future__ import annotations

import numpy as np

DEFAULT_SUBSETS = 100
MAX_SUBSET_SIZE = 1000
PRECOMPUTE_ROWS = 3000


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)³, the kernel KID is defined with."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD² from the three kernel matrices.

    Leaving the diagonals of kxx and kyy out (each sample compared with itself) removes the
    O(1/n) bias that FD carries, so the expected value is 0 for equal distributions at any n;
    that is why KID is the number to trust on classes of a few dozen images.
    """
    m, n = len(kxx), len(kyy)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def _gram_blocks(features: np.ndarray):
    """A function (rows, rows) -> kernel block. While the Gram matrix fits (≤ 72 MB) it is computed
    once, and each subset then costs only indexing instead of three kernel evaluations."""
    if len(features) > PRECOMPUTE_ROWS:
        return lambda rows_a, rows_b: polynomial_kernel(features[rows_a], features[rows_b])
    full = polynomial_kernel(features, features)
    return lambda rows_a, rows_b: full[np.ix_(rows_a, rows_b)]


def kernel_inception_distance(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    subsets: int = DEFAULT_SUBSETS,
    subset_size: int | None = None,
    seed: int = 0,
) -> dict:
    """{"kid": mean MMD² over subsets, "kid_std": its spread across subsets}; None values when
    either set has fewer than two rows.

    The subset size defaults to (and is clipped at) the smaller set, at most 1000, so a 5-image
    class still gets a number; when a subset is the whole class every subset agrees and
    kid_std is 0.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    size = min(subset_size or MAX_SUBSET_SIZE, len(real), len(fake))
    if size < 2:
        return {"kid": None, "kid_std": None}
    gram = _gram_blocks(np.concatenate([real, fake]))
    if size == len(real) == len(fake):
        subsets = 1  # every subset would be the whole of both sets
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = rng.choice(len(real), size, replace=False)
        y = len(real) + rng.choice(len(fake), size, replace=False)
        values.append(mmd2_unbiased(gram(x, x), gram(y, y), gram(x, y)))
    return {"kid": float(np.mean(values)), "kid_std": float(np.std(values))}


def _mmd2_distinct(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray, rows_x: np.ndarray,
                   rows_y: np.ndarray) -> float | None:
    """MMD² over a resample drawn with replacement: within-set pairs of the same source row are left
    out, as the diagonal is in ``mmd2_unbiased``, or duplicated rows would bias the estimate up."""
    distinct_x, distinct_y = rows_x[:, None] != rows_x[None, :], rows_y[:, None] != rows_y[None, :]
    if not distinct_x.any() or not distinct_y.any():
        return None
    return float((kxx * distinct_x).sum() / distinct_x.sum() + (kyy * distinct_y).sum() / distinct_y.sum()
                 - 2.0 * kxy.mean())


def kid_bootstrap_interval(
    real: np.ndarray, fake: np.ndarray, *, rounds: int = 50, seed: int = 0, level: float = 0.95,
    max_rows: int = MAX_SUBSET_SIZE,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of KID: each round resamples (at most ``max_rows``) rows of each
    set with replacement; None when either set has fewer than two rows."""
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if len(real) < 2 or len(fake) < 2:
        return None
    gram = _gram_blocks(np.concatenate([real, fake]))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        x = rng.integers(0, len(real), min(len(real), max_rows))
        y = len(real) + rng.integers(0, len(fake), min(len(fake), max_rows))
        value = _mmd2_distinct(gram(x, x), gram(y, y), gram(x, y), x, y)
        if value is not None:
            values.append(value)
    if not values:
        return None
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)
