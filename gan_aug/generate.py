"""Sample a class from the generator and keep what the filters let through, making up for rejections.

Every sample has its own latent seed, so (checkpoint, label, seed) regenerates it exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gan_aug.device import to_uint8
from gan_aug.filters import Candidates, FilterChain
from gan_aug.io import atomic_write
from gan_aug.models.discriminator import Discriminator
from gan_aug.models.generator import Generator
from gan_aug.synthetic import SyntheticSet

ProgressFn = Callable[[int, int, int], None]  # (accepted, needed, generated)
# Which SyntheticSet column keeps which filter's per-row score (the discriminator's is d_scores).
SCORE_OF_FILTER = {"label": "label_probs", "memorisation": "nn_distances"}


@dataclass(frozen=True)
class ClassGeneration:
    """What generating one class cost and yielded, for metrics.json."""

    label: int
    needed: int
    generated: int
    accepted: int  # passed every filter (the rows kept are the first ``needed`` of them)
    funnel: dict[str, int]  # "generated", then each filter in order: how many were still kept after it
    filters: dict[str, dict]  # each filter's calibration
    rejected: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # a few examples per filter

    @property
    def d_threshold(self) -> float | None:
        return self.filters.get("discriminator", {}).get("threshold")

    def to_dict(self) -> dict:
        return {"label": self.label, "needed": self.needed, "generated": self.generated, "accepted": self.accepted,
                "funnel": self.funnel, "filters": self.filters, "d_threshold": self.d_threshold}


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
    chain: FilterChain,
    generator_sha256: str,
    batch_size: int,
    budget_factor: float,
    seed: int,
    model_label: int | None = None,
    progress: ProgressFn | None = None,
    keep_rejected: int = 16,
) -> tuple[SyntheticSet, ClassGeneration]:
    """Generate in batches, filter each batch through ``chain``, until ``needed`` samples pass or
    the budget (``budget_factor × needed`` generated samples) is spent.

    Memory stays bounded: only accepted rows (at most ``needed`` plus one batch) and
    ``keep_rejected`` examples per filter are held. ``model_label`` is the class as the networks
    know it when that differs from ``label`` (a per-class GAN is trained with the single label 0).
    """
    condition = label if model_label is None else model_label
    budget = math.ceil(needed * budget_factor)
    kept: list[SyntheticSet] = []
    generated = accepted = 0
    survivors = np.zeros(len(chain.filters), dtype=np.int64)
    rejected: dict[str, list[np.ndarray]] = {name: [] for name in chain.names}
    while accepted < needed and generated < budget:
        seeds = sample_seeds(seed, label, generated, min(batch_size, budget - generated))
        images, d_scores = sample_class(generator, discriminator, condition, seeds)
        result = chain.apply(Candidates(label, images, d_scores))
        survivors += np.asarray(result.survivors, dtype=np.int64)
        for index, name in enumerate(chain.names):
            held = sum(len(r) for r in rejected[name])
            if held < keep_rejected:
                rejected[name].append(images[result.first_rejection == index][: keep_rejected - held])
        if result.keep.any():
            scores = {column: result.scores[name][result.keep] for name, column in SCORE_OF_FILTER.items()
                      if name in result.scores}  # a filter that is off leaves its column NaN
            kept.append(SyntheticSet(images[result.keep], np.full(int(result.keep.sum()), label, np.int64),
                                     d_scores[result.keep], seeds[result.keep], generator_sha256, **scores))
        generated += len(seeds)
        accepted += int(result.keep.sum())
        if progress is not None:
            progress(min(accepted, needed), needed, generated)
    funnel = {"generated": generated, **dict(zip(chain.names, survivors.tolist()))}
    stats = ClassGeneration(label, needed, generated, accepted, funnel, chain.describe(),
                            {name: np.concatenate(parts) for name, parts in rejected.items() if parts})
    shape = (generator.channels, generator.image_size, generator.image_size)
    synthetic = SyntheticSet.concat(kept) if kept else SyntheticSet.empty(shape, generator_sha256)
    return synthetic.select(np.arange(min(len(synthetic), needed))), stats


def save_rejected(path: str | Path, rejected: dict[str, np.ndarray]) -> Path:
    """A few rejected samples per filter, for the report's grids."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **rejected)

    return atomic_write(path, write)


def load_rejected(path: str | Path) -> dict[str, np.ndarray]:
    if not Path(path).is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
