"""The task runner for per-class work, chosen by ``runner.kind``: threads, Dask or Ray.

Only the mapped per-class tasks (per-class GAN training, generation and filtering) go to the
runner; the other stages run in the flow's process, but on a Dask or Ray runner the mix grid's and
the evaluation's classifier runs are sent to its cluster (flows/cluster.py). Workers read and write
the run folder, so on a cluster it must be on storage they all see.
"""
from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from gan_aug.config import AugmentConfig, ConfigError


def build_task_runner(config: AugmentConfig) -> TaskRunner:
    runner, workers = config.runner, config.max_workers
    if runner.kind == "threads":
        if runner.address:
            raise ConfigError("runner.address names a cluster, but runner.kind is 'threads'")
        return ThreadPoolTaskRunner(max_workers=workers)
    if runner.kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ConfigError("runner.kind 'dask' needs prefect-dask: pip install 'gan-aug[dask]'") from None
        if runner.address:
            return DaskTaskRunner(address=runner.address)
        # One thread per worker process: a GAN step already uses every core it is given.
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    try:
        from prefect_ray import RayTaskRunner
    except ImportError:
        raise ConfigError("runner.kind 'ray' needs prefect-ray: pip install 'gan-aug[ray]'") from None
    if runner.address:
        return RayTaskRunner(address=runner.address)
    return RayTaskRunner(init_kwargs={"num_cpus": workers, "include_dashboard": False})
