"""Class counts, imbalance and the per-class targets a run aims for."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gan_aug.data.imageset import ImageSet


@dataclass(frozen=True)
class ClassBalance:
    class_names: tuple[str, ...]
    counts: tuple[int, ...]
    targets: tuple[int, ...]

    @property
    def imbalance_ratio(self) -> float:
        present = [count for count in self.counts if count > 0]
        return max(present) / min(present) if present else 0.0

    @property
    def needed(self) -> tuple[int, ...]:
        return tuple(max(target - count, 0) for count, target in zip(self.counts, self.targets))

    @property
    def minority_classes(self) -> tuple[int, ...]:
        """Labels that need synthetic samples to reach their target."""
        return tuple(label for label, need in enumerate(self.needed) if need > 0)

    def to_dict(self) -> dict:
        return {**asdict(self), "imbalance_ratio": self.imbalance_ratio, "needed": list(self.needed),
                "minority_classes": list(self.minority_classes)}


def analyse(train: ImageSet, target_count: int | None = None) -> ClassBalance:
    """Targets default to the largest class's count: the set comes out balanced."""
    counts = train.class_counts()
    if (counts == 0).any():
        empty = [train.class_names[i] for i in np.flatnonzero(counts == 0)]
        raise ValueError(f"classes with no training images cannot be synthesised: {empty}")
    target = int(counts.max()) if target_count is None else int(target_count)
    targets = tuple(max(target, int(count)) for count in counts)
    return ClassBalance(train.class_names, tuple(int(c) for c in counts), targets)
