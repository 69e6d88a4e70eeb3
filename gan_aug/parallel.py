"""Independent classifier runs side by side, one per CPU core.

A small network on small images keeps one core busy with Python and per-op overhead, and two
threads of one process fight over it; separate processes with one thread each use every core. On
CUDA (one device to share) and for a single run, work stays in this process.

Each new worker process spends seconds importing torch before its first job. Inside
``shared_pools()`` (a whole run: the mix grid, then the evaluation) the processes started for one
stage serve the next ones too, and stop when the block ends.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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


def classifier_workers(config, device: torch.device | str, runs: int, image_shape: tuple[int, ...]) -> int:
    """Worker processes for ``runs`` classifier runs of an evaluation config (its ``workers``, ``steps``
    and ``batch_size``) on images of ``image_shape``: ``worker_count`` given their serial time."""
    seconds = classifier_seconds(runs, config.steps, config.batch_size, image_shape)
    return worker_count(config.workers, device, runs, seconds)


def _one_thread() -> None:
    torch.set_num_threads(1)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")  # fork would copy this process's threads and locks
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread)


class _Pools:
    """The pools kept for reuse, by worker count; None outside ``shared_pools()``."""

    lock = threading.Lock()
    kept: dict[int, ProcessPoolExecutor] | None = None
    depth = 0


@contextlib.contextmanager
def shared_pools() -> Iterator[None]:
    """Keep the worker processes ``run_all`` starts until the block ends, for every stage inside it
    (from any thread). Nested blocks share the outermost one's pools."""
    with _Pools.lock:
        _Pools.depth += 1
        if _Pools.kept is None:
            _Pools.kept = {}
    try:
        yield
    finally:
        with _Pools.lock:
            _Pools.depth -= 1
            pools = list(_Pools.kept.values()) if _Pools.depth == 0 else []
            if _Pools.depth == 0:
                _Pools.kept = None
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _kept_pool(workers: int) -> ProcessPoolExecutor | None:
    with _Pools.lock:
        if _Pools.kept is None:
            return None
        if workers not in _Pools.kept:
            _Pools.kept[workers] = _new_pool(workers)
        return _Pools.kept[workers]


def _forget(pool: ProcessPoolExecutor) -> None:
    """A pool whose worker died (BrokenProcessPool) cannot run more jobs: the next call starts another."""
    with _Pools.lock:
        if _Pools.kept is not None:
            _Pools.kept = {n: p for n, p in _Pools.kept.items() if p is not pool}


def run_all(fn: Callable[[T], R], jobs: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` over ``jobs``, results in job order; in ``workers`` spawned processes of one thread each
    when ``workers`` > 1 (``fn`` and the jobs must pickle), else here, one after another."""
    jobs = list(jobs)
    if workers <= 1:
        yield from map(fn, jobs)
        return
    kept = _kept_pool(workers)
    if kept is None:
        with _new_pool(workers) as pool:
            yield from pool.map(fn, jobs)
        return
    try:
        yield from kept.map(fn, jobs)
    except BrokenProcessPool:
        _forget(kept)
        raise
