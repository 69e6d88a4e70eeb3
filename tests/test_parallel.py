"""Worker processes for classifier runs: reused across stages inside shared_pools(), gone after it."""
from __future__ import annotations

import os
import time

import pytest

from gan_aug.parallel import run_all, shared_pools


def _pid(_job: int) -> int:
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A finished child that was not reaped yet still answers: read its state.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.slow
def test_stages_inside_shared_pools_reuse_the_same_worker_processes():
    with shared_pools():
        first = set(run_all(_pid, range(6), workers=2))
        second = set(run_all(_pid, range(6), workers=2))
        with shared_pools():  # a nested block (a library call inside a flow run) shares them
            third = set(run_all(_pid, range(6), workers=2))
    # Three calls of six jobs ran on no more than the block's two processes (fresh pools: up to six).
    workers = first | second | third
    assert len(workers) <= 2 and os.getpid() not in workers
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)  # the block's end stopped them


@pytest.mark.slow
def test_outside_shared_pools_each_call_starts_and_stops_its_own_workers():
    first = set(run_all(_pid, range(4), workers=2))
    second = set(run_all(_pid, range(4), workers=2))
    assert first.isdisjoint(second) and os.getpid() not in first | second
    assert list(run_all(abs, [-1, -2, 3], workers=1)) == [1, 2, 3]  # one worker: in this process, in order
