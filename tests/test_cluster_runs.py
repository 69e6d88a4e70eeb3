"""Classifier runs as cluster work: the mix grid's and the evaluation's runs go to the Dask cluster the
flow's task runner uses, give the same numbers as on this machine, and a dead Dask worker is named like
a dead local one."""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest

from fault_helpers import die_on_two, worker_pid
from gan_aug.config import parse_config
from gan_aug.data.imageset import ImageSet
from gan_aug.io import read_json
from gan_aug.parallel import WorkerDiedError, on_cluster, run_all

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed")

# test_scaleout's QUICK run, with a small validation grid: "none" and dose 2 on two seeds (4 runs), and
# the evaluation's plain and gan methods on one seed (2 runs).
QUICK = {"name": "cluster", "data": {"source": "digits", "long_tail": {}},
         "gan": {"steps": 40, "checkpoint_every": 40},
         "filter": {"feature_steps": 40, "filters": ["label", "memorisation"], "label_threshold": 0.0},
         "mix": {"policy": "validation", "doses": [2.0], "weights": [1.0], "seeds": 2, "steps": 40, "headroom": [],
                 "min_agreement": 0.0},
         "evaluate": {"steps": 50, "batch_size": 64, "seeds": 1, "methods": ["plain", "gan"]},
         "runner": {"retry_delay_s": 0}}
# What a run computes, without where it ran or how long it took.
WHERE = ("workers", "seconds")


_LOADED = {"sets": 0}  # in each worker process: how many times a _Counted set was unpickled there


class _Counted(ImageSet):
    def __setstate__(self, state):
        _LOADED["sets"] += 1
        self.__dict__.update(state)


def _rows(_job: int, images: ImageSet) -> int:
    return len(images)


def _loaded() -> int:
    return _LOADED["sets"]


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes; a job that kills its worker is not retried on another."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        yield client


def test_inside_on_cluster_every_job_goes_to_the_callers_dask_backend(cluster):
    import joblib

    from flows.cluster import _dask_backend

    with joblib.parallel_config(backend=_dask_backend(cluster)), on_cluster(2):
        pids = set(run_all(worker_pid, range(4), workers=2, shared=(list(range(500)),)))
        single = set(run_all(worker_pid, [0], workers=1))  # one job too: the cluster is already running
    workers = set(cluster.run(os.getpid).values())
    assert pids | single <= workers and os.getpid() not in pids | single


def test_what_every_job_reads_reaches_each_worker_once(cluster):
    """run_all's ``shared`` (the validation or test images of a stage) is scattered once per call, not
    sent with each of its jobs (16 MB here, eight jobs)."""
    import joblib

    from flows.cluster import _dask_backend

    images = _Counted(np.zeros((20000, 1, 28, 28), np.uint8), np.zeros(20000, np.int64), ("a",))
    with joblib.parallel_config(backend=_dask_backend(cluster)), on_cluster(2):
        assert list(run_all(_rows, range(8), workers=2, shared=(images,))) == [20000] * 8
    assert 1 <= sum(cluster.run(_loaded).values()) <= 2  # once per worker at most


def test_a_dask_worker_killed_mid_job_is_named_like_a_local_one(cluster):
    """joblib's own Dask backend waits forever here (joblib 1.6); flows.cluster's tells it."""
    import joblib

    from flows.cluster import _dask_backend

    results = []
    with pytest.raises(WorkerDiedError) as caught, joblib.parallel_config(backend=_dask_backend(cluster)), \
            on_cluster(2):
        for result in run_all(die_on_two, range(5), workers=2, what="validation classifier run"):
            results.append(result)
    message = str(caught.value)
    assert "validation classifier runs (on a Dask worker)" in message and "after 2 of 5 had finished" in message
    assert "all those workers died" in message and results == [0, 1]  # Dask's own account follows


def _run(out, **overrides):
    from flows.augment import run_augment

    raw = copy.deepcopy(QUICK)
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return run_augment(parse_config(raw), out)


def _computed(metrics: dict) -> tuple[dict, list[dict]]:
    """The evaluation's and the mix grid's numbers, without where each run ran and its seconds."""
    methods = {name: {k: v for k, v in entry.items() if k not in WHERE}
               for name, entry in metrics["downstream"]["methods"].items()}
    return methods, [{k: v for k, v in point.items() if k not in WHERE} for point in metrics["mix"]["curve"]]


def _ran_in(metrics: dict) -> tuple[set[int], set[int]]:
    """The processes (pids) the evaluation's and the mix grid's classifier runs ran in."""
    pid = lambda worker: int(worker.rsplit(":", 1)[1])  # noqa: E731
    evaluation = {pid(w) for entry in metrics["downstream"]["methods"].values() for w in entry["workers"]}
    grid = {pid(w) for point in metrics["mix"]["curve"] for w in point["workers"]}
    return evaluation, grid


@pytest.mark.usefixtures("prefect_harness")
def test_the_classifier_runs_go_to_the_flows_dask_cluster_with_the_same_numbers(tmp_path):
    pytest.importorskip("prefect_dask")
    import torch

    # Dask's workers and loky's run torch on one thread; this process does too for the threads run, so
    # the GAN, generation and the in-process runs round exactly as the workers do.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _run(tmp_path / "threads")
        _run(tmp_path / "dask", runner={"kind": "dask"}, max_workers=2)
    finally:
        torch.set_num_threads(threads)
    here, there = read_json(tmp_path / "threads" / "metrics.json"), read_json(tmp_path / "dask" / "metrics.json")
    assert _ran_in(here) == ({os.getpid()}, {os.getpid()})  # small work: this process, one run after another
    evaluation, grid = _ran_in(there)
    assert evaluation and grid and os.getpid() not in evaluation | grid, (evaluation, grid)  # Dask's workers
    assert len(here["mix"]["curve"]) == 2 and sum(p["seeds"] for p in there["mix"]["curve"]) == 4
    assert _computed(there) == _computed(here)
    assert (there["mix"]["dose"], there["mix"]["weight"]) == (here["mix"]["dose"], here["mix"]["weight"])
