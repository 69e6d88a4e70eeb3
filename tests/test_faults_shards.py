"""Fault injection in shard writing: kill -9 mid-write and during the final folder swaps, a disk that
fills during a write or a rewrite; and the check that the fault tests' source stays untouched.

Each test reads its images from one on-disk source (fault_helpers: scikit-learn's digits as a
read-only PNG folder), and an autouse fixture proves that source is byte-identical after every test.
After the fault, nothing is lost and nothing half-written is visible.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

# The fixtures are used by name (source_untouched runs for every test here).
from fault_helpers import (  # noqa: F401
    ROWS_PER_SHARD,
    TILE,
    disk_used,
    finish_job,
    kill9,
    kill9_mid_write,
    resize_disk,
    small_disk,
    snapshot,
    source,
    source_set,
    source_untouched,
    start_job,
    visible_entries,
    wait_for,
)
from gan_aug.config import ShardConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.hashing import file_sha256
from gan_aug.io import DiskFullError, read_json
from gan_aug.mix import real_only
from gan_aug.shards import verify_shards, write_shards

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
            if not path.is_file() or file_sha256(path) != entry["sha256"]:
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
    proc = start_job(tmp_path, "shards", source, run_dir, TILE, ROWS_PER_SHARD)

    def done_records() -> list[Path]:
        return sorted(run_dir.glob(".staging-*/done/*.parquet.json"))

    wait_for(proc, lambda: len(done_records()) >= 5, "five finished shards", timeout=120, every=0.005)
    staging = next(run_dir.glob(".staging-*"))
    assert kill9_mid_write(proc, staging / "shards", ".", timeout=30), "could not catch a shard mid-write"
    assert visible_entries(run_dir) == [], "a killed writer left output where readers look"
    assert list(staging.glob("shards/.*.tmp")), "killed while a shard was being written (its temp file is there)"
    watcher.look()
    assert watcher.violations == []

    # What the killed writer finished: these shard files must be reused, not written again.
    finished = {}
    for record in done_records():
        shard = staging / "shards" / record.name.removesuffix(".json")
        info = shard.stat()
        finished[shard.name] = (info.st_ino, info.st_mtime_ns, file_sha256(shard))
    assert 5 <= len(finished) < 30

    watcher.strict = False  # from here the writer may finish, so whole shards may appear (then the manifest)
    result, log = finish_job(tmp_path, "shards", source, run_dir, TILE, ROWS_PER_SHARD)
    violations = watcher.stop()
    assert violations == [] and watcher.looks > 100, violations[:5]
    assert result == {"shards": 30}
    assert f"resuming: {len(finished)} of 30 shards were finished by an earlier attempt" in log
    for name, (inode, mtime, digest) in finished.items():
        info = (run_dir / "shards" / name).stat()
        assert (info.st_ino, info.st_mtime_ns) == (inode, mtime), f"{name} was written again, not reused"
        assert file_sha256(run_dir / "shards" / name) == digest

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
    proc = start_job(tmp_path, "shards", source, run_dir, SWAP_TILE, SWAP_ROWS, swaps)
    _wait_stopped(proc, timeout=180)
    staging = next(run_dir.glob(".staging-*"))
    assert not (run_dir / "manifest.json").exists() and not (staging / "shards").exists()
    assert (staging / "images").is_dir() == (swaps == 1) and (run_dir / "images").is_dir() == (swaps == 2)
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (run_dir / "shards").glob("*.parquet")}
    assert len(stamps) == 5
    kill9(proc)

    result, log = finish_job(tmp_path, "shards", source, run_dir, SWAP_TILE, SWAP_ROWS)
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


# --------------------------------------------------------------------------- a full disk

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
    assert disk_used(disk) < 64 * 1024

    resize_disk(disk, 16 * 1024)  # free space and rerun: the same call now succeeds
    manifest = write_shards(run_dir, real_only(source_set), ShardConfig(rows_per_shard=500, workers=1))
    assert verify_shards(run_dir).ok and manifest["splits"]["train"]["rows"] == 1797


def test_a_full_disk_during_a_rewrite_keeps_the_previous_output_whole(small_disk, source_set):
    disk = small_disk(2048)
    run_dir = disk / "run"
    small = source_set.subset(np.arange(0, 1797, 8))  # 225 rows: fits
    before = write_shards(run_dir, real_only(small), ShardConfig(rows_per_shard=100, workers=1))
    files = {p.relative_to(run_dir).as_posix(): file_sha256(p) for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(DiskFullError, match="the previous output there is unchanged") as caught:
        write_shards(run_dir, real_only(source_set), ShardConfig(rows_per_shard=100, workers=1))
    assert str(run_dir) in str(caught.value)
    assert read_json(run_dir / "manifest.json") == before
    assert {p.relative_to(run_dir).as_posix(): file_sha256(p) for p in run_dir.rglob("*") if p.is_file()} == files
    assert verify_shards(run_dir).ok
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_atomic_write_on_a_full_disk_leaves_no_temp_file_and_names_the_file(small_disk):
    from gan_aug.io import atomic_write_bytes

    disk = small_disk(256)
    (disk / "keep.bin").write_bytes(b"old content")
    with pytest.raises(DiskFullError,
                       match=r"keep\.bin: the disk is full .*needs about 1\.0 MB.*keep\.bin is unchanged"):
        atomic_write_bytes(disk / "keep.bin", b"x" * 2**20)
    assert sorted(p.name for p in disk.iterdir()) == ["keep.bin"]
    assert (disk / "keep.bin").read_bytes() == b"old content"


def test_the_source_fixture_catches_a_change(tmp_path, source):
    """The byte-identity check is not vacuous: changing one byte of a copy changes the snapshot."""
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    before = snapshot(copy)
    victim = next(copy.rglob("*.png"))
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    victim.chmod(0o444)
    assert snapshot(copy) != before
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == snapshot(copy)[victim.relative_to(copy).as_posix()][0]
