"""Benchmark: does the shared GAN make rare-class samples a classifier recognises and can learn from?

Fashion-MNIST's training set (Debian's dataset-fashion-mnist) made long-tailed: exponential profile,
6,000 images in the largest class, imbalance ratio 100 (60 in the smallest), 14,891 images. The GAN
trains on those rows as a run would (domain classifier, per-class checks, early stop); its per-class
checks use 500 images per class from the training rows the long-tailed subset left out (real,
never trained on, and not the test set).

Per class, with the weights the checks kept for that class:
  FD / floor      FD(fakes, half A of the class's real rows) over FD(half A, half B): the same
                  small-sample bias on both sides; the aim is ≤ 2
  oracle agrees   the share of 1,000 samples that an oracle classifier (trained on the full balanced
                  training set, 60,000 images) gives the intended class; target ≥ 0.90 for every
                  minority class
  CAS recall      a classifier trained on 1,000 samples per class only (Classification Accuracy
                  Score, Ravuri & Vinyals 2019), scored on the real test set; beside it, the same
                  classifier trained on the real long-tailed rows. Target: overall CAS within 10
                  points of the real-rows classifier
The oracle, the real-rows classifier and the data are cached under --out.

    .venv/bin/python bench/gan_quality.py --out runs/quality                     # the defaults a run uses
    .venv/bin/python bench/gan_quality.py --out runs/quality --steps 3000 --base-channels 32 \\
        --precision fp32 --no-channels-last --tag old-default                    # today's defaults before
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gan_aug.checkpoint import load_sampler
from gan_aug.classify import predict, train_classifier
from gan_aug.config import GANConfig
from gan_aug.data.builtin import FASHION_MNIST_DIR, fashion_mnist
from gan_aug.data.imageset import ImageSet
from gan_aug.data.longtail import subsample_long_tail
from gan_aug.device import resolve_device
from gan_aug.evaluate.scores import classification_metrics
from gan_aug.generators.gan import sample_class
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.metrics.fid import frechet_distance
from gan_aug.metrics.floors import split_halves
from gan_aug.sampling import sample_seeds
from gan_aug.stages import domain_model, plan_gans, train_job

CLASSIFIER = dict(steps=2000, batch_size=128, lr=2e-3, schedule="onecycle")
SAMPLES = 1000  # per class, for oracle agreement and CAS
CHECK_IMAGES = 500  # per class, held out from the unused training rows for the GAN's checks


def sample(generator, discriminator, label: int, model_label: int, count: int, seed: int = 12345) -> np.ndarray:
    """``count`` unfiltered images of the class, in batches of 500, with the seeds generation would use."""
    batches = []
    for start in range(0, count, 500):
        seeds = sample_seeds(seed, label, start, min(500, count - start))
        batches.append(sample_class(generator, discriminator, model_label, seeds)[0])
    return np.concatenate(batches)


def data() -> tuple[ImageSet, ImageSet, ImageSet, ImageSet]:
    """The long-tailed rows, the check images (unused training rows), the full train set and the test set."""
    full = fashion_mnist("train")
    train = subsample_long_tail(full, "exponential", 100.0, seed=0)
    unused = np.setdiff1d(np.arange(len(full)), train.source_index)
    rng = np.random.default_rng(1)
    pools = [unused[full.labels[unused] == k] for k in range(full.num_classes)]  # the head class has none left
    check = np.concatenate([rng.choice(pool, min(CHECK_IMAGES, len(pool)), replace=False) for pool in pools])
    return train, full.subset(np.sort(check)), full, fashion_mnist("test")


def cached_classifier(path: Path, images: np.ndarray, labels: np.ndarray, device) -> torch.nn.Module:
    from gan_aug.models.classifier import SmallCNN

    if path.is_file():
        model = SmallCNN(10, channels=1)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.to(device).eval()
    model = train_classifier(images, labels, 10, device=device, **CLASSIFIER)
    torch.save(model.state_dict(), path)
    return model


def per_class_recall(model, test: ImageSet) -> np.ndarray:
    return np.asarray(classification_metrics(test.labels, predict(model, test.images), 10)["per_class_recall"])


def gan_config(args: argparse.Namespace) -> GANConfig:
    return GANConfig(steps=args.steps, time_budget_s=args.minutes * 60 if args.minutes else None,
                     base_channels=args.base_channels, precision=args.precision, channels_last=args.channels_last,
                     gsr_weight=args.gsr, batch_size=args.batch_size, eval_every=args.eval_every,
                     early_stop_patience=args.patience, checkpoint_every=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", default="runs/quality", help="caches (oracle, data) and results")
    parser.add_argument("--tag", default="default", help="names this variant's checkpoint and results")
    parser.add_argument("--steps", type=int, default=None, help="default: the run's (20,000 on CUDA; time on CPU)")
    parser.add_argument("--minutes", type=float, default=None, help="time budget; default: the run's")
    parser.add_argument("--base-channels", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--gsr", type=float, default=0.0, help="gan.gsr_weight")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--patience", type=int, default=4, help="gan.early_stop_patience (0: never)")
    parser.add_argument("--feature-steps", type=int, default=1500)
    args = parser.parse_args()
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit("Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist")
    device, out = resolve_device(args.device), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, check, full, test = data()
    counts = train.class_counts()
    minority = [k for k in range(10) if counts[k] < counts.max()]
    started = time.perf_counter()
    oracle = cached_classifier(out / "oracle.pt", full.images, full.labels, device)
    real_rows = cached_classifier(out / "real-lt.pt", train.images, train.labels, device)
    domain = DomainExtractor(domain_model(train, args.feature_steps, device=device, path=out / "domain.pt"))
    cfg = gan_config(args)
    print(f"Fashion-MNIST-LT: {len(train)} images {counts.tolist()}; device {device} "
          f"({platform.processor() or 'CPU'}, {torch.get_num_threads()} threads); "
          f"GAN {cfg.model_dump(exclude_defaults=True)}", flush=True)

    def progress(step: int, total: int, /, *, record: dict) -> None:
        if "fd" in record:
            agreement = record.get("agreement", {})
            print(f"  step {step}/~{total}  " + " ".join(
                f"{k}:{v:.1f}/{agreement.get(k, float('nan')):.2f}" for k, v in record["fd"].items() if v is not None),
                flush=True)

    (job,) = plan_gans("shared", minority)
    trained = train_job(job, train, check, cfg, out / f"gan-{args.tag}.pt", base_hash=args.tag, domain=domain,
                        device=device, progress=progress)
    result = trained.result
    print(f"trained {result.steps} steps in {result.train_seconds:.0f} s ({result.stop_reason})", flush=True)
    rows, fakes = measure(train, domain, oracle, trained, device)
    cas_model = train_classifier(np.concatenate(fakes), np.repeat(np.arange(10), SAMPLES), 10, device=device,
                                 **CLASSIFIER)
    cas, real = per_class_recall(cas_model, test), per_class_recall(real_rows, test)
    for row in rows:
        row.update(cas=float(cas[row["label"]]), real_recall=float(real[row["label"]]))
    report(rows, minority, cas, real, result, time.perf_counter() - started, args, out)


def measure(train: ImageSet, domain: DomainExtractor, oracle, trained, device) -> tuple[list[dict], list[np.ndarray]]:
    """Per class: FD over its floor and the oracle's agreement, and the samples (for CAS)."""
    rows, fakes = [], []
    checkpoint = trained.result.checkpoint
    for label in range(10):
        generator, discriminator = load_sampler(checkpoint, device, label=label)
        images = sample(generator, discriminator, label, label, SAMPLES)
        fakes.append(images)
        real = domain.features(train.of_class(label))
        half_a, half_b = split_halves(len(real), seed=0)
        floor = frechet_distance(real[half_a], real[half_b])
        fd = frechet_distance(domain.features(images[:len(half_a)]), real[half_a])
        best = trained.result.best.get(label, {}).get("step", trained.result.steps)
        rows.append({"label": label, "name": train.class_names[label], "real": int((train.labels == label).sum()),
                     "step": best, "fd": fd, "floor": floor, "ratio": fd / floor,
                     "oracle_agreement": float((predict(oracle, images) == label).mean())})
    return rows, fakes


def report(rows, minority, cas, real, result, seconds, args, out: Path) -> None:
    print(f"\ntotal {seconds:.0f} s\n")
    print("| class | name | real | weights of step | FD / floor | oracle agrees | CAS recall | real-rows recall |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['name']} | {r['real']} | {r['step']} | {r['fd']:.1f} / {r['floor']:.1f} = "
              f"{r['ratio']:.2f} | {r['oracle_agreement']:.3f} | {r['cas']:.3f} | {r['real_recall']:.3f} |")
    tail = [r for r in rows if r["label"] in minority]
    summary = {
        "minority_agreement_min": min(r["oracle_agreement"] for r in tail),
        "minority_within_0.90": sum(r["oracle_agreement"] >= 0.9 for r in tail),
        "minority_within_2x_floor": sum(r["ratio"] <= 2 for r in tail), "minority": len(tail),
        "cas": float(np.mean(cas)), "real_rows": float(np.mean(real)), "cas_gap": float(np.mean(real) - np.mean(cas)),
        "steps": result.steps, "train_seconds": result.train_seconds, "stop_reason": result.stop_reason,
    }
    print(f"\nminority classes with oracle agreement ≥ 0.90: {summary['minority_within_0.90']} of {len(tail)} "
          f"(lowest {summary['minority_agreement_min']:.3f}); within 2× their FD floor: "
          f"{summary['minority_within_2x_floor']} of {len(tail)}")
    print(f"CAS (balanced accuracy on the real test set) {summary['cas']:.3f} against {summary['real_rows']:.3f} "
          f"for the real long-tailed rows: {100 * summary['cas_gap']:.1f} points short (target: at most 10)")
    (out / f"quality-{args.tag}.json").write_text(json.dumps({"args": vars(args), "rows": rows, "summary": summary},
                                                              indent=1))


if __name__ == "__main__":
    main()
