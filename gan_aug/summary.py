"""metrics.json: the one set of numbers the report, the Prefect artifacts and benchmarks all read."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from gan_aug.config import AugmentConfig, FilterConfig
from gan_aug.filters.registry import filters
from gan_aug.metrics.per_class import QUALITY_KEYS

if TYPE_CHECKING:
    from gan_aug.mix.policy import MixChoice
    from gan_aug.stages.acceptance import AcceptanceReport
    from gan_aug.stages.records import GeneratedClass, SourceRecord, SplitRecord
    from gan_aug.stages.usefulness import Usefulness
    from gan_aug.train import TrainResult


def class_entries(balance: dict, generations: dict[int, dict], quality: dict[int, dict],
                  acceptance: dict[int, str] | None = None, shipped: dict | None = None) -> list[dict]:
    """Per class: real count, target, what was generated, how many passed each filter, what shipped
    (synthetic rows ``used``, ``duplicates``), and the sample quality with its FD acceptance status.

    ``balance`` is ``ClassBalance.to_dict()``; ``generations`` and ``quality`` map a label to its
    generation stats and its ``quality_per_class`` entry (None throughout for unsynthesised classes);
    ``shipped`` maps a label to its usefulness and mix fields (synthetic and duplicated rows shipped).
    """
    acceptance, shipped = acceptance or {}, shipped or {}
    entries = []
    for label, name in enumerate(balance["class_names"]):
        gen, ships = generations.get(label, {}), shipped.get(label, {})
        real, used = balance["counts"][label], ships.get("used", gen.get("used", 0))
        entries.append({
            "label": label, "name": name, "real": real, "target": balance["targets"][label],
            "needed": balance["needed"][label], "asked": gen.get("needed", 0), "generated": gen.get("generated", 0),
            "accepted": gen.get("accepted", 0), "used": used, "duplicates": ships.get("duplicates", 0),
            "dose": ships.get("dose"), "label_agreement": ships.get("label_agreement"),
            "filter_val_recall": ships.get("filter_val_recall"), "cas": ships.get("cas"),
            "real_recall": ships.get("real_recall"), "d_threshold": gen.get("d_threshold"),
            # Which generator weights made the class: the training step (best FD check) and checkpoint.
            "generator_step": gen.get("generator_step"), "generator_sha256": gen.get("generator_sha256"),
            # Where the class was generated (host:pid and device): which worker of a cluster made it.
            "worker": gen.get("worker"), "device": gen.get("device"),
            # Sequential counts: generated, then still kept after each filter in order; and their calibration.
            "funnel": gen.get("funnel"), "filters": gen.get("filters"), "acceptance": acceptance.get(label),
            "final": real + used + ships.get("duplicates", 0),
            **{key: quality.get(label, {}).get(key) for key in QUALITY_KEYS},
        })
    return entries


TRAINING_KEYS = ("sha256", "steps", "seconds", "resumed_from", "stopped_early", "stop_reason", "train_seconds",
                 "budget", "best", "history", "quality_history")


def training_summary(strategy: str, runs: dict[str, dict]) -> dict:
    """metrics.json's ``training``: the strategy and, per trained GAN ('shared' or a class label), its
    steps, time, loss history, FD checks and the step whose weights each class is sampled from."""
    return {"strategy": strategy, "runs": {name: {key: run.get(key) for key in TRAINING_KEYS}
                                           for name, run in runs.items()}}


def filter_summary(config: FilterConfig, acceptance: dict) -> dict:
    """metrics.json's ``filters``: the order, every registered filter's settings, the FD policy, and
    which classes it flagged or dropped."""
    by_status = lambda status: sorted(int(k) for k, v in acceptance.items() if v == status)  # noqa: E731
    settings = {setting: getattr(config, setting) for spec in filters().values() for setting in spec.settings}
    return {"order": list(config.filters), **settings, "extractor": config.extractor,
            "fd_policy": config.fd_policy, "fd_max_ratio": config.fd_max_ratio, "fd_min_real": config.fd_min_real,
            "flagged": by_status("flagged"), "dropped": by_status("dropped"), "unjudged": by_status("unjudged")}


def build_metrics(
    *,
    config: AugmentConfig,
    loaded: dict,
    balance: dict,
    split_sizes: dict[str, int],
    image_shape: list[int],
    classes: list[dict],
    downstream: dict,
    manifest: dict,
    device: str,
    duration_s: float,
    training: dict,
    filters: dict,
) -> dict:
    """Assemble the run's metrics in the documented schema (README, 'metrics.json').

    ``loaded`` is the load stage's summary: format, skipped files and warnings.
    """
    return {
        "run": {
            "name": config.name, "config_hash": config.section_hash(),
            # The shared GAN's checkpoint; with per-class GANs see training.runs and manifest.generators.
            "generator_sha256": training["runs"].get("shared", {}).get("sha256"), "device": device,
            "duration_s": round(duration_s, 2),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "dataset": {
            "source": config.data.source, "format": loaded["format"],
            "class_names": list(balance["class_names"]), "image_shape": image_shape,
            "imbalance_ratio": round(balance["imbalance_ratio"], 3), "target_count": max(balance["targets"]),
            "splits": split_sizes,
            # Unreadable files left out (data.skip_unreadable) and classes dropped: never silent.
            "skipped_unreadable": len(loaded["skipped"]), "skipped_files": loaded["skipped"][:1000],
            "warnings": loaded["warnings"],
        },
        "classes": classes,
        "training": training,
        "filters": filters,
        "downstream": downstream,
        "shards": shards_summary(manifest),
    }


def shipped_per_class(usefulness: "Usefulness", choice: "MixChoice", manifest: dict) -> dict[int, dict]:
    """Per class: what shipped in the train split (from the manifest) and the usefulness measures."""
    train, names = manifest["splits"]["train"], manifest["class_names"]
    return {label: {"used": train["synthetic_counts"][name],
                    "duplicates": train.get("duplicate_counts", {}).get(name, 0),
                    "dose": choice.doses.get(label), "label_agreement": usefulness.label_agreement.get(label),
                    "filter_val_recall": usefulness.filter_val_recall[label],
                    "real_recall": None if usefulness.real_recall is None else usefulness.real_recall[label],
                    "cas": None if usefulness.cas is None else usefulness.cas[label]}
            for label, name in enumerate(names)}


def run_metrics(*, config: AugmentConfig, source: "SourceRecord", balance: dict, split: "SplitRecord",
                runs: dict[str, "TrainResult"], generations: list["GeneratedClass"], acceptance: "AcceptanceReport",
                usefulness: "Usefulness", choice: "MixChoice", manifest: dict, downstream: dict, device: str,
                duration_s: float) -> dict:
    """metrics.json from the stages' results; ``runs`` maps 'shared' or a class label to its GAN's training."""
    dropped = set(acceptance.dropped)
    by_class = {g.label: g.to_dict(dropped=g.label in dropped) for g in generations}
    classes = class_entries(balance, by_class, acceptance.quality, acceptance.status,
                            shipped_per_class(usefulness, choice, manifest))
    metrics = build_metrics(
        config=config, loaded={"format": source.format, "skipped": source.skipped, "warnings": source.warnings},
        balance=balance, split_sizes=split.sizes, image_shape=split.image_shape, classes=classes,
        downstream=downstream, manifest=manifest, device=device, duration_s=duration_s,
        training=training_summary(config.gan.strategy, {key: run.to_dict() for key, run in runs.items()}),
        filters=filter_summary(config.filter, acceptance.status),
    )
    metrics["usefulness"] = {key: value for key, value in usefulness.to_dict().items()
                             if key in ("cas_overall", "real_overall", "cas_samples")}
    metrics["mix"] = {**choice.to_dict(), "min_agreement": config.mix.min_agreement, "seeds": config.mix.seeds,
                      "steps": config.mix.steps or downstream["classifier"]["steps"]}
    return metrics


def provenance(config: AugmentConfig) -> dict:
    """What the manifest records about how its rows were made (the writer adds package versions)."""
    return {"config_hash": config.results_hash(), "name": config.name, "source": config.data.source,
            "seeds": {"split": config.data.split_seed,
                      "long_tail": config.data.long_tail.seed if config.data.long_tail else None,
                      "gan": config.gan.seed, "generate": config.generate.seed, "evaluate": config.evaluate.seed}}


def shards_summary(manifest: dict) -> dict:
    """The manifest's totals, files and provenance, for the report (training split's counts at the top)."""
    train = manifest["splits"]["train"]
    return {
        "num_shards": len(manifest["shards"]), "rows": train["rows"], "real_rows": train["real_rows"],
        "synthetic_rows": train["synthetic_rows"],
        "duplicate_rows": train.get("duplicate_rows", 0),
        "splits": {name: {k: s.get(k, 0) for k in ("rows", "real_rows", "synthetic_rows", "duplicate_rows", "shards")}
                   for name, s in manifest["splits"].items()},
        "files": [{k: e[k] for k in ("file", "split", "rows", "bytes", "sha256")} for e in manifest["shards"]],
        "image_folder": manifest.get("image_folder"),
        "provenance": {**(manifest.get("provenance") or {}), "generator_sha256": manifest.get("generator_sha256"),
                       "generators": manifest.get("generators")},
    }
