"""Every source format through the one entry point: detection, identical round trips, cache, inspect.

The Fashion-MNIST test split (10,000 real images) is written out as each format and must load back
to the identical array and labels.
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from gan_aug.cli import app
from gan_aug.config import DataConfig
from gan_aug.data.builtin import FASHION_MNIST_DIR, fashion_mnist
from gan_aug.data.errors import DataError
from gan_aug.data.load import detect_format, load_source

needs_fashion = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (make test installs it as root)",
)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def write_all_formats(root, images: np.ndarray, labels: np.ndarray, class_names) -> dict[str, str]:
    """The same set as an image folder, a CSV manifest, Parquet (HF image struct), .npz and IDX."""
    from idx_writer import write_idx

    pngs = [_png(image) for image in images]
    names = [class_names[label] for label in labels]
    folder = root / "folder"
    paths = []
    for i, (png, name) in enumerate(zip(pngs, names)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        path = folder / name / f"{i:05d}.png"
        path.write_bytes(png)
        paths.append(path.relative_to(root).as_posix())
    pd.DataFrame({"path": paths, "label": names}).to_csv(root / "manifest.csv", index=False)
    image = pa.array([{"bytes": png, "path": f"{i:05d}.png"} for i, png in enumerate(pngs)],
                     type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    pq.write_table(pa.table({"image": image, "label": pa.array(names)}), root / "set.parquet")
    np.savez(root / "set.npz", x=images[:, 0], y=labels, class_names=np.array(class_names))
    write_idx(images[:, 0], labels.astype(np.uint8), root / "set-images-idx3-ubyte", root / "set-labels-idx1-ubyte")
    return {"folder": str(folder), "csv": str(root / "manifest.csv"), "parquet": str(root / "set.parquet"),
            "npz": str(root / "set.npz"), "idx": str(root / "set-images-idx3-ubyte")}


def in_source_order(loaded) -> tuple[np.ndarray, np.ndarray]:
    """A folder is read class by class; its file names (the row numbers written) restore the order."""
    if loaded.format != "folder":
        return loaded.data.images, loaded.data.labels
    order = np.argsort([int(origin.rsplit("/", 1)[-1].split(".")[0]) for origin in loaded.origins])
    return loaded.data.images[order], loaded.data.labels[order]


def _tree_hash(root) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def small_sources(tmp_path, digits_set):
    rows = np.arange(0, 1797, 9)
    images, labels = digits_set.images[rows], digits_set.labels[rows]
    return write_all_formats(tmp_path, images, labels, [f"digit-{i}" for i in range(10)]), images, labels


def test_every_format_is_detected(small_sources):
    sources, _, _ = small_sources
    assert {fmt: detect_format(path) for fmt, path in sources.items()} == {fmt: fmt for fmt in sources}
    assert detect_format("digits") == "builtin"


@pytest.mark.parametrize("fmt", ["folder", "csv", "parquet", "npz"])
def test_each_format_loads_back_identical(small_sources, tmp_path, fmt):
    sources, images, labels = small_sources
    loaded = load_source(DataConfig(source=sources[fmt], cache_dir=str(tmp_path / "cache")))
    assert loaded.format == fmt and loaded.data.class_names == tuple(f"digit-{i}" for i in range(10))
    got_images, got_labels = in_source_order(loaded)
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(got_images, images)


def test_idx_loads_back_identical(small_sources):
    sources, images, labels = small_sources
    loaded = load_source(DataConfig(source=sources["idx"]))
    np.testing.assert_array_equal(loaded.data.images, images)
    np.testing.assert_array_equal(loaded.data.labels, labels)  # IDX labels are the integers themselves


def test_resize_and_channels_apply_to_every_format(small_sources):
    sources, images, _ = small_sources
    for fmt in ("folder", "npz", "idx"):
        loaded = load_source(DataConfig(source=sources[fmt], image_size=16, channels=3, cache=False))
        assert loaded.data.images.shape == (len(images), 3, 16, 16), fmt


def test_cache_skips_decoding_and_follows_content(small_sources, tmp_path):
    sources, images, _ = small_sources
    config = DataConfig(source=sources["folder"], cache_dir=str(tmp_path / "cache"))
    first, second = load_source(config), load_source(config)
    assert not first.from_cache and second.from_cache
    assert isinstance(second.data.images, np.memmap) or isinstance(second.data.images.base, np.memmap)
    np.testing.assert_array_equal(first.data.images, second.data.images)
    changed = next((tmp_path / "folder" / "digit-3").glob("*.png"))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(changed)
    third = load_source(config)
    assert not third.from_cache and not np.array_equal(third.data.images, first.data.images)


def test_sources_are_never_modified(small_sources, tmp_path):
    sources, _, _ = small_sources
    before = _tree_hash(tmp_path)
    before = {k: v for k, v in before.items() if "/cache/" not in k}
    for _fmt, path in sources.items():
        load_source(DataConfig(source=path, cache_dir=str(tmp_path / "cache")))
    after = {k: v for k, v in _tree_hash(tmp_path).items() if "/cache/" not in k}
    assert after == before


def test_unknown_source_and_undetectable_format(tmp_path):
    with pytest.raises(DataError, match="not a built-in set"):
        load_source(DataConfig(source=str(tmp_path / "missing")))
    odd = tmp_path / "data.bin"
    odd.write_bytes(b"1234")
    with pytest.raises(DataError, match="data.format"):
        load_source(DataConfig(source=str(odd)))


def test_small_class_stops_or_is_skipped(small_sources):
    sources, _, _ = small_sources
    with pytest.raises(DataError, match="small_class_policy"):
        load_source(DataConfig(source=sources["npz"], min_images_per_class=25))
    loaded = load_source(DataConfig(source=sources["npz"], min_images_per_class=21, small_class_policy="skip"))
    counts = dict(zip(loaded.data.class_names, loaded.data.class_counts()))
    assert all(count >= 21 for count in counts.values()) and len(counts) < 10
    assert loaded.warnings and "skipped classes" in loaded.warnings[0]


def test_class_names_that_could_escape_the_output_are_refused(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 0, 1, 1]),
             class_names=np.array(["ok", "../evil"]))
    with pytest.raises(DataError, match="cannot be used as a folder name"):
        load_source(DataConfig(source=str(tmp_path / "x.npz"), min_images_per_class=1))


@pytest.mark.parametrize("fmt", ["folder", "csv", "parquet", "npz", "idx"])
def test_inspect_works_on_each_format(small_sources, fmt, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    sources, images, _ = small_sources
    result = CliRunner().invoke(app, ["inspect", sources[fmt]])
    assert result.exit_code == 0, result.output
    assert f"images:  {len(images)}" in result.output and "imbalance ratio" in result.output
    assert "no problems found" in result.output


def test_inspect_lists_problems_instead_of_stopping(small_sources, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    sources, _, _ = small_sources
    broken = next((tmp_path / "folder" / "digit-5").glob("*.png"))
    broken.write_bytes(b"not a png")
    result = CliRunner().invoke(app, ["inspect", sources["folder"]])
    assert result.exit_code == 0, result.output
    assert "problem:" in result.output and broken.name in result.output


@needs_fashion
@pytest.mark.slow
def test_fashion_mnist_test_split_round_trips_through_every_format(tmp_path):
    test_split = fashion_mnist("test")
    assert test_split.images.shape == (10000, 1, 28, 28)
    assert (test_split.class_counts() == 1000).all()
    sources = write_all_formats(tmp_path, test_split.images, test_split.labels, list(test_split.class_names))
    for fmt, path in sources.items():
        loaded = load_source(DataConfig(source=path, cache=False))
        images, labels = in_source_order(loaded)
        np.testing.assert_array_equal(images, test_split.images, err_msg=fmt)
        names = np.array(loaded.data.class_names)[labels]
        expected = np.array(test_split.class_names)[test_split.labels]
        if fmt == "idx":  # IDX holds label numbers only
            expected = test_split.labels.astype(str)
        np.testing.assert_array_equal(names, expected, err_msg=fmt)
        result = CliRunner().invoke(app, ["inspect", path])
        assert result.exit_code == 0 and "images:  10000" in result.output, (fmt, result.output)
