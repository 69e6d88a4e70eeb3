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

import torch

T = TypeVar("T")
R = TypeVar("R")


def worker_count(setting: int, device: torch.device | str, jobs: int) -> int:
    """``setting`` (0: one per core), never more than there are jobs; 1 on CUDA."""
    if torch.device(device).type == "cuda" or jobs <= 1:
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
