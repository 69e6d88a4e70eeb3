"""The result of a run, typed: what the report, the CLI summary, the Prefect artifacts and benchmarks read.

metrics.json is its serialisation (``to_json`` / ``read``). Decisions are stored, not recomputed by
readers: each comparison carries its outcome (gan_aug.evaluate decided it from the interval) and the mix
says whether synthetic rows shipped. Models are frozen and forbid unknown keys, so a reader and the
writer cannot drift apart silently; ``SCHEMA_VERSION`` changes whenever the layout does.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gan_aug.headroom import Headroom
from gan_aug.io import atomic_write_text

SCHEMA_VERSION = 2  # 2: headroom
Outcome = Literal["win", "tie", "loss", "unknown"]  # unknown: one seed, so no interval and no claim
Interval = tuple[float, float]


class SchemaVersionError(ValueError):
    """A metrics.json written by another layout: reading it field by field would misreport it."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunInfo(_Frozen):
    name: str
    config_hash: str
    generator_sha256: str | None  # the shared GAN's checkpoint; per-class GANs: see shards.provenance.generators
    device: str
    duration_s: float
    created: str


class DatasetInfo(_Frozen):
    source: str
    format: str
    class_names: list[str]
    image_shape: list[int]
    imbalance_ratio: float
    target_count: int
    splits: dict[str, int]
    skipped_unreadable: int  # unreadable files left out (data.skip_unreadable): never silent
    skipped_files: list[str]  # the first 1000 of them
    warnings: list[str]


class ClassResult(_Frozen):
    """One class: counts from real to shipped, its generation funnel, usefulness and sample quality.
    Generation and quality fields are None for a class that needed no synthetic rows."""

    label: int
    name: str
    real: int
    target: int
    needed: int  # rows to reach the target
    asked: int  # synthetic rows generation aimed for (the largest dose the mix could choose)
    generated: int
    accepted: int
    used: int  # synthetic rows shipped
    duplicates: int  # real rows duplicated (flagged) up to the target
    final: int
    dose: float | None
    label_agreement: float | None
    filter_val_recall: float | None
    cas: float | None
    real_recall: float | None
    d_threshold: float | None = None
    generator_step: int | None = None  # which weights made the class (the best FD check) and where
    generator_sha256: str | None = None
    worker: str | None = None
    device: str | None = None
    funnel: dict[str, int] | None = None  # 'generated', then still kept after each filter in order
    gave_up: str | None = None  # why generation stopped before its budget (a hopeless acceptance rate)
    filters: dict[str, dict[str, Any]] | None = None  # each filter's threshold and calibration
    acceptance: Literal["ok", "flagged", "dropped", "unjudged"] | None = None
    fd: float | None = None
    fd_floor: float | None = None
    fd_ci_low: float | None = None
    fd_ci_high: float | None = None
    fd_matched: float | None = None
    fd_ratio: float | None = None
    kid: float | None = None
    kid_std: float | None = None
    kid_ci_low: float | None = None
    kid_ci_high: float | None = None
    kid_floor: float | None = None
    precision: float | None = None
    recall: float | None = None
    density: float | None = None
    coverage: float | None = None


class BestCheck(_Frozen):
    step: int
    fd: float


class QualityCheck(_Frozen):
    step: int
    fd: dict[str, float | None]  # class label (as text) → FD on held-out images
    agreement: dict[str, float] | None = None  # share of the class's samples the domain classifier recognised


class TrainBudget(_Frozen):
    steps: int | None
    seconds: float | None


class TrainingRun(_Frozen):
    sha256: str
    steps: int
    seconds: float
    resumed_from: int
    stopped_early: bool
    stop_reason: str | None  # "steps", "time budget" or "early stop"
    train_seconds: float
    budget: TrainBudget
    best: dict[str, BestCheck]  # class label (as text) → the check whose weights it is sampled from
    history: list[dict[str, int | float]]  # step, losses, images/s
    quality_history: list[QualityCheck]


class Training(_Frozen):
    strategy: Literal["shared", "per_class"]
    generator: str = "gan"  # gan.generator: the registered generator that was trained
    runs: dict[str, TrainingRun]  # 'shared' or a class label


class FilterSettings(_Frozen):
    order: list[str]
    settings: dict[str, Any]  # every registered filter's settings (plug-ins add theirs)
    extractor: str
    fd_policy: str
    fd_max_ratio: float
    fd_min_real: int
    flagged: list[int]
    dropped: list[int]
    unjudged: list[int]


class Comparison(_Frozen):
    """Seed-paired differences (ours − baseline), with the outcome gan_aug.evaluate decided from the interval."""

    mean_diff: float
    ci: Interval | None
    p_value: float | None
    per_seed: list[float]
    wins: int
    outcome: Outcome


class GANComparison(Comparison):
    """A GAN method against the best baseline in the primary metric, and in few-shot recall."""

    baseline: str
    metric: str
    few_shot_recall: Comparison | None = None


class MethodScores(_Frozen):
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    g_mean: float
    few_shot_recall: float | None = None
    ci: dict[str, Interval | None]
    per_seed: dict[str, list[float]]
    per_class_recall: list[float]
    confusion_matrix: list[list[int]]  # true class down, predicted across, summed over seeds
    train_rows: int
    seconds: float
    steps: list[int]  # per seed, the steps that ran (fewer than the cap when validation stopped the run)
    workers: list[str] = []  # per seed, host:pid of the process the run ran in (a Dask/Ray worker on a cluster)


class Classifier(_Frozen):
    model: str
    width: int
    steps: int  # the cap when patience > 0
    batch_size: int
    lr: float
    schedule: str
    patience: int  # 0: every run trained for exactly ``steps``
    check_every: int | None


class Downstream(_Frozen):
    classifier: Classifier
    seeds: list[int]
    metric: str
    few_shot_classes: list[int]
    methods: dict[str, MethodScores]
    best_baseline: str | None
    comparison: dict[str, GANComparison]
    gain: dict[str, dict[str, float]]  # '<gan>_vs_<baseline>' → differences of means


class UsefulnessOverall(_Frozen):
    cas_overall: float | None
    real_overall: float | None
    cas_samples: int  # per class


class CurvePoint(_Frozen):
    dose: float
    weight: float
    synthetic_rows: int
    balanced_accuracy: float
    vs_duplication: float  # the paired gain over "no synthetic rows" on validation
    duplication_se: float  # its bootstrap standard error
    clears: bool  # the gain is above zero at mix.confidence (corrected): the point may ship
    vs_top: float  # against the best point that may ship
    standard_error: float
    seeds: int  # classifier runs its score averages (fewer than mix.seeds: stopped by successive halving)
    within_noise: bool  # may ship, and within one standard error of that best
    workers: list[str] = []  # per seed run, host:pid of the process it ran in (a Dask/Ray worker on a cluster)


class MixResult(_Frozen):
    """The mix chosen on validation (or fixed), and whether any synthetic row shipped."""

    policy: Literal["validation", "fixed"]
    dose: float
    weight: float
    late_from: float
    doses: dict[int, float]
    eligible: list[int]
    reason: str
    curve: list[CurvePoint]
    min_agreement: float
    confidence: float  # the one-sided confidence a point's gain over duplication had to clear
    seeds: int
    steps: int
    shipped: bool  # synthetic rows in the training split as written

    def chosen(self, point: CurvePoint) -> bool:
        """The point the mix shipped; at dose 0 the weight does not matter (no synthetic rows to weigh)."""
        if not point.dose and not self.dose:
            return True
        return (point.dose, point.weight) == (self.dose, self.weight)


class SplitRows(_Frozen):
    rows: int
    real_rows: int
    synthetic_rows: int
    duplicate_rows: int
    shards: int


class ShardFile(_Frozen):
    file: str
    split: str
    rows: int
    bytes: int
    sha256: str


class ImageFolder(_Frozen):
    root: str
    files: int
    checksums: str
    sha256: str
    layout: str


class ShardProvenance(_Frozen):
    """What produced the shards: the manifest's provenance, generator checkpoints and package versions."""

    config_hash: str
    name: str
    source: str
    seeds: dict[str, int | None]
    packages: dict[str, str | None]
    content_key: str
    generator_sha256: str | None
    generators: dict[str, str]  # class name → its generator checkpoint


class Shards(_Frozen):
    num_shards: int
    rows: int  # the training split's, at the top
    real_rows: int
    synthetic_rows: int
    duplicate_rows: int
    splits: dict[str, SplitRows]
    files: list[ShardFile]
    image_folder: ImageFolder | None
    provenance: ShardProvenance


class RunResult(_Frozen):
    schema_version: int = SCHEMA_VERSION
    run: RunInfo
    dataset: DatasetInfo
    classes: list[ClassResult]
    training: Training
    filters: FilterSettings
    downstream: Downstream
    usefulness: UsefulnessOverall
    mix: MixResult
    shards: Shards
    headroom: Headroom | None  # the real rows' learning curve and the synthetic rows' worth; None: not measured

    def class_name(self, label: int | str) -> str:
        """A class's name from its label (JSON keys hold labels as text)."""
        return self.dataset.class_names[int(label)]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def write(self, path: str | Path) -> Path:
        """metrics.json, written atomically."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def from_json(cls, text: str, source: str = "metrics.json") -> "RunResult":
        """Parse a serialised result; another schema version raises SchemaVersionError naming ``source``."""
        payload = json.loads(text)
        found = payload.get("schema_version") if isinstance(payload, dict) else None
        if found != SCHEMA_VERSION:
            raise SchemaVersionError(f"{source} has schema version {found if found is not None else '(missing)'}, "
                                     f"this gan-aug reads version {SCHEMA_VERSION}: re-run the pipeline to rewrite it")
        return cls.model_validate(payload)

    @classmethod
    def read(cls, path: str | Path) -> "RunResult":
        return cls.from_json(Path(path).read_text(encoding="utf-8"), source=str(path))
