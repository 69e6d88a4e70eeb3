"""Write a run's splits as Parquet shards (and an image folder), then the manifest, atomically.

Shards are sized by bytes (about ``shard_size_mb`` each, from the measured size of a sample of
encoded rows) and written in row groups of about ``row_group_mb``, so a reader can stream a file
without loading it whole. Everything is built in a hidden staging folder named after the content
key (gan_aug/shards/staging.py); each finished shard is recorded there, so a rerun after a crash
redoes only unfinished shards. When all are done the folders are swapped into place and the
manifest is written last: a manifest on disk always describes complete shards. One writer per run
folder is assumed (a run holds ``RunDir.lock``).
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gan_aug.config import ShardConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.hashing import bytes_sha256, file_sha256
from gan_aug.io import (
    DiskFullError,
    atomic_write_text,
    durable_replace,
    is_disk_full,
    read_json,
    sync_filesystem,
    write_json,
)
from gan_aug.mix import TrainingMix, real_only
from gan_aug.progress import Progress
from gan_aug.shards.manifest import build_manifest, shard_counts
from gan_aug.shards.png import PARALLEL_MIN_ROWS, PngEncoder, check_shape, choose_encoding, encode_batch
from gan_aug.shards.provenance import content_key, package_versions
from gan_aug.shards.rows import SplitRows, check_class_names, validate_split
from gan_aug.shards.schema import shard_schema
from gan_aug.shards.staging import IMAGES_DIR, MANIFEST, SHARDS_DIR, Staging, remove_leftovers, staging_root

CHECKSUMS = "SHA256SUMS"
COMPRESSION = "zstd"
ENCODE_BATCH = 2048  # rows per encoding job
log = logging.getLogger("gan_aug.shards")


@dataclass(frozen=True)
class ShardPlan:
    """One shard to write: which rows, and how many per row group."""

    split: str
    index: int
    count: int
    positions: np.ndarray
    rows_per_group: int

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}.parquet"

    def groups(self) -> list[np.ndarray]:
        return [self.positions[i:i + self.rows_per_group] for i in range(0, len(self.positions), self.rows_per_group)]


def _bytes_per_row(rows: SplitRows, encoding: str) -> float:
    """Bytes per row on disk, from writing up to 256 evenly spaced rows to memory the same way:
    PNG headers repeat, so zstd shrinks small images' rows well below their PNG size."""
    sample = rows.order[np.unique(np.linspace(0, len(rows) - 1, min(len(rows), 256)).astype(int))]
    buffer = pa.BufferOutputStream()
    pq.write_table(rows.table(sample, encode_batch(rows.images(sample), encoding)), buffer, compression=COMPRESSION)
    return buffer.getvalue().size / len(sample)


def plan_split(rows: SplitRows, shard_bytes: float, group_bytes: float, rows_per_shard: int | None,
               encoding: str) -> list[ShardPlan]:
    """Cut a split into shards of about ``shard_bytes`` (or exactly ``rows_per_shard`` rows)."""
    if not len(rows):
        return []
    per_row = _bytes_per_row(rows, encoding)
    per_shard = rows_per_shard or max(1, int(shard_bytes // per_row))
    per_group = max(1, min(per_shard, int(group_bytes // per_row)))
    chunks = [rows.order[i:i + per_shard] for i in range(0, len(rows), per_shard)]
    return [ShardPlan(rows.name, i, len(chunks), chunk, per_group) for i, chunk in enumerate(chunks)]


class _ShardFile:
    """One shard being written row group by row group, with its image files and their checksums."""

    def __init__(self, plan: ShardPlan, rows: SplitRows, staging: Staging, image_folder: bool) -> None:
        self.plan, self.rows, self.staging = plan, rows, staging
        self.path = staging.shards / plan.name
        self.tmp = self.path.with_name(f".{plan.name}.tmp")
        self.writer = pq.ParquetWriter(self.tmp, shard_schema(rows.real.class_names), compression=COMPRESSION)
        self.image_root = staging.images / plan.split if image_folder else None
        self.sums = open(staging.done / f"{plan.name}.sha256.tmp", "w", encoding="utf-8") if image_folder else None
        self.labels: list[np.ndarray] = []
        self.kinds: list[np.ndarray] = []
        self.groups = 0

    def add_group(self, positions: np.ndarray, pngs: pa.BinaryArray) -> None:
        table = self.rows.table(positions, pngs)
        self.writer.write_table(table, row_group_size=len(positions))
        self.groups += 1
        self.labels.append(self.rows.labels[positions])
        self.kinds.append(self.rows.locate(positions)[0])
        if self.image_root is not None:
            for name, png in zip(self.rows.folder_names(positions), pngs.to_pylist()):
                target = self.image_root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(png)
                self.sums.write(f"{bytes_sha256(png)}  {self.plan.split}/{name}\n")

    def finish(self) -> dict:
        """Close the file, give it its final name, then record it as done (the record comes last). Each
        step reaches the disk before the next (durable_replace; the record is an atomic_write): after a
        power cut, a shard recorded as done is whole. Its image files are flushed by one syncfs (an
        fsync each would cost more than writing them) before their checksums are recorded."""
        self.writer.close()
        durable_replace(self.tmp, self.path)
        if self.sums is not None:
            self.sums.close()
            sync_filesystem(self.image_root)
            durable_replace(self.staging.done / f"{self.plan.name}.sha256.tmp",
                            self.staging.done / f"{self.plan.name}.sha256")
        else:
            (self.staging.done / f"{self.plan.name}.sha256").write_text("", encoding="utf-8")
        labels, kinds = np.concatenate(self.labels), np.concatenate(self.kinds)
        entry = {"file": f"{SHARDS_DIR}/{self.plan.name}", "split": self.plan.split, "rows": int(len(labels)),
                 "row_groups": self.groups, "bytes": self.path.stat().st_size, "sha256": file_sha256(self.path),
                 **shard_counts(labels, kinds, self.rows.real.class_names)}
        write_json(self.staging.done / f"{self.plan.name}.json", entry)
        return entry

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)
        if self.sums is not None:
            self.sums.close()
            Path(self.sums.name).unlink(missing_ok=True)


def _jobs(plans: list[ShardPlan], rows: dict[str, SplitRows]) -> Iterator[tuple[tuple, Callable[[], np.ndarray]]]:
    """Encoding jobs in write order: (plan, batch positions, is last batch of the group), and what
    gathers the batch's images (called where the encoding runs)."""
    for plan in plans:
        for group in plan.groups():
            starts = range(0, len(group), ENCODE_BATCH)
            for start in starts:
                batch = group[start:start + ENCODE_BATCH]
                yield (plan, batch, start == starts[-1]), functools.partial(rows[plan.split].images, batch)


def _write_plans(plans: list[ShardPlan], rows: dict[str, SplitRows], staging: Staging, settings: dict,
                 workers: int, progress: Progress | None, done_rows: int, total_rows: int) -> dict[str, dict]:
    """Encode and write the given shards; return their manifest entries by shard name."""
    entries: dict[str, dict] = {}
    current: _ShardFile | None = None
    batches: list[tuple[np.ndarray, pa.BinaryArray]] = []
    workers = workers if sum(len(p.positions) for p in plans) >= PARALLEL_MIN_ROWS else 1
    try:
        with PngEncoder(workers, settings["png_encoding"]) as encoder:
            for (plan, batch, last), pngs in encoder.encode(_jobs(plans, rows)):
                if current is None:
                    current = _ShardFile(plan, rows[plan.split], staging, settings["image_folder"])
                batches.append((batch, pngs))
                if not last:
                    continue
                positions = np.concatenate([b for b, _ in batches])
                current.add_group(positions, pa.concat_arrays([pngs for _, pngs in batches]))
                done_rows += len(positions)
                batches = []
                if progress is not None:
                    progress(done_rows, total_rows)
                if current.groups == len(plan.groups()):
                    entries[plan.name] = current.finish()
                    current = None
    except BaseException:
        if current is not None:
            current.abort()
        raise
    return entries


def _reusable(run_dir: Path, key: str) -> dict | None:
    """The manifest already on disk, if it was written from the same content and its files are intact."""
    path = run_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = read_json(path)
        if manifest.get("provenance", {}).get("content_key") != key:
            return None
        files = [(run_dir / e["file"], e["sha256"]) for e in manifest["shards"]]
        folder = manifest.get("image_folder")
        if folder:
            files.append((run_dir / folder["checksums"], folder["sha256"]))
        intact = all(p.is_file() and file_sha256(p) == sha for p, sha in files)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest if intact else None


def write_shards(run_dir: str | Path, train: TrainingMix, settings: ShardConfig | None = None, *,
                 validation: ImageSet | None = None, test: ImageSet | None = None, provenance: dict | None = None,
                 progress: Progress | None = None, encoding: str = "auto") -> dict:
    """Write train (the mix: real, synthetic and duplicated rows, each flagged and weighted) and, when
    given, validation and test (real only) as Parquet shards and an image folder, then
    ``manifest.json`` last; return the manifest.

    ``settings`` (None: the defaults) sizes the files and says whether to write the image folder
    and how many PNG-encoding processes to use; ShardConfig has checked its values already.
    ``encoding`` says how PNGs are made (gan_aug/shards/png.py): ``"auto"`` stores small images
    (uncompressed PNGs that the column's zstd compresses: smaller shards, written ~10× faster) and
    deflates larger ones with Pillow; ``"stored"`` or ``"deflate"`` force one (for comparisons).
    A rerun with the same content returns the existing manifest untouched; after a crash it
    reuses the shards already finished. A failure leaves the previous output (or nothing) in place;
    a full disk raises DiskFullError naming ``run_dir`` and the room needed, with the staging removed.
    """
    settings = settings if settings is not None else ShardConfig()
    splits = [SplitRows("train", train)]
    splits += [SplitRows(name, real_only(real)) for name, real in (("validation", validation), ("test", test))
               if real is not None]
    if len(train) == 0:
        raise ValueError("nothing to write: the real and synthetic training sets are both empty")
    encoding = choose_encoding(encoding, train.real.images.shape[1:])
    class_names = train.real.class_names
    check_class_names(class_names)
    for rows in splits:
        validate_split(rows, class_names, train.real.images.shape[1:])
    check_shape(train.real.images.shape[1:], encoding)

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    recorded = {"shard_size_mb": settings.shard_size_mb, "row_group_mb": settings.row_group_mb,
                "rows_per_shard": settings.rows_per_shard, "image_folder": settings.image_folder,
                "compression": COMPRESSION, "image_format": "PNG",
                "png_encoding": encoding}  # what shapes the bytes: not workers
    provenance = {**(provenance or {}), "packages": package_versions()}
    key = content_key(splits, recorded, provenance)
    provenance["content_key"] = key
    existing = _reusable(run_dir, key)
    if existing is not None:
        log.info("shards in %s are complete and match this content: reused", run_dir)
        remove_leftovers(run_dir, keep=run_dir / MANIFEST)
        return existing

    try:
        return _write(run_dir, key, splits, recorded, provenance, settings.workers or os.cpu_count() or 1, progress)
    except OSError as error:
        if not is_disk_full(error):
            raise
        raise _disk_full(run_dir, key, splits, recorded) from error


def _disk_full(run_dir: Path, key: str, splits: list[SplitRows], settings: dict) -> DiskFullError:
    """Remove the staging a full disk stopped (it only holds space the user needs back; a rerun redoes
    it), and name the folder, the room the output needs and the room there is."""
    shutil.rmtree(staging_root(run_dir, key), ignore_errors=True)
    try:
        block = os.statvfs(run_dir).f_frsize
        needed = 0.0
        for rows in splits:
            if len(rows):
                needed += _bytes_per_row(rows, settings["png_encoding"]) * len(rows)
                if settings["image_folder"]:  # one file per image: at least a block each
                    sample = encode_batch(rows.images(rows.order[:64]), settings["png_encoding"])
                    needed += len(rows) * block * -(-pc.mean(pc.binary_length(sample)).as_py() // block)
    except OSError:
        needed = None
    kept = ("the previous output there is unchanged; " if (run_dir / MANIFEST).is_file()
            else "no output was completed; ")
    return DiskFullError.at(run_dir, None if needed is None else int(needed), "writing shards", kept)


def _write(run_dir: Path, key: str, splits: list[SplitRows], settings: dict, provenance: dict, workers: int,
           progress: Progress | None) -> dict:
    """Write the shards not finished yet in the staging folder, then swap everything into place."""
    staging = Staging(run_dir, key)
    remove_leftovers(run_dir, keep=staging.root)
    plans = [plan for rows in splits for plan in plan_split(rows, settings["shard_size_mb"] * 2**20,
                                                            settings["row_group_mb"] * 2**20,
                                                            settings["rows_per_shard"], settings["png_encoding"])]
    finished = {plan.name: entry for plan in plans if (entry := staging.finished(plan.name)) is not None}
    if finished:
        log.info("resuming: %d of %d shards were finished by an earlier attempt", len(finished), len(plans))
    todo = [plan for plan in plans if plan.name not in finished]
    total = sum(len(plan.positions) for plan in plans)
    done = total - sum(len(plan.positions) for plan in todo)
    by_split = {rows.name: rows for rows in splits}
    finished.update(_write_plans(todo, by_split, staging, settings, workers, progress, done, total))
    entries = [finished[plan.name] for plan in plans]
    folder = _checksums(staging, plans) if settings["image_folder"] else None
    manifest = build_manifest(splits, entries, settings, provenance, folder)
    staging.commit(manifest, settings["image_folder"])
    return manifest


def _checksums(staging: Staging, plans: list[ShardPlan]) -> dict:
    """The image folder's SHA256SUMS, from each shard's record, and its manifest entry."""
    sums = "".join((staging.done / f"{plan.name}.sha256").read_text(encoding="utf-8") for plan in plans)
    atomic_write_text(staging.images / CHECKSUMS, sums)
    return {"root": IMAGES_DIR, "checksums": f"{IMAGES_DIR}/{CHECKSUMS}",
            "sha256": file_sha256(staging.images / CHECKSUMS), "files": sums.count("\n"),
            "layout": f"{IMAGES_DIR}/<split>/<class>/<real|syn|dup>-<id>.png"}
