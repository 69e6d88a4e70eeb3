"""Class-conditional generator: latent z and a label in, an image in [-1, 1] out."""
from __future__ import annotations

import torch
from torch import nn

from gan_aug.models.blocks import GeneratorBlock, num_upsamples, stage_widths


class Generator(nn.Module):
    def __init__(self, z_dim: int, num_classes: int, image_size: int, channels: int, base_channels: int = 64):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.image_size, self.channels = image_size, channels
        stages = num_upsamples(image_size)
        self.base_size = image_size // 2**stages
        widths = stage_widths(base_channels, stages)
        self.project = nn.Linear(z_dim, widths[0] * self.base_size**2)
        self.blocks = nn.ModuleList(
            GeneratorBlock(widths[i], widths[i + 1], num_classes) for i in range(stages)
        )
        self.to_image = nn.Sequential(
            nn.BatchNorm2d(widths[-1]), nn.ReLU(), nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(len(z), -1, self.base_size, self.base_size)
        for block in self.blocks:
            h = block(h, y)
        return self.to_image(h)
