"""The flow on a Dask cluster, resuming from the last finished stage, and retrying what may pass.

One run folder goes through a crash, reruns and injected faults in file order: each rerun reuses
the stages that finished (content-keyed caches in the run folder, the GAN checkpoint, the shards).
"""
from __future__ import annotations

import copy
import errno
import os

import pytest

from gan_aug.config import parse_config
from gan_aug.io import read_json

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

QUICK = {"name": "scale", "data": {"source": "digits", "long_tail": {}}, "gan": {"steps": 100, "checkpoint_every": 100},
         "filter": {"feature_steps": 100, "filters": ["label", "memorisation"], "label_threshold": 0.0},
         "mix": {"policy": "fixed", "dose": 2.0, "min_agreement": 0.0},  # the validation grid has its own tests
         "evaluate": {"steps": 50, "batch_size": 64, "seeds": 1, "methods": ["plain", "gan"]},
         "runner": {"retry_delay_s": 0}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("resume")


def _run(out, **overrides):
    from flows.augment import run_augment

    raw = copy.deepcopy(QUICK)
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return run_augment(parse_config(raw), out)


def _mtimes(run_dir) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (run_dir / "generated").glob("class-*.npz")}


def test_a_crash_in_evaluation_leaves_the_finished_stages(run_dir, monkeypatch):
    import gan_aug.evaluate

    def crash(*args, **kwargs):
        raise RuntimeError("killed during evaluation")

    monkeypatch.setattr(gan_aug.evaluate, "evaluate_downstream", crash)
    with pytest.raises(RuntimeError, match="killed during evaluation"):
        _run(run_dir)
    assert _mtimes(run_dir) and (run_dir / "manifest.json").is_file() and not (run_dir / "metrics.json").exists()


def test_the_rerun_resumes_at_evaluation(run_dir):
    generated, manifest = _mtimes(run_dir), (run_dir / "manifest.json").stat().st_mtime_ns
    _run(run_dir)
    assert _mtimes(run_dir) == generated  # generation was not redone: its cached results were used
    assert (run_dir / "manifest.json").stat().st_mtime_ns == manifest  # the shards were reused as they were
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["training"]["runs"]["shared"]["resumed_from"] == 100  # the finished GAN, not retrained
    assert set(metrics["downstream"]["methods"]) == {"plain", "gan"}


def test_a_second_rerun_takes_even_the_evaluation_from_the_cache(run_dir):
    before = read_json(run_dir / "metrics.json")["downstream"]
    _run(run_dir)
    after = read_json(run_dir / "metrics.json")["downstream"]
    # Training seconds would differ had any classifier been trained again.
    assert after == before
    assert any((run_dir / ".cache").iterdir())


def test_changing_workers_keeps_the_cache_but_changing_a_setting_does_not(run_dir):
    generated = _mtimes(run_dir)
    _run(run_dir, max_workers=1)
    assert _mtimes(run_dir) == generated
    before = read_json(run_dir / "metrics.json")["downstream"]
    _run(run_dir, runner={"cache": False})  # the same settings, computed again
    assert _mtimes(run_dir) != generated
    assert read_json(run_dir / "metrics.json")["downstream"]["methods"]["plain"]["seconds"] != \
        before["methods"]["plain"]["seconds"]


def _flaky_shards(monkeypatch, error: OSError) -> list[int]:
    import gan_aug.shards

    calls, real = [], gan_aug.shards.write_shards

    def write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(gan_aug.shards, "write_shards", write)
    return calls


def test_a_transient_io_error_is_retried(run_dir, monkeypatch):
    calls = _flaky_shards(monkeypatch, OSError(errno.EIO, "Input/output error", str(run_dir / "shards")))
    _run(run_dir)
    assert len(calls) == 2 and (run_dir / "metrics.json").is_file()


def test_a_full_disk_is_not_retried(run_dir, monkeypatch):
    calls = _flaky_shards(monkeypatch, OSError(errno.ENOSPC, "No space left on device", str(run_dir / "shards")))
    with pytest.raises(OSError, match="No space left"):
        _run(run_dir)
    assert len(calls) == 1


def test_per_class_work_runs_on_a_local_dask_cluster_of_two_workers(tmp_path):
    pytest.importorskip("prefect_dask")
    out = tmp_path / "dask"
    # Four rare classes (step profile): four GANs and four generation tasks for the two workers.
    _run(out, runner={"kind": "dask"}, max_workers=2, gan={"strategy": "per_class", "steps": 20},
         data={"long_tail": {"profile": "step", "step_minority_classes": 4, "imbalance_ratio": 10}})
    metrics = read_json(out / "metrics.json")
    workers = {entry["worker"] for entry in metrics["classes"] if entry["needed"]}
    pids = {int(worker.rsplit(":", 1)[1]) for worker in workers}
    assert os.getpid() not in pids and len(pids) == 2, workers  # both Dask workers took classes
    assert metrics["training"]["strategy"] == "per_class"
    assert all(entry["final"] == entry["target"] for entry in metrics["classes"])


def test_per_class_work_runs_on_a_local_ray_cluster(tmp_path):
    pytest.importorskip("prefect_ray")  # an option (pip install 'gan-aug[ray]'), not in the dev install
    out = tmp_path / "ray"
    _run(out, runner={"kind": "ray"}, max_workers=2)
    metrics = read_json(out / "metrics.json")
    pids = {int(entry["worker"].rsplit(":", 1)[1]) for entry in metrics["classes"] if entry["needed"]}
    assert os.getpid() not in pids, pids  # generated in Ray worker processes, not in the flow's
    assert all(entry["final"] == entry["target"] for entry in metrics["classes"])
