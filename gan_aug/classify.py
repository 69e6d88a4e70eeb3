"""Train and apply a classifier on uint8 image arrays: the one training loop behind the downstream
evaluation (evaluate.runner.fit_method), the mix chosen on validation, CAS, and the domain feature
extractor (metrics.domain_classifier.train_domain_extractor), which only choose its rows and settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from gan_aug.batched import batched, module_device
from gan_aug.device import autocast, fast_dtype, to_model_input
from gan_aug.models.classifier import SmallCNN, build_classifier
from gan_aug.progress import Progress

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


@dataclass
class EarlyStop:
    """Stop training when validation balanced accuracy has not improved for ``patience`` checks, one
    every ``every`` steps, and keep the best weights: a fixed step count either stops before the
    classifier has learnt what the rows can teach or lets duplicated rows overfit past its best.

    After training, ``steps_run`` is how many steps ran and ``best_step`` the step whose weights were kept
    (0: the last step's, when no check ran)."""

    images: np.ndarray
    labels: np.ndarray
    every: int
    patience: int
    min_delta: float = 0.0
    steps_run: int = field(default=0, init=False)
    best_step: int = field(default=0, init=False)
    best_score: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        if self.every < 1 or self.patience < 1:
            raise ValueError(f"early stop needs every >= 1 and patience >= 1, got {self.every} and {self.patience}")
        if len(self.images) == 0:
            raise ValueError("early stop needs validation images")

    def score(self, model: nn.Module) -> float:
        """Balanced accuracy on the validation rows."""
        return balanced_accuracy(predict(model, self.images) == self.labels, self.labels)


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    steps: int,
    model: str | nn.Module = "small_cnn",
    width: int = 32,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    class_weights: np.ndarray | None = None,
    sample_weights: np.ndarray | None = None,
    late_rows: np.ndarray | None = None,
    late_from: float = 0.0,
    progress: Progress | None = None,
    augment: BatchAugment | None = None,
    schedule: str = "constant",
    stop: EarlyStop | None = None,
) -> nn.Module:
    """Fixed-step Adam training with seeded batches, so methods compared on the same budget are fair.

    ``model`` is an architecture name (``models.classifier.CLASSIFIERS``; ``width`` for the SmallCNN),
    built after seeding so the seed fixes the initial weights too, or a built network trained as it is
    (its initial weights are the caller's);
    ``class_weights`` weigh the loss per class, ``sample_weights`` per row (1 = a real row's weight);
    ``late_rows`` (a mask) are drawn only after the first ``late_from`` of the steps (deferred rows);
    ``augment`` transforms every batch (ordinary augmentation); ``progress`` hears every 100th step
    and the last, with the batch's ``loss``; ``schedule="onecycle"`` warms the
    learning rate up to ``lr`` and anneals it, which reaches a given accuracy in fewer steps.
    ``stop`` ends training once validation stops improving and returns the best weights (``steps`` is
    then the cap); it records the steps used. Training runs in bf16 autocast where the hardware
    computes in it natively (``device.fast_dtype``).
    """
    if len(images) == 0:
        raise ValueError("cannot train a classifier on an empty set")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose from {list(SCHEDULES)}")
    device = torch.device(device)
    torch.manual_seed(seed)
    if isinstance(model, str):
        model = build_classifier(model, num_classes, images.shape[1], width)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
                 if schedule == "onecycle" else None)
    loss_fn = _WeightedLoss(class_weights, sample_weights, device)
    x_all = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    draw = _RowSampler(len(x_all), min(batch_size, len(x_all)), seed, late_rows, int(late_from * steps))
    augment_rng = torch.Generator(device=device).manual_seed(seed + 1)
    dtype = fast_dtype(device)
    model.train()
    best, since_best = None, 0
    for step in range(1, steps + 1):
        rows = draw(step).to(device)
        x = to_model_input(x_all[rows]).contiguous(memory_format=torch.channels_last)
        if augment is not None:
            x = augment(x, augment_rng)
        with autocast(device, dtype):
            logits = model(x)
        loss = loss_fn(logits.float(), y_all[rows], rows)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if progress is not None and (step % 100 == 0 or step == steps):
            progress(step, steps, loss=loss.item())
        if stop is not None and (step % stop.every == 0 or step == steps):
            stop.steps_run, score = step, stop.score(model)
            model.train()
            if score > stop.best_score + stop.min_delta:
                stop.best_score, stop.best_step, since_best = score, step, 0
                best = {key: value.detach().clone() for key, value in model.state_dict().items()}
            else:
                since_best += 1
                if since_best >= stop.patience:
                    break
    if best is not None:
        model.load_state_dict(best)
    return model.eval()


class _WeightedLoss:
    """Cross-entropy weighted per class and per row: sum(w_class · w_row · loss) / sum(w_class) over the
    batch, which is PyTorch's class-weighted mean when every row weighs 1."""

    def __init__(self, class_weights: np.ndarray | None, sample_weights: np.ndarray | None, device: torch.device):
        as_tensor = lambda w: None if w is None else torch.as_tensor(w, dtype=torch.float32, device=device)  # noqa: E731
        self.class_weights, self.sample_weights = as_tensor(class_weights), as_tensor(sample_weights)

    def __call__(self, logits: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        losses = nn.functional.cross_entropy(logits, y, reduction="none")
        per_class = self.class_weights[y] if self.class_weights is not None else torch.ones_like(losses)
        per_row = self.sample_weights[rows] if self.sample_weights is not None else 1.0
        return (losses * per_class * per_row).sum() / per_class.sum()


class _RowSampler:
    """Seeded batches of row indices, drawn with replacement; ``late`` rows only from step ``late_step`` on."""

    def __init__(self, rows: int, batch_size: int, seed: int, late: np.ndarray | None, late_step: int):
        self.rows, self.batch_size, self.late_step = rows, batch_size, late_step
        self.rng = torch.Generator(device="cpu").manual_seed(seed)
        early = None if late is None or not np.any(late) else np.flatnonzero(~np.asarray(late, dtype=bool))
        self.early = None if early is None or late_step <= 0 else torch.from_numpy(early)
        if self.early is not None and len(self.early) == 0:
            raise ValueError("every row is deferred (late_rows): nothing to train on before late_from")

    def __call__(self, step: int) -> torch.Tensor:
        if self.early is not None and step <= self.late_step:
            return self.early[torch.randint(len(self.early), (self.batch_size,), generator=self.rng)]
        return torch.randint(self.rows, (self.batch_size,), generator=self.rng)


def balanced_accuracy(correct: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present of the share correct (per image: right or not, or a share of seeds):
    scikit-learn's balanced accuracy, without its warning for predicted classes absent from ``labels``."""
    return float(np.mean([correct[labels == k].mean() for k in np.unique(labels)]))


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
