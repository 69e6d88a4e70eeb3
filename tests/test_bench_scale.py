"""bench/scale.py, the per-stage cost against rows: it runs end to end at tiny sizes (a subprocess, as
someone runs it), writes its JSON as it goes, and its exponents flag what grows faster than linearly."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCALE = Path(__file__).resolve().parents[1] / "bench" / "scale.py"
_SPEC = importlib.util.spec_from_file_location("bench_scale", SCALE)
scale = importlib.util.module_from_spec(_SPEC)
sys.path.insert(0, str(SCALE.parent))  # its sibling bench/memory.py, as when it runs as a script
try:
    _SPEC.loader.exec_module(scale)
finally:
    sys.path.remove(str(SCALE.parent))


def test_smoke_prints_the_table_with_exponents_and_writes_the_json(tmp_path):
    out = tmp_path / "scale.json"
    command = [sys.executable, str(SCALE), "--smoke", "--stages", "load", "split", "features", "--out", str(out),
               "--cache", str(tmp_path / "cache")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=SCALE.parents[1])
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "command: " in text and "hardware: " in text and "exponent (CPU)" in text
    assert "| load | per row | " in text and "| features | fixed steps" in text
    assert "projection (not measured)" in text
    stored = json.loads(out.read_text())
    assert set(stored["runs"]) == {"16px-l-400", "16px-l-800"}
    for run in stored["runs"].values():
        assert set(run["stages"]) == {"load", "split", "features"}
        assert all(m["seconds"] > 0 and m["cpu_s"] > 0 and m["peak_mb"] > 0 for m in run["stages"].values())
    assert stored["runs"]["16px-l-800"]["stages"]["load"]["rows"] == 800
    # A rerun with the same settings reuses what is stored: no process is started, nothing is measured.
    again = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=SCALE.parents[1])
    assert again.returncode == 0 and "measuring" not in again.stderr
    assert json.loads(out.read_text())["runs"] == stored["runs"]


def test_exponent_is_the_log_log_slope():
    assert scale.exponent([10, 100], [1.0, 10.0]) == pytest.approx(1.0)
    assert scale.exponent([10, 100, 1000], [5.0, 5.0, 5.0]) == pytest.approx(0.0)
    assert scale.exponent([10, 100], [1.0, 100.0]) == pytest.approx(2.0)
    assert scale.exponent([10], [1.0]) is None


def test_a_stage_over_the_flag_exponent_is_named_with_its_reason():
    def run(n, accept_s):
        return {"px": 8, "rgb": False, "rows": n, "stages": {
            "load": {"seconds": n / 1000, "cpu_s": n / 1000, "peak_mb": 100.0},
            "accept": {"seconds": accept_s, "cpu_s": accept_s, "peak_mb": 100.0}}}

    store = {"runs": {"8px-l-1000": run(1000, 1.0), "8px-l-10000": run(10000, 100.0)}}
    lines = scale.table(store, 8, False, [1000, 10000], ["load", "accept"])
    assert any(line.startswith("| load |") and "| 1.00 | 1.00 | 0.00 |" in line for line in lines)
    assert any(line.startswith("| accept |") and "2.00 ⚑" in line for line in lines)
    flags = [line for line in lines if line.startswith("⚑")]
    assert len(flags) == 1 and flags[0].startswith("⚑ accept") and "prdc.py" in flags[0] and "kid.py" in flags[0]


def test_memory_at_an_unmeasured_size_is_a_labelled_line_through_the_measured_peaks():
    done = [(1000, {"stages": {"load": {"peak_mb": 100.0}}}), (2000, {"stages": {"load": {"peak_mb": 200.0}}})]
    line, = scale.memory_outlook(done, ["load"], 10_000)
    assert "not measured" in line and "load 1.0" in line and "does NOT fit" not in line  # 1,000 MB
    huge = [(1, {"stages": {"load": {"peak_mb": 1.0}}}), (2, {"stages": {"load": {"peak_mb": 2**20}}})]
    assert "does NOT fit" in scale.memory_outlook(huge, ["load"], 10)[0]
    assert scale.memory_outlook(done, ["load"], 2000) == []  # measured: nothing to extrapolate
