"""Differentiable augmentation (Zhao et al. 2020, "DiffAugment") for data-efficient GAN training.

The same random translation, cutout and colour jitter are applied to every image the
discriminator sees, real and generated, in both the D and the G step. Gradients flow through
them, so the generator is not taught to produce augmented images, while the discriminator can
no longer memorise the few real images of a rare class. Random draws come from the caller's
``torch.Generator`` on the images' device: reproducible, and no host round trip.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F

POLICIES = ("translation", "cutout", "color")


def resolve_policy(setting: str | Iterable[str], channels: int) -> tuple[str, ...]:
    """'auto' is translation + cutout, plus colour for RGB (colour jitter on grayscale scans
    changes what the intensities mean); 'off' or an empty list disables augmentation."""
    if setting == "auto":
        return ("translation", "cutout", "color") if channels == 3 else ("translation", "cutout")
    if setting in ("off", "none"):
        return ()
    policy = tuple(setting)
    unknown = [name for name in policy if name not in POLICIES]
    if unknown:
        raise ValueError(f"gan.diffaugment: unknown augmentation(s) {unknown}; choose from {list(POLICIES)}")
    return policy


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One number per image in [0, 1), shaped to broadcast over C×H×W."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device, generator=generator)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Brightness ±0.5, saturation ×[0, 2) (RGB only), contrast ×[0.5, 1.5)."""
    x = x + (_uniform(x, generator) - 0.5)
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_uniform(x, generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def translation(
    x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.125, edge: bool = False
) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in each direction, filling with zeros (or, with
    ``edge``, by repeating the border: a classifier's shifted images keep their background)."""
    n, _, h, w = x.shape
    pad_h, pad_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if pad_h == 0 and pad_w == 0:
        return x
    dy = torch.randint(-pad_h, pad_h + 1, (n, 1), device=x.device, generator=generator)
    dx = torch.randint(-pad_w, pad_w + 1, (n, 1), device=x.device, generator=generator)
    rows = torch.arange(h, device=x.device)[None, :] + pad_h - dy  # (n, h) rows of the padded image
    cols = torch.arange(w, device=x.device)[None, :] + pad_w - dx
    padded = F.pad(x, [pad_w, pad_w, pad_h, pad_h], mode="replicate" if edge else "constant")
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indexing picks (n, h, w, c); move channels back to dim 1.
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` × the image size per image, at a random centre (may overhang)."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - size_h % 2), (n, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w + (1 - size_w % 2), (n, 1, 1), device=x.device, generator=generator)
    top, left = cy - size_h // 2, cx - size_w // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the policy's augmentations in the canonical order (colour, translation, cutout)."""
    for name in POLICIES:
        if name in policy:
            x = _FUNCTIONS[name](x, generator)
    return x
