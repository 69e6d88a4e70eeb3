"""One split's rows in shard order, as columns: within each class real rows first, then synthetic,
then duplicated real rows (the order of a ``TrainingMix``, kept by a stable sort on the label).

Columns are built with numpy and pyarrow in bulk, not row by row: a million rows must not cost a
million Python dicts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gan_aug.data.imageset import ImageSet
from gan_aug.mix import KINDS, TrainingMix
from gan_aug.shards.png import MODES
from gan_aug.shards.schema import IMAGE_TYPE, shard_schema
from gan_aug.synthetic import SyntheticSet

REAL, SYNTHETIC, DUPLICATE = 0, 1, 2  # the mix's kinds, indices into KINDS (image.path: <kind>/<class>/<id>.png)
FILE_PREFIXES = ("real", "syn", "dup")  # image folder: <class>/<prefix>-<id>.png


@dataclass(frozen=True)
class SplitRows:
    """A split to write: a mix's rows (real, synthetic, duplicates) addressed by their position in
    that order, and the order they take in the shards."""

    name: str
    mix: TrainingMix

    def __post_init__(self) -> None:
        mix = self.mix
        object.__setattr__(self, "labels", mix.labels)
        object.__setattr__(self, "starts", np.array([0, len(mix.real), len(mix.real) + len(mix.synthetic)]))
        object.__setattr__(self, "copies", copy_numbers(mix.duplicates))
        # Class by class; within a class real, synthetic, duplicates (a stable sort keeps that order).
        object.__setattr__(self, "order", np.argsort(self.labels, kind="stable"))

    @property
    def real(self) -> ImageSet:
        return self.mix.real

    @property
    def synthetic(self) -> SyntheticSet:
        return self.mix.synthetic

    def __len__(self) -> int:
        return len(self.order)

    def locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(kind, index within that kind's rows) of each position."""
        kinds = (np.searchsorted(self.starts, positions, side="right") - 1).astype(np.int8)
        return kinds, positions - self.starts[kinds]

    def originals(self, kinds: np.ndarray, within: np.ndarray) -> np.ndarray:
        """The real row each real or duplicate row shows (0 for synthetic rows: mask them)."""
        rows = np.where(kinds == REAL, within, 0)
        duplicate = kinds == DUPLICATE
        rows[duplicate] = self.mix.duplicates[within[duplicate]]
        return rows

    def images(self, positions: np.ndarray) -> np.ndarray:
        """The images at these positions of real-synthetic-duplicates."""
        kinds, within = self.locate(positions)
        synthetic = kinds == SYNTHETIC
        if not synthetic.any():  # the usual batch (rows come class by class): one gather, not two
            return self.real.images[self.originals(kinds, within)]
        out = np.empty((len(positions), *self.real.images.shape[1:]), dtype=np.uint8)
        out[~synthetic] = self.real.images[self.originals(kinds, within)[~synthetic]]
        out[synthetic] = self.synthetic.images[within[synthetic]]
        return out

    def _ids(self, kinds: np.ndarray, within: np.ndarray) -> tuple[np.ndarray, pa.StringArray]:
        """Each row's source_index (0 for synthetic rows) and the id its file names carry: the source
        index (real), the seed (synthetic), or ``<source_index>-<n>`` for an original's n-th copy.
        Built by Arrow, not row by row in Python: shard writing must stay near raw Parquet speed."""
        synthetic, duplicate = kinds == SYNTHETIC, kinds == DUPLICATE
        source = np.zeros(len(kinds), np.int64)
        source[~synthetic] = self.real.source_index[self.originals(kinds, within)[~synthetic]]
        ident = source.copy()
        ident[synthetic] = self.synthetic.seeds[within[synthetic]]
        ids = pc.cast(pa.array(ident), pa.string())
        if duplicate.any():
            copies = np.zeros(len(kinds), np.int64)
            copies[duplicate] = self.copies[within[duplicate]]
            numbered = pc.binary_join_element_wise(ids, pc.cast(pa.array(copies), pa.string()), "-")
            ids = pc.if_else(pa.array(duplicate), numbered, ids)
        return source, ids

    def _names(self, positions: np.ndarray) -> pa.StringArray:
        return pc.take(pa.array(self.real.class_names, pa.string()), pa.array(self.labels[positions]))

    def table(self, positions: np.ndarray, pngs: pa.BinaryArray) -> pa.Table:
        """The shard rows at these positions, with their encoded images."""
        kinds, within = self.locate(positions)
        synthetic, duplicate = kinds == SYNTHETIC, kinds == DUPLICATE
        syn, syn_rows = self.synthetic, within[synthetic]
        labels, names = self.labels[positions], self._names(positions)
        source, ids = self._ids(kinds, within)
        paths = pc.binary_join_element_wise(pc.take(pa.array(list(KINDS)), pa.array(kinds)), names,
                                            pc.binary_join_element_wise(ids, ".png", ""), "/")

        def synthetic_only(values: np.ndarray, dtype) -> pa.Array:
            full = np.zeros(len(positions), dtype=values.dtype)
            full[synthetic] = values[syn_rows]
            return pa.array(full, type=dtype, mask=~synthetic | _nan(full))

        # Synthetic rows' checkpoint hashes, null elsewhere: a take with null indices, not a Python loop.
        shas = pc.take(pa.array(syn.generator_sha256[syn_rows], pa.string()),
                       pa.array(np.cumsum(synthetic) - 1, mask=~synthetic))
        columns = {
            "image": pa.StructArray.from_arrays([pngs, paths], fields=list(IMAGE_TYPE)),
            "label": pa.array(labels, pa.int64()),
            "label_name": names,
            "is_synthetic": pa.array(synthetic, pa.bool_()),
            "is_duplicate": pa.array(duplicate, pa.bool_()),
            "weight": pa.array(np.where(synthetic, self.mix.synthetic_weight, 1.0).astype(np.float32), pa.float32()),
            "source_index": pa.array(source, pa.int64(), mask=synthetic),
            **{name: synthetic_only(values, pa.float32()) for name, values in syn.scores.items()},
            "generator_sha256": shas,
            "seed": synthetic_only(syn.seeds, pa.int64()),
        }
        return pa.Table.from_pydict(columns, schema=shard_schema(self.real.class_names))

    def folder_names(self, positions: np.ndarray) -> list[str]:
        """Image-folder paths below the split's folder: <class>/<real|syn|dup>-<id>.png."""
        kinds, within = self.locate(positions)
        _, ids = self._ids(kinds, within)
        files = pc.binary_join_element_wise(pc.take(pa.array(list(FILE_PREFIXES)), pa.array(kinds)),
                                            pc.binary_join_element_wise(ids, ".png", ""), "-")
        return pc.binary_join_element_wise(self._names(positions), files, "/").to_pylist()


def copy_numbers(duplicates: np.ndarray) -> np.ndarray:
    """For each duplicate, which copy of its original it is (1, 2, ... in mix order): with the
    original's source index, the id that keeps copies' file names apart."""
    order = np.argsort(duplicates, kind="stable")
    ranks = np.arange(len(duplicates))
    starts = np.r_[True, duplicates[order][1:] != duplicates[order][:-1]] if len(duplicates) else np.zeros(0, bool)
    numbers = np.empty(len(duplicates), np.int64)
    numbers[order] = ranks - np.maximum.accumulate(np.where(starts, ranks, 0)) + 1
    return numbers


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
    # Duplicates need no check of their own: (original's class and source index, copy number) is
    # unique once the originals are.
    _check_unique(real.labels, real.source_index, "source_index", rows.name)
    _check_unique(synthetic.labels.astype(np.int64), synthetic.seeds.astype(np.int64), "seed", rows.name)
