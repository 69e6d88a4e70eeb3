"""Generated samples that passed the filters, with what is needed to trace and regenerate each."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_aug.io import atomic_write


@dataclass(frozen=True)
class SyntheticSet:
    images: np.ndarray  # uint8 N×C×H×W
    labels: np.ndarray  # int64 N
    d_scores: np.ndarray  # float32 N: discriminator score of each sample
    seeds: np.ndarray  # int64 N: the latent seed; (checkpoint, label, seed) regenerates the sample
    generator_sha256: str

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"synthetic images must be uint8 N×C×H×W, got {self.images.dtype} {self.images.shape}")
        for name in ("labels", "d_scores", "seeds"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"synthetic {name} must have {n} entries")

    def __len__(self) -> int:
        return len(self.labels)

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
        hashes = {part.generator_sha256 for part in parts}
        if len(hashes) != 1:
            raise ValueError(f"synthetic sets come from different generators: {sorted(hashes)}")
        return cls(
            np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
            np.concatenate([p.d_scores for p in parts]), np.concatenate([p.seeds for p in parts]),
            parts[0].generator_sha256,
        )

    def save(self, path: str | Path) -> Path:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, images=self.images, labels=self.labels, d_scores=self.d_scores,
                         seeds=self.seeds, generator_sha256=np.array(self.generator_sha256))

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "SyntheticSet":
        with np.load(path, allow_pickle=False) as data:
            return cls(data["images"], data["labels"], data["d_scores"], data["seeds"],
                       str(data["generator_sha256"]))
