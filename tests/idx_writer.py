"""IDX files for tests (the library only reads them): ``from idx_writer import write_idx``."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from gan_aug.data.formats.idx import IMAGES_MAGIC, LABELS_MAGIC


def write_idx(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> None:
    """Write N×H×W uint8 images and N labels (0..255) as IDX; a path ending in .gz is gzipped."""
    _write(Path(images_path), IMAGES_MAGIC, np.asarray(images, dtype=np.uint8))
    _write(Path(labels_path), LABELS_MAGIC, np.asarray(labels).astype(np.uint8))


def _write(path: Path, magic: int, values: np.ndarray) -> None:
    data = np.array([magic, *values.shape], dtype=">u4").tobytes() + np.ascontiguousarray(values).tobytes()
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
