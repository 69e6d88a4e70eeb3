"""The `augment` flow: load → split → analyse → the synthesis stages (gan_aug.pipeline: features → train
GAN(s) → generate and filter per class → accept (FD policy) → usefulness → choose the mix on validation)
→ shards → evaluate on test → report.

gan_aug.pipeline decides which synthesis stages run and in what order; ``_AsTasks`` says how each runs
here: as the tasks of flows/tasks.py, with the run's retries, content-keyed caching where a result is
worth keeping (flows/caching.py), per-class tasks mapped on the configured task runner
(flows/runners.py), each holding its GPU alone, and the classifier runs of the mix grid and the evaluation
sent to that runner's cluster when it has one (flows/cluster.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import flow, unmapped

from flows.caching import cached, call_fresh, map_fresh
from flows.cluster import classifier_placement
from flows.runners import build_task_runner
from flows.tasks import (
    accept_task,
    analyse_task,
    evaluate_task,
    features_task,
    generate_task,
    load_task,
    mix_task,
    report_task,
    split_task,
    train_gan_task,
    usefulness_task,
    write_shards_task,
)
from gan_aug import shards, summary
from gan_aug.config import AugmentConfig, demo_config
from gan_aug.device import resolve_device
from gan_aug.mix.policy import MixChoice
from gan_aug.parallel import shared_pools
from gan_aug.pipeline import synthesise
from gan_aug.run_dir import RunDir
from gan_aug.stages import ClassSampler, GANJob, TrainedGAN, Usefulness, check_extractor
from gan_aug.stages.acceptance import AcceptanceReport
from gan_aug.stages.records import GeneratedClass, SplitRecord


@flow(name="augment", log_prints=True)
def augment(out_dir: str, config: AugmentConfig | None = None) -> dict:
    """Balance one data set with a conditional GAN and measure the gain; returns the output paths."""
    config, run = config or demo_config(), RunDir(Path(out_dir))
    check_extractor(config.filter)  # before the folder is claimed and hours are spent training
    # A second run on this folder refuses, naming it, instead of interleaving writes; the classifier
    # worker processes one stage starts serve the later stages too.
    with run.lock(), shared_pools():
        run.claim(config)
        return _run_stages(config, run)


def _configured(stage_task, config: AugmentConfig, run: RunDir, cache: bool = False):
    """The stage with the run's retry settings, and content-keyed caching when asked for."""
    runner = config.runner
    configured = stage_task.with_options(retries=runner.retries, retry_delay_seconds=runner.retry_delay_s)
    return cached(configured, runner.cache, run) if cache else configured


@dataclass(frozen=True)
class _AsTasks:
    """The flow's way of running each pipeline step (gan_aug.pipeline decides which run, in what order):
    a Prefect task with the run's retries, content-keyed caching where a step's result is worth keeping,
    per-class steps mapped on the task runner; steps pass run-folder paths and small records."""

    config: AugmentConfig
    run: RunDir
    split: SplitRecord
    targets: list[int]
    device: str

    def task(self, stage_task, cache: bool = False):
        return _configured(stage_task, self.config, self.run, cache)

    def features(self) -> str:
        return self.task(features_task)(self.split.paths["train"], self.config.filter.feature_steps, self.run,
                                        self.device)

    def train_gans(self, jobs: list[GANJob], extractor_path: str) -> list[TrainedGAN]:
        return self.task(train_gan_task).map(
            jobs, list(range(len(jobs))), unmapped(self.split), unmapped(extractor_path), unmapped(self.config.gan),
            unmapped(self.config.section_hash("data", "gan")), unmapped(self.run), unmapped(self.device)).result()

    def generate(self, asks: list[tuple[ClassSampler, int]], extractor_path: str) -> list[GeneratedClass]:
        c = self.config
        return map_fresh(self.task(generate_task, cache=True), self.run, [sampler for sampler, _ in asks],
                         list(range(len(asks))), [wanted for _, wanted in asks], unmapped(self.split),
                         unmapped(extractor_path), unmapped(c.filter), unmapped(c.generate), unmapped(self.run),
                         unmapped(self.device))

    def accept(self, generated: list[GeneratedClass], extractor_path: str) -> tuple[str, AcceptanceReport]:
        return call_fresh(self.task(accept_task, cache=True), self.run, [g.path for g in generated],
                          self.split.paths["train"], extractor_path, self.config.filter, self.config.generate.seed,
                          self.run, self.device)

    def usefulness(self, accepted_path: str, samplers: list[ClassSampler], extractor_path: str) -> Usefulness:
        c = self.config
        return call_fresh(self.task(usefulness_task, cache=True), self.run, self.split, accepted_path, samplers,
                          extractor_path, c.evaluate, c.mix.cas_samples, c.generate.seed, self.run, self.device)

    def choose_mix(self, accepted_path: str, eligible: list[int]) -> MixChoice:
        return call_fresh(self.task(mix_task, cache=True), self.run, self.split, accepted_path, self.targets,
                          eligible, self.config.mix, self.config.evaluate, self.run, self.device,
                          placement=classifier_placement(self.config.runner, self.device))


def _run_stages(config: AugmentConfig, run: RunDir) -> dict:
    """Load, split and analyse; the pipeline's stages (gan_aug.pipeline) as tasks; then shards, the
    evaluation on test and the report. Cached stages go through ``call_fresh``/``map_fresh``: a stage
    whose record survived but whose files were deleted runs again."""
    started = time.perf_counter()
    device = str(resolve_device(config.gan.device))
    source = _configured(load_task, config, run)(config.data, run)
    split = call_fresh(_configured(split_task, config, run, cache=True), run, source.path, config.data, run)
    balance = _configured(analyse_task, config, run)(split.paths["train"], config.generate.target_count)
    steps = _AsTasks(config, run, split, balance["targets"], device)
    found = synthesise(steps, np.asarray(balance["counts"]), np.asarray(balance["targets"]),
                       balance["minority_classes"], config.gan.strategy, config.mix)
    manifest = steps.task(write_shards_task)(split, found.accepted, balance["targets"], found.choice, config.mix.seed,
                                             config.shards, summary.provenance(config), run)
    downstream = call_fresh(steps.task(evaluate_task, cache=True), run, split, str(run.root / shards.MANIFEST),
                            config.evaluate, run, device, placement=classifier_placement(config.runner, device))
    result = summary.run_result(
        config=config, source=source, balance=balance, split=split,
        runs={g.job.key: g.result for g in found.trained}, generations=found.generated,
        acceptance=found.acceptance, usefulness=found.usefulness, choice=found.choice, manifest=manifest,
        downstream=downstream, device=device, duration_s=time.perf_counter() - started)
    outputs = steps.task(report_task)(result, split.paths["train"], found.accepted, run)
    return {**outputs, "manifest": str(run.root / shards.MANIFEST)}


def run_augment(config: AugmentConfig, out_dir: str | Path) -> dict:
    """Run the flow with the per-class tasks on ``config.runner``'s task runner, ``max_workers`` at once."""
    return augment.with_options(task_runner=build_task_runner(config))(out_dir=str(out_dir), config=config)
