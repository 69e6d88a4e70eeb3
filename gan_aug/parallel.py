"""Independent classifier runs side by side, one per CPU core, on the pool scikit-learn uses.

A small network on small images keeps one core busy with Python and per-op overhead, and two
threads of one process fight over it; separate processes with one thread each use every core. On
CUDA (one device to share) and for a single run, work stays in this process.

The processes come from joblib (its loky backend by default, or whatever backend a caller's
``joblib.parallel_config`` names: Dask or Ray spread the runs over a cluster; ``on_cluster`` tells
``worker_count`` and ``run_all`` that such a backend is there, so that the runs go to it instead of
being sized, or kept here, by this machine's cores). Loky's workers never
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
import socket
import threading
from contextvars import ContextVar
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


# Set by ``on_cluster``: the cluster's worker threads, which the caller's joblib backend reaches (0: none).
_CLUSTER_SLOTS: ContextVar[int] = ContextVar("gan_aug_cluster_slots", default=0)


class WorkerDiedError(RuntimeError):
    """A worker process died mid-job (killed, out of memory, a crash in native code). The message names
    the job and the signal; work finished before it (checkpoints, cached stages) is kept."""


def classifier_seconds(runs: int, steps: int, batch_size: int, image_shape: tuple[int, ...]) -> float:
    """About how long ``runs`` classifier runs take one after another on a CPU."""
    return runs * steps * (STEP_SECONDS + batch_size * int(np.prod(image_shape)) * PIXEL_SECONDS)


@contextlib.contextmanager
def on_cluster(slots: int) -> Iterator[None]:
    """Inside this block ``run_all`` sends every job to the joblib backend the caller configured
    (``joblib.parallel_config(backend="dask")`` or ``"ray"``), whose cluster runs ``slots`` jobs at once,
    even a single job or work too small for a local pool (cluster workers are already running), and
    ``worker_count`` answers ``slots`` (at most the jobs) instead of counting this machine's cores.
    Whether a device such as CUDA should stay here is the caller's decision: it does not enter the block."""
    token = _CLUSTER_SLOTS.set(max(1, int(slots)))
    try:
        yield
    finally:
        _CLUSTER_SLOTS.reset(token)


def cluster_slots() -> int:
    """The worker threads of the cluster ``on_cluster`` announced (0: outside the block, runs stay local)."""
    return _CLUSTER_SLOTS.get()


def worker_id() -> str:
    """``host:pid`` of the process running this: where a run ran, for its records."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_count(setting: int, device, jobs: int, seconds: float | None = None) -> int:
    """``setting`` (0: one per core, unless the work, ``seconds`` of it serially, is too small to pay
    for starting processes), never more than there are jobs; 1 on CUDA. Inside ``on_cluster``: the
    cluster's slots, never more than there are jobs."""
    if slots := cluster_slots():
        return max(1, min(jobs, slots))
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


def _in_worker(fn: Callable[..., R], job: T, *shared) -> R:
    import torch  # here, so that importing this module (the shard writer does) does not import torch

    torch.set_num_threads(1)  # one process per core: a second thread would only fight the other workers
    return fn(job, *shared)


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


def run_all(fn: Callable[..., R], jobs: Iterable[T], workers: int, what: str = "job",
            shared: tuple = ()) -> Iterator[R]:
    """``fn(job, *shared)`` over ``jobs``, results in job order; on ``workers`` joblib worker processes of
    one thread each when ``workers`` > 1 or inside ``on_cluster`` (``fn``, the jobs and ``shared`` must
    pickle), else here, one after another.

    ``shared`` holds what every job reads (the validation or test images): each is one argument of every
    call, so a Dask backend scatters it to the cluster once per call of run_all instead of sending it
    with each job (joblib's Dask backend does so for arguments it sizes above 1 kB).

    A worker that dies raises WorkerDiedError naming ``what`` and how many of the jobs had finished: loky's
    TerminatedWorkerError, and Dask's KilledWorker (the job killed every worker it was retried on)."""
    jobs = list(jobs)
    if workers <= 1 and not cluster_slots():
        yield from (fn(job, *shared) for job in jobs)
        return
    # Arrays are pickled to the workers as before (no memory-mapping: jobs may write to their copies).
    parallel = Parallel(n_jobs=workers, prefer="processes", return_as="generator", max_nbytes=None)
    done = 0
    try:
        for result in parallel(delayed(_in_worker)(fn, job, *shared) for job in jobs):
            done += 1
            yield result
    except TerminatedWorkerError as error:
        raise WorkerDiedError(died_message(what, done, len(jobs), error)) from None
    except Exception as error:
        if not _killed_worker(error):
            raise
        raise WorkerDiedError(died_message(what, done, len(jobs), error)) from None


def _killed_worker(error: BaseException) -> bool:
    """Dask's KilledWorker, known by name: this module must not import distributed (an option)."""
    return type(error).__name__ == "KilledWorker" and type(error).__module__.startswith("distributed")


def died_message(what: str, done: int, total: int | None, error: BaseException) -> str:
    """What died, with the signal spelled out and what usually causes it (Dask names no signal: its
    message, which names the worker, follows)."""
    codes = _exit_codes(str(error))
    killed = [c for c in codes if c < 0]
    why = ", ".join(_signal_name(-c) for c in killed) or ", ".join(map(str, codes)) or "unknown exit code"
    hint = (" SIGKILL usually means the machine ran out of memory (see `dmesg`); fewer worker processes "
            "(n_jobs, evaluate.workers) or a smaller batch need less."
            if signal.SIGKILL in [-c for c in killed] else "")
    if _killed_worker(error):
        why = "on a Dask worker"
        hint = (f" Dask: {error} A worker killed by the machine (out of memory) or a crash in native code "
                "shows in the worker's log; a smaller evaluate.batch_size, or workers with more memory, need less.")
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
