"""Durable writes: a file reaches the disk before it is renamed into place, and the rename after.
Without the first fsync a power cut can leave a renamed but empty checkpoint, manifest or shard."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from gan_aug.config import ShardConfig
from gan_aug.data import cache
from gan_aug.data.formats import RawSource
from gan_aug.data.imageset import ImageSet
from gan_aug.io import atomic_write_bytes, durable_replace, sync_filesystem, write_json
from gan_aug.mix import real_only
from gan_aug.shards import write_shards
from gan_aug.shards import writer as shard_writer


class Calls:
    """os.fsync, os.replace and the image folder's sync_filesystem, in the order they ran (each still
    does its work). A flushed file is known by its inode, which a rename keeps."""

    def __init__(self, monkeypatch) -> None:
        self.log: list[tuple] = []
        real_fsync, real_replace, real_sync = os.fsync, os.replace, shard_writer.sync_filesystem

        def fsync(fd):
            info = os.fstat(fd)
            self.log.append(("fsync", info.st_ino, stat.S_ISDIR(info.st_mode)))
            return real_fsync(fd)

        def replace(src, dst, *args, **kwargs):
            inode = os.stat(src).st_ino
            result = real_replace(src, dst, *args, **kwargs)
            self.log.append(("replace", inode, Path(dst), os.stat(Path(dst).parent).st_ino))
            return result

        def sync(path):
            self.log.append(("sync", Path(path)))
            return real_sync(path)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(shard_writer, "sync_filesystem", sync)

    def replaces(self) -> list[int]:
        return [i for i, call in enumerate(self.log) if call[0] == "replace"]

    def assert_durable(self, at: int) -> None:
        """The rename at log position ``at``: its source flushed before, its new folder flushed after."""
        _, inode, dst, folder = self.log[at]
        before = [c for c in self.log[:at] if c[0] == "fsync"]
        assert before and before[-1][1] == inode, f"{dst.name}: not flushed just before its rename ({self.log})"
        after = self.log[at + 1] if at + 1 < len(self.log) else None
        assert after is not None and after[:3] == ("fsync", folder, True), \
            f"{dst.name}: its folder not flushed right after the rename ({self.log})"


def test_durable_replace_flushes_the_file_then_renames_then_flushes_the_folder(tmp_path, monkeypatch):
    src, dst = tmp_path / "a.tmp", tmp_path / "sub" / "a.bin"
    src.write_bytes(b"payload")
    dst.parent.mkdir()
    calls = Calls(monkeypatch)
    durable_replace(src, dst)
    assert dst.read_bytes() == b"payload" and not src.exists()
    assert [c[0] for c in calls.log] == ["fsync", "replace", "fsync"]
    calls.assert_durable(1)


@pytest.mark.parametrize("write", [lambda p: write_json(p, {"a": 1}), lambda p: atomic_write_bytes(p, b"\0" * 10)],
                         ids=["write_json", "atomic_write_bytes"])
def test_atomic_write_flushes_before_and_after_its_rename(tmp_path, monkeypatch, write):
    target = tmp_path / "out" / "file"
    (tmp_path / "out").mkdir()
    calls = Calls(monkeypatch)
    write(target)
    assert [c[0] for c in calls.log] == ["fsync", "replace", "fsync"]
    calls.assert_durable(1)
    assert calls.log[0][1] == target.stat().st_ino  # the bytes flushed are the ones now in place
    assert calls.log[2][1] == target.parent.stat().st_ino


def test_a_shard_write_flushes_every_file_it_puts_in_place(tmp_path, monkeypatch):
    """Shards, image checksums, records, the staged folders' swap and the manifest: every rename that
    puts finished work in place is durable (moving the old output aside needs no flush of its own); the
    images of each shard are flushed before its checksums are recorded as done."""
    images = np.random.default_rng(0).integers(0, 256, (12, 1, 8, 8), dtype=np.uint8)
    calls = Calls(monkeypatch)
    write_shards(tmp_path / "old", real_only(ImageSet(images[:6], np.arange(6) % 2, ("a", "b"))),
                 ShardConfig(rows_per_shard=5))
    calls.log.clear()
    manifest = write_shards(tmp_path / "old", real_only(ImageSet(images, np.arange(12) % 2, ("a", "b"))),
                            ShardConfig(rows_per_shard=5))
    renames = calls.replaces()
    placed = [calls.log[i][2].name for i in renames]
    assert {Path(e["file"]).name for e in manifest["shards"]} <= set(placed)
    assert {"manifest.json", "SHA256SUMS", "shards", "images"} <= set(placed)
    aside = [i for i in renames if calls.log[i][2].name.startswith((".shards.old-", ".images.old-"))]
    assert len(aside) == 2  # the previous write's folders
    for i in renames:
        if i not in aside:
            calls.assert_durable(i)
    for shard in manifest["shards"]:
        name = Path(shard["file"]).name
        shard_at = next(i for i in renames if calls.log[i][2].name == name)
        record_at = next(i for i in renames if calls.log[i][2].name == f"{name}.sha256")
        assert ("sync", tmp_path / "old" / f".staging-{manifest['provenance']['content_key'][:16]}" / "images"
                / shard["split"]) in calls.log[shard_at:record_at], f"{name}: images not flushed before their record"


def test_a_cache_entry_is_flushed_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    raw = RawSource(np.zeros((2, 1, 4, 4), np.uint8), ["a", "b"], ["a.png", "b.png"], [], ["a", "b"], {"4×4 L": 2})
    calls = Calls(monkeypatch)
    cache.save_cached(tmp_path, "key", raw)
    entry = tmp_path / "key"
    [at] = calls.replaces()
    flushed = {c[1] for c in calls.log[:at] if c[0] == "fsync"}
    assert {(entry / n).stat().st_ino for n in ("images.npy", "meta.json")} <= flushed
    calls.assert_durable(at)
    assert cache.load_cached(tmp_path, "key").labels == ["a", "b"]


def test_sync_filesystem_flushes_without_error(tmp_path):
    (tmp_path / "image.png").write_bytes(b"png")
    sync_filesystem(tmp_path)
