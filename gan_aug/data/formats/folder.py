"""Image folders laid out as ``root/<class>/*.png`` (the torchvision ImageFolder layout).

Listing is separate from decoding so a cache key (content hash) or ``inspect`` can walk the files
cheaply. Files are only ever opened for reading.
"""
from __future__ import annotations

import os
from pathlib import Path

from gan_aug.data.decode import decode_all
from gan_aug.data.errors import DataError
from gan_aug.data.formats import RawSource, ReadOptions
from gan_aug.progress import Progress

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"})


def _is_image_name(name: str) -> bool:
    """Hidden files (.DS_Store, ._x.png from macOS archives) and other extensions are not images."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _check_utf8(path: Path, root: Path, what: str) -> None:
    """Names that are not valid UTF-8 cannot become class names or provenance strings."""
    try:
        str(path.relative_to(root)).encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{what} {os.fsencode(path.relative_to(root))!r} in {root} is not a valid UTF-8 "
                        "name; rename it") from None


def _class_folders(root: Path) -> list[Path]:
    """The visible sub-folders of ``root``, sorted; stray images directly in ``root`` are an error."""
    if not root.exists():
        raise DataError(f"image folder {root} not found; check data.source")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder; data.source should name a folder laid out as "
                        f"{root}/<class>/*.png")
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as error:
        raise DataError(f"cannot list image folder {root} ({error.strerror}); check its permissions") from None
    strays = [e.name for e in entries if e.is_file() and _is_image_name(e.name)]
    if strays:
        raise DataError(f"{root} has images directly inside it (e.g. {strays[0]!r}); expected one folder per "
                        f"class: move them into {root}/<class>/")
    folders = [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")]
    if not folders:
        raise DataError(f"no class folders in {root}: expected {root}/<class>/*.png")
    return folders


def _images_in(folder: Path, root: Path) -> list[Path]:
    """Every image file below one class folder, recursively, sorted by relative path."""
    def fail(error: OSError) -> None:
        raise DataError(f"cannot list {error.filename} ({error.strerror}); check its permissions")

    found = []
    for here, dirs, files in os.walk(folder, onerror=fail):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(here, f) for f in files if _is_image_name(f)]
    for path in found:
        _check_utf8(path, root, "file")
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def list_folder(root: Path) -> list[tuple[Path, str]]:
    """Every image file under ``root`` with its class name, sorted by class then path; nothing is decoded."""
    root = Path(root)
    listing: list[tuple[Path, str]] = []
    for folder in _class_folders(root):
        _check_utf8(folder, root, "class folder")
        images = _images_in(folder, root)
        if not images:
            raise DataError(f"class folder {folder} has no images; remove it or add images "
                            f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
        listing += [(path, folder.name) for path in images]
    return listing


def read_folder(root: Path, options: ReadOptions, progress: Progress | None = None) -> RawSource:
    """Decode ``root/<class>/*`` into a RawSource whose labels are the class folder names."""
    root = Path(root)
    listing = list_folder(root)
    origins = [path.relative_to(root).as_posix() for path, _ in listing]
    decoded = decode_all([path for path, _ in listing], origins, options.decode, progress)
    kept = decoded.kept.tolist()
    labels = [name for (_, name), keep in zip(listing, kept) if keep]
    class_names = list(dict.fromkeys(name for _, name in listing))
    _check_no_class_emptied(root, class_names, set(labels), decoded.problems)
    return RawSource(decoded.images, labels, [o for o, keep in zip(origins, kept) if keep],
                     decoded.problems, class_names, formats=decoded.formats)


def _check_no_class_emptied(root: Path, class_names: list[str], present: set[str], problems: list[str]) -> None:
    """With skip_unreadable a class can lose every image; a class with no rows would break training."""
    for name in class_names:
        if name not in present:
            first = next(p for p in problems if p.startswith(f"{name}/"))
            raise DataError(f"every image in class folder {root / name} is unreadable (first: {first}); "
                            "fix or remove that folder")
