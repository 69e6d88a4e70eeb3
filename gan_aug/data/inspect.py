"""What `gan-aug inspect` reports: counts, imbalance, sizes and modes, every problem, the run's targets.

Inspection reports problems instead of stopping at the first: unreadable files are listed and
small classes are flagged with what a run would do about them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gan_aug.config import DataConfig
from gan_aug.data.analysis import analyse
from gan_aug.data.labels import enforce_min_count, to_image_set
from gan_aug.data.load import make_splits, read_raw
from gan_aug.progress import Progress


@dataclass
class Inspection:
    source: str
    format: str
    from_cache: bool
    image_shape: tuple[int, ...]  # C×H×W after the configured conversion
    formats: dict[str, int]  # "W×H MODE" as stored → count
    class_names: tuple[str, ...]
    counts: tuple[int, ...]  # all images per class
    train_counts: dict[str, int]  # per class in the training split a run would use
    targets: dict[str, int]  # per class: rows after balancing
    imbalance_ratio: float
    problems: list[str] = field(default_factory=list)


def inspect_source(
    config: DataConfig, target_count: int | None = None, progress: Progress | None = None
) -> Inspection:
    """Load as a run would, but collect problems; fatal ones (missing path, bad schema) still raise."""
    lenient = config.model_copy(update={"skip_unreadable": True, "small_class_policy": "skip"})
    raw, fmt, from_cache = read_raw(lenient, progress)
    data = to_image_set(raw, config.source)
    problems = [f"unreadable (a run stops unless data.skip_unreadable: true): {p}" for p in raw.problems]
    usable, dropped = enforce_min_count(data, config.min_images_per_class, "skip", config.source)
    if dropped:
        outcome = "a run stops" if config.small_class_policy == "error" else "a run skips them"
        problems += [f"{message} ({outcome}; see data.min_images_per_class)" for message in dropped]
    balance = analyse(make_splits(usable, config).train, target_count)
    return Inspection(
        source=config.source, format=fmt, from_cache=from_cache, image_shape=tuple(data.images.shape[1:]),
        formats=dict(raw.formats), class_names=data.class_names, counts=tuple(int(c) for c in data.class_counts()),
        train_counts=dict(zip(balance.class_names, balance.counts)),
        targets=dict(zip(balance.class_names, balance.targets)),
        imbalance_ratio=max(data.class_counts()) / max(min(data.class_counts()), 1), problems=problems,
    )
