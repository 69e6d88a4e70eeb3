"""Task cache keys from content: the config sections a stage is given, the sha256 of its input files,
and the code that computes the stage.

Prefect's default policy hashes every task input on every call, whole arrays included; these
stages pass paths, so the key hashes the files behind them instead (each file once per size and
mtime). A task receives only the config sections it reads, so its key hashes exactly those: a stage
that starts reading another section must be given it, and its cache follows. The records and the
results they point to live in the run folder's ``.cache/`` (Prefect's default would put the results
under its home, where another PREFECT_HOME refuses to read them), so the cache goes when the run
folder goes. A rerun after a crash finds every stage that finished with the same inputs and
continues from the first one that did not.

The code is part of the key (``gan_aug.code_digest``: gan-aug's version and the source of every module
the task can run, not only the task's body as Prefect's TASK_SOURCE): after an upgrade, a rerun of a
run folder or a scheduled deployment run recomputes the stages whose code changed, and only those.

A cache record says a stage finished, not that its files are still there: ``call_fresh`` and
``map_fresh`` run a cached stage again, refreshing its record, when files its result names in the
run folder were deleted since.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE, CachePolicy
from prefect.utilities.annotations import unmapped
from pydantic import BaseModel

from gan_aug.code_digest import code_digest
from gan_aug.hashing import file_sha256, json_sha256
from gan_aug.run_dir import RunDir

log = logging.getLogger("gan_aug.flows")
_hashes: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_digest(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _hashes:
            return _hashes[key]
    digest = file_sha256(path)
    with _lock:
        _hashes[key] = digest
    return digest


def _canonical(value: Any) -> Any:
    """A JSON-able stand-in for a task input: config sections by their settings, records by their
    fields, files by their content."""
    if isinstance(value, BaseModel):
        return {type(value).__name__: value.model_dump(mode="json")}
    if isinstance(value, RunDir):
        return {"run_dir": str(value.root)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {type(value).__name__: _canonical({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and os.path.isfile(value):
        return {"file": file_digest(Path(value))}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot key a task input of type {type(value).__name__}: pass paths and small values")


# Task inputs that say where work runs, not what it computes (the classifier runs are seeded: a cluster
# gives the same numbers as this machine), so a rerun on another runner reuses the cached stage.
UNKEYED = frozenset({"placement"})


class ContentKey(CachePolicy):
    """Key = stage name + its inputs (but ``UNKEYED``), with sections, records and files replaced by their
    content, + the digest of the code the task runs (its body here is wiring: a fixed filter lives in gan_aug/)."""

    def compute_key(self, task_ctx, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs) -> str:
        keyed = {name: value for name, value in inputs.items() if name not in UNKEYED}
        payload = {"stage": task_ctx.task.name, "inputs": _canonical(keyed), "code": code_digest(task_ctx.task.fn)}
        return json_sha256(payload)


def cached(stage, enabled: bool, run: RunDir):
    """``stage`` with content-keyed caching in the run folder (or none when ``runner.cache`` is off)."""
    if not enabled:
        return stage.with_options(cache_policy=NO_CACHE, persist_result=False)
    policy = ContentKey().configure(key_storage=str(run.root / ".cache"))
    return stage.with_options(cache_policy=policy, persist_result=True, result_storage=run.root / ".cache" / "results")


def output_paths(value: Any, root: Path) -> list[Path]:
    """Every absolute path (str or Path) inside a stage's result that lies in the run folder ``root``,
    found by walking dataclasses, dicts, lists and tuples. Relative strings are left alone: a class
    name is not a file."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [p for f in dataclasses.fields(value) for p in output_paths(getattr(value, f.name), root)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [p for item in value for p in output_paths(item, root)]
    if isinstance(value, (str, Path)) and os.path.isabs(value):
        path = Path(os.path.normpath(value))
        return [path] if path.is_relative_to(root) and path != root else []
    return []


def missing_outputs(value: Any, run: RunDir) -> list[Path]:
    """The files a stage's result names in the run folder that no longer exist."""
    return [path for path in output_paths(value, run.root) if not path.exists()]


def call_fresh(stage, run: RunDir, *args: Any, **kwargs: Any) -> Any:
    """Call a cached stage; if its result (cached or not) names run-folder files that are gone, call
    it once more with ``refresh_cache=True``: Prefect then runs it and overwrites the record. Without
    this, a run folder whose outputs were deleted but whose .cache/ was kept fails on the missing file."""
    result = stage(*args, **kwargs)
    missing = missing_outputs(result, run)
    if not missing:
        return result
    log.warning("%s: %d of its outputs are gone (%s): running it again", _name(stage), len(missing), missing[0])
    return stage.with_options(refresh_cache=True)(*args, **kwargs)


def map_fresh(stage, run: RunDir, *args: Any) -> list:
    """``stage.map(*args).result()`` (lists, and ``unmapped`` values) with ``call_fresh``'s check per
    element: only the elements whose outputs are gone run again, mapped as well."""
    results = list(stage.map(*args).result())
    stale = [i for i, result in enumerate(results) if missing_outputs(result, run)]
    if not stale:
        return results
    log.warning("%s: outputs of %d of its %d runs are gone: running those again", _name(stage), len(stale),
                len(results))
    again = [arg if isinstance(arg, unmapped) else [arg[i] for i in stale] for arg in map(_listed, args)]
    for i, result in zip(stale, stage.with_options(refresh_cache=True).map(*again).result()):
        results[i] = result
    return results


def _listed(arg: Any) -> Any:
    return arg if isinstance(arg, unmapped) else list(arg)


def _name(stage) -> str:
    return getattr(stage, "name", None) or getattr(stage, "__name__", repr(stage))
