"""What made a set of shards: package versions, and a content key that says when they can be reused.

The key hashes everything the files' bytes depend on (the rows, duplicates and weights included, the
class names, the settings and the provenance written into the manifest), so equal keys mean
byte-identical output.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

import numpy as np

from gan_aug.shards.rows import SplitRows

SLICE = 1 << 24  # bytes of an array hashed on their own
PACKAGES = ("gan-aug", "torch", "torchvision", "numpy", "pyarrow", "pillow", "scikit-learn", "pytorch-fid")


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str | None], ...]:
    """Read once per process: looking up eight packages' metadata costs tens of ms a call."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return tuple(versions.items())


def package_versions() -> dict[str, str | None]:
    """Python and the packages whose versions change what a run produces (None: not installed)."""
    return dict(_versions())


def _slice_digest(data: np.ndarray) -> bytes:
    return hashlib.sha256(data).digest()


def _update(digest, array: np.ndarray) -> None:
    """Add an array's dtype, shape and bytes. A large array is hashed in slices (no copy of a
    memory-mapped set is made), each on its own and on several threads (sha256 releases the GIL),
    then the slices' digests in order: the key depends on the slice size only, never on the cores."""
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    flat = array.reshape(-1).view(np.uint8)
    if len(flat) <= SLICE:
        digest.update(flat)
        return
    slices = [flat[start:start + SLICE] for start in range(0, len(flat), SLICE)]
    with ThreadPoolExecutor(min(len(slices), os.cpu_count() or 1)) as pool:
        for part in pool.map(_slice_digest, slices):
            digest.update(part)


def content_key(splits: list[SplitRows], settings: dict, provenance: dict) -> str:
    """sha256 over the rows of every split, the writer's settings and the provenance."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"settings": settings, "provenance": provenance}, sort_keys=True).encode())
    for rows in splits:
        digest.update(rows.name.encode())
        digest.update(json.dumps(list(rows.real.class_names)).encode())
        # The weights go into the rows and the manifest, so a mix that differs only there is new content.
        digest.update(json.dumps([float(rows.mix.synthetic_weight), float(rows.mix.late_from)]).encode())
        for array in (rows.real.images, rows.real.labels, rows.real.source_index, rows.mix.duplicates):
            _update(digest, array)
        syn = rows.synthetic
        for array in (syn.images, syn.labels, syn.seeds, *syn.scores.values(), syn.generator_sha256):
            _update(digest, array)
    return digest.hexdigest()
