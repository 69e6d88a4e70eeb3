"""What a mix choice is: the dose and loss weight of synthetic rows per class, the grid of (dose,
weight) points a choice is made from, and the fixed choice. Choosing on validation (classifier runs
scored on the validation split) is gan_aug.evaluate.mix_choice, which depends on this package, not
the other way round.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from gan_aug.config import MixConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.headroom import Headroom
from gan_aug.mix.rows import TrainingMix, build_mix, synthetic_allowance
from gan_aug.synthetic import SyntheticSet


@dataclass(frozen=True)
class MixChoice:
    """What ships, and why: the chosen dose and weight, the per-class doses (0 where a class was not
    eligible), and the validation curve the choice was read from."""

    policy: str  # "validation" or "fixed"
    dose: float
    weight: float
    late_from: float
    doses: dict[int, float]
    eligible: list[int]
    reason: str
    curve: list[dict] = field(default_factory=list)  # per grid point, in the order tried
    headroom: Headroom | None = None  # the real rows' learning curve, measured beside the grid

    def to_dict(self) -> dict:
        """JSON-ready; ``from_dict`` reads it back."""
        return {**asdict(self), "doses": {str(k): v for k, v in self.doses.items()},
                "headroom": None if self.headroom is None else self.headroom.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, found: dict) -> "MixChoice":
        room = found.get("headroom")
        return cls(**{**found, "doses": {int(k): v for k, v in found["doses"].items()},
                      "headroom": None if room is None else Headroom.model_validate(room)})

    def build(self, train: ImageSet, accepted: SyntheticSet, targets: np.ndarray, seed: int) -> TrainingMix:
        """The training split this choice ships."""
        return build_mix(train, accepted, targets, self.doses, weight=self.weight, late_from=self.late_from, seed=seed)


def most_wanted(real_counts: np.ndarray, targets: np.ndarray, cfg: MixConfig) -> np.ndarray:
    """Synthetic rows per class worth generating: what the largest dose any choice could ship allows."""
    dose = max(cfg.doses) if cfg.policy == "validation" else cfg.dose
    return synthetic_allowance(real_counts, targets, dose)


def grid(cfg: MixConfig) -> list[tuple[float, float]]:
    """(dose, weight) points: no synthetic rows once, then every dose with every weight."""
    doses = sorted({d for d in cfg.doses if d > 0})
    return [(0.0, 1.0)] + [(d, w) for d in doses for w in sorted(set(cfg.weights), reverse=True)]


def class_doses(dose: float, eligible: list[int], num_classes: int) -> dict[int, float]:
    return {k: (dose if k in eligible else 0.0) for k in range(num_classes)}


def fixed_choice(cfg: MixConfig, eligible: list[int], num_classes: int) -> MixChoice:
    return MixChoice("fixed", cfg.dose, cfg.weight, cfg.defer, class_doses(cfg.dose, eligible, num_classes),
                     eligible, f"mix.policy is fixed: dose {cfg.dose:g}, weight {cfg.weight:g}")
