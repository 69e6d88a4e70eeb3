"""Sample a class from its generator and keep what the filters let through, making up for rejections.

Every sample has its own seed, so (generator weights, label, seed) regenerates it exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import beta

from gan_aug.filters import Candidates, FilterChain
from gan_aug.filters.registry import filters
from gan_aug.generators.base import ConditionalGenerator
from gan_aug.io import atomic_write
from gan_aug.progress import Progress
from gan_aug.synthetic import SyntheticSet


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
    gave_up: str | None = None  # why generation stopped before the budget was spent, when it did

    @property
    def d_threshold(self) -> float | None:
        return self.filters.get("discriminator", {}).get("threshold")

    def to_dict(self) -> dict:
        return {"label": self.label, "needed": self.needed, "generated": self.generated, "accepted": self.accepted,
                "funnel": self.funnel, "filters": self.filters, "d_threshold": self.d_threshold,
                "gave_up": self.gave_up}


GIVE_UP_AFTER = 4  # batches before a class may be judged hopeless


def hopeless(accepted: int, generated: int, needed: int, budget: int, share: float) -> str | None:
    """Why generating more of a class is pointless, or None: at the 95% upper (Clopper-Pearson) bound of
    its acceptance rate so far, the remaining budget would yield less than ``share`` of what it needs."""
    upper = float(beta.ppf(0.95, accepted + 1, generated - accepted)) if accepted < generated else 1.0
    remaining, still = budget - generated, needed - accepted
    if upper * remaining >= share * still:
        return None
    return (f"gave up after {generated} samples: {accepted} passed the filters, so at most {upper:.2%} would at "
            f"95% confidence, and the remaining budget of {remaining} would fill under {share:.0%} of the {still} "
            "rows still needed (generate.give_up_share)")


def sample_seeds(base_seed: int, label: int, start: int, count: int) -> np.ndarray:
    """Distinct, readable seeds per (run seed, class, index): no two samples share a latent."""
    return base_seed * 10**12 + label * 10**8 + np.arange(start, start + count, dtype=np.int64)


def generate_class(
    generator: ConditionalGenerator,
    label: int,
    needed: int,
    *,
    chain: FilterChain,
    batch_size: int,
    budget_factor: float,
    seed: int,
    progress: Progress | None = None,
    keep_rejected: int = 16,
    give_up_share: float = 0.0,
) -> tuple[SyntheticSet, ClassGeneration]:
    """Generate in batches, filter each batch through ``chain``, until ``needed`` samples pass, the
    budget (``budget_factor × needed`` generated samples) is spent, or the class is hopeless: after
    ``GIVE_UP_AFTER`` batches, even the 95% upper bound of its acceptance rate would fill less than
    ``give_up_share`` of the rows still needed with the rest of the budget (an undertrained generator
    whose every sample is rejected would otherwise run for the whole 20× budget).

    Memory stays bounded: only accepted rows (at most ``needed`` plus one batch) and
    ``keep_rejected`` examples per filter are held. A row keeps the generator's scores and each
    filter's, under the filter's score name (a filter that is off leaves its score NaN).
    """
    registered = filters()  # a chain may hold an unregistered filter (a test's); its score is not kept
    score_of = {name: registered[name].score for name in chain.names if name in registered}
    budget = math.ceil(needed * budget_factor)
    kept: list[SyntheticSet] = []
    generated = accepted = 0
    survivors = np.zeros(len(chain.filters), dtype=np.int64)
    rejected: dict[str, list[np.ndarray]] = {name: [] for name in chain.names}
    batches, gave_up = 0, None
    while accepted < needed and generated < budget:
        seeds = sample_seeds(seed, label, generated, min(batch_size, budget - generated))
        samples = generator.sample(label, seeds)
        images = samples.images
        result = chain.apply(Candidates(label, images, samples.scores))
        survivors += np.asarray(result.survivors, dtype=np.int64)
        for index, name in enumerate(chain.names):
            held = sum(len(r) for r in rejected[name])
            if held < keep_rejected:
                rejected[name].append(images[result.first_rejection == index][: keep_rejected - held])
        if result.keep.any():
            scores = {**samples.scores, **{score_of[name]: result.scores[name] for name in score_of}}
            kept.append(SyntheticSet(images[result.keep], np.full(int(result.keep.sum()), label, np.int64),
                                     seeds[result.keep], generator.sha256,
                                     {name: values[result.keep] for name, values in scores.items()}))
        generated += len(seeds)
        accepted += int(result.keep.sum())
        if progress is not None:
            progress(min(accepted, needed), needed, generated=generated)
        batches += 1
        if give_up_share > 0 and batches >= GIVE_UP_AFTER and accepted < needed and generated < budget:
            gave_up = hopeless(accepted, generated, needed, budget, give_up_share)
            if gave_up:
                break
    funnel = {"generated": generated, **dict(zip(chain.names, survivors.tolist()))}
    stats = ClassGeneration(label, needed, generated, accepted, funnel, chain.describe(),
                            {name: np.concatenate(parts) for name, parts in rejected.items() if parts}, gave_up)
    synthetic = SyntheticSet.concat(kept) if kept else SyntheticSet.empty(generator.image_shape, generator.sha256)
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
