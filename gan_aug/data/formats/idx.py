"""IDX files (MNIST, Fashion-MNIST, KMNIST...): an images file and its labels file, gzipped or not.

The format is a big-endian header (magic 0x0000TTDD: type TT, DD dimensions; then one uint32 per
dimension) followed by the raw values. Only unsigned bytes are read: 0x00000803 for N×H×W images
and 0x00000801 for N labels, which is what every published IDX image set uses.
"""
from __future__ import annotations

import gzip
import math
import re
import zlib
from pathlib import Path

import numpy as np

from gan_aug.data.decode import conform_array
from gan_aug.data.errors import DataError
from gan_aug.data.formats import RawSource, ReadOptions
from gan_aug.progress import Progress

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_IMAGES_NAME = re.compile(r"images([-.])idx3")
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path, options: ReadOptions, progress: Progress | None = None) -> RawSource:
    """An IDX images file (or a folder holding one images/labels pair) as a RawSource."""
    images_path = _images_file(Path(path))
    labels_path = _labels_file(images_path)
    images = _parse(images_path, IMAGES_MAGIC)
    labels = _parse(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if len(images) == 0:
        raise DataError(f"{images_path} holds no images")
    formats = {f"{images.shape[2]}×{images.shape[1]} L": len(images)}
    pixels = conform_array(images, str(images_path), options.decode)
    if progress is not None:
        progress(len(pixels), len(pixels))
    origins = [f"{images_path}:{i}" for i in range(len(pixels))]
    return RawSource(pixels, [str(v) for v in labels.tolist()], origins, formats=formats)


def _images_file(path: Path) -> Path:
    """The file itself, or the single images file in a folder (a .gz twin of a plain file is the same data)."""
    if not path.exists():
        raise DataError(f"{path} does not exist; check data.source")
    if not path.is_dir():
        return path
    found = sorted(p for p in path.iterdir() if p.is_file() and _IMAGES_NAME.search(p.name))
    plain = {p.name for p in found}
    found = [p for p in found if not (p.name.endswith(".gz") and p.name[:-3] in plain)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(f"{path} has no IDX images file (named like train-images-idx3-ubyte[.gz]); check data.source")
    raise DataError(
        f"{path} holds several IDX image sets ({', '.join(p.name for p in found)}); "
        f"set data.source to the images file of the one to load"
    )


def _labels_file(images_path: Path) -> Path:
    """The labels file by MNIST naming: "images-idx3" → "labels-idx1", gzipped or not."""
    if not _IMAGES_NAME.search(images_path.name):
        raise DataError(
            f"cannot tell the labels file for {images_path}: its name has no 'images-idx3' "
            f"(expected a pair like train-images-idx3-ubyte / train-labels-idx1-ubyte); check data.source"
        )
    name = _IMAGES_NAME.sub(r"labels\1idx1", images_path.name)
    bare = name[:-3] if name.endswith(".gz") else name
    candidates = [images_path.parent / n for n in dict.fromkeys([name, bare, bare + ".gz"])]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(f"{images_path} has no labels file next to it: looked for {', '.join(c.name for c in candidates)}")


def _parse(path: Path, magic: int) -> np.ndarray:
    """Header-checked values of one IDX file; a wrong magic or size is reported, never guessed around."""
    data = _read_bytes(path)
    what = "images" if magic == IMAGES_MAGIC else "labels"
    ndim = magic & 0xFF
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = f"0x{data[:4].hex()}" if len(data) >= 4 else f"only {len(data)} bytes"
        raise DataError(f"{path} is not an IDX {what} file: expected magic number {magic:#010x}, found {found}")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated: the IDX header stops after {len(data)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = 4 + 4 * ndim + math.prod(shape)  # Python ints: a corrupt header cannot overflow
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{path} is {problem}: its header promises {what} of shape {'×'.join(map(str, shape))} "
            f"({expected} bytes) but the file holds {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()  # writable


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic (whatever the file is called)."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == _GZIP_MAGIC else data
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path} is not a readable IDX file ({error})") from None
