"""The `augment` flow: load → split → analyse → features → train GAN(s) → generate and filter per class →
accept (FD policy) → shards → evaluate → report.

Tasks pass paths and small dicts, never arrays: Prefect would hash large inputs on every
call, and paths let any stage be rerun or inspected on its own. Split, generation, acceptance
and evaluation are cached by content (flows/caching.py); the other stages reuse their own outputs
(the data cache, the GAN checkpoint, the shards' content key). Stages retry transient failures
(gan_aug.transient). Per-class tasks run on the configured task runner (flows/runners.py), each
holding its GPU alone while it runs.
"""
from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path
from typing import Callable

import numpy as np
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from gan_aug import evaluate, report, shards, summary
from gan_aug.checkpoint import load_sampler
from gan_aug.config import AugmentConfig, demo_config
from gan_aug.data.analysis import analyse
from gan_aug.data.imageset import ImageSet
from gan_aug.data.load import load_source, make_splits
from gan_aug.device import device_for_task, gpu_slot, resolve_device
from gan_aug.filters import NearestReal, decide
from gan_aug.filters.build import build_chain
from gan_aug.generate import generate_class, load_rejected, save_rejected
from gan_aug.io import atomic_write_bytes, write_json
from gan_aug.metrics.extractors import (
    DomainExtractor,
    InceptionWeightsMissing,
    build_extractor,
    inception_weights_available,
)
from gan_aug.metrics.features import load_extractor, save_extractor, train_domain_extractor
from gan_aug.metrics.per_class import quality_per_class
from gan_aug.monitor import MIN_REFERENCE, build_monitor
from gan_aug.run_dir import RunDir
from gan_aug.synthetic import SyntheticSet
from gan_aug.train import train_gan
from gan_aug.transient import is_transient

from flows.caching import cached
from flows.runners import build_task_runner

# Every input and evaluation section: what each cached stage's results depend on besides its files.
RESULT_SECTIONS = ("data", "gan", "generate", "filter", "shards", "evaluate")


def _transient(task, task_run, state) -> bool:
    """Retry only what may pass on its own; a full disk or bad data fails at once."""
    try:
        return is_transient(state.result(raise_on_failure=False))
    except Exception:  # noqa: BLE001 - an unreadable state is not worth a retry
        return False


stage = task(cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=5,
             retry_condition_fn=_transient)


def _once_per_tenth(report: Callable[..., None]) -> Callable[..., None]:
    """Progress comes per image, batch or record: pass on only the first call in each tenth of the
    work, so a stage logs about ten lines however large it is."""
    reported: set[int] = set()

    def progress(done: int, total: int, *rest) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth not in reported:
            reported.add(tenth)
            report(done, total, *rest)

    return progress


@stage(name="load")
def load_task(config: AugmentConfig, run: RunDir) -> dict:
    """Read the source once into the run folder; later stages read that snapshot, never the source."""
    logger = get_run_logger()
    progress = _once_per_tenth(lambda done, total: logger.info("decoded %d/%d images", done, total))
    loaded = load_source(config.data, progress=progress)
    source = loaded.data
    logger.info("loaded %s (%s%s): %d images of %s, %d classes", config.data.source, loaded.format,
                ", from cache" if loaded.from_cache else "", len(source),
                "×".join(map(str, source.images.shape[1:])), source.num_classes)
    for message in loaded.warnings + [f"skipped unreadable: {p}" for p in loaded.skipped[:20]]:
        logger.warning(message)
    return {"path": str(source.save(run.source)), "format": loaded.format, "skipped": loaded.skipped,
            "warnings": loaded.warnings}


@stage(name="split")
def split_task(source_path: str, config: AugmentConfig, run: RunDir) -> dict:
    """Paths of the train/val/test sets, their sizes and the image shape."""
    splits = make_splits(ImageSet.load(source_path), config.data)
    parts = {name: getattr(splits, name) for name in ("train", "val", "test")}
    sizes = {name: len(part) for name, part in parts.items()}
    get_run_logger().info("split: %s", sizes)
    return {"paths": {name: str(part.save(run.split(name))) for name, part in parts.items()}, "sizes": sizes,
            "image_shape": list(splits.train.images.shape[1:])}


@stage(name="analyse")
def analyse_task(train_path: str, config: AugmentConfig) -> dict:
    balance = analyse(ImageSet.load(train_path), config.generate.target_count)
    get_run_logger().info("class counts %s, imbalance ratio %.1f, %d classes to fill",
                          dict(zip(balance.class_names, balance.counts)), balance.imbalance_ratio,
                          len(balance.minority_classes))
    return balance.to_dict()


@stage(name="features")
def features_task(train_path: str, config: AugmentConfig, run: RunDir, device: str) -> str:
    """Train the domain feature extractor once (FD checks during training and the filters both use it),
    and keep every training image's features for the memorisation filter's neighbour search."""
    if not run.extractor.exists():
        extractor = train_domain_extractor(ImageSet.load(train_path), steps=config.filter.feature_steps,
                                           device=device)
        save_extractor(extractor, run.extractor)
        get_run_logger().info("domain feature extractor trained (%d steps)", config.filter.feature_steps)
    if not run.train_features.exists():
        features = DomainExtractor(load_extractor(run.extractor, device)).features(ImageSet.load(train_path).images)
        atomic_write_bytes(run.train_features, _npy_bytes(features))
    return str(run.extractor)


def _training_progress(name: str):
    """A log line every tenth of training and at every FD check, plus a Prefect progress artifact."""
    logger = get_run_logger()
    artifact = create_progress_artifact(0.0, description=f"GAN training: {name}")

    def losses(step: int, total: int, record: dict) -> None:
        logger.info("%s step %d/%d  loss_d %.3f  loss_g %.3f  %.0f images/s", name, step, total,
                    record["loss_d"], record["loss_g"], record["images_per_s"])
        update_progress_artifact(artifact, 100.0 * step / total)

    losses_per_tenth = _once_per_tenth(losses)  # records come every 50 steps, whatever the step count

    def progress(step: int, total: int, record: dict) -> None:
        if "fd" in record:
            logger.info("%s step %d: FD %s", name, step, {k: _fmt(v) for k, v in record["fd"].items()})
        if "loss_d" in record:
            losses_per_tenth(step, total, record)

    return progress


def _train(name: str, train: ImageSet, monitor_classes: list[int], model_labels: dict[int, int], extractor_path: str,
           val_path: str, full_train: ImageSet, checkpoint: Path, config_hash: str, config: AugmentConfig,
           device: str) -> dict:
    logger = get_run_logger()
    monitor = None
    if config.gan.eval_every:
        extractor = DomainExtractor(load_extractor(extractor_path, device))
        monitor = build_monitor(extractor, ImageSet.load(val_path), full_train, monitor_classes,
                                samples=config.gan.eval_samples, model_labels=model_labels)
        held_out_short = [k for k, source in monitor.reference_source.items() if source != "val"]
        if held_out_short:
            logger.warning("%s: classes %s have fewer than %d validation images; their FD checks also use "
                           "training images", name, held_out_short, MIN_REFERENCE)
    if checkpoint.exists():
        logger.info("%s: resuming from %s", name, checkpoint)
    result = train_gan(train, config.gan, checkpoint, device=device, config_hash=config_hash,
                       progress=_training_progress(name), monitor=monitor)
    logger.info("%s ready after %d steps%s (resumed from %d) in %.1f s; best FD per class %s; sha256 %s",
                name, result.steps, " (stopped early)" if result.stopped_early else "", result.resumed_from,
                result.seconds, {k: v["fd"] for k, v in result.best.items()}, result.sha256[:12])
    return result.to_dict()


@stage(name="train-gan")
def train_gan_task(paths: dict[str, str], minority: list[int], extractor_path: str, config: AugmentConfig,
                   run: RunDir, device: str) -> dict:
    """The shared conditional GAN over all classes (``gan.strategy: shared``)."""
    train = ImageSet.load(paths["train"])
    return _train("GAN", train, minority, {k: k for k in minority}, extractor_path, paths["val"], train,
                  run.gan_checkpoint, config.section_hash("data", "gan"), config, device)


@stage(name="train-class-gan")
def train_class_gan_task(label: int, index: int, paths: dict[str, str], extractor_path: str,
                         config: AugmentConfig, run: RunDir, device: str) -> dict:
    """One class's own GAN (``gan.strategy: per_class``): trained on that class alone, with label 0."""
    train, device = ImageSet.load(paths["train"]), device_for_task(device, index)
    with gpu_slot(device):
        result = _train(f"GAN of class {label}", train.single_class(label), [label], {label: 0}, extractor_path,
                        paths["val"], train, run.class_gan_checkpoint(label),
                        f"{config.section_hash('data', 'gan')}:class-{label}", config, device)
    return {**result, "model_label": 0}


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _generation_progress(label: int):
    """A log line every tenth of the class's target and a Prefect progress artifact per class."""
    logger = get_run_logger()
    artifact = create_progress_artifact(0.0, description=f"generating class {label}")

    def report(accepted: int, needed: int, generated: int) -> None:
        logger.info("class %d: %d/%d accepted of %d generated", label, accepted, needed, generated)
        update_progress_artifact(artifact, 100.0 * accepted / max(needed, 1))

    return _once_per_tenth(report)


@stage(name="generate")
def generate_task(label: int, index: int, needed: int, gan: dict, paths: dict[str, str], extractor_path: str,
                  config: AugmentConfig, run: RunDir, device: str) -> dict:
    """Sample one class and run every sample through the filter chain until the class is filled."""
    device = device_for_task(device, index)
    with gpu_slot(device):
        return _generate(label, needed, gan, paths, extractor_path, config, run, device)


def _generate(label: int, needed: int, gan: dict, paths: dict[str, str], extractor_path: str,
              config: AugmentConfig, run: RunDir, device: str) -> dict:
    generator, discriminator = load_sampler(gan["checkpoint"], device, label=label)
    model_label = gan.get("model_label", label)
    domain = DomainExtractor(load_extractor(extractor_path, device))
    nearest = NearestReal(np.load(run.train_features)) if "memorisation" in config.filter.filters else None
    chain = build_chain(config.filter, label, discriminator=discriminator, model_label=model_label,
                        shared=config.gan.strategy == "shared", val=ImageSet.load(paths["val"]),
                        train=ImageSet.load(paths["train"]), domain=domain, nearest=nearest)
    cfg = config.generate
    synthetic, stats = generate_class(
        generator, discriminator, label, needed, chain=chain, generator_sha256=gan["sha256"],
        batch_size=cfg.batch_size, budget_factor=cfg.budget_factor, seed=cfg.seed, model_label=model_label,
        progress=_generation_progress(label),
    )
    synthetic.save(run.generated(label))
    save_rejected(run.rejected(label), stats.rejected)
    best = gan["best"].get(str(label))
    step = best["step"] if best else gan["steps"]  # the EMA weights load_sampler chose for this class
    logger = get_run_logger()
    logger.info("class %d: funnel %s, %d of %d needed kept (EMA weights of step %d); thresholds %s", label,
                stats.funnel, len(synthetic), needed, step, stats.filters)
    if len(synthetic) < needed:
        logger.warning("class %d: only %d of %d needed samples passed the filters within the budget of %d "
                       "(generate.budget_factor %g); the class stays short", label, len(synthetic), needed,
                       stats.generated, cfg.budget_factor)
    return {**stats.to_dict(), "path": str(run.generated(label)), "used": len(synthetic), "generator_step": step,
            "generator_sha256": gan["sha256"], "worker": f"{socket.gethostname()}:{os.getpid()}", "device": device}


@stage(name="accept")
def accept_task(generations: list[dict], train_path: str, extractor_path: str, config: AugmentConfig,
                run: RunDir, device: str) -> dict:
    """Per-class quality (FD/KID with floors and intervals, precision/recall) and the FD acceptance
    policy: flagged classes are kept with a warning, dropped, or fail the run before anything is written."""
    logger = get_run_logger()
    train = ImageSet.load(train_path)
    parts = [SyntheticSet.load(g["path"]) for g in generations]
    candidates = SyntheticSet.concat(parts) if parts else SyntheticSet.empty(train.images.shape[1:], "")
    extractor = build_extractor(config.filter.extractor, domain_model=load_extractor(extractor_path, device),
                                inception_weights=config.filter.inception_weights, device=device)
    quality = quality_per_class(extractor, train, candidates, seed=config.generate.seed,
                                bootstrap_rounds=config.filter.bootstrap_rounds)
    f = config.filter
    decision = decide(quality, train.class_names, policy=f.fd_policy, max_ratio=f.fd_max_ratio,
                      min_real=f.fd_min_real)
    if decision.message:
        logger.warning(decision.message)
    accepted = candidates.select(~np.isin(candidates.labels, decision.drop))
    accepted.save(run.accepted)
    logger.info("per-class matched FD / floor (%s): %s", extractor.name, {
        k: f"{_fmt(q['fd_matched'])} / {_fmt(q['fd_floor'])} {decision.status[k]}" for k, q in quality.items()})
    return {"accepted": str(run.accepted), "quality": {str(k): v for k, v in quality.items()},
            "acceptance": {str(k): v for k, v in decision.status.items()}, "dropped": decision.drop}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


@stage(name="write-shards")
def write_shards_task(paths: dict[str, str], accepted_path: str, config: AugmentConfig, run: RunDir) -> dict:
    """Train (real + accepted synthetic), validation and test (real only) as shards, with provenance."""
    logger = get_run_logger()
    artifact = create_progress_artifact(0.0, description="writing shards")

    def report(done: int, total: int) -> None:
        logger.info("shards: %d/%d rows written", done, total)
        update_progress_artifact(artifact, 100.0 * done / max(total, 1))

    progress = _once_per_tenth(report)
    cfg = config.shards
    manifest = shards.write_shards(
        run.root, ImageSet.load(paths["train"]), SyntheticSet.load(accepted_path),
        validation=ImageSet.load(paths["val"]), test=ImageSet.load(paths["test"]),
        shard_size_mb=cfg.shard_size_mb, row_group_mb=cfg.row_group_mb, rows_per_shard=cfg.rows_per_shard,
        image_folder=cfg.image_folder, workers=cfg.workers, provenance=summary.provenance(config), progress=progress)
    update_progress_artifact(artifact, 100.0)
    logger.info("shards: %s", ", ".join(f"{name} {s['rows']} rows in {s['shards']} file(s)"
                                        for name, s in manifest["splits"].items()))
    return manifest


@stage(name="evaluate")
def evaluate_task(paths: dict[str, str], manifest: str, config: AugmentConfig, run: RunDir, device: str) -> dict:
    """Every method on the same seeds; ``manifest`` (its hash keys the cache) vouches for the shards read."""
    logger = get_run_logger()
    augmented, _ = shards.read_shards(run.root)  # train on what users get: the shards as written

    def progress(method: str, seed: int, step: int, total: int, loss: float) -> None:
        if step == total:
            logger.info("classifier on %s, seed %d: %d steps, final loss %.3f", method, seed, total, loss)

    result = evaluate.evaluate_downstream(ImageSet.load(paths["train"]), augmented, ImageSet.load(paths["test"]),
                                          config.evaluate, device=device, progress=progress)
    for name, comparison in result["comparison"].items():
        ci = comparison["ci"]
        logger.info("%s vs best baseline %s: balanced accuracy %+.4f%s over %d seeds", name, comparison["baseline"],
                    comparison["mean_diff"], f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "", len(comparison["per_seed"]))
    return result


@stage(name="report")
def report_task(metrics: dict, paths: dict[str, str], accepted_path: str, run: RunDir) -> dict:
    write_json(run.metrics, metrics)
    train, accepted = ImageSet.load(paths["train"]), SyntheticSet.load(accepted_path)
    real = {label: train.of_class(label) for label in range(train.num_classes)}
    synthetic = {int(l): accepted.images[accepted.labels == l] for l in np.unique(accepted.labels)}
    rejected = {entry["label"]: load_rejected(run.rejected(entry["label"])) for entry in metrics["classes"]
                if entry.get("funnel")}
    report.render_report(metrics, real, synthetic, run.report, rejected_images=rejected)
    create_markdown_artifact(report.summary_markdown(metrics), key="gan-aug-summary",
                             description=f"gan-aug run {metrics['run']['name']}: {run.root}")
    create_table_artifact(report.downstream_table_rows(metrics), key="gan-aug-downstream",
                          description="downstream classifier on the real test set")
    create_table_artifact(report.comparison_table_rows(metrics), key="gan-aug-comparison",
                          description="each GAN method against the best baseline, paired over seeds")
    create_table_artifact(report.class_table_rows(metrics), key="gan-aug-classes",
                          description="per-class counts, acceptance and Fréchet distance")
    create_table_artifact(report.quality_table_rows(metrics), key="gan-aug-quality",
                          description="per-class sample quality beside its real-vs-real floor")
    create_table_artifact(report.filter_table_rows(metrics), key="gan-aug-filters",
                          description="per-class counts through each filter and the FD acceptance status")
    create_table_artifact(report.shard_table_rows(metrics), key="gan-aug-shards",
                          description="the shard files as written: split, rows, size and sha256 (gan-aug verify)")
    return {"metrics": str(run.metrics), "report": str(run.report)}


@flow(name="augment", log_prints=True)
def augment(out_dir: str, config: AugmentConfig | None = None) -> dict:
    """Balance one data set with a conditional GAN and measure the gain; returns the output paths."""
    config, run, started = config or demo_config(), RunDir(Path(out_dir)), time.perf_counter()
    _check_inception_weights(config)
    run.claim(config)
    device = str(resolve_device(config.gan.device))
    retry = {"retries": config.runner.retries, "retry_delay_seconds": config.runner.retry_delay_s}

    def step(stage_task, *cache_sections: str):
        """The stage with the run's retry settings, and content-keyed caching when sections are named."""
        configured = stage_task.with_options(**retry)
        return cached(configured, config, run, *cache_sections) if cache_sections else configured

    loaded = step(load_task)(config, run)
    split = step(split_task, "data")(loaded["path"], config, run)
    paths = split["paths"]
    balance = step(analyse_task)(paths["train"], config)
    minority = balance["minority_classes"]
    extractor_path = step(features_task)(paths["train"], config, run, device)
    indices = list(range(len(minority)))
    if config.gan.strategy == "shared":
        shared = step(train_gan_task)(paths, minority, extractor_path, config, run, device)
        gans, runs = {label: shared for label in minority}, {"shared": shared}
    else:
        trained = step(train_class_gan_task).map(minority, indices, unmapped(paths), unmapped(extractor_path),
                                                 unmapped(config), unmapped(run), unmapped(device)).result()
        gans = dict(zip(minority, trained))
        runs = {str(label): result for label, result in gans.items()}
    needed = [balance["needed"][label] for label in minority]
    samplers = [_sampler(gans[label]) for label in minority]
    generations = step(generate_task, "data", "gan", "generate", "filter").map(
        minority, indices, needed, samplers, unmapped(paths), unmapped(extractor_path),
        unmapped(config), unmapped(run), unmapped(device)).result()
    filtered = step(accept_task, "data", "gan", "generate", "filter")(
        generations, paths["train"], extractor_path, config, run, device)
    manifest = step(write_shards_task)(paths, filtered["accepted"], config, run)
    downstream = step(evaluate_task, *RESULT_SECTIONS)(paths, str(run.root / shards.MANIFEST), config, run, device)
    metrics = _metrics(config, loaded, balance, split, runs, generations, filtered, manifest, downstream, device,
                       started)
    outputs = step(report_task)(metrics, paths, filtered["accepted"], run)
    return {**outputs, "manifest": str(run.root / shards.MANIFEST)}


def _sampler(gan: dict) -> dict:
    """What generation needs of a trained GAN: its checkpoint and which weights to sample. Timings and
    loss history are left out, so a resumed run's generation keys match the first run's."""
    return {key: gan[key] for key in ("checkpoint", "sha256", "steps", "best", "model_label") if key in gan}


def _metrics(config, loaded, balance, split, runs, generations, filtered, manifest, downstream, device,
             started) -> dict:
    """Gather the stage results into metrics.json's schema (the library does the shaping)."""
    dropped = set(filtered["dropped"])
    generations = {g["label"]: {**g, "used": 0 if g["label"] in dropped else g["used"]} for g in generations}
    classes = summary.class_entries(balance, generations, {int(k): v for k, v in filtered["quality"].items()},
                                    {int(k): v for k, v in filtered["acceptance"].items()})
    return summary.build_metrics(
        config=config, loaded=loaded, balance=balance, split_sizes=split["sizes"], image_shape=split["image_shape"],
        classes=classes, downstream=downstream, manifest=manifest, device=device,
        duration_s=time.perf_counter() - started, training=summary.training_summary(config.gan.strategy, runs),
        filters=summary.filter_summary(config.filter, filtered["acceptance"]),
    )


def _check_inception_weights(config: AugmentConfig) -> None:
    """Fail before hours of training, not after, when the chosen extractor's weights are not on disk."""
    if config.filter.extractor == "inception" and inception_weights_available(config.filter.inception_weights) is None:
        raise InceptionWeightsMissing(
            f"filter.extractor is 'inception' but no weights file was found at "
            f"{config.filter.inception_weights or 'the torch hub cache'} (nothing is downloaded); set "
            "filter.inception_weights to a local copy or use filter.extractor: domain")


def run_augment(config: AugmentConfig, out_dir: str | Path) -> dict:
    """Run the flow with the per-class tasks on ``config.runner``'s task runner, ``max_workers`` at once."""
    return augment.with_options(task_runner=build_task_runner(config))(out_dir=str(out_dir), config=config)
