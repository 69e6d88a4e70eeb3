"""Decoded sources cached as a memory-mapped uint8 array, keyed by a hash of the source's content.

A rerun on unchanged files skips decoding entirely; a changed file changes the key. Entries
are written to a temporary folder, flushed to disk and renamed into place, so a reader never sees
half of one, even after a power cut.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from gan_aug.data.formats import RawSource
from gan_aug.hashing import canonical_json, chunks_sha256, file_chunks
from gan_aug.io import durable_replace, fsync_path

CACHE_VERSION = "1"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gan-aug"


def content_key(files: list[Path], settings: dict) -> str:
    """sha256 over the settings and every file's name (relative to the first's parent) and bytes."""

    def chunks():
        yield canonical_json({"v": CACHE_VERSION, **settings})
        for path in files:
            yield path.name.encode("utf-8", "surrogateescape") + b"\0"
            yield from file_chunks(path)
            yield b"\0"

    return chunks_sha256(chunks())


def load_cached(cache_dir: Path, key: str) -> RawSource | None:
    entry = cache_dir / key
    if not (entry / "meta.json").is_file():
        return None
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    images = np.load(entry / "images.npy", mmap_mode="r", allow_pickle=False)
    return RawSource(images, meta["labels"], meta["origins"], meta["problems"], meta["class_names"],
                     meta["formats"])


def save_cached(cache_dir: Path, key: str, raw: RawSource) -> None:
    """Write the entry beside its final place, then rename: concurrent runs cannot see it half-written."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    try:
        np.save(tmp / "images.npy", np.ascontiguousarray(raw.images), allow_pickle=False)
        meta = {"labels": raw.labels, "origins": raw.origins, "problems": raw.problems,
                "class_names": raw.class_names, "formats": raw.formats}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        for name in ("images.npy", "meta.json"):
            fsync_path(tmp / name)
        durable_replace(tmp, cache_dir / key)
    except OSError:
        if not (cache_dir / key).exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
