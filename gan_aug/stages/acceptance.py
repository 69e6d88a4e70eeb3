"""Per-class sample quality beside its real-vs-real floor, and the FD acceptance policy applied."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gan_aug.config import FilterConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.filters import decide
from gan_aug.metrics.extractors import FeatureExtractor
from gan_aug.metrics.per_class import quality_per_class
from gan_aug.synthetic import SyntheticSet


@dataclass(frozen=True)
class AcceptanceReport:
    """What acceptance found, small enough to pass between tasks and write to metrics.json."""

    quality: dict[int, dict]  # class → FD/KID with floors and intervals, precision/recall, counts
    status: dict[int, str]  # class → ok / flagged / dropped / unjudged
    dropped: list[int]  # classes whose synthetic rows were removed
    message: str | None  # a warning when any class was flagged
    extractor: str  # the features the numbers were measured in


@dataclass(frozen=True)
class Acceptance:
    accepted: SyntheticSet
    report: AcceptanceReport


def accept(candidates: SyntheticSet, real: ImageSet, extractor: FeatureExtractor, filters: FilterConfig, *,
           seed: int) -> Acceptance:
    """Measure every synthesised class against its real images and apply ``filter.fd_policy``: flagged
    classes are kept (warn), dropped, or stop the run with FDAcceptanceError (fail) before anything is written."""
    quality = quality_per_class(extractor, real, candidates, seed=seed, bootstrap_rounds=filters.bootstrap_rounds)
    decision = decide(quality, real.class_names, policy=filters.fd_policy, max_ratio=filters.fd_max_ratio,
                      min_real=filters.fd_min_real)
    accepted = candidates.select(~np.isin(candidates.labels, decision.drop))
    return Acceptance(accepted, AcceptanceReport(quality, decision.status, decision.drop, decision.message,
                                                 extractor.name))
