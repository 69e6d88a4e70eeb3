"""Independent classifier runs side by side, one per CPU core.

A small network on small images keeps one core busy with Python and per-op overhead, and two
threads of one process fight over it; separate processes with one thread each use every core. On
CUDA (one device to share) and for a single run, work stays in this process.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch

T = TypeVar("T")
R = TypeVar("R")


# Each worker process imports torch before its first job (seconds): below this much serial work the
# pool costs more than it saves, so the automatic setting (0) stays in this process.
POOL_MIN_SECONDS = 10.0
# A rough CPU cost of one classifier step: per-step overhead plus work per image pixel (measured on
# 2 cores: the small CNN takes about 30 ms a step at 28×28, batch 128).
STEP_SECONDS, PIXEL_SECONDS = 3e-3, 3e-7


def classifier_seconds(runs: int, steps: int, batch_size: int, image_shape: tuple[int, ...]) -> float:
    """About how long ``runs`` classifier runs take one after another on a CPU."""
    return runs * steps * (STEP_SECONDS + batch_size * int(np.prod(image_shape)) * PIXEL_SECONDS)


def worker_count(setting: int, device: torch.device | str, jobs: int, seconds: float | None = None) -> int:
    """``setting`` (0: one per core, unless the work, ``seconds`` of it serially, is too small to pay
    for starting processes), never more than there are jobs; 1 on CUDA."""
    if torch.device(device).type == "cuda" or jobs <= 1:
        return 1
    if not setting and seconds is not None and seconds < POOL_MIN_SECONDS:
        return 1
    return max(1, min(jobs, setting or os.cpu_count() or 1))


def _one_thread() -> None:
    torch.set_num_threads(1)


def run_all(fn: Callable[[T], R], jobs: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` over ``jobs``, results in job order; in ``workers`` spawned processes of one thread each
    when ``workers`` > 1 (``fn`` and the jobs must pickle), else here, one after another."""
    jobs = list(jobs)
    if workers <= 1:
        yield from map(fn, jobs)
        return
    context = multiprocessing.get_context("spawn")  # fork would copy this process's threads and locks
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
        yield from pool.map(fn, jobs)
