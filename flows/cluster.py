"""Where the mix grid's and the evaluation's classifier runs go: this machine (gan_aug.parallel's local
pool), or the Dask or Ray cluster the flow's task runner uses (``runner.classifier_runs``).

The two stages stay single Prefect tasks in the flow's process, cached, retried and reporting progress
as before; only their independent classifier runs become tasks of the cluster, through joblib's Dask
or Ray backend and ``gan_aug.parallel.on_cluster``. This was chosen over one Prefect task per run:
the mix grid's rounds (successive halving picks round two from round one's scores), the stage's one
cache record and its progress stay in the library, unchanged, and the runs' results are the same
numbers whichever way they travel (they are seeded). The flow's process only waits on the runs, so
no one-thread Dask worker is held by a task waiting on its own sub-runs (were the stage itself a
task on a worker, joblib's Dask backend secedes from the worker's thread pool while it waits).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import joblib
from prefect import get_run_logger
from prefect.context import FlowRunContext

from gan_aug.config import ConfigError, RunnerConfig
from gan_aug.parallel import on_cluster

LOCAL = "local"


def classifier_placement(runner: RunnerConfig, device: str) -> str:
    """``"local"``, or the kind of cluster (``"dask"``, ``"ray"``) the classifier runs go to:
    ``runner.classifier_runs``, unset meaning the cluster whenever ``runner.kind`` has one. Runs on CUDA
    stay in the flow's process, as they do without a cluster: the classifier runs are not given GPU slots
    (gan_aug.device), so worker processes sharing a host's GPU would contend for its memory."""
    if runner.kind == "threads" or runner.classifier_runs == LOCAL or str(device).startswith("cuda"):
        return LOCAL
    return runner.kind


@contextlib.contextmanager
def classifier_runs_on(placement: str) -> Iterator[None]:
    """Inside this block, the library's classifier runs (gan_aug.parallel.run_all) go where
    ``placement`` says; call it inside the Prefect task that runs the stage."""
    if placement == LOCAL:
        yield
        return
    backend, logger = {"dask": _dask, "ray": _ray}[placement], get_run_logger()
    with backend() as slots:
        if slots is None:  # warned: the flow runs without its cluster
            yield
            return
        with on_cluster(slots):
            logger.info("classifier runs go to the %s cluster (%d worker threads)", placement.title(), slots)
            yield


@contextlib.contextmanager
def _dask() -> Iterator[int | None]:
    """The flow's Dask task runner's own client as joblib's backend; yields the cluster's worker threads,
    or None, with a warning, when the flow was started without it (``augment`` called directly instead
    of through ``run_augment``: its per-class tasks ran on threads too; failing here would waste them).

    Not prefect_dask.get_dask_client: inside a task that runs in the flow's process it asks
    distributed.get_client() for the scheduler, and the task runner's client is no global client there
    ("No global client found")."""
    from prefect_dask import DaskTaskRunner

    runner = getattr(FlowRunContext.get(), "task_runner", None)
    if not isinstance(runner, DaskTaskRunner):
        get_run_logger().warning("runner.kind is 'dask' but this flow runs on %s (start it with "
                                 "flows.augment.run_augment): classifier runs stay on this machine",
                                 type(runner).__name__)
        yield None
        return
    client = runner.client
    with joblib.parallel_config(backend=_dask_backend(client)):
        yield sum(client.nthreads().values())


def _dask_backend(client):
    """joblib's Dask backend, told of runs that Dask itself fails. joblib (1.6) hears only results: a run
    that killed its worker (Dask's KilledWorker) sets its future's exception, which nothing waits on, and
    Parallel waits forever. Handing the exception to joblib's callback ends the call with it, which
    gan_aug.parallel.run_all names as a dead worker."""
    from joblib._dask import DaskDistributedBackend

    class Backend(DaskDistributedBackend):
        def submit(self, func, callback=None):
            future = super().submit(func, callback)
            if callback is not None:
                future.add_done_callback(lambda done: done.exception() is not None and callback(done.exception()))
            return future

    return Backend(client=client)


@contextlib.contextmanager
def _ray() -> Iterator[int]:
    """Ray's joblib backend on the cluster prefect-ray connected this process to; yields its CPUs."""
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError:
        raise ConfigError("runner.classifier_runs on runner.kind 'ray' needs ray's joblib backend: pip install "
                          "'gan-aug[ray]', or set runner.classifier_runs: local") from None
    register_ray()
    with joblib.parallel_config(backend="ray"):
        yield int(ray.cluster_resources().get("CPU", 1))
