"""Cache keys hash exactly what a task is given: its config sections, its records, and its files' bytes."""
from __future__ import annotations

import pytest

from flows.caching import _canonical
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
    import numpy as np

    with pytest.raises(TypeError, match="pass paths and small values"):
        _canonical({"images": np.zeros(3)})
