"""Benchmark: per-class sample quality of the shared GAN on Fashion-MNIST-LT, beside the real-vs-real floor.

Fashion-MNIST's training set (Debian's dataset-fashion-mnist) made long-tailed: exponential
profile, 6,000 images in the largest class, imbalance ratio 100 (60 in the smallest). Its test set
(1,000 real images per class, never trained on) is the held-out set the FD checks use. The domain
feature extractor is trained on the long-tailed training set, as a run would.

Per class, with the EMA weights the FD checks kept for that class: the class's real training
images are split into two disjoint halves A and B; the floor is FD(A, B) and the generator's FD is
FD(fakes, A) with as many fakes as A has images, so both carry the same small-sample bias. The
target: every minority class within 2× its floor.

    .venv/bin/python bench/gan_quality.py                   # CUDA if present (full length), else CPU, reduced
    .venv/bin/python bench/gan_quality.py --steps 20000 --batch-size 256
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from gan_aug.checkpoint import load_sampler
from gan_aug.config import GANConfig
from gan_aug.data.builtin import FASHION_MNIST_DIR, fashion_mnist
from gan_aug.data.longtail import subsample_long_tail
from gan_aug.device import resolve_device
from gan_aug.generate import sample_class, sample_seeds
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.metrics.features import train_domain_extractor
from gan_aug.metrics.fid import frechet_distance
from gan_aug.metrics.floors import split_halves
from gan_aug.monitor import build_monitor
from gan_aug.train import train_gan


def sample(generator, discriminator, label: int, count: int, seed: int = 12345) -> np.ndarray:
    """``count`` images of the class, in batches of 500, with the seeds generation would use."""
    batches = []
    for start in range(0, count, 500):
        seeds = sample_seeds(seed, label, start, min(500, count - start))
        batches.append(sample_class(generator, discriminator, label, seeds)[0])
    return np.concatenate(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=None, help="default: 20,000 on CUDA, 1,500 on CPU (reduced)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 on CUDA, 64 on CPU")
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=None, help="default: steps / 10")
    parser.add_argument("--diffaugment", default="auto", help="auto, off, or a comma list")
    parser.add_argument("--regularization", default="lecam", choices=["none", "lecam", "r1"])
    parser.add_argument("--feature-steps", type=int, default=1500)
    parser.add_argument("--out", default=None, help="keep the checkpoint here (default: a temporary folder)")
    args = parser.parse_args()
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit("Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist")
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (20_000 if cuda else 1_500)
    batch = args.batch_size or (256 if cuda else 64)
    augment = args.diffaugment if args.diffaugment in ("auto", "off") else args.diffaugment.split(",")

    train = subsample_long_tail(fashion_mnist("train"), "exponential", 100.0, seed=0)
    held_out = fashion_mnist("test")
    counts = train.class_counts()
    minority = [label for label in range(train.num_classes) if counts[label] < counts.max()]
    print(f"Fashion-MNIST-LT: {len(train)} images, per class {counts.tolist()}; device {device}; "
          f"{steps} steps of {batch}")
    started = time.perf_counter()
    extractor = DomainExtractor(train_domain_extractor(train, steps=args.feature_steps, device=device))
    monitor = build_monitor(extractor, held_out, train, minority, samples=512)
    cfg = GANConfig(steps=steps, batch_size=batch, base_channels=args.base_channels, diffaugment=augment,
                    regularization=args.regularization, eval_every=args.eval_every or max(steps // 10, 1),
                    checkpoint_every=max(steps // 4, 1), early_stop_patience=0)

    def progress(step: int, total: int, record: dict) -> None:
        if "fd" in record:
            fds = " ".join(f"{k}:{v:.1f}" for k, v in record["fd"].items() if v is not None)
            print(f"  step {step}/{total}  FD on held-out  {fds}", flush=True)
        elif step % max(total // 20, 1) == 0:
            print(f"  step {step}/{total}  loss_d {record['loss_d']:.3f}  loss_g {record['loss_g']:.3f}  "
                  f"p {record['augment_p']:.2f}  {record['images_per_s']:.0f} img/s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(args.out or tmp) / "gan.pt"
        result = train_gan(train, cfg, checkpoint, config_hash="bench", device=device, monitor=monitor,
                           progress=progress)
        print(f"trained {result.steps} steps in {result.seconds:.0f} s")
        rows = []
        for label in range(train.num_classes):
            generator, discriminator = load_sampler(checkpoint, device, label=label)
            real = extractor.features(train.of_class(label))
            half_a, half_b = split_halves(len(real), seed=0)
            floor = frechet_distance(real[half_a], real[half_b])
            fake = extractor.features(sample(generator, discriminator, label, len(half_a)))
            fd = frechet_distance(fake, real[half_a])
            best = result.best.get(label, {}).get("step", result.steps)
            rows.append((label, train.class_names[label], int(counts[label]), best, fd, floor))
    print(f"\ntotal {time.perf_counter() - started:.0f} s\n")
    print("| class | name | real images | weights of step | FD (fakes vs half A) | floor (A vs B) | FD / floor | within 2× |")
    print("|---|---|---|---|---|---|---|---|")
    for label, name, count, best, fd, floor in rows:
        ratio = fd / floor
        mark = "—" if label not in minority else ("yes" if ratio <= 2 else "no")
        print(f"| {label} | {name} | {count} | {best} | {fd:.2f} | {floor:.2f} | {ratio:.2f} | {mark} |")
    within = sum(1 for r in rows if r[0] in minority and r[4] / r[5] <= 2)
    print(f"\n{within} of {len(minority)} minority classes within 2× their floor")


if __name__ == "__main__":
    main()
