"""Shards, image folder and manifest: contents, provenance, checksums and atomic commits."""
from __future__ import annotations

import io
import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import gan_aug.shards.staging as staging
import gan_aug.shards.writer as writer
from gan_aug.config import ShardConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.hashing import file_sha256
from gan_aug.mix import TrainingMix, real_only
from gan_aug.shards import decode_png, encode_png, read_mix, read_shards, verify_shards, write_shards
from gan_aug.shards.png import encode_batch
from gan_aug.synthetic import SyntheticSet

CLASSES = ("common", "rare", "rarer")
SHA = "ab" * 32


def make_sets(channels: int = 1, size: int = 8, seed: int = 0) -> tuple[ImageSet, SyntheticSet]:
    """7 common, 2 rare, 1 rarer real rows (shuffled, non-trivial source_index); 3 + 4 synthetic."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.array([0] * 7 + [1] * 2 + [2], dtype=np.int64))
    real = ImageSet(
        rng.integers(0, 256, (10, channels, size, size), dtype=np.uint8), labels, CLASSES,
        np.arange(100, 110, dtype=np.int64)[::-1].copy(),
    )
    syn_labels = np.array([1, 2, 1, 2, 2, 1, 2], dtype=np.int64)
    synthetic = SyntheticSet(
        rng.integers(0, 256, (7, channels, size, size), dtype=np.uint8), syn_labels,
        np.arange(500, 507, dtype=np.int64), SHA,
        {"d_score": rng.random(7).astype(np.float32), "label_prob": np.linspace(0.5, 1.0, 7),
         "nn_distance": np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0])},
    )
    return real, synthetic


def plain(real: ImageSet, synthetic: SyntheticSet) -> TrainingMix:
    """Real and synthetic rows with no duplicates and weight 1: what the shards held before mixes."""
    return TrainingMix(real, synthetic, np.zeros(0, np.int64))


def shard_files(run_dir):
    return sorted(p.name for p in (run_dir / "shards").glob("*.parquet"))


def all_rows(run_dir) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((run_dir / "shards").glob("*.parquet"))],
                     ignore_index=True)


def test_synthetic_set_keeps_filter_scores_and_reads_files_without_them(tmp_path):
    _, synthetic = make_sets()
    back = SyntheticSet.load(synthetic.save(tmp_path / "s.npz"))
    assert list(back.scores) == ["d_score", "label_prob", "nn_distance"]  # the registry's score columns
    np.testing.assert_array_equal(back.scores["label_prob"], synthetic.scores["label_prob"])
    np.testing.assert_array_equal(back.scores["nn_distance"], synthetic.scores["nn_distance"])  # NaN: filter off
    np.testing.assert_array_equal(back.select(back.labels == 2).seeds, [501, 503, 504, 506])
    np.savez(tmp_path / "old.npz", images=synthetic.images, labels=synthetic.labels,
             d_scores=synthetic.scores["d_score"], seeds=synthetic.seeds, generator_sha256=synthetic.generator_sha256)
    old = SyntheticSet.load(tmp_path / "old.npz")  # written before the other filters existed (plural key)
    np.testing.assert_array_equal(old.scores["d_score"], synthetic.scores["d_score"])
    assert np.isnan(old.scores["label_prob"]).all() and np.isnan(old.scores["nn_distance"]).all()
    with pytest.raises(ValueError, match="label_prob must have 7 entries"):
        SyntheticSet(synthetic.images, synthetic.labels, synthetic.seeds, SHA, {"label_prob": np.zeros(3)})


def test_columns_and_types_with_pyarrow_and_pandas(tmp_path):
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=100))
    table = pq.read_table(tmp_path / "shards" / "train-00000-of-00001.parquet")
    expected = {
        "image": pa.struct([("bytes", pa.binary()), ("path", pa.string())]), "label": pa.int64(),
        "label_name": pa.string(), "is_synthetic": pa.bool_(), "is_duplicate": pa.bool_(), "weight": pa.float32(),
        "source_index": pa.int64(),
        "d_score": pa.float32(), "label_prob": pa.float32(), "nn_distance": pa.float32(),
        "generator_sha256": pa.string(), "seed": pa.int64(),
    }
    assert {f.name: f.type for f in table.schema} == expected
    assert pq.ParquetFile(tmp_path / "shards" / "train-00000-of-00001.parquet").metadata.row_group(0) \
        .column(1).compression == "ZSTD"
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"}
    assert features["label"]["names"] == list(CLASSES)
    frame = table.to_pandas()
    assert frame["label"].dtype == np.int64 and frame["is_synthetic"].dtype == bool
    assert frame["d_score"].dtype == np.float32
    assert set(frame["image"].iloc[0]) == {"bytes", "path"}
    assert frame["image"].iloc[0]["bytes"].startswith(b"\x89PNG")
    # Each synthetic row carries its filter scores (a filter that was off: null); real rows none.
    by_seed = frame[frame.is_synthetic].set_index("seed")
    np.testing.assert_allclose(by_seed.loc[synthetic.seeds, "label_prob"], synthetic.scores["label_prob"])
    assert by_seed.loc[502, "nn_distance"] is None or np.isnan(by_seed.loc[502, "nn_distance"])
    assert table.column("nn_distance").null_count == 1 + len(real)
    assert frame.loc[~frame.is_synthetic, ["label_prob", "nn_distance"]].isna().all().all()


def test_class_counts_are_real_plus_synthetic(tmp_path):
    real, synthetic = make_sets()
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    frame = all_rows(tmp_path)
    counts = frame.groupby("label_name").size().to_dict()
    assert counts == {"common": 7, "rare": 2 + 3, "rarer": 1 + 4}
    syn_counts = frame[frame.is_synthetic].groupby("label_name").size().to_dict()
    assert syn_counts == {"rare": 3, "rarer": 4}
    assert (frame["label_name"] == [CLASSES[i] for i in frame["label"]]).all()
    # Class by class, real before synthetic inside each class.
    assert (np.diff(frame["label"] * 2 + frame["is_synthetic"]) >= 0).all()
    totals = manifest["splits"]["train"]
    assert (totals["rows"], totals["real_rows"], totals["synthetic_rows"]) == (17, 10, 7)
    assert totals["class_counts"] == {"common": 7, "rare": 5, "rarer": 5}
    assert totals["synthetic_counts"] == {"common": 0, "rare": 3, "rarer": 4}
    for name in CLASSES:
        assert sum(s["class_counts"][name] for s in manifest["shards"]) == counts[name]
        assert sum(s["synthetic_counts"][name] for s in manifest["shards"]) == syn_counts.get(name, 0)


def test_multiple_shards_are_named_of_n(tmp_path):
    real, synthetic = make_sets()
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    names = [f"train-{i:05d}-of-00005.parquet" for i in range(5)]
    assert shard_files(tmp_path) == names
    assert [s["file"] for s in manifest["shards"]] == [f"shards/{n}" for n in names]
    assert [s["rows"] for s in manifest["shards"]] == [4, 4, 4, 4, 1]
    assert [pq.read_metadata(tmp_path / "shards" / n).num_rows for n in names] == [4, 4, 4, 4, 1]


@pytest.mark.parametrize("channels", [1, 3])
def test_pixels_round_trip_exactly(tmp_path, channels):
    real, synthetic = make_sets(channels=channels)
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=3))
    frame = all_rows(tmp_path)
    mode = "L" if channels == 1 else "RGB"
    for _, row in frame.iterrows():
        image = Image.open(io.BytesIO(row["image"]["bytes"]))
        assert image.mode == mode
        pixels = np.asarray(image)
        pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
        if row["is_synthetic"]:
            expected = synthetic.images[np.flatnonzero(synthetic.seeds == row["seed"])[0]]
        else:
            expected = real.images[np.flatnonzero(real.source_index == row["source_index"])[0]]
        np.testing.assert_array_equal(pixels, expected)


def test_provenance_columns_are_null_exactly_where_they_should_be(tmp_path):
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=5))
    frame = all_rows(tmp_path)
    syn, rl = frame[frame.is_synthetic], frame[~frame.is_synthetic]
    assert len(syn) == 7 and len(rl) == 10
    assert syn["source_index"].isna().all() and syn["seed"].notna().all()
    assert (syn["generator_sha256"] == SHA).all() and syn["d_score"].notna().all()
    assert rl["d_score"].isna().all() and rl["seed"].isna().all() and rl["generator_sha256"].isna().all()
    assert sorted(rl["source_index"].astype(int)) == list(range(100, 110))
    by_seed = dict(zip(synthetic.seeds.tolist(), synthetic.scores["d_score"].tolist()))
    assert all(np.float32(by_seed[int(s)]) == np.float32(d) for s, d in zip(syn["seed"], syn["d_score"]))
    paths = frame["image"].map(lambda image: image["path"])
    assert all(p.startswith("synthetic/") for p in paths[frame.is_synthetic])
    assert all(p.startswith("real/") for p in paths[~frame.is_synthetic])
    first_real = rl.iloc[0]
    name, index = first_real["label_name"], int(first_real["source_index"])
    assert first_real["image"]["path"] == f"real/{name}/{index}.png"


def test_manifest_hashes_match_files_and_is_the_returned_dict(tmp_path):
    real, synthetic = make_sets()
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=6))
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    for entry in manifest["shards"]:
        assert entry["sha256"] == file_sha256(tmp_path / entry["file"])
    assert manifest["class_names"] == list(CLASSES)
    assert manifest["image_shape"] == [1, 8, 8]
    assert manifest["generator_sha256"] == SHA


@pytest.mark.parametrize("channels", [1, 3])
def test_read_shards_round_trips(tmp_path, channels):
    real, synthetic = make_sets(channels=channels)
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    loaded, is_synthetic = read_shards(tmp_path)
    assert loaded.class_names == CLASSES and is_synthetic.dtype == bool
    assert is_synthetic.sum() == 7 and len(loaded) == 17
    assert (loaded.source_index[is_synthetic] == -1).all()
    real_rows = loaded.subset(np.flatnonzero(~is_synthetic))
    order = np.argsort(real_rows.source_index)
    expected = np.argsort(real.source_index)
    np.testing.assert_array_equal(real_rows.images[order], real.images[expected])
    np.testing.assert_array_equal(real_rows.labels[order], real.labels[expected])
    syn_images = loaded.images[is_synthetic]
    assert sorted(map(bytes, syn_images)) == sorted(map(bytes, synthetic.images))
    np.testing.assert_array_equal(np.bincount(loaded.labels[is_synthetic], minlength=3), [0, 3, 4])


def test_read_shards_names_a_tampered_or_missing_shard(tmp_path):
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=5))
    victim = tmp_path / "shards" / "train-00002-of-00004.parquet"
    # Still a valid Parquet file with the same rows, so only the checksum can tell.
    table = pq.read_table(victim)
    labels = pa.array(np.zeros(table.num_rows, np.int64))
    pq.write_table(table.set_column(1, "label", labels), victim, compression="zstd")
    with pytest.raises(ValueError, match="train-00002-of-00004.parquet"):
        read_shards(tmp_path)
    victim.unlink()
    with pytest.raises(ValueError, match="train-00002-of-00004.parquet.*missing"):
        read_shards(tmp_path)


def test_rerun_with_other_shard_size_leaves_no_stale_files(tmp_path):
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=2))
    assert len(shard_files(tmp_path)) == 9
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=8))
    assert shard_files(tmp_path) == [f"train-{i:05d}-of-00003.parquet" for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == shard_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert len(manifest["shards"]) == 3
    assert len(read_shards(tmp_path)[0]) == 17


def test_image_folder_has_one_png_per_row_in_its_class(tmp_path):
    real, synthetic = make_sets(channels=3)
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    root = tmp_path / "images" / "train"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    expected = sorted(
        [f"{CLASSES[label]}/real-{i}.png" for label, i in zip(real.labels, real.source_index)]
        + [f"{CLASSES[label]}/syn-{s}.png" for label, s in zip(synthetic.labels, synthetic.seeds)]
    )
    assert files == expected
    row = int(np.flatnonzero(real.labels == 2)[0])
    with Image.open(root / "rarer" / f"real-{real.source_index[row]}.png") as image:
        np.testing.assert_array_equal(np.asarray(image).transpose(2, 0, 1), real.images[row])
    # A second run replaces the folder whole: fewer synthetic rows leave no old files behind.
    write_shards(tmp_path, plain(real, SyntheticSet.empty((3, 8, 8), SHA)), ShardConfig(rows_per_shard=4))
    assert sum(1 for p in root.rglob("*.png")) == 10
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4, image_folder=False))
    assert not root.parent.exists() and json.loads((tmp_path / "manifest.json").read_text())["image_folder"] is None


def test_image_folder_reads_with_torchvision(tmp_path):
    datasets = pytest.importorskip("torchvision.datasets")
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=50))
    folder = datasets.ImageFolder(str(tmp_path / "images" / "train"))
    assert folder.classes == sorted(CLASSES) and len(folder) == 17


def _failing_writer(monkeypatch, after: int):
    """Row groups fail after ``after`` were written: a crash part-way through the shards."""
    original, calls = writer._ShardFile.add_group, {"n": 0}

    def add_group(self, positions, pngs):
        calls["n"] += 1
        if calls["n"] > after:
            raise RuntimeError("disk on fire")
        return original(self, positions, pngs)

    monkeypatch.setattr(writer._ShardFile, "add_group", add_group)
    return calls


def visible(run_dir) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))


def test_failure_mid_write_leaves_nothing_visible_and_a_rerun_resumes(tmp_path, monkeypatch):
    real, synthetic = make_sets()
    calls = _failing_writer(monkeypatch, after=2)  # dies inside the third shard
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    assert visible(tmp_path) == []  # no manifest, no shards/, no images/: only the hidden staging
    assert not list(tmp_path.rglob("*.tmp")) and len(list(tmp_path.rglob("*.parquet"))) == 2
    calls.update(n=-100)  # the next attempt succeeds
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    assert calls["n"] == -100 + 3  # only the three unfinished shards were written again
    uninterrupted = write_shards(tmp_path / "clean", plain(real, synthetic), ShardConfig(rows_per_shard=4))
    assert manifest == uninterrupted  # byte-identical shards, identical manifest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert verify_shards(tmp_path).ok


def test_failure_mid_rewrite_keeps_the_previous_run_whole(tmp_path, monkeypatch):
    real, synthetic = make_sets()
    before = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    files_before = shard_files(tmp_path)
    _failing_writer(monkeypatch, after=3)
    with pytest.raises(RuntimeError):
        write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=2))
    assert shard_files(tmp_path) == files_before
    assert json.loads((tmp_path / "manifest.json").read_text()) == before
    assert len(read_shards(tmp_path)[0]) == 17 and verify_shards(tmp_path).ok


def test_rerun_with_the_same_content_reuses_the_files(tmp_path, monkeypatch):
    real, synthetic = make_sets()
    first = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    calls = _failing_writer(monkeypatch, after=0)  # any write would fail
    assert write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4)) == first
    assert calls["n"] == 0 and {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # Other content (one synthetic row fewer) is written anew, not mistaken for the old.
    monkeypatch.undo()
    second = write_shards(tmp_path, plain(real, synthetic.select(np.arange(6))), ShardConfig(rows_per_shard=4))
    assert second["provenance"]["content_key"] != first["provenance"]["content_key"]
    assert second["splits"]["train"]["rows"] == 16


def test_read_shards_without_manifest_says_so(tmp_path):
    with pytest.raises(ValueError, match="manifest.json"):
        read_shards(tmp_path)


def test_invalid_inputs_are_refused_before_writing(tmp_path):
    real, synthetic = make_sets()
    with pytest.raises(ValueError, match="rows_per_shard"):
        write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=0))
    _, rgb = make_sets(channels=3)
    with pytest.raises(ValueError, match=r"synthetic images are \[3, 8, 8\].*\[1, 8, 8\]"):
        write_shards(tmp_path, plain(real, rgb), ShardConfig(rows_per_shard=4))
    bad = SyntheticSet(synthetic.images, synthetic.labels + 1, synthetic.seeds, SHA, synthetic.scores)
    with pytest.raises(ValueError, match=r"synthetic labels must lie in \[0, 3\)"):
        write_shards(tmp_path, plain(real, bad), ShardConfig(rows_per_shard=4))
    dup = SyntheticSet(synthetic.images, synthetic.labels, np.full(7, 5, np.int64), SHA, synthetic.scores)
    with pytest.raises(ValueError, match="duplicate seed"):
        write_shards(tmp_path, plain(real, dup), ShardConfig(rows_per_shard=4))
    slashed = ImageSet(real.images, real.labels, ("a/b", "rare", "rarer"), real.source_index)
    with pytest.raises(ValueError, match="folder name"):
        write_shards(tmp_path, plain(slashed, synthetic), ShardConfig(rows_per_shard=4))
    assert list(tmp_path.iterdir()) == []


def test_crash_during_swap_leaves_no_manifest_describing_old_shards(tmp_path, monkeypatch):
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4))

    def crash(tmp, final):
        raise OSError("power cut")

    monkeypatch.setattr(staging, "_swap_in", crash)
    with pytest.raises(OSError):
        write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=2))
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(ValueError, match="never completely written"):
        read_shards(tmp_path)


def digit_sets(n_synthetic: int = 300):
    from gan_aug.data.builtin import digits

    data = digits()
    synthetic = SyntheticSet(data.images[:n_synthetic].copy(), data.labels[:n_synthetic].copy(),
                             np.arange(n_synthetic, dtype=np.int64), SHA, {"d_score": np.ones(n_synthetic, np.float32)})
    return data, synthetic


def test_shards_are_sized_by_bytes_with_row_groups_for_streaming(tmp_path):
    data, synthetic = digit_sets()
    target = 0.05  # MB: about 600 digits rows
    manifest = write_shards(tmp_path, plain(data, synthetic),
                            ShardConfig(shard_size_mb=target, row_group_mb=target / 4, image_folder=False))
    entries = manifest["shards"]
    assert len(entries) == pytest.approx(sum(e["bytes"] for e in entries) / (target * 2**20), abs=1.5)
    for entry in entries[:-1]:  # the last shard holds what is left
        assert 0.6 * target * 2**20 < entry["bytes"] < 1.25 * target * 2**20, entry
        metadata = pq.read_metadata(tmp_path / entry["file"])
        assert metadata.num_row_groups == entry["row_groups"] >= 3
        assert metadata.row_group(0).num_rows == pytest.approx(entry["rows"] / entry["row_groups"], rel=0.35)


def test_parallel_encoding_writes_the_same_bytes(tmp_path):
    data, synthetic = digit_sets()
    data = ImageSet(np.concatenate([data.images] * 3), np.concatenate([data.labels] * 3), data.class_names)
    assert len(data) + len(synthetic) >= writer.PARALLEL_MIN_ROWS  # large enough to start the pool
    one = write_shards(tmp_path / "one", plain(data, synthetic), ShardConfig(rows_per_shard=2000, workers=1),
                       encoding="deflate")
    two = write_shards(tmp_path / "two", plain(data, synthetic), ShardConfig(rows_per_shard=2000, workers=2),
                       encoding="deflate")
    assert [e["sha256"] for e in one["shards"]] == [e["sha256"] for e in two["shards"]]
    assert one == two  # the worker count is not part of the content


def test_validation_and_test_splits_are_real_only_files_of_their_own(tmp_path):
    real, synthetic = make_sets()
    val = ImageSet(real.images[:3], np.array([0, 1, 2]), CLASSES, np.array([7, 8, 9]))
    test = ImageSet(real.images[3:5], np.array([0, 0]), CLASSES, np.array([3, 4]))
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=100), validation=val,
                            test=test)
    assert shard_files(tmp_path) == ["test-00000-of-00001.parquet", "train-00000-of-00001.parquet",
                                     "validation-00000-of-00001.parquet"]
    assert {k: v["rows"] for k, v in manifest["splits"].items()} == {"train": 17, "validation": 3, "test": 2}
    frame = pd.read_parquet(tmp_path / "shards" / "validation-00000-of-00001.parquet")
    assert not frame.is_synthetic.any() and frame.source_index.tolist() == [7, 8, 9]
    assert manifest["splits"]["test"]["class_counts"] == {"common": 2, "rare": 0, "rarer": 0}
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["SHA256SUMS", "test", "train", "validation"]
    assert len(read_shards(tmp_path, "validation")[0]) == 3
    with pytest.raises(ValueError, match="no split 'holdout'"):
        read_shards(tmp_path, "holdout")
    other = ImageSet(real.images[:2], np.array([0, 1]), ("x", "y", "z"))
    with pytest.raises(ValueError, match="validation: class names"):
        write_shards(tmp_path / "bad", plain(real, synthetic), validation=other)


def test_manifest_records_provenance_and_every_file_checksum(tmp_path):
    real, synthetic = make_sets()
    given = {"config_hash": "c0ffee", "seeds": {"gan": 3}}
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=4), provenance=given)
    provenance = manifest["provenance"]
    assert provenance["config_hash"] == "c0ffee" and provenance["seeds"] == {"gan": 3}
    assert provenance["packages"]["pyarrow"] == pa.__version__ and provenance["packages"]["python"]
    assert len(provenance["content_key"]) == 64
    folder = manifest["image_folder"]
    assert folder["sha256"] == file_sha256(tmp_path / folder["checksums"]) and folder["files"] == 17
    import hashlib

    for line in (tmp_path / folder["checksums"]).read_text().splitlines():  # `sha256sum -c` format
        digest, relative = line.split("  ")
        assert hashlib.sha256((tmp_path / "images" / relative).read_bytes()).hexdigest() == digest


def test_verify_finds_every_kind_of_tampering(tmp_path):
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=5))
    result = verify_shards(tmp_path)
    assert result.ok and (result.shards, result.rows, result.images) == (4, 17, 17)

    shard = tmp_path / "shards" / "train-00001-of-00004.parquet"
    table = pq.read_table(shard)  # same rows, other labels: only the checksum can tell
    pq.write_table(table.set_column(1, "label", pa.array(np.zeros(table.num_rows, np.int64))), shard)
    (tmp_path / "shards" / "train-00009-of-00010.parquet").write_bytes(shard.read_bytes())
    image = next((tmp_path / "images" / "train" / "rarer").glob("syn-*.png"))
    image.write_bytes(image.read_bytes()[:-1])
    gone = next((tmp_path / "images" / "train" / "common").glob("real-*.png"))
    gone.unlink()
    (tmp_path / "images" / "train" / "common" / "stray.png").write_bytes(b"x")
    problems = "\n".join(verify_shards(tmp_path).problems)
    assert "train-00001-of-00004.parquet: sha256" in problems
    assert "train-00009-of-00010.parquet: not listed" in problems
    assert f"{image.name}: sha256 differs" in problems and f"{gone.name}: missing" in problems
    assert "stray.png: not listed" in problems
    assert verify_shards(tmp_path / "nowhere").problems == [f"no manifest.json in {tmp_path / 'nowhere'}: "
                                                            "shards were never completely written"]


# --------------------------------------------------------------------------- a mix: duplicates and weights

def make_mix(weight: float = 0.5, late_from: float = 0.25) -> TrainingMix:
    """make_sets' rows balanced to 8 per class: synthetic at most one per real image (rare 2, rarer 1),
    then duplicates (common 1, rare 4, rarer 6), drawn with replacement so some originals repeat."""
    from gan_aug.mix import build_mix

    real, synthetic = make_sets()
    return build_mix(real, synthetic, np.array([8, 8, 8]), 1.0, weight=weight, late_from=late_from, seed=3)


def expected_copies(mix: TrainingMix) -> list[tuple[int, int]]:
    """(original's source index, copy number) of each duplicate, in mix order."""
    seen: dict[int, int] = {}
    pairs = []
    for row in mix.duplicates.tolist():
        seen[row] = seen.get(row, 0) + 1
        pairs.append((int(mix.real.source_index[row]), seen[row]))
    return pairs


def test_a_mix_writes_flagged_weighted_rows_balanced_to_the_row(tmp_path):
    mix = make_mix()
    assert len(np.unique(mix.duplicates)) < len(mix.duplicates)  # some real row is copied twice
    manifest = write_shards(tmp_path, mix, ShardConfig(rows_per_shard=5))
    frame = all_rows(tmp_path)
    kind = np.where(frame.is_synthetic, "synthetic", np.where(frame.is_duplicate, "duplicate", "real"))
    for name in ("real", "synthetic", "duplicate"):
        found = np.bincount(frame["label"][kind == name], minlength=3)
        np.testing.assert_array_equal(found, mix.class_counts(name), err_msg=name)
    assert frame.groupby("label_name").size().to_dict() == {"common": 8, "rare": 8, "rarer": 8}
    assert frame["weight"].dtype == np.float32 and frame["is_duplicate"].dtype == bool
    assert (frame["weight"] == np.where(frame.is_synthetic, np.float32(0.5), np.float32(1))).all()
    assert not (frame.is_synthetic & frame.is_duplicate).any()
    # Class by class; real, then synthetic, then duplicates (in mix order) inside each class.
    code = frame["label"] * 3 + np.select([frame.is_synthetic, frame.is_duplicate], [1, 2], 0)
    assert (np.diff(code) >= 0).all()
    dup = frame[frame.is_duplicate]
    assert dup["seed"].isna().all() and dup["generator_sha256"].isna().all() and dup["d_score"].isna().all()
    order = np.argsort(mix.real.labels[mix.duplicates], kind="stable")  # the shards list them class by class
    copies = [expected_copies(mix)[i] for i in order]
    assert dup["source_index"].astype(int).tolist() == [source for source, _ in copies]
    assert [image["path"] for image in dup["image"]] == [
        f"duplicate/{CLASSES[mix.real.labels[mix.duplicates[i]]]}/{s}-{n}.png" for i, (s, n) in zip(order, copies)]

    totals = manifest["splits"]["train"]
    assert (totals["rows"], totals["real_rows"], totals["synthetic_rows"], totals["duplicate_rows"]) == (24, 10, 3, 11)
    assert totals["duplicate_counts"] == {"common": 1, "rare": 4, "rarer": 6}
    assert totals["synthetic_counts"] == {"common": 0, "rare": 2, "rarer": 1}
    for name in CLASSES:
        assert sum(s["duplicate_counts"][name] for s in manifest["shards"]) == totals["duplicate_counts"][name]
    assert manifest["mix"] == {"synthetic_weight": 0.5, "late_from": 0.25}
    assert verify_shards(tmp_path).ok


def test_a_mix_loads_in_hugging_face_datasets_with_its_features(tmp_path):
    datasets = pytest.importorskip("datasets")
    mix = make_mix()
    write_shards(tmp_path, mix, ShardConfig(rows_per_shard=5, image_folder=False))
    train = datasets.load_dataset("parquet", data_files={"train": str(tmp_path / "shards" / "train-*.parquet")},
                                  cache_dir=str(tmp_path / "hf-cache"))["train"]
    assert train.features["is_duplicate"] == datasets.Value("bool")
    assert train.features["weight"] == datasets.Value("float32")
    assert sum(train["is_duplicate"]) == 11 and sum(train["is_synthetic"]) == 3
    assert sorted(set(train["weight"])) == [0.5, 1.0]


def test_a_mix_image_folder_has_one_file_per_row_duplicates_included(tmp_path):
    folders = pytest.importorskip("torchvision.datasets")
    mix = make_mix()
    write_shards(tmp_path, mix, ShardConfig(rows_per_shard=5))
    root = tmp_path / "images" / "train"
    folder = folders.ImageFolder(str(root))
    assert len(folder) == len(mix) == 24
    np.testing.assert_array_equal(np.bincount(folder.targets), [8, 8, 8])  # the classes sort as CLASSES
    dup_files = sorted(p.relative_to(root).as_posix() for p in root.rglob("dup-*.png"))
    assert dup_files == sorted(f"{CLASSES[mix.real.labels[row]]}/dup-{s}-{n}.png"
                               for row, (s, n) in zip(mix.duplicates, expected_copies(mix)))
    row = int(mix.duplicates[0])
    source, n = expected_copies(mix)[0]
    with Image.open(root / CLASSES[mix.real.labels[row]] / f"dup-{source}-{n}.png") as image:
        np.testing.assert_array_equal(np.asarray(image)[None], mix.real.images[row])


def test_read_mix_round_trips_the_mix(tmp_path):
    mix = make_mix()
    write_shards(tmp_path, mix, ShardConfig(rows_per_shard=5))
    back = read_mix(tmp_path)
    assert (back.synthetic_weight, back.late_from) == (0.5, 0.25)
    np.testing.assert_array_equal(back.class_counts("duplicate"), mix.class_counts("duplicate"))
    real_order, back_order = np.argsort(mix.real.source_index), np.argsort(back.real.source_index)
    np.testing.assert_array_equal(back.real.images[back_order], mix.real.images[real_order])
    np.testing.assert_array_equal(back.real.labels[back_order], mix.real.labels[real_order])
    seeds = np.argsort(mix.synthetic.seeds)
    syn = back.synthetic.select(np.argsort(back.synthetic.seeds))
    for column in ("images", "labels", "seeds", "generator_sha256"):
        np.testing.assert_array_equal(getattr(syn, column), getattr(mix.synthetic.select(seeds), column))
    for name, values in mix.synthetic.select(seeds).scores.items():
        np.testing.assert_array_equal(syn.scores[name], values)
    # Each duplicate copies the same original (class by class, in mix order within a class).
    order = np.argsort(mix.real.labels[mix.duplicates], kind="stable")
    np.testing.assert_array_equal(back.real.source_index[back.duplicates],
                                  mix.real.source_index[mix.duplicates][order])
    # Row for row in shard order: the same images, labels, kinds and weights.
    shard_order, back_shard_order = (np.argsort(m.labels, kind="stable") for m in (mix, back))
    for column in ("images", "labels", "source_index"):
        np.testing.assert_array_equal(getattr(back.data(), column)[back_shard_order],
                                      getattr(mix.data(), column)[shard_order])
    for column in ("kinds", "weights"):
        np.testing.assert_array_equal(getattr(back, column)[back_shard_order], getattr(mix, column)[shard_order])


def test_verify_catches_altered_duplicate_counts(tmp_path):
    mix = make_mix()
    manifest = write_shards(tmp_path, mix, ShardConfig(rows_per_shard=24))
    shard = tmp_path / manifest["shards"][0]["file"]
    table = pq.read_table(shard)  # a real row now claims to be a duplicate; the checksum is made to agree
    flags = table.column("is_duplicate").to_numpy(zero_copy_only=False).copy()
    flags[0] = True
    pq.write_table(table.set_column(table.schema.get_field_index("is_duplicate"), "is_duplicate",
                                    pa.array(flags)), shard, compression="zstd")
    manifest["shards"][0]["sha256"] = file_sha256(shard)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    problems = "\n".join(verify_shards(tmp_path).problems)
    assert f"{shard.name}: duplicate counts {{'common': 2, 'rare': 4, 'rarer': 6}} but the manifest says" in problems

    manifest = write_shards(tmp_path / "again", mix, ShardConfig(rows_per_shard=5))
    manifest["splits"]["train"]["duplicate_counts"]["rare"] = 3  # the manifest tampered instead
    (tmp_path / "again" / "manifest.json").write_text(json.dumps(manifest))
    problems = "\n".join(verify_shards(tmp_path / "again").problems)
    assert "split train: shard duplicate counts do not add up" in problems
    assert "images/train/rare: 4 dup-* images listed, the manifest counts 3 duplicate rows" in problems


def test_shards_from_before_duplicates_verify_and_read_as_none(tmp_path):
    real, synthetic = make_sets()
    manifest = write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=5))
    manifest.pop("mix")
    for totals in (*manifest["splits"].values(), *manifest["shards"]):
        totals.pop("duplicate_counts")
    for entry in manifest["shards"]:  # format 2 shards: no is_duplicate or weight column
        table = pq.read_table(tmp_path / entry["file"])
        pq.write_table(table.drop_columns(["is_duplicate", "weight"]), tmp_path / entry["file"])
        entry["sha256"] = file_sha256(tmp_path / entry["file"])
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert verify_shards(tmp_path).ok
    back = read_mix(tmp_path)
    assert (len(back.real), len(back.synthetic), len(back.duplicates), back.synthetic_weight) == (10, 7, 0, 1.0)
    assert len(read_shards(tmp_path)[0]) == 17
    dup = make_mix()
    manifest = write_shards(tmp_path / "mix", dup, ShardConfig(rows_per_shard=5))
    for entry in manifest["shards"]:
        entry.pop("duplicate_counts")
    (tmp_path / "mix" / "manifest.json").write_text(json.dumps(manifest))
    assert any("duplicate counts" in p for p in verify_shards(tmp_path / "mix").problems)


def test_changing_only_the_synthetic_weight_writes_new_shards(tmp_path):
    first = write_shards(tmp_path, make_mix(weight=0.5), ShardConfig(rows_per_shard=5))
    second = write_shards(tmp_path, make_mix(weight=0.25), ShardConfig(rows_per_shard=5))
    assert second["provenance"]["content_key"] != first["provenance"]["content_key"]
    assert second["mix"]["synthetic_weight"] == 0.25
    assert sorted(set(all_rows(tmp_path)["weight"])) == [0.25, 1.0]
    third = write_shards(tmp_path, make_mix(weight=0.25, late_from=0.5), ShardConfig(rows_per_shard=5))
    assert third["provenance"]["content_key"] != second["provenance"]["content_key"]
    assert read_mix(tmp_path).late_from == 0.5


# --------------------------------------------------------------------------- stored PNGs

def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, data), each crc32 checked: a reference reader independent of Pillow."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(png):
        size = int.from_bytes(png[at:at + 4], "big")
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + size]
        assert int.from_bytes(png[at + 8 + size:at + 12 + size], "big") == zlib.crc32(kind + data), kind
        chunks.append((kind, data))
        at += 12 + size
    return chunks


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 8), (1, 1, 1), (1, 300, 219), (3, 160, 160)])
def test_stored_pngs_decode_to_the_same_pixels_as_pillows_own(shape):
    """Several stored blocks once a row group passes 64 KiB (the last two shapes); every checksum is
    checked by a reader of our own and by zlib, and the pixels by Pillow against its own PNGs."""
    images = np.random.default_rng(1).integers(0, 256, (4, *shape), dtype=np.uint8)
    stored, deflated = encode_batch(images).to_pylist(), encode_batch(images, "deflate").to_pylist()
    for image, png, reference in zip(images, stored, deflated):
        chunks = _chunks(png)
        assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
        raw = zlib.decompress(chunks[1][1])  # checks the adler32
        assert len(raw) == shape[1] * (1 + shape[0] * shape[2])
        np.testing.assert_array_equal(decode_png(png, shape[0], shape[1:]), image)
        np.testing.assert_array_equal(decode_png(png, shape[0]), decode_png(reference, shape[0]))
    assert encode_png(images[0], "stored") == stored[0]


def test_small_images_are_stored_and_larger_ones_deflated_unless_told(tmp_path):
    """What stored PNGs save is deflate's cost per image: only small images gain (see png.py)."""
    for size, chosen in ((8, "stored"), (31, "stored"), (32, "deflate")):
        images = np.random.default_rng(size).integers(0, 256, (6, 1, size, size), dtype=np.uint8)
        mix = real_only(ImageSet(images, np.arange(6) % 2, ("a", "b")))
        manifest = write_shards(tmp_path / f"auto-{size}", mix, ShardConfig(image_folder=False))
        assert manifest["settings"]["png_encoding"] == chosen, size
        forced = write_shards(tmp_path / f"stored-{size}", mix, ShardConfig(image_folder=False), encoding="stored")
        by_class = images[np.argsort(np.arange(6) % 2, kind="stable")]  # shards hold rows class by class
        np.testing.assert_array_equal(read_shards(tmp_path / f"stored-{size}")[0].images, by_class)
        assert forced["settings"]["png_encoding"] == "stored"


def test_images_too_wide_for_stored_rows_are_refused_before_writing(tmp_path):
    wide = real_only(ImageSet(np.zeros((2, 3, 1, 22000), np.uint8), np.array([0, 1]), ("a", "b")))
    with pytest.raises(ValueError, match="too wide"):
        write_shards(tmp_path, wide, encoding="stored")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="PNG encoding must be one of"):
        write_shards(tmp_path, plain(*make_sets()), encoding="webp")


def test_stored_shards_are_smaller_than_deflated_ones_and_read_the_same(tmp_path):
    data, synthetic = digit_sets()
    stored = write_shards(tmp_path / "stored", plain(data, synthetic), ShardConfig(image_folder=False))
    deflated = write_shards(tmp_path / "deflate", plain(data, synthetic), ShardConfig(image_folder=False),
                            encoding="deflate")
    assert stored["settings"]["png_encoding"] == "stored" and deflated["settings"]["png_encoding"] == "deflate"
    assert stored["provenance"]["content_key"] != deflated["provenance"]["content_key"]
    assert sum(e["bytes"] for e in stored["shards"]) < sum(e["bytes"] for e in deflated["shards"])
    (a, flags_a), (b, flags_b) = read_shards(tmp_path / "stored"), read_shards(tmp_path / "deflate")
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(flags_a, flags_b)
    assert verify_shards(tmp_path / "stored").ok and verify_shards(tmp_path / "deflate").ok


def test_hugging_face_datasets_decodes_every_image_exactly(tmp_path):
    datasets = pytest.importorskip("datasets")
    real, synthetic = make_sets(channels=3)
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=5, image_folder=False))
    train = datasets.load_dataset("parquet", data_files={"train": str(tmp_path / "shards" / "train-*.parquet")},
                                  cache_dir=str(tmp_path / "hf-cache"))["train"]
    loaded, _ = read_shards(tmp_path)
    assert len(train) == len(loaded) == 17
    for row, expected in zip(train, loaded.images):
        np.testing.assert_array_equal(np.asarray(row["image"]).transpose(2, 0, 1), expected)
    np.testing.assert_array_equal(np.sort(loaded.images.reshape(17, -1), axis=0),
                                  np.sort(np.concatenate([real.images, synthetic.images]).reshape(17, -1), axis=0))


def test_torchvision_image_folder_reads_every_image_exactly(tmp_path):
    folders = pytest.importorskip("torchvision.datasets")
    real, synthetic = make_sets()
    write_shards(tmp_path, plain(real, synthetic), ShardConfig(rows_per_shard=50))
    folder = folders.ImageFolder(str(tmp_path / "images" / "train"))
    by_file = {f"real-{i}.png": image for i, image in zip(real.source_index, real.images)}
    by_file |= {f"syn-{s}.png": image for s, image in zip(synthetic.seeds, synthetic.images)}
    for (path, _), (image, _) in zip(folder.samples, folder):
        pixels = np.asarray(image)  # ImageFolder's loader converts to RGB: grey repeated in each channel
        for channel in range(3):
            np.testing.assert_array_equal(pixels[..., channel], by_file[path.rsplit("/", 1)[1]][0])


# --------------------------------------------------------------------------- a kill at any point of the commit

class Killed(BaseException):
    """What a kill -9 leaves: nothing after it runs (no ``except Exception`` cleans up)."""


def _killed_at(monkeypatch, n: int) -> dict:
    """os.replace and shutil.rmtree (every rename and removal the writer makes) die at their n-th call."""
    calls = {"n": 0}

    def counted(real):
        def call(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise Killed(f"killed at call {n}")
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(os, "replace", counted(os.replace))
    monkeypatch.setattr(shutil, "rmtree", counted(shutil.rmtree))
    return calls


def _finished_shards(run_dir, clean: dict) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of each shard the killed write had finished: recorded as done in its staging
    folder (or listed by a manifest of this content), wherever the swap had left the file."""
    expected = {Path(e["file"]).name: e["sha256"] for e in clean["shards"]}
    done = {p.name.removesuffix(".json") for p in run_dir.glob(".staging-*/done/*.parquet.json")}
    manifest = run_dir / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text()) == clean:
        done = set(expected)
    found = {}
    for path in [*run_dir.glob(".staging-*/shards/*.parquet"), *run_dir.glob("shards/*.parquet")]:
        if path.name in done and file_sha256(path) == expected.get(path.name):
            found[path.name] = (path.stat().st_ino, path.stat().st_mtime_ns)
    return found


@pytest.mark.parametrize("previous", [False, True], ids=["first-write", "over-an-older-write"])
def test_a_kill_at_any_rename_or_removal_resumes_without_rewriting_a_finished_shard(tmp_path, monkeypatch, previous):
    """Every rename and removal of a write (the shards', the records', the swap's, the manifest's) is
    a point where a kill -9 can strike; after each, the rerun keeps every finished shard as it is
    and ends exactly where an uninterrupted write does."""
    real, synthetic = make_sets()
    settings = ShardConfig(rows_per_shard=4)
    clean = write_shards(tmp_path / "clean", plain(real, synthetic), settings)
    write_shards(tmp_path / "older", plain(real, synthetic.select(np.arange(5))), settings)
    with monkeypatch.context() as patch:
        calls = _killed_at(patch, 0)
        write_shards(tmp_path / "count", plain(real, synthetic), settings)
    assert calls["n"] > 20  # each shard's renames and records, the staging key, the swap, the manifest
    all_finished = 0
    for n in range(1, calls["n"] + 1):
        run_dir = tmp_path / f"killed-{n}"
        if previous:
            shutil.copytree(tmp_path / "older", run_dir)
        with monkeypatch.context() as patch, pytest.raises(Killed):
            _killed_at(patch, n)
            write_shards(run_dir, plain(real, synthetic), settings)
        finished = _finished_shards(run_dir, clean)
        all_finished += len(finished) == len(clean["shards"])
        assert write_shards(run_dir, plain(real, synthetic), settings) == clean, f"killed at call {n}"
        for name, stamp in finished.items():
            info = (run_dir / "shards" / name).stat()
            assert (info.st_ino, info.st_mtime_ns) == stamp, f"killed at call {n}: {name} was written again"
        assert verify_shards(run_dir).ok, f"killed at call {n}"
        assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == [], f"killed at call {n}"
    assert all_finished >= 6  # the kills during the swap and the manifest's write, at least
