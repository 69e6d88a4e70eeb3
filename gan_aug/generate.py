"""Sample a class from the generator and keep what the discriminator finds realistic.

Every sample has its own latent seed, so (checkpoint, label, seed) regenerates it exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from gan_aug.device import to_uint8
from gan_aug.filters import discriminator_threshold
from gan_aug.models.discriminator import Discriminator
from gan_aug.models.generator import Generator
from gan_aug.synthetic import SyntheticSet

ProgressFn = Callable[[int, int, int], None]  # (accepted, needed, generated)


@dataclass(frozen=True)
class ClassGeneration:
    """What generating one class cost and yielded, for metrics.json."""

    label: int
    needed: int
    generated: int
    accepted: int
    d_threshold: float | None


def sample_seeds(base_seed: int, label: int, start: int, count: int) -> np.ndarray:
    """Distinct, readable seeds per (run seed, class, index): no two samples share a latent."""
    return base_seed * 10**12 + label * 10**8 + np.arange(start, start + count, dtype=np.int64)


def latents(seeds: np.ndarray, z_dim: int) -> torch.Tensor:
    return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def sample_class(
    generator: Generator, discriminator: Discriminator, label: int, seeds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 N×C×H×W) and their discriminator scores for one class, ``label`` being the
    class as the networks know it (0 for a one-class GAN)."""
    device = next(generator.parameters()).device
    z = latents(seeds, generator.z_dim).to(device)
    y = torch.full((len(seeds),), label, dtype=torch.long, device=device)
    fake = generator(z, y)
    scores = discriminator(fake, y)
    return to_uint8(fake).numpy(), scores.float().cpu().numpy()


def generate_class(
    generator: Generator,
    discriminator: Discriminator,
    label: int,
    needed: int,
    *,
    generator_sha256: str,
    batch_size: int,
    budget_factor: float,
    quantile: float,
    seed: int,
    model_label: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[SyntheticSet, ClassGeneration]:
    """Generate in batches until ``needed`` samples clear the class's score threshold or the budget ends.

    The threshold is the ``quantile`` of the first batch's scores (discriminator rejection:
    the least realistic share is dropped); the budget is ``budget_factor × needed`` samples.
    ``model_label`` is the class as the networks know it when that differs from ``label``
    (a per-class GAN is trained with the single label 0).
    """
    condition = label if model_label is None else model_label
    budget = math.ceil(needed * budget_factor)
    kept, generated, threshold = [], 0, None
    accepted = 0
    while accepted < needed and generated < budget:
        seeds = sample_seeds(seed, label, generated, min(batch_size, budget - generated))
        images, scores = sample_class(generator, discriminator, condition, seeds)
        if threshold is None:
            threshold = discriminator_threshold(scores, quantile)
        keep = scores >= threshold
        kept.append((images[keep], scores[keep], seeds[keep]))
        generated += len(seeds)
        accepted += int(keep.sum())
        if progress is not None:
            progress(min(accepted, needed), needed, generated)
    stats = ClassGeneration(label, needed, generated, accepted, threshold)
    return _collect(kept, label, needed, generator_sha256), stats


def _collect(kept: list, label: int, needed: int, generator_sha256: str) -> SyntheticSet:
    """Concatenate accepted batches and keep the first ``needed`` (generation order: reproducible)."""
    images = np.concatenate([k[0] for k in kept])[:needed]
    scores = np.concatenate([k[1] for k in kept])[:needed].astype(np.float32)
    seeds = np.concatenate([k[2] for k in kept])[:needed]
    labels = np.full(len(images), label, dtype=np.int64)
    return SyntheticSet(images, labels, scores, seeds, generator_sha256)
