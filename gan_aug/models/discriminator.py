"""Projection discriminator (Miyato & Koyama 2018) with spectral norm: one realism score per image."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_aug.models.blocks import DiscriminatorBlock, num_upsamples, stage_widths


class Discriminator(nn.Module):
    def __init__(self, num_classes: int, image_size: int, channels: int, base_channels: int = 64):
        super().__init__()
        stages = num_upsamples(image_size)
        widths = stage_widths(base_channels, stages)[::-1]  # narrow at full resolution
        blocks = [DiscriminatorBlock(channels, widths[0], downsample=stages > 0, first=True)]
        blocks += [DiscriminatorBlock(widths[i], widths[i + 1], downsample=i + 1 < stages) for i in range(stages)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, widths[-1]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Unconditional realism plus the projection ⟨embed(y), features⟩ that ties it to the class."""
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)
