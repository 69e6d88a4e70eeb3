"""Which generated samples are good enough: the discriminator score threshold per class."""
from __future__ import annotations

import numpy as np


def discriminator_threshold(scores: np.ndarray, quantile: float) -> float:
    """Scores below this quantile of a class's calibration batch are rejected (rejection sampling)."""
    if len(scores) == 0:
        raise ValueError("cannot calibrate a threshold on no scores")
    return float(np.quantile(scores, quantile))
