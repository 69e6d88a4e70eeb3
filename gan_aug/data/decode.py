"""Decode image files or bytes into the uint8 C×H×W contract: size, channel mode, clear errors.

Decoding is the slow part of loading a large folder, so ``decode_all`` runs it in a thread
pool (PIL releases the GIL while decoding) and reports progress through a callback.
"""
from __future__ import annotations

import io
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_aug.data.errors import DataError
from gan_aug.progress import Progress

SKIP_HINT = "; set data.skip_unreadable: true to skip such files"


@dataclass(frozen=True)
class DecodeOptions:
    image_size: int | None = None  # resize to S×S; None keeps sizes (and then they must all match)
    channels: int | None = None  # 1 or 3; None: 1 if every image is grayscale, else 3
    skip_unreadable: bool = False  # count and drop broken files instead of stopping
    workers: int = 0  # decode threads; 0 = one per CPU core


@dataclass
class Decoded:
    images: np.ndarray  # uint8 N×C×H×W of the rows that decoded
    kept: np.ndarray  # bool per input item: False where skipped as unreadable
    problems: list[str] = field(default_factory=list)  # one line per skipped item
    formats: dict[str, int] = field(default_factory=dict)  # "W×H MODE" as found in the files → count


def _to_array(image: Image.Image, channels: int | None) -> np.ndarray:
    """Any PIL mode → H×W (grayscale) or H×W×3 (colour) uint8; alpha is dropped, 16-bit is scaled."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if pixels.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(np.rint(pixels * 255.0 / top), 0, 255).astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8))
    gray = image.mode in ("1", "L", "LA") or (image.mode == "P" and _palette_is_gray(image))
    wanted = channels or (1 if gray else 3)
    return np.asarray(image.convert("L" if wanted == 1 else "RGB"), dtype=np.uint8)


def _palette_is_gray(image: Image.Image) -> bool:
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _decode(ref: bytes | str | Path, origin: str, options: DecodeOptions) -> tuple[np.ndarray, str]:
    """Pixels as C×H×W uint8, and the image's original "W×H MODE" (what `inspect` reports)."""
    try:
        with Image.open(io.BytesIO(ref) if isinstance(ref, bytes) else ref) as image:
            image.load()  # truncated files fail here, not later
            found = f"{image.size[0]}×{image.size[1]} {image.mode}"
            if options.image_size is not None and image.size != (options.image_size,) * 2:
                image = image.resize((options.image_size, options.image_size), Image.Resampling.BICUBIC)
            pixels = _to_array(image, options.channels)
    except FileNotFoundError:
        raise DataError(f"{origin}: file not found") from None
    except UnidentifiedImageError:
        raise DataError(f"{origin}: not a readable image (not a recognised image format){SKIP_HINT}") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise DataError(f"{origin}: not a readable image ({error}){SKIP_HINT}") from None
    return (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)), found


def decode_image(ref: bytes | str | Path, origin: str, options: DecodeOptions) -> np.ndarray:
    """One image as C×H×W uint8 (C = 1 or 3, see ``DecodeOptions.channels``); DataError names ``origin``."""
    return _decode(ref, origin, options)[0]


def _decode_or_problem(ref, origin: str, options: DecodeOptions) -> tuple[np.ndarray, str] | str:
    try:
        return _decode(ref, origin, options)
    except DataError as error:
        if not options.skip_unreadable:
            raise
        return str(error)


def _unify(arrays: list[np.ndarray | None], origins: Sequence[str], options: DecodeOptions) -> np.ndarray:
    """Stack into N×C×H×W (emptying ``arrays``): grayscale is widened to RGB when any image is colour."""
    channels = options.channels or max(a.shape[0] for a in arrays)
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) > 1:
        first = arrays[0].shape[1:]
        odd = next(i for i, a in enumerate(arrays) if a.shape[1:] != first)
        raise DataError(
            f"images have different sizes ({origins[0]} is {first[1]}×{first[0]}, {origins[odd]} is "
            f"{arrays[odd].shape[2]}×{arrays[odd].shape[1]}); set data.image_size to resize them all"
        )
    out = np.empty((len(arrays), channels, *shapes.pop()), dtype=np.uint8)
    for i, array in enumerate(arrays):
        out[i] = array if array.shape[0] == channels else np.repeat(array, channels, axis=0)
        arrays[i] = None  # free as we go: ``out``'s pages fill as these empty, so memory stays near 1×
    return out


def decode_all(
    refs: Sequence[bytes | str | Path],
    origins: Sequence[str],
    options: DecodeOptions,
    progress: Progress | None = None,
) -> Decoded:
    """Decode many images in parallel, in order. Unreadable ones stop the load, or are skipped and listed."""
    workers = options.workers or os.cpu_count() or 1
    results: list[np.ndarray | str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(_decode_or_problem, refs, origins, [options] * len(refs)), 1):
            results.append(result)
            if progress is not None and (i % 500 == 0 or i == len(refs)):
                progress(i, len(refs))
    kept = np.array([not isinstance(r, str) for r in results], dtype=bool)
    decoded = [r for r in results if not isinstance(r, str)]
    if not decoded:
        raise DataError(f"none of the {len(refs)} images could be read" + (f"; first: {results[0]}" if results else ""))
    images = _unify([pixels for pixels, _ in decoded], [o for o, k in zip(origins, kept) if k], options)
    return Decoded(images, kept, [r for r in results if isinstance(r, str)],
                   dict(Counter(found for _, found in decoded)))


def conform_array(images: np.ndarray, origin: str, options: DecodeOptions) -> np.ndarray:
    """Arrays from NumPy/IDX sources: N×H×W, N×H×W×C or N×C×H×W uint8 → the configured size and channels."""
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise DataError(f"{origin}: expected images as N×H×W, N×H×W×C or N×C×H×W, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise DataError(f"{origin}: expected uint8 pixels, got {images.dtype}; convert to 0..255 uint8 first")
    images = images[:, :3]  # drop alpha
    channels = options.channels or (1 if images.shape[1] == 1 else 3)
    size = options.image_size
    if channels == images.shape[1] and (size is None or images.shape[2:] == (size, size)):
        return np.ascontiguousarray(images)
    mode = "L" if images.shape[1] == 1 else "RGB"
    pixels = [Image.fromarray(im[0] if mode == "L" else im.transpose(1, 2, 0), mode) for im in images]
    return np.stack([decode_image(_png(p), f"{origin}[{i}]", options) for i, p in enumerate(pixels)])


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()
