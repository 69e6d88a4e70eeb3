"""Benchmark: GAN training throughput (images/s) and estimated TFLOP/s, beside a plain PyTorch loop and
beside the defaults before this version.

For each image size, these loops train with the same batch size:
  reference          the textbook loop on the previous default networks (width 32): fp32, contiguous
                     tensors, plain Adam, the batch indexed on the host and copied over every step,
                     losses read with .item() every step (as in PyTorch's DCGAN example); no
                     augmentation, regulariser or EMA
  previous defaults  gan_aug.train's loop with the defaults before this version: width 32, fp32 and
                     contiguous tensors on a CPU (bf16 and channels-last were CUDA-only)
  gan-aug core       the loop with today's defaults but augmentation and regularisation off: the speed
                     features alone (width 16 for images up to 32 px, bf16 autocast where the hardware
                     computes in it, channels-last, fused Adam, device-side sampling, fused EMA)
  gan-aug defaults   the same with everything a run uses (adaptive DiffAugment, LeCam)
images/s counts real images consumed per second (one batch per step); "vs previous" is the ratio to
the previous defaults in the same run. FLOPs per step are counted once with torch.utils.flop_counter
(convolutions and matmuls, forward and backward) and divided by the measured step time. Pixels are
random: throughput does not depend on content. Quality at these widths: bench/gan_quality.py.

    .venv/bin/python bench/gan_speed.py                       # CUDA if present, else CPU (reduced)
    .venv/bin/python bench/gan_speed.py --device cpu --steps 20 --sizes 28
    .venv/bin/python bench/gan_speed.py --device cuda --batch-size 512 --compile
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from gan_aug.checkpoint import Architecture
from gan_aug.config import GANConfig
from gan_aug.device import resolve_device
from gan_aug.train import class_sampling_weights, network_width
from gan_aug.train.loop import _Trainer  # the bare step, timed without the loop around it

NUM_CLASSES = 10


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ReferenceLoop:
    """A plain PyTorch conditional-GAN loop with the same networks: the baseline to beat."""

    def __init__(self, arch: Architecture, batch_size: int, device: torch.device):
        torch.manual_seed(0)
        g, d = arch.build()
        self.g, self.d = g.to(device), d.to(device)
        self.device, self.batch_size, self.z_dim = device, batch_size, arch.z_dim
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.0, 0.9))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.0, 0.9))

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        rows = torch.randint(0, len(images), (self.batch_size,))
        real = (images[rows].float() / 127.5 - 1.0).to(self.device)
        y = labels[rows].to(self.device)
        z = torch.randn(self.batch_size, self.z_dim, device=self.device)
        fake = self.g(z, y)
        loss_d = F.relu(1.0 - self.d(real, y)).mean() + F.relu(1.0 + self.d(fake.detach(), y)).mean()
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        loss_g = -self.d(fake, y).mean()
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        loss_d.item(), loss_g.item()  # logged every step, as tutorials do: a host sync per step


class GanAugLoop:
    def __init__(self, size: int, cfg: GANConfig, device: torch.device, images, labels):
        arch = Architecture(64, NUM_CLASSES, size, 1, network_width(cfg, size))
        self.trainer = _Trainer(arch, cfg, device)
        self.images, self.labels = images.to(device), labels.to(device)
        self.weights = class_sampling_weights(labels.numpy(), NUM_CLASSES, cfg.class_sampling).to(device)

    def step(self, images, labels) -> None:
        self.trainer.train_step(self.images, self.labels, self.weights)


def measure(loop, images, labels, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per step after ``warmup`` steps (which include any compilation)."""
    for _ in range(warmup):
        loop.step(images, labels)
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        loop.step(images, labels)
    _sync(device)
    return (time.perf_counter() - started) / max(steps, 1)


def flops_per_step(loop, images, labels) -> int:
    with FlopCounterMode(display=False) as counter:
        loop.step(images, labels)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 on CUDA, 64 on CPU")
    parser.add_argument("--base-channels", type=int, default=None, help="today's loops' width (default: the run's)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round; default 200 on CUDA, 10 on CPU")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    parser.add_argument("--compile", action="store_true", help="also time gan-aug core with torch.compile")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch_size or (256 if cuda else 64)
    steps = args.steps or (200 if cuda else 10)
    warmup = args.warmup if args.warmup is not None else (20 if cuda else 2)
    name = (torch.cuda.get_device_name(device) if cuda
            else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads")
    print(f"device: {device} ({name}); torch {torch.__version__}; batch {batch}; "
          f"median of {args.rounds} rounds of {steps} timed steps after {warmup} warm-up")
    print()
    print("| size | loop | width | ms/step | images/s | GFLOP/step | TFLOP/s | vs reference | vs previous |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (4096, 1, size, size), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, NUM_CLASSES, (4096,), generator=generator)
        common = dict(batch_size=batch, base_channels=args.base_channels, z_dim=64)
        previous = GANConfig(batch_size=batch, z_dim=64, base_channels=32, **(
            {} if cuda else {"precision": "fp32", "channels_last": False}))
        loops = {
            "reference": ReferenceLoop(Architecture(64, NUM_CLASSES, size, 1, 32), batch, device),
            "previous defaults": GanAugLoop(size, previous, device, images, labels),
            "gan-aug core": GanAugLoop(size, GANConfig(diffaugment="off", regularization="none", **common),
                                       device, images, labels),
            "gan-aug defaults": GanAugLoop(size, GANConfig(**common), device, images, labels),
        }
        if args.compile:
            loops["gan-aug core, compiled"] = GanAugLoop(
                size, GANConfig(diffaugment="off", regularization="none", compile=True, **common),
                device, images, labels)
        # Loops are timed in interleaved rounds and the median taken: on a shared CPU, whichever loop
        # runs first or last would otherwise be favoured by frequency and cache effects.
        flops = {label: flops_per_step(loop, images, labels) for label, loop in loops.items()}
        for loop in loops.values():
            measure(loop, images, labels, 0, warmup, device)
        timings = {label: [] for label in loops}
        for _ in range(args.rounds):
            for label, loop in loops.items():
                timings[label].append(measure(loop, images, labels, steps, 0, device))
        reference_rate = batch / float(np.median(timings["reference"]))
        previous_rate = batch / float(np.median(timings["previous defaults"]))
        for label, loop in loops.items():
            seconds = float(np.median(timings[label]))
            rate = batch / seconds
            width = 32 if label == "reference" else loop.trainer.arch.base_channels
            print(f"| {size}×{size} | {label} | {width} | {1000 * seconds:.1f} | {rate:,.0f} | "
                  f"{flops[label] / 1e9:.2f} | {flops[label] / seconds / 1e12:.3f} | {rate / reference_rate:.2f}× | "
                  f"{rate / previous_rate:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
