"""The hidden folder a shard write is built in, and the swap that puts it in place.

The folder is named after the content key, so a rerun after a crash finds the work of the attempt
it repeats: each finished shard is recorded there (its manifest entry, and the checksums of its
image files), and only unfinished shards are written again.

The swap is resumable too. Before the first folder moves, the manifest to write is saved in the
staging folder; the staging folder is removed only after the manifest is in place. A rerun that
finds that saved manifest and a staging folder missing its shards/ or images/ knows the swap moved
them into the run folder, and moves them back: a rename, so every file keeps its inode and mtime
and no finished shard is written twice, wherever a kill -9 struck.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from gan_aug.hashing import file_sha256
from gan_aug.io import atomic_write_text, durable_replace, read_json, write_json

MANIFEST = "manifest.json"
SHARDS_DIR = "shards"
IMAGES_DIR = "images"
LEFTOVERS = (".staging-*", f".{SHARDS_DIR}.old-*", f".{IMAGES_DIR}.old-*", f".{SHARDS_DIR}.tmp-*",
             f".{IMAGES_DIR}.tmp-*")


def staging_root(run_dir: Path, key: str) -> Path:
    return run_dir / f".staging-{key[:16]}"


class Staging:
    """One write's hidden folder: ``shards/`` and ``images/`` as they will be, ``done/`` the records."""

    def __init__(self, run_dir: Path, key: str) -> None:
        self.run_dir, self.root = run_dir, staging_root(run_dir, key)
        self.shards, self.images, self.done = (self.root / d for d in (SHARDS_DIR, IMAGES_DIR, "done"))
        self.pending = self.root / MANIFEST  # saved before the swap starts; its presence says it has
        self._take_back()
        for folder in (self.shards, self.images, self.done):
            folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / "key", key)

    def _take_back(self) -> None:
        """Undo what an interrupted swap did: a folder it had moved into the run folder comes back here.
        Each step can be interrupted and redone: the saved manifest goes last."""
        if not self.pending.is_file():
            return
        for staged in (self.shards, self.images):
            placed = self.run_dir / staged.name
            if not staged.exists() and placed.is_dir():
                durable_replace(placed, staged)  # on disk before the saved manifest goes
        self.pending.unlink()

    def finished(self, name: str) -> dict | None:
        """The manifest entry of a shard a previous attempt completed, if its file is still intact."""
        record, shard = self.done / f"{name}.json", self.shards / name
        if not (record.is_file() and shard.is_file() and (self.done / f"{name}.sha256").is_file()):
            return None
        entry = read_json(record)
        return entry if file_sha256(shard) == entry["sha256"] else None

    def commit(self, manifest: dict, image_folder: bool) -> None:
        """Put shards/ (and images/) in place, then the manifest: a manifest on disk always describes
        complete shards, and the old one is gone before the first folder moves."""
        write_json(self.pending, manifest)
        (self.run_dir / MANIFEST).unlink(missing_ok=True)
        _swap_in(self.shards, self.run_dir / SHARDS_DIR)
        if image_folder:
            _swap_in(self.images, self.run_dir / IMAGES_DIR)
        else:  # an image folder from an earlier run would no longer match the shards
            shutil.rmtree(self.run_dir / IMAGES_DIR, ignore_errors=True)
        write_json(self.run_dir / MANIFEST, manifest)
        shutil.rmtree(self.root, ignore_errors=True)


def _swap_in(staged: Path, final: Path) -> None:
    """Put a finished folder in place. rename cannot replace a non-empty folder, so the old one is
    moved aside first and deleted after; the manifest is already gone, so no reader trusts the gap.
    The folder's files are on disk already (each shard was flushed when finished); durable_replace
    flushes the folder's entries before the rename and the rename before the manifest is written."""
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        os.replace(final, old)  # the next rename's fsync of the same folder makes this one durable too
    durable_replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)


def remove_leftovers(run_dir: Path, keep: Path) -> None:
    """Staging of another content key, and folders a killed swap left aside (one writer per folder)."""
    for pattern in LEFTOVERS:
        for stale in run_dir.glob(pattern):
            if stale != keep:
                shutil.rmtree(stale, ignore_errors=True)
