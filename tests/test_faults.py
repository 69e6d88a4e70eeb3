"""Fault injection: real kill -9 of real processes, a really full disk, corrupt checkpoints.

Each test reads its images from one on-disk source (scikit-learn's digits written as a PNG folder,
read-only), and an autouse fixture proves that source is byte-identical after every test. The goal
of each test is the same: after the fault, nothing is lost and nothing half-written is visible.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from gan_aug.checkpoint import CheckpointError, load_checkpoint, load_sampler
from gan_aug.config import DataConfig, GANConfig, ShardConfig
from gan_aug.data.builtin import digits
from gan_aug.data.imageset import ImageSet
from gan_aug.data.load import load_source
from gan_aug.io import DiskFullError, read_json, sha256_file
from gan_aug.mix import real_only
from gan_aug.shards import verify_shards, write_shards
from gan_aug.train import train_gan

REPO = Path(__file__).resolve().parents[1]
# Small settings that train in seconds; eval off so nothing but the loop and its checkpoints run.
GAN = dict(z_dim=16, base_channels=16, batch_size=32, eval_every=0)
TILE = 33  # the digits repeated: 59,301 rows, 30 shards of 2,000, several seconds to write
ROWS_PER_SHARD = 2000

# One script for the processes the tests kill: train a GAN, or write shards, from the on-disk source.
JOB = r'''
import json, logging, sys
import numpy as np
import torch
torch.set_num_threads(1)
from gan_aug.config import DataConfig, GANConfig, ShardConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.data.load import load_source

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
mode, source, target = sys.argv[1:4]
data = load_source(DataConfig(source=source, cache=False)).data
if mode == "train":
    from gan_aug.train import train_gan
    result = train_gan(data, GANConfig(**json.loads(sys.argv[4])), target, config_hash="faults")
    print(json.dumps({"steps": result.steps, "resumed_from": result.resumed_from}))
else:
    from gan_aug.mix import real_only
    from gan_aug.shards import write_shards
    stop_after = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    if stop_after:  # freeze (SIGSTOP) right after the n-th folder swap of the commit, for the test to kill
        import os, signal
        import gan_aug.shards.staging as staging
        swap, swapped = staging._swap_in, []
        def stop_after_swap(staged, final):
            swap(staged, final)
            swapped.append(final)
            if len(swapped) == stop_after:
                os.kill(os.getpid(), signal.SIGSTOP)
        staging._swap_in = stop_after_swap
    tile = int(sys.argv[4])
    big = ImageSet(np.concatenate([data.images] * tile), np.concatenate([data.labels] * tile), data.class_names)
    manifest = write_shards(target, real_only(big),
                            ShardConfig(rows_per_shard=int(sys.argv[5]), workers=1, image_folder=True))
    print(json.dumps({"shards": len(manifest["shards"])}))
'''


# --------------------------------------------------------------------------- the source on disk

@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """Digits as root/<class>/<i>.png, made read-only: every test below reads its images from here."""
    from PIL import Image

    root = tmp_path_factory.mktemp("source") / "digits"
    data = digits()
    for i, (image, label) in enumerate(zip(data.images, data.labels)):
        folder = root / data.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0]).save(folder / f"{i:04d}.png")
    for path in sorted(root.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)
    return root


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``root``: file → (sha256, mode), folder → ("dir", mode)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        entries[path.relative_to(root).as_posix()] = (sha256_file(path) if path.is_file() else "dir", mode)
    return entries


@pytest.fixture(autouse=True)
def source_untouched(source):
    """The source is byte-identical (same files, same bytes, same modes) before and after each test."""
    before = _snapshot(source)
    assert len([k for k, v in before.items() if v[0] != "dir"]) == 1797
    yield
    assert _snapshot(source) == before, "a fault test changed its source data"


@pytest.fixture
def source_set(source) -> ImageSet:
    return load_source(DataConfig(source=str(source), cache=False)).data


@pytest.fixture
def one_thread():
    """Train in-process on one thread: two OpenMP threads on a busy 2-core machine crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- helpers

def _job(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(JOB, encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    """The job in the background, its output in a file (a full pipe would stall it)."""
    log = tmp_path / "killed.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, str(_job(tmp_path)), *map(str, args)], cwd=tmp_path, env=_env(),
                                stdout=sink, stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def _finish(tmp_path: Path, *args: str, timeout: float = 240) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, str(_job(tmp_path)), *map(str, args)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _wait_for(proc: subprocess.Popen, condition, what: str, timeout: float, every: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (rc {proc.returncode}) before {what}: "
                                 f"{proc.log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def _kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def _kill9_mid_write(proc: subprocess.Popen, folder: Path, prefix: str, timeout: float) -> bool:
    """SIGKILL ``proc`` while a temp file named ``prefix``… exists in ``folder``, i.e. mid-write.

    Freezes the process (SIGSTOP), looks, and kills it if the write is under way, else lets it run
    (SIGCONT) a random moment and looks again: a frozen process cannot finish the write between the
    look and the kill. Returns whether it caught one before ``timeout`` (else it kills anyway)."""
    rng, deadline = np.random.default_rng(0), time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        os.kill(proc.pid, signal.SIGSTOP)
        os.waitpid(proc.pid, os.WUNTRACED)  # returns once it is stopped (a stopped child is not reaped)
        if any(name.startswith(prefix) and name.endswith(".tmp") for name in os.listdir(folder)):
            _kill9(proc)
            return True
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(float(rng.uniform(0.0, 0.004)))
    _kill9(proc)
    return False


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _visible(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))


# --------------------------------------------------------------------------- 1. kill -9 during training

@pytest.mark.slow
def test_kill_9_mid_checkpoint_save_then_rerun_resumes_from_the_checkpoint(tmp_path, source):
    """Training is killed while it writes a checkpoint; the checkpoint on disk is the previous whole
    one, and a rerun resumes from exactly that step, finishes, and leaves no partial copy behind."""
    steps, every = 500, 10  # killed after step 100; a save is usually caught within a second
    cfg = json.dumps({**GAN, "steps": steps, "checkpoint_every": every})
    ckpt = tmp_path / "ckpt" / "gan.pt"
    proc = _start(tmp_path, "train", source, ckpt, cfg)

    def trained_a_while() -> bool:
        return ckpt.is_file() and load_checkpoint(ckpt)["step"] >= 100

    _wait_for(proc, trained_a_while, "a checkpoint of step >= 100", timeout=180, every=0.1)
    mid_save = _kill9_mid_write(proc, ckpt.parent, f".{ckpt.name}.", timeout=30)
    assert mid_save, "could not catch the trainer mid-save within 30 s"
    assert _temps(ckpt.parent), "killed mid-save: its partial temp file should still be there"

    state = load_checkpoint(ckpt)  # the visible checkpoint is whole: the partial one is only a temp file
    killed_at = int(state["step"])
    assert 100 <= killed_at < steps and killed_at % every == 0
    assert [r["step"] for r in state["history"]] == list(range(50, killed_at + 1, 50))

    result, log = _finish(tmp_path, "train", source, ckpt, cfg)
    assert result == {"steps": steps, "resumed_from": killed_at}, log[-2000:]
    final = load_checkpoint(ckpt)
    assert final["step"] == steps and [r["step"] for r in final["history"]] == list(range(50, steps + 1, 50))
    assert _temps(ckpt.parent) == []  # the killed save's partial copy was cleaned up, nothing leaked
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
    env = {**_env(), "PREFECT_HOME": home}
    env.pop("PREFECT_API_URL", None)  # the command starts its own server, as a user's would
    command = [str(Path(sys.executable).parent / "gan-aug"), "run", str(config_path), "--out", str(out)]
    with open(tmp_path / "killed.log", "wb") as sink:
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, start_new_session=True, stdout=sink,
                                stderr=subprocess.STDOUT)
    proc.log = tmp_path / "killed.log"
    ckpt = out / "checkpoints" / "gan.pt"
    try:
        _wait_for(proc, lambda: ckpt.is_file() and load_checkpoint(ckpt)["step"] >= 60, "a step-60 checkpoint",
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
    assert _temps(ckpt.parent) == [] and verify_shards(out).ok

    # The command names a corrupt checkpoint in one line and exits 1, leaving the file for the user.
    ckpt.write_bytes(b"not a checkpoint")
    broken = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert broken.returncode == 1, broken.stdout[-3000:] + broken.stderr[-3000:]
    start = re.search(r"^error:", broken.stderr, re.MULTILINE).start()
    message = broken.stderr[start:start + 600].replace("\n", "")  # rich wraps long paths
    assert "gan.pt" in message and "delete it" in message
    assert ckpt.read_bytes() == b"not a checkpoint"


# --------------------------------------------------------------------------- 2. kill -9 during shard writing

class _Watcher(threading.Thread):
    """Polls a run folder every few ms and records anything a reader could see that is not whole.

    ``strict``: the writer never finishes (it is killed), so nothing may ever be visible. Otherwise a
    visible shard must be a complete Parquet file (readable footer) and a visible manifest must
    parse and list files that exist with its sha256."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.strict, self.violations = run_dir, True, []
        self.looks, self.stopping, self.checked = 0, threading.Event(), set()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.look()
            time.sleep(0.003)

    def look(self) -> None:
        self.looks += 1
        try:
            names = os.listdir(self.run_dir)
        except FileNotFoundError:
            return
        visible = [n for n in names if not n.startswith(".")]
        if self.strict and visible:
            self.violations.append(f"visible while the writer had not finished: {visible}")
            return
        shards = self.run_dir / "shards"
        for shard in (shards.glob("*.parquet") if shards.is_dir() else []):
            try:
                pq.read_metadata(shard)
            except FileNotFoundError:
                continue
            except Exception as error:  # noqa: BLE001 - any unreadable footer is a violation
                self.violations.append(f"incomplete shard visible: {shard.name} ({error})")
        manifest = self.run_dir / "manifest.json"
        try:
            info = manifest.stat()
            text = manifest.read_text()
        except FileNotFoundError:
            return
        if (info.st_ino, info.st_mtime_ns) in self.checked:
            return
        try:
            entries = json.loads(text)["shards"]
        except (ValueError, KeyError) as error:
            self.violations.append(f"half-written manifest visible ({error})")
            return
        for entry in entries:
            path = self.run_dir / entry["file"]
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                self.violations.append(f"manifest lists {entry['file']}, which is missing or has another sha256")
        self.checked.add((info.st_ino, info.st_mtime_ns))

    def stop(self) -> list[str]:
        self.stopping.set()
        self.join(timeout=30)
        return self.violations


@pytest.mark.slow
def test_kill_9_mid_shard_write_then_rerun_resumes_and_matches_an_uninterrupted_write(tmp_path, source,
                                                                                        source_set):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    watcher = _Watcher(run_dir)
    watcher.start()
    proc = _start(tmp_path, "shards", source, run_dir, TILE, ROWS_PER_SHARD)

    def done_records() -> list[Path]:
        return sorted(run_dir.glob(".staging-*/done/*.parquet.json"))

    _wait_for(proc, lambda: len(done_records()) >= 5, "five finished shards", timeout=120, every=0.005)
    staging = next(run_dir.glob(".staging-*"))
    assert _kill9_mid_write(proc, staging / "shards", ".", timeout=30), "could not catch a shard mid-write"
    assert _visible(run_dir) == [], "a killed writer left output where readers look"
    assert list(staging.glob("shards/.*.tmp")), "killed while a shard was being written (its temp file is there)"
    watcher.look()
    assert watcher.violations == []

    # What the killed writer finished: these shard files must be reused, not written again.
    finished = {}
    for record in done_records():
        shard = staging / "shards" / record.name.removesuffix(".json")
        info = shard.stat()
        finished[shard.name] = (info.st_ino, info.st_mtime_ns, sha256_file(shard))
    assert 5 <= len(finished) < 30

    watcher.strict = False  # from here the writer may finish, so whole shards may appear (then the manifest)
    result, log = _finish(tmp_path, "shards", source, run_dir, TILE, ROWS_PER_SHARD)
    violations = watcher.stop()
    assert violations == [] and watcher.looks > 100, violations[:5]
    assert result == {"shards": 30}
    assert f"resuming: {len(finished)} of 30 shards were finished by an earlier attempt" in log
    for name, (inode, mtime, digest) in finished.items():
        info = (run_dir / "shards" / name).stat()
        assert (info.st_ino, info.st_mtime_ns) == (inode, mtime), f"{name} was written again, not reused"
        assert sha256_file(run_dir / "shards" / name) == digest

    manifest = read_json(run_dir / "manifest.json")
    verification = verify_shards(run_dir)
    assert verification.ok, verification.problems[:5]
    assert (verification.shards, verification.rows, verification.images) == (30, 1797 * TILE, 1797 * TILE)
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []  # no staging or temp left

    big = ImageSet(np.concatenate([source_set.images] * TILE), np.concatenate([source_set.labels] * TILE),
                   source_set.class_names)
    uninterrupted = write_shards(tmp_path / "clean", real_only(big),
                                 ShardConfig(rows_per_shard=ROWS_PER_SHARD, workers=1, image_folder=True))
    assert manifest == uninterrupted
    assert (run_dir / "images" / "SHA256SUMS").read_bytes() == (tmp_path / "clean/images/SHA256SUMS").read_bytes()


def _wait_stopped(proc: subprocess.Popen, timeout: float) -> None:
    """Wait until ``proc`` has stopped itself (SIGSTOP); fail with its log if it ends or hangs instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG)
        if pid and os.WIFSTOPPED(status):
            return
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise AssertionError(f"the writer ended (rc {proc.returncode}) before the swap: "
                                 f"{proc.log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the writer never reached the swap")


SWAP_TILE, SWAP_ROWS = 5, 2000  # 8,985 rows in 5 shards, with an image folder


@pytest.mark.slow
@pytest.mark.parametrize("swaps", [1, 2], ids=["between-the-two-swaps", "after-both-before-the-manifest"])
def test_kill_9_during_the_final_swap_then_rerun_reuses_every_shard(tmp_path, source, source_set, swaps):
    """The writer freezes itself right after moving shards/ (or images/ too) into place and is killed
    there; the rerun takes the swapped folders back, writes no shard again and ends with the manifest
    an uninterrupted write gives."""
    run_dir = tmp_path / "run"
    proc = _start(tmp_path, "shards", source, run_dir, SWAP_TILE, SWAP_ROWS, swaps)
    _wait_stopped(proc, timeout=180)
    staging = next(run_dir.glob(".staging-*"))
    assert not (run_dir / "manifest.json").exists() and not (staging / "shards").exists()
    assert (staging / "images").is_dir() == (swaps == 1) and (run_dir / "images").is_dir() == (swaps == 2)
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (run_dir / "shards").glob("*.parquet")}
    assert len(stamps) == 5
    _kill9(proc)

    result, log = _finish(tmp_path, "shards", source, run_dir, SWAP_TILE, SWAP_ROWS)
    assert result == {"shards": 5} and "resuming: 5 of 5 shards were finished by an earlier attempt" in log
    for name, stamp in stamps.items():
        info = (run_dir / "shards" / name).stat()
        assert (info.st_ino, info.st_mtime_ns) == stamp, f"{name} was written again, not reused"
    verification = verify_shards(run_dir)
    assert verification.ok, verification.problems[:5]
    assert (verification.shards, verification.images) == (5, 1797 * SWAP_TILE)
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []
    big = ImageSet(np.concatenate([source_set.images] * SWAP_TILE),
                   np.concatenate([source_set.labels] * SWAP_TILE), source_set.class_names)
    uninterrupted = write_shards(tmp_path / "clean", real_only(big),
                                 ShardConfig(rows_per_shard=SWAP_ROWS, workers=1, image_folder=True))
    assert read_json(run_dir / "manifest.json") == uninterrupted


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


# --------------------------------------------------------------------------- 4. a full disk

@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kib)``: a real tmpfs of that size, unmounted at the end (needs root and mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = []

    def mount(kib: int, name: str = "disk") -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _resize(point: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(point)], check=True)


def _used(point: Path) -> int:
    return shutil.disk_usage(point).used


def test_a_full_disk_while_writing_shards_is_named_and_leaves_nothing(small_disk, source_set):
    disk = small_disk(1024)  # the digits with their image folder need about 8 MB
    run_dir = disk / "run"
    with pytest.raises(DiskFullError) as caught:
        write_shards(run_dir, real_only(source_set), ShardConfig(rows_per_shard=500, workers=1))
    error = caught.value
    message = str(error)
    assert isinstance(error, OSError) and error.errno == 28 and isinstance(error, ValueError)
    assert str(run_dir) in message and "disk is full" in message and "free some space" in message, message
    assert "needs about" in message and "free on the disk holding it" in message
    total = shutil.disk_usage(disk).total
    assert error.needed > total and error.free > 0.9 * total  # the partial staging was removed: space is back
    assert "no output was completed" in message
    assert list(run_dir.iterdir()) == []  # no manifest, shards/, images/ or .staging-*
    assert _used(disk) < 64 * 1024

    _resize(disk, 16 * 1024)  # free space and rerun: the same call now succeeds
    manifest = write_shards(run_dir, real_only(source_set), ShardConfig(rows_per_shard=500, workers=1))
    assert verify_shards(run_dir).ok and manifest["splits"]["train"]["rows"] == 1797


def test_a_full_disk_during_a_rewrite_keeps_the_previous_output_whole(small_disk, source_set):
    disk = small_disk(2048)
    run_dir = disk / "run"
    small = source_set.subset(np.arange(0, 1797, 8))  # 225 rows: fits
    before = write_shards(run_dir, real_only(small), ShardConfig(rows_per_shard=100, workers=1))
    files = {p.relative_to(run_dir).as_posix(): sha256_file(p) for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(DiskFullError, match="the previous output there is unchanged") as caught:
        write_shards(run_dir, real_only(source_set), ShardConfig(rows_per_shard=100, workers=1))
    assert str(run_dir) in str(caught.value)
    assert read_json(run_dir / "manifest.json") == before
    assert {p.relative_to(run_dir).as_posix(): sha256_file(p) for p in run_dir.rglob("*") if p.is_file()} == files
    assert verify_shards(run_dir).ok
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


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
    assert _temps(disk) == []  # the failed save's temp file was removed: no partial file, space freed
    kept, step10 = load_checkpoint(path), load_checkpoint(probe.checkpoint)
    assert kept["step"] == 10  # the step-10 checkpoint, whole: the same weights as a 10-step run
    for key, value in step10["generator"].items():
        torch.testing.assert_close(kept["generator"][key], value)

    _resize(disk, 4 * size // 1024)  # free space: the rerun loses nothing, it resumes at step 10
    result = train_gan(source_set, cfg, path, config_hash="faults")
    assert (result.resumed_from, result.steps) == (10, 40)
    straight = train_gan(source_set, cfg, tmp_path / "straight.pt", config_hash="faults")
    resumed, reference = load_checkpoint(path), load_checkpoint(straight.checkpoint)
    for key, value in reference["generator"].items():
        torch.testing.assert_close(resumed["generator"][key], value)  # as if the disk had never filled


def test_atomic_write_on_a_full_disk_leaves_no_temp_file_and_names_the_file(small_disk):
    from gan_aug.io import atomic_write_bytes

    disk = small_disk(256)
    (disk / "keep.bin").write_bytes(b"old content")
    with pytest.raises(DiskFullError, match=r"keep\.bin: the disk is full .*needs about 1\.0 MB.*keep\.bin is unchanged"):
        atomic_write_bytes(disk / "keep.bin", b"x" * 2**20)
    assert sorted(p.name for p in disk.iterdir()) == ["keep.bin"]
    assert (disk / "keep.bin").read_bytes() == b"old content"


def test_the_source_fixture_catches_a_change(tmp_path, source):
    """The byte-identity check is not vacuous: changing one byte of a copy changes the snapshot."""
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    before = _snapshot(copy)
    victim = next(copy.rglob("*.png"))
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    victim.chmod(0o444)
    assert _snapshot(copy) != before
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == _snapshot(copy)[victim.relative_to(copy).as_posix()][0]
