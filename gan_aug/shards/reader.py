"""Read a run's shards back into memory, trusting nothing the manifest does not vouch for."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gan_aug.data.imageset import ImageSet
from gan_aug.filters.registry import score_columns
from gan_aug.hashing import file_sha256
from gan_aug.io import read_json
from gan_aug.mix import TrainingMix
from gan_aug.shards.png import decode_png
from gan_aug.shards.schema import shard_schema
from gan_aug.shards.writer import MANIFEST
from gan_aug.synthetic import SyntheticSet


def load_manifest(run_dir: str | Path) -> dict:
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise ValueError(f"no {MANIFEST} in {run_dir}: shards were never completely written")
    return read_json(path)


def _verified_table(run_dir: Path, entry: dict) -> pa.Table:
    """Read one shard after checking it is present, unchanged and as long as the manifest says."""
    path = run_dir / entry["file"]
    if not path.is_file():
        raise ValueError(f"shard {entry['file']} listed in the manifest is missing")
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        raise ValueError(f"shard {entry['file']} has sha256 {digest}, manifest says {entry['sha256']}")
    table = pq.read_table(path)
    if table.num_rows != entry["rows"]:
        raise ValueError(f"shard {entry['file']} has {table.num_rows} rows, manifest says {entry['rows']}")
    return table


def _read_split(run_dir: Path, split: str) -> tuple[dict, pa.Table, ImageSet]:
    """The manifest, one split's verified rows in shard order, and those rows as an ImageSet
    (``source_index`` -1 for synthetic rows, which have no source row)."""
    manifest = load_manifest(run_dir)
    if split not in manifest.get("splits", {"train": None}):
        raise ValueError(f"{run_dir / MANIFEST} has no split {split!r}; it has {sorted(manifest['splits'])}")
    channels, height, width = manifest["image_shape"]
    tables = [_verified_table(run_dir, entry) for entry in manifest["shards"] if entry.get("split", "train") == split]
    table = pa.concat_tables(tables) if tables else shard_schema(tuple(manifest["class_names"])).empty_table()
    images = np.empty((table.num_rows, channels, height, width), dtype=np.uint8)
    for i, data in enumerate(table.column("image").combine_chunks().field("bytes").to_pylist()):
        images[i] = decode_png(data, channels, (height, width))
    source = table.column("source_index").fill_null(-1).to_numpy().astype(np.int64)
    image_set = ImageSet(images, table.column("label").to_numpy().astype(np.int64),
                         tuple(manifest["class_names"]), source)
    return manifest, table, image_set


def flag_column(table: pa.Table, column: str) -> np.ndarray:
    """A boolean column; all False in shards written before it existed (format 2: no duplicates)."""
    if column not in table.column_names:
        return np.zeros(table.num_rows, bool)
    return table.column(column).to_numpy(zero_copy_only=False).astype(bool)


def read_shards(run_dir: str | Path, split: str = "train") -> tuple[ImageSet, np.ndarray]:
    """Load one split's shards as (ImageSet, is_synthetic), verifying every checksum first.

    Every row is there, duplicated ones included (with their original's ``source_index``);
    ``source_index`` is -1 for synthetic rows, which have no source row. ``read_mix`` tells the
    three kinds apart.
    """
    _, table, image_set = _read_split(Path(run_dir), split)
    return image_set, flag_column(table, "is_synthetic")


def read_mix(run_dir: str | Path, split: str = "train") -> TrainingMix:
    """Load one split's shards as the TrainingMix they were written from, verifying every checksum
    first: real rows, synthetic rows (with scores, seeds and generator), duplicates as indices of
    the real rows they copy, and (train) the synthetic weight and ``late_from`` from the manifest.

    Rows come back in shard order (class by class), which need not be the written mix's order.
    """
    manifest, table, rows = _read_split(Path(run_dir), split)
    synthetic, duplicate = flag_column(table, "is_synthetic"), flag_column(table, "is_duplicate")
    real = rows.subset(np.flatnonzero(~synthetic & ~duplicate))
    copies = rows.subset(np.flatnonzero(duplicate))
    mix = manifest.get("mix", {}) if split == "train" else {}
    return TrainingMix(real, _synthetic_rows(table, rows, synthetic), _originals(real, copies),
                       mix.get("synthetic_weight", 1.0), mix.get("late_from", 0.0))


def _synthetic_rows(table: pa.Table, rows: ImageSet, synthetic: np.ndarray) -> SyntheticSet:
    """The synthetic rows with what the shards keep of each: scores (null → NaN), seed, checkpoint."""
    picked = table.filter(pa.array(synthetic))

    def scores(column: str) -> np.ndarray:
        return picked.column(column).to_numpy(zero_copy_only=False).astype(np.float32)  # null → NaN

    shas = np.asarray(picked.column("generator_sha256").to_pylist(), dtype="<U64").reshape(-1)
    return SyntheticSet(rows.images[synthetic], rows.labels[synthetic],
                        picked.column("seed").to_numpy().astype(np.int64), shas,
                        {name: scores(name) for name in score_columns() if name in picked.column_names})


def _originals(real: ImageSet, copies: ImageSet) -> np.ndarray:
    """The real row each duplicate copies, found by (class, source_index): unique among real rows."""
    found = np.zeros(len(copies), np.int64)
    for label in np.unique(copies.labels):
        candidates = np.flatnonzero(real.labels == label)
        candidates = candidates[np.argsort(real.source_index[candidates], kind="stable")]
        wanted = np.flatnonzero(copies.labels == label)
        at = np.searchsorted(real.source_index[candidates], copies.source_index[wanted])
        at = np.minimum(at, max(len(candidates) - 1, 0))
        if not len(candidates) or (real.source_index[candidates[at]] != copies.source_index[wanted]).any():
            raise ValueError(f"a duplicated row of class {real.class_names[label]!r} has no real row to copy")
        found[wanted] = candidates[at]
    return found
