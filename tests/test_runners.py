"""Scale-out building blocks: GPU slots, the task-runner choice and which failures retry."""
from __future__ import annotations

import errno
import multiprocessing
import time

import pytest

from gan_aug.config import ConfigError, parse_config
from gan_aug.device import gpu_slot
from gan_aug.transient import is_transient


def _hold(device: str, lock_dir: str, seconds: float, queue) -> None:
    with gpu_slot(device, lock_dir):
        start = time.monotonic()
        time.sleep(seconds)
        queue.put((device, start, time.monotonic()))


def _intervals(devices: list[str], lock_dir, hold_s: float = 0.6) -> list[tuple[str, float, float]]:
    """Run one process per device, all at once, each holding its GPU slot for ``hold_s``."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_hold, args=(d, str(lock_dir), hold_s, queue)) for d in devices]
    for process in processes:
        process.start()
    results = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    return sorted(results, key=lambda r: r[1])


def test_one_gpu_task_per_gpu_across_processes(tmp_path):
    first, second = _intervals(["cuda:0", "cuda:0"], tmp_path)
    assert second[1] >= first[2] - 0.01  # the second started only after the first let go


def test_tasks_on_different_gpus_run_together(tmp_path):
    # Held long enough that the two spawned processes' start-up (torch imports) cannot end the overlap.
    first, second = _intervals(["cuda:0", "cuda:1"], tmp_path, hold_s=5.0)
    assert second[1] < first[2]  # overlapping: each GPU has its own slot


def test_cpu_tasks_take_no_slot(tmp_path):
    with gpu_slot("cpu", tmp_path), gpu_slot("cpu", tmp_path):  # re-entering would deadlock on a GPU slot
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error, transient", [
    (ConnectionResetError("peer went away"), True),
    (TimeoutError("slow share"), True),
    (OSError(errno.EIO, "I/O error"), True),
    (OSError(errno.ESTALE, "stale NFS handle"), True),
    (OSError(errno.ENOSPC, "No space left on device"), False),
    (FileNotFoundError(errno.ENOENT, "gone"), False),
    (ValueError("bad pixels"), False),
    (RuntimeError("CUDA out of memory"), False),
    (None, False),
])
def test_only_failures_that_may_pass_are_retried(error, transient):
    assert is_transient(error) is transient


def test_the_runner_follows_the_config():
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.runners import build_task_runner

    threads = build_task_runner(parse_config({"max_workers": 3}))
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    with pytest.raises(ConfigError, match="runner.address"):
        build_task_runner(parse_config({"runner": {"address": "tcp://127.0.0.1:8786"}}))
    dask = pytest.importorskip("prefect_dask")
    local = build_task_runner(parse_config({"runner": {"kind": "dask"}, "max_workers": 2}))
    assert isinstance(local, dask.DaskTaskRunner) and local.cluster_kwargs["n_workers"] == 2
    remote = build_task_runner(parse_config({"runner": {"kind": "dask", "address": "tcp://10.0.0.1:8786"}}))
    assert remote.address == "tcp://10.0.0.1:8786"
    try:
        import prefect_ray  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"pip install 'gan-aug\[ray\]'"):
            build_task_runner(parse_config({"runner": {"kind": "ray"}}))


def test_changing_only_where_a_run_executes_keeps_its_folder(tmp_path):
    from gan_aug.run_dir import RunDir

    run = RunDir(tmp_path)
    run.claim(parse_config({"name": "x"}))
    run.claim(parse_config({"name": "x", "max_workers": 4, "runner": {"kind": "dask"}}))  # accepted
    assert "kind: dask" in run.config.read_text()
    with pytest.raises(ConfigError, match=r"gan\.steps"):
        run.claim(parse_config({"name": "x", "gan": {"steps": 7}}))
    assert parse_config({"max_workers": 4}).results_hash() == parse_config({}).results_hash()


def test_classifier_runs_follow_the_runner_unless_told_or_on_cuda():
    from flows.cluster import classifier_placement

    def where(device="cpu", **runner):
        return classifier_placement(parse_config({"runner": runner}).runner, device)

    assert where() == "local" and where(kind="dask") == "dask" and where(kind="ray") == "ray"
    assert where(kind="dask", classifier_runs="local") == "local"
    assert where(kind="dask", classifier_runs="cluster") == "dask"
    assert where("cuda:0", kind="dask") == "local"  # runs take no GPU slots: they stay with the flow
    with pytest.raises(ConfigError, match=r"runner.classifier_runs 'cluster' needs runner.kind"):
        parse_config({"runner": {"classifier_runs": "cluster"}})


def test_where_classifier_runs_go_is_not_part_of_a_stage_cache_key():
    """A rerun on another runner reuses the mix grid and the evaluation: the runs are seeded."""
    from types import SimpleNamespace

    from flows.caching import ContentKey
    from flows.tasks import evaluate_task

    context = SimpleNamespace(task=SimpleNamespace(name="evaluate", fn=evaluate_task.fn))
    key = lambda **inputs: ContentKey().compute_key(context, {"seed": 1, **inputs}, {})  # noqa: E731
    assert key(placement="dask") == key(placement="local") == key() != key(seed=2)
