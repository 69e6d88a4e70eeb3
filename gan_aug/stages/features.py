"""The domain classifier: trained once on the real training rows, then read at its embedding by the
FD checks during training, the label and memorisation filters, and the FD/KID metrics."""
from __future__ import annotations

from pathlib import Path

import torch

from gan_aug.config import FilterConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.metrics.domain_classifier import load_extractor, save_extractor, train_domain_extractor
from gan_aug.metrics.extractors import InceptionWeightsMissing, inception_weights_available
from gan_aug.models.classifier import SmallCNN


def domain_model(train: ImageSet, steps: int, *, seed: int = 0, device: torch.device | str = "cpu",
                 path: str | Path | None = None) -> SmallCNN:
    """Train it, or load it from ``path`` when an earlier run saved it there (then it is saved there)."""
    if path is not None and Path(path).exists():
        return load_extractor(path, device)
    model = train_domain_extractor(train, steps=steps, seed=seed, device=device)
    if path is not None:
        save_extractor(model, path)
    return model


def check_extractor(filters: FilterConfig) -> None:
    """Fail before hours of training, not after, when the chosen extractor's weights are not on disk."""
    if filters.extractor == "inception" and inception_weights_available(filters.inception_weights) is None:
        raise InceptionWeightsMissing(
            f"filter.extractor is 'inception' but no weights file was found at "
            f"{filters.inception_weights or 'the torch hub cache'} (nothing is downloaded); set "
            "filter.inception_weights to a local copy or use filter.extractor: domain")
