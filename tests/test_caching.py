"""Cache keys hash exactly what a task is given: its config sections, its records, and its files' bytes;
a cached stage whose files were deleted runs again."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from prefect.utilities.annotations import unmapped

from flows.caching import _canonical, call_fresh, map_fresh, missing_outputs, output_paths
from gan_aug.config import FilterConfig, GenerateConfig
from gan_aug.run_dir import RunDir
from gan_aug.stages import ClassSampler


def test_a_section_is_keyed_by_its_settings():
    assert _canonical(FilterConfig()) == _canonical(FilterConfig())
    assert _canonical(FilterConfig()) != _canonical(FilterConfig(d_quantile=0.1))
    assert _canonical(FilterConfig()) != _canonical(GenerateConfig())  # which section, not only its values


def test_a_record_is_keyed_by_its_fields_and_the_bytes_of_its_files(tmp_path):
    checkpoint = tmp_path / "gan.pt"
    checkpoint.write_bytes(b"weights")
    sampler = ClassSampler(3, str(checkpoint), "abc", 3, 250, True)
    key = _canonical({"sampler": sampler, "run": RunDir(tmp_path)})
    assert "weights" not in str(key) and key == _canonical({"run": RunDir(tmp_path), "sampler": sampler})
    assert _canonical(ClassSampler(3, str(checkpoint), "abc", 3, 500, True)) != _canonical(sampler)
    checkpoint.write_bytes(b"other weights")
    assert _canonical({"sampler": sampler, "run": RunDir(tmp_path)}) != key


def test_arrays_are_refused_as_task_inputs():
    with pytest.raises(TypeError, match="pass paths and small values"):
        _canonical({"images": np.zeros(3)})


# --------------------------------------------------------------------------- a cached stage whose files are gone

@dataclasses.dataclass(frozen=True)
class Outputs:
    path: str
    extra: dict
    label: str = "rare"  # a relative string: never taken for a file


class FakeStage:
    """Stands in for a cached Prefect task: a record per arguments, reused unless asked to refresh it;
    every call is logged with whether it refreshed."""

    name = "fake_stage"

    def __init__(self, compute, records: dict | None = None, calls: list | None = None, refresh: bool = False):
        self.compute, self.refresh = compute, refresh
        self.records = {} if records is None else records
        self.calls = [] if calls is None else calls

    def __call__(self, *args):
        self.calls.append((self.refresh, args))
        if self.refresh or args not in self.records:
            self.records[args] = self.compute(*args)
        return self.records[args]

    def with_options(self, refresh_cache: bool = False) -> "FakeStage":
        return FakeStage(self.compute, self.records, self.calls, refresh_cache)

    def map(self, *args):
        size = next(len(a) for a in args if not isinstance(a, unmapped))
        rows = [[a.value if isinstance(a, unmapped) else a[i] for a in args] for i in range(size)]
        return SimpleNamespace(result=lambda: [self(*row) for row in rows])


def _writer(run: RunDir):
    """A stage that writes <run>/out-<name><suffix>.npy and returns where, inside a record."""
    (run.root / "data").mkdir(parents=True, exist_ok=True)
    (run.root / "data" / "train.npz").write_bytes(b"split")

    def compute(name, suffix=""):
        path = run.root / f"out-{name}{suffix}.npy"
        path.write_bytes(b"data")
        return Outputs(str(path), {"also": (str(run.root / "data" / "train.npz"), 3)})
    return compute


def test_output_paths_finds_absolute_paths_in_the_run_folder_only(tmp_path):
    run = RunDir(tmp_path / "run")
    inside = run.root / "generated" / "class-0001.npz"
    value = (Outputs(str(inside), {"list": [run.root / "shards" / "a.parquet", None, 1.5], "root": str(run.root)}),
             {"outside": str(tmp_path / "elsewhere.npz"), "relative": "generated/class-0001.npz"},
             [str(run.root / "x" / ".." / "metrics.json")])
    assert output_paths(value, run.root) == [inside, run.root / "shards" / "a.parquet", run.root / "metrics.json"]
    assert output_paths("rare", run.root) == [] and output_paths(np.zeros(3), run.root) == []


def test_call_fresh_runs_a_stage_again_only_when_its_outputs_are_gone(tmp_path):
    run = RunDir(tmp_path / "run")
    stage = FakeStage(_writer(run))
    first = call_fresh(stage, run, "a")
    assert call_fresh(stage, run, "a") is first  # a cache hit whose files are there: used as it is
    assert stage.calls == [(False, ("a",))] * 2 and missing_outputs(first, run) == []
    Path(first.path).unlink()  # the run folder lost a file; its .cache/ record remains
    again = call_fresh(stage, run, "a")
    assert stage.calls[2:] == [(False, ("a",)), (True, ("a",))]
    assert Path(again.path).is_file() and missing_outputs(again, run) == []
    assert call_fresh(stage, run, "a") is again and len(stage.calls) == 5  # the refreshed record serves next


def test_call_fresh_tries_once_more_at_most(tmp_path):
    run = RunDir(tmp_path / "run")
    gone = Outputs(str(run.root / "never-written.npz"), {})
    stage = FakeStage(lambda: gone)
    assert call_fresh(stage, run) is gone and [refresh for refresh, _ in stage.calls] == [False, True]


def test_map_fresh_runs_again_only_the_elements_whose_outputs_are_gone(tmp_path):
    run = RunDir(tmp_path / "run")
    stage = FakeStage(_writer(run))
    first = map_fresh(stage, run, ["a", "b", "c"], unmapped("-v1"))
    assert [refresh for refresh, _ in stage.calls] == [False] * 3
    Path(first[1].path).unlink()
    results = map_fresh(stage, run, ["a", "b", "c"], unmapped("-v1"))
    assert stage.calls[3:] == [(False, ("a", "-v1")), (False, ("b", "-v1")), (False, ("c", "-v1")),
                               (True, ("b", "-v1"))]
    assert results[0] is first[0] and results[2] is first[2] and Path(results[1].path).is_file()
