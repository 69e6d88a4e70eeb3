"""Which generated samples are good enough.

Per sample, in order: discriminator score (calibrated on real held-out images), label
consistency (the domain classifier agrees with the intended class) and memorisation (no
near-copies of training images), run as a FilterChain inside generation so rejections are made
up for. Per class, afterwards: FD acceptance against the real-vs-real floor.

Each per-sample filter's module registers it (registry.py): its name, its score column, the
settings it reads, its report labels and the generator scores it needs. A new filter is one module.
"""
from gan_aug.filters.base import Candidates, ChainResult, FilterChain, SampleFilter
from gan_aug.filters.discriminator import DiscriminatorFilter, calibrate_discriminator, discriminator_scores
from gan_aug.filters.fd_policy import FD_POLICIES, AcceptanceDecision, FDAcceptanceError, decide, judge_class
from gan_aug.filters.label import LabelConsistencyFilter
from gan_aug.filters.memorisation import MemorisationFilter, NearestReal, memorisation_radius

__all__ = [
    "FD_POLICIES", "AcceptanceDecision", "Candidates", "ChainResult", "DiscriminatorFilter",
    "FDAcceptanceError", "FilterChain", "LabelConsistencyFilter", "MemorisationFilter", "NearestReal",
    "SampleFilter", "calibrate_discriminator", "decide", "discriminator_scores", "judge_class",
    "memorisation_radius",
]
