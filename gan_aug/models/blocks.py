"""Building blocks shared by the generator and the discriminator."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def num_upsamples(image_size: int) -> int:
    """How many ×2 stages reach ``image_size`` from a base of 4–7 px (8→1, 28→2, 32→3, 64→4)."""
    if image_size < 4:
        raise ValueError(f"image size must be at least 4 px, got {image_size}")
    stages = 0
    while image_size % (2 ** (stages + 1)) == 0 and image_size // 2 ** (stages + 1) >= 4:
        stages += 1
    return stages


def stage_widths(base_channels: int, stages: int) -> list[int]:
    """Widest at the coarsest resolution, halving per stage, capped at 8× the base."""
    return [base_channels * min(2 ** (stages - i), 8) for i in range(stages + 1)]


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per class: how the generator is conditioned."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class GeneratorBlock(nn.Module):
    """Residual up-block: CBN → ReLU → ×2 → conv → CBN → ReLU → conv, plus an upsampled shortcut."""

    def __init__(self, in_ch: int, out_ch: int, num_classes: int):
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(in_ch, num_classes)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = ConditionalBatchNorm2d(out_ch, num_classes)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DiscriminatorBlock(nn.Module):
    """Residual down-block with spectral norm; the first block skips the leading ReLU (raw pixels)."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool, first: bool = False):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.shortcut = spectral_norm(nn.Conv2d(in_ch, out_ch, 1))
        self.downsample = downsample
        self.first = first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        skip = self.shortcut(x)
        if self.downsample:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip
