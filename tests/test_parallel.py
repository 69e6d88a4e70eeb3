"""Worker processes for classifier runs: joblib's loky workers, reused across stages inside
shared_pools() and gone after it; a worker that dies is named, not a bare BrokenProcessPool."""
from __future__ import annotations

import os
import time

import joblib
import numpy as np
import pytest

from fault_helpers import die_on_two, worker_pid
from gan_aug.parallel import WorkerDiedError, run_all, shared_pools, stop_workers
from gan_aug.shards.png import PngEncoder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A finished child that was not reaped yet still answers: read its state.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pids: set[int], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(pid) for pid in pids)


@pytest.mark.slow
def test_stages_inside_shared_pools_reuse_the_same_worker_processes():
    with shared_pools():
        first = set(run_all(worker_pid, range(6), workers=2))
        second = set(run_all(worker_pid, range(6), workers=2))
        with shared_pools():  # a nested block (a library call inside a flow run) shares them
            third = set(run_all(worker_pid, range(6), workers=2))
        inner_end = set(run_all(worker_pid, range(4), workers=2))  # the nested block's end stopped nothing
    # Four calls ran on no more than the block's two processes (fresh workers each call: up to eight).
    workers = first | second | third | inner_end
    assert len(workers) <= 2 and os.getpid() not in workers
    assert _wait_gone(workers)  # the outermost block's end stopped them


@pytest.mark.slow
def test_one_worker_runs_in_this_process_in_order_and_many_keep_job_order():
    assert list(run_all(abs, [-1, -2, 3], workers=1)) == [1, 2, 3]  # in this process, in order
    assert list(run_all(abs, [-3, 2, -1, 4, -5], workers=2)) == [3, 2, 1, 4, 5]
    stop_workers()


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_named_with_its_signal_and_the_finished_results_kept():
    results = []
    with pytest.raises(WorkerDiedError) as caught:
        for result in run_all(die_on_two, range(5), workers=2, what="validation classifier run"):
            results.append(result)
    message = str(caught.value)
    assert "validation classifier runs" in message and "SIGKILL" in message and "out of memory" in message
    assert "after 2 of 5 had finished" in message and results == [0, 1]
    stop_workers()


@pytest.mark.slow
def test_a_callers_joblib_backend_is_used():
    """A caller's ``joblib.parallel_config`` picks the backend (Dask and Ray register theirs the same
    way); threads here, so every job reports this process."""
    with joblib.parallel_config(backend="threading"):
        assert set(run_all(worker_pid, range(4), workers=2)) == {os.getpid()}


@pytest.mark.slow
def test_classifier_runs_start_after_png_encoding_workers():
    """The shard writer's deflate workers and the classifier runs share loky's executor: after shards
    were written (a flow writes them before the evaluation), joblib must still start its runs. A bare
    loky executor made them fail with '_ReusablePoolExecutor' has no attribute '_temp_folder_manager'."""
    images = np.random.default_rng(0).integers(0, 256, (64, 3, 32, 32), dtype=np.uint8)
    with PngEncoder(2, "deflate") as encoder:
        encoded = list(encoder.encode([(i, lambda: images) for i in range(4)]))
    assert [job for job, _ in encoded] == [0, 1, 2, 3]
    assert list(run_all(abs, [-1, 2, -3], workers=2)) == [1, 2, 3]
    stop_workers()
