"""A run folder behaves: its files get the mode a plain write gives, and one run holds it at a time."""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gan_aug.config import ShardConfig, demo_config
from gan_aug.data.imageset import ImageSet
from gan_aug.io import atomic_write_bytes, current_umask, write_json
from gan_aug.mix import real_only
from gan_aug.run_dir import RunDir, RunDirInUse
from gan_aug.shards import write_shards

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- file modes

@pytest.fixture(params=[0o022, 0o077], ids=["umask-022", "umask-077"])
def umask(request):
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_umask_is_read_without_changing_it(umask):
    assert current_umask() == umask
    assert os.umask(umask) == umask  # still what the fixture set


def test_atomic_writes_get_the_mode_a_plain_write_gives(tmp_path, umask):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(plain) == 0o666 & ~umask
    for path in (write_json(tmp_path / "metrics.json", {"a": 1}), atomic_write_bytes(tmp_path / "report.html", b"<p>")):
        assert _mode(path) == _mode(plain), path.name
    write_json(tmp_path / "metrics.json", {"a": 2})  # a rewrite too (mkstemp alone would make it 0600)
    assert _mode(tmp_path / "metrics.json") == _mode(plain)


def test_every_file_of_a_run_folder_gets_the_plain_mode(tmp_path, umask):
    run = RunDir(tmp_path / "run")
    run.claim(demo_config())
    images = np.random.default_rng(0).integers(0, 256, (12, 1, 8, 8), dtype=np.uint8)
    write_shards(run.root, real_only(ImageSet(images, np.arange(12) % 2, ("a", "b"))), ShardConfig(rows_per_shard=5))
    files = [p for p in run.root.rglob("*") if p.is_file()]
    assert {"config.yaml", "manifest.json", "SHA256SUMS"} <= {p.name for p in files}
    assert {p.relative_to(run.root).as_posix(): _mode(p) for p in files} == \
        {p.relative_to(run.root).as_posix(): 0o666 & ~umask for p in files}


# --------------------------------------------------------------------------- one run per folder

HOLD = """
import sys
from gan_aug.run_dir import RunDir
with RunDir(sys.argv[1]).lock():
    print("holding", flush=True)
    sys.stdin.readline()  # until the test says so (or kills it)
"""

TRY = """
import sys, time
from gan_aug.run_dir import RunDir, RunDirInUse
start = time.monotonic()
try:
    with RunDir(sys.argv[1]).lock():
        print("acquired", flush=True)
except RunDirInUse as error:
    print(f"refused after {time.monotonic() - start:.3f} s: {error}", flush=True)
    sys.exit(3)
"""


def _python(script: str, folder: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, str(folder)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def _holder(folder: Path) -> subprocess.Popen:
    proc = _python(HOLD, folder, stdin=subprocess.PIPE)
    line = proc.stdout.readline()
    assert line == "holding\n", line + proc.stdout.read()
    return proc


def _try(folder: Path) -> tuple[int, str]:
    proc = _python(TRY, folder)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


def test_a_second_run_on_a_folder_is_refused_at_once_naming_it_and_the_holder(tmp_path):
    folder = tmp_path / "runs" / "demo"
    holder = _holder(folder)
    try:
        code, out = _try(folder)
        assert code == 3, out
        assert f"{folder} is in use by another gan-aug run (pid {holder.pid} on host {socket.gethostname()} since " \
            in out and "wait for it or choose another --out" in out
        assert float(out.split("refused after ")[1].split(" s")[0]) < 1.0  # no waiting on a timeout
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    assert _try(folder) == (0, "acquired\n")  # free again once the first run ended


def test_a_holder_killed_with_sigkill_leaves_the_folder_free(tmp_path):
    folder = tmp_path / "run"
    holder = _holder(folder)
    assert _try(folder)[0] == 3
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(timeout=60) == -signal.SIGKILL
    assert (folder / ".lock.holder").exists()  # nothing ran after the kill: only the OS let go of the lock
    assert _try(folder) == (0, "acquired\n")


def test_the_lock_is_held_for_the_block_only_and_refuses_a_second_holder_in_process(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.lock():
        with pytest.raises(RunDirInUse, match=f"pid {os.getpid()} on host"):
            with RunDir(run.root).lock():
                pass
    with run.lock():
        assert (run.root / ".lock.holder").is_file()
    assert not (run.root / ".lock.holder").exists()
    started = time.monotonic()
    with run.lock():
        assert time.monotonic() - started < 1.0


def test_the_flow_refuses_a_folder_another_process_holds_and_leaves_it_untouched(tmp_path, prefect_harness):
    from flows.augment import augment

    folder = tmp_path / "run"
    holder = _holder(folder)
    try:
        before = sorted(p.name for p in folder.iterdir())
        with pytest.raises(RunDirInUse, match=f"{folder} is in use by another gan-aug run \\(pid {holder.pid} "):
            augment(out_dir=str(folder), config=demo_config())
        assert sorted(p.name for p in folder.iterdir()) == before  # no config.yaml claimed, nothing written
    finally:
        holder.communicate("\n", timeout=60)
