"""`gan-aug verify DIR`: does every file still match what the manifest promises?

Checks each shard's checksum, row count, row groups and per-class (and synthetic) counts, that no
unlisted shard lies beside them (a glob would pick it up), and every image-folder file against
its SHA256SUMS. Problems are collected, not raised, so one run names all of them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from gan_aug.io import sha256_file
from gan_aug.shards.reader import load_manifest
from gan_aug.shards.writer import SHARDS_DIR, by_name


@dataclass
class Verification:
    run_dir: Path
    shards: int = 0
    rows: int = 0
    images: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_shard(run_dir: Path, entry: dict, class_names: tuple[str, ...], result: Verification) -> None:
    name, path = entry["file"], run_dir / entry["file"]
    if not path.is_file():
        result.problems.append(f"{name}: missing")
        return
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        result.problems.append(f"{name}: sha256 {digest} but the manifest says {entry['sha256']}")
        return
    try:
        parquet = pq.ParquetFile(path)
        table = parquet.read(columns=["label", "is_synthetic"])
    except Exception as error:  # noqa: BLE001 - any unreadable file is a finding, not a crash
        result.problems.append(f"{name}: unreadable as Parquet ({error})")
        return
    labels = table.column("label").to_numpy()
    synthetic = table.column("is_synthetic").to_numpy(zero_copy_only=False).astype(bool)
    checks = [("rows", len(labels), entry["rows"]),
              ("row groups", parquet.metadata.num_row_groups, entry.get("row_groups", parquet.metadata.num_row_groups)),
              ("class counts", by_name(labels, class_names), entry["class_counts"]),
              ("synthetic counts", by_name(labels[synthetic], class_names), entry["synthetic_counts"])]
    for what, found, promised in checks:
        if found != promised:
            result.problems.append(f"{name}: {what} {found} but the manifest says {promised}")
    result.shards += 1
    result.rows += len(labels)


def _check_images(run_dir: Path, folder: dict, manifest: dict, result: Verification) -> None:
    sums_path = run_dir / folder["checksums"]
    if not sums_path.is_file() or sha256_file(sums_path) != folder["sha256"]:
        result.problems.append(f"{folder['checksums']}: missing or changed (sha256 differs from the manifest)")
        return
    root = run_dir / folder["root"]
    listed = set()
    counts: dict[tuple[str, str], int] = {}
    for line in sums_path.read_text(encoding="utf-8").splitlines():
        digest, relative = line.split("  ", 1)
        listed.add(relative)
        split, class_name = relative.split("/")[:2]
        counts[(split, class_name)] = counts.get((split, class_name), 0) + 1
        path = root / relative
        if not path.is_file():
            result.problems.append(f"{folder['root']}/{relative}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            result.problems.append(f"{folder['root']}/{relative}: sha256 differs from {folder['checksums']}")
        else:
            result.images += 1
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*.png")}
    for extra in sorted(on_disk - listed)[:20]:
        result.problems.append(f"{folder['root']}/{extra}: not listed in {folder['checksums']}")
    for split, totals in manifest["splits"].items():
        for class_name, promised in totals["class_counts"].items():
            found = counts.get((split, class_name), 0)
            if found != promised:
                result.problems.append(f"{folder['root']}/{split}/{class_name}: {found} images listed, "
                                       f"the manifest counts {promised} rows")


def verify_shards(run_dir: str | Path) -> Verification:
    """Check a run folder's shards and image folder against its manifest; see ``Verification.problems``."""
    run_dir = Path(run_dir)
    result = Verification(run_dir)
    try:
        manifest = load_manifest(run_dir)
    except ValueError as error:
        result.problems.append(str(error))
        return result
    class_names = tuple(manifest["class_names"])
    for entry in manifest["shards"]:
        _check_shard(run_dir, entry, class_names, result)
    listed = {Path(entry["file"]).name for entry in manifest["shards"]}
    for extra in sorted(p.name for p in (run_dir / SHARDS_DIR).glob("*.parquet") if p.name not in listed):
        result.problems.append(f"{SHARDS_DIR}/{extra}: not listed in the manifest (a glob would read it)")
    for split, totals in manifest.get("splits", {}).items():
        rows = sum(e["rows"] for e in manifest["shards"] if e["split"] == split)
        if rows != totals["rows"]:
            result.problems.append(f"split {split}: its shards hold {rows} rows, the manifest says {totals['rows']}")
        counts = np.sum([list(e["class_counts"].values()) for e in manifest["shards"] if e["split"] == split], axis=0)
        if rows and [int(c) for c in counts] != list(totals["class_counts"].values()):
            result.problems.append(f"split {split}: shard class counts do not add up to the split's")
    if manifest.get("image_folder"):
        _check_images(run_dir, manifest["image_folder"], manifest, result)
    return result
