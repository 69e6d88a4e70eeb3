"""What a stage leaves behind when its arrays live in files: paths and small values, typed.

The flow passes these between tasks (Prefect hashes and stores task results; arrays would cost
that on every call); ``summary.run_result`` reads them into the run's result.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gan_aug.sampling import ClassGeneration
from gan_aug.stages.gans import ClassSampler


@dataclass(frozen=True)
class SourceRecord:
    """The loaded source, snapshotted into the run folder, and what loading it found."""

    path: str
    format: str
    skipped: list[str]  # unreadable files left out (data.skip_unreadable)
    warnings: list[str]


@dataclass(frozen=True)
class SplitRecord:
    paths: dict[str, str]  # "train", "val", "test" → the saved ImageSet
    sizes: dict[str, int]
    image_shape: list[int]  # C, H, W


@dataclass(frozen=True)
class GeneratedClass:
    """One class's generation: where its accepted rows are, what it cost, which weights made it and where."""

    path: str
    rows: int  # accepted rows kept: the class's need, or fewer when the budget ran out
    stats: ClassGeneration  # without the rejected examples (saved beside the rows, for the report)
    sampler: ClassSampler
    worker: str | None = None  # host:pid: which worker of a cluster made it
    device: str | None = None

    @classmethod
    def of(cls, path: str, rows: int, stats: ClassGeneration, sampler: ClassSampler, **where: str) -> "GeneratedClass":
        return cls(path, rows, dataclasses.replace(stats, rejected={}), sampler, **where)

    @property
    def label(self) -> int:
        return self.stats.label

    def to_dict(self, dropped: bool = False) -> dict:
        """metrics.json's generation fields for the class; a class FD acceptance dropped used none of its rows."""
        return {**self.stats.to_dict(), "path": self.path, "used": 0 if dropped else self.rows,
                "generator_step": self.sampler.step,
                "generator_sha256": self.sampler.sha256, "worker": self.worker, "device": self.device}
