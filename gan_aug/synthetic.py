"""Generated samples that passed the filters, with what is needed to trace and regenerate each."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gan_aug.filters.registry import score_columns
from gan_aug.io import atomic_write

# Files written before scores were named by their filter's score: their keys, read as today's.
LEGACY_KEYS = {"d_scores": "d_score", "label_probs": "label_prob", "nn_distances": "nn_distance"}


@dataclass(frozen=True)
class SyntheticSet:
    images: np.ndarray  # uint8 N×C×H×W
    labels: np.ndarray  # int64 N
    seeds: np.ndarray  # int64 N: the latent seed; (checkpoint, label, seed) regenerates the sample
    # sha256 of the checkpoint that made each row: one string for all rows, or one per row (per-class GANs).
    generator_sha256: np.ndarray | str
    # Per registered filter score (registry.score_columns: d_score, label_prob, nn_distance, ...), float32
    # N: the generator's or the filter's score of each row, NaN where neither gave it (a filter that was off).
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        object.__setattr__(self, "generator_sha256", np.broadcast_to(
            np.asarray(self.generator_sha256, dtype="<U64"), (n,)).copy())
        object.__setattr__(self, "scores", {
            name: np.full(n, np.nan, np.float32) if self.scores.get(name) is None
            else np.asarray(self.scores[name], dtype=np.float32) for name in score_columns()})
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"synthetic images must be uint8 N×C×H×W, got {self.images.dtype} {self.images.shape}")
        for name, values in (("labels", self.labels), ("seeds", self.seeds),
                             ("generator_sha256", self.generator_sha256), *self.scores.items()):
            if len(values) != n:
                raise ValueError(f"synthetic {name} must have {n} entries")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def generators(self) -> dict[int, str]:
        """Class → the checkpoint its rows came from (one per class: the shared GAN or the class's own)."""
        return {int(label): str(sha) for label, sha in zip(self.labels, self.generator_sha256)}

    @classmethod
    def empty(cls, shape: tuple[int, int, int], generator_sha256: str) -> "SyntheticSet":
        return cls(np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), generator_sha256)

    @classmethod
    def concat(cls, parts: list["SyntheticSet"]) -> "SyntheticSet":
        if not parts:
            raise ValueError("nothing to concatenate")
        return cls(
            np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
            np.concatenate([p.seeds for p in parts]), np.concatenate([p.generator_sha256 for p in parts]),
            {name: np.concatenate([p.scores[name] for p in parts]) for name in parts[0].scores},
        )

    def select(self, rows: np.ndarray) -> "SyntheticSet":
        """The given rows (a boolean mask or indices), every column alike."""
        return SyntheticSet(self.images[rows], self.labels[rows], self.seeds[rows], self.generator_sha256[rows],
                            {name: values[rows] for name, values in self.scores.items()})

    def save(self, path: str | Path) -> Path:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, images=self.images, labels=self.labels, seeds=self.seeds,
                         generator_sha256=self.generator_sha256, **self.scores)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "SyntheticSet":
        with np.load(path, allow_pickle=False) as data:
            scores = {LEGACY_KEYS.get(key, key): data[key] for key in data.files
                      if key not in ("images", "labels", "seeds", "generator_sha256")}
            return cls(data["images"], data["labels"], data["seeds"], data["generator_sha256"], scores)
