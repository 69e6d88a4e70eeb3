"""The in-memory image-set contract shared by every stage.

Images are uint8 N×C×H×W, labels int64 in ``[0, len(class_names))``; float conversion
happens at a model's edge, never here. Sets are saved as uncompressed ``.npz`` so
stages can pass paths instead of arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_aug.io import atomic_write


@dataclass(frozen=True)
class ImageSet:
    images: np.ndarray  # uint8, N×C×H×W
    labels: np.ndarray  # int64, N
    class_names: tuple[str, ...]
    # Row index of each image in the loaded source, so provenance survives subsampling/splits.
    source_index: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 N×C×H×W, got {self.images.dtype} with shape {self.images.shape}"
            )
        if self.labels.dtype != np.int64 or self.labels.shape != (len(self.images),):
            raise ValueError(
                f"labels must be int64 of shape ({len(self.images)},), "
                f"got {self.labels.dtype} {self.labels.shape}"
            )
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(
                f"labels must lie in [0, {len(self.class_names)}), "
                f"got [{self.labels.min()}, {self.labels.max()}]"
            )
        if self.source_index is None:
            object.__setattr__(self, "source_index", np.arange(len(self.images), dtype=np.int64))
        elif self.source_index.shape != self.labels.shape:
            raise ValueError("source_index must have one entry per image")

    def __len__(self) -> int:
        return len(self.labels)

    def __sizeof__(self) -> int:
        """The arrays' bytes too (``sys.getsizeof`` would count the wrapper alone): Dask sizes arguments
        this way, and scatters a set shared by many classifier runs once instead of sending it with each."""
        arrays = (self.images, self.labels, self.source_index)
        return object.__sizeof__(self) + sum(a.nbytes for a in arrays if a is not None)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[2])

    def class_counts(self) -> np.ndarray:
        """Images per class, indexed by label (zeros included)."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def subset(self, rows: np.ndarray) -> "ImageSet":
        return ImageSet(self.images[rows], self.labels[rows], self.class_names, self.source_index[rows])

    def single_class(self, label: int) -> "ImageSet":
        """One class's rows relabelled 0: the training set of a one-class GAN (``gan.strategy: per_class``)."""
        rows = np.flatnonzero(self.labels == label)
        return ImageSet(self.images[rows], np.zeros(len(rows), np.int64), (self.class_names[label],),
                        self.source_index[rows])

    def of_class(self, label: int) -> np.ndarray:
        """The images of one class (a view-free copy is not needed: callers only read)."""
        return self.images[self.labels == label]

    def save(self, path: str | Path) -> Path:
        """Write atomically as uncompressed .npz (fast to reload, no pickle)."""

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(
                    handle,
                    images=self.images,
                    labels=self.labels,
                    class_names=np.array(self.class_names, dtype=str),
                    source_index=self.source_index,
                )

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "ImageSet":
        with np.load(path, allow_pickle=False) as data:
            return cls(
                images=data["images"],
                labels=data["labels"],
                class_names=tuple(str(name) for name in data["class_names"]),
                source_index=data["source_index"],
            )
