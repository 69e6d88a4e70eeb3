"""Generated samples that passed the filters, with what is needed to trace and regenerate each."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_aug.io import atomic_write

SCORE_COLUMNS = ("label_probs", "nn_distances")


@dataclass(frozen=True)
class SyntheticSet:
    images: np.ndarray  # uint8 N×C×H×W
    labels: np.ndarray  # int64 N
    d_scores: np.ndarray  # float32 N: discriminator score of each sample
    seeds: np.ndarray  # int64 N: the latent seed; (checkpoint, label, seed) regenerates the sample
    # sha256 of the checkpoint that made each row: one string for all rows, or one per row (per-class GANs).
    generator_sha256: np.ndarray | str
    # The other filters' scores (NaN where that filter was off): the domain classifier's probability
    # of the row's class, and the feature distance to the nearest real training image.
    label_probs: np.ndarray | None = None
    nn_distances: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        object.__setattr__(self, "generator_sha256", np.broadcast_to(
            np.asarray(self.generator_sha256, dtype="<U64"), (n,)).copy())
        for name in SCORE_COLUMNS:
            value = getattr(self, name)
            object.__setattr__(self, name, np.full(n, np.nan, np.float32) if value is None
                               else np.asarray(value, dtype=np.float32))
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"synthetic images must be uint8 N×C×H×W, got {self.images.dtype} {self.images.shape}")
        for name in ("labels", "d_scores", "seeds", "generator_sha256", *SCORE_COLUMNS):
            if len(getattr(self, name)) != n:
                raise ValueError(f"synthetic {name} must have {n} entries")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def generators(self) -> dict[int, str]:
        """Class → the checkpoint its rows came from (one per class: the shared GAN or the class's own)."""
        return {int(label): str(sha) for label, sha in zip(self.labels, self.generator_sha256)}

    @classmethod
    def empty(cls, shape: tuple[int, int, int], generator_sha256: str) -> "SyntheticSet":
        return cls(
            np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.float32),
            np.zeros(0, np.int64), generator_sha256,
        )

    @classmethod
    def concat(cls, parts: list["SyntheticSet"]) -> "SyntheticSet":
        if not parts:
            raise ValueError("nothing to concatenate")
        return cls(
            np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
            np.concatenate([p.d_scores for p in parts]), np.concatenate([p.seeds for p in parts]),
            np.concatenate([p.generator_sha256 for p in parts]),
            *(np.concatenate([getattr(p, name) for p in parts]) for name in SCORE_COLUMNS),
        )

    def select(self, rows: np.ndarray) -> "SyntheticSet":
        """The given rows (a boolean mask or indices), every column alike."""
        return SyntheticSet(self.images[rows], self.labels[rows], self.d_scores[rows], self.seeds[rows],
                            self.generator_sha256[rows], self.label_probs[rows], self.nn_distances[rows])

    def save(self, path: str | Path) -> Path:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, images=self.images, labels=self.labels, d_scores=self.d_scores,
                         seeds=self.seeds, generator_sha256=self.generator_sha256,
                         **{name: getattr(self, name) for name in SCORE_COLUMNS})

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "SyntheticSet":
        with np.load(path, allow_pickle=False) as data:
            return cls(data["images"], data["labels"], data["d_scores"], data["seeds"], data["generator_sha256"],
                       *(data[name] if name in data.files else None for name in SCORE_COLUMNS))
