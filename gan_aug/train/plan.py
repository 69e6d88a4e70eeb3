"""What a training run gets when a setting is left unset: a budget, a width and a precision that
follow the device and the data.

One step count for every device would be seconds of work on a GPU and an hour on a 2-core CPU, and
neither is "trained". On CUDA the default is a step count; on a CPU it is a time budget that grows
with the data, and training also stops early once the per-class checks stop improving.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_aug.config import GANConfig
from gan_aug.device import fast_dtype

CUDA_STEPS = 20_000
CPU_MAX_STEPS = 200_000  # a ceiling for time-budgeted CPU runs, never the reason they stop in practice
# CPU time budget: about this many seconds per training image at 28×28 (scaled by pixel count), within bounds.
CPU_SECONDS_PER_IMAGE, CPU_MIN_SECONDS, CPU_MAX_SECONDS = 0.05, 30.0, 1800.0
SMALL_IMAGE, SMALL_WIDTH, WIDTH = 32, 16, 32  # images up to 32 px get narrower networks (bench/gan_speed.py)


@dataclass(frozen=True)
class Budget:
    """How long to train: a step count and, optionally, wall-clock seconds (whichever ends first)."""

    steps: int
    seconds: float | None = None

    def reason_to_stop(self, step: int, elapsed: float) -> str | None:
        if step >= self.steps:
            return "steps"
        if self.seconds is not None and elapsed >= self.seconds:
            return "time budget"
        return None

    def expected_steps(self, step: int, elapsed: float) -> int:
        """The step count the run will likely end at: for progress bars and log lines."""
        if self.seconds is None or step == 0 or elapsed <= 0:
            return self.steps
        return max(step, min(self.steps, round(step * self.seconds / elapsed)))


def budget(cfg: GANConfig, device: torch.device, images: int, image_size: int) -> Budget:
    """``gan.steps`` and ``gan.time_budget_s`` as set. Unset, both follow the device: on a CPU a time
    budget that grows with the data; on CUDA 20,000 steps. A step count that was set is never cut
    short by a default time budget: only by one that was set."""
    seconds = cfg.time_budget_s
    if cfg.steps is not None:
        return Budget(cfg.steps, seconds or None)
    if seconds is None and device.type != "cuda":
        scaled = CPU_SECONDS_PER_IMAGE * images * (image_size / 28) ** 2
        seconds = min(max(scaled, CPU_MIN_SECONDS), CPU_MAX_SECONDS)
    return Budget(CPU_MAX_STEPS if seconds and device.type != "cuda" else CUDA_STEPS, seconds or None)


def network_width(cfg: GANConfig, image_size: int) -> int:
    """``gan.base_channels``, or 16 for small images (5× the images/s of 32 on a CPU at 28×28) and 32 above."""
    return cfg.base_channels or (SMALL_WIDTH if image_size <= SMALL_IMAGE else WIDTH)


def amp_dtype(cfg: GANConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast (no loss scaling needed, unlike fp16) where the hardware computes in it natively:
    CUDA, and CPUs with AVX512-BF16 or AMX; fp32 elsewhere, where bf16 would be emulated and slower."""
    if cfg.precision == "bf16":
        return torch.bfloat16
    return fast_dtype(device) if cfg.precision == "auto" else None
