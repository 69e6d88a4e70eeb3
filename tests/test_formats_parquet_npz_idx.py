"""Parquet, NumPy and IDX readers: pixel-exact round trips, and every bad input as a clear DataError."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gan_aug.data.decode import DecodeOptions
from gan_aug.data.errors import DataError
from gan_aug.data.formats import ReadOptions
from gan_aug.data.formats.idx import IMAGES_MAGIC, read_idx
from gan_aug.data.formats.npz import read_npz
from gan_aug.data.formats.parquet import read_parquet
from idx_writer import write_idx

OPTS = ReadOptions(decode=DecodeOptions(workers=2))
IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
FASHION = Path("/usr/share/datasets/fashion-mnist")
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def pixels(n: int = 6, channels: int = 1, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, channels, size, size), dtype=np.uint8)


def png(image: np.ndarray) -> bytes:
    """C×H×W uint8 → PNG bytes."""
    array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def hf_table(images: np.ndarray, labels: list, names: list[str] | None = None) -> pa.Table:
    """A Hugging Face style table: image {bytes, path} struct, label, ClassLabel metadata if names."""
    table = pa.table({"image": pa.array([{"bytes": png(im), "path": None} for im in images], IMAGE_STRUCT),
                      "label": labels})
    if names is None:
        return table
    features = {"image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}
    return table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raises(call, *parts: str) -> str:
    """Run ``call``, expect a DataError whose message contains every part; return the message."""
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


# --- Parquet: round trips -------------------------------------------------------------------------

def test_parquet_hf_struct_round_trip_leaves_file_unchanged(tmp_path):
    images = pixels(channels=3)
    path = tmp_path / "x.parquet"
    pq.write_table(hf_table(images, [0, 1, 2, 0, 1, 2]), path, row_group_size=4)
    before = sha256(path)
    raw = read_parquet(path, OPTS)
    np.testing.assert_array_equal(raw.images, images)
    assert raw.labels == ["0", "1", "2", "0", "1", "2"] and raw.class_names is None
    assert raw.origins[5] == f"{path}:5" and raw.problems == []
    assert sha256(path) == before


def test_parquet_binary_column_with_string_labels(tmp_path):
    images = pixels()
    table = pa.table({"name": ["cat", "dog", "cat", "eel", "dog", "cat"], "img": [png(im) for im in images]})
    pq.write_table(table, tmp_path / "x.parquet")
    raw = read_parquet(tmp_path / "x.parquet", ReadOptions(label_column="name"))
    np.testing.assert_array_equal(raw.images, images)
    assert raw.labels == ["cat", "dog", "cat", "eel", "dog", "cat"]


def test_parquet_path_column_resolves_next_to_the_file(tmp_path):
    images = pixels()
    (tmp_path / "img").mkdir()
    for i, image in enumerate(images):
        (tmp_path / "img" / f"{i}.png").write_bytes(png(image))
    table = pa.table({"filename": [f"img/{i}.png" for i in range(6)], "label": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]})
    pq.write_table(table, tmp_path / "x.parquet")
    raw = read_parquet(tmp_path / "x.parquet", OPTS)
    np.testing.assert_array_equal(raw.images, images)
    assert raw.labels == ["1", "2", "3", "1", "2", "3"]  # whole floats read as "1", not "1.0"


def test_parquet_struct_without_bytes_falls_back_to_path(tmp_path):
    images = pixels(2)
    (tmp_path / "a.png").write_bytes(png(images[0]))
    column = pa.array([{"bytes": None, "path": "a.png"}, {"bytes": png(images[1]), "path": "nowhere.png"}],
                      IMAGE_STRUCT)
    pq.write_table(pa.table({"image": column, "label": [0, 1]}), tmp_path / "x.parquet")
    np.testing.assert_array_equal(read_parquet(tmp_path / "x.parquet", OPTS).images, images)


def test_parquet_class_label_metadata_gives_names_and_order(tmp_path):
    names = ["zebra", "ant", "moth"]
    pq.write_table(hf_table(pixels(), [2, 0, 1, 2, 2, 0], names), tmp_path / "x.parquet")
    raw = read_parquet(tmp_path / "x.parquet", OPTS)
    assert raw.labels == ["moth", "zebra", "ant", "moth", "moth", "zebra"]
    assert raw.class_names == names


def test_parquet_reads_our_own_shards(tmp_path, tiny_set):
    from gan_aug.config import ShardConfig
    from gan_aug.mix import real_only
    from gan_aug.shards import write_shards

    write_shards(tmp_path, real_only(tiny_set), ShardConfig(rows_per_shard=8, image_folder=False))
    raw = read_parquet(tmp_path / "shards", OPTS)
    assert raw.class_names == list(tiny_set.class_names)
    order = np.argsort(tiny_set.labels, kind="stable")  # shards list rows class by class
    np.testing.assert_array_equal(raw.images, tiny_set.images[order])
    assert raw.labels == [tiny_set.class_names[i] for i in tiny_set.labels[order]]


def test_parquet_folder_reads_files_in_name_order(tmp_path):
    images = pixels()
    pq.write_table(hf_table(images[3:], [3, 4, 5]), tmp_path / "b.parquet")
    pq.write_table(hf_table(images[:3], [0, 1, 2]), tmp_path / "a.parquet")
    raw = read_parquet(tmp_path, OPTS)
    np.testing.assert_array_equal(raw.images, images)
    assert raw.origins[3] == f"{tmp_path / 'b.parquet'}:0"


def test_parquet_skip_unreadable_lists_the_row(tmp_path):
    images = pixels(3)
    table = pa.table({"img": [png(images[0]), b"not an image", png(images[2])], "label": [0, 1, 2]})
    pq.write_table(table, tmp_path / "x.parquet")
    raw = read_parquet(tmp_path / "x.parquet", ReadOptions(decode=DecodeOptions(skip_unreadable=True)))
    np.testing.assert_array_equal(raw.images, images[[0, 2]])
    assert raw.labels == ["0", "2"] and raw.origins == [f"{tmp_path / 'x.parquet'}:{i}" for i in (0, 2)]
    assert len(raw.problems) == 1 and "x.parquet:1" in raw.problems[0]


# --- Parquet: bad inputs --------------------------------------------------------------------------

def write(tmp_path: Path, table: pa.Table, name: str = "x.parquet") -> Path:
    pq.write_table(table, tmp_path / name)
    return tmp_path / name


def test_parquet_missing_path(tmp_path):
    raises(lambda: read_parquet(tmp_path / "nope.parquet", OPTS), "nope.parquet", "does not exist", "data.source")
    raises(lambda: read_parquet(tmp_path, OPTS), str(tmp_path), "no *.parquet")


def test_parquet_not_parquet_or_truncated(tmp_path):
    (tmp_path / "junk.parquet").write_bytes(b"hello, not parquet")
    raises(lambda: read_parquet(tmp_path / "junk.parquet", OPTS), "junk.parquet", "not a readable Parquet file")
    good = write(tmp_path, hf_table(pixels(), [0] * 6))
    (tmp_path / "cut.parquet").write_bytes(good.read_bytes()[:-30])
    raises(lambda: read_parquet(tmp_path / "cut.parquet", OPTS), "cut.parquet", "not a readable Parquet file")


def test_parquet_missing_label_column(tmp_path):
    path = write(tmp_path, pa.table({"img": [png(pixels(1)[0])], "cls": [1]}))
    raises(lambda: read_parquet(path, OPTS), "x.parquet", "no column 'label'", "data.label_column", "'img', 'cls'")


def test_parquet_no_usable_image_column(tmp_path):
    path = write(tmp_path, pa.table({"pixels": [1.5], "note": ["x"], "label": [1]}))
    raises(lambda: read_parquet(path, OPTS), "x.parquet", "no usable image column", "data.image_column")
    options = ReadOptions(image_column="pixels")
    raises(lambda: read_parquet(path, options), "x.parquet", "'pixels'", "double", "data.image_column")
    raises(lambda: read_parquet(path, ReadOptions(image_column="img")), "no column 'img'", "data.image_column")


def test_parquet_wrong_label_type(tmp_path):
    path = write(tmp_path, pa.table({"img": [png(pixels(1)[0])], "label": [[1, 2]]}))
    raises(lambda: read_parquet(path, OPTS), "x.parquet", "'label'", "integers or strings", "data.label_column")


def test_parquet_null_and_nan_labels_name_the_row(tmp_path):
    blobs = [png(im) for im in pixels(3)]
    path = write(tmp_path, pa.table({"img": blobs, "label": [0, None, 1]}))
    raises(lambda: read_parquet(path, OPTS), "x.parquet", "row 1", "label is null", "data.label_column")
    path = write(tmp_path, pa.table({"img": blobs, "label": [0.0, 1.0, float("nan")]}), "nan.parquet")
    raises(lambda: read_parquet(path, OPTS), "nan.parquet", "row 2", "label is NaN")
    path = write(tmp_path, pa.table({"img": blobs, "label": [0.0, 1.5, 1.0]}), "half.parquet")
    raises(lambda: read_parquet(path, OPTS), "half.parquet", "row 1", "1.5", "whole number")


def test_parquet_null_image_names_the_row(tmp_path):
    column = pa.array([{"bytes": png(pixels(1)[0]), "path": None}, None, {"bytes": None, "path": None}], IMAGE_STRUCT)
    path = write(tmp_path, pa.table({"image": column, "label": [0, 1, 2]}))
    raises(lambda: read_parquet(path, OPTS), "x.parquet", "row 1", "image is null", "data.image_column")
    path = write(tmp_path, pa.table({"image": column.take([0, 2]), "label": [0, 2]}), "y.parquet")
    raises(lambda: read_parquet(path, OPTS), "y.parquet", "row 1", "image is null")


def test_parquet_undecodable_bytes_and_missing_image_file(tmp_path):
    path = write(tmp_path, pa.table({"img": [png(pixels(1)[0]), b"\x89PNG broken"], "label": [0, 1]}))
    raises(lambda: read_parquet(path, OPTS), "x.parquet:1", "not a readable image")
    path = write(tmp_path, pa.table({"path": ["gone.png"], "label": [0]}), "p.parquet")
    raises(lambda: read_parquet(path, OPTS), "p.parquet:0", "gone.png", "not found")


def test_parquet_class_label_out_of_range_and_schema_mismatch(tmp_path):
    write(tmp_path, hf_table(pixels(2), [0, 5], ["a", "b"]))
    raises(lambda: read_parquet(tmp_path / "x.parquet", OPTS), "x.parquet", "label 5 at row 1", "ClassLabel")
    write(tmp_path, hf_table(pixels(1), ["a"]), "y.parquet")
    raises(lambda: read_parquet(tmp_path, OPTS), "y.parquet", "x.parquet", "one schema")


# --- NumPy .npz -----------------------------------------------------------------------------------

def test_npz_x_y_round_trip_leaves_file_unchanged(tmp_path):
    images = pixels(channels=3)
    np.savez(tmp_path / "d.npz", x=images.transpose(0, 2, 3, 1), y=np.array([3, 1, 3, 2, 1, 1]))
    before = sha256(tmp_path / "d.npz")
    raw = read_npz(tmp_path / "d.npz", OPTS)
    np.testing.assert_array_equal(raw.images, images)
    assert raw.labels == ["3", "1", "3", "2", "1", "1"] and raw.class_names is None
    assert raw.origins[0] == f"{tmp_path / 'd.npz'}:0" and raw.formats == {"8×8 RGB": 6}
    assert sha256(tmp_path / "d.npz") == before


def test_npz_images_labels_keys_and_class_names(tmp_path):
    images = pixels()[:, 0]
    np.savez_compressed(tmp_path / "d.npz", images=images, labels=np.array([1, 0, 1, 1, 0, 1], np.uint8),
                        class_names=np.array(["healthy", "lesion"]))
    raw = read_npz(tmp_path / "d.npz", OPTS)
    np.testing.assert_array_equal(raw.images[:, 0], images)
    assert raw.labels == ["lesion", "healthy", "lesion", "lesion", "healthy", "lesion"]
    assert raw.class_names == ["healthy", "lesion"]


def test_npz_bad_inputs(tmp_path):
    x = pixels(3)[:, 0]
    cases = {
        "keys": (dict(a=x, b=np.arange(3)), ["no array named 'x' or 'images'", "['a', 'b']"]),
        "length": (dict(x=x, y=np.arange(2)), ["3 images but 2 labels"]),
        "fraction": (dict(x=x, y=np.array([0.0, 1.5, 1.0])), ["label 1.5 at index 1", "not an integer"]),
        "nan": (dict(x=x, y=np.array([0.0, np.nan, 1.0])), ["label is nan at index 1"]),
        "range": (dict(x=x, y=np.array([0, 1, 2]), class_names=np.array(["a", "b"])),
                  ["label 2 at index 2", "outside 'class_names'", "2 names"]),
        "object": (dict(x=x, y=np.array([{}, 1, 2], dtype=object)), ["'y'", "Python objects", "pickle"]),
        "floatpix": (dict(x=x.astype(np.float32), y=np.arange(3)), ["uint8"]),
    }
    for name, (arrays, parts) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        raises(lambda name=name: read_npz(tmp_path / f"{name}.npz", OPTS), f"{name}.npz", *parts)
    (tmp_path / "junk.npz").write_bytes(b"\x00junk" * 10)
    raises(lambda: read_npz(tmp_path / "junk.npz", OPTS), "junk.npz", "not a readable .npz")
    np.save(tmp_path / "one.npy", x)
    raises(lambda: read_npz(tmp_path / "one.npy", OPTS), "one.npy", "single .npy array")
    raises(lambda: read_npz(tmp_path / "nope.npz", OPTS), "nope.npz", "does not exist", "data.source")


# --- IDX ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_write_read_round_trip(tmp_path, suffix):
    images, labels = pixels(7, size=5)[:, 0], np.array([0, 9, 3, 3, 255, 0, 1])
    paths = tmp_path / f"t10k-images-idx3-ubyte{suffix}", tmp_path / f"t10k-labels-idx1-ubyte{suffix}"
    write_idx(images, labels, *paths)
    assert (paths[0].read_bytes()[:2] == b"\x1f\x8b") == bool(suffix)
    before = [sha256(p) for p in paths]
    for source in (paths[0], tmp_path):  # the images file itself, or the folder holding the pair
        raw = read_idx(source, OPTS)
        np.testing.assert_array_equal(raw.images[:, 0], images)
        assert raw.labels == [str(v) for v in labels] and raw.class_names is None
        assert raw.origins[6] == f"{paths[0]}:6" and raw.formats == {"5×5 L": 7}
    assert [sha256(p) for p in paths] == before


def test_idx_finds_labels_whatever_their_compression(tmp_path):
    images, labels = pixels(2, size=3)[:, 0], np.array([1, 2])
    write_idx(images, labels, tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte")
    assert read_idx(tmp_path / "train-images-idx3-ubyte.gz", OPTS).labels == ["1", "2"]


def test_idx_folder_must_hold_one_pair(tmp_path):
    raises(lambda: read_idx(tmp_path, OPTS), "no IDX images file", "data.source")
    for split in ("train", "t10k"):
        write_idx(pixels(2, size=3)[:, 0], np.array([0, 1]), tmp_path / f"{split}-images-idx3-ubyte",
                  tmp_path / f"{split}-labels-idx1-ubyte")
    raises(lambda: read_idx(tmp_path, OPTS), "several IDX image sets", "t10k-images-idx3-ubyte",
           "train-images-idx3-ubyte", "data.source")


def test_idx_bad_inputs(tmp_path):
    images, labels = pixels(4, size=3)[:, 0], np.arange(4)
    img, lab = tmp_path / "a-images-idx3-ubyte", tmp_path / "a-labels-idx1-ubyte"
    raises(lambda: read_idx(tmp_path / "b-images-idx3-ubyte", OPTS), "b-images-idx3-ubyte", "does not exist")
    write_idx(images, labels, img, tmp_path / "elsewhere-labels-idx1-ubyte")
    raises(lambda: read_idx(img, OPTS), "a-images-idx3-ubyte", "no labels file", "a-labels-idx1-ubyte")
    write_idx(images[:3], labels[:3], tmp_path / "x", lab)
    raises(lambda: read_idx(img, OPTS), "4 images", "3 labels", "a-labels-idx1-ubyte")
    write_idx(images, labels, img, lab)
    good = img.read_bytes()
    img.write_bytes(good[:-5])
    raises(lambda: read_idx(img, OPTS), "a-images-idx3-ubyte", "truncated", "4×3×3", "47 bytes")
    img.write_bytes(b"\x00\x00\x08\x01" + good[4:])
    raises(lambda: read_idx(img, OPTS), "a-images-idx3-ubyte", "magic number 0x00000803", "found 0x00000801")
    img.write_bytes(b"\x1f\x8b not really gzip")
    raises(lambda: read_idx(img, OPTS), "a-images-idx3-ubyte", "not a readable IDX file")
    plain = tmp_path / "pixels.bin"
    plain.write_bytes(good)
    raises(lambda: read_idx(plain, OPTS), "pixels.bin", "images-idx3")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's Fashion-MNIST is not installed here")
def test_idx_reads_debian_fashion_mnist():
    path = next(p for p in (FASHION / "t10k-images-idx3-ubyte", FASHION / "t10k-images-idx3-ubyte.gz") if p.exists())
    raw = read_idx(path, OPTS)
    assert raw.images.shape == (10000, 1, 28, 28)
    assert dict(zip(*np.unique(raw.labels, return_counts=True))) == {str(c): 1000 for c in range(10)}


# --- Fuzz: anything odd is a DataError, never another exception ----------------------------------

def _assert_refused(reader, name: str, data: bytes) -> None:
    """Bytes written as file ``name`` must be refused with a DataError naming the file, never another exception."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        with pytest.raises(DataError, match=re.escape(str(path))):
            reader(path, OPTS)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes_as_parquet(data):
    _assert_refused(read_parquet, "x.parquet", data)


@FUZZ
@given(cut=st.integers(0, 10_000), flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4))
def test_fuzz_damaged_parquet(cut, flips):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.parquet"
        pq.write_table(hf_table(pixels(4, size=4), [0, 1, 2, 3]), path)
        data = bytearray(path.read_bytes())
        for where, value in flips:
            data[where % len(data)] ^= value
        path.write_bytes(bytes(data[: len(data) - cut % len(data)]))
        try:
            raw = read_parquet(path, OPTS)
        except DataError as error:
            assert str(error).startswith(str(path)), error  # the message names the file (and row, if one)
            return
        assert raw.images.shape == (4, 1, 4, 4) and raw.images.dtype == np.uint8 and len(raw.labels) == 4


@FUZZ
@given(blobs=st.lists(st.binary(max_size=256), min_size=1, max_size=4))
def test_fuzz_random_image_bytes_in_valid_parquet(blobs):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.parquet"
        pq.write_table(pa.table({"img": blobs, "label": list(range(len(blobs)))}), path)
        try:
            raw = read_parquet(path, OPTS)
        except DataError:
            return
        assert raw.images.dtype == np.uint8 and len(raw.labels) == len(blobs)


idx_like = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda dims, body: IMAGES_MAGIC.to_bytes(4, "big") + dims + body,
              st.binary(min_size=0, max_size=12), st.binary(max_size=256)),
)


@FUZZ
@given(images=idx_like, labels=idx_like, zipped=st.booleans())
def test_fuzz_random_bytes_as_idx(images, labels, zipped):
    with tempfile.TemporaryDirectory() as folder:
        img, lab = Path(folder) / "r-images-idx3-ubyte", Path(folder) / "r-labels-idx1-ubyte"
        img.write_bytes(gzip.compress(images) if zipped else images)
        lab.write_bytes(labels)
        try:
            raw = read_idx(img, OPTS)
        except DataError as error:
            assert str(error).startswith((str(img), str(lab))), error  # the message names the faulty file
            return
        assert raw.images.dtype == np.uint8 and len(raw.images) == len(raw.labels) > 0
        assert raw.origins == [f"{img}:{i}" for i in range(len(raw.labels))]


@FUZZ
@given(data=st.binary(max_size=1024))
def test_fuzz_random_bytes_as_npz(data):
    _assert_refused(read_npz, "d.npz", data)
