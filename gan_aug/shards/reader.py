"""Read a run's shards back into memory, trusting nothing the manifest does not vouch for."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gan_aug.data.imageset import ImageSet
from gan_aug.io import read_json, sha256_file
from gan_aug.shards.png import decode_png
from gan_aug.shards.schema import shard_schema
from gan_aug.shards.writer import MANIFEST


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
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ValueError(f"shard {entry['file']} has sha256 {digest}, manifest says {entry['sha256']}")
    table = pq.read_table(path)
    if table.num_rows != entry["rows"]:
        raise ValueError(f"shard {entry['file']} has {table.num_rows} rows, manifest says {entry['rows']}")
    return table


def read_shards(run_dir: str | Path, split: str = "train") -> tuple[ImageSet, np.ndarray]:
    """Load one split's shards as (ImageSet, is_synthetic), verifying every checksum first.

    ``source_index`` is -1 for synthetic rows, which have no source row.
    """
    run_dir = Path(run_dir)
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
    return image_set, table.column("is_synthetic").to_numpy(zero_copy_only=False).astype(bool)
