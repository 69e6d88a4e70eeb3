"""What a distance means for one class: the real-vs-real floor, an interval, and every number at once.

FD is biased upward at small n, so "FD = 40" says little alone. The floor (two disjoint halves of
the class's own real images) shows what sampling noise alone gives, the bootstrap interval how
much the estimate itself moves, and KID and precision/recall/density/coverage sit beside them.
"""
from __future__ import annotations

import numpy as np

from gan_aug.metrics.fid import frechet_distance
from gan_aug.metrics.kid import kernel_inception_distance, kid_bootstrap_interval
from gan_aug.metrics.prdc import precision_recall_density_coverage


def split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of range(n), of equal size n // 2 (one row left out when n is
    odd), so the floor compares sets of the same size and the bias is symmetric."""
    order = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return np.sort(order[:half]), np.sort(order[half : 2 * half])


def fd_floor(real: np.ndarray, seed: int = 0) -> float | None:
    """FD between two disjoint halves of the real features; None below four rows.

    Each half has n/2 rows, so the floor overstates the noise of a comparison at full n a little:
    a fake-vs-real FD near it means "as close as the data can tell"."""
    a, b = split_halves(len(real), seed)
    real = np.asarray(real)
    return frechet_distance(real[a], real[b])


def kid_floor(real: np.ndarray, seed: int = 0) -> float | None:
    """KID between two disjoint halves of the real features (≈ 0 up to noise); None below four rows."""
    a, b = split_halves(len(real), seed)
    real = np.asarray(real)
    return kernel_inception_distance(real[a], real[b], seed=seed)["kid"]


def fd_bootstrap_interval(
    real: np.ndarray, fake: np.ndarray, *, rounds: int = 100, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of FD: rows of each set are resampled with replacement.

    Resampling repeats rows and so shrinks the covariances a little; the interval therefore leans
    high, which is the safe side when judging whether generated images are close enough."""
    real, fake = np.asarray(real), np.asarray(fake)
    if len(real) < 2 or len(fake) < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [
        frechet_distance(real[rng.integers(0, len(real), len(real))], fake[rng.integers(0, len(fake), len(fake))])
        for _ in range(rounds)
    ]
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def fd_matched(real: np.ndarray, fake: np.ndarray, *, seed: int = 0, rounds: int = 5) -> float | None:
    """FD of the fakes against half A of the real rows, at half A's size: the same comparison as
    ``fd_floor`` (A vs B) with fakes in B's place, so the two numbers share their small-n bias and
    their ratio means something. Averaged over ``rounds`` random draws of fakes."""
    real, fake = np.asarray(real), np.asarray(fake)
    a, _ = split_halves(len(real), seed)
    if len(a) < 2 or len(fake) < 2:
        return None
    rng = np.random.default_rng(seed)
    size = min(len(a), len(fake))
    values = [frechet_distance(real[a], fake[rng.choice(len(fake), size, replace=False)]) for _ in range(rounds)]
    return float(np.mean(values))


def class_quality(real: np.ndarray, fake: np.ndarray, *, seed: int = 0, bootstrap_rounds: int = 100) -> dict:
    """One flat, JSON-ready dict for a class (the per-class entry of metrics.json); None where a
    number is undefined for so few rows."""
    interval = fd_bootstrap_interval(real, fake, rounds=bootstrap_rounds, seed=seed)
    kid = kernel_inception_distance(real, fake, seed=seed)
    kid_interval = kid_bootstrap_interval(real, fake, rounds=bootstrap_rounds, seed=seed)
    prdc = precision_recall_density_coverage(real, fake, seed=seed)
    floor, matched = fd_floor(real, seed=seed), fd_matched(real, fake, seed=seed)
    return {
        "fd": frechet_distance(real, fake),
        "fd_floor": floor,
        "fd_ci_low": None if interval is None else interval[0],
        "fd_ci_high": None if interval is None else interval[1],
        # The acceptance check's numbers: matched FD (fakes vs half A) over the floor (A vs B).
        "fd_matched": matched,
        "fd_ratio": None if matched is None or not floor else matched / floor,
        "kid": kid["kid"],
        "kid_std": kid["kid_std"],
        "kid_ci_low": None if kid_interval is None else kid_interval[0],
        "kid_ci_high": None if kid_interval is None else kid_interval[1],
        "kid_floor": kid_floor(real, seed=seed),
        **{name: prdc[name] for name in ("precision", "recall", "density", "coverage")},
    }
