"""Benchmark: wall seconds and peak memory of each pipeline stage against the number of rows, the
growth exponent of each stage, and what one GPU, several GPUs and a cluster would change.

Input: Fashion-MNIST's 60,000 training images, resized (bilinear) to --px and repeated to 3 channels
for --rgb, made long-tailed (exponential profile, ratio 10: the head class has 10× the tail's rows)
and repeated until the set has the row count asked for (rows past 60,000 are copies; the memorisation
filter's radius then sits at its floor, which changes what it keeps, not what it costs). The set is
written once as an uncompressed .npz under --cache and reused.

For each (px, rows) a fresh process runs the stages in a run's order, on the data the previous
stage returned, through the library's own stage functions (the ones flows/tasks.py wraps):
  load       gan_aug.data.load.load_source on the .npz (read, conform, label)          per row
  split      make_splits (stratified train/val/test) and analyse (counts, targets)    per row
  features   the domain classifier (domain_model) at --feature-steps steps            fixed steps
  gan        train_job: the shared GAN at gan.steps = --gan-steps, no time budget      fixed steps
  generate   generate_filtered per minority class (the run's filters: discriminator,
             label, memorisation), rows wanted as the mix allows, budget_factor 1
             (every class generates exactly what it wants: cost per candidate)        per row (†)
  accept     accept: FD/KID floors and intervals, PRDC, the FD policy per class       per row (†)
  shards     build_mix (real + synthetic + duplicates to the targets) and write_shards
             with validation and test                                                 per row
  evaluate   the evaluation classifier on the mix (fit_and_score "gan", one seed,
             --eval-steps steps, no early stop) scored on test                       fixed steps + per row
(†) the stages that compare rows with rows: memorisation searches every training row for each
candidate (train × candidates), PRDC compares a class's rows with each other.
Downstream of generation, the synthetic rows are unfiltered samples of the same GAN in the numbers
each class wanted (drawn untimed between the stages), so accept, shards and evaluate see input that
grows with the rows whatever the filters of an undertrained GAN let through.

Seconds are wall time. Peak memory is the process's resident high-water mark during the stage (the
kernel's VmHWM, reset before each stage through /proc/self/clear_refs) plus its child processes' (the
shard writer's encoders), sampled every 50 ms; it includes what the run holds from earlier stages, as
a run does. The growth exponent is the slope of log(seconds) (and log(peak)) on log(rows) over the
sizes measured: 1 is linear, 0 a fixed cost. CPU seconds (the process's and its children's user +
system time) are printed beside wall seconds: on a shared machine wall time also counts the time
other jobs held the cores, CPU time much less so; a stage whose CPU exponent is over 1.15 is flagged
with its reason.

Results go to --out (JSON, rewritten after each stage; a rerun reuses what it holds for the same
settings, so a long set can be built over several sessions). The projection table at the end is
arithmetic on the measured seconds and stated assumptions, labelled as such: no GPU ran it.

    .venv/bin/python bench/scale.py                                   # 10k..300k at 28 px and 64 px RGB
    .venv/bin/python bench/scale.py --px 28 --sizes 10000 30000 100000
    .venv/bin/python bench/scale.py --px 64 --rgb --sizes 10000 30000 --stages load split generate accept
    .venv/bin/python bench/scale.py --smoke                           # tiny sizes, seconds: the test's
    .venv/bin/python bench/scale.py --px 28 --sizes 10000 30000 --report   # print what --out holds
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from memory import RssSampler, rss  # bench/memory.py, beside this script

MB = 2**20
STAGES = ("load", "split", "features", "gan", "generate", "accept", "shards", "evaluate")
# What each stage's cost should grow with, and why, when it is more than the rows.
GROWS = {
    "load": "per row", "split": "per row", "features": "fixed steps (+ nothing per row)",
    "gan": "fixed steps (+ FD references per class)", "generate": "per candidate × training rows (memorisation)",
    "accept": "per row (+ pairs per class, up to caps)", "shards": "per row", "evaluate": "fixed steps + test rows",
}
REASONS = {
    "generate": "gan_aug/filters/memorisation.py NearestReal: exact brute-force nearest neighbour of every "
                "candidate among every training row's features (candidates and training rows both grow with the "
                "rows), and the radius from each class's rows against every training row",
    "accept": "every pair of a class's rows below the caps: gan_aug/metrics/prdc.py (precision/recall/density/"
              "coverage, up to prdc.MAX_ROWS = 5,000 rows per set) and gan_aug/metrics/kid.py (the Gram matrix "
              "while a class and its samples hold up to 3,000 rows); above the caps a class costs a fixed amount "
              "and only its features grow with its rows, so the exponent falls toward 1 at larger sizes",
}
FLAG_EXPONENT = 1.15
SMOKE = dict(sizes=[400, 800], px=[16], feature_steps=2, gan_steps=2, eval_steps=2)


# ---------------------------------------------------------------- input

def source_path(cache: Path, px: int, rgb: bool, rows: int) -> Path:
    """The long-tailed set of ``rows`` rows at ``px`` (RGB or grey) as .npz, built on first use."""
    path = cache / f"fashion-mnist-lt10-{px}px-{'rgb' if rgb else 'l'}-{rows}.npz"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        images, labels, names = _long_tailed(px, rgb, rows)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=images, y=labels, class_names=np.array(names))
        tmp.replace(path)
    return path


def _long_tailed(px: int, rgb: bool, rows: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Fashion-MNIST train resized, per class in the exponential ratio-10 shares of ``rows``, each class's
    images repeated (in a seeded order) as often as its share needs."""
    from gan_aug.data.builtin import fashion_mnist
    from gan_aug.data.longtail import long_tail_counts

    base = fashion_mnist("train")
    shares = long_tail_counts(np.full(base.num_classes, 10**6), "exponential", 10.0).astype(float)
    counts = np.maximum(np.floor(shares / shares.sum() * rows).astype(np.int64), 2)
    counts[0] += rows - counts.sum()
    rng = np.random.default_rng(0)
    index = np.concatenate([np.resize(rng.permutation(np.flatnonzero(base.labels == k)), n)
                            for k, n in enumerate(counts)])
    used, where = np.unique(index, return_inverse=True)  # resize each source image once, only those used
    images = _resized(base.images[used], px)[where]
    if rgb:
        images = np.repeat(images, 3, axis=1)
    return images, base.labels[index], base.class_names


def _resized(images: np.ndarray, px: int) -> np.ndarray:
    if images.shape[-1] == px:
        return images
    import torch
    import torch.nn.functional as F

    parts = np.array_split(images, max(1, len(images) // 3000))
    out = [F.interpolate(torch.from_numpy(part).float(), size=(px, px), mode="bilinear", align_corners=False)
           .round().clamp(0, 255).to(torch.uint8).numpy() for part in parts]
    return np.concatenate(out)


# ---------------------------------------------------------------- memory

class PeakMemory:
    """Peak resident bytes during a block: this process's kernel high-water mark (reset at the start)
    and, sampled every 50 ms, this process plus its children (the shard writer's encoding workers)."""

    def __enter__(self) -> "PeakMemory":
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            pass  # then VmHWM is the process's peak so far: an upper bound
        self.before, self._sampler = rss(), RssSampler()
        self._sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self.peak = max(rss(field="VmHWM"), self._sampler.stop())


# ---------------------------------------------------------------- stages (in the child process)

class Run:
    """One (px, rows) through the stages in order; each stage reads what the earlier ones left here."""

    def __init__(self, source: Path, work: Path, args: argparse.Namespace):
        self.source, self.work, self.args = source, work, args
        self.device = args.device

    def load(self) -> dict:
        from gan_aug.config import DataConfig
        from gan_aug.data.load import load_source

        self.data = load_source(DataConfig(source=str(self.source), format="npz", cache=False)).data
        return {"rows": len(self.data), "mb_uint8": self.data.images.nbytes / MB}

    def split(self) -> dict:
        from gan_aug.config import DataConfig, MixConfig
        from gan_aug.data.analysis import analyse
        from gan_aug.data.load import make_splits
        from gan_aug.mix.policy import most_wanted

        self.splits = make_splits(self.data, DataConfig(source=str(self.source)))
        balance = analyse(self.splits.train)
        self.counts, self.targets = self.splits.train.class_counts(), np.array(balance.targets)
        self.wanted = most_wanted(self.counts, self.targets, MixConfig())
        self.minority = [k for k in balance.minority_classes if self.wanted[k] > 0]
        del self.data  # a run keeps the splits, not the source
        return {"train": len(self.splits.train), "val": len(self.splits.val), "test": len(self.splits.test),
                "wanted": int(self.wanted.sum())}

    def features(self) -> dict:
        from gan_aug.metrics.extractors import DomainExtractor
        from gan_aug.stages import domain_model

        self.domain = DomainExtractor(domain_model(self.splits.train, self.args.feature_steps, device=self.device))
        return {"steps": self.args.feature_steps}

    def gan(self) -> dict:
        from gan_aug.config import GANConfig
        from gan_aug.stages import GANJob, train_job

        self.gan_config = GANConfig(steps=self.args.gan_steps, time_budget_s=0, device=self.device)
        job = GANJob(tuple(self.minority))
        self.trained = train_job(job, self.splits.train, self.splits.val, self.gan_config, self.work / "gan.pt",
                                 base_hash="bench-scale", domain=self.domain, device=self.device)
        return {"steps": self.trained.result.steps, "classes": len(self.minority)}

    def generate(self) -> dict:
        import functools

        from gan_aug.config import FilterConfig, GenerateConfig
        from gan_aug.stages import generate_filtered

        train = self.splits.train
        features = functools.cache(lambda: self.domain.features(train.images))
        settings = GenerateConfig(budget_factor=1.0, give_up_share=0.0)
        kept = generated = 0
        for label in self.minority:
            rows, stats = generate_filtered(self.trained.samplers[label], int(self.wanted[label]),
                                            filters=FilterConfig(), generate=settings, val=self.splits.val,
                                            train=train, domain=self.domain, train_features=features,
                                            device=self.device)
            kept, generated = kept + len(rows), generated + stats.generated
        return {"candidates": generated, "kept": kept, "training_rows_searched": len(train)}

    def _candidates(self):
        """The rows downstream stages see (untimed): unfiltered samples, each class's wanted count."""
        if not hasattr(self, "synthetic"):
            from gan_aug.stages import sample_unfiltered
            from gan_aug.synthetic import SyntheticSet

            self.synthetic = SyntheticSet.concat([
                sample_unfiltered(self.trained.samplers[label], int(self.wanted[label]), seed=1, device=self.device)
                for label in self.minority])
        return self.synthetic

    def accept(self) -> dict:
        from gan_aug.config import FilterConfig
        from gan_aug.metrics.extractors import build_extractor
        from gan_aug.stages import accept

        rows, filters = self.synthetic, FilterConfig()
        judge = build_extractor(filters.extractor, domain_model=self.domain.model, device=self.device)
        self.accepted = accept(rows, self.splits.train, judge, filters, seed=0).accepted
        return {"synthetic": len(rows), "classes": len(self.minority)}

    def shards(self) -> dict:
        from gan_aug.config import ShardConfig
        from gan_aug.mix import build_mix
        from gan_aug.shards import write_shards

        accepted = self.accepted if hasattr(self, "accepted") else self.synthetic
        self.mix = build_mix(self.splits.train, accepted, self.targets, 1e9)
        manifest = write_shards(self.work / "run", self.mix, ShardConfig(), validation=self.splits.val,
                                test=self.splits.test)
        return {"rows": sum(s["rows"] for s in manifest["splits"].values())}

    def evaluate(self) -> dict:
        from gan_aug.config import EvaluateConfig
        from gan_aug.evaluate.methods import METHOD_REGISTRY
        from gan_aug.evaluate.runner import fit_and_score
        from gan_aug.mix import build_mix

        mix = self.mix if hasattr(self, "mix") else build_mix(self.splits.train, self.synthetic, self.targets, 1e9)
        config = EvaluateConfig(steps=self.args.eval_steps, patience=0, seeds=1)
        training = METHOD_REGISTRY["gan"](self.splits.train, mix, 0)
        fit_and_score("gan", training, self.splits.test, config, 0, self.device, rare=self.minority)
        return {"steps": self.args.eval_steps, "mix_rows": len(training.data), "test_rows": len(self.splits.test)}


NEEDS = {"load": [], "split": ["load"], "features": ["split"], "gan": ["features"], "generate": ["gan"],
         "accept": ["gan"], "shards": ["gan"], "evaluate": ["gan"]}


def _closure(stages: list[str]) -> list[str]:
    """The stages asked for and every stage they need, in the run's order."""
    wanted, todo = set(), list(stages)
    while todo:
        stage = todo.pop()
        if stage not in wanted:
            wanted.add(stage)
            todo += NEEDS[stage]
    return [s for s in STAGES if s in wanted]


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children: what a stage costs whoever else shares the
    cores (wall seconds on a contended machine also count the time other jobs held them)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(args: argparse.Namespace) -> None:
    """One (px, rows) in this fresh process: one JSON line per stage as it ends (the parent saves each)."""
    import tempfile

    import torch

    torch.set_num_threads(args.threads)
    source = source_path(Path(args.cache), args.px[0], args.rgb, args.sizes[0])
    with tempfile.TemporaryDirectory(prefix="gan-aug-bench-scale-") as tmp:
        run = Run(source, Path(tmp), args)
        for stage in _closure(args.stages):
            if stage in ("accept", "shards", "evaluate"):
                run._candidates()
            with PeakMemory() as memory:
                started, cpu = time.perf_counter(), _cpu_seconds()
                details = getattr(run, stage)()
                seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
            line = {"stage": stage, "seconds": seconds, "cpu_s": cpu, "peak_mb": memory.peak / MB,
                    "held_before_mb": memory.before / MB, "measured": stage in args.stages, **details}
            print(json.dumps(line), flush=True)


# ---------------------------------------------------------------- parent: measure, save, fit, print

def _settings(args: argparse.Namespace) -> dict:
    """What makes a stored measurement reusable: the fixed step counts and threads."""
    return {"feature_steps": args.feature_steps, "gan_steps": args.gan_steps, "eval_steps": args.eval_steps,
            "threads": args.threads, **({"device": args.device} if args.device != "cpu" else {})}


def _key(px: int, rgb: bool, rows: int) -> str:
    return f"{px}px-{'rgb' if rgb else 'l'}-{rows}"


def measure(px: int, rgb: bool, rows: int, stages: list[str], args: argparse.Namespace, store: dict,
            out: Path) -> None:
    """Run the stages still missing for (px, rows) in a fresh process, saving each stage as it ends."""
    entry = store["runs"].get(_key(px, rgb, rows))
    if entry is None or entry.get("failed"):  # a failed process's stages are measured again, all of them
        entry = store["runs"][_key(px, rgb, rows)] = {"px": px, "rgb": rgb, "rows": rows, "stages": {}}
    missing = [s for s in stages if s not in entry["stages"]]
    if not missing:
        return
    entry["hardware"], entry["command"] = hardware(args.threads, args.device), store["command"]
    command = [sys.executable, __file__, "--child", "--px", str(px), "--sizes", str(rows), "--stages", *missing,
               "--cache", args.cache, "--threads", str(args.threads), "--feature-steps", str(args.feature_steps),
               "--gan-steps", str(args.gan_steps), "--eval-steps", str(args.eval_steps), "--device", args.device]
    command += ["--rgb"] if rgb else []
    print(f"  measuring {_key(px, rgb, rows)}: {' '.join(missing)}", file=sys.stderr, flush=True)
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            if not line.startswith("{"):
                continue
            found = json.loads(line)
            if found.pop("measured"):
                entry["stages"][found.pop("stage")] = found
                _save(store, out)
    if process.returncode:
        entry["failed"] = f"exit {process.returncode} (a stage after {list(entry['stages'])[-1:]} failed)"
        _save(store, out)


def _save(store: dict, out: Path) -> None:
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(store, indent=1))
    tmp.replace(out)


def exponent(rows: list[int], values: list[float]) -> float | None:
    """Slope of log(value) on log(rows): how the cost grows (1 linear, 0 fixed); None under two sizes."""
    if len(rows) < 2 or min(values) <= 0:
        return None
    return float(np.polyfit(np.log(rows), np.log(values), 1)[0])


def table(store: dict, px: int, rgb: bool, sizes: list[int], stages: list[str]) -> list[str]:
    """Seconds and peak memory per stage and size, and each stage's exponents; flags over FLAG_EXPONENT."""
    runs = [store["runs"].get(_key(px, rgb, n)) for n in sizes]
    done = [(n, r) for n, r in zip(sizes, runs) if r and r["stages"]]
    if not done:
        return []
    head = " | ".join(f"{n:,} rows: wall s / CPU s / peak MB" for n, _ in done)
    lines = [f"{px}×{px} {'RGB' if rgb else 'grey'}", ""]
    for n, r in done:
        command, machine = r.get("command", store.get("command")), r.get("hardware", store.get("hardware"))
        lines.append(f"{n:,} rows measured by `{command}` on {machine}")
    lines += ["",
             f"| stage | grows with | {head} | exponent (wall) | exponent (CPU) | exponent (peak) |",
             "|---|---|" + "---|" * len(done) + "---|---|---|"]
    flagged = []
    show = lambda value: "—" if value is None else f"{round(value, 2) + 0.0:.2f}"  # noqa: E731 (no "-0.00")
    for stage in stages:
        cells, xs, walls, cpus, peaks = [], [], [], [], []
        for n, r in done:
            m = r["stages"].get(stage)
            cells.append("—" if m is None else f"{m['seconds']:.1f} / {m.get('cpu_s', 0):.1f} / {m['peak_mb']:,.0f}")
            if m is not None:
                xs.append(n), walls.append(m["seconds"]), cpus.append(m.get("cpu_s", 0)), peaks.append(m["peak_mb"])
        wall, cpu, mem = exponent(xs, walls), exponent(xs, cpus), exponent(xs, peaks)
        mark = " ⚑" if cpu is not None and cpu > FLAG_EXPONENT else ""
        if mark:
            flagged.append(stage)
        lines.append(f"| {stage} | {GROWS[stage]} | {' | '.join(cells)} | {show(wall)} | {show(cpu)}{mark} | "
                     f"{show(mem)} |")
    wall = [sum(m["seconds"] for m in r["stages"].values()) for _, r in done]
    cpu = [sum(m.get("cpu_s", 0) for m in r["stages"].values()) for _, r in done]
    peak = [max(m["peak_mb"] for m in r["stages"].values()) for _, r in done]
    xs = [n for n, _ in done]
    lines.append(f"| all measured | | {' | '.join(f'{w:.1f} / {c:.1f} / {p:,.0f}' for w, c, p in zip(wall, cpu, peak))}"
                 f" | {show(exponent(xs, wall))} | {show(exponent(xs, cpu))} | {show(exponent(xs, peak))} |")
    for stage in flagged:
        lines.append(f"⚑ {stage}'s CPU seconds grow faster than linearly (exponent > {FLAG_EXPONENT}): "
                     f"{REASONS.get(stage, 'no reason stated in the code: a bug to find')}")
    for n, r in done:
        if r.get("failed"):
            lines.append(f"{n:,} rows: {r['failed']}")
    lines += memory_outlook(done, stages, max(sizes))
    return lines


def memory_outlook(done: list[tuple[int, dict]], stages: list[str], largest: int) -> list[str]:
    """Each stage's peak at ``largest`` rows when that size was not measured: a straight line through the
    measured peaks (memory per row is what a linear stage adds), labelled as an extrapolation, beside
    the machine's RAM."""
    if any(n == largest for n, _ in done):
        return []
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB
    found = {}
    for stage in stages:
        points = [(n, r["stages"][stage]["peak_mb"]) for n, r in done if stage in r["stages"]]
        if len(points) >= 2:
            slope, intercept = np.polyfit(*zip(*points), 1)
            found[stage] = max(intercept + slope * largest, max(mb for _, mb in points))  # never below measured
    if not found:
        return []
    worst = max(found, key=found.get)
    cells = ", ".join(f"{stage} {mb / 1024:.1f}" for stage, mb in found.items())
    return [f"peak GB at {largest:,} rows, extrapolated linearly from the measured sizes (not measured): {cells}; "
            f"largest {worst} {found[worst] / 1024:.1f} GB of this machine's {ram / 1024:.0f} GiB"
            f"{'' if found[worst] < 0.8 * ram else ' — does NOT fit'}"]


# ---------------------------------------------------------------- projection (not measured)

# Speedups over this machine's measured seconds. No GPU figure is recorded in this repository
# (bench/gan_speed.py prints, it stores nothing; README's GPU numbers are not per stage), so each is an
# assumption, stated here and printed with the table.
GPU_SPEEDUP = {"load": 1.0, "split": 1.0, "features": 30.0, "gan": 50.0, "generate": 20.0, "accept": 3.0,
               "shards": 1.0, "evaluate": 30.0}
ASSUMPTIONS = [
    "projection (not measured): this machine's seconds divided by assumed speedups; no GPU run is recorded",
    "1 GPU: convolution-bound training (features, gan, evaluate) ×30–50 over 2 contended CPU cores (an H100 "
    "runs these small CNNs at well over 10,000 images/s against tens to hundreds here); generate ×20 (the GAN "
    "and the filters' networks move, the nearest-neighbour search stays on the CPU in scikit-learn); accept ×3 "
    "(features only; FD/KID/PRDC are NumPy); load, split, shards unchanged (disk, PNG encoding, CPU)",
    "N GPUs (gan.processes, DDP): gan ÷ N at ~90% scaling efficiency (all-reduce per step on one node); "
    "generate ÷ min(N, minority classes) (one task per class); the rest as on 1 GPU",
    "cluster of W CPU workers (Dask, classifier runs): evaluate and choose-mix's classifier runs ÷ min(W, runs) "
    "(runs = seeds × methods, or the mix grid: one run is measured here); generate ÷ min(W, classes); "
    "load, split, gan, accept, shards unchanged (one process each); no transfer or start-up costs counted",
    "a run's counts: the measured seconds per step (or per run) times the run's defaults, set-up costs included "
    "in every step, so it leans high; on a CPU a run's GAN trains to gan.time_budget_s, not to 20,000 steps",
]


def _spread(stage: str, cpu: float, gpus: int, workers: int, classes: int, runs: int = 1) -> np.ndarray:
    """Seconds of one stage: measured on this CPU, then on 1 GPU, N GPUs and a cluster as ASSUMPTIONS say."""
    one = cpu / GPU_SPEEDUP[stage]
    many = {"gan": one / (0.9 * gpus), "generate": one / min(gpus, classes)}.get(stage, one)
    cluster = {"generate": cpu / min(workers, classes), "evaluate": cpu / min(workers, runs)}.get(stage, cpu)
    return np.array([cpu, one, many, cluster])


def projection(store: dict, px: int, rgb: bool, rows: int, stages: list[str], args: argparse.Namespace,
               classes: int) -> list[str]:
    """Per stage, the measured seconds and what 1 GPU, N GPUs and a cluster would make of them; then a run's
    own step and run counts (the bench's fixed steps are few): the per-step cost measured here times the
    run's defaults (GAN 20,000 steps, as on CUDA; the domain classifier's filter.feature_steps; 6 methods
    × 3 seeds of evaluation and up to 7 mixes × 2 seeds choosing the mix on validation)."""
    from gan_aug.config import EvaluateConfig, FilterConfig, MixConfig
    from gan_aug.mix.policy import grid

    r = store["runs"].get(_key(px, rgb, rows))
    if not r or not r["stages"]:
        return []
    gpus, workers = args.gpus, args.workers
    lines = [f"projection (not measured) for {rows:,} rows at {px}×{px} {'RGB' if rgb else 'grey'}: seconds", "",
             f"| stage | measured, CPU | 1 GPU | {gpus} GPUs | cluster of {workers} CPU workers |",
             "|---|---|---|---|---|"]
    show = lambda name, row: f"| {name} | " + " | ".join(f"{v:,.0f}" for v in row) + " |"  # noqa: E731
    measured, run = np.zeros(4), np.zeros(4)
    evaluation = len(EvaluateConfig().methods) * EvaluateConfig().seeds
    mixes = len(grid(MixConfig())) * MixConfig().seeds
    scale = {"gan": (20_000 / args.gan_steps, "gan at 20,000 steps"),
             "features": (FilterConfig().feature_steps / args.feature_steps,
                          f"features at {FilterConfig().feature_steps} steps"),
             "evaluate": (evaluation, f"evaluate: {evaluation} runs")}
    for stage in stages:
        m = r["stages"].get(stage)
        if m is None:
            continue
        row = _spread(stage, m["seconds"], gpus, workers, classes)
        measured += row
        lines.append(show(stage, row))
        times, name = scale.get(stage, (1, stage))
        run += _spread(stage, m["seconds"] * times, gpus, workers, classes, runs=int(times))
        if stage == "evaluate":  # choosing the mix trains the same classifier on each (dose, weight, seed)
            run += _spread(stage, m["seconds"] * mixes, gpus, workers, classes, runs=mixes)
    lines.append(show("total at the bench's steps", measured))
    lines.append(show(f"a run's counts: {', '.join(name for _, name in scale.values())}, choose-mix {mixes} runs",
                      run))
    return lines


# ---------------------------------------------------------------- main

def hardware(threads: int, device: str) -> str:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores; torch {torch.__version__}"
    cores = os.cpu_count()
    load = os.getloadavg()[0]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.processor() or platform.machine()}, {cores} cores ({threads} torch threads), "
            f"{mem:.0f} GiB RAM, no GPU used; torch {torch.__version__}; load average {load:.1f} at start "
            "(shared machine: figures are contended)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000])
    parser.add_argument("--px", type=int, nargs="+", default=None, help="default: 28 grey and 64 RGB")
    parser.add_argument("--rgb", action="store_true", help="3 channels at every --px (default: RGB above 28 px)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--out", default="bench/scale-results.json")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "gan-aug-bench-scale"))
    parser.add_argument("--feature-steps", type=int, default=50)
    parser.add_argument("--gan-steps", type=int, default=20)
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where the networks run: cpu, or cuda (a GPU run measures "
                        "what the projection assumes)")
    parser.add_argument("--gpus", type=int, default=4, help="N of the projection's 'N GPUs'")
    parser.add_argument("--workers", type=int, default=8, help="CPU workers of the projection's cluster")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and step counts: checks the bench runs")
    parser.add_argument("--report", action="store_true", help="print what --out holds; measure nothing")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    if args.child:
        child(args)
        return
    pxs = [(p, args.rgb or p > 28) for p in args.px] if args.px else [(28, False), (64, True)]
    out = Path(args.out)
    store = json.loads(out.read_text()) if out.is_file() else {}
    if store.get("settings") != _settings(args):
        store = {"settings": _settings(args), "runs": {}}  # other step counts: nothing stored is comparable
    if not args.report:
        store["hardware"] = hardware(args.threads, args.device)
        store["command"] = " ".join([Path(sys.executable).name, *sys.argv])
        for px, rgb in pxs:
            for rows in sorted(args.sizes):
                measure(px, rgb, rows, args.stages, args, store, out)
    print(f"command: {store.get('command', '—')}")
    print(f"hardware: {store.get('hardware', '—')}")
    print(f"fixed: domain classifier {args.feature_steps} steps, GAN {args.gan_steps} steps (gan.time_budget_s 0), "
          f"evaluation classifier {args.eval_steps} steps, 1 seed; results in {out}")
    for px, rgb in pxs:
        print()
        print("\n".join(table(store, px, rgb, sorted(args.sizes), args.stages)))
    print()
    for px, rgb in pxs:
        measured = [n for n in sorted(args.sizes) if store["runs"].get(_key(px, rgb, n), {}).get("stages")]
        if measured:
            print("\n".join(projection(store, px, rgb, measured[-1], args.stages, args, 9)))
            print()
    print("\n".join(f"- {line}" for line in ASSUMPTIONS))


if __name__ == "__main__":
    main()
