"""Task cache keys from content: the config sections a stage is given and the sha256 of its input files.

Prefect's default policy hashes every task input on every call, whole arrays included; these
stages pass paths, so the key hashes the files behind them instead (each file once per size and
mtime). A task receives only the config sections it reads, so its key hashes exactly those: a stage
that starts reading another section must be given it, and its cache follows. The records live in the run folder's
``.cache/``, so the cache goes when the run folder goes. A rerun after a crash finds every stage that
finished with the same inputs and continues from the first one that did not.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE, CachePolicy
from pydantic import BaseModel

from gan_aug.io import sha256_file
from gan_aug.run_dir import RunDir

_hashes: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_digest(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _hashes:
            return _hashes[key]
    digest = sha256_file(path)
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


class ContentKey(CachePolicy):
    """Key = stage name + its inputs, with sections, records and files replaced by their content."""

    def compute_key(self, task_ctx, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs) -> str:
        payload = {"stage": task_ctx.task.name, "inputs": _canonical(inputs)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached(stage, enabled: bool, run: RunDir):
    """``stage`` with content-keyed caching in the run folder (or none when ``runner.cache`` is off)."""
    if not enabled:
        return stage.with_options(cache_policy=NO_CACHE, persist_result=False)
    policy = ContentKey().configure(key_storage=str(run.root / ".cache"))
    return stage.with_options(cache_policy=policy, persist_result=True)
