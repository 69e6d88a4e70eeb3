"""Each stage of the `augment` flow as a Prefect task: a thin wrapper around the library's stage
functions (gan_aug.stages and friends) adding what Prefect needs: logs, artifacts, GPU slots,
run-folder paths and retries. Tasks pass paths and small typed records, never arrays: Prefect would
hash large inputs on every call, and paths let any stage be rerun or inspected on its own. Each task
receives only the config sections it reads, so a cached task's key (flows/caching.py) hashes exactly
those, with the content of every file it is given and the code it runs. Which tasks run, and in what
order, is flows/augment.py's and gan_aug.pipeline's business.
"""
from __future__ import annotations

import io
import os
import socket
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from flows.caching import file_digest
from flows.cluster import LOCAL, classifier_runs_on
from gan_aug import evaluate, report, shards
from gan_aug.code_digest import code_digest
from gan_aug.config import (
    DataConfig,
    EvaluateConfig,
    FilterConfig,
    GANConfig,
    GenerateConfig,
    MixConfig,
    ShardConfig,
)
from gan_aug.data.analysis import analyse
from gan_aug.data.imageset import ImageSet
from gan_aug.data.load import load_source, make_splits
from gan_aug.device import device_for_task, gpu_slot, gpu_slots
from gan_aug.evaluate.mix_choice import choose_mix
from gan_aug.io import atomic_write_bytes, read_json, write_json
from gan_aug.metrics.domain_classifier import load_extractor
from gan_aug.metrics.extractors import DomainExtractor, build_extractor
from gan_aug.mix.policy import MixChoice
from gan_aug.progress import MIX_STAGE, fmt, generation_log, publish, published, training_log
from gan_aug.run_dir import RunDir
from gan_aug.run_result import RunResult
from gan_aug.sampling import load_rejected, save_rejected
from gan_aug.stages import (
    ClassSampler,
    GANJob,
    TrainedGAN,
    Usefulness,
    accept,
    assess,
    domain_model,
    generate_filtered,
    sample_unfiltered,
    shortfall_message,
    train_job,
)
from gan_aug.stages.acceptance import AcceptanceReport
from gan_aug.stages.records import GeneratedClass, SourceRecord, SplitRecord
from gan_aug.synthetic import SyntheticSet
from gan_aug.train.distributed import devices_held
from gan_aug.transient import is_transient


def _transient(task, task_run, state) -> bool:
    """Retry only what may pass on its own; a full disk or bad data fails at once."""
    try:
        return is_transient(state.result(raise_on_failure=False))
    except Exception:  # noqa: BLE001 - an unreadable state is not worth a retry
        return False


stage = task(cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=5,
             retry_condition_fn=_transient)


def _by_name(data: ImageSet, per_class: dict) -> dict[str, object]:
    """A per-class dict for a log line, keyed by the class names the user gave (its labels may be numpy
    ints, whose repr in a dict is np.int64(3))."""
    return {str(data.class_names[int(label)]): value for label, value in per_class.items()}


def _progress_artifact(description: str):
    """A Prefect progress artifact and the ``(done, total)`` callback that moves it."""
    artifact = create_progress_artifact(0.0, description=description)
    return lambda done, total: update_progress_artifact(artifact, 100.0 * done / max(total, 1))


@stage(name="load")
def load_task(data: DataConfig, run: RunDir) -> SourceRecord:
    """Read the source once into the run folder; later stages read that snapshot, never the source."""
    logger = get_run_logger()
    loaded = load_source(data, progress=published(
        "decoding images", lambda done, total: logger.info("decoded %d/%d images", done, total)))
    source = loaded.data
    logger.info("loaded %s (%s%s): %d images of %s, %d classes", data.source, loaded.format,
                ", from cache" if loaded.from_cache else "", len(source),
                "×".join(map(str, source.images.shape[1:])), source.num_classes)
    for message in loaded.warnings + [f"skipped unreadable: {p}" for p in loaded.skipped[:20]]:
        logger.warning(message)
    return SourceRecord(str(source.save(run.source)), loaded.format, loaded.skipped, loaded.warnings)


@stage(name="split")
def split_task(source_path: str, data: DataConfig, run: RunDir) -> SplitRecord:
    splits = make_splits(ImageSet.load(source_path), data)
    parts = {name: getattr(splits, name) for name in ("train", "val", "test")}
    sizes = {name: len(part) for name, part in parts.items()}
    get_run_logger().info("split: %s", sizes)
    return SplitRecord({name: str(part.save(run.split(name))) for name, part in parts.items()}, sizes,
                       list(splits.train.images.shape[1:]))


@stage(name="analyse")
def analyse_task(train_path: str, target_count: int | None) -> dict:
    balance = analyse(ImageSet.load(train_path), target_count)
    get_run_logger().info("class counts %s, imbalance ratio %.1f, %d classes to fill",
                          dict(zip(balance.class_names, balance.counts)), balance.imbalance_ratio,
                          len(balance.minority_classes))
    return balance.to_dict()


@stage(name="features")
def features_task(train_path: str, steps: int, run: RunDir, device: str) -> str:
    """The domain feature extractor, and every training image's features (the memorisation filter's index).

    Files a run left are reused when ``run.features_origin`` says they were made by this code from these
    training images; otherwise they are made again."""
    train = ImageSet.load(train_path)
    _claim_features(run, {"code": code_digest(features_task.fn), "train": file_digest(Path(train_path)),
                          "steps": steps})
    if not run.extractor.exists():
        domain_model(train, steps, device=device, path=run.extractor)
        get_run_logger().info("domain feature extractor trained (%d steps)", steps)
    if not run.train_features.exists():
        features = DomainExtractor(load_extractor(run.extractor, device)).features(train.images)
        atomic_write_bytes(run.train_features, _npy_bytes(features))
    return str(run.extractor)


def _claim_features(run: RunDir, origin: dict) -> None:
    """Delete feature files of another origin, then record this one before any is made: a crash while
    making them leaves a record that matches, so the rerun reuses what was finished."""
    try:
        previous = read_json(run.features_origin)
    except (OSError, ValueError):
        previous = None
    if previous == origin:
        return
    stale = [path for path in (run.extractor, run.train_features) if path.exists()]
    if stale:
        why = "made before features.json recorded it" if previous is None else "another in features.json"
        get_run_logger().warning("%s: their code or training images are not this run's (%s): making them again",
                                 ", ".join(path.name for path in stale), why)
    for path in stale:
        path.unlink()
    write_json(run.features_origin, origin)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@stage(name="train-gan")
def train_gan_task(job: GANJob, index: int, split: SplitRecord, extractor_path: str, gan: GANConfig,
                   base_hash: str, run: RunDir, device: str) -> TrainedGAN:
    """One generator (``gan.generator``): the shared conditional one, or (``gan.strategy: per_class``) one
    class's own, mapped."""
    logger, device = get_run_logger(), device_for_task(device, index)
    train = ImageSet.load(split.paths["train"])
    name = job.name(train.class_names)
    checkpoint = run.checkpoint(gan.generator, job.single_class)
    if checkpoint.exists():
        logger.info("%s: resuming from %s", name, checkpoint)
    wanted = gan.eval_every or gan.classifier_weight  # the FD checks, the generator's classifier loss
    domain = DomainExtractor(load_extractor(extractor_path, device)) if wanted else None
    with gpu_slots(devices_held(gan.processes, device, gan.batch_size)):  # gan.processes > 1: every GPU it takes
        trained = train_job(job, train, ImageSet.load(split.paths["val"]), gan, checkpoint, base_hash=base_hash,
                            domain=domain, device=device, warn=logger.warning,
                            progress=training_log(logger, name, _progress_artifact(f"GAN training: {name}")))
    result = trained.result
    logger.info("%s ready after %d steps%s (resumed from %d) in %.1f s; best FD per class %s; sha256 %s",
                name, result.steps, " (stopped early)" if result.stopped_early else "", result.resumed_from,
                result.seconds, _by_name(train, {k: fmt(v["fd"]) for k, v in result.best.items()}), result.sha256[:12])
    return trained


@stage(name="generate")
def generate_task(sampler: ClassSampler, index: int, needed: int, split: SplitRecord, extractor_path: str,
                  filters: FilterConfig, generate: GenerateConfig, run: RunDir, device: str) -> GeneratedClass:
    """Sample one class and run every sample through the filter chain until the class is filled."""
    logger, device, label = get_run_logger(), device_for_task(device, index), sampler.label
    train = ImageSet.load(split.paths["train"])
    name = repr(str(train.class_names[label]))  # as the user names it, like "GAN of class 'cat'"
    with gpu_slot(device):
        synthetic, stats = generate_filtered(
            sampler, needed, filters=filters, generate=generate, val=ImageSet.load(split.paths["val"]),
            train=train, domain=DomainExtractor(load_extractor(extractor_path, device)),
            train_features=lambda: np.load(run.train_features), device=device,
            progress=generation_log(logger, name, _progress_artifact(f"generating class {name}")))
    synthetic.save(run.generated(label))
    save_rejected(run.rejected(label), stats.rejected)
    logger.info("class %s: funnel %s, %d of %d needed kept (EMA weights of step %d); thresholds %s", name,
                stats.funnel, len(synthetic), needed, sampler.step, stats.filters)
    if message := shortfall_message(name, stats, len(synthetic), generate.budget_factor):
        logger.warning(message)
    return GeneratedClass.of(str(run.generated(label)), len(synthetic), stats, sampler,
                             worker=f"{socket.gethostname()}:{os.getpid()}", device=device)


@stage(name="accept")
def accept_task(generated: list[str], train_path: str, extractor_path: str, filters: FilterConfig, seed: int,
                run: RunDir, device: str) -> tuple[str, AcceptanceReport]:
    """Per-class quality and the FD acceptance policy: flagged classes are kept with a warning, dropped,
    or fail the run before anything is written. Returns where the accepted rows are, and the report."""
    logger = get_run_logger()
    train = ImageSet.load(train_path)
    parts = [SyntheticSet.load(path) for path in generated]
    candidates = SyntheticSet.concat(parts) if parts else SyntheticSet.empty(train.images.shape[1:], "")
    extractor = build_extractor(filters.extractor, domain_model=load_extractor(extractor_path, device),
                                inception_weights=filters.inception_weights, device=device)
    acceptance = accept(candidates, train, extractor, filters, seed=seed)
    found = acceptance.report
    if found.message:
        logger.warning(found.message)
    acceptance.accepted.save(run.accepted)
    logger.info("per-class matched FD / floor (%s): %s", found.extractor, _by_name(train, {
        k: f"{fmt(q['fd_matched'])} / {fmt(q['fd_floor'])} {found.status[k]}" for k, q in found.quality.items()}))
    return str(run.accepted), found


@stage(name="usefulness")
def usefulness_task(split: SplitRecord, accepted_path: str, samplers: list[ClassSampler], extractor_path: str,
                    settings: EvaluateConfig, cas_samples: int | None, seed: int, run: RunDir,
                    device: str) -> Usefulness:
    """Label agreement of each class's accepted rows, the label filter's validation recall, and CAS."""
    logger = get_run_logger()
    train, val, test = (ImageSet.load(split.paths[name]) for name in ("train", "val", "test"))
    cas_rows = None
    if len(samplers) == train.num_classes and cas_samples != 0:  # CAS needs every class: the shared GAN
        count = cas_samples or min(1000, int(train.class_counts().max()))
        cas_rows = SyntheticSet.concat([sample_unfiltered(s, count, seed=seed + 1, device=device) for s in samplers])
    found = assess(train, val, test, SyntheticSet.load(accepted_path), cas_rows,
                   DomainExtractor(load_extractor(extractor_path, device)), settings, device=device)
    logger.info("label agreement of the accepted rows per class: %s; CAS %s against %.3f for the real rows",
                _by_name(train, {k: f"{v:.2f}" for k, v in found.label_agreement.items()}),
                "—" if found.cas is None else f"{np.mean(found.cas):.3f}", np.mean(found.real_recall))
    return found


@stage(name="choose-mix")
def mix_task(split: SplitRecord, accepted_path: str, targets: list[int], eligible: list[int], mix: MixConfig,
             settings: EvaluateConfig, run: RunDir, device: str, placement: str = LOCAL) -> MixChoice:
    """The dose and weight of synthetic rows, chosen on the validation split (or fixed by the config); the
    grid's classifier runs go where ``placement`` says (flows/cluster.py; not part of the cache key)."""
    logger = get_run_logger()
    progress = published(
        MIX_STAGE, lambda done, total: logger.info("mix: %d/%d classifier runs on validation", done, total))
    with classifier_runs_on(placement):
        choice = choose_mix(ImageSet.load(split.paths["train"]), ImageSet.load(split.paths["val"]),
                            SyntheticSet.load(accepted_path), np.asarray(targets), eligible, mix, settings,
                            device=device, progress=progress)
    logger.info("mix: %s", choice.reason)
    if choice.headroom is not None:
        logger.info("headroom: %s", choice.headroom.says)
        if choice.headroom.worth is not None:
            logger.info("worth: %s", choice.headroom.worth.says)
    return choice


@stage(name="write-shards")
def write_shards_task(split: SplitRecord, accepted_path: str, targets: list[int], choice: MixChoice, seed: int,
                      settings: ShardConfig, provenance: dict, run: RunDir) -> dict:
    """Train (the chosen mix: real, synthetic and duplicated rows, balanced to the row), validation and
    test (real only) as shards, with provenance."""
    logger = get_run_logger()
    artifact = _progress_artifact("writing shards")

    def report(done: int, total: int) -> None:
        logger.info("shards: %d/%d rows written", done, total)
        artifact(done, total)

    progress = published("writing shards (rows)", report)
    paths = split.paths
    mix = choice.build(ImageSet.load(paths["train"]), SyntheticSet.load(accepted_path), np.asarray(targets), seed)
    manifest = shards.write_shards(
        run.root, mix, settings, validation=ImageSet.load(paths["val"]), test=ImageSet.load(paths["test"]),
        provenance=provenance, progress=progress)
    artifact(1, 1)
    logger.info("shards: %s", ", ".join(f"{name} {s['rows']} rows in {s['shards']} file(s)"
                                        for name, s in manifest["splits"].items()))
    return manifest


@stage(name="evaluate")
def evaluate_task(split: SplitRecord, manifest: str, settings: EvaluateConfig, run: RunDir, device: str,
                  placement: str = LOCAL) -> dict:
    """Every method on the same seeds; ``manifest`` (its hash keys the cache) vouches for the shards read. The
    classifier runs go where ``placement`` says (flows/cluster.py; not part of the cache key)."""
    logger = get_run_logger()
    mix = shards.read_mix(run.root)  # train on what users get: the shards as written

    finished, runs = [], len(settings.methods) * settings.seeds

    def progress(step: int, total: int, /, *, method: str, seed: int, loss: float, steps: int) -> None:
        if step == total:
            finished.append(method)
            publish("evaluating on test (classifier runs)", len(finished), runs)
            ran = f"{steps} steps" if steps == total else f"{steps} of {total} steps (validation stopped improving)"
            logger.info("classifier on %s, seed %d: %s, final loss %.3f", method, seed, ran, loss)

    train, val, test = (ImageSet.load(split.paths[name]) for name in ("train", "val", "test"))
    with classifier_runs_on(placement):
        result = evaluate.evaluate_downstream(train, mix, test, settings, device=device, progress=progress, val=val)
    for name, comparison in result["comparison"].items():
        ci = comparison["ci"]
        logger.info("%s vs best baseline %s: balanced accuracy %+.4f%s over %d seeds", name, comparison["baseline"],
                    comparison["mean_diff"], f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "",
                    len(comparison["per_seed"]))
    return result


ARTIFACT_TABLES = (  # key, rows, description
    ("gan-aug-downstream", report.downstream_table_rows, "downstream classifier on the real test set"),
    ("gan-aug-comparison", report.comparison_table_rows,
     "each GAN method against the best baseline, paired over seeds"),
    ("gan-aug-classes", report.class_table_rows, "per-class counts, acceptance and Fréchet distance"),
    ("gan-aug-quality", report.quality_table_rows, "per-class sample quality beside its real-vs-real floor"),
    ("gan-aug-filters", report.filter_table_rows, "per-class counts through each filter and the FD acceptance status"),
    ("gan-aug-usefulness", report.usefulness_table_rows,
     "per class: label agreement of the synthetic rows, the label filter's validation recall, CAS beside real rows"),
    ("gan-aug-mix", report.mix_table_rows, "the synthetic-row doses and weights tried on validation, and the choice"),
    ("gan-aug-shards", report.shard_table_rows,
     "the shard files as written: split, rows, size and sha256 (gan-aug verify)"),
)


@stage(name="report")
def report_task(result: RunResult, train_path: str, accepted_path: str, run: RunDir) -> dict:
    result.write(run.metrics)
    rejected = {entry.label: load_rejected(run.rejected(entry.label)) for entry in result.classes if entry.funnel}
    report.render_run_report(result, ImageSet.load(train_path), SyntheticSet.load(accepted_path), run.report,
                             rejected_images=rejected)
    create_markdown_artifact(report.summary_markdown(result), key="gan-aug-summary",
                             description=f"gan-aug run {result.run.name}: {run.root}")
    for key, rows, description in ARTIFACT_TABLES:
        create_table_artifact(rows(result), key=key, description=description)
    return {"metrics": str(run.metrics), "report": str(run.report)}
