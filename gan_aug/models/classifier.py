"""A small CNN classifier: the downstream model and, through ``embed``, the domain feature extractor."""
from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head; works from 8×8 up, any channel count."""

    def __init__(self, num_classes: int, channels: int = 1, width: int = 32, embed_dim: int = 64):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            # Pooling to a fixed 2×2 makes the head independent of the input size.
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * width, embed_dim), nn.ReLU(),
        )
        self.head = nn.Linear(embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the space Fréchet distances are measured in."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


CLASSIFIERS = ("small_cnn", "resnet18")


def resnet18_small(num_classes: int, channels: int = 1) -> nn.Module:
    """torchvision's ResNet-18 for small images: a 3×3 stride-1 stem and no max-pool, the usual
    CIFAR adaptation, so a 28×28 image is not reduced to 7×7 before the first residual block."""
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def build_classifier(name: str, num_classes: int, channels: int, width: int = 32) -> nn.Module:
    """The downstream classifier a config names (``evaluate.model``)."""
    if name == "small_cnn":
        return SmallCNN(num_classes, channels=channels, width=width)
    if name == "resnet18":
        return resnet18_small(num_classes, channels)
    raise ValueError(f"unknown classifier {name!r}; choose from {list(CLASSIFIERS)}")
