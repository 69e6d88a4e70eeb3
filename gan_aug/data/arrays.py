"""The caller's image arrays ↔ the library's uint8 N×C×H×W, and back.

scikit-learn users hold images as they load them: flat rows (``load_digits(return_X_y=True)`` gives
64 floats from 0 to 16 per row, and an imbalanced-learn ``Pipeline`` passes 2-D X), N×H×W arrays, or
channels-last N×H×W×C arrays, in uint8, other integers or floats. ``ImageLayout`` reads one such array
into the pipeline's contract and writes generated images back in the caller's shape, dtype and units,
so a classifier after the sampler sees one kind of row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gan_aug.warn import warn_caller

CHANNEL_ORDERS = ("first", "last")


@dataclass(frozen=True)
class ImageLayout:
    """How the caller's rows hold images: ``ndim`` of X, the (C, H, W) image, where channels sit, the
    dtype, and the pixel range mapped onto 0..255 (None: uint8 taken as it is)."""

    ndim: int
    chw: tuple[int, int, int]
    channels_last: bool
    dtype: np.dtype
    pixel_range: tuple[float, float] | None

    @classmethod
    def of(cls, X: np.ndarray, image_shape=None, channel_order: str = "first", pixel_range=None) -> "ImageLayout":
        """Read the layout of ``X``; errors name the setting to change."""
        chw, last = _shape(X, image_shape, channel_order)
        c, h, w = chw
        if c not in (1, 3):
            raise ValueError(f"images need 1 (grayscale) or 3 (RGB) channels, got {c} (image shape {chw} as C×H×W)")
        if h != w:
            raise ValueError(f"images must be square (H = W), got {h}×{w}")
        return cls(X.ndim, chw, last, X.dtype, _pixel_range(X, pixel_range))

    def to_images(self, X: np.ndarray) -> np.ndarray:
        """X as uint8 N×C×H×W (a view where no conversion is needed)."""
        pixels = X if self.pixel_range is None else _to_uint8(X, *self.pixel_range)
        n, (c, h, w) = len(X), self.chw
        if self.ndim == 2:
            pixels = pixels.reshape((n, h, w, c) if self.channels_last else (n, c, h, w))
        elif self.ndim == 3:
            return pixels[:, None]
        return pixels.transpose(0, 3, 1, 2) if self.channels_last else pixels

    def from_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 N×C×H×W images as rows of the caller's X: shape, channel order, dtype and units."""
        rows = images.transpose(0, 2, 3, 1) if self.channels_last else images
        if self.ndim == 2:
            rows = rows.reshape(len(images), math.prod(self.chw))
        elif self.ndim == 3:
            rows = rows[:, 0]
        if self.pixel_range is None:
            return np.ascontiguousarray(rows)
        lo, hi = self.pixel_range
        values = rows.astype(np.float64) * ((hi - lo) / 255.0) + lo
        if self.dtype.kind in "iub":
            values = np.rint(values)
        return values.astype(self.dtype)


def _shape(X: np.ndarray, image_shape, channel_order: str) -> tuple[tuple[int, int, int], bool]:
    """(C, H, W) and whether channels come last in X's rows."""
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
    last = channel_order == "last"
    if X.ndim == 2:
        return _flat_shape(X.shape[1], image_shape, last), last
    if X.ndim == 3:
        _check_given(image_shape, X.shape[1:], "N×H×W (grayscale)")
        return (1, *X.shape[1:]), False
    if X.ndim == 4:
        chw = (X.shape[3], *X.shape[1:3]) if last else X.shape[1:]
        if not last and X.shape[1] not in (1, 3) and X.shape[3] in (1, 3):
            raise ValueError(f"X has shape {X.shape}: channels last? pass channel_order='last' "
                             "(or X.transpose(0, 3, 1, 2))")
        _check_given(image_shape, X.shape[1:], "N×H×W×C" if last else "N×C×H×W")
        return tuple(int(v) for v in chw), last
    raise ValueError(f"X must be 2-D (one flattened image per row, with image_shape), N×H×W or 4-D images; "
                     f"got shape {X.shape}")


def _flat_shape(features: int, image_shape, last: bool) -> tuple[int, int, int]:
    """The (C, H, W) image of a flattened row of ``features`` values."""
    if image_shape is None:
        side = math.isqrt(features)
        if side * side != features:
            raise ValueError(f"X has {features} values per row, which is not a square grayscale image: pass "
                             "image_shape=(H, W), or (H, W, C) with channel_order='last', or (C, H, W)")
        return 1, side, side
    shape = tuple(int(v) for v in image_shape)
    if len(shape) not in (2, 3) or math.prod(shape) != features:
        raise ValueError(f"image_shape={tuple(image_shape)} does not fit X's {features} values per row "
                         "(give (H, W), or (C, H, W) / (H, W, C) by channel_order, whose product is that)")
    if len(shape) == 2:
        return 1, *shape
    return (shape[2], shape[0], shape[1]) if last else shape


def _check_given(image_shape, shape: tuple[int, ...], layout: str) -> None:
    if image_shape is not None and math.prod(image_shape) != math.prod(shape):
        raise ValueError(f"image_shape={tuple(image_shape)} does not match X's {layout} images of shape {shape}")


def _pixel_range(X: np.ndarray, given) -> tuple[float, float] | None:
    """The range mapped onto 0..255, or None for uint8 pixels taken as they are."""
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold pixel values (numbers), got dtype {X.dtype}")
    if given is not None:
        lo, hi = (float(v) for v in given)
        if not hi > lo:
            raise ValueError(f"pixel_range must be (low, high) with high > low, got {tuple(given)}")
        return None if X.dtype == np.uint8 and (lo, hi) == (0.0, 255.0) else (lo, hi)
    if X.dtype == np.uint8:
        return None
    low, high = float(X.min()), float(X.max())
    lo, hi = min(low, 0.0), (1.0 if high <= 1.0 else high)
    warn_caller(f"pixel_range not given: X holds {X.dtype} values from {low:g} to {high:g}, read as pixels "
                f"from {lo:g} (black) to {hi:g} (white); pass pixel_range=({lo:g}, {hi:g}) to say so")
    return lo, hi


def _to_uint8(X: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``lo``..``hi`` onto 0..255; values outside are clipped, with a warning that counts them."""
    outside = int(np.count_nonzero((X < lo) | (X > hi)))
    if outside:
        warn_caller(f"{outside} pixel values of X lie outside pixel_range=({lo:g}, {hi:g}) and were clipped "
                    "for the GAN (the real rows are returned unchanged)")
    scaled = (np.asarray(X, dtype=np.float64) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
