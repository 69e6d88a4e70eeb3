"""`gan-aug verify DIR`: does every file still match what the manifest promises?

Checks each shard's checksum, row count, row groups and per-class (and synthetic and duplicate)
counts, that no unlisted shard lies beside them (a glob would pick it up), and every image-folder
file against its SHA256SUMS, with per-class counts of each kind. Problems are collected, not
raised, so one run names all of them. Manifests from before duplicated rows (format 2) promise
none, and their shards have no ``is_duplicate`` column: both read as 0 duplicates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from gan_aug.hashing import file_sha256
from gan_aug.shards.manifest import by_name
from gan_aug.shards.reader import flag_column, load_manifest
from gan_aug.shards.writer import SHARDS_DIR

COUNTS = ("class_counts", "synthetic_counts", "duplicate_counts")
# Image-folder files counted per class against the manifest's counts: (file prefix, count, files, rows).
FILE_COUNTS = (("", "class_counts", "images", "rows"),
               ("syn-", "synthetic_counts", "syn-* images", "synthetic rows"),
               ("dup-", "duplicate_counts", "dup-* images", "duplicate rows"))


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
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        result.problems.append(f"{name}: sha256 {digest} but the manifest says {entry['sha256']}")
        return
    try:
        parquet = pq.ParquetFile(path)
        flags = [c for c in ("is_synthetic", "is_duplicate") if c in parquet.schema_arrow.names]
        table = parquet.read(columns=["label", *flags])
    except Exception as error:  # noqa: BLE001 - any unreadable file is a finding, not a crash
        result.problems.append(f"{name}: unreadable as Parquet ({error})")
        return
    labels = table.column("label").to_numpy()
    every = np.ones(len(labels), bool)
    rows_of = dict(zip(COUNTS, (every, flag_column(table, "is_synthetic"), flag_column(table, "is_duplicate"))))
    checks = [("rows", len(labels), entry["rows"]),
              ("row groups", parquet.metadata.num_row_groups, entry.get("row_groups", parquet.metadata.num_row_groups))]
    checks += [(key.replace("_", " "), by_name(labels[rows_of[key]], class_names), _promised(entry, key, class_names))
               for key in COUNTS]
    for what, found, promised in checks:
        if found != promised:
            result.problems.append(f"{name}: {what} {found} but the manifest says {promised}")
    result.shards += 1
    result.rows += len(labels)


def _promised(totals: dict, key: str, class_names: tuple[str, ...]) -> dict[str, int]:
    """Per-class counts from the manifest; an older manifest without ``key`` promises none."""
    return totals.get(key, dict.fromkeys(class_names, 0))


def _check_images(run_dir: Path, folder: dict, manifest: dict, result: Verification) -> None:
    sums_path = run_dir / folder["checksums"]
    if not sums_path.is_file() or file_sha256(sums_path) != folder["sha256"]:
        result.problems.append(f"{folder['checksums']}: missing or changed (sha256 differs from the manifest)")
        return
    root = run_dir / folder["root"]
    listed = set()
    counts: dict[tuple[str, str, str], int] = {}  # (split, class, a FILE_COUNTS count)
    for line in sums_path.read_text(encoding="utf-8").splitlines():
        digest, relative = line.split("  ", 1)
        listed.add(relative)
        split, class_name, file_name = (relative.split("/") + ["", ""])[:3]
        for key in (key for prefix, key, _, _ in FILE_COUNTS if file_name.startswith(prefix)):
            counts[(split, class_name, key)] = counts.get((split, class_name, key), 0) + 1
        path = root / relative
        if not path.is_file():
            result.problems.append(f"{folder['root']}/{relative}: missing")
        elif file_sha256(path) != digest:
            result.problems.append(f"{folder['root']}/{relative}: sha256 differs from {folder['checksums']}")
        else:
            result.images += 1
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*.png")}
    for extra in sorted(on_disk - listed)[:20]:
        result.problems.append(f"{folder['root']}/{extra}: not listed in {folder['checksums']}")
    class_names = tuple(manifest["class_names"])
    for split, totals in manifest["splits"].items():
        for _, key, files, rows in FILE_COUNTS:
            for class_name, promised in _promised(totals, key, class_names).items():
                found = counts.get((split, class_name, key), 0)
                if found != promised:
                    result.problems.append(f"{folder['root']}/{split}/{class_name}: {found} {files} listed, "
                                           f"the manifest counts {promised} {rows}")


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
        for key in COUNTS:
            counts = np.sum([list(_promised(e, key, class_names).values()) for e in manifest["shards"]
                             if e["split"] == split], axis=0)
            if rows and [int(c) for c in counts] != list(_promised(totals, key, class_names).values()):
                result.problems.append(f"split {split}: shard {key.replace('_', ' ')} do not add up to the split's")
    if manifest.get("image_folder"):
        _check_images(run_dir, manifest["image_folder"], manifest, result)
    return result
