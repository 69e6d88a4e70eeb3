"""Fault injection in training: kill -9 of the trainer mid-save and of the whole `gan-aug run`
command, corrupt and foreign checkpoints, a disk that fills while a checkpoint is saved.

Each test reads its images from one on-disk source (fault_helpers: scikit-learn's digits as a
read-only PNG folder), and an autouse fixture proves that source is byte-identical after every test.
After the fault, nothing is lost and nothing half-written is visible.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

# The fixtures are used by name (source_untouched runs for every test here).
from fault_helpers import (  # noqa: F401
    GAN,
    finish_job,
    job_env,
    kill9_mid_write,
    one_thread,
    resize_disk,
    small_disk,
    source,
    source_set,
    source_untouched,
    start_job,
    temp_files,
    wait_for,
)
from gan_aug.checkpoint import CheckpointError, load_checkpoint, load_sampler
from gan_aug.config import GANConfig
from gan_aug.io import DiskFullError, read_json
from gan_aug.shards import verify_shards
from gan_aug.train import train_gan

# --------------------------------------------------------------------------- 1. kill -9 during training

@pytest.mark.slow
def test_kill_9_mid_checkpoint_save_then_rerun_resumes_from_the_checkpoint(tmp_path, source):
    """Training is killed while it writes a checkpoint; the checkpoint on disk is the previous whole
    one, and a rerun resumes from exactly that step, finishes, and leaves no partial copy behind."""
    steps, every = 500, 10  # killed after step 100; a save is usually caught within a second
    cfg = json.dumps({**GAN, "steps": steps, "checkpoint_every": every})
    ckpt = tmp_path / "ckpt" / "gan.pt"
    proc = start_job(tmp_path, "train", source, ckpt, cfg)

    def trained_a_while() -> bool:
        return ckpt.is_file() and load_checkpoint(ckpt)["step"] >= 100

    wait_for(proc, trained_a_while, "a checkpoint of step >= 100", timeout=180, every=0.1)
    mid_save = kill9_mid_write(proc, ckpt.parent, f".{ckpt.name}.", timeout=30)
    assert mid_save, "could not catch the trainer mid-save within 30 s"
    assert temp_files(ckpt.parent), "killed mid-save: its partial temp file should still be there"

    state = load_checkpoint(ckpt)  # the visible checkpoint is whole: the partial one is only a temp file
    killed_at = int(state["step"])
    assert 100 <= killed_at < steps and killed_at % every == 0
    assert [r["step"] for r in state["history"]] == list(range(50, killed_at + 1, 50))

    result, log = finish_job(tmp_path, "train", source, ckpt, cfg)
    assert result == {"steps": steps, "resumed_from": killed_at}, log[-2000:]
    final = load_checkpoint(ckpt)
    assert final["step"] == steps and [r["step"] for r in final["history"]] == list(range(50, steps + 1, 50))
    assert temp_files(ckpt.parent) == []  # the killed save's partial copy was cleaned up, nothing leaked
    load_sampler(ckpt)  # usable for generation


def _processes_with_env(marker: str) -> list[int]:
    """Our own processes: those whose environment holds ``marker`` (a PREFECT_HOME made for this test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_kill_9_of_gan_aug_run_during_training_then_rerun_resumes(tmp_path, source):
    """The whole command (flow, embedded Prefect server and all) is killed mid-training; running it
    again resumes the GAN from the checkpoint and completes the run."""
    yaml = pytest.importorskip("yaml")
    steps = 200
    config = {"name": "kill", "data": {"source": str(source), "cache": False, "long_tail": {}},
              "gan": {"steps": steps, "checkpoint_every": 20},
              "filter": {"feature_steps": 100, "filters": ["label", "memorisation"], "label_threshold": 0.0},
              "mix": {"policy": "fixed", "dose": 2.0, "min_agreement": 0.0},
              "evaluate": {"steps": 50, "batch_size": 64, "seeds": 1, "methods": ["plain", "gan"]}}
    config_path, out = tmp_path / "kill.yaml", tmp_path / "out"
    config_path.write_text(yaml.safe_dump(config))
    home = str(tmp_path / "prefect-home")
    env = {**job_env(), "PREFECT_HOME": home}
    env.pop("PREFECT_API_URL", None)  # the command starts its own server, as a user's would
    command = [str(Path(sys.executable).parent / "gan-aug"), "run", str(config_path), "--out", str(out)]
    with open(tmp_path / "killed.log", "wb") as sink:
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, start_new_session=True, stdout=sink,
                                stderr=subprocess.STDOUT)
    proc.log = tmp_path / "killed.log"
    ckpt = out / "checkpoints" / "gan.pt"
    try:
        wait_for(proc, lambda: ckpt.is_file() and load_checkpoint(ckpt)["step"] >= 60, "a step-60 checkpoint",
                  timeout=240, every=0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the command and its Prefect server: one process group
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _processes_with_env(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with_env(home) == []
    killed_at = load_checkpoint(ckpt)["step"]  # whole, right after the kill
    assert 60 <= killed_at < steps
    assert not (out / "metrics.json").exists() and not (out / "manifest.json").exists()

    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shared = read_json(out / "metrics.json")["training"]["runs"]["shared"]
    assert (shared["resumed_from"], shared["steps"]) == (killed_at, steps)
    assert temp_files(ckpt.parent) == [] and verify_shards(out).ok

    # The command names a corrupt checkpoint in one line and exits 1, leaving the file for the user.
    ckpt.write_bytes(b"not a checkpoint")
    broken = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert broken.returncode == 1, broken.stdout[-3000:] + broken.stderr[-3000:]
    start = re.search(r"^error:", broken.stderr, re.MULTILINE).start()
    message = broken.stderr[start:start + 600].replace("\n", "")  # rich wraps long paths
    assert "gan.pt" in message and "delete it" in message
    assert ckpt.read_bytes() == b"not a checkpoint"


# --------------------------------------------------------------------------- 3. corrupt or foreign checkpoints

@pytest.fixture
def checkpoint(tmp_path, source_set, one_thread) -> Path:
    """A real 20-step checkpoint of the source."""
    path = tmp_path / "good" / "gan.pt"
    train_gan(source_set, GANConfig(**{**GAN, "steps": 20, "checkpoint_every": 10}), path, config_hash="faults")
    return path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "flipped-bytes"])
def test_a_corrupt_checkpoint_is_named_with_what_to_do(tmp_path, source_set, checkpoint, one_thread, damage):
    data = checkpoint.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "garbage": np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes(),
        "empty": b"",
        # the same size, the zip structure intact except the central directory's tail: torch must notice
        "flipped-bytes": data[:-64] + bytes(b ^ 0xFF for b in data[-64:]),
    }[damage]
    path = tmp_path / "broken" / "gan.pt"
    path.parent.mkdir()
    path.write_bytes(damaged)
    cfg = GANConfig(**{**GAN, "steps": 30, "checkpoint_every": 10})
    with pytest.raises(CheckpointError) as caught:
        train_gan(source_set, cfg, path, config_hash="faults")
    message = str(caught.value)
    assert message.startswith(str(path)) and "corrupt" in message and "delete it" in message, message
    with pytest.raises(CheckpointError, match="delete it"):
        load_sampler(path)
    assert path.read_bytes() == damaged  # refused, not overwritten: the user decides what to delete
    path.unlink()  # doing what the message says works
    assert train_gan(source_set, cfg, path, config_hash="faults").steps == 30


def test_a_checkpoint_of_other_settings_is_refused_and_kept(tmp_path, source_set, checkpoint, one_thread):
    before = checkpoint.read_bytes()
    other_hash = GANConfig(**{**GAN, "steps": 30, "checkpoint_every": 10})
    with pytest.raises(CheckpointError) as caught:
        train_gan(source_set, other_hash, checkpoint, config_hash="another-config")
    assert str(caught.value).startswith(str(checkpoint))
    assert "other data or GAN settings" in str(caught.value) and "delete the checkpoint" in str(caught.value)
    wider = GANConfig(**{**GAN, "base_channels": 24, "steps": 30, "checkpoint_every": 10})
    with pytest.raises(CheckpointError, match="other data or GAN settings"):
        train_gan(source_set, wider, checkpoint, config_hash="faults")  # same hash, other architecture
    assert checkpoint.read_bytes() == before


# --------------------------------------------------------------------------- a full disk

def test_a_full_disk_while_saving_a_checkpoint_keeps_the_last_one(tmp_path, small_disk, source_set, one_thread):
    cfg = GANConfig(**{**GAN, "steps": 40, "checkpoint_every": 10})
    probe = train_gan(source_set, cfg.model_copy(update={"steps": 10}), tmp_path / "probe.pt", config_hash="faults")
    size = probe.checkpoint.stat().st_size
    disk = small_disk(int(size * 1.5) // 1024)  # room for one checkpoint, not for the next beside it
    path = disk / "gan.pt"
    with pytest.raises(DiskFullError) as caught:
        train_gan(source_set, cfg, path, config_hash="faults")
    message = str(caught.value)
    assert message.startswith(f"[Errno 28] {path}: the disk is full (saving the step-20 checkpoint"), message
    assert "the step-10 checkpoint there is intact and a rerun resumes from it" in message
    assert re.search(r"needs about [\d.]+ (MB|kB), [\d.]+ (MB|kB) free", message), message
    assert temp_files(disk) == []  # the failed save's temp file was removed: no partial file, space freed
    kept, step10 = load_checkpoint(path), load_checkpoint(probe.checkpoint)
    assert kept["step"] == 10  # the step-10 checkpoint, whole: the same weights as a 10-step run
    for key, value in step10["generator"].items():
        torch.testing.assert_close(kept["generator"][key], value)

    resize_disk(disk, 4 * size // 1024)  # free space: the rerun loses nothing, it resumes at step 10
    result = train_gan(source_set, cfg, path, config_hash="faults")
    assert (result.resumed_from, result.steps) == (10, 40)
    straight = train_gan(source_set, cfg, tmp_path / "straight.pt", config_hash="faults")
    resumed, reference = load_checkpoint(path), load_checkpoint(straight.checkpoint)
    for key, value in reference["generator"].items():
        torch.testing.assert_close(resumed["generator"][key], value)  # as if the disk had never filled
