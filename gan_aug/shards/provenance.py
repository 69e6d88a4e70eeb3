"""What made a set of shards: package versions, and a content key that says when they can be reused.

The key hashes everything the files' bytes depend on (the rows, the class names, the settings and
the provenance written into the manifest), so equal keys mean byte-identical output.
"""
from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata

import numpy as np

from gan_aug.shards.rows import SplitRows

PACKAGES = ("gan-aug", "torch", "torchvision", "numpy", "pyarrow", "pillow", "scikit-learn", "pytorch-fid")


def package_versions() -> dict[str, str | None]:
    """Python and the packages whose versions change what a run produces (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _update(digest, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    # Large image arrays are hashed in slices: no copy of a memory-mapped set is made.
    flat = array.reshape(-1).view(np.uint8)
    for start in range(0, len(flat), 1 << 26):
        digest.update(flat[start:start + (1 << 26)])


def content_key(splits: list[SplitRows], settings: dict, provenance: dict) -> str:
    """sha256 over the rows of every split, the writer's settings and the provenance."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"settings": settings, "provenance": provenance}, sort_keys=True).encode())
    for rows in splits:
        digest.update(rows.name.encode())
        digest.update(json.dumps(list(rows.real.class_names)).encode())
        for array in (rows.real.images, rows.real.labels, rows.real.source_index):
            _update(digest, array)
        syn = rows.synthetic
        for array in (syn.images, syn.labels, syn.seeds, syn.d_scores, syn.label_probs, syn.nn_distances,
                      syn.generator_sha256):
            _update(digest, array)
    return digest.hexdigest()
