"""Benchmark: do the product's synthetic rows help a classifier, beside what people do instead?

Fashion-MNIST's training set (Debian's dataset-fashion-mnist) made long-tailed three ways, each a
seeded subset (seed 0) of it:
  exponential  6,000 images in the largest class down to 60 (ratio 100), 14,891 images
  step         GAMO's and DeepSMOTE's 4000/2000/1000/750/500/350/200/100/60/40, 9,000 images
  fewshot      the three hardest classes (pullover 2, coat 4, shirt 6) at 20 images, every other class
               at 1,500 (``subsample_counts(full, counts, seed=0)``), 10,560 images
Each is split per class into train and validation as a run splits (15 % held out, at least one
image). Then the library's stages, the ones the Prefect flow and GANOverSampler call: the domain
classifier, the shared conditional GAN, generation through the run's filters per minority class,
FD acceptance, label agreement, and the mix chosen on validation (``choose_mix``). Everything trains
on the train part and is scored on the real test set (1,000 per class) with the same classifier,
steps and seeds:
  baselines  plain, class_weighted, oversampled, smote, standard_aug (once per protocol)
  levers     the policy's choice; every grid point (dose x weight; dose 0 is duplication only); the
             chosen dose deferred (synthetic rows drawn only after half of training); the chosen dose
             at label threshold 0.5 instead of 0.9; the chosen dose with the label threshold calibrated
             per class (filter.label_quantile 0.1: the threshold the class's real held-out images give,
             at most 0.9; every minority class given rows); the same with filter.d_own_cap (a class
             with under 5 held-out images held to their D-score quantile where it is below the pooled
             one); the chosen dose with every minority class given rows (no agreement gate). A policy
             choice of dose 0 makes the levers use dose 1
  perfect    the perfect-generator bound (bench/bound.py): per minority class, the real training images
             of the class the protocol's subset left out (never in its train, validation or test) play
             the generator's part, in a seeded random order, unfiltered and with every minority class
             given rows, built by the same ``build_mix`` at every dose a lever ships at and at "fill"
             (the smallest whole dose that fills each class to its target with them)
  oracle     the balanced training set (55,000 of its 60,000 images; the rest stop its runs), once
Each lever is paired seed by seed with the best baseline (highest mean balanced accuracy), each
perfect mix with duplication (the grid's dose 0). A lever's recovery is (lever − duplication) /
(perfect − duplication) at the lever's dose (its mean scores), in balanced accuracy and few-shot
recall; "—" where the bound (perfect − duplication) is under 0.5 points or the lever ships no rows.

Budgets: on a CPU the GAN trains for --gan-minutes (25) and stops early as a run does; every classifier
(small CNN, width 32, batch 128, one-cycle lr 2e-3, shifts and flips; 3 seeds) trains until its
validation balanced accuracy has not improved for --patience (4) checks, one every twentieth of the cap,
and keeps its best weights, with a cap of 5,000 steps (--steps). On CUDA the GAN takes 20,000 steps of
256 and the classifier a 10,000-step cap on 5 seeds. The policy scores its grid with mix.seeds (2)
classifiers per point, stopped the same way (--mix-seeds, --mix-steps). The oracle trains on 55,000 of
the 60,000 balanced images and stops on the other 5,000 (500 a class). --patience 0 restores fixed
step counts (the budget before issue 25: --steps 1500 --patience 0).

Printed per protocol: the policy's validation curve and its reason; the baselines and the oracle
(balanced accuracy and few-shot recall with 95% intervals over seeds); the perfect generator's table
(dose, synthetic rows, both scores, both paired differences from duplication); a line per dose
"bound at dose d: perfect − duplication = X points balanced accuracy, Y few-shot recall", and, where
the largest bound over the levers' doses is under 1 point, that no generator can show a gain on this
protocol at this classifier budget; the levers table (dose, weight, deferral, label threshold, classes
and synthetic rows shipped, both scores, both paired differences from the best baseline with their
intervals and wins, both recoveries); the verdict.

A probe on fewshot (small CNN, 1,500 steps, 2 seeds, one-cycle, flips, the full test set) put
duplication at 0.789 balanced accuracy / 0.394 few-shot recall, and 20 / 60 / 200 left-out real images
per tail class at 0.812/0.476, 0.829/0.541, 0.863/0.674 (filling the classes: 0.886/0.769): there a
generator has several points to win, where on exponential and step the bound may be within noise.

Target (issue 16), at the CPU budget, on exponential and step: policy - best baseline has a paired 95%
interval whose lower bound is >= -0.3 points in balanced accuracy, and lies above zero in few-shot
recall (the mean recall of the three rarest training classes). Aim beyond: recover half of the
balanced-accuracy gap between the best baseline and the oracle. The levers table says what each
lever did when the target is missed.

The label-threshold lever generates a second time with a FilterConfig at 0.5 instead of splitting one
0.5 run by ``label_probs`` >= 0.9: the 0.9 rows are then exactly what a run ships (same ask, same
sample stream) and the 0.5 rows what a run at 0.5 would ship; a split would need a guessed larger
ask, and the 0.9 set would depend on the guess. It costs a second generation pass (minutes), as does
the calibrated lever. The 0.5 lever keeps the gate's eligible classes, so only the filter changes; the
calibrated one gives every minority class rows, since the gate judged the 0.9 rows and the class the 0.9
filter leaves empty is the one calibration refills.

Everything is kept under --out: per protocol the domain classifier, the GAN checkpoint (gan.pt; a
killed run resumes it) and the accepted rows, and results.json, rewritten after every finished piece
and reused on a rerun. Other settings in the same folder are refused. results.json's pieces: oracle;
per protocol (protocols.<p>) gan, generation, usefulness, policy, baselines, levers.<lever key>,
perfect.<d<dose> or fill> (kept when the GAN changes: they do not depend on it) and verdict (issue
16's target, plus bound: perfect − duplication per dose, bound_says: the printed bound lines, and
recovery per lever key).

    .venv/bin/python bench/gain.py                    # all three protocols; CUDA if present, else the CPU budget
    .venv/bin/python bench/gain.py --protocol both    # exponential and step, as before fewshot
    .venv/bin/python bench/gain.py --protocol step --seeds 5 --out runs/gain-step
    .venv/bin/python bench/gain.py --bound-only --protocol fewshot   # no GAN: duplication and the perfect arm only
    .venv/bin/python bench/gain.py --smoke            # minutes: checks the script end to end, measures nothing
    # a few CPU hours: the GAN on fewshot, the policy, duplication and doses 1 and 2, one baseline, no
    # oracle, and issue 26's headroom check (the real rows' curve against the perfect generator)
    .venv/bin/python bench/gain.py --protocol fewshot --levers doses --lever-doses 1 2 --baselines oversampled \
        --no-oracle --headroom-check --mix-seeds 1
    # a generator lever: another GAN (here gSR), in a folder of its own seeded with the baselines, the
    # perfect bound and duplication of an earlier run (settings differing only in gan's and mix's); a
    # fixed policy at dose 1 skips the validation grid (about 40 minutes GAN + 25 minutes mixes on 2 cores)
    .venv/bin/python bench/gain.py --protocol fewshot --levers policy,calibrated --move-doses 1 \
        --baselines oversampled --no-oracle --headroom-check --no-halving --gan-steps 8000 \
        --gan-set gsr_weight=0.5 --mix-set policy=fixed --reuse-from runs/gain-calib --out runs/gain-gsr-fixed
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import bound  # bench/bound.py, beside this script
import headroom_check  # bench/headroom_check.py
import numpy as np
import torch

from gan_aug import pipeline
from gan_aug.config import (
    GAN_EXECUTION_KEYS,
    AugmentConfig,
    EvaluateConfig,
    FilterConfig,
    GANConfig,
    GenerateConfig,
    MixConfig,
)
from gan_aug.data.analysis import analyse
from gan_aug.data.builtin import FASHION_MNIST_DIR, fashion_mnist
from gan_aug.data.imageset import ImageSet
from gan_aug.data.longtail import subsample_counts, subsample_long_tail
from gan_aug.device import resolve_device
from gan_aug.evaluate import (
    GAN_METHODS,
    METHODS,
    TrainingSet,
    evaluate_downstream,
    evaluation_seeds,
    fit_and_score,
    paired_comparison,
    rarest_classes,
)
from gan_aug.evaluate.mix_choice import choose_mix
from gan_aug.evaluate.runner import summarise_runs
from gan_aug.io import read_json, write_json
from gan_aug.metrics.extractors import DomainExtractor, build_extractor
from gan_aug.mix import TrainingMix, build_mix
from gan_aug.mix.policy import MixChoice, class_doses
from gan_aug.progress import generation_log, training_log
from gan_aug.stages import (
    ClassSampler,
    GANJob,
    TrainedGAN,
    Usefulness,
    accept,
    assess,
    domain_model,
    generate_filtered,
    train_job,
)
from gan_aug.synthetic import SyntheticSet

STEP_COUNTS = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
FEWSHOT_CLASSES = (2, 4, 6)  # pullover, coat, shirt: the three hardest classes
FEWSHOT_COUNTS = [20 if k in FEWSHOT_CLASSES else 1500 for k in range(10)]
PROTOCOLS = ("exponential", "step", "fewshot")
CHOICES = {**{p: (p,) for p in PROTOCOLS}, "all": PROTOCOLS, "both": ("exponential", "step")}
VAL_FRACTION = 0.15
BASELINES = tuple(name for name in METHODS if name not in GAN_METHODS)
LABEL_RUN = "0.9"  # the run's label filter: threshold 0.9 for every class
# The filter levers: a fixed label threshold, or "q<quantile>" (filter.label_quantile: per class, that quantile of
# the domain classifier's probability on the class's real held-out images, at most 0.9); "-own": with
# filter.d_own_cap (a tail class's D threshold lowered to its own few held-out images' quantile).
LABEL_LEVERS = {"threshold": "0.5", "calibrated": "q0.1", "own-d": "q0.1-own"}
TARGET_FLOOR = -0.003  # policy - best baseline, balanced accuracy: lowest allowed lower bound
logger = logging.getLogger("gain")


# --- settings -------------------------------------------------------------------------------------

# The config sections the benchmark sets (an AugmentConfig's: the others are unused), kept in results.json.
SECTIONS = ("gan", "generate", "filter", "mix", "evaluate")


def settings_record(s: AugmentConfig, test_per_class: int | None) -> dict:
    """JSON-normalised, so a rerun can compare it with what results.json was made with (how many processes
    train the GAN is not a setting of the results)."""
    dumped = s.model_dump(include=set(SECTIONS), exclude={"gan": set(GAN_EXECUTION_KEYS)})
    return json.loads(json.dumps({**dumped, "test_per_class": test_per_class}))


def settings_from(args: argparse.Namespace, cuda: bool) -> tuple[AugmentConfig, int | None]:
    """The run's defaults, with the budget issue 16 asks for, and the test images per class (None: the
    whole test set); --smoke shrinks every budget to seconds."""
    if args.smoke:  # a 30-step GAN makes blobs: without the label filter and the gate, rows still flow
        return AugmentConfig(
            gan=GANConfig(steps=30, time_budget_s=0, eval_every=15, eval_samples=64, checkpoint_every=15),
            filter=FilterConfig(filters=["discriminator", "memorisation"], feature_steps=50, bootstrap_rounds=5),
            generate=GenerateConfig(budget_factor=2.0),
            mix=MixConfig(doses=[0.2], seeds=1, steps=args.mix_steps, min_agreement=0.0, bootstrap_rounds=50),
            evaluate=evaluation(args, cuda, steps=20, seeds=1)), 100
    if args.gan_steps or cuda:  # a step count: 20,000 on CUDA, as a run does
        gan = GANConfig(steps=args.gan_steps or 20_000, time_budget_s=0, batch_size=256 if cuda else 64)
    else:  # a time budget and no step count, as a run on a CPU trains
        gan = GANConfig(time_budget_s=args.gan_minutes * 60)
    mix = MixConfig(seeds=args.mix_seeds or MixConfig().seeds, steps=args.mix_steps, halving=not args.no_halving)
    gan, mix = with_settings(gan, args.gan_set, "--gan-set"), with_settings(mix, args.mix_set, "--mix-set")
    return AugmentConfig(gan=gan, mix=mix, evaluate=evaluation(args, cuda)), None


def with_settings(section, assignments: list[str], flag: str):
    """``section`` (a config section) with ``flag``'s KEY=VALUE assignments (VALUE read as JSON, else as text),
    validated as a config file's would be: a generator lever is a GAN trained with other settings."""
    kind, update = type(section), {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or key not in kind.model_fields:
            raise SystemExit(f"{flag} {assignment!r}: want KEY=VALUE with KEY one of {', '.join(kind.model_fields)}")
        try:
            update[key] = json.loads(text)
        except json.JSONDecodeError:
            update[key] = text
    try:
        return kind(**{**section.model_dump(), **update})
    except ValueError as error:
        raise SystemExit(f"{flag}: {error}") from None


def evaluation(args: argparse.Namespace, cuda: bool, steps: int | None = None, seeds: int | None = None):
    """One classifier for every method, the policy and the oracle (flags first, then the given values)."""
    return EvaluateConfig(model="small_cnn", width=32, steps=args.steps or steps or (10_000 if cuda else 5_000),
                          batch_size=128, lr=2e-3, schedule="onecycle", flip=True,
                          patience=args.patience, seeds=args.seeds or seeds or (5 if cuda else 3))


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return f"CPU {model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


# --- results.json ---------------------------------------------------------------------------------

GAN_PIECES = ("gan_sha256", "gan", "generation", "usefulness", "policy", "levers", "verdict", "headroom_check")


class Results:
    """Every finished piece under its key path, written atomically after each, reused on a rerun."""

    def __init__(self, path: Path, settings: dict):
        self.path = path
        self.data = read_json(path) if path.exists() else {"settings": settings}
        if self.data["settings"] != settings:
            changed = sorted(k for k in settings if settings[k] != self.data["settings"].get(k))
            raise SystemExit(f"{path} was made with other settings ({', '.join(changed)}); use another --out")

    def reuse(self, other: Path) -> None:
        """Seed a new --out from ``other`` (every setting but gan's and mix's the same): the pieces no GAN
        made (the oracle, the baselines, the perfect bound, the headroom cuts, duplication alone) and its
        domain classifiers; and, when its GAN settings are these, its GAN and what that made (rows, label
        agreement, levers). A generator lever (--gan-set) then costs its GAN and its own mixes, not the
        reruns; a cheaper policy (--mix-set policy=fixed) keeps a GAN already trained."""
        theirs = read_json(other / "results.json")
        ours_s, their_s = self.data["settings"], theirs["settings"]
        changed = sorted(k for k in ours_s if k not in ("gan", "mix") and ours_s[k] != their_s.get(k))
        if changed:
            raise SystemExit(f"--reuse-from {other}: made with other settings ({', '.join(changed)}) than gan and mix")
        same_gan, kept = ours_s["gan"] == their_s.get("gan"), 0
        mix_made = ("policy", "verdict", "headroom_check")  # read the policy's choice
        for key, value in theirs.items():
            if key == "settings":
                continue
            if key != "protocols":
                kept += self._seed((key,), value)
                continue
            for protocol, node in value.items():
                for piece, found in node.items():
                    if piece == "levers":  # duplication alone is the same mix whatever GAN made the rows
                        for lever, entry in found.items():
                            if same_gan or lever.startswith("d0-"):
                                kept += self._seed(("protocols", protocol, "levers", lever), entry)
                    elif piece not in GAN_PIECES or (same_gan and piece not in mix_made):
                        kept += self._seed(("protocols", protocol, piece), found)
                files = ["domain.pt"]
                if same_gan:
                    rows = (p.name for p in (other / protocol).glob("accepted-t*.npz"))
                    files += ["gan.pt", "gan.timing.json", *rows]
                (self.path.parent / protocol).mkdir(parents=True, exist_ok=True)
                for name in files:
                    source, target = other / protocol / name, self.path.parent / protocol / name
                    if source.exists() and not target.exists():
                        shutil.copy2(source, target)
        print(f"reused {kept} pieces from {other}{' (its GAN too)' if same_gan else ''}")

    def _seed(self, keys: tuple[str, ...], value) -> int:
        if self.get(*keys) is not None:
            return 0
        self.put(*keys, value=value)
        return 1

    def get(self, *keys: str):
        node = self.data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    def put(self, *keys: str, value) -> None:
        node = self.data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        write_json(self.path, self.data)

    def piece(self, keys: tuple[str, ...], label: str, compute: Callable[[], dict]) -> dict:
        """The stored piece, or ``compute()`` timed, stored and returned."""
        found = self.get(*keys)
        if found is not None:
            print(f"  {label}: from results.json ({found['seconds']:.0f} s when run)", flush=True)
            return found
        started = time.perf_counter()
        value = {**compute(), "seconds": round(time.perf_counter() - started, 1)}
        self.put(*keys, value=value)
        print(f"  {label}: {value['seconds']:.0f} s", flush=True)
        return value

    def bind_gan(self, protocol: str, sha256: str) -> None:
        """Pieces made from another checkpoint of this protocol's GAN are stale: forget them."""
        node = self.get("protocols", protocol) or {}
        if node.get("gan_sha256") not in (None, sha256):
            for key in GAN_PIECES:
                node.pop(key, None)
        self.put("protocols", protocol, "gan_sha256", value=sha256)


# --- data -----------------------------------------------------------------------------------------

def long_tailed(protocol: str) -> ImageSet:
    full = fashion_mnist("train")
    if protocol == "exponential":
        return subsample_long_tail(full, "exponential", 100.0, seed=0)
    return subsample_counts(full, FEWSHOT_COUNTS if protocol == "fewshot" else STEP_COUNTS, seed=0)


def split(data: ImageSet, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Train and validation per class: about VAL_FRACTION of each class held out, at least one image
    (the policy's balanced accuracy needs every class) and never all of it."""
    rng, held = np.random.default_rng(seed), []
    for label in range(data.num_classes):
        rows = rng.permutation(np.flatnonzero(data.labels == label))
        held.append(rows[:min(len(rows) - 1, max(1, round(VAL_FRACTION * len(rows))))])
    val = np.sort(np.concatenate(held))
    return data.subset(np.setdiff1d(np.arange(len(data)), val)), data.subset(val)


def test_set(per_class: int | None) -> ImageSet:
    """The real test set, or its first ``per_class`` images of each class (--smoke)."""
    test = fashion_mnist("test")
    if per_class is None:
        return test
    return test.subset(np.sort(np.concatenate([np.flatnonzero(test.labels == k)[:per_class]
                                               for k in range(test.num_classes)])))


# --- the GAN and its rows: the pipeline's stages, each kept in results.json ----------------------

@dataclass
class Synthesis:
    """What the levers are built from: the split, the targets, and per label threshold the accepted rows."""

    train: ImageSet
    val: ImageSet
    targets: np.ndarray
    makes: list[int]  # minority classes with synthetic rows worth generating
    domain: DomainExtractor
    accepted: dict[str, SyntheticSet]  # label-filter variant (LABEL_RUN, LABEL_LEVERS) → accepted rows


def label_setting(label: str) -> dict:
    """A filter variant as FilterConfig settings: "0.5" a label threshold for every class, "q0.1" calibrated per
    class, "q0.1-own" calibrated with the D threshold capped by the class's own held-out images."""
    label, own = label.removesuffix("-own"), label.endswith("-own")
    if label.startswith("q"):
        return {"label_quantile": float(label[1:]), "d_own_cap": own}
    return {"label_threshold": float(label), "label_quantile": None, "d_own_cap": own}


@dataclass
class KeptSteps:
    """How the benchmark runs each step of gan_aug.pipeline.synthesise (which decides what runs, in what
    order, as for a run): the domain classifier and the GAN reused from ``folder``; generation and FD
    acceptance as one piece of results.json per label threshold (their rows in ``folder``), run in
    ``accept`` so that a rerun skips both; label agreement and the policy's grid as pieces too."""

    protocol: str
    train: ImageSet
    val: ImageSet
    targets: np.ndarray
    s: AugmentConfig
    folder: Path
    device: str
    results: Results

    def features(self) -> DomainExtractor:
        return DomainExtractor(domain_model(self.train, self.s.filter.feature_steps, device=self.device,
                                            path=self.folder / "domain.pt"))

    def train_gans(self, jobs: list[GANJob], domain: DomainExtractor) -> list[TrainedGAN]:
        return [self.train_one(job, domain) for job in jobs]

    def train_one(self, job: GANJob, domain: DomainExtractor) -> TrainedGAN:
        started, s = time.perf_counter(), self.s
        run = train_job(job, self.train, self.val, s.gan, self.folder / "gan.pt",
                        base_hash=f"gain:{self.protocol}:{s.gan.identity_json()}", domain=domain, device=self.device,
                        progress=training_log(logger, f"{self.protocol} GAN"), warn=print)
        result = run.result
        reason = result.stop_reason or ("reused" if result.resumed_from == result.steps else "?")
        print(f"  GAN: {result.steps} steps ({reason}), {result.train_seconds:.0f} s of training in all, "
              f"{time.perf_counter() - started:.0f} s here; sha256 {result.sha256[:12]}", flush=True)
        self.results.bind_gan(self.protocol, result.sha256)
        self.results.put("protocols", self.protocol, "gan",
                         value={k: v for k, v in result.to_dict().items() if k != "history"})
        return run

    def generate(self, asks: list[tuple[ClassSampler, int]], domain: DomainExtractor):
        return asks  # generated in ``accept``, with the acceptance, as one kept piece

    def accept(self, asks: list[tuple[ClassSampler, int]], domain: DomainExtractor, label: str = LABEL_RUN):
        """Every class's rows through the run's filters with this label filter (a threshold, or "q<quantile>":
        calibrated per class), then FD acceptance."""
        path = self.folder / f"accepted-t{label}.npz"
        keys = ("protocols", self.protocol, "generation", label)
        if self.results.get(*keys) is not None:
            if path.exists():
                print(f"  rows at label filter {label}: from {path}", flush=True)
                return SyntheticSet.load(path), None
            self.results.put(*keys, value=None)  # recorded, but the rows are gone: make them again
        filters, train = self.s.filter.model_copy(update=label_setting(label)), self.train
        features = functools.cache(lambda: domain.features(train.images))

        def compute() -> dict:
            parts, stats = [], {}
            for sampler, wanted in asks:
                part, stats[sampler.label] = generate_filtered(
                    sampler, wanted, filters=filters, generate=self.s.generate, val=self.val, train=train,
                    domain=domain, train_features=features, device=self.device,
                    progress=generation_log(logger, f"{train.class_names[sampler.label]} at {label}"))
                parts.append(part)
            judge = build_extractor(filters.extractor, domain_model=domain.model, device=self.device)
            candidates = SyntheticSet.concat(parts) if parts else SyntheticSet.empty(train.images.shape[1:], "")
            acceptance = accept(candidates, train, judge, filters, seed=self.s.generate.seed)
            acceptance.accepted.save(path)
            return {"classes": {str(k): {**stats[k].to_dict(), "kept": int(np.sum(acceptance.accepted.labels == k)),
                                         "acceptance": acceptance.report.status.get(k)} for k in stats}}

        found = self.results.piece(keys, f"rows at label filter {label}", compute)
        print("    per class kept / needed (generated): " + ", ".join(
            f"{k} {c['kept']}/{c['needed']} ({c['generated']})" for k, c in found["classes"].items()), flush=True)
        return SyntheticSet.load(path), None  # the acceptance report lives in results.json

    def usefulness(self, accepted: SyntheticSet, samplers: list[ClassSampler], domain: DomainExtractor) -> Usefulness:
        """Label agreement of the 0.9 rows per class (the gate the pipeline applies)."""
        found = self.results.piece(("protocols", self.protocol, "usefulness"), "label agreement", lambda: assess(
            self.train, self.val, None, accepted, None, domain, self.s.evaluate, device=self.device).to_dict())
        useful = Usefulness.from_dict(found)
        print(f"    agreement per class {({k: round(v, 2) for k, v in useful.label_agreement.items()})}; gate "
              f">= {self.s.mix.min_agreement:g}", flush=True)
        return useful

    def choose_mix(self, accepted: SyntheticSet, eligible: list[int]) -> MixChoice:
        found = self.results.piece(
            ("protocols", self.protocol, "policy"), "the policy's grid on validation", lambda: choose_mix(
                self.train, self.val, accepted, self.targets, eligible, self.s.mix, self.s.evaluate,
                device=self.device).to_dict())
        fields = {k: v for k, v in found.items() if k != "seconds"}
        return MixChoice.from_dict(fields)


def synthesise(protocol: str, s: AugmentConfig, out: Path, device: str, results: Results,
               labels: tuple[str, ...] = ()) -> tuple[Synthesis, list[int], MixChoice]:
    """The pipeline's stages on the protocol's split (as a run composes them), then the label-filter
    levers' rows (``labels``: LABEL_LEVERS' values) from the same asks; the rows, the eligible classes and the
    policy's choice."""
    data = long_tailed(protocol)
    train, val = split(data)
    print(f"\n## {protocol}: {len(data)} images, {len(train)} train {train.class_counts().tolist()}, "
          f"{len(val)} validation {val.class_counts().tolist()}", flush=True)
    balance = analyse(train)
    targets = np.asarray(balance.targets)
    steps = KeptSteps(protocol, train, val, targets, s, out / protocol, device, results)
    found = pipeline.synthesise(steps, train.class_counts(), targets, list(balance.minority_classes), "shared",
                                s.mix)
    print(f"    eligible: {found.eligible}", flush=True)
    accepted = {LABEL_RUN: found.accepted}
    for label in labels:
        accepted[label] = steps.accept(found.generated, found.features, label=label)[0]
    return Synthesis(train, val, targets, found.makes, found.features, accepted), found.eligible, found.choice


@dataclass(frozen=True)
class Lever:
    """One training mix scored on test: the policy's choice, a grid point, or one lever moved from it."""

    name: str
    dose: float
    weight: float
    late_from: float = 0.0
    label: str = LABEL_RUN  # the label filter its rows passed (LABEL_RUN, LABEL_LEVERS)
    gated: bool = True
    policy: bool = False  # built by MixChoice.build, as a run ships it (the same rows as its grid point)

    @property
    def key(self) -> str:
        gate = "gate" if self.gated else "all"
        return f"d{self.dose:g}-w{self.weight:g}-late{self.late_from:g}-t{self.label}-{gate}"


LEVER_SETS = {"all": ("policy", "grid", "deferred", "threshold", "calibrated", "own-d", "gate"),
              "doses": ("policy", "grid-w1")}
LEVER_NAMES = ("policy", "grid", "grid-w1", "deferred", "threshold", "calibrated", "own-d", "gate")


def lever_names(text: str) -> tuple[str, ...]:
    """--levers: "all", "doses", or names from LEVER_NAMES, comma-separated."""
    names = LEVER_SETS.get(text) or tuple(text.split(","))
    unknown = sorted(set(names) - set(LEVER_NAMES))
    if unknown:
        raise SystemExit(f"--levers: unknown {', '.join(unknown)}; use all, doses or some of {', '.join(LEVER_NAMES)}")
    return names


def levers(choice: MixChoice, mix: MixConfig, which: tuple[str, ...] = LEVER_SETS["all"],
           only: list[float] | None = None, move_doses: list[float] | None = None) -> list[Lever]:
    """The policy's choice, the grid's points (every one; "grid-w1": weight 1 only, the doses the perfect arm
    has; with ``only``, duplication and these doses), then deferral, the filters and the gate moved one
    at a time from the policy's choice (dose 1, weight 1 where it ships none; at each of ``move_doses`` when
    given), as ``which`` names them."""
    dose, weight = (choice.dose, choice.weight) if choice.dose > 0 else (1.0, 1.0)
    moved_levers = [lever for d in (move_doses or [dose]) for lever in _moves(d, weight, which)]
    grid = [(0.0, 1.0)] + [(d, w) for d in sorted({d for d in mix.doses if d > 0})
                           for w in sorted(set(mix.weights), reverse=True)]
    if "grid" not in which:  # duplication always: it is what the perfect arm and recovery are measured from
        grid = [(d, w) for d, w in grid if d == 0 or (w == 1.0 and "grid-w1" in which)]
    grid = [(d, w) for d, w in grid if only is None or d == 0 or d in only]
    chosen = (choice.dose, choice.weight)
    point = lambda d, w: "duplication only" if d == 0 else f"dose {d:g}, weight {w:g}"  # noqa: E731
    found = [Lever(f"policy choice: {point(*chosen)}", *chosen, policy=True)] if "policy" in which else []
    found += [Lever(f"grid: {point(d, w)}{' (= policy)' if (d, w) == chosen else ''}", d, w) for d, w in grid]
    return found + moved_levers


def _moves(dose: float, weight: float, which: tuple[str, ...]) -> list[Lever]:
    """Deferral, the filters and the gate, each moved alone at this dose and weight."""
    moved = f"dose {dose:g}, weight {weight:g}"
    moves = {"deferred": Lever(f"deferred to 50% ({moved})", dose, weight, late_from=0.5),
             "threshold": Lever(f"label threshold 0.5 ({moved})", dose, weight, label=LABEL_LEVERS["threshold"]),
             # ungated: the gate judged the 0.9 rows, and a class the 0.9 filter left empty (fewshot's shirts) is the
             # one calibration refills
             "calibrated": Lever(f"label threshold per class, quantile 0.1 of real held-out, no gate ({moved})", dose,
                                 weight, label=LABEL_LEVERS["calibrated"], gated=False),
             "own-d": Lever(f"as calibrated, and each tail class's D threshold capped by its own held-out images, "
                            f"no gate ({moved})", dose, weight, label=LABEL_LEVERS["own-d"], gated=False),
             "gate": Lever(f"no agreement gate ({moved})", dose, weight, gated=False)}
    return [lever for name, lever in moves.items() if name in which]


def lever_mix(lever: Lever, choice: MixChoice, synth: Synthesis, eligible: list[int], seed: int) -> TrainingMix:
    """The policy's mix as a run ships it; any other lever built the same way with its own settings."""
    if lever.policy:
        return choice.build(synth.train, synth.accepted[LABEL_RUN], synth.targets, seed=seed)
    classes = eligible if lever.gated else synth.makes
    return build_mix(synth.train, synth.accepted[lever.label], synth.targets,
                     class_doses(lever.dose, classes, synth.train.num_classes), weight=lever.weight,
                     late_from=lever.late_from, seed=seed)


def score_lever(protocol: str, lever: Lever, mix: TrainingMix, synth: Synthesis, test: ImageSet, s: AugmentConfig,
                device: str, results: Results) -> dict:
    """The lever's mix trained on every seed and scored on test, once per distinct mix."""
    return score_mix(("protocols", protocol, "levers", lever.key), lever.name, mix, synth, test, s, device, results)


def score_mix(keys: tuple[str, ...], name: str, mix: TrainingMix, synth: Synthesis, test: ImageSet,
              s: AugmentConfig, device: str, results: Results) -> dict:
    """A mix trained on every seed and scored on test as the method "gan", stored under ``keys``; a mix
    already scored beside it (the same fingerprint under the same parent key) is not trained again."""
    sha = mix.fingerprint()  # two levers that end up with the same mix are scored once
    scored = (results.get(*keys[:-1]) or {}).values()
    same = next((entry for entry in scored if entry.get("mix_sha256") == sha), None)
    if same is not None and results.get(*keys) is None:
        results.put(*keys, value=same)
        print(f"  {name}: the same mix as a row above, scored once", flush=True)
        return same

    def compute() -> dict:
        found = evaluate_downstream(synth.train, mix, test, s.evaluate, device=device, methods=("gan",),
                                    val=synth.val)
        return {**found["methods"]["gan"], "mix_sha256": sha, "synthetic_rows": len(mix.synthetic),
                "classes_with_rows": int((mix.class_counts("synthetic") > 0).sum())}

    return results.piece(keys, name, compute)


@dataclass(frozen=True)
class Perfect:
    """One mix of the perfect generator: real left-out images at a dose, or filling the classes."""

    key: str  # under protocols.<p>.perfect in results.json: "d<dose>" or "fill"
    dose: float
    entry: dict

    @property
    def label(self) -> str:
        return f"fill ({self.dose:g})" if self.key == "fill" else f"{self.dose:g}"


def perfect_arm(protocol: str, lever_list: list[Lever], synth: Synthesis, test: ImageSet, s: AugmentConfig,
                device: str, results: Results) -> list[Perfect]:
    """Real training images the subset left out in the generator's part (bench/bound.py), built into a
    mix as the levers are (``build_mix``, unfiltered, every minority class given rows) at every dose a
    lever ships at and at "fill", each scored like a lever."""
    classes = bound.minority(synth.train, synth.targets)
    used = np.concatenate([synth.train.source_index, synth.val.source_index])
    rows = bound.left_out(fashion_mnist("train"), used, classes, seed=s.mix.seed)
    print(f"\nperfect generator: {len(rows)} real left-out training images of classes {classes}", flush=True)
    fill = bound.fill_dose(synth.train.class_counts(), synth.targets)
    found = []
    for key, dose in bound.points([lever.dose for lever in lever_list], fill):
        mix = build_mix(synth.train, rows, synth.targets, class_doses(dose, classes, synth.train.num_classes),
                        seed=s.mix.seed)
        found.append(Perfect(key, dose, score_mix(("protocols", protocol, "perfect", key), f"perfect at dose {key}",
                                                  mix, synth, test, s, device, results)))
    return found


def bounds(perfect: list[Perfect], duplication: dict) -> dict[str, dict]:
    """Per perfect mix, its dose and perfect − duplication per metric, paired per seed."""
    return {p.key: {"dose": p.dose, **{m: paired_comparison(p.entry["per_seed"][m], duplication["per_seed"][m])
                                       ["mean_diff"] for m in bound.METRICS}} for p in perfect}


def recovery_key(lever: Lever) -> str:
    """The policy's choice has its grid point's key (the same rows): its recovery is kept apart."""
    return "policy" if lever.policy else lever.key


def recoveries(rows: list[tuple[Lever, dict]], perfect: list[Perfect], duplication: dict) -> dict[str, dict]:
    """Per lever: (lever − duplication) / (perfect − duplication) at the lever's dose, per metric (None
    where the bound is under half a point, or the lever ships no rows); the policy's choice under "policy"."""
    at = {p.dose: p.entry for p in perfect if p.key != "fill"}
    found = {}
    for lever, entry in rows:
        top = at.get(lever.dose) if lever.dose > 0 else None
        found[recovery_key(lever)] = {"name": lever.name, "dose": lever.dose, **{
            m: None if top is None else bound.recovery(entry[m], duplication[m], top[m]) for m in bound.METRICS}}
    return found


def oracle(test: ImageSet, s: AugmentConfig, device: str, results: Results) -> dict:
    """The same classifier and steps on the full balanced training set, every seed; per-class recall
    is kept per seed, so each protocol can read its own rarest classes."""
    def compute() -> dict:
        full = fashion_mnist("train")
        held = np.sort(np.concatenate([np.random.default_rng(0).permutation(np.flatnonzero(full.labels == k))[:500]
                                       for k in range(full.num_classes)]))
        train, val = full.subset(np.setdiff1d(np.arange(len(full)), held)), full.subset(held)
        runs = [fit_and_score("oracle", TrainingSet(train), test, s.evaluate, seed, device, val=val)
                for seed in evaluation_seeds(s.evaluate)]
        return {"train_rows": len(train), "runs": runs}

    return results.piece(("oracle",), "oracle (55,000 balanced images, stopped on 5,000 more)", compute)


def oracle_for(found: dict, rare: list[int]) -> dict:
    """The oracle's runs with few-shot recall read on this protocol's rarest classes."""
    runs = [{**run, "few_shot_recall": float(np.mean(np.asarray(run["per_class_recall"])[rare]))}
            for run in found["runs"]]
    return summarise_runs(runs, found["train_rows"], found["seconds"])


# --- tables ---------------------------------------------------------------------------------------

def points(value: float) -> str:
    return f"{100 * value:.1f}"


def with_ci(entry: dict, key: str) -> str:
    ci = entry["ci"].get(key)
    return points(entry[key]) + (f" [{points(ci[0])}, {points(ci[1])}]" if ci else "")


def diff(comparison: dict) -> str:
    ci = comparison["ci"]
    return f"{100 * comparison['mean_diff']:+.1f}" + (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "")


def paired(entry: dict, best: dict) -> dict[str, dict]:
    return {key: paired_comparison(entry["per_seed"][key], best["per_seed"][key])
            for key in ("balanced_accuracy", "few_shot_recall")}


def print_baselines(baselines: dict, oracle_entry: dict | None) -> None:
    print("\n| method | train rows | balanced accuracy [95% CI] | few-shot recall [95% CI] | s |\n"
          "|---|---|---|---|---|")
    for name, entry in {**baselines["methods"], **({"oracle": oracle_entry} if oracle_entry else {})}.items():
        mark = " (best baseline)" if name == baselines["best_baseline"] else ""
        print(f"| {name}{mark} | {entry['train_rows']} | {with_ci(entry, 'balanced_accuracy')} | "
              f"{with_ci(entry, 'few_shot_recall')} | {entry['seconds']:.0f} |")


def print_curve(choice: MixChoice) -> None:
    print(f"\nthe policy on validation: {choice.reason}\n\n| dose | weight | synthetic rows | validation balanced "
          "accuracy | vs duplication [its standard error] | may ship | standard error vs top | within noise |\n"
          "|---|---|---|---|---|---|---|---|")
    for p in choice.curve:
        chosen = " ← chosen" if (p["dose"], p["weight"]) == (choice.dose, choice.weight) else ""
        print(f"| {p['dose']:g} | {p['weight']:g} | {p['synthetic_rows']} | {points(p['balanced_accuracy'])} | "
              f"{100 * p['vs_duplication']:+.1f} [{points(p['duplication_se'])}] | {'yes' if p['clears'] else 'no'} | "
              f"{points(p['standard_error'])} | {'yes' if p['within_noise'] else 'no'}{chosen} |")


LEVER_COLUMNS = ("mix", "dose", "weight", "deferral", "label threshold", "classes with rows", "synthetic rows",
                 "balanced accuracy [95% CI]", "few-shot recall [95% CI]", "Δ balanced accuracy [paired 95% CI]",
                 "Δ few-shot recall [paired 95% CI]", "wins", "recovery balanced accuracy", "recovery few-shot recall",
                 "s")
PERFECT_COLUMNS = ("dose", "synthetic rows", "balanced accuracy [95% CI]", "few-shot recall [95% CI]",
                   "Δ balanced accuracy vs duplication [paired 95% CI]",
                   "Δ few-shot recall vs duplication [paired 95% CI]", "s")


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_levers(rows: list[tuple[Lever, dict]], best: dict, best_name: str, recovery: dict[str, dict]) -> None:
    print(f"\nlevers, each paired with {best_name} on the same seeds (Δ in points; wins: seeds on which the mix "
          f"beat it in balanced accuracy / few-shot recall; recovery: (mix − duplication) / (perfect − duplication) "
          f"at the mix's dose, — where the bound is under {100 * bound.MIN_BOUND:g} points)\n")
    print("| " + " | ".join(LEVER_COLUMNS) + " |\n" + "|---" * len(LEVER_COLUMNS) + "|")
    for lever, entry in rows:
        d, seeds, r = paired(entry, best), len(entry["per_seed"]["balanced_accuracy"]), recovery[recovery_key(lever)]
        cells = (lever.name, f"{lever.dose:g}", f"{lever.weight:g}", "from 50%" if lever.late_from else "none",
                 lever.label, f"{entry['classes_with_rows']}{'' if lever.gated else ' (no gate)'}",
                 entry["synthetic_rows"], with_ci(entry, "balanced_accuracy"), with_ci(entry, "few_shot_recall"),
                 diff(d["balanced_accuracy"]), diff(d["few_shot_recall"]),
                 f"{d['balanced_accuracy']['wins']} / {d['few_shot_recall']['wins']} of {seeds}",
                 share(r["balanced_accuracy"]), share(r["few_shot_recall"]), f"{entry['seconds']:.0f}")
        print("| " + " | ".join(map(str, cells)) + " |")


def print_perfect(perfect: list[Perfect], duplication: dict) -> None:
    print("\nperfect generator (real left-out images): real training images the long-tailed subset left out, "
          "unfiltered, every minority class given rows; each paired with duplication (the grid's dose 0) on the "
          "same seeds (Δ in points)\n")
    print("| " + " | ".join(PERFECT_COLUMNS) + " |\n" + "|---" * len(PERFECT_COLUMNS) + "|")
    print(f"| 0 (duplication only) | 0 | {with_ci(duplication, 'balanced_accuracy')} | "
          f"{with_ci(duplication, 'few_shot_recall')} | | | {duplication['seconds']:.0f} |")
    for p in perfect:
        d = paired(p.entry, duplication)
        cells = (p.label, p.entry["synthetic_rows"], with_ci(p.entry, "balanced_accuracy"),
                 with_ci(p.entry, "few_shot_recall"), diff(d["balanced_accuracy"]), diff(d["few_shot_recall"]),
                 f"{p.entry['seconds']:.0f}")
        print("| " + " | ".join(map(str, cells)) + " |")


def verdict(protocol: str, policy_entry: dict, best: dict, best_name: str, oracle_entry: dict | None) -> dict:
    """Issue 16's target for one protocol: holds in balanced accuracy, beats in few-shot recall."""
    d = paired(policy_entry, best)
    ba, fsr = d["balanced_accuracy"], d["few_shot_recall"]
    gap = None if oracle_entry is None else paired_comparison(oracle_entry["per_seed"]["balanced_accuracy"],
                                                             best["per_seed"]["balanced_accuracy"])
    recovered = ba["mean_diff"] / gap["mean_diff"] if gap and gap["mean_diff"] > 0 else float("nan")
    holds = ba["ci"] is not None and ba["ci"][0] >= TARGET_FLOOR
    beats = fsr["ci"] is not None and fsr["ci"][0] > 0
    print(f"\nverdict ({protocol}): best baseline {best_name}; oracle - best "
          f"{'not run (--no-oracle)' if gap is None else diff(gap) + ' points'}")
    print(f"  policy - best, balanced accuracy {diff(ba)}: lower bound >= {100 * TARGET_FLOOR:.1f} points? "
          f"{'yes' if holds else 'no'}")
    print(f"  policy - best, few-shot recall {diff(fsr)}: interval above zero? {'yes' if beats else 'no'}")
    print(f"  share of the oracle gap recovered: {recovered:.2f} (aim: 0.5)")
    print(f"  target {'met' if holds and beats else 'NOT met: the levers table above says what each lever did'}",
          flush=True)
    return {"best_baseline": best_name, "balanced_accuracy": ba, "few_shot_recall": fsr, "oracle_gap": gap,
            "recovered": recovered, "holds": holds, "beats": beats, "target_met": holds and beats}


# --- one protocol, and main -----------------------------------------------------------------------

def run_protocol(protocol: str, test: ImageSet, oracle_runs: dict | None, s: AugmentConfig, out: Path, device: str,
                 results: Results, which: tuple[str, ...] = LEVER_SETS["all"], methods: tuple[str, ...] = BASELINES,
                 only: list[float] | None = None, check_headroom: bool = False,
                 move_doses: list[float] | None = None) -> None:
    synth, eligible, choice = synthesise(protocol, s, out, device, results,
                                         labels=tuple(LABEL_LEVERS[name] for name in LABEL_LEVERS if name in which))
    print_curve(choice)
    key = "baselines" if methods == BASELINES else "baselines-" + "-".join(methods)
    baselines = results.piece(("protocols", protocol, key), "baselines", lambda: evaluate_downstream(
        synth.train, None, test, s.evaluate, device=device, methods=methods, val=synth.val))
    oracle_entry = None if oracle_runs is None else oracle_for(oracle_runs, rarest_classes(synth.train))
    print(f"\nfew-shot classes (the three rarest): {[synth.train.class_names[k] for k in rarest_classes(synth.train)]}")
    print_baselines(baselines, oracle_entry)
    lever_list = levers(choice, s.mix, which, only, move_doses)
    rows = [(lever, score_lever(protocol, lever, lever_mix(lever, choice, synth, eligible, s.mix.seed), synth, test,
                                s, device, results)) for lever in lever_list]
    duplication = next(entry for lever, entry in rows if lever.dose == 0 and not lever.policy)
    perfect = perfect_arm(protocol, lever_list, synth, test, s, device, results)
    print_perfect(perfect, duplication)
    bound_at, recovery = bounds(perfect, duplication), recoveries(rows, perfect, duplication)
    lines = bound.bound_lines(bound_at)
    print("\n" + "\n".join(lines), flush=True)
    best_name = baselines["best_baseline"]
    best = baselines["methods"][best_name]
    print_levers(rows, best, best_name, recovery)
    policy = next((entry for lever, entry in rows if lever.policy), None)
    found = {} if policy is None else verdict(protocol, policy, best, best_name, oracle_entry)
    results.put("protocols", protocol, "verdict", value={**found, "bound": bound_at, "bound_says": lines,
                                                         "recovery": recovery})
    if check_headroom:
        headroom(protocol, synth, test, s, device, results, choice, rows, duplication, perfect)


def headroom(protocol: str, synth: Synthesis, test: ImageSet, s: AugmentConfig, device: str, results: Results,
             choice: MixChoice, rows: list[tuple[Lever, dict]], duplication: dict, perfect: list[Perfect]) -> None:
    """Issue 26's check (bench/headroom_check.py): the curve's predictions against the perfect arm."""
    minority = bound.minority(synth.train, synth.targets)
    cuts = headroom_check.cut_runs(
        synth.train, synth.val, test, synth.targets, minority, s.evaluate, s.mix.seed, evaluate_downstream, device,
        lambda compute: results.piece(("protocols", protocol, "headroom_cuts"), "headroom cuts (¼, ½) on test",
                                      compute))
    gan = {lever.name: (lever.dose, entry) for lever, entry in rows if lever.dose > 0 and not lever.policy}
    found = headroom_check.check(cuts, duplication, {f"{p.dose:g}": p.entry for p in perfect if p.key != "fill"}, gan,
                                 minority, int(synth.train.class_counts()[minority].sum()))
    validation = headroom_check.predicted_on_validation(choice.headroom)
    headroom_check.print_check(found, validation)
    results.put("protocols", protocol, "headroom_check", value={**found, "validation": validation})


def bound_only(protocol: str, test: ImageSet, s: AugmentConfig, device: str, results: Results) -> None:
    """The perfect-generator bound alone, no GAN trained (--bound-only): duplication, and real left-out
    images at the grid's doses and at fill. Whether anything is there for a generator to win, in the
    time of a few classifier runs; a full run later reuses these pieces."""
    data = long_tailed(protocol)
    train, val = split(data)
    targets = np.asarray(analyse(train).targets)
    print(f"\n## {protocol} (bound only): {len(data)} images, {len(train)} train {train.class_counts().tolist()}, "
          f"{len(val)} validation {val.class_counts().tolist()}", flush=True)
    synth = Synthesis(train, val, targets, [], None, {})
    nothing = SyntheticSet.empty(train.images.shape[1:], "")
    none = Lever("grid: duplication only", 0.0, 1.0)
    duplication = score_mix(("protocols", protocol, "levers", none.key), none.name,
                            build_mix(train, nothing, targets, 0.0, seed=s.mix.seed), synth, test, s, device, results)
    grid_levers = [Lever(f"grid: dose {d:g}", d, 1.0) for d in sorted(set(s.mix.doses))]
    perfect = perfect_arm(protocol, grid_levers, synth, test, s, device, results)
    print_perfect(perfect, duplication)
    bound_at = bounds(perfect, duplication)
    lines = bound.bound_lines(bound_at)
    print("\n" + "\n".join(lines), flush=True)
    results.put("protocols", protocol, "bound_only", value={"bound": bound_at, "bound_says": lines})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="all", choices=list(CHOICES),
                        help="all (default): the three; both: exponential and step")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seeds", type=int, default=None, help="evaluation seeds; default: 5 on CUDA, 3 on CPU")
    parser.add_argument("--steps", type=int, default=None,
                        help="classifier step cap; default: 10,000 CUDA, 5,000 CPU")
    parser.add_argument("--patience", type=int, default=4, help="validation checks without improvement before a "
                        "classifier run stops, keeping its best weights (0: train for exactly --steps)")
    parser.add_argument("--gan-minutes", type=float, default=25.0, help="CPU: the GAN's time budget (default 25)")
    parser.add_argument("--gan-steps", type=int, default=None, help="a step count instead (default on CUDA: 20,000)")
    parser.add_argument("--mix-seeds", type=int, default=None, help="classifier runs per grid point (mix.seeds: 2)")
    parser.add_argument("--mix-steps", type=int, default=None, help="classifier steps per grid run; default: --steps")
    parser.add_argument("--no-halving", action="store_true", help="every grid point on every mix seed (mix.halving "
                        "false)")
    parser.add_argument("--gan-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a GAN setting for a generator lever (repeatable), e.g. gsr_weight=0.5; use its own --out")
    parser.add_argument("--mix-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a mix setting (repeatable), e.g. policy=fixed: no validation grid, dose mix.dose")
    parser.add_argument("--reuse-from", action="append", default=[], metavar="DIR",
                        help="(repeatable) copy into --out what DIR holds that these settings would make again: the "
                        "pieces no GAN made, and its GAN's when its gan settings are these; DIR's other settings but "
                        "mix must match")
    parser.add_argument("--out", default=None, help="default: runs/gain (runs/gain-smoke with --smoke)")
    parser.add_argument("--bound-only", action="store_true", help="only duplication and the perfect generator "
                        "(real left-out images) per protocol, no GAN: is there a gain for any generator to find?")
    parser.add_argument("--levers", default="all", help="all (default: " + ",".join(LEVER_SETS["all"]) + "); doses ("
                        + ",".join(LEVER_SETS["doses"]) + "); or comma-separated from " + ", ".join(LEVER_NAMES))
    parser.add_argument("--lever-doses", type=float, nargs="+", default=None,
                        help="with --levers doses: only these grid doses (and duplication)")
    parser.add_argument("--move-doses", type=float, nargs="+", default=None,
                        help="the doses the moved levers (deferred, threshold, calibrated, own-d, gate) are built at; "
                        "default: the policy's dose (1 where it ships none)")
    parser.add_argument("--baselines", default=",".join(BASELINES),
                        help=f"comma-separated, from {', '.join(BASELINES)} (default: all)")
    parser.add_argument("--headroom-check", action="store_true", help="issue 26: the real rows' curve (minority "
                        "rows cut to 1/4 and 1/2, 2 seeds) against what the perfect generator measures")
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle (3 runs on 55,000 images)")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets everywhere: checks the script, in minutes")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="    %(message)s")  # the GAN's and generation's progress lines
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit("Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist")
    device = resolve_device(args.device)
    s, test_per_class = settings_from(args, device.type == "cuda")
    out = Path(args.out or ("runs/gain-smoke" if args.smoke else "runs/gain"))
    record = settings_record(s, test_per_class)
    results = Results(out / "results.json", record)
    for other in args.reuse_from:
        results.reuse(Path(other))
    print(f"device {device}: {hardware(device)}; out {out}{' (SMOKE: measures nothing)' if args.smoke else ''}")
    for name, value in record.items():
        print(f"  {name}: {value}")
    started, test = time.perf_counter(), test_set(test_per_class)
    print(f"\ntest set: {len(test)} real images {test.class_counts().tolist()}", flush=True)
    if args.bound_only:
        for protocol in CHOICES[args.protocol]:
            bound_only(protocol, test, s, str(device), results)
    else:
        methods = tuple(args.baselines.split(","))
        unknown = sorted(set(methods) - set(BASELINES))
        if unknown:
            raise SystemExit(f"--baselines: unknown {', '.join(unknown)}; choose from {', '.join(BASELINES)}")
        oracle_runs = None if args.no_oracle else oracle(test, s, str(device), results)
        for protocol in CHOICES[args.protocol]:
            run_protocol(protocol, test, oracle_runs, s, out, str(device), results, lever_names(args.levers), methods,
                         args.lever_doses, args.headroom_check, args.move_doses)
    print(f"\ntotal {time.perf_counter() - started:.0f} s this session; results in {results.path}")


if __name__ == "__main__":
    main()
