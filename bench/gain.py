"""Benchmark: the downstream gain of GAN augmentation against the baselines people use instead, and the oracle.

Fashion-MNIST (Debian's dataset-fashion-mnist) made long-tailed two ways:
  exponential  6,000 images in the largest class down to 60 (ratio 100), 14,891 images
  step         GAMO's and DeepSMOTE's 4000/2000/1000/750/500/350/200/100/60/40, 9,000 images
Every method trains the same classifier with the same steps on the same seeds, and is scored on
the real, balanced Fashion-MNIST test set (1,000 per class): plain, class-weighted loss, random
oversampling, SMOTE on pixels, oversampling with shifts and flips, the GAN's balanced set
(GANOverSampler: shared conditional GAN, filters on), and that set with class weights. The
oracle is the same classifier and budget on the full balanced training set (6,000 per class):
synthetic data can at best match it.

Target: (GAN - best baseline) / (oracle - best baseline) >= 0.5 in balanced accuracy, with a
paired 95% interval over seeds that excludes zero gain; the oracle must beat the best baseline by
at least 5 points, or the budget measures the classifier rather than the data.

    .venv/bin/python bench/gain.py                          # CUDA if present (full), else CPU (reduced)
    .venv/bin/python bench/gain.py --protocol step --seeds 5 --out runs/gain
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gan_aug import GANOverSampler
from gan_aug.config import EvaluateConfig, GANConfig, GenerateConfig
from gan_aug.data.builtin import FASHION_MNIST_DIR, fashion_mnist
from gan_aug.data.imageset import ImageSet
from gan_aug.data.longtail import subsample_counts, subsample_long_tail
from gan_aug.device import resolve_device
from gan_aug.evaluate import (
    TrainingSet,
    evaluate_downstream,
    evaluation_seeds,
    fit_and_score,
    paired_comparison,
)
from gan_aug.evaluate.runner import summarise_runs

STEP_COUNTS = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
PROTOCOLS = ("exponential", "step")


def long_tailed(protocol: str) -> ImageSet:
    full = fashion_mnist("train")
    if protocol == "exponential":
        return subsample_long_tail(full, "exponential", 100.0, seed=0)
    return subsample_counts(full, STEP_COUNTS, seed=0)


def gan_balanced(train: ImageSet, args: argparse.Namespace, device: torch.device, out: Path | None,
                 protocol: str) -> tuple[ImageSet, dict]:
    """The GAN-augmented training set (cached under --out, keyed by the settings that made it)."""
    target = args.gan_target or int(train.class_counts().max())
    key = f"{protocol}-s{args.gan_steps}-b{args.gan_batch}-t{target}-q{args.d_quantile}-{args.filters}"
    cache = out / f"augmented-{key}.npz" if out else None
    if cache and cache.exists():
        with np.load(cache) as saved:
            print(f"  reusing the GAN-augmented set {cache}")
            info = json.loads(str(saved["info"]))
            return ImageSet(saved["images"], saved["labels"], train.class_names), info
    counts = train.class_counts()
    strategy = {label: max(target, int(count)) for label, count in enumerate(counts)}
    sampler = GANOverSampler(
        sampling_strategy=strategy, device=str(device), random_state=0,
        work_dir=str(out / f"gan-{protocol}") if out else None,
        gan=GANConfig(steps=args.gan_steps, batch_size=args.gan_batch, eval_every=max(args.gan_steps // 5, 1),
                      early_stop_patience=0, checkpoint_every=max(args.gan_steps // 4, 1)),
        generate=GenerateConfig(batch_size=512),
        filter={"filters": [f for f in args.filters.split(",") if f], "d_quantile": args.d_quantile,
                "feature_steps": args.feature_steps},
    )
    started = time.perf_counter()
    images, labels = sampler.fit_resample(train.images, train.labels)
    info = {"seconds": round(time.perf_counter() - started, 1), "target": target,
            "generation": {str(k): v for k, v in sampler.generation_.items()}}
    augmented = ImageSet(images, labels, train.class_names)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=images, labels=labels, info=json.dumps(info))
    return augmented, info


def oracle_scores(test: ImageSet, config: EvaluateConfig, device: torch.device) -> dict:
    """The same classifier and budget on the full balanced training set, on every seed."""
    full = fashion_mnist("train")
    started = time.perf_counter()
    runs = [fit_and_score("oracle", TrainingSet(full), test, config, seed, device)
            for seed in evaluation_seeds(config)]
    return summarise_runs(runs, len(full), time.perf_counter() - started)


def _interval(entry: dict, key: str) -> str:
    ci = entry["ci"][key]
    return f"{entry[key]:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def print_table(protocol: str, train: ImageSet, result: dict, oracle: dict) -> dict:
    rows = {**result["methods"], "oracle": oracle}
    print(f"\n### {protocol}: {len(train)} training images, per class {train.class_counts().tolist()}\n")
    print("| method | train rows | accuracy | balanced accuracy [95% CI] | macro-F1 | G-mean | "
          "recall of the 3 rarest | s |")
    print("|---|---|---|---|---|---|---|---|")
    rarest = np.argsort(train.class_counts())[:3]
    for name, entry in rows.items():
        recall = " / ".join(f"{entry['per_class_recall'][k]:.2f}" for k in rarest)
        print(f"| {name} | {entry['train_rows']} | {entry['accuracy']:.4f} | {_interval(entry, 'balanced_accuracy')} "
              f"| {entry['macro_f1']:.4f} | {entry['g_mean']:.4f} | {recall} | {entry['seconds']:.0f} |")
    best = result["best_baseline"]
    best_seeds = result["methods"][best]["per_seed"]["balanced_accuracy"]
    gap = paired_comparison(oracle["per_seed"]["balanced_accuracy"], best_seeds)
    verdict = {"best_baseline": best, "oracle_gap": gap, "gan": {}}
    print(f"\nbest baseline: {best}; oracle - best = {gap['mean_diff']:+.4f} "
          f"[{gap['ci'][0]:+.4f}, {gap['ci'][1]:+.4f}]" if gap["ci"] else "", end="")
    print(f"  ({'≥' if gap['mean_diff'] >= 0.05 else '<'} 5 points: "
          f"{'the budget separates data from classifier' if gap['mean_diff'] >= 0.05 else 'raise --steps'})")
    for name, comparison in result["comparison"].items():
        recovered = comparison["mean_diff"] / gap["mean_diff"] if gap["mean_diff"] > 0 else float("nan")
        ci = comparison["ci"]
        met = recovered >= 0.5 and comparison["excludes_zero"] and comparison["mean_diff"] > 0
        print(f"{name} - {best} = {comparison['mean_diff']:+.4f}"
              + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}], p = {comparison['p_value']:.3f}" if ci else "")
              + f", wins {comparison['wins']}/{len(comparison['per_seed'])} seeds; recovers {recovered:.2f} of the gap"
              + f" → target {'met' if met else 'NOT met'}")
        verdict["gan"][name] = {**comparison, "recovered": recovered, "target_met": met}
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="both", choices=[*PROTOCOLS, "both"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seeds", type=int, default=None, help="default: 5 on CUDA, 3 on CPU")
    parser.add_argument("--model", default="small_cnn", choices=["small_cnn", "resnet18"])
    parser.add_argument("--width", type=int, default=None, help="small_cnn width; default: 32 on CUDA, 16 on CPU")
    parser.add_argument("--steps", type=int, default=None, help="classifier steps; default: 6,000 CUDA, 1,500 CPU")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--gan-steps", type=int, default=None, help="default: 20,000 on CUDA, 1,000 on CPU")
    parser.add_argument("--gan-batch", type=int, default=None, help="default: 256 on CUDA, 64 on CPU")
    parser.add_argument("--gan-target", type=int, default=None,
                        help="images per class after GAN filling; default: the largest class's count")
    parser.add_argument("--filters", default="discriminator,label,memorisation")
    parser.add_argument("--d-quantile", type=float, default=0.05)
    parser.add_argument("--feature-steps", type=int, default=800)
    parser.add_argument("--methods", default=None, help="comma list; default: all")
    parser.add_argument("--no-oracle", action="store_true")
    parser.add_argument("--out", default=None, help="keep GAN checkpoints, augmented sets and results.json here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="  %(message)s")  # GANOverSampler's progress lines
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit("Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist")
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    args.gan_steps = args.gan_steps or (20_000 if cuda else 1_000)
    args.gan_batch = args.gan_batch or (256 if cuda else 64)
    config = EvaluateConfig(
        model=args.model, width=args.width or (32 if cuda else 16), seeds=args.seeds or (5 if cuda else 3),
        steps=args.steps or (6_000 if cuda else 1_500), batch_size=args.batch_size, lr=args.lr, flip=True,
        **({"methods": args.methods.split(",")} if args.methods else {}),
    )
    out = Path(args.out) if args.out else None
    hardware = (torch.cuda.get_device_name(device) if cuda else
                f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                f"{torch.get_num_threads()} torch threads")
    print(f"device {device} ({hardware}); classifier {config.model} width {config.width}, {config.steps} steps "
          f"of {config.batch_size}, lr {config.lr} {config.schedule}, seeds {evaluation_seeds(config)}; "
          f"GAN {args.gan_steps} steps of {args.gan_batch}, filters {args.filters}", flush=True)
    test = fashion_mnist("test")

    def progress(method: str, seed: int, step: int, total: int, loss: float) -> None:
        if step == total:
            print(f"  {method} seed {seed}: {total} steps, final loss {loss:.3f}", flush=True)

    started, report = time.perf_counter(), {"config": config.model_dump(), "args": vars(args), "protocols": {}}
    oracle = None
    if not args.no_oracle:
        print("oracle: the full balanced training set", flush=True)
        oracle = oracle_scores(test, config, device)
        print(f"  oracle balanced accuracy {_interval(oracle, 'balanced_accuracy')}", flush=True)
    for protocol in PROTOCOLS if args.protocol == "both" else (args.protocol,):
        train = long_tailed(protocol)
        print(f"\n{protocol}: {len(train)} images, per class {train.class_counts().tolist()}", flush=True)
        augmented, gan_info = gan_balanced(train, args, device, out, protocol)
        print(f"  GAN-augmented set: {len(augmented)} rows, per class {augmented.class_counts().tolist()} "
              f"({gan_info['seconds']:.0f} s to train and generate)", flush=True)
        result = evaluate_downstream(train, augmented, test, config, device=device, progress=progress)
        entry = {"train_counts": train.class_counts().tolist(), "gan": gan_info, "downstream": result}
        if oracle is not None:
            entry["oracle"] = oracle
            entry["verdict"] = print_table(protocol, train, result, oracle)
        report["protocols"][protocol] = entry
        if out:
            (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
