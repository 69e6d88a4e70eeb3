"""Shared parts of the fault tests (tests/test_faults_*.py): the read-only on-disk source every test
reads, the job script the tests kill, a real small tmpfs, and the helpers that freeze and kill.

The test modules import the fixtures from here (``from fault_helpers import ...``), as
report_fixtures.py serves the report tests.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_aug.config import DataConfig
from gan_aug.data.builtin import digits
from gan_aug.data.imageset import ImageSet
from gan_aug.data.load import load_source
from gan_aug.hashing import file_sha256

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


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``root``: file → (sha256, mode), folder → ("dir", mode)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        entries[path.relative_to(root).as_posix()] = (file_sha256(path) if path.is_file() else "dir", mode)
    return entries


@pytest.fixture(autouse=True)
def source_untouched(source):
    """The source is byte-identical (same files, same bytes, same modes) before and after each test."""
    before = snapshot(source)
    assert len([k for k, v in before.items() if v[0] != "dir"]) == 1797
    yield
    assert snapshot(source) == before, "a fault test changed its source data"


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

def job_script(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(JOB, encoding="utf-8")
    return path


def job_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def start_job(tmp_path: Path, *args: str) -> subprocess.Popen:
    """The job in the background, its output in a file (a full pipe would stall it)."""
    log = tmp_path / "killed.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, str(job_script(tmp_path)), *map(str, args)], cwd=tmp_path,
                                env=job_env(), stdout=sink, stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def finish_job(tmp_path: Path, *args: str, timeout: float = 240) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, str(job_script(tmp_path)), *map(str, args)], cwd=tmp_path, env=job_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def wait_for(proc: subprocess.Popen, condition, what: str, timeout: float, every: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (rc {proc.returncode}) before {what}: "
                                 f"{proc.log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def kill9_mid_write(proc: subprocess.Popen, folder: Path, prefix: str, timeout: float) -> bool:
    """SIGKILL ``proc`` while a temp file named ``prefix``… exists in ``folder``, i.e. mid-write.

    Freezes the process (SIGSTOP), looks, and kills it if the write is under way, else lets it run
    (SIGCONT) a random moment and looks again: a frozen process cannot finish the write between the
    look and the kill. Returns whether it caught one before ``timeout`` (else it kills anyway)."""
    rng, deadline = np.random.default_rng(0), time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        os.kill(proc.pid, signal.SIGSTOP)
        os.waitpid(proc.pid, os.WUNTRACED)  # returns once it is stopped (a stopped child is not reaped)
        if any(name.startswith(prefix) and name.endswith(".tmp") for name in os.listdir(folder)):
            kill9(proc)
            return True
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(float(rng.uniform(0.0, 0.004)))
    kill9(proc)
    return False


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def visible_entries(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))


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


def resize_disk(point: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(point)], check=True)


def disk_used(point: Path) -> int:
    return shutil.disk_usage(point).used


def worker_pid(_job: int, *shared) -> int:
    """A worker job that says which process ran it (``shared``: what run_all passes every job)."""
    return os.getpid()


def die_on_two(job: int) -> int:
    """A worker job that kills its own process on job 2, after the jobs before it have finished."""
    if job == 2:
        time.sleep(1.5)
        os.kill(os.getpid(), signal.SIGKILL)
    return job
