"""From labels as the source spells them to class indices, with the checks that protect the output.

Class names become folder names in the image-folder output, so a name that could escape the
output folder, or that is not valid UTF-8, is refused here, at the input.
"""
from __future__ import annotations

import unicodedata

import numpy as np

from gan_aug.data.errors import DataError
from gan_aug.data.formats import RawSource
from gan_aug.data.imageset import ImageSet


def _class_order(labels: list[str]) -> list[str]:
    """Numeric labels sort as numbers ("2" before "10"); anything else sorts as text."""
    names = set(labels)
    if all(name.lstrip("-").isdigit() for name in names):
        return sorted(names, key=int)
    return sorted(names)


def check_class_name(name: str, where: str) -> None:
    """Refuse names that are empty, not UTF-8, hold control characters or could leave a folder."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{where}: class name {name!r} is not valid UTF-8; rename it") from None
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise DataError(f"{where}: class name {name!r} cannot be used as a folder name "
                        "(empty, '.', '..', or holds '/', '\\\\' or NUL); rename it")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise DataError(f"{where}: class name {name!r} holds control characters; rename it")


def to_image_set(raw: RawSource, where: str) -> ImageSet:
    """Map label strings to indices in a stable class order; unknown labels name their row."""
    class_names = list(raw.class_names) if raw.class_names is not None else _class_order(raw.labels)
    for name in class_names:
        check_class_name(name, where)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = next((i for i, label in enumerate(raw.labels) if label not in index), None)
    if unknown is not None:
        raise DataError(f"{raw.origins[unknown]}: label {raw.labels[unknown]!r} is not one of the "
                        f"classes {class_names}")
    labels = np.fromiter((index[label] for label in raw.labels), dtype=np.int64, count=len(raw.labels))
    return ImageSet(raw.images, labels, tuple(class_names))


def enforce_min_count(data: ImageSet, min_count: int, policy: str, where: str) -> tuple[ImageSet, list[str]]:
    """Classes below ``min_count`` images stop the run, or are dropped with a warning (``policy='skip'``)."""
    counts = data.class_counts()
    small = [(name, int(n)) for name, n in zip(data.class_names, counts) if n < min_count]
    if not small:
        return data, []
    listed = ", ".join(f"{name!r} ({n})" for name, n in small)
    if policy != "skip":
        raise DataError(f"{where}: classes with fewer than data.min_images_per_class={min_count} images: "
                        f"{listed}; add images, lower the minimum, or set data.small_class_policy: skip")
    keep = [label for label, n in enumerate(counts) if n >= min_count]
    if not keep:
        raise DataError(f"{where}: every class has fewer than data.min_images_per_class={min_count} images")
    remap = np.full(len(counts), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    rows = np.flatnonzero(remap[data.labels] >= 0)
    kept = ImageSet(data.images[rows], remap[data.labels[rows]], tuple(data.class_names[i] for i in keep),
                    data.source_index[rows])
    return kept, [f"skipped classes with fewer than {min_count} images: {listed}"]
