"""Image-folder and CSV-manifest readers: round trips, conversions, every bad input, and fuzzing."""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gan_aug.data.decode import DecodeOptions
from gan_aug.data.errors import DataError
from gan_aug.data.formats import ReadOptions
from gan_aug.data.formats.csv_manifest import read_csv_manifest
from gan_aug.data.formats.folder import list_folder, read_folder


def _opts(**decode) -> ReadOptions:
    return ReadOptions(decode=DecodeOptions(workers=2, **decode))


def _save(path: Path, pixels: np.ndarray, fmt: str | None = None) -> Path:
    """Write H×W (grayscale) or H×W×3 (RGB) uint8 pixels; the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _noise(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _well_formed(source) -> None:
    assert source.images.dtype == np.uint8 and source.images.ndim == 4
    assert source.images.shape[1] in (1, 3)
    assert len(source.labels) == len(source.images) == len(source.origins)
    assert all(isinstance(label, str) for label in source.labels)


# --------------------------------------------------------------------------- image folder: success


@pytest.fixture
def rgb_folder(tmp_path):
    """Two classes of random RGB PNGs, one of them in a nested subfolder; returns (root, pixels by origin)."""
    rng = np.random.default_rng(0)
    root, pixels = tmp_path / "data", {}
    for origin in ["cat/0.png", "cat/1.png", "cat/deep/2.png", "dog/a.png", "dog/b.png"]:
        pixels[origin] = _noise(rng, 8, 8, 3)
        _save(root / origin, pixels[origin])
    return root, pixels


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff"])
def test_lossless_folder_round_trips_pixel_identical(tmp_path, suffix):
    rng = np.random.default_rng(1)
    expected = {f"{c}/{i}{suffix}": _noise(rng, 5, 7, 3) for c in ("b", "a") for i in range(3)}
    for origin, pixels in expected.items():
        _save(tmp_path / origin, pixels)
    source = read_folder(tmp_path, _opts())
    _well_formed(source)
    assert source.origins == sorted(expected)  # class, then path
    assert source.labels == [o.split("/")[0] for o in sorted(expected)]
    assert source.class_names == ["a", "b"] and source.problems == []
    for image, origin in zip(source.images, source.origins):
        np.testing.assert_array_equal(image, expected[origin].transpose(2, 0, 1))


def test_nested_subfolders_belong_to_their_class(rgb_folder):
    root, pixels = rgb_folder
    source = read_folder(root, _opts())
    assert source.origins == ["cat/0.png", "cat/1.png", "cat/deep/2.png", "dog/a.png", "dog/b.png"]
    assert source.labels == ["cat", "cat", "cat", "dog", "dog"]
    np.testing.assert_array_equal(source.images[2], pixels["cat/deep/2.png"].transpose(2, 0, 1))


def test_grayscale_folder_stays_one_channel(tmp_path):
    gray = _noise(np.random.default_rng(2), 6, 6)
    _save(tmp_path / "x" / "g.png", gray)
    source = read_folder(tmp_path, _opts())
    assert source.images.shape == (1, 1, 6, 6)
    np.testing.assert_array_equal(source.images[0, 0], gray)


def test_flat_grey_jpeg_loads_near_its_value(tmp_path):
    _save(tmp_path / "c" / "flat.jpg", np.full((16, 16), 131, np.uint8))
    _save(tmp_path / "c" / "flat_rgb.JPEG", np.full((16, 16, 3), 131, np.uint8))
    source = read_folder(tmp_path, _opts())
    assert source.images.shape == (2, 3, 16, 16)
    assert np.abs(source.images.astype(int) - 131).max() <= 2


def test_image_size_resizes_every_image(tmp_path):
    rng = np.random.default_rng(3)
    _save(tmp_path / "a" / "big.png", _noise(rng, 20, 12, 3))
    _save(tmp_path / "b" / "small.gif", _noise(rng, 4, 4))
    _save(tmp_path / "b" / "wide.webp", _noise(rng, 5, 9, 3), fmt="WEBP")
    source = read_folder(tmp_path, _opts(image_size=6))
    assert source.images.shape == (3, 3, 6, 6)


def test_mixed_sizes_without_image_size_name_the_setting(tmp_path):
    rng = np.random.default_rng(4)
    _save(tmp_path / "a" / "one.png", _noise(rng, 8, 8))
    _save(tmp_path / "a" / "two.png", _noise(rng, 9, 8))
    with pytest.raises(DataError, match="data.image_size") as error:
        read_folder(tmp_path, _opts())
    assert "a/one.png" in str(error.value) and "a/two.png" in str(error.value)


def test_rgb_and_grayscale_mix_replicates_grayscale(tmp_path):
    rng = np.random.default_rng(5)
    gray, rgb = _noise(rng, 4, 4), _noise(rng, 4, 4, 3)
    _save(tmp_path / "a" / "gray.png", gray)
    _save(tmp_path / "b" / "rgb.png", rgb)
    source = read_folder(tmp_path, _opts())
    assert source.images.shape == (2, 3, 4, 4) and source.formats == {"4×4 L": 1, "4×4 RGB": 1}
    for channel in source.images[0]:
        np.testing.assert_array_equal(channel, gray)
    np.testing.assert_array_equal(source.images[1], rgb.transpose(2, 0, 1))


def test_channels_one_converts_rgb_to_luminance(rgb_folder):
    root, pixels = rgb_folder
    source = read_folder(root, _opts(channels=1))
    assert source.images.shape == (5, 1, 8, 8)
    expected = np.asarray(Image.fromarray(pixels["dog/a.png"]).convert("L"))
    np.testing.assert_array_equal(source.images[3, 0], expected)


def test_non_images_and_hidden_files_are_ignored(rgb_folder):
    root, _ = rgb_folder
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0junk")
    (root / "cat" / "labels.csv").write_text("a,b\n")
    (root / "cat" / "._0.png").write_bytes(b"macOS resource fork")
    (root / ".cache").mkdir()
    (root / "dog" / ".thumbs").mkdir()
    (root / "dog" / ".thumbs" / "t.png").write_bytes(b"hidden folder")
    _save(root / "dog" / "UPPER.PNG", np.zeros((8, 8, 3), np.uint8))
    source = read_folder(root, _opts())
    assert source.origins == ["cat/0.png", "cat/1.png", "cat/deep/2.png", "dog/UPPER.PNG", "dog/a.png", "dog/b.png"]


def test_list_folder_lists_without_decoding(rgb_folder):
    root, _ = rgb_folder
    (root / "dog" / "broken.png").write_bytes(b"not decoded by list_folder")
    listing = list_folder(root)
    assert [(p.relative_to(root).as_posix(), c) for p, c in listing] == [
        ("cat/0.png", "cat"), ("cat/1.png", "cat"), ("cat/deep/2.png", "cat"),
        ("dog/a.png", "dog"), ("dog/b.png", "dog"), ("dog/broken.png", "dog"),
    ]


def test_progress_reports_the_total(rgb_folder):
    calls = []
    read_folder(rgb_folder[0], _opts(), progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (5, 5)


# --------------------------------------------------------------------------- image folder: bad input


def test_missing_root_names_the_setting(tmp_path):
    with pytest.raises(DataError, match=r"nowhere not found; check data.source"):
        read_folder(tmp_path / "nowhere", _opts())


def test_root_that_is_a_file(tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match=r"file.png is a file, not a folder"):
        read_folder(tmp_path / "file.png", _opts())


def test_empty_root(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match=rf"no class folders in {tmp_path}: expected {tmp_path}/<class>/\*.png"):
        read_folder(tmp_path, _opts())


def test_images_directly_in_root(tmp_path):
    _save(tmp_path / "stray.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match=r"images directly inside it \(e.g. 'stray.png'\).*<class>/"):
        read_folder(tmp_path, _opts())


def test_class_folder_without_images_is_named(rgb_folder):
    root, _ = rgb_folder
    (root / "bird").mkdir()
    (root / "bird" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=rf"class folder {root}/bird has no images; remove it or add images"):
        read_folder(root, _opts())


@pytest.mark.parametrize("content", [b"", b"this is text, not a PNG", "truncated"])
def test_unreadable_image_names_the_file(rgb_folder, content):
    root, pixels = rgb_folder
    if content == "truncated":
        content = _png_bytes(pixels["cat/0.png"])[:60]
    (root / "dog" / "bad.png").write_bytes(content)
    with pytest.raises(DataError, match=r"dog/bad.png: not a readable image"):
        read_folder(root, _opts())


def test_skip_unreadable_lists_the_skipped_file(rgb_folder):
    root, _ = rgb_folder
    (root / "dog" / "bad.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    source = read_folder(root, _opts(skip_unreadable=True))
    assert "dog/bad.jpg" not in source.origins and len(source.images) == 5
    assert len(source.problems) == 1 and source.problems[0].startswith("dog/bad.jpg: not a readable image")


def test_skip_unreadable_that_empties_a_class_is_an_error(rgb_folder):
    root, _ = rgb_folder
    (root / "fish").mkdir()
    (root / "fish" / "bad.png").write_bytes(b"broken")
    with pytest.raises(DataError, match=rf"every image in class folder {root}/fish is unreadable"):
        read_folder(root, _opts(skip_unreadable=True))


def test_class_folder_name_not_utf8_is_named_with_repr(rgb_folder):
    root, _ = rgb_folder
    bad = os.fsencode(root) + b"/caf\xe9"
    try:
        os.mkdir(bad)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    with open(bad + b"/x.png", "wb") as file:
        file.write(_png_bytes(np.zeros((8, 8, 3), np.uint8)))
    with pytest.raises(DataError, match=r"class folder b'caf\\xe9' in .* is not a valid UTF-8 name; rename it"):
        read_folder(root, _opts())


def test_file_name_not_utf8_is_named_with_repr(rgb_folder):
    root, _ = rgb_folder
    try:
        with open(os.fsencode(root) + b"/dog/\xff.png", "wb") as file:
            file.write(_png_bytes(np.zeros((8, 8, 3), np.uint8)))
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    with pytest.raises(DataError, match=r"file b'dog/\\xff.png' in .* is not a valid UTF-8 name; rename it"):
        list_folder(root)


def test_loading_never_changes_the_source_files(rgb_folder):
    root, _ = rgb_folder
    (root / "dog" / "bad.png").write_bytes(b"broken")
    (root / "m.csv").write_text("path,label\ncat/0.png,cat\ndog/a.png,dog\ndog/bad.png,dog\n")
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(0o444)  # read-only files must load too
    before = _digests(root)
    read_folder(root, _opts(skip_unreadable=True, image_size=4, channels=1))
    read_csv_manifest(root / "m.csv", _opts(skip_unreadable=True))
    with pytest.raises(DataError):
        read_folder(root, _opts())
    assert _digests(root) == before


# --------------------------------------------------------------------------- CSV manifest: success


def test_csv_round_trip_with_relative_absolute_and_int_labels(rgb_folder):
    root, pixels = rgb_folder
    absolute = root / "dog" / "b.png"
    (root / "m.csv").write_text(f"filename,label,extra\ncat/0.png,3,x\ncat/deep/2.png,007,y\n{absolute},dog,z\n")
    source = read_csv_manifest(root / "m.csv", _opts())
    _well_formed(source)
    assert source.labels == ["3", "007", "dog"]
    assert source.origins == ["cat/0.png", "cat/deep/2.png", str(absolute)]
    for image, origin in zip(source.images, ["cat/0.png", "cat/deep/2.png", "dog/b.png"]):
        np.testing.assert_array_equal(image, pixels[origin].transpose(2, 0, 1))


@pytest.mark.parametrize("header", ["path", "Image", "file", "FileName", "filepath"])
def test_csv_detects_the_path_column(rgb_folder, header):
    root, _ = rgb_folder
    (root / "m.csv").write_text(f"label, {header}\n1, cat/0.png\n2, dog/a.png\n")
    source = read_csv_manifest(root / "m.csv", _opts())
    assert source.labels == ["1", "2"] and source.origins == ["cat/0.png", "dog/a.png"]


def test_csv_configured_columns(rgb_folder):
    root, _ = rgb_folder
    (root / "m.csv").write_text("img,cls,path\ncat/1.png,c,ignored\n")
    options = ReadOptions(decode=DecodeOptions(image_size=4), label_column="cls", image_column="img")
    source = read_csv_manifest(root / "m.csv", options)
    assert source.labels == ["c"] and source.images.shape == (1, 3, 4, 4) and source.formats == {"8×8 RGB": 1}


# --------------------------------------------------------------------------- CSV manifest: bad input


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(text)
    return path


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"CSV manifest .*none.csv not found; check data.source"):
        read_csv_manifest(tmp_path / "none.csv", _opts())


@pytest.mark.parametrize("text, message", [
    ("", r"m.csv is empty; expected a header row"),
    ("\n\n", r"m.csv is empty; expected a header row"),
    ("path,label\n", r"m.csv has a header but no data rows"),
    ('path,label\n"a.png,cat\n', r"m.csv could not be parsed as CSV"),
    ("path;label\na.png;cat\n", r"m.csv has a single column 'path;label'; .* save it comma-separated"),
])
def test_csv_empty_or_unparseable(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_csv_manifest(_csv(tmp_path, text), _opts())


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"path,label\nx.png,caf\xe9\n")
    with pytest.raises(DataError, match=r"m.csv is not UTF-8 text.*save it as UTF-8"):
        read_csv_manifest(path, _opts())


def test_csv_missing_label_column_lists_the_columns(tmp_path):
    with pytest.raises(DataError, match=r"m.csv has no column 'label'; set data.label_column to one of "
                                        r"\['path', 'class'\]"):
        read_csv_manifest(_csv(tmp_path, "path,class\na.png,cat\n"), _opts())


def test_csv_without_path_column(tmp_path):
    with pytest.raises(DataError, match=r"m.csv has no image path column .*set data.image_column to one of "
                                        r"\['url', 'label'\]"):
        read_csv_manifest(_csv(tmp_path, "url,label\na.png,cat\n"), _opts())


def test_csv_configured_image_column_absent(tmp_path):
    options = ReadOptions(image_column="picture")
    with pytest.raises(DataError, match=r"m.csv has no column 'picture'; set data.image_column"):
        read_csv_manifest(_csv(tmp_path, "path,label\na.png,cat\n"), options)


@pytest.mark.parametrize("missing", ["", "nan", "NaN", "NA", "  "])
def test_csv_missing_label_names_the_row(rgb_folder, missing):
    root, _ = rgb_folder
    path = _csv(root, f"path,label\ncat/0.png,cat\ndog/a.png,{missing}\n")
    with pytest.raises(DataError, match=r"m.csv, row 2 after the header: no label in column 'label'"):
        read_csv_manifest(path, _opts())


def test_csv_short_row_counts_as_missing_label(rgb_folder):
    path = _csv(rgb_folder[0], "path,label\ncat/0.png,cat\ndog/a.png\n")
    with pytest.raises(DataError, match=r"row 2 after the header: no label"):
        read_csv_manifest(path, _opts())


def test_csv_empty_path_names_the_row(rgb_folder):
    path = _csv(rgb_folder[0], "path,label\n,cat\n")
    with pytest.raises(DataError, match=r"row 1 after the header: no image path in column 'path'"):
        read_csv_manifest(path, _opts())


def test_csv_missing_image_names_row_and_path(rgb_folder):
    root, _ = rgb_folder
    path = _csv(root, "path,label\ncat/0.png,cat\ncat/gone.png,cat\n")
    with pytest.raises(DataError, match=rf"m.csv, row 2 after the header: image 'cat/gone.png' not found "
                                        rf"\(looked for {root}/cat/gone.png\)"):
        read_csv_manifest(path, _opts())


def test_csv_undecodable_image_names_row_and_path(rgb_folder):
    root, _ = rgb_folder
    (root / "bad.png").write_bytes(b"broken")
    path = _csv(root, "path,label\ncat/0.png,cat\nbad.png,cat\n")
    with pytest.raises(DataError, match=r"m.csv, row 2 after the header \(bad.png\): not a readable image"):
        read_csv_manifest(path, _opts())
    source = read_csv_manifest(path, _opts(skip_unreadable=True))
    assert source.origins == ["cat/0.png"] and len(source.problems) == 1
    assert "row 2 after the header (bad.png): not a readable image" in source.problems[0]


# --------------------------------------------------------------------------- fuzzing


_VALID = _png_bytes(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
_junk = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda b: _VALID[:8] + b),  # the PNG signature, then junk
    st.integers(0, len(_VALID) - 1).map(lambda n: _VALID[:n]),  # a truncated PNG
    st.tuples(st.integers(0, len(_VALID) - 1), st.binary(min_size=1, max_size=8)).map(
        lambda t: _VALID[:t[0]] + t[1] + _VALID[t[0] + len(t[1]):]  # a few bytes overwritten
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=_junk, with_valid=st.booleans(), skip=st.booleans(), size=st.sampled_from([None, 4]))
def test_fuzz_folder_reader_fails_only_with_data_error(content, with_valid, skip, size):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "c").mkdir()
        (root / "c" / "x.png").write_bytes(content)
        if with_valid:
            (root / "c" / "y.png").write_bytes(_VALID)
        try:
            source = read_folder(root, _opts(skip_unreadable=skip, image_size=size))
        except DataError as error:
            assert "c/x.png" in str(error) or str(root / "c") in str(error), error  # the file, or its folder
            return
        _well_formed(source)
        assert len(source.images) + len(source.problems) == 1 + with_valid


_cells = st.one_of(st.sampled_from(["y.png", "./y.png", "z.png", "", "1", "NA", " "]), st.text(max_size=6))
_rows_text = st.lists(st.lists(_cells, min_size=1, max_size=3).map(",".join), max_size=4).map("\n".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=120), _rows_text), header=st.booleans(), skip=st.booleans())
def test_fuzz_csv_reader_fails_only_with_data_error(text, header, skip):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "y.png").write_bytes(_VALID)
        path = root / "m.csv"
        path.write_text(("path,label\ny.png,1\n" if header else "") + text, encoding="utf-8")
        try:
            source = read_csv_manifest(path, _opts(skip_unreadable=skip))
        except DataError as error:
            assert str(path) in str(error), error  # names the manifest (and the row, where one is at fault)
            return
        _well_formed(source)
