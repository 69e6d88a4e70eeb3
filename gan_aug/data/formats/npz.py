"""NumPy ``.npz`` archives: images under "x" (or "images"), labels under "y" (or "labels"), and
optionally "class_names" giving the names of integer labels in order.

Loaded with ``allow_pickle=False``: an archive can otherwise run code when opened.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from gan_aug.data.decode import conform_array
from gan_aug.data.errors import DataError
from gan_aug.data.formats import RawSource, ReadOptions
from gan_aug.progress import Progress

_IMAGE_KEYS = ("x", "images")
_LABEL_KEYS = ("y", "labels")
_LOAD_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, NotImplementedError)


def read_npz(path: Path, options: ReadOptions, progress: Progress | None = None) -> RawSource:
    """An .npz archive as a RawSource; integer labels map to "class_names" when the archive has them."""
    path = Path(path)
    images, labels, names = _load(path)
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels; they must pair up one to one")
    if len(images) == 0:
        raise DataError(f"{path} holds no images")
    texts = _label_strings(path, labels, names)
    formats = _formats(images)
    images = conform_array(images, str(path), options.decode)
    if progress is not None:
        progress(len(images), len(images))
    origins = [f"{path}:{i}" for i in range(len(texts))]
    return RawSource(images, texts, origins, class_names=names, formats=formats)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Read just the arrays we use; every failure becomes a DataError naming the file."""
    if not path.is_file():
        raise DataError(f"{path} does not exist; check data.source")
    try:
        archive = np.load(path, allow_pickle=False)
    except _LOAD_ERRORS as error:  # numpy blames pickling for any bytes that are neither zip nor .npy
        reason = "neither a zip of arrays nor a .npy file" if "pickle" in str(error) else str(error)
        raise DataError(f"{path} is not a readable .npz archive ({reason})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} is a single .npy array, not an .npz archive; "
                        f"save with np.savez(path, x=images, y=labels)")
    with archive:
        keys = list(archive.files)
        image_key, label_key = _key(path, keys, _IMAGE_KEYS), _key(path, keys, _LABEL_KEYS)
        images, labels = _array(path, archive, image_key), _array(path, archive, label_key)
        names = _array(path, archive, "class_names") if "class_names" in keys else None
    return images, labels, None if names is None else _class_names(path, names)


def _array(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        return archive[key]
    except _LOAD_ERRORS as error:
        if "pickle" in str(error) or "Object arrays" in str(error):
            raise DataError(
                f"{path}: array {key!r} holds Python objects, which are not loaded for safety "
                f"(they would need pickle); save it as a plain numeric or string array"
            ) from None
        raise DataError(f"{path}: array {key!r} is not readable ({error})") from None


def _formats(images: np.ndarray) -> dict[str, int]:
    """How the pixels are stored, as "W×H MODE" → count (what decoding reports for image files)."""
    if images.ndim == 3:
        return {f"{images.shape[2]}×{images.shape[1]} L": len(images)}
    channels_last = images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4)
    c, h, w = (images.shape[3], *images.shape[1:3]) if channels_last else images.shape[1:4]
    return {f"{w}×{h} {({1: 'L', 3: 'RGB', 4: 'RGBA'}).get(c, '?')}": len(images)} if images.ndim == 4 else {}


def _key(path: Path, keys: list[str], choices: tuple[str, ...]) -> str:
    for key in choices:
        if key in keys:
            return key
    raise DataError(f"{path} has no array named {' or '.join(map(repr, choices))}; it holds {keys}")


def _class_names(path: Path, names: np.ndarray) -> list[str]:
    if names.ndim != 1 or names.dtype.kind not in "US" or len(names) == 0:
        raise DataError(f"{path}: 'class_names' must be a non-empty 1-D array of strings, "
                        f"got {names.dtype} {names.shape}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]


def _label_strings(path: Path, labels: np.ndarray, names: list[str] | None) -> list[str]:
    """Labels as text: integers (or whole floats) as decimals or their class name, strings as given."""
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{path}: labels must be a 1-D array of class indices or names, got shape {labels.shape}")
    if labels.dtype.kind in "US":
        return _named_strings(path, labels, names)
    ints = _as_ints(path, labels)
    if names is None:
        return [str(v) for v in ints.tolist()]
    bad = np.flatnonzero((ints < 0) | (ints >= len(names)))
    if len(bad):
        raise DataError(
            f"{path}: label {ints[bad[0]]} at index {bad[0]} is outside 'class_names', "
            f"which has {len(names)} names (labels must lie in 0..{len(names) - 1})"
        )
    return [names[v] for v in ints.tolist()]


def _as_ints(path: Path, labels: np.ndarray) -> np.ndarray:
    if labels.dtype.kind in "iu":
        return labels.astype(np.int64)
    if labels.dtype.kind != "f":
        raise DataError(f"{path}: labels have dtype {labels.dtype}; expected integer class indices or strings")
    nan = np.flatnonzero(~np.isfinite(labels))
    if len(nan):
        raise DataError(f"{path}: label is {labels[nan[0]]} at index {nan[0]} "
                        f"({len(nan)} NaN or infinite labels in all)")
    fractional = np.flatnonzero(labels != np.round(labels))
    if len(fractional):
        raise DataError(f"{path}: label {labels[fractional[0]]} at index {fractional[0]} is not an integer class index")
    return labels.astype(np.int64)


def _named_strings(path: Path, labels: np.ndarray, names: list[str] | None) -> list[str]:
    texts = [v.decode() if isinstance(v, bytes) else str(v) for v in labels.tolist()]
    unknown = sorted(set(texts) - set(names)) if names is not None else []
    if unknown:
        raise DataError(f"{path}: labels {unknown[:5]} are not among 'class_names' {names}")
    return texts
