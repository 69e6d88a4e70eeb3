"""The training split as shipped: every real row, the synthetic rows a class was given, and real rows
duplicated (and flagged) the rest of the way to each class's target.

Synthetic rows help a classifier when they are a minority of what a class sees (Azizi et al. 2023),
so a class gets at most ``dose`` synthetic rows per real image; balance is then reached by
duplication, as random oversampling would, and every row says which of the three it is.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from gan_aug.data.imageset import ImageSet
from gan_aug.data.resample import duplicate_rows
from gan_aug.hashing import bytes_sha256
from gan_aug.synthetic import SyntheticSet

KINDS = ("real", "synthetic", "duplicate")


@dataclass(frozen=True)
class TrainingMix:
    """Rows in the order real, synthetic, duplicates. ``duplicates`` index ``real``; synthetic rows
    carry ``synthetic_weight`` as their loss weight (the others 1) and, with ``late_from`` > 0, are
    meant to be drawn only after that share of training (deferred)."""

    real: ImageSet
    synthetic: SyntheticSet
    duplicates: np.ndarray
    synthetic_weight: float = 1.0
    late_from: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "duplicates", np.asarray(self.duplicates, dtype=np.int64))
        if len(self.duplicates) and (self.duplicates.min() < 0 or self.duplicates.max() >= len(self.real)):
            raise ValueError(f"duplicates must index the {len(self.real)} real rows")
        if not self.synthetic_weight >= 0:
            raise ValueError(f"synthetic_weight must be >= 0, got {self.synthetic_weight}")
        if not 0 <= self.late_from < 1:
            raise ValueError(f"late_from must be in [0, 1), got {self.late_from}")

    def __len__(self) -> int:
        return len(self.real) + len(self.synthetic) + len(self.duplicates)

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([self.real.labels, self.synthetic.labels.astype(np.int64),
                               self.real.labels[self.duplicates]])

    @property
    def kinds(self) -> np.ndarray:
        """0 real, 1 synthetic, 2 duplicate (indices into ``KINDS``), per row."""
        return np.repeat(np.arange(3, dtype=np.int8), [len(self.real), len(self.synthetic), len(self.duplicates)])

    @property
    def is_synthetic(self) -> np.ndarray:
        return self.kinds == 1

    @property
    def is_duplicate(self) -> np.ndarray:
        return self.kinds == 2

    @property
    def weights(self) -> np.ndarray:
        """Each row's loss weight: ``synthetic_weight`` for synthetic rows, 1 for the others."""
        return np.where(self.is_synthetic, np.float32(self.synthetic_weight), np.float32(1.0)).astype(np.float32)

    def data(self) -> ImageSet:
        """Every row as one ImageSet (synthetic rows have source index -1; duplicates their original's)."""
        real = self.real
        return ImageSet(
            np.concatenate([real.images, self.synthetic.images, real.images[self.duplicates]]), self.labels,
            real.class_names,
            np.concatenate([real.source_index, np.full(len(self.synthetic), -1, np.int64),
                            real.source_index[self.duplicates]]))

    def fingerprint(self) -> str:
        """Which rows it trains on and how: two mixes with equal fingerprints train the same classifier
        (grid points whose doses allow more rows than were accepted build the same mix; without synthetic
        rows their weight and deferral do not matter)."""
        some = len(self.synthetic) > 0
        digest = hashlib.sha256(repr((len(self.real), self.synthetic_weight if some else 1.0,
                                      self.late_from if some else 0.0)).encode())
        for part in (self.real.source_index, self.synthetic.labels, self.synthetic.seeds, self.duplicates):
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(bytes_sha256(np.ascontiguousarray(self.synthetic.images).tobytes()).encode())
        return digest.hexdigest()

    def class_counts(self, kind: str | None = None) -> np.ndarray:
        """Rows per class, of one kind ('real', 'synthetic', 'duplicate') or all."""
        labels = self.labels if kind is None else self.labels[self.kinds == KINDS.index(kind)]
        return np.bincount(labels, minlength=self.real.num_classes)


def synthetic_allowance(real_counts: np.ndarray, targets: np.ndarray, dose: float | dict[int, float]) -> np.ndarray:
    """Synthetic rows per class: at most ``dose`` per real image of the class (a number, or one per
    class), and never more than the class needs to reach its target."""
    doses = np.array([dose.get(k, 0.0) if isinstance(dose, dict) else dose for k in range(len(real_counts))])
    caps = np.array([math.floor(d * n + 1e-9) for d, n in zip(doses, real_counts)], dtype=np.int64)
    return np.minimum(caps, np.maximum(np.asarray(targets) - np.asarray(real_counts), 0))


def build_mix(real: ImageSet, synthetic: SyntheticSet, targets: np.ndarray, dose: float | dict[int, float], *,
              weight: float = 1.0, late_from: float = 0.0, seed: int = 0) -> TrainingMix:
    """Every real row; per class the first rows of ``synthetic`` its dose allows (fewer when fewer were
    accepted); then real rows of the class drawn with replacement (seeded) until it reaches its target."""
    counts = real.class_counts()
    allowed = synthetic_allowance(counts, targets, dose)
    chosen = np.concatenate([np.flatnonzero(synthetic.labels == k)[:allowed[k]] for k in range(len(counts))] or
                            [np.zeros(0, np.int64)]).astype(np.int64)
    synthetic = synthetic.select(np.sort(chosen))
    have = counts + np.bincount(synthetic.labels.astype(np.int64), minlength=len(counts))
    duplicates = duplicate_rows(real.labels, have, targets, np.random.default_rng(seed))
    return TrainingMix(real, synthetic, duplicates, weight, late_from)


def real_only(real: ImageSet) -> TrainingMix:
    """A split with real rows only (validation, test)."""
    return TrainingMix(real, SyntheticSet.empty(real.images.shape[1:], ""), np.zeros(0, np.int64))
