"""The domain feature extractor: a classifier trained on the real training split, used by its embedding.

Inception weights cannot be downloaded here, and ImageNet features suit scans and digits
poorly anyway; an embedding learned on the user's own real data measures what matters.
"""
from __future__ import annotations

from pathlib import Path

import torch

from gan_aug.checkpoint import CheckpointError, save_checkpoint
from gan_aug.classify import train_classifier
from gan_aug.data.imageset import ImageSet
from gan_aug.data.resample import random_oversample
from gan_aug.models.classifier import SmallCNN
from gan_aug.models.diffaugment import translation


def train_domain_extractor(
    train: ImageSet, *, steps: int, seed: int = 0, device: torch.device | str = "cpu"
) -> SmallCNN:
    """Trained class-balanced (rare rows oversampled, every batch shifted a little), so rare classes shape
    the embedding and the label filter judges them on balanced evidence, not on long-tailed priors."""
    balanced = random_oversample(train, seed)
    return train_classifier(balanced.images, balanced.labels, train.num_classes, steps=steps, seed=seed,
                            device=device, model="small_cnn", augment=shift_batch)


def shift_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shifts of up to 1/8 of the size, the border repeated: the same image never looks quite the same."""
    return translation(x, generator, ratio=0.125, edge=True)


def save_extractor(model: SmallCNN, path: str | Path) -> Path:
    state = {"num_classes": model.num_classes, "channels": model.features[0].in_channels,
             "state_dict": model.state_dict()}
    return save_checkpoint(path, state)  # in memory first: a full disk then gets a clear DiskFullError


def load_extractor(path: str | Path, device: torch.device | str = "cpu") -> SmallCNN:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model = SmallCNN(state["num_classes"], channels=state["channels"])
        model.load_state_dict(state["state_dict"])
    except Exception as error:  # noqa: BLE001 - torch raises many types for a corrupt or mismatched file
        raise CheckpointError(f"{path}: cannot load the feature extractor ({error}); delete it to retrain") from None
    return model.to(device).eval()
