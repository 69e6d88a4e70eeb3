"""The run's typed result (gan_aug.run_result) built once from the stages' results; metrics.json is its
serialisation, and the report, the Prefect artifacts and benchmarks all read it."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from gan_aug.config import AugmentConfig, FilterConfig
from gan_aug.filters.registry import filters
from gan_aug.metrics.per_class import QUALITY_KEYS
from gan_aug.run_result import (
    ClassResult,
    DatasetInfo,
    FilterSettings,
    MixResult,
    RunInfo,
    RunResult,
    Shards,
    Training,
    UsefulnessOverall,
)

if TYPE_CHECKING:
    from gan_aug.mix.policy import MixChoice
    from gan_aug.stages.acceptance import AcceptanceReport
    from gan_aug.stages.records import GeneratedClass, SourceRecord, SplitRecord
    from gan_aug.stages.usefulness import Usefulness
    from gan_aug.train import TrainResult

TRAINING_KEYS = ("sha256", "steps", "seconds", "resumed_from", "stopped_early", "stop_reason", "train_seconds",
                 "budget", "best", "history", "quality_history")


def class_results(balance: dict, generations: dict[int, dict], quality: dict[int, dict], acceptance: dict[int, str],
                  shipped: dict[int, dict]) -> list[ClassResult]:
    """Per class: real count, target, what was generated and passed each filter, what shipped (synthetic rows
    ``used``, ``duplicates``), usefulness, and the sample quality with its FD acceptance status.

    ``generations`` and ``quality`` hold only synthesised classes; ``shipped`` maps every label to its
    usefulness and mix fields (``shipped_per_class``)."""
    entries = []
    for label, name in enumerate(balance["class_names"]):
        gen, ships = generations.get(label, {}), shipped[label]
        real = balance["counts"][label]
        entries.append(ClassResult(
            label=label, name=name, real=real, target=balance["targets"][label], needed=balance["needed"][label],
            asked=gen.get("needed", 0), generated=gen.get("generated", 0), accepted=gen.get("accepted", 0),
            **ships, d_threshold=gen.get("d_threshold"), generator_step=gen.get("generator_step"),
            generator_sha256=gen.get("generator_sha256"), worker=gen.get("worker"), device=gen.get("device"),
            funnel=gen.get("funnel"), filters=gen.get("filters"), gave_up=gen.get("gave_up"),
            acceptance=acceptance.get(label),
            final=real + ships["used"] + ships["duplicates"],
            **{key: quality.get(label, {}).get(key) for key in QUALITY_KEYS}))
    return entries


def training_summary(strategy: str, runs: dict[str, dict], generator: str = "gan") -> Training:
    """The strategy, the generator, and per trained model ('shared' or a class label) its steps, time, loss
    history, FD checks and the step whose weights each class is sampled from."""
    return Training(strategy=strategy, generator=generator, runs={name: {key: run[key] for key in TRAINING_KEYS}
                                             for name, run in runs.items()})


def filter_summary(config: FilterConfig, acceptance: dict[int, str]) -> FilterSettings:
    """The order, every registered filter's settings, the FD policy, and which classes it flagged or dropped."""
    by_status = lambda status: sorted(int(k) for k, v in acceptance.items() if v == status)  # noqa: E731
    settings = {setting: getattr(config, setting) for spec in filters().values() for setting in spec.settings}
    return FilterSettings(order=list(config.filters), settings=settings, extractor=config.extractor,
                          fd_policy=config.fd_policy, fd_max_ratio=config.fd_max_ratio, fd_min_real=config.fd_min_real,
                          flagged=by_status("flagged"), dropped=by_status("dropped"), unjudged=by_status("unjudged"))


def shipped_per_class(usefulness: "Usefulness", choice: "MixChoice", manifest: dict) -> dict[int, dict]:
    """Per class: what shipped in the train split (from the manifest) and the usefulness measures."""
    train, names = manifest["splits"]["train"], manifest["class_names"]
    return {label: {"used": train["synthetic_counts"][name], "duplicates": train["duplicate_counts"][name],
                    "dose": choice.doses.get(label), "label_agreement": usefulness.label_agreement.get(label),
                    "filter_val_recall": usefulness.filter_val_recall[label],
                    "real_recall": None if usefulness.real_recall is None else usefulness.real_recall[label],
                    "cas": None if usefulness.cas is None else usefulness.cas[label]}
            for label, name in enumerate(names)}


def run_result(*, config: AugmentConfig, source: "SourceRecord", balance: dict, split: "SplitRecord",
               runs: dict[str, "TrainResult"], generations: list["GeneratedClass"], acceptance: "AcceptanceReport",
               usefulness: "Usefulness", choice: "MixChoice", manifest: dict, downstream: dict, device: str,
               duration_s: float) -> RunResult:
    """The run's result from the stages' results; ``runs`` maps 'shared' or a class label to its GAN's training."""
    dropped = set(acceptance.dropped)
    by_class = {g.label: g.to_dict(dropped=g.label in dropped) for g in generations}
    training = training_summary(config.gan.strategy, {key: run.to_dict() for key, run in runs.items()},
                                config.gan.generator)
    shards = shards_summary(manifest)
    overall = usefulness.to_dict()
    return RunResult(
        run=RunInfo(name=config.name, config_hash=config.section_hash(),
                    generator_sha256=training.runs["shared"].sha256 if "shared" in training.runs else None,
                    device=device, duration_s=round(duration_s, 2),
                    created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
        dataset=DatasetInfo(
            source=config.data.source, format=source.format, class_names=list(balance["class_names"]),
            image_shape=split.image_shape, imbalance_ratio=round(balance["imbalance_ratio"], 3),
            target_count=max(balance["targets"]), splits=split.sizes, skipped_unreadable=len(source.skipped),
            skipped_files=source.skipped[:1000], warnings=source.warnings),
        classes=class_results(balance, by_class, acceptance.quality, acceptance.status,
                              shipped_per_class(usefulness, choice, manifest)),
        training=training,
        filters=filter_summary(config.filter, acceptance.status),
        downstream=downstream,
        usefulness=UsefulnessOverall(**{key: overall[key] for key in ("cas_overall", "real_overall", "cas_samples")}),
        mix=MixResult(**{k: v for k, v in choice.to_dict().items() if k != "headroom"},
                      min_agreement=config.mix.min_agreement, confidence=config.mix.confidence,
                      seeds=config.mix.seeds,
                      steps=config.mix.steps or downstream["classifier"]["steps"], shipped=shards.synthetic_rows > 0),
        shards=shards,
        headroom=choice.headroom,
    )


def provenance(config: AugmentConfig) -> dict:
    """What the manifest records about how its rows were made (the writer adds package versions)."""
    return {"config_hash": config.results_hash(), "name": config.name, "source": config.data.source,
            "seeds": {"split": config.data.split_seed,
                      "long_tail": config.data.long_tail.seed if config.data.long_tail else None,
                      "gan": config.gan.seed, "generate": config.generate.seed, "evaluate": config.evaluate.seed}}


def shards_summary(manifest: dict) -> Shards:
    """The manifest's totals, files and provenance (the training split's counts at the top)."""
    train = manifest["splits"]["train"]
    keys = ("rows", "real_rows", "synthetic_rows", "duplicate_rows", "shards")
    return Shards(
        num_shards=len(manifest["shards"]), rows=train["rows"], real_rows=train["real_rows"],
        synthetic_rows=train["synthetic_rows"], duplicate_rows=train["duplicate_rows"],
        splits={name: {k: s[k] for k in keys} for name, s in manifest["splits"].items()},
        files=[{k: e[k] for k in ("file", "split", "rows", "bytes", "sha256")} for e in manifest["shards"]],
        image_folder=manifest["image_folder"],
        provenance={**manifest["provenance"], "generator_sha256": manifest["generator_sha256"],
                    "generators": manifest["generators"]},
    )
