"""Fréchet distance between two feature sets, via pytorch-fid's reference implementation."""
from __future__ import annotations

import warnings

import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance
from scipy.linalg import LinAlgWarning


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples) in float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float | None:
    """FD between two sets; None when either has fewer than two samples (no covariance).

    Small classes give rank-deficient covariances, for which the matrix square root can
    come back with an imaginary part; pytorch-fid then raises, and we retry with a ridge
    scaled to the features' variance, which perturbs the distance negligibly.
    """
    if len(features_a) < 2 or len(features_b) < 2:
        return None
    mu_a, sigma_a = feature_statistics(features_a)
    mu_b, sigma_b = feature_statistics(features_b)
    with warnings.catch_warnings():
        # Singular covariances are expected for small classes and handled below.
        warnings.simplefilter("ignore", LinAlgWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy's deprecated `disp`, used by pytorch-fid
        # scipy's error estimate of sqrtm divides by a zero norm for an all-zero residual: harmless, not news.
        warnings.filterwarnings("ignore", "invalid value encountered in scalar divide", RuntimeWarning)
        try:
            return float(calculate_frechet_distance(mu_a, sigma_a, mu_b, sigma_b))
        except ValueError:
            ridge = 1e-6 * max(np.trace(sigma_a), np.trace(sigma_b), 1e-12) / len(mu_a) * np.eye(len(mu_a))
            return float(calculate_frechet_distance(mu_a, sigma_a + ridge, mu_b, sigma_b + ridge))
