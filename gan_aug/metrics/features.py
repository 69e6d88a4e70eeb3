"""The domain feature extractor: a classifier trained on the real training split, used by its embedding.

Inception weights cannot be downloaded here, and ImageNet features suit scans and digits
poorly anyway; an embedding learned on the user's own real data measures what matters.
"""
from __future__ import annotations

from pathlib import Path

import torch

from gan_aug.checkpoint import CheckpointError
from gan_aug.classify import balanced_class_weights, train_classifier
from gan_aug.data.imageset import ImageSet
from gan_aug.checkpoint import save_checkpoint
from gan_aug.models.classifier import SmallCNN


def train_domain_extractor(
    train: ImageSet, *, steps: int, seed: int = 0, device: torch.device | str = "cpu"
) -> SmallCNN:
    """Class-weighted so rare classes shape the embedding too."""
    return train_classifier(
        train.images, train.labels, train.num_classes, steps=steps, seed=seed, device=device,
        class_weights=balanced_class_weights(train.class_counts()),
    )


def save_extractor(model: SmallCNN, path: str | Path) -> Path:
    state = {"num_classes": model.num_classes, "channels": model.features[0].in_channels,
             "state_dict": model.state_dict()}
    return save_checkpoint(path, state)  # in memory first: a full disk then gets a clear DiskFullError


def load_extractor(path: str | Path, device: torch.device | str = "cpu") -> SmallCNN:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model = SmallCNN(state["num_classes"], channels=state["channels"])
        model.load_state_dict(state["state_dict"])
    except Exception as error:
        raise CheckpointError(f"{path}: cannot load the feature extractor ({error}); delete it to retrain") from None
    return model.to(device).eval()
