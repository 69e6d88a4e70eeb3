"""One split's rows in shard order, as columns: real rows first within each class, then synthetic.

Columns are built with numpy and pyarrow in bulk, not row by row: a million rows must not cost a
million Python dicts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gan_aug.data.imageset import ImageSet
from gan_aug.shards.png import MODES
from gan_aug.shards.schema import IMAGE_TYPE, shard_schema
from gan_aug.synthetic import SyntheticSet


@dataclass(frozen=True)
class SplitRows:
    """A split to write: its real rows and (train only) the synthetic rows, in a fixed order."""

    name: str
    real: ImageSet
    synthetic: SyntheticSet

    def __post_init__(self) -> None:
        labels = np.concatenate([self.real.labels, self.synthetic.labels.astype(np.int64)])
        object.__setattr__(self, "labels", labels)
        # Class by class; within a class real before synthetic (a stable sort keeps that order).
        object.__setattr__(self, "order", np.argsort(labels, kind="stable"))

    def __len__(self) -> int:
        return len(self.order)

    def images(self, positions: np.ndarray) -> np.ndarray:
        """The images at these positions of real-then-synthetic."""
        n_real = len(self.real)
        out = np.empty((len(positions), *self.real.images.shape[1:]), dtype=np.uint8)
        is_real = positions < n_real
        out[is_real] = self.real.images[positions[is_real]]
        out[~is_real] = self.synthetic.images[positions[~is_real] - n_real]
        return out

    def table(self, positions: np.ndarray, pngs: list[bytes]) -> pa.Table:
        """The shard rows at these positions, with their encoded images."""
        n_real, syn = len(self.real), self.synthetic
        is_real = positions < n_real
        real_pos, syn_pos = positions[is_real], positions[~is_real] - n_real
        labels = self.labels[positions]
        names = np.asarray(self.real.class_names, dtype=object)[labels]
        kind = np.where(is_real, "real", "synthetic")
        ident = np.empty(len(positions), dtype=np.int64)
        ident[is_real] = self.real.source_index[real_pos]
        ident[~is_real] = syn.seeds[syn_pos]
        paths = [f"{k}/{n}/{i}.png" for k, n, i in zip(kind, names, ident)]

        def synthetic_only(values: np.ndarray, dtype) -> pa.Array:
            full = np.zeros(len(positions), dtype=values.dtype)
            full[~is_real] = values[syn_pos]
            return pa.array(full, type=dtype, mask=is_real | _nan(full))

        shas = np.full(len(positions), None, dtype=object)
        shas[~is_real] = syn.generator_sha256[syn_pos].astype(object)
        columns = {
            "image": pa.StructArray.from_arrays([pa.array(pngs, pa.binary()), pa.array(paths, pa.string())],
                                                fields=list(IMAGE_TYPE)),
            "label": pa.array(labels, pa.int64()),
            "label_name": pa.array(names, pa.string()),
            "is_synthetic": pa.array(~is_real, pa.bool_()),
            "source_index": pa.array(np.where(is_real, ident, 0), pa.int64(), mask=~is_real),
            "d_score": synthetic_only(syn.d_scores, pa.float32()),
            "label_prob": synthetic_only(syn.label_probs, pa.float32()),
            "nn_distance": synthetic_only(syn.nn_distances, pa.float32()),
            "generator_sha256": pa.array(shas, pa.string()),
            "seed": pa.array(np.where(is_real, 0, ident), pa.int64(), mask=is_real),
        }
        return pa.Table.from_pydict(columns, schema=shard_schema(self.real.class_names))

    def folder_names(self, positions: np.ndarray) -> list[str]:
        """Image-folder paths below the split's folder: <class>/<real|syn>-<id>.png."""
        n_real = len(self.real)
        names = np.asarray(self.real.class_names, dtype=object)[self.labels[positions]]
        return [f"{name}/real-{self.real.source_index[p]}.png" if p < n_real
                else f"{name}/syn-{self.synthetic.seeds[p - n_real]}.png" for name, p in zip(names, positions)]


def _nan(values: np.ndarray) -> np.ndarray:
    """A filter that was off left NaN; in the shard that is a null, not a number."""
    return np.isnan(values) if np.issubdtype(values.dtype, np.floating) else np.zeros(len(values), bool)


def check_class_names(class_names: tuple[str, ...]) -> None:
    """Class names become folder names, so they must be safe path components and distinct."""
    for name in class_names:
        if not name or name in (".", "..") or any(ch in name for ch in "/\\\0"):
            raise ValueError(f"class name {name!r} cannot be used as a folder name")
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class names must be distinct, got {list(class_names)}")


def _check_unique(labels: np.ndarray, ids: np.ndarray, what: str, split: str) -> None:
    """Two rows with one (class, id) would share an image path and overwrite each other.

    One int64 key per row and one sort: a few bytes per row, where np.unique(axis=0) would copy
    the pairs several times over.
    """
    if len(labels) < 2:
        return
    ids = ids.astype(np.int64)
    low, span = int(ids.min()), int(ids.max()) - int(ids.min()) + 1
    if span * (int(labels.max()) + 1) < 2**62:
        keys = np.sort(labels * span + (ids - low))
        repeated = np.flatnonzero(keys[1:] == keys[:-1])
        duplicate = None if not len(repeated) else divmod(int(keys[repeated[0]]), span)
        duplicate = duplicate and (duplicate[0], duplicate[1] + low)
    else:  # ids too far apart to pack: compare the pairs themselves
        pairs = np.unique(np.stack([labels, ids], axis=1), axis=0, return_counts=True)
        duplicate = None if pairs[1].max() == 1 else tuple(pairs[0][np.argmax(pairs[1])])
    if duplicate is not None:
        label, ident = duplicate
        raise ValueError(f"{split}: duplicate {what} {ident} in class {label}: image paths would collide")


def validate_split(rows: SplitRows, class_names: tuple[str, ...], image_shape: tuple[int, ...]) -> None:
    """Fail before anything is written, naming the split and the bad input."""
    real, synthetic = rows.real, rows.synthetic
    if tuple(real.class_names) != tuple(class_names):
        raise ValueError(f"{rows.name}: class names {list(real.class_names)} differ from train's {list(class_names)}")
    for what, images in (("real", real.images), ("synthetic", synthetic.images)):
        if len(images) and images.shape[1:] != image_shape:
            raise ValueError(f"{rows.name}: {what} images are {list(images.shape[1:])} but train images are "
                             f"{list(image_shape)} (C, H, W)")
    if image_shape[0] not in MODES:
        raise ValueError(f"images must have 1 or 3 channels for PNG, got {image_shape[0]}")
    if len(synthetic) and not np.issubdtype(synthetic.labels.dtype, np.integer):
        raise ValueError(f"synthetic labels must be integers, got {synthetic.labels.dtype}")
    if len(synthetic) and (synthetic.labels.min() < 0 or synthetic.labels.max() >= len(class_names)):
        raise ValueError(f"synthetic labels must lie in [0, {len(class_names)}), "
                         f"got [{synthetic.labels.min()}, {synthetic.labels.max()}]")
    _check_unique(real.labels, real.source_index, "source_index", rows.name)
    _check_unique(synthetic.labels.astype(np.int64), synthetic.seeds.astype(np.int64), "seed", rows.name)
