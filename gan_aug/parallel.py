"""Independent classifier runs side by side, one per CPU core, on the pool scikit-learn uses.

A small network on small images keeps one core busy with Python and per-op overhead, and two
threads of one process fight over it; separate processes with one thread each use every core. On
CUDA (one device to share) and for a single run, work stays in this process.

The processes come from joblib (its loky backend by default, or whatever backend a caller's
``joblib.parallel_config`` names: Dask or Ray spread the runs over a cluster). Loky's workers never
re-run the caller's script, so a plain script without an ``if __name__ == "__main__":`` guard, or
code read from stdin, works. Each new worker spends seconds importing torch before its first job;
loky keeps its workers for the next call, and ``shared_pools()`` (a whole run: the mix grid, then
the evaluation) stops them when the run ends.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
from joblib import Parallel, delayed
from joblib.externals.loky import reusable_executor
from joblib.externals.loky.process_executor import TerminatedWorkerError

T = TypeVar("T")
R = TypeVar("R")


# Each worker process imports torch before its first job (seconds): below this much serial work the
# pool costs more than it saves, so the automatic setting (0) stays in this process.
POOL_MIN_SECONDS = 10.0
# A rough CPU cost of one classifier step: per-step overhead plus work per image pixel (measured on
# 2 cores: the small CNN takes about 30 ms a step at 28×28, batch 128).
STEP_SECONDS, PIXEL_SECONDS = 3e-3, 3e-7


class WorkerDiedError(RuntimeError):
    """A worker process died mid-job (killed, out of memory, a crash in native code). The message names
    the job and the signal; work finished before it (checkpoints, cached stages) is kept."""


def classifier_seconds(runs: int, steps: int, batch_size: int, image_shape: tuple[int, ...]) -> float:
    """About how long ``runs`` classifier runs take one after another on a CPU."""
    return runs * steps * (STEP_SECONDS + batch_size * int(np.prod(image_shape)) * PIXEL_SECONDS)


def worker_count(setting: int, device, jobs: int, seconds: float | None = None) -> int:
    """``setting`` (0: one per core, unless the work, ``seconds`` of it serially, is too small to pay
    for starting processes), never more than there are jobs; 1 on CUDA."""
    if str(device).startswith("cuda") or jobs <= 1:
        return 1
    if not setting and seconds is not None and seconds < POOL_MIN_SECONDS:
        return 1
    return max(1, min(jobs, setting or os.cpu_count() or 1))


def classifier_workers(config, device, runs: int, image_shape: tuple[int, ...]) -> int:
    """Worker processes for ``runs`` classifier runs of an evaluation config (its ``workers``, ``steps``
    and ``batch_size``) on images of ``image_shape``: ``worker_count`` given their serial time."""
    seconds = classifier_seconds(runs, config.steps, config.batch_size, image_shape)
    return worker_count(config.workers, device, runs, seconds)


def _in_worker(fn: Callable[[T], R], job: T) -> R:
    import torch  # here, so that importing this module (the shard writer does) does not import torch

    torch.set_num_threads(1)  # one process per core: a second thread would only fight the other workers
    return fn(job)


class _Blocks:
    lock = threading.Lock()
    depth = 0


@contextlib.contextmanager
def shared_pools() -> Iterator[None]:
    """The worker processes ``run_all`` starts inside the block serve every stage in it (from any
    thread), and are stopped when the outermost block ends, so a finished run leaves none behind."""
    with _Blocks.lock:
        _Blocks.depth += 1
    try:
        yield
    finally:
        with _Blocks.lock:
            _Blocks.depth -= 1
            last = _Blocks.depth == 0
        if last:
            stop_workers()


def stop_workers() -> None:
    """Stop loky's kept worker processes now (they would otherwise idle for minutes)."""
    with reusable_executor._executor_lock:
        executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def run_all(fn: Callable[[T], R], jobs: Iterable[T], workers: int, what: str = "job") -> Iterator[R]:
    """``fn`` over ``jobs``, results in job order; on ``workers`` joblib worker processes of one thread
    each when ``workers`` > 1 (``fn`` and the jobs must pickle), else here, one after another.

    A worker that dies raises WorkerDiedError naming ``what`` and which of the jobs it was on."""
    jobs = list(jobs)
    if workers <= 1:
        yield from map(fn, jobs)
        return
    # Arrays are pickled to the workers as before (no memory-mapping: jobs may write to their copies).
    parallel = Parallel(n_jobs=workers, prefer="processes", return_as="generator", max_nbytes=None)
    done = 0
    try:
        for result in parallel(delayed(_in_worker)(fn, job) for job in jobs):
            done += 1
            yield result
    except TerminatedWorkerError as error:
        raise WorkerDiedError(died_message(what, done, len(jobs), error)) from None


def died_message(what: str, done: int, total: int | None, error: BaseException) -> str:
    """What died, with the signal spelled out and what usually causes it."""
    codes = _exit_codes(str(error))
    killed = [c for c in codes if c < 0]
    why = ", ".join(_signal_name(-c) for c in killed) or ", ".join(map(str, codes)) or "unknown exit code"
    hint = (" SIGKILL usually means the machine ran out of memory (see `dmesg`); fewer worker processes "
            "(n_jobs, evaluate.workers) or a smaller batch need less."
            if signal.SIGKILL in [-c for c in killed] else "")
    count = f"{done} of {total}" if total is not None else str(done)
    return (f"a worker process died while running {what}s ({why}) after {count} had finished; "
            f"work finished before it is kept, and a rerun resumes from it.{hint}")


def _exit_codes(text: str) -> list[int]:
    """The exit codes joblib lists as ``{SIGKILL(-9), EXIT(1)}``."""
    return [int(code) for code in re.findall(r"\((-?\d+)\)", text)]


def _signal_name(number: int) -> str:
    try:
        return f"killed by {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"
