"""Train and apply a classifier on uint8 image arrays (downstream evaluation and the feature extractor)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from gan_aug.batched import batched, module_device
from gan_aug.device import to_model_input
from gan_aug.models.classifier import SmallCNN

ProgressFn = Callable[[int, int, float], None]  # (step, total_steps, loss)
# (batch in model input scale, random generator on the batch's device) -> augmented batch
BatchAugment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
SCHEDULES = ("constant", "onecycle")


def balanced_class_weights(counts: np.ndarray) -> np.ndarray:
    """n / (K · n_c) per class (scikit-learn's "balanced"): every class carries the same total loss.
    Empty classes get weight 0 (nothing to weigh)."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    class_weights: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    build_model: Callable[[], nn.Module] | None = None,
    augment: BatchAugment | None = None,
    schedule: str = "constant",
) -> nn.Module:
    """Fixed-step Adam training with seeded batches, so methods compared on the same budget are fair.

    ``build_model`` makes the network (default: a SmallCNN); it is called after seeding, so the seed
    fixes the initial weights too;
    ``augment`` transforms every batch (ordinary augmentation); ``schedule="onecycle"`` warms the
    learning rate up to ``lr`` and anneals it, which reaches a given accuracy in fewer steps.
    """
    if len(images) == 0:
        raise ValueError("cannot train a classifier on an empty set")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose from {list(SCHEDULES)}")
    device = torch.device(device)
    torch.manual_seed(seed)
    model = (build_model() if build_model is not None else SmallCNN(num_classes, channels=images.shape[1])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
                 if schedule == "onecycle" else None)
    weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    x_all = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    rng = torch.Generator(device="cpu").manual_seed(seed)
    augment_rng = torch.Generator(device=device).manual_seed(seed + 1)
    model.train()
    for step in range(1, steps + 1):
        rows = torch.randint(len(x_all), (min(batch_size, len(x_all)),), generator=rng).to(device)
        x = to_model_input(x_all[rows])
        if augment is not None:
            x = augment(x, augment_rng)
        loss = loss_fn(model(x), y_all[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if progress is not None and (step % 100 == 0 or step == steps):
            progress(step, steps, loss.item())
    return model.eval()


def predict_proba(model: nn.Module, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    model.eval()
    return batched(lambda x: torch.softmax(model(to_model_input(x)).float(), dim=1), images, batch_size,
                   module_device(model))


def predict(model: nn.Module, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    return predict_proba(model, images, batch_size).argmax(axis=1).astype(np.int64)


def embed(model: SmallCNN, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Feature vectors (float64, for stable covariance estimates)."""
    model.eval()
    features = batched(lambda x: model.embed(to_model_input(x)), images, batch_size, module_device(model))
    return features.astype(np.float64)
