"""What made a set of shards: package versions, and a content key that says when they can be reused.

The key hashes everything the files' bytes depend on (the rows, duplicates and weights included, the
class names, the settings and the provenance written into the manifest), so equal keys mean
byte-identical output.
"""
from __future__ import annotations

import functools
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Iterator

import numpy as np

from gan_aug.hashing import bytes_sha256, canonical_json, chunks_sha256
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
    return bytes.fromhex(bytes_sha256(data))


def _array_chunks(array: np.ndarray) -> Iterator[bytes | np.ndarray]:
    """Add an array's dtype, shape and bytes. A large array is hashed in slices (no copy of a
    memory-mapped set is made), each on its own and on several threads (sha256 releases the GIL),
    then the slices' digests in order: the key depends on the slice size only, never on the cores."""
    array = np.ascontiguousarray(array)
    yield f"{array.dtype.str}{array.shape}".encode()
    flat = array.reshape(-1).view(np.uint8)
    if len(flat) <= SLICE:
        yield flat
        return
    slices = [flat[start:start + SLICE] for start in range(0, len(flat), SLICE)]
    with ThreadPoolExecutor(min(len(slices), os.cpu_count() or 1)) as pool:
        yield from pool.map(_slice_digest, slices)


def content_key(splits: list[SplitRows], settings: dict, provenance: dict) -> str:
    """sha256 over the rows of every split, the writer's settings and the provenance."""

    def chunks() -> Iterator[bytes | np.ndarray]:
        yield canonical_json({"settings": settings, "provenance": provenance})
        for rows in splits:
            yield rows.name.encode()
            yield canonical_json(list(rows.real.class_names))
            # The weights go into the rows and the manifest, so a mix that differs only there is new content.
            yield canonical_json([float(rows.mix.synthetic_weight), float(rows.mix.late_from)])
            syn = rows.synthetic
            for array in (rows.real.images, rows.real.labels, rows.real.source_index, rows.mix.duplicates,
                          syn.images, syn.labels, syn.seeds, *syn.scores.values(), syn.generator_sha256):
                yield from _array_chunks(array)

    return chunks_sha256(chunks())
