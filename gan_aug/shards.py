"""The balanced training set on disk: Parquet shards, an image folder and a manifest.

A run folder ends up with::

    shards/train-00000-of-0000N.parquet   image {bytes, path} (PNG), label, label_name, is_synthetic,
                                          source_index (real); d_score / label_prob / nn_distance
                                          (filter scores) / generator_sha256 / seed (synthetic)
    images/<class_name>/<real|syn>-<id>.png   the same rows as a torchvision ImageFolder
    manifest.json                         every shard with rows, per-class counts and sha256

Outputs appear whole or not at all: shards and images are built in hidden temporary folders and
swapped into place, and the manifest is removed before the swap and written last, so a manifest on
disk always describes complete shards. One writer per run folder is assumed.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from gan_aug.data.imageset import ImageSet
from gan_aug.io import atomic_write, read_json, sha256_file, write_json
from gan_aug.synthetic import SyntheticSet

MANIFEST = "manifest.json"
SHARDS_DIR = "shards"
IMAGES_DIR = "images"
_MODES = {1: "L", 3: "RGB"}
_IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _schema(class_names: tuple[str, ...]) -> pa.Schema:
    """Arrow schema plus the metadata that makes Hugging Face `datasets` decode `image` as an Image
    and `label` as a ClassLabel instead of a plain struct and int."""
    schema = pa.schema([
        ("image", _IMAGE_TYPE), ("label", pa.int64()), ("label_name", pa.string()),
        ("is_synthetic", pa.bool_()), ("source_index", pa.int64()), ("d_score", pa.float32()),
        ("label_prob", pa.float32()), ("nn_distance", pa.float32()), ("generator_sha256", pa.string()),
        ("seed", pa.int64()),
    ])
    value = lambda dtype: {"dtype": dtype, "_type": "Value"}  # noqa: E731
    features = {
        "image": {"_type": "Image"}, "label": {"names": list(class_names), "_type": "ClassLabel"},
        "label_name": value("string"), "is_synthetic": value("bool"), "source_index": value("int64"),
        "d_score": value("float32"), "label_prob": value("float32"), "nn_distance": value("float32"),
        "generator_sha256": value("string"), "seed": value("int64"),
    }
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def encode_png(image: np.ndarray) -> bytes:
    """C×H×W uint8 → lossless PNG bytes (1 channel as "L", 3 as "RGB")."""
    channels = image.shape[0]
    pixels = image[0] if channels == 1 else np.ascontiguousarray(image.transpose(1, 2, 0))
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=_MODES[channels]).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes, channels: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """PNG bytes → C×H×W uint8; refuses a mode or (H, W) other than the one the manifest promises."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode != _MODES[channels]:
            raise ValueError(f"PNG has mode {image.mode!r}, expected {_MODES[channels]!r}")
        pixels = np.asarray(image, dtype=np.uint8)
    if shape is not None and pixels.shape[:2] != shape:
        raise ValueError(f"PNG is {pixels.shape[0]}×{pixels.shape[1]}, expected {shape[0]}×{shape[1]}")
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _check_class_names(class_names: tuple[str, ...]) -> None:
    """Class names become folder names, so they must be safe path components and distinct."""
    for name in class_names:
        if not name or name in (".", "..") or any(ch in name for ch in "/\\\0"):
            raise ValueError(f"class name {name!r} cannot be used as a folder name")
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class names must be distinct, got {list(class_names)}")


def _check_unique(labels: np.ndarray, ids: np.ndarray, what: str) -> None:
    """Two rows with one (class, id) would share an image path and overwrite each other."""
    pairs = np.stack([labels, ids], axis=1)
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    if len(unique) != len(pairs):
        label, ident = unique[np.argmax(counts)]
        raise ValueError(f"duplicate {what} {ident} in class {label}: image paths would collide")


def _validate(real: ImageSet, synthetic: SyntheticSet, rows_per_shard: int) -> None:
    """Fail before anything is written, naming the bad input."""
    is_int = isinstance(rows_per_shard, (int, np.integer)) and not isinstance(rows_per_shard, bool)
    if not is_int or rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be an integer >= 1, got {rows_per_shard!r}")
    if len(real) + len(synthetic) == 0:
        raise ValueError("nothing to write: the real and synthetic sets are both empty")
    if real.channels not in _MODES:
        raise ValueError(f"images must have 1 or 3 channels for PNG, got {real.channels}")
    if len(synthetic) and synthetic.images.shape[1:] != real.images.shape[1:]:
        raise ValueError(
            f"synthetic images are {list(synthetic.images.shape[1:])} but real images are "
            f"{list(real.images.shape[1:])} (C, H, W)"
        )
    if len(synthetic) and not np.issubdtype(synthetic.labels.dtype, np.integer):
        raise ValueError(f"synthetic labels must be integers, got {synthetic.labels.dtype}")
    if len(synthetic) and (synthetic.labels.min() < 0 or synthetic.labels.max() >= real.num_classes):
        raise ValueError(
            f"synthetic labels must lie in [0, {real.num_classes}), "
            f"got [{synthetic.labels.min()}, {synthetic.labels.max()}]"
        )
    _check_class_names(real.class_names)
    _check_unique(real.labels, real.source_index, "source_index")
    _check_unique(synthetic.labels.astype(np.int64), synthetic.seeds.astype(np.int64), "seed")


def _row_order(real: ImageSet, synthetic: SyntheticSet) -> np.ndarray:
    """Positions into real-then-synthetic, class by class, real before synthetic within a class."""
    labels = np.concatenate([real.labels, synthetic.labels.astype(np.int64)])
    return np.argsort(labels, kind="stable")


def _row(real: ImageSet, synthetic: SyntheticSet, pos: int) -> tuple[dict, np.ndarray, str]:
    """One shard record (image bytes left for the caller), its pixels and its image-folder name."""
    if pos < len(real):
        label, ident = int(real.labels[pos]), int(real.source_index[pos])
        name = real.class_names[label]
        record = {"source_index": ident, "d_score": None, "label_prob": None, "nn_distance": None,
                  "generator_sha256": None, "seed": None}
        kind, folder, pixels = "real", "real", real.images[pos]
    else:
        pos -= len(real)
        label, ident = int(synthetic.labels[pos]), int(synthetic.seeds[pos])
        name = real.class_names[label]
        record = {"source_index": None, "d_score": float(synthetic.d_scores[pos]),
                  "label_prob": _score(synthetic.label_probs[pos]), "nn_distance": _score(synthetic.nn_distances[pos]),
                  "generator_sha256": str(synthetic.generator_sha256[pos]), "seed": ident}
        kind, folder, pixels = "synthetic", "syn", synthetic.images[pos]
    record.update(label=label, label_name=name, is_synthetic=kind == "synthetic",
                  image={"bytes": None, "path": f"{kind}/{name}/{ident}.png"})
    return record, pixels, f"{name}/{folder}-{ident}.png"


def _score(value: float) -> float | None:
    """A filter that was off left NaN; in the shard that is a null, not a number."""
    return None if np.isnan(value) else float(value)


def _write_shard(path: Path, real: ImageSet, synthetic: SyntheticSet, positions: np.ndarray,
                 image_dir: Path | None) -> dict:
    """Encode one shard's rows (and their image-folder files) and write it; return its manifest entry."""
    records = []
    for pos in positions:
        record, pixels, folder_name = _row(real, synthetic, int(pos))
        record["image"]["bytes"] = png = encode_png(pixels)
        if image_dir is not None:
            (image_dir / folder_name).parent.mkdir(parents=True, exist_ok=True)
            (image_dir / folder_name).write_bytes(png)
        records.append(record)
    table = pa.Table.from_pylist(records, schema=_schema(real.class_names))
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    labels = np.array([r["label"] for r in records], dtype=np.int64)
    synthetic_mask = np.array([r["is_synthetic"] for r in records], dtype=bool)
    return {
        "file": f"{SHARDS_DIR}/{path.name}", "rows": len(records), "sha256": sha256_file(path),
        "class_counts": _by_name(labels, real.class_names),
        "synthetic_counts": _by_name(labels[synthetic_mask], real.class_names),
    }


def _by_name(labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts)}


def _swap_in(tmp: Path, final: Path) -> None:
    """Put a finished folder in place. rename cannot replace a non-empty folder, so the old one is
    moved aside first and deleted after; the manifest is already gone, so no reader trusts the gap."""
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(run_dir: Path) -> None:
    """Temporary folders of a writer that was killed mid-run (one writer per run folder)."""
    for folder in (SHARDS_DIR, IMAGES_DIR):
        for stale in [*run_dir.glob(f".{folder}.tmp-*"), *run_dir.glob(f".{folder}.old-*")]:
            shutil.rmtree(stale, ignore_errors=True)


def _manifest(real: ImageSet, synthetic: SyntheticSet, entries: list[dict], image_folder: bool) -> dict:
    labels = np.concatenate([real.labels, synthetic.labels.astype(np.int64)])
    hashes = sorted(set(synthetic.generators.values()))
    return {
        "format": "gan-aug-shards", "version": 1,
        "class_names": list(real.class_names),
        "image_shape": [int(d) for d in real.images.shape[1:]],
        # The shared GAN's checkpoint, or None when classes came from their own (per-class) GANs.
        "generator_sha256": hashes[0] if len(hashes) == 1 else None,
        "generators": {real.class_names[label]: sha for label, sha in sorted(synthetic.generators.items())},
        "image_folder": IMAGES_DIR if image_folder else None,
        "totals": {
            "rows": len(labels), "real_rows": len(real), "synthetic_rows": len(synthetic),
            "class_counts": _by_name(labels, real.class_names),
            "real_counts": _by_name(real.labels, real.class_names),
            "synthetic_counts": _by_name(synthetic.labels.astype(np.int64), real.class_names),
        },
        "shards": entries,
    }


def write_shards(run_dir: str | Path, real: ImageSet, synthetic: SyntheticSet, *,
                 rows_per_shard: int, image_folder: bool = True) -> dict:
    """Write all real rows plus all given synthetic rows as Parquet shards (and an image folder),
    then ``manifest.json`` last; return the manifest. A failure leaves the previous run's output
    (or nothing) in place, never a partial shard or a manifest describing missing files."""
    _validate(real, synthetic, rows_per_shard)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(run_dir)
    order = _row_order(real, synthetic)
    chunks = [order[i:i + rows_per_shard] for i in range(0, len(order), rows_per_shard)]
    shard_tmp = Path(tempfile.mkdtemp(prefix=f".{SHARDS_DIR}.tmp-", dir=run_dir))
    image_tmp = Path(tempfile.mkdtemp(prefix=f".{IMAGES_DIR}.tmp-", dir=run_dir)) if image_folder else None
    try:
        entries = [
            _write_shard(shard_tmp / f"train-{i:05d}-of-{len(chunks):05d}.parquet", real, synthetic,
                         chunk, image_tmp)
            for i, chunk in enumerate(chunks)
        ]
        (run_dir / MANIFEST).unlink(missing_ok=True)
        _swap_in(shard_tmp, run_dir / SHARDS_DIR)
        if image_tmp is not None:
            _swap_in(image_tmp, run_dir / IMAGES_DIR)
        else:  # an image folder from an earlier run would no longer match the shards
            shutil.rmtree(run_dir / IMAGES_DIR, ignore_errors=True)
    finally:
        for tmp in (shard_tmp, image_tmp):
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    manifest = _manifest(real, synthetic, entries, image_folder)
    write_json(run_dir / MANIFEST, manifest)
    return manifest


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


def read_shards(run_dir: str | Path) -> tuple[ImageSet, np.ndarray]:
    """Load a run's shards back as (ImageSet, is_synthetic), verifying every checksum first.

    ``source_index`` is -1 for synthetic rows, which have no source row.
    """
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"no {MANIFEST} in {run_dir}: shards were never completely written")
    manifest = read_json(manifest_path)
    channels, height, width = manifest["image_shape"]
    tables = [_verified_table(run_dir, entry) for entry in manifest["shards"]]
    table = pa.concat_tables(tables) if tables else _schema(tuple(manifest["class_names"])).empty_table()
    images = np.empty((table.num_rows, channels, height, width), dtype=np.uint8)
    for i, data in enumerate(table.column("image").combine_chunks().field("bytes").to_pylist()):
        images[i] = decode_png(data, channels, (height, width))
    source = table.column("source_index").fill_null(-1).to_numpy().astype(np.int64)
    image_set = ImageSet(images, table.column("label").to_numpy().astype(np.int64),
                         tuple(manifest["class_names"]), source)
    return image_set, table.column("is_synthetic").to_numpy(zero_copy_only=False).astype(bool)
